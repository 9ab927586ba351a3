import path from 'node:path';
import { z } from 'zod';
import type { Envelope } from '../../engine/channel/envelope.js';
import type { Step, StepContext } from '../../engine/channel/types.js';
import { registerComponent } from '../../engine/registry.js';
import { applyCodeMap, applyCodeMapV2, EQUIVALENCE_POLICIES, loadCodeMaps, SourceUsage, UnmappedCounter, v2CodePath, type CodeMapResult, type EquivalencePolicy } from '../codemap/index.js';
import { fhirContent } from './fhir-to-v2.js';

export interface CodeMapStats {
  /** Codings added since the channel started. */
  readonly mapped: number;
  /** Codes of a mapped system with no entry, most frequent first. */
  readonly unmapped: { system: string; code: string; count: number }[];
  /** Unmapped occurrences of codes beyond the 10,000 distinct ones remembered. */
  readonly overflow: number;
  /** Source systems of the map's tables that no coding has been in yet (a misnamed table?). */
  readonly unusedSources: string[];
}

/** At most this many codes in one summary log line (most frequent first). */
const SUMMARY_CODES = 100;

/** The step function, with the channel's running counts. */
export type CodeMapStep = Step & { stats(): CodeMapStats };

const schema = z.strictObject({
  file: z.string().optional().describe('a YAML table or FHIR ConceptMap (JSON/YAML), relative to the working directory'),
  files: z.array(z.string()).min(1).optional().describe('several code map files, merged'),
  unmapped: z.enum(['keep', 'warn', 'error']).default('warn').describe('a code of a mapped system with no entry: count it only, also warn on the message, or fail the message'),
  path: z.string().optional().describe('for HL7 v2 content: the CWE field to map, e.g. OBX-3 (the mapped code goes to components 4-6)'),
  equivalence: z.enum(EQUIVALENCE_POLICIES).default('safe').describe('ConceptMap targets used: exact-only (equivalent/equal), safe (also wider/subsumes), any (also narrower/inexact/relatedto/specializes, which R4 says need care)'),
  summaryIntervalMs: z.number().int().positive().default(60_000).describe('the per-channel summary of unmapped codes is logged (info) at most this often, and only when it changed'),
}).refine((o) => (o.file === undefined) !== (o.files === undefined), { message: 'give exactly one of file or files' });

/** Builds the step; exported for tests and the CLI, which use it without an engine. */
export function createCodeMapStep(files: readonly string[], unmapped: 'keep' | 'warn' | 'error', v2Path?: string, summaryIntervalMs = 60_000, equivalence: EquivalencePolicy = 'safe'): CodeMapStep {
  if (v2Path !== undefined) v2CodePath(v2Path); // a bad path fails at deploy, not per message
  // Paths resolve like the file destination's and the script step's: from the working directory.
  const map = loadCodeMaps(files.map((f) => path.resolve(f)), { equivalence });
  const counter = new UnmappedCounter();
  const usage = new SourceUsage(map);
  const stats = (): CodeMapStats => ({ mapped: counter.mapped, unmapped: counter.list(), overflow: counter.overflow, unusedSources: usage.unused() });
  const summary = new SummaryLog(summaryIntervalMs, stats);
  const step = (env: Envelope, ctx: StepContext): Envelope => {
    let result: CodeMapResult;
    if (env.content.kind === 'hl7v2') {
      if (v2Path === undefined) throw new Error('codemap: HL7 v2 content needs `path` (e.g. OBX-3); or put the step after v2ToFhir');
      result = applyCodeMapV2(env.content.message, v2Path, map);
    } else {
      const resource = fhirContent(env.content);
      result = applyCodeMap(resource, map);
      env.content = { kind: 'fhir', resource };
    }
    counter.record(result);
    usage.record(result);
    summary.changed(ctx, result.unmapped.length > 0);
    if (result.unmapped.length > 0 && unmapped === 'error') {
      const first = result.unmapped.slice(0, 3).map((u) => `${u.system}|${u.code}`).join(', ');
      throw new Error(`codemap: ${result.unmapped.length} unmapped code(s): ${first}`);
    }
    if (unmapped === 'warn') {
      // One warning per distinct code in this message, at its first place, with how often it occurs.
      const seen = new Map<string, { path: string; count: number }>();
      for (const u of result.unmapped) {
        const key = `${u.system}|${u.code}`;
        const hit = seen.get(key);
        if (hit) hit.count++;
        else seen.set(key, { path: u.path, count: 1 });
      }
      for (const [key, { path: where, count }] of seen) {
        env.warnings.push({ stage: 'codemap', code: 'unmapped-code', message: `no mapping for ${key}${count > 1 ? ` (${count} times)` : ''}`, path: where });
      }
    }
    return env;
  };
  return Object.assign(step, { stats });
}

/**
 * The per-channel summary of unmapped codes, logged at info at most once per interval and
 * only when it changed. Checked on each message; a change inside the interval is logged
 * when the interval ends by an unref'd timer (it never keeps the process alive).
 * Codes and code systems are not PHI; no message content is logged.
 */
class SummaryLog {
  private lastLoggedAt = Number.NEGATIVE_INFINITY;
  private pending = false;
  private timer: NodeJS.Timeout | undefined;
  private ctx: StepContext | undefined;
  private firstMessage = true;

  constructor(private readonly intervalMs: number, private readonly stats: () => CodeMapStats) {}

  /** Called per message; `unmapped` says whether this message added to the counts. */
  changed(ctx: StepContext, unmapped: boolean): void {
    this.ctx = ctx;
    // The first message also decides whether some table never matches: report that early.
    if (unmapped || this.firstMessage) this.pending = true;
    this.firstMessage = false;
    if (!this.pending) return;
    const wait = this.lastLoggedAt + this.intervalMs - Date.now();
    if (wait <= 0) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), wait);
      this.timer.unref();
    }
  }

  private flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.pending || !this.ctx) return;
    this.pending = false;
    this.lastLoggedAt = Date.now();
    const s = this.stats();
    if (s.unmapped.length === 0 && s.unusedSources.length === 0) return;
    const codes: Record<string, number> = {};
    for (const u of s.unmapped.slice(0, SUMMARY_CODES)) codes[`${u.system}|${u.code}`] = u.count;
    this.ctx.logger.info({
      channel: this.ctx.channel, mapped: s.mapped, unmapped: codes, distinctUnmapped: s.unmapped.length, overflow: s.overflow, unusedSources: s.unusedSources,
    }, 'codemap: unmapped codes so far');
  }
}

registerComponent({
  kind: 'step', name: 'codemap',
  description: 'Add standard codings (LOINC, SNOMED CT, ...) for local codes in FHIR content, from YAML tables or FHIR ConceptMaps.',
  schema,
  docs: [
    'For every CodeableConcept with a coding in a mapped source system, the mapped coding is',
    'added after it; the original coding is kept. Codes of a mapped system that have no entry',
    'are counted per channel (`stats()` on the step) and, with `unmapped: warn`, reported as',
    'warnings on the message. The step logs (info) a per-channel summary, `system|code` → count',
    'of unmapped codes and the tables whose source system no coding has been in (a misnamed',
    'table), at most once per `summaryIntervalMs` (a minute) and only when it changed.',
    'A coding matches a table by its `system`, or by the v2 coding-system name the converter',
    'kept in `hl7v2-coding-system` (local names such as `99EPIC` or `L` have no system), so',
    '`source: 99EPIC` works on converted content. A YAML table looks like:',
    '',
    '```yaml',
    'source: urn:oid:1.2.840.114350.1.13.283.2.7.5.737384.149',
    'target: http://loinc.org',
    'map:',
    '  TRIG: { code: 2571-8, display: Triglyceride [Mass/volume] in Serum or Plasma }',
    '```',
    '',
    'A FHIR R4 ConceptMap works too (group.source/target, element.code, target.code). Which',
    'targets count is set by `equivalence`: `exact-only` (equivalent, equal), `safe` (default:',
    'also wider, subsumes: the standard code is broader, still true) or `any` (also narrower,',
    'inexact, relatedto, specializes, which may assert more than the local code); `unmatched`',
    'and `disjoint` never map. `group.unmapped` is honoured: mode `provided` (the local code is',
    'a code of the target system) and `fixed` (one target code for every unlisted code). On FHIR content (after',
    '`v2ToFhir`) every CodeableConcept is mapped. On HL7 v2 content give `path` (e.g. `OBX-3`):',
    'a CWE there whose coding system (component 3, a v2 name like `LN` or an OID) is mapped gets',
    'the mapped code in components 4-6, unless the sender already filled them.',
  ].join('\n'),
  example: 'codemap: { file: channels/codemaps/lab-local-to-loinc.yaml, unmapped: warn }',
  create: (o): CodeMapStep => createCodeMapStep(o.files ?? [o.file!], o.unmapped, o.path, o.summaryIntervalMs, o.equivalence),
});
