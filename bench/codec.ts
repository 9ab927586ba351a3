/**
 * Codec benchmark: bare split vs sluice vs peer HL7 libraries, in one process, with
 * interleaved rounds so drift and noise hit every contender alike.
 *
 *   node --import tsx bench/codec.ts
 *
 * Env: BENCH_ROUNDS (default 7), BENCH_ROUND_MS (time per contender per round, default 500).
 * Each round gives every contender ~BENCH_ROUND_MS in 10 rotating slices; the reported
 * number is the median of the per-round ops/s, and each ratio is the median of per-round
 * ratios (a contender and the baseline measured in the same round).
 */
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import { adtA01, oruR01, type Fixture } from './fixtures/messages.js';
import { CODEC_IMPLS, checkValues, type CodecImpl } from './lib/codec-cases.js';
import { machineInfo, machineMarkdown } from './lib/machine.js';
import { envInt, fmtInt, fmtPct, fmtRatio, mdTable, median, nowNs, secondsSince } from './lib/stats.js';

const SLICES = 10;

/** Keeps results reachable so the JIT cannot drop the work. */
export let blackhole: unknown;

interface Contender {
  impl: CodecImpl;
  mode: 'parse' | 'read';
  run: () => unknown;
  iters: number;
  samples: number[];
}

export interface CodecFixtureResult {
  fixture: string;
  bytes: number;
  rows: { id: string; label: string; mode: 'parse' | 'read'; median: number; samples: number[] }[];
  correctness: { id: string; label: string; problems: string[] }[];
}

export interface CodecResult {
  rounds: number;
  roundMs: number;
  fixtures: CodecFixtureResult[];
}

/** Runs fn n times and returns seconds taken. */
function timeIt(fn: () => unknown, n: number): number {
  const t0 = nowNs();
  for (let i = 0; i < n; i++) blackhole = fn();
  return secondsSince(t0);
}

/** Iterations that take about `targetMs`; doubles from 1 until a batch takes >= 50 ms (this also warms up). */
function calibrate(fn: () => unknown, targetMs: number): number {
  let n = 1;
  for (let guard = 0; guard < 40; guard++) {
    const s = timeIt(fn, n);
    if (s >= 0.05) return Math.max(1, Math.round((n * targetMs) / 1000 / s));
    n *= 2;
  }
  return n;
}

function benchFixture(fx: Fixture, rounds: number, roundMs: number, log: (s: string) => void): CodecFixtureResult {
  const correctness = CODEC_IMPLS.map((impl) => ({ id: impl.id, label: impl.label, problems: checkValues(impl.read(fx.text), fx.expected) }));
  for (const c of correctness) {
    if (c.problems.length > 0) log(`  ! ${c.id} returns wrong values on ${fx.name}: ${c.problems.join('; ')}`);
  }
  const text = fx.text;
  const contenders: Contender[] = [];
  for (const mode of ['parse', 'read'] as const) {
    for (const impl of CODEC_IMPLS) {
      const run = mode === 'parse' ? () => impl.parse(text) : () => impl.read(text);
      contenders.push({ impl, mode, run, iters: 0, samples: [] });
    }
  }
  for (const c of contenders) c.iters = calibrate(c.run, roundMs);
  // One untimed pass so every contender is equally warm before round 1.
  for (const c of contenders) timeIt(c.run, Math.max(1, c.iters >> 2));
  for (let r = 0; r < rounds; r++) {
    // A round gives each contender ~roundMs, cut into slices that rotate through the
    // contenders, so a burst of load from another process hits them all alike.
    const spent = contenders.map(() => 0);
    const done = contenders.map(() => 0);
    for (let sl = 0; sl < SLICES; sl++) {
      for (let k = 0; k < contenders.length; k++) {
        const at = (k + sl + r) % contenders.length;
        const c = contenders[at]!;
        const n = Math.max(1, Math.round(c.iters / SLICES));
        spent[at]! += timeIt(c.run, n);
        done[at]! += n;
      }
    }
    contenders.forEach((c, i) => c.samples.push(done[i]! / spent[i]!));
    log(`  ${fx.name}: round ${r + 1}/${rounds} done`);
  }
  return {
    fixture: fx.name,
    bytes: Buffer.byteLength(text),
    rows: contenders.map((c) => ({ id: c.impl.id, label: c.impl.label, mode: c.mode, median: median(c.samples), samples: c.samples })),
    correctness,
  };
}

export function runCodec(log: (s: string) => void = (s) => process.stderr.write(s + '\n')): CodecResult {
  const rounds = envInt('BENCH_ROUNDS', 7);
  const roundMs = envInt('BENCH_ROUND_MS', 500);
  const fixtures = [adtA01(), oruR01(100)];
  return { rounds, roundMs, fixtures: fixtures.map((fx) => benchFixture(fx, rounds, roundMs, log)) };
}

/** Parse-then-read target: sluice at >= 85% of the bare split doing the same reads. */
export const CODEC_TARGET = 0.85;

type Row = CodecFixtureResult['rows'][number];

function row(f: CodecFixtureResult, id: string, mode: 'parse' | 'read'): Row {
  const r = f.rows.find((x) => x.id === id && x.mode === mode);
  if (!r) throw new Error(`no result for ${id}/${mode}`);
  return r;
}

/** Median over rounds of (contender ops/s ÷ split ops/s in the same round). */
export function pairedRatio(f: CodecFixtureResult, id: string, mode: 'parse' | 'read'): number {
  const a = row(f, id, mode).samples;
  const b = row(f, 'split', mode).samples;
  return median(a.map((v, i) => v / b[i]!));
}

export function codecMarkdown(res: CodecResult): string {
  const out: string[] = [];
  out.push(`Median of ${res.rounds} interleaved rounds, ~${res.roundMs} ms per contender per round (10 rotating slices). "vs split" is the median of per-round ratios to the bare-split baseline doing the same work.`);
  for (const f of res.fixtures) {
    out.push('', `### ${f.fixture} (${fmtInt(f.bytes)} bytes)`, '');
    const rows = CODEC_IMPLS.map((impl) => {
      const p = row(f, impl.id, 'parse');
      const rd = row(f, impl.id, 'read');
      const bad = f.correctness.find((c) => c.id === impl.id)!.problems.length > 0;
      return [impl.label, fmtInt(p.median), fmtRatio(pairedRatio(f, impl.id, 'parse')), fmtInt(rd.median), fmtRatio(pairedRatio(f, impl.id, 'read')), bad ? 'WRONG (see below)' : 'ok'];
    });
    out.push(mdTable(['implementation', 'parse ops/s', 'vs split', 'parse+read ops/s', 'vs split', 'values'], rows));
    const ours = pairedRatio(f, 'sluice', 'read');
    out.push('', `Target parse+read >= ${fmtPct(CODEC_TARGET)} of split: **${fmtPct(ours)} — ${ours >= CODEC_TARGET ? 'met' : 'NOT met'}**.`);
    const spread = f.rows.map((r) => `${r.id}/${r.mode} ${fmtInt(Math.min(...r.samples))}–${fmtInt(Math.max(...r.samples))}`);
    out.push('', `<details><summary>per-round min–max ops/s</summary>\n\n${spread.join('; ')}\n\n</details>`);
    const wrong = f.correctness.filter((c) => c.problems.length > 0);
    if (wrong.length > 0) {
      out.push('', 'Values returned that are not right:', '');
      for (const c of wrong) out.push(`- **${c.label}**: ${c.problems.join('; ')}`);
    }
  }
  return out.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const machine = machineInfo();
  const res = runCodec();
  process.stdout.write(`${machineMarkdown(machine, os.loadavg())}\n\n${codecMarkdown(res)}\n`);
}
