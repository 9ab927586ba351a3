import { randomFillSync } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'; // Crockford base 32, as ULID specifies

let lastTime = -1;
let lastRandom: number[] = [];
// Random bytes are drawn 4 KiB at a time: one call per id was about 5% of the engine's intake.
const pool = Buffer.alloc(4096);
let poolUsed = pool.length;

/**
 * A ULID: 48-bit millisecond time + 80 random bits, 26 characters, sortable by time.
 * Monotonic within a process: ids made in the same millisecond increase, so store order
 * equals intake order.
 */
export function ulid(now = Date.now()): string {
  if (now <= lastTime) {
    now = lastTime;
    // Increment the random part as a base-32 number.
    let i = lastRandom.length - 1;
    while (i >= 0 && lastRandom[i] === 31) { lastRandom[i] = 0; i--; }
    if (i >= 0) lastRandom[i]! += 1;
  } else {
    lastTime = now;
    if (poolUsed + 16 > pool.length) { randomFillSync(pool); poolUsed = 0; }
    const start = poolUsed;
    poolUsed += 16;
    lastRandom = Array.from({ length: 16 }, (_, k) => pool[start + k]! & 31);
  }
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) { time = ALPHABET[t % 32] + time; t = Math.floor(t / 32); }
  return time + lastRandom.map((n) => ALPHABET[n]).join('');
}
