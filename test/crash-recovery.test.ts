import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { adt } from './helpers/channel.js';
import { FakeServer } from './helpers/fake-server.js';
import { eventually } from './helpers/http-sink.js';
import { freePort } from './helpers/net.js';
import { parseHl7 } from '../engine/hl7/index.js';
import { MllpSender } from '../engine/mllp/index.js';
import { sleep } from '../engine/sleep.js';

/*
 * Crash recovery, proven with SIGKILL: RECEIVED and QUEUED work resumes on start.
 *
 * Several independent trials, each with a fresh data directory and sink. In each, senders
 * push messages over real MLLP connections to a real engine process (SQLite store, duplicate
 * detection on, as by default) that delivers them over HTTP to a sink that fails transiently
 * much of the time: 30 % of requests at random (503 or a dropped connection) and every request
 * during random outages. The engine is SIGKILLed twice per trial and started again:
 *
 *   1. at a random point of the sending;
 *   2. at a random moment inside an outage of the sink, once it has just refused deliveries
 *      (they are then QUEUED with retries pending): later in the sending in odd trials; in
 *      even ones after the last AA, while the backlog drains, the sink being held down from
 *      95 % of the sending until the restart.
 *
 * Some messages are sent again after their AA, as a sender does when an ACK is lost: duplicate
 * detection must recognise them (ACKed, stored FILTERED, not processed again).
 *
 * After each kill the store is read (engine down) for what was left unfinished, and the
 * restarted engine reports what it resumed: the two must agree. At the end, every message
 * that got an AA must have reached the sink at least once (duplicates are allowed and
 * counted; losses: zero), and at least one kill per trial must have found deliveries QUEUED.
 */

const ROOT = path.resolve(import.meta.dirname, '..');
const ENGINE = path.join(ROOT, 'test/fixtures/crash-engine.ts');
const TRIALS = 3;
const MESSAGES = 1000; // per trial
const CONNECTIONS = 8;
/** Every this many messages, one is sent again after its AA (a lost ACK). */
const RESEND_EVERY = 40;
const PATIENTS = 200; // ordering keys: a retrying message holds back only its own patient
const FAIL_RATE = 0.3;

const random = (min: number, max: number): number => min + Math.random() * (max - min);

/**
 * A real HTTP server on 127.0.0.1 that fails transiently: a share of requests at random, and
 * every request during outages that come and go at random. Records the control id of each
 * message it accepted (2xx).
 */
class FlakySink {
  private readonly server = new FakeServer();
  /** Control ids of the messages answered 2xx, in arrival order (a resend appears again). */
  readonly delivered: string[] = [];
  failures = 0;
  outages = 0;
  /** In one of the random outages. */
  private outage = false;
  /** Held down by the test (see hold()). */
  private held = false;
  private lastFailureTimes: number[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly failRate: number) {
    this.server.handler = ({ body }, res) => {
      if (this.down || Math.random() < this.failRate) {
        this.failures++;
        this.lastFailureTimes.push(Date.now());
        if (this.lastFailureTimes.length > 20) this.lastFailureTimes.shift();
        // Mostly 503, sometimes the connection is dropped without an answer.
        if (Math.random() < 0.25) res.socket?.destroy();
        else res.writeHead(503).end('unavailable');
        return;
      }
      this.delivered.push(parseHl7(body).controlId);
      res.writeHead(200).end('ok');
    };
  }

  /** Every request fails now. */
  get down(): boolean {
    return this.outage || this.held;
  }

  /** How many requests failed in the last `ms` milliseconds (counting at most 20). */
  recentFailures(ms: number): number {
    const since = Date.now() - ms;
    return this.lastFailureTimes.filter((t) => t >= since).length;
  }

  /** Keeps the sink down until release(), whatever the random outages do. */
  hold(): void {
    if (!this.held && !this.outage) this.outages++;
    this.held = true;
  }

  release(): void {
    this.held = false;
  }

  async start(): Promise<string> {
    const url = `${await this.server.start()}/in`;
    this.cycle();
    return url;
  }

  /** Healthy for 300-900 ms, then down for 100-300 ms, and so on. */
  private cycle(): void {
    this.outage = !this.outage;
    if (this.outage && !this.held) this.outages++;
    this.timer = setTimeout(() => this.cycle(), this.outage ? random(100, 300) : random(300, 900));
  }

  async close(): Promise<void> {
    clearTimeout(this.timer);
    await this.server.close();
  }
}

/** One engine child process. */
interface RunningEngine {
  readonly child: ChildProcess;
  /** Resolves with how the process ended. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** From its ready line: unfinished messages its recovery took up. */
  readonly resumed: number;
}

const live = new Set<ChildProcess>();

function startEngine(dataDir: string, port: number, url: string): Promise<RunningEngine> {
  // stdin stays open: the child exits when it closes (if this test process dies).
  const child = spawn(process.execPath, ['--import', 'tsx', ENGINE, dataDir, String(port), url], { cwd: ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  live.add(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => { live.delete(child); resolve({ code, signal }); });
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error('engine did not start within 30 s')); }, 30_000);
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /ready resumed=(\d+)\n/.exec(out);
      if (m) { clearTimeout(timer); resolve({ child, exited, resumed: Number(m[1]) }); }
    });
    void exited.then(({ code, signal }) => { clearTimeout(timer); reject(new Error(`engine exited before ready (code ${code}, signal ${signal})`)); });
  });
}

interface StoreState {
  readonly byStatus: Record<string, number>;
  /** Deliveries waiting for a retry. */
  readonly queuedDeliveries: number;
  /** Control ids of the messages stored as duplicates (FILTERED: ACKed, not processed). */
  readonly duplicateIds: Set<string>;
  /** Control ids stored more than once as a message to process (a resend not recognised). */
  readonly processedTwice: string[];
}

/** What a stopped engine left in its store (read-only, while no engine runs on it). */
function readStore(dataDir: string): StoreState {
  const db = new Database(path.join(dataDir, 'sluice.db'), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT status, count(*) AS n FROM messages GROUP BY status').all() as { status: string; n: number }[];
    const queued = db.prepare("SELECT count(*) AS n FROM deliveries WHERE status = 'QUEUED'").get() as { n: number };
    const duplicates = db.prepare("SELECT control_id AS id FROM messages WHERE status = 'FILTERED'").all() as { id: string }[];
    const twice = db.prepare("SELECT control_id AS id FROM messages WHERE status <> 'FILTERED' GROUP BY control_id HAVING count(*) > 1").all() as { id: string }[];
    return {
      byStatus: Object.fromEntries(rows.map((r) => [r.status, r.n])), queuedDeliveries: queued.n,
      duplicateIds: new Set(duplicates.map((r) => r.id)), processedTwice: twice.map((r) => r.id),
    };
  } finally {
    db.close();
  }
}

interface Kill {
  readonly when: 'sending' | 'outage' | 'drain';
  /** Messages handed to the senders so far. */
  readonly progress: number;
  readonly sinkInOutage: boolean;
  /** Unfinished in the store after the kill: RECEIVED or TRANSFORMED (not yet queued), QUEUED. */
  readonly received: number;
  readonly queuedMessages: number;
  readonly queuedDeliveries: number;
  /** What the next start's recovery took up. */
  readonly resumed: number;
}

interface TrialResult {
  readonly acked: number;
  readonly delivered: number;
  readonly requests: number;
  readonly duplicates: number;
  readonly lost: number;
  /** Messages sent again after their AA (a lost ACK), on purpose. */
  readonly resent: number;
  /** Resends that the engine recognised as duplicates at intake (stored FILTERED, not delivered again). */
  readonly duplicatesAtIntake: number;
  /** Messages stored twice as new ones (a resend that duplicate detection missed): reported, not failed. */
  readonly processedTwice: number;
  readonly sinkFailures: number;
  readonly kills: readonly Kill[];
  readonly seconds: number;
}

const results: TrialResult[] = [];
const cleanups: (() => Promise<unknown>)[] = [];

afterAll(async () => {
  for (const child of live) child.kill('SIGKILL');
  for (const c of cleanups) await c().catch(() => undefined);
  if (results.length === 0) return;
  const sum = (f: (r: TrialResult) => number): number => results.reduce((n, r) => n + f(r), 0);
  const kills = results.flatMap((r) => r.kills);
  console.log(`crash recovery, ${results.length} trials: ${sum((r) => r.acked)} ACKed, ${sum((r) => r.delivered)} delivered, ${sum((r) => r.duplicates)} duplicates, `
    + `${sum((r) => r.lost)} lost, ${kills.length} kills (${kills.filter((k) => k.queuedDeliveries > 0).length} with deliveries QUEUED, `
    + `${sum((r) => r.kills.reduce((n, k) => n + k.queuedDeliveries, 0))} QUEUED deliveries at kill in all), ${sum((r) => r.sinkFailures)} sink failures, `
    + `${sum((r) => r.resent)} resent after AA, ${sum((r) => r.duplicatesAtIntake)} resends recognised as duplicates, ${sum((r) => r.processedTwice)} processed twice`);
});

async function trial(t: number): Promise<TrialResult> {
  const started = Date.now();
  const sink = new FlakySink(FAIL_RATE);
  const url = await sink.start();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), `sluice-crash-${t}-`));
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
  const port = await freePort();
  let engine = await startEngine(dataDir, port, url);
  try {
    const acked = new Set<string>();
    let next = 0;
    let sendingDone = false;
    const resent = new Set<string>();
    const sendLoop = async (): Promise<void> => {
      const sender = new MllpSender({ host: '127.0.0.1', port, ackTimeoutMs: 5_000, maxConnectAttempts: 50, backoff: { initialMs: 20, maxMs: 200 } });
      try {
        for (;;) {
          const i = next++;
          if (i >= MESSAGES) return;
          const id = `T${t}-M${i}`;
          // A real sender resends until it gets an AA; a resend after a lost ACK is a duplicate,
          // which the engine's duplicate detection ACKs without processing it again.
          for (let tries = 0; tries < 200; tries++) {
            try {
              const ack = await sender.send(adt(id, `P${i % PATIENTS}`));
              if (ack.code === 'AA') { acked.add(id); break; }
            } catch {
              await sleep(20);
            }
          }
          if (i % RESEND_EVERY === 7 && acked.has(id)) {
            for (let tries = 0; tries < 200; tries++) {
              try {
                if ((await sender.send(adt(id, `P${i % PATIENTS}`))).code === 'AA') { resent.add(id); break; }
              } catch {
                await sleep(20);
              }
            }
          }
        }
      } finally {
        await sender.close().catch(() => {});
      }
    };

    const kills: Kill[] = [];
    const killAndRestart = async (when: Kill['when']): Promise<void> => {
      // Still running: it must not have died on its own.
      expect(engine.child.exitCode).toBeNull();
      expect(engine.child.signalCode).toBeNull();
      const progress = next;
      const sinkInOutage = sink.down;
      engine.child.kill('SIGKILL');
      expect((await engine.exited).signal).toBe('SIGKILL');
      const { byStatus, queuedDeliveries } = readStore(dataDir);
      engine = await startEngine(dataDir, port, url);
      kills.push({
        when, progress, sinkInOutage,
        received: (byStatus.RECEIVED ?? 0) + (byStatus.TRANSFORMED ?? 0), queuedMessages: byStatus.QUEUED ?? 0, queuedDeliveries,
        resumed: engine.resumed,
      });
    };
    /**
     * Waits (bounded) until the sink is down and has just refused a few deliveries (now QUEUED
     * for retry), then a random bit longer, as long as it stays down.
     */
    const intoOutage = async (orDone: () => boolean): Promise<void> => {
      await eventually(() => (sink.down && sink.recentFailures(100) >= 3) || orDone(), 10_000, 'an outage of the sink');
      const until = Date.now() + random(0, 100);
      while (Date.now() < until && sink.down) await sleep(5);
    };

    const loops = Array.from({ length: CONNECTIONS }, () => sendLoop());
    // Kill 1 at a random point of the sending; kill 2 inside an outage of the sink, later in the
    // sending (odd trials) or after the last AA while the backlog drains (even trials). For the
    // latter the sink goes down near the end of the sending and stays down until the restart,
    // so the last messages' deliveries are certain to be QUEUED, whatever the machine's speed.
    const drainKill = t % 2 === 0;
    const killer = (async () => {
      // Each kill point drawn once, not again on every poll of the wait.
      const kill1At = random(0.1, 0.6) * MESSAGES;
      await eventually(() => next >= kill1At || sendingDone, 60_000, 'progress before kill 1');
      await sleep(random(0, 50));
      await killAndRestart('sending');
      if (drainKill) {
        await eventually(() => next >= 0.95 * MESSAGES || sendingDone, 60_000, 'the end of the sending');
        sink.hold();
        return;
      }
      const kill2At = random(0.65, 0.9) * MESSAGES;
      await eventually(() => next >= kill2At || sendingDone, 60_000, 'progress before kill 2');
      await intoOutage(() => sendingDone);
      await killAndRestart('outage');
    })();
    await Promise.all(loops);
    sendingDone = true;
    await killer;
    expect(acked.size).toBe(MESSAGES);

    const deliveredAll = (): boolean => new Set(sink.delivered).size >= acked.size;
    if (drainKill) {
      await sleep(random(0, 200));
      await intoOutage(deliveredAll);
      await killAndRestart('drain');
      sink.release();
    }

    // Until everything arrived, or (a loss) nothing more arrives for a while; bounded either way.
    let seen = -1;
    let lastChange = Date.now();
    await eventually(() => {
      if (sink.delivered.length !== seen) { seen = sink.delivered.length; lastChange = Date.now(); }
      return deliveredAll() || Date.now() - lastChange > 8_000;
    }, 45_000, 'deliveries to end');
    engine.child.kill('SIGKILL');
    await engine.exited;
    // The statuses of the last deliveries may not all be written yet: counted, not checked.
    const final = readStore(dataDir);

    const unique = new Set(sink.delivered);
    const lost = [...acked].filter((id) => !unique.has(id));
    const result: TrialResult = {
      acked: acked.size, delivered: unique.size, requests: sink.delivered.length, duplicates: sink.delivered.length - unique.size,
      lost: lost.length, resent: resent.size, duplicatesAtIntake: final.byStatus.FILTERED ?? 0, processedTwice: final.processedTwice.length, sinkFailures: sink.failures, kills, seconds: (Date.now() - started) / 1000,
    };
    results.push(result);
    console.log(`trial ${t}: ${result.acked} ACKed, ${result.delivered} delivered, ${result.duplicates} duplicates, ${result.lost} lost, `
      + `${result.resent} resent after AA, ${result.duplicatesAtIntake} resends recognised as duplicates, ${result.processedTwice} processed twice, ${result.sinkFailures} sink failures (${sink.outages} outages), ${result.seconds.toFixed(1)} s; kills:\n`
      + kills.map((k) => `  ${k.when.padEnd(7)} at ${String(k.progress).padStart(4)} sent${k.sinkInOutage ? ', sink down' : ''}: left ${k.received} RECEIVED, `
        + `${k.queuedMessages} QUEUED messages, ${k.queuedDeliveries} QUEUED deliveries; restart resumed ${k.resumed}`).join('\n'));

    expect(lost).toEqual([]);
    // Duplicate detection is on: every resend after an AA was recognised as a duplicate.
    expect(resent.size).toBeGreaterThan(0);
    expect([...resent].filter((id) => !final.duplicateIds.has(id))).toEqual([]);
    // No delivery gave up, and no message failed.
    expect(final.byStatus.ERROR ?? 0).toBe(0);
    // The store's unfinished work after each kill is exactly what the next start's recovery took up.
    for (const k of kills) expect(k.resumed).toBe(k.received + k.queuedMessages);
    // The test proves what it claims: some kill landed while deliveries were QUEUED for retry.
    expect(kills.filter((k) => k.queuedDeliveries > 0).length).toBeGreaterThan(0);
    return result;
  } finally {
    engine.child.kill('SIGKILL');
    await engine.exited;
    await sink.close();
  }
}

describe('crash recovery (SIGKILL, transiently failing destination)', () => {
  for (let t = 1; t <= TRIALS; t++) {
    it(`trial ${t}: loses no ACKed message across 2 kills while ${MESSAGES} messages are sent`, async () => {
      await trial(t);
    }, 90_000);
  }
});
