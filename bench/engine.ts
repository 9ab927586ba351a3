/**
 * End-to-end engine benchmark: MLLP → store → one step → file destination, respondFrom
 * received, 8 connections. Messages/s and p50/p99 ACK latency, side by side with the bare
 * Sluice MLLP listener (parse + ACK, no store) in the same run. Target: ≥ 50% of it.
 *   node --import tsx bench/engine.ts
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { MllpDecoder, frame } from '../engine/mllp/framing.js';
import { adtA01 } from './fixtures/messages.js';
import { fmtInt, fmtPct, median, nowNs, percentile, secondsSince } from './lib/stats.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const CONNECTIONS = 8;
const MESSAGES = Number(process.env.BENCH_E2E_MESSAGES ?? 8000);
const RUNS = Number(process.env.BENCH_E2E_RUNS ?? 3);

export interface Server { child: ChildProcess; port: number; lines: ReturnType<typeof createInterface>; sent: number }

export async function spawnServer(script: string, args: string[], env: Record<string, string> = {}, root = ROOT): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, script), ...args], { cwd: root, stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start`)), 30_000);
    lines.on('line', (l) => { const m = /^PORT (\d+)$/.exec(l); if (m) { clearTimeout(timer); resolve(Number(m[1])); } });
  });
  return { child, port, lines, sent: 0 };
}

/**
 * Waits until an engine has delivered everything it ACKed, so its delivery backlog does not
 * run on into the next measured run (of this or another server).
 */
export async function drained(s: Server): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const n = await new Promise<number>((resolve) => {
      const onLine = (l: string): void => { const m = /^COUNT (\d+)$/.exec(l); if (m) { s.lines.off('line', onLine); resolve(Number(m[1])); } };
      s.lines.on('line', onLine);
      s.child.stdin!.write('count\n');
    });
    if (n >= s.sent) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('engine did not drain within 60 s');
}

export function stop(s: Server): Promise<void> {
  return new Promise((resolve) => {
    s.child.once('exit', () => resolve());
    s.child.stdin!.end();
    setTimeout(() => s.child.kill('SIGKILL'), 10_000).unref();
  });
}

/** One connection: send, wait for the ACK, record the latency, next. Unique MSH-10 each, 50 patients. */
export function connectionLoop(port: number, count: number, prefix: string, latencies: number[]): Promise<void> {
  const template = adtA01('CTRLID').text;
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setNoDelay(true);
    const decoder = new MllpDecoder();
    let sent = 0;
    let started = 0n;
    const next = (): void => {
      started = process.hrtime.bigint();
      // 50 patients, so per-patient ordering leaves the destination's concurrency room to work.
      const n = sent++;
      socket.write(frame(template.replace('|CTRLID|', `|${prefix}${n}|`).replace('|4523178^', `|${4523178 + (n % 50)}^`)));
    };
    const timer = setTimeout(() => { socket.destroy(); reject(new Error('timed out')); }, 300_000);
    socket.on('connect', next);
    socket.on('error', (e) => { clearTimeout(timer); reject(e); });
    socket.on('data', (chunk: Buffer) => {
      for (const ack of decoder.push(chunk)) {
        latencies.push(Number(process.hrtime.bigint() - started) / 1e6);
        if (!ack.includes('MSA|AA')) { clearTimeout(timer); socket.destroy(); reject(new Error(`not AA: ${ack.toString('latin1').slice(0, 120)}`)); return; }
        if (sent >= count) { clearTimeout(timer); socket.end(); resolve(); return; }
        next();
      }
    });
  });
}

interface Result {
  msgsPerSec: number;
  p50: number;
  p99: number;
  /** Engines: messages / seconds from the first send until the last file was written. */
  deliveredPerSec?: number;
}

async function run(server: Server, tag: string, engine = false): Promise<Result> {
  const port = server.port;
  const latencies: number[] = [];
  const per = Math.floor(MESSAGES / CONNECTIONS);
  server.sent += per * CONNECTIONS;
  const t0 = nowNs();
  await Promise.all(Array.from({ length: CONNECTIONS }, (_, c) => connectionLoop(port, per, `${tag}C${c}N`, latencies)));
  const secs = secondsSince(t0);
  latencies.sort((a, b) => a - b);
  const q = (p: number): number => percentile(latencies, p)!;
  const result: Result = { msgsPerSec: (per * CONNECTIONS) / secs, p50: q(0.5), p99: q(0.99) };
  if (engine) {
    await drained(server);
    result.deliveredPerSec = (per * CONNECTIONS) / secondsSince(t0);
  }
  return result;
}

interface ServerSpec {
  readonly key: string;
  readonly label: string;
  readonly script: 'bench/mllp-server.ts' | 'bench/engine-server.ts' | 'bench/minimal-server.ts';
  readonly args: readonly string[];
  readonly engine: boolean;
  /** The ceiling row this server is compared with. */
  readonly ceiling?: string;
  readonly env?: Record<string, string>;
  /** Diagnosis only: runs when named in BENCH_E2E_SERVERS, not by default. */
  readonly diagnostic?: boolean;
  /** The checkout the server runs from (default: this one). */
  readonly root?: string;
}

const SERVERS: readonly ServerSpec[] = [
  { key: 'bare', label: 'bare Sluice MLLP listener (parse + ACK)', script: 'bench/mllp-server.ts', args: ['sluice'], engine: false },
  { key: 'append', label: 'ceiling: bare listener + one append per tick before the ACK (survives SIGKILL)', script: 'bench/mllp-server.ts', args: ['sluice-append'], engine: false },
  { key: 'fsync', label: 'ceiling: same + one fdatasync per append, on the event loop (survives power loss)', script: 'bench/mllp-server.ts', args: ['sluice-fsync'], engine: false },
  { key: 'pipelined', label: 'ceiling: same, the fdatasyncs on the thread pool, several in flight (survives power loss)', script: 'bench/mllp-server.ts', args: ['sluice-fsync-pipelined'], engine: false },
  // The same work done by hand, nothing else: what any engine on this machine could reach at best.
  { key: 'minimal', label: 'ceiling: the same work by hand (one row per message, file with flush, SENT), SQLite FULL', script: 'bench/minimal-server.ts', args: ['FULL'], engine: true, ceiling: 'pipelined' },
  { key: 'minimal-normal', label: 'same, SQLite NORMAL', script: 'bench/minimal-server.ts', args: ['NORMAL'], engine: true, ceiling: 'append' },
  { key: 'minimal-noflush', label: 'same, SQLite NORMAL, files without flush (diagnosis)', script: 'bench/minimal-server.ts', args: ['NORMAL'], engine: true, ceiling: 'append', env: { BENCH_MINIMAL_FLUSH: '0' }, diagnostic: true },
  { key: 'minimal-nofile', label: 'same, SQLite NORMAL, no file written (diagnosis)', script: 'bench/minimal-server.ts', args: ['NORMAL'], engine: true, ceiling: 'append', env: { BENCH_MINIMAL_FILES: '0' }, diagnostic: true },
  { key: 'minimal-out', label: 'same, SQLite NORMAL, store and files outside /tmp (diagnosis)', script: 'bench/minimal-server.ts', args: ['NORMAL'], engine: true, ceiling: 'append', env: { BENCH_E2E_OUT_ROOT: path.join(ROOT, '.bench-out') }, diagnostic: true },
  { key: 'engine', label: 'Sluice engine (store, step, file destination), SQLite synchronous=FULL (default; survives power loss)', script: 'bench/engine-server.ts', args: ['FULL'], engine: true, ceiling: 'pipelined' },
  { key: 'normal', label: 'same, SQLite synchronous=NORMAL (survives SIGKILL, not power loss)', script: 'bench/engine-server.ts', args: ['NORMAL'], engine: true, ceiling: 'append' },
  // The same engines with the file destination's directory outside the temp dir: on these VMs
  // creating a file under /tmp costs 0.5-1.5 ms of CPU, elsewhere on the same disk ~0.03 ms.
  { key: 'engine-out', label: 'same as FULL, files written outside /tmp (diagnosis: the cost of creating files there)', script: 'bench/engine-server.ts', args: ['FULL'], engine: true, ceiling: 'pipelined', env: { BENCH_E2E_OUT_ROOT: path.join(ROOT, '.bench-out') }, diagnostic: true },
  { key: 'normal-out', label: 'same as NORMAL, files written outside /tmp (diagnosis: the cost of creating files there)', script: 'bench/engine-server.ts', args: ['NORMAL'], engine: true, ceiling: 'append', env: { BENCH_E2E_OUT_ROOT: path.join(ROOT, '.bench-out') }, diagnostic: true },
  { key: 'pg', label: 'Sluice engine on the PostgreSQL store (127.0.0.1, synchronous_commit on for intake)', script: 'bench/engine-server.ts', args: ['PG'], engine: true, ceiling: 'pipelined', diagnostic: true },
  { key: 'intake', label: 'diagnosis: engine FULL, every message filtered right after intake', script: 'bench/engine-server.ts', args: ['FULL'], engine: false, ceiling: 'pipelined', env: { BENCH_VARIANT: 'intake' }, diagnostic: true },
  { key: 'intake-normal', label: 'diagnosis: engine NORMAL, every message filtered right after intake', script: 'bench/engine-server.ts', args: ['NORMAL'], engine: false, ceiling: 'append', env: { BENCH_VARIANT: 'intake' }, diagnostic: true },
];

export async function runEngineBench(log: (s: string) => void = (s) => process.stderr.write(s + '\n')): Promise<string> {
  // BENCH_E2E_SERVERS=bare,engine runs only those (the bare listener always runs: it is the base).
  const only = process.env.BENCH_E2E_SERVERS?.split(',').map((k) => k.trim());
  const chosen = SERVERS.filter((s) => s.key === 'bare' || (only ? only.includes(s.key) : !s.diagnostic));
  // BENCH_E2E_BASELINE=<another checkout>: each engine row also runs from there, in the same
  // interleaved rounds, so a change is compared with its baseline under the same noise.
  const baseline = process.env.BENCH_E2E_BASELINE;
  const specs = baseline
    // (Not the rows that need BENCH_E2E_OUT_ROOT: an older checkout ignores it and writes to /tmp.)
    ? chosen.flatMap((s) => s.script === 'bench/engine-server.ts' && !s.env?.BENCH_E2E_OUT_ROOT ? [s, { ...s, key: `${s.key}@baseline`, label: `${s.label} — baseline ${baseline}`, root: baseline }] : [s])
    : chosen;
  const servers = new Map<string, Server>();
  const results = new Map<string, Result[]>(specs.map((s) => [s.key, []]));
  try {
    for (const spec of specs) servers.set(spec.key, await spawnServer(spec.script, [...spec.args], spec.env, spec.root));
    for (const spec of specs) await run(servers.get(spec.key)!, 'W', spec.engine); // warm-up all
    for (let r = 0; r < RUNS; r++) {
      // Interleaved so machine noise hits all alike.
      for (const spec of specs) results.get(spec.key)!.push(await run(servers.get(spec.key)!, `${spec.key}${r}`, spec.engine));
      log(`run ${r + 1}/${RUNS}: ${specs.map((s) => `${s.key} ${Math.round(results.get(s.key)![r]!.msgsPerSec)}`).join(', ')} msg/s`);
    }
  } finally {
    await Promise.all([...servers.values()].map(stop));
  }
  const rateOf = (rs: Result[]): number => median(rs.map((x) => x.msgsPerSec));
  const pct = (x: number, base: number): string => fmtPct(x / base);
  const baseRate = rateOf(results.get('bare')!);
  const row = (spec: ServerSpec): string => {
    const rs = results.get(spec.key)!;
    const m = rateOf(rs);
    const ceiling = spec.ceiling && results.has(spec.ceiling) ? rateOf(results.get(spec.ceiling)!) : undefined;
    const delivered = rs[0]?.deliveredPerSec === undefined ? '—' : fmtInt(median(rs.map((x) => x.deliveredPerSec!)));
    return `| ${spec.label} | ${fmtInt(m)} | ${pct(m, baseRate)} | ${ceiling ? `${pct(m, ceiling)} (${spec.ceiling})` : '—'} | ${median(rs.map((x) => x.p50)).toFixed(2)} | ${median(rs.map((x) => x.p99)).toFixed(2)} | ${delivered} |`;
  };
  const summary = specs.filter((s) => s.key !== 'bare').map((s) => `${s.key} ${pct(rateOf(results.get(s.key)!), baseRate)}`).join(', ');
  return [
    `### End to end: MLLP → SQLite store → set step → file, respondFrom received, ${CONNECTIONS} connections`,
    '',
    `${MESSAGES} messages (1 KB ADT^A01, unique MSH-10, 50 patients) per run, median of ${RUNS} interleaved runs; after each engine run the bench waits until every message is delivered, so no backlog runs into the next measurement.`,
    '',
    '| server | ACKed msgs/s | vs bare listener | vs its durability ceiling | ACK p50 ms | ACK p99 ms | delivered msgs/s (first send → last file) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...specs.map(row),
    '',
    `Against the bare listener (target for the engine: ≥ 50%): ${summary}.`,
    '',
  ].join('\n');
}

if (process.argv[1] && import.meta.url === `file://${process.argv[1]}`) {
  process.stdout.write(await runEngineBench() + '\n');
}
