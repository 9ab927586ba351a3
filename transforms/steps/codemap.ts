import path from 'node:path';
import { z } from 'zod';
import type { Envelope } from '../../engine/channel/envelope.js';
import type { Step } from '../../engine/channel/types.js';
import { registerComponent } from '../../engine/registry.js';
import { applyCodeMap, applyCodeMapV2, loadCodeMaps, UnmappedCounter, v2CodePath, type CodeMapResult } from '../codemap/index.js';
import { fhirContent } from './fhir-to-v2.js';

export interface CodeMapStats {
  /** Codings added since the channel started. */
  readonly mapped: number;
  /** Codes of a mapped system with no entry, most frequent first. */
  readonly unmapped: { system: string; code: string; count: number }[];
  /** Unmapped occurrences of codes beyond the 10,000 distinct ones remembered. */
  readonly overflow: number;
}

/** The step function, with the channel's running counts. */
export type CodeMapStep = Step & { stats(): CodeMapStats };

const schema = z.strictObject({
  file: z.string().optional().describe('a YAML table or FHIR ConceptMap (JSON/YAML), relative to the working directory'),
  files: z.array(z.string()).min(1).optional().describe('several code map files, merged'),
  unmapped: z.enum(['keep', 'warn', 'error']).default('warn').describe('a code of a mapped system with no entry: count it only, also warn on the message, or fail the message'),
  path: z.string().optional().describe('for HL7 v2 content: the CWE field to map, e.g. OBX-3 (the mapped code goes to components 4-6)'),
}).refine((o) => (o.file === undefined) !== (o.files === undefined), { message: 'give exactly one of file or files' });

/** Builds the step; exported for tests and the CLI, which use it without an engine. */
export function createCodeMapStep(files: readonly string[], unmapped: 'keep' | 'warn' | 'error', v2Path?: string): CodeMapStep {
  if (v2Path !== undefined) v2CodePath(v2Path); // a bad path fails at deploy, not per message
  // Paths resolve like the file destination's and the script step's: from the working directory.
  const map = loadCodeMaps(files.map((f) => path.resolve(f)));
  const counter = new UnmappedCounter();
  const step = (env: Envelope): Envelope => {
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
  return Object.assign(step, { stats: (): CodeMapStats => ({ mapped: counter.mapped, unmapped: counter.list(), overflow: counter.overflow }) });
}

registerComponent({
  kind: 'step', name: 'codemap',
  description: 'Add standard codings (LOINC, SNOMED CT, ...) for local codes in FHIR content, from YAML tables or FHIR ConceptMaps.',
  schema,
  docs: [
    'For every CodeableConcept with a coding in a mapped source system, the mapped coding is',
    'added after it; the original coding is kept. Codes of a mapped system that have no entry',
    'are counted per channel (`stats()` on the step) and, with `unmapped: warn`, reported as',
    'warnings on the message. A YAML table looks like:',
    '',
    '```yaml',
    'source: urn:oid:1.2.840.114350.1.13.283.2.7.5.737384.149',
    'target: http://loinc.org',
    'map:',
    '  TRIG: { code: 2571-8, display: Triglyceride [Mass/volume] in Serum or Plasma }',
    '```',
    '',
    'A FHIR R4 ConceptMap works too (group.source/target, element.code, target.code; targets',
    'with equivalence `unmatched` or `disjoint` are not mappings). On FHIR content (after',
    '`v2ToFhir`) every CodeableConcept is mapped. On HL7 v2 content give `path` (e.g. `OBX-3`):',
    'a CWE there whose coding system (component 3, a v2 name like `LN` or an OID) is mapped gets',
    'the mapped code in components 4-6, unless the sender already filled them.',
  ].join('\n'),
  example: 'codemap: { file: channels/codemaps/lab-local-to-loinc.yaml, unmapped: warn }',
  create: (o): CodeMapStep => createCodeMapStep(o.files ?? [o.file!], o.unmapped, o.path),
});
