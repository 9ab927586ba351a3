/**
 * Runs every benchmark and prints one Markdown report (progress goes to stderr).
 *
 *   npm run bench                        # codec, MLLP, then the end-to-end engine
 *   npm run bench -- codec               # one part only (codec | mllp | engine)
 *   npm run bench -- --out results.md    # also write the report to a file
 *
 * Each part also runs alone: node --import tsx bench/codec.ts, node --import tsx bench/mllp.ts, node --import tsx bench/engine.ts.
 * Scripts that run only alone: bench/fhir-client.ts (FHIR client vs the Epic simulator), bench/sim.ts
 * (the simulator itself), bench/fhir-to-v2.ts (FHIR → v2 conversion).
 */
import os from 'node:os';
import { writeFileSync } from 'node:fs';
import { codecMarkdown, runCodec } from './codec.js';
import { machineInfo, machineMarkdown } from './lib/machine.js';
import { mllpMarkdown, runMllp } from './mllp.js';
import { runEngineBench } from './engine.js';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  let out: string | undefined;
  const parts: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--out') {
      out = args[++i];
      if (!out) throw new Error('--out needs a file name');
    } else parts.push(args[i]!);
  }
  const want = (name: string): boolean => parts.length === 0 || parts.includes(name);
  const PARTS = ['codec', 'convert', 'mllp', 'engine', 'kafka'];
  for (const p of parts) if (!PARTS.includes(p)) throw new Error(`unknown part ${JSON.stringify(p)} (${PARTS.join(' | ')})`);

  const machine = machineInfo();
  const sections: string[] = ['# Sluice benchmark run', '', machineMarkdown(machine)];
  const log = (s: string): void => { process.stderr.write(s + '\n'); };
  if (want('codec')) {
    log('codec benchmark…');
    sections.push('', '## Codec', '', codecMarkdown(runCodec(log)));
  }
  if (want('convert')) { log('v2 → FHIR conversion benchmark…'); const c = await import('./convert.js'); sections.push('', '## v2 → FHIR conversion', '', c.convertMarkdown(c.runConvert(log))); }
  if (want('mllp')) {
    log('MLLP benchmark…');
    sections.push('', '## MLLP round trip', '', mllpMarkdown(await runMllp(log)));
  }
  if (want('engine')) {
    log('end-to-end engine benchmark…');
    sections.push('', '## Engine end to end', '', await runEngineBench(log));
  }
  if (want('kafka')) { log('Kafka benchmark…'); sections.push('', await (await import('./kafka.js')).runKafkaBench()); }
  sections[2] = machineMarkdown(machine, os.loadavg());
  const report = sections.join('\n') + '\n';
  process.stdout.write(report);
  if (out) writeFileSync(out, report);
}

main().catch((err: unknown) => {
  process.stderr.write(`benchmark failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = 1;
});
