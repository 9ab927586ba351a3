import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { adt } from './helpers/channel.js';
import { eventually, HttpSink } from './helpers/http-sink.js';
import { freePort } from './helpers/net.js';
import { parseHl7 } from '../engine/hl7/index.js';
import { MllpSender } from '../engine/mllp/index.js';

/*
 * Crash recovery, proven with SIGKILL: messages are sent over several connections while
 * the engine process is killed at random moments and restarted. Every message that got
 * an AA must reach the destination (duplicates are allowed and counted; losses: zero).
 */

const ROOT = path.resolve(import.meta.dirname, '..');
const MESSAGES = 3000;
const CONNECTIONS = 4;
const KILLS = 4;

function startEngine(dataDir: string, port: number, url: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/fixtures/crash-engine.ts'), dataDir, String(port), url], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('engine did not start')), 30_000);
    child.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('ready')) { clearTimeout(timer); resolve(child); } });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`engine exited early (${code})`)); });
  });
}

const sink = new HttpSink();
afterAll(() => sink.close());

describe('crash recovery (SIGKILL)', () => {
  it(`loses no ACKed message across ${KILLS} kills while ${MESSAGES} messages are sent`, async () => {
    const url = await sink.start();
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'sluice-crash-'));
    const port = await freePort();
    let engine = await startEngine(dataDir, port, url);

    const acked = new Set<string>();
    let next = 0;
    let done = false;
    const sendLoop = async (c: number): Promise<void> => {
      const sender = new MllpSender({ host: '127.0.0.1', port, ackTimeoutMs: 5_000, maxConnectAttempts: 50, backoff: { initialMs: 20, maxMs: 200 } });
      try {
        for (;;) {
          const i = next++;
          if (i >= MESSAGES) return;
          const id = `M${i}`;
          // A real sender resends until it gets an AA; every resend after a lost ACK may duplicate.
          for (let tries = 0; tries < 200; tries++) {
            try {
              const ack = await sender.send(adt(id, `P${i % 50}`));
              if (ack.code === 'AA') { acked.add(id); break; }
            } catch {
              await new Promise((r) => setTimeout(r, 20));
            }
          }
        }
      } finally {
        await sender.close().catch(() => {});
        void c;
      }
    };
    const loops = Array.from({ length: CONNECTIONS }, (_, c) => sendLoop(c));

    const killer = (async () => {
      for (let k = 0; k < KILLS; k++) {
        // Kill at a random point of the run.
        const target = Math.floor(((k + Math.random()) / (KILLS + 1)) * MESSAGES);
        await eventually(() => next >= target || done, 60_000, 'progress before kill');
        engine.kill('SIGKILL');
        await new Promise((r) => engine.once('exit', r));
        engine = await startEngine(dataDir, port, url);
      }
    })();

    await Promise.all(loops);
    done = true;
    await killer;
    expect(acked.size).toBe(MESSAGES);

    const receivedIds = () => sink.bodies.map((b) => parseHl7(b).controlId);
    await eventually(() => new Set(receivedIds()).size >= acked.size, 60_000, 'every ACKed message delivered');
    const received = receivedIds();
    const unique = new Set(received);
    const lost = [...acked].filter((id) => !unique.has(id));
    const duplicates = received.length - unique.size;
    console.log(`crash recovery: ${acked.size} ACKed, ${unique.size} delivered, ${duplicates} duplicates, ${lost.length} lost, ${KILLS} kills`);
    expect(lost).toEqual([]);
    engine.kill('SIGKILL');
  }, 240_000);
});
