/**
 * The least an engine can do for bench/engine.ts's end-to-end case, written by hand with no
 * engine around it: a ceiling for the engine rows, not a product. MLLP in (Sluice's listener
 * and parser) → one SQLite row per message, committed per tick on the event loop before the
 * ACK (argv[2] FULL: fsync, or NORMAL) → set MSH-5 → one file per message (written with
 * flush, as the file destination does; BENCH_MINIMAL_FLUSH=0 skips it) → status SENT, one
 * UPDATE per message, committed per tick without fsync. BENCH_MINIMAL_FILES=0 writes no file
 * (diagnosis: what the files cost). One table, its primary key only: no
 * per-stage contents, events, deliveries, indexes, duplicate check, ordering or retries.
 * Prints `PORT <n>`; on the stdin line `count` prints `COUNT <files written>`; stops when stdin ends.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import Database from 'better-sqlite3';
import { buildAck, type Hl7Message } from '../engine/hl7/index.js';
import { ulid } from '../engine/ids.js';
import { MllpListener, defaultReply } from '../engine/mllp/index.js';

const fsync = process.argv[2] !== 'NORMAL';
const flush = process.env.BENCH_MINIMAL_FLUSH !== '0';
const writeFiles = process.env.BENCH_MINIMAL_FILES !== '0';
// BENCH_E2E_OUT_ROOT=<dir>: everything there instead of the temp dir (as bench/engine-server.ts).
const root = process.env.BENCH_E2E_OUT_ROOT ?? os.tmpdir();
mkdirSync(root, { recursive: true });
const dir = mkdtempSync(path.join(root, 'sluice-bench-minimal-'));
const outDir = path.join(dir, 'out');
const db = new Database(path.join(dir, 'min.db'));
db.pragma('journal_mode = WAL');
db.exec('CREATE TABLE messages (id TEXT PRIMARY KEY, received_at INTEGER NOT NULL, status TEXT NOT NULL, control_id TEXT, raw BLOB NOT NULL)');
const insert = db.prepare("INSERT INTO messages (id, received_at, status, control_id, raw) VALUES (?, ?, 'RECEIVED', ?, ?)");
const sent = db.prepare("UPDATE messages SET status = 'SENT' WHERE id = ?");
mkdirSync(outDir);

interface Intake { id: string; message: Hl7Message; raw: Uint8Array; done: () => void }
let intakes: Intake[] = [];
let delivered: string[] = [];
let files = 0;

function commit(sync: boolean, work: () => void): void {
  db.pragma(`synchronous = ${sync ? 'FULL' : 'NORMAL'}`);
  db.exec('BEGIN IMMEDIATE');
  work();
  db.exec('COMMIT');
}

/** Per tick: the intakes first (fsynced when FULL), ACKs, then their processing starts. */
function flushIntakes(): void {
  const batch = intakes;
  intakes = [];
  const now = Date.now();
  commit(fsync, () => { for (const m of batch) insert.run(m.id, now, m.message.controlId, m.raw); });
  for (const m of batch) {
    m.done();
    void deliver(m);
  }
}

function flushDelivered(): void {
  const batch = delivered;
  delivered = [];
  commit(false, () => { for (const id of batch) sent.run(id); });
  files += batch.length;
}

async function deliver(m: Intake): Promise<void> {
  m.message.set('MSH-5', 'ARCHIVE');
  const text = m.message.toString();
  if (writeFiles) await writeFile(path.join(outDir, `${m.id}.hl7`), text, flush ? { flush: true } : {});
  if (delivered.length === 0) setImmediate(flushDelivered);
  delivered.push(m.id);
}

const listener = new MllpListener({
  host: '127.0.0.1',
  port: 0,
  handler: (inbound) => {
    if (!inbound.message) return defaultReply(inbound);
    const message = inbound.message;
    return new Promise((resolve) => {
      if (intakes.length === 0) setImmediate(flushIntakes);
      // The ACK is built before MSH-5 is changed, so it answers the header as sent.
      const ack = buildAck(message, { code: 'AA' });
      intakes.push({ id: ulid(), message, raw: Buffer.from(inbound.raw), done: () => resolve(ack) });
    });
  },
});
const port = await listener.start();
globalThis.process.stdout.write(`PORT ${port}\n`);
const rl = createInterface({ input: globalThis.process.stdin });
rl.on('line', (line) => { if (line.trim() === 'count') globalThis.process.stdout.write(`COUNT ${files}\n`); });
rl.on('close', () => {
  void listener.close().finally(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
    globalThis.process.exit(0);
  });
});
