/**
 * v2 → FHIR conversion benchmark: conversions per second for a ~1 KB ADT^A01 and a ~20 KB
 * ORU^R01 (100 OBX), from message text to a transaction Bundle (parse included), and with
 * the Bundle serialized to JSON as a destination would send it.
 *
 *   node --import tsx bench/convert.ts
 *
 * Env: BENCH_ROUNDS (default 7), BENCH_ROUND_MS (time per case per round, default 500).
 * Reported: the median of the per-round rates.
 */
import { pathToFileURL } from 'node:url';
import { v2ToFhir } from '../transforms/v2-fhir/index.js';
import { adtA01, oruR01 } from './fixtures/messages.js';
import { machineInfo, machineMarkdown } from './lib/machine.js';
import { envInt, fmtInt, mdTable, median, nowNs, secondsSince } from './lib/stats.js';

/** Keeps results reachable so the JIT cannot drop the work. */
export let blackhole: unknown;

interface Case {
  readonly label: string;
  readonly bytes: number;
  readonly run: () => unknown;
  readonly rates: number[];
  /** Conversions per CPU second of this process: less distorted than wall time on a shared, loaded machine. */
  readonly cpuRates: number[];
  resources: number;
}

export interface ConvertResult {
  readonly rounds: number;
  readonly rows: ReadonlyArray<{ label: string; bytes: number; resources: number; median: number; cpuMedian: number; samples: number[] }>;
}

export function runConvert(log: (s: string) => void = () => {}): ConvertResult {
  const rounds = envInt('BENCH_ROUNDS', 7);
  const roundMs = envInt('BENCH_ROUND_MS', 500);
  const adt = adtA01().text;
  const oru = oruR01(100).text;
  const cases: Case[] = [];
  for (const [name, text] of [['ADT^A01', adt], ['ORU^R01 (100 OBX)', oru]] as const) {
    const bytes = Buffer.byteLength(text);
    const resources = v2ToFhir(text).result.entry?.length ?? 0;
    cases.push({ label: `${name}: text → Bundle`, bytes, resources, rates: [], cpuRates: [], run: () => v2ToFhir(text) });
    cases.push({ label: `${name}: text → Bundle → JSON`, bytes, resources, rates: [], cpuRates: [], run: () => JSON.stringify(v2ToFhir(text).result) });
  }
  // Warm-up so every case is optimised before it is measured.
  for (const c of cases) for (let i = 0; i < 300; i++) blackhole = c.run();
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) {
      let n = 0;
      const cpu = process.cpuUsage();
      const start = nowNs();
      const until = Date.now() + roundMs;
      while (Date.now() < until) {
        for (let i = 0; i < 20; i++) blackhole = c.run();
        n += 20;
      }
      c.rates.push(n / secondsSince(start));
      const used = process.cpuUsage(cpu);
      c.cpuRates.push(n / ((used.user + used.system) / 1e6));
    }
    log(`round ${r + 1}/${rounds}`);
  }
  return { rounds, rows: cases.map((c) => ({ label: c.label, bytes: c.bytes, resources: c.resources, median: median(c.rates), cpuMedian: median(c.cpuRates), samples: c.rates })) };
}

export function convertMarkdown(r: ConvertResult): string {
  return [
    mdTable(['case', 'message bytes', 'resources', 'conversions/s (median, wall)', 'conversions per CPU-second', 'MB/s (wall)'], r.rows.map((row) => [row.label, fmtInt(row.bytes), String(row.resources), fmtInt(row.median), fmtInt(row.cpuMedian), (row.median * row.bytes / 1e6).toFixed(1)])),
    '',
    `Median of ${r.rounds} rounds; one process, one core. Bundle type transaction, Provenance on (the defaults).`,
  ].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const machine = machineInfo();
  const result = runConvert((s) => process.stderr.write(s + '\n'));
  process.stdout.write(`${machineMarkdown(machine)}\n\n${convertMarkdown(result)}\n`);
}
