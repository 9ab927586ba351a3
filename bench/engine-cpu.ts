/**
 * CPU per message of the end-to-end engine (bench/engine-server.ts: MLLP → store → set step →
 * file, respondFrom received, 8 connections), per thread, read from /proc (Linux only). On a
 * loaded 2-core machine the rates of bench/engine.ts move with the noise; CPU time per
 * message is steadier, and the event loop's share is what bounds the engine's ACK rate.
 *
 *   node --import tsx bench/engine-cpu.ts [FULL|NORMAL]
 *
 * BENCH_CPU_BASELINE=<another checkout>: the same engine from there, alternated run by run.
 * BENCH_CPU_MINIMAL=1: also the hand-written ceiling (bench/minimal-server.ts), alternated the same way.
 * BENCH_CPU_MESSAGES (default 12000) and BENCH_CPU_RUNS (default 3); medians are reported.
 * A fresh engine per run, warmed up with 2,000 messages; each run waits until all is delivered.
 * Counted: the engine process's threads. Not counted: kernel threads (journal commits,
 * writeback) that its fsyncs cause.
 */
import { readFileSync } from 'node:fs';
import { connectionLoop, drained, spawnServer, stop, type Server } from './engine.js';
import { fmtInt, median, nowNs, secondsSince } from './lib/stats.js';

const MODE = process.argv[2] === 'FULL' ? 'FULL' : 'NORMAL';
const MESSAGES = Number(process.env.BENCH_CPU_MESSAGES ?? 12_000);
const RUNS = Number(process.env.BENCH_CPU_RUNS ?? 3);
const CONNECTIONS = 8;
const TICK_US = 10_000; // Linux reports thread CPU in 1/100 s

/** utime + stime (µs) from a /proc stat file (fields 14 and 15, after the command name). */
function cpuOf(statFile: string): number {
  const text = readFileSync(statFile, 'utf8');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_US;
}

interface Sample { mainUs: number; allUs: number; acked: number; delivered: number }

async function drive(server: Server, count: number, tag: string): Promise<{ acked: number; delivered: number }> {
  const per = Math.floor(count / CONNECTIONS);
  server.sent += per * CONNECTIONS;
  const t0 = nowNs();
  await Promise.all(Array.from({ length: CONNECTIONS }, (_, c) => connectionLoop(server.port, per, `${tag}C${c}N`, [])));
  const acked = (per * CONNECTIONS) / secondsSince(t0);
  await drained(server);
  return { acked, delivered: (per * CONNECTIONS) / secondsSince(t0) };
}

async function once(root: string | undefined, tag: string, script = 'bench/engine-server.ts'): Promise<Sample> {
  const server = await spawnServer(script, [MODE], {}, root);
  try {
    const pid = server.child.pid!;
    await drive(server, 2000, `${tag}W`);
    const loop = `/proc/${pid}/task/${pid}/stat`; // the main thread: the event loop
    const all = `/proc/${pid}/stat`; // every thread, those that ended included
    const [loopBefore, allBefore] = [cpuOf(loop), cpuOf(all)];
    const { acked, delivered } = await drive(server, MESSAGES, tag);
    const n = Math.floor(MESSAGES / CONNECTIONS) * CONNECTIONS;
    return { mainUs: (cpuOf(loop) - loopBefore) / n, allUs: (cpuOf(all) - allBefore) / n, acked, delivered };
  } finally {
    await stop(server);
  }
}

const baseline = process.env.BENCH_CPU_BASELINE;
if (baseline && process.env.BENCH_E2E_OUT_ROOT) {
  // An older checkout's engine-server may ignore it: the two sides would write to different disks.
  throw new Error('BENCH_E2E_OUT_ROOT and BENCH_CPU_BASELINE together would compare different output directories');
}
const sides: { name: string; root?: string; script?: string }[] = [
  { name: 'this checkout' },
  ...(baseline ? [{ name: `baseline ${baseline}`, root: baseline }] : []),
  ...(process.env.BENCH_CPU_MINIMAL ? [{ name: 'hand-written ceiling (bench/minimal-server.ts)', script: 'bench/minimal-server.ts' }] : []),
];
const samples = new Map<string, Sample[]>(sides.map((s) => [s.name, []]));
for (let r = 0; r < RUNS; r++) {
  for (const side of sides) {
    const s = await once(side.root, `R${r}${side.root ? 'B' : side.script ? 'M' : 'A'}`, side.script);
    samples.get(side.name)!.push(s);
    process.stderr.write(`run ${r + 1}/${RUNS} ${side.name}: event loop ${s.mainUs.toFixed(0)} us/msg, all threads ${s.allUs.toFixed(0)} us/msg, ${fmtInt(s.acked)} ACKed/s, ${fmtInt(s.delivered)} delivered/s\n`);
  }
}
const lines = [
  `### Engine CPU per message (SQLite ${MODE}), ${MESSAGES} messages per run, median of ${RUNS}`,
  '',
  '| engine | event loop µs/msg | all threads µs/msg | ACKed msgs/s | delivered msgs/s |',
  '| --- | ---: | ---: | ---: | ---: |',
  ...sides.map(({ name }) => {
    const s = samples.get(name)!;
    const m = (f: (x: Sample) => number): number => median(s.map(f));
    return `| ${name} | ${m((x) => x.mainUs).toFixed(0)} | ${m((x) => x.allUs).toFixed(0)} | ${fmtInt(m((x) => x.acked))} | ${fmtInt(m((x) => x.delivered))} |`;
  }),
  '',
];
process.stdout.write(lines.join('\n') + '\n');
