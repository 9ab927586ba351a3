import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/**
 * Runs SQLite's WAL checkpoints on a worker thread with its own connection, so that copying
 * the WAL into the database file (and the fsync of the database that goes with it) never
 * runs inside a COMMIT on the event loop. With SQLite's automatic checkpoint, every ~1000
 * pages one unlucky COMMIT paid for the whole copy: measured, 28k against 45k stored
 * messages/s at synchronous=NORMAL (docs/BENCHMARKS.md).
 *
 * PASSIVE checkpoints never block the writer. But under steady writes the worker never
 * catches up: frames arrive while it copies, and SQLite starts the WAL again from its
 * beginning only when a write transaction finds every frame copied. So after each of the
 * worker's rounds the writer itself checkpoints the few frames written meanwhile
 * (`onRound`, run between transactions); the WAL is then overwritten in place instead of
 * growing (measured: 784 MB after 40,000 messages without that step; an fsync of a growing
 * file also has to journal its new size). The store does that only once the WAL has grown
 * past a size (SqliteStoreOptions.walRestartFrames). Done after every round, it was a fifth
 * of the writer's time in a store benchmark, in pauses of 20-40 ms on the event loop.
 */

// Plain CommonJS so it runs the same under tsx (tests) and from dist/ (npm start).
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.file, { timeout: 5000 });
db.pragma('wal_autocheckpoint = 0');
let timer;
const checkpoint = () => {
  try {
    const [row] = db.pragma('wal_checkpoint(PASSIVE)');
    parentPort.postMessage({ log: row ? row.log : 0 });
  } catch (error) {
    parentPort.postMessage({ error: String(error && error.message || error) });
  }
};
parentPort.on('message', () => { clearInterval(timer); db.close(); parentPort.close(); }); // only 'stop' is sent
timer = setInterval(checkpoint, workerData.intervalMs);
`;

export interface CheckpointerOptions {
  readonly file: string;
  /** How often a checkpoint runs (default 100 ms). */
  readonly intervalMs?: number;
  /** Called with a checkpoint's failure (the next one retries). */
  readonly onError?: (message: string) => void;
  /** Called after each of the worker's checkpoints that found frames in the WAL, with their number. */
  readonly onRound?: (frames: number) => void;
  /** Called once if the worker ends on its own (crash, out of memory): checkpoints must fall back. */
  readonly onExit?: (code: number) => void;
}

/** The same failure is reported again only after this long (a checkpoint runs every 100 ms). */
const REPEAT_ERROR_MS = 60_000;

export class Checkpointer {
  private readonly worker: Worker;
  private stopped = false;
  private exited = false;
  private lastError = { message: '', at: 0 };
  /** Checkpoints the worker has run (for tests and metrics). */
  rounds = 0;

  constructor(options: CheckpointerOptions) {
    const module = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER, { eval: true, workerData: { file: options.file, module, intervalMs: options.intervalMs ?? 100 } });
    const report = (message: string): void => {
      const now = Date.now();
      if (message === this.lastError.message && now - this.lastError.at < REPEAT_ERROR_MS) return;
      this.lastError = { message, at: now };
      options.onError?.(message);
    };
    this.worker.on('message', (m: { log?: number; error?: string }) => {
      if (m.error !== undefined) return report(m.error);
      this.lastError = { message: '', at: 0 }; // recovered: the next failure is news
      this.rounds++;
      if ((m.log ?? 0) > 0) options.onRound?.(m.log!);
    });
    this.worker.on('error', (error) => report(error.message));
    this.worker.on('exit', (code) => {
      this.exited = true;
      if (!this.stopped) options.onExit?.(code);
    });
    // Only a timer keeps it busy: it must not keep the process alive on its own.
    this.worker.unref();
  }

  /** Ends the worker as a crash would (tests of the fallback). */
  async kill(): Promise<void> {
    await this.worker.terminate();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    this.worker.ref(); // keep the process alive until it has closed its connection
    this.worker.postMessage('stop');
    await exited;
  }
}
