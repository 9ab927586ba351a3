import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/*
 * Code maps: local codes → standard codes (LOINC, SNOMED CT, ...). Two file shapes:
 *   - a Sluice YAML table: `source`, `target`, `map: { LOCAL: { code, display } }`
 *     (or `maps: [table, ...]` for several in one file; `LOCAL: 1234-5` is short for `{ code }`);
 *   - a FHIR R4 ConceptMap (JSON or YAML): group.source/target, element.code,
 *     element.target.code/display/equivalence.
 */

export interface MappedCoding {
  readonly system: string;
  readonly code: string;
  readonly display?: string;
}

/** Lookups by (source system, code); one source code may map to several targets. */
export class CodeMap {
  private readonly bySystem = new Map<string, Map<string, MappedCoding[]>>();

  add(sourceSystem: string, sourceCode: string, target: MappedCoding): void {
    let codes = this.bySystem.get(sourceSystem);
    if (!codes) this.bySystem.set(sourceSystem, (codes = new Map()));
    const list = codes.get(sourceCode);
    if (!list) codes.set(sourceCode, [target]);
    else if (!list.some((t) => t.system === target.system && t.code === target.code)) list.push(target);
  }

  /** True when codes of this system are meant to be mapped (so an unknown one is "unmapped"). */
  covers(system: string): boolean {
    return this.bySystem.has(system);
  }

  lookup(system: string, code: string): readonly MappedCoding[] | undefined {
    return this.bySystem.get(system)?.get(code);
  }

  /** Adds every mapping of another map. */
  merge(other: CodeMap): this {
    for (const [system, codes] of other.bySystem) for (const [code, targets] of codes) for (const t of targets) this.add(system, code, t);
    return this;
  }

  get size(): number {
    let n = 0;
    for (const codes of this.bySystem.values()) n += codes.size;
    return n;
  }

  get sourceSystems(): string[] {
    return [...this.bySystem.keys()];
  }
}

/** YAML reads `code: 1234` as a number: codes are text, so numbers are taken as written. */
const codeText = z.union([z.string().min(1), z.number().transform(String)]);

const targetEntry = z.union([
  codeText.transform((code) => ({ code, display: undefined })),
  z.strictObject({ code: codeText, display: z.string().optional() }),
]);

const yamlTable = z.strictObject({
  source: z.string().min(1).describe('code system of the local codes (a URI, e.g. urn:oid:1.2.840.114350...)'),
  target: z.string().min(1).describe('code system of the mapped codes, e.g. http://loinc.org'),
  description: z.string().optional(),
  map: z.record(z.string(), targetEntry),
});

const yamlFile = z.union([yamlTable, z.strictObject({ description: z.string().optional(), maps: z.array(yamlTable).min(1) })]);

/** R4 ConceptMap, only the parts a code map uses (other elements are allowed and ignored). */
const conceptMap = z.object({
  resourceType: z.literal('ConceptMap'),
  group: z.array(z.object({
    source: z.string().min(1),
    target: z.string().optional(),
    element: z.array(z.object({
      code: z.string().min(1),
      target: z.array(z.object({ code: z.string().optional(), display: z.string().optional(), equivalence: z.string().optional() })).optional(),
    })).default([]),
  })).min(1),
});

/** Equivalences that say the target is not a mapping of the source. */
const NOT_A_MAPPING = new Set(['unmatched', 'disjoint']);

export class CodeMapError extends Error {
  constructor(readonly file: string, reason: string) {
    super(`${file}: ${reason}`);
    this.name = 'CodeMapError';
  }
}

function describeZodError(err: z.ZodError): string {
  const issue = err.issues[0];
  if (!issue) return 'invalid code map';
  const path = issue.path.join('.');
  return path ? `${path}: ${issue.message}` : issue.message;
}

/** Builds a code map from parsed file content (YAML table(s) or a ConceptMap). */
export function codeMapFrom(data: unknown, file = '<code map>'): CodeMap {
  const map = new CodeMap();
  if (data !== null && typeof data === 'object' && (data as { resourceType?: unknown }).resourceType !== undefined) {
    const parsed = conceptMap.safeParse(data);
    if (!parsed.success) throw new CodeMapError(file, `not a usable ConceptMap: ${describeZodError(parsed.error)}`);
    for (const g of parsed.data.group) {
      if (!g.target) throw new CodeMapError(file, `ConceptMap group for ${g.source} has no target system`);
      for (const e of g.element) {
        for (const t of e.target ?? []) {
          if (!t.code || (t.equivalence !== undefined && NOT_A_MAPPING.has(t.equivalence))) continue;
          map.add(g.source, e.code, t.display === undefined ? { system: g.target, code: t.code } : { system: g.target, code: t.code, display: t.display });
        }
      }
    }
    return map;
  }
  const parsed = yamlFile.safeParse(data);
  if (!parsed.success) throw new CodeMapError(file, `not a code map table: ${describeZodError(parsed.error)}`);
  const tables = 'maps' in parsed.data ? parsed.data.maps : [parsed.data];
  for (const t of tables) {
    for (const [code, target] of Object.entries(t.map)) {
      map.add(t.source, code, target.display === undefined ? { system: t.target, code: target.code } : { system: t.target, code: target.code, display: target.display });
    }
  }
  return map;
}

/** Reads one code map file (.yaml, .yml or .json; YAML reads JSON too). */
export function loadCodeMap(file: string): CodeMap {
  let text: string;
  try {
    text = readFileSync(file, 'utf8').replace(/^\uFEFF/, '');
  } catch (err) {
    throw new CodeMapError(file, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message);
  }
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (err) {
    throw new CodeMapError(file, `cannot parse: ${(err as Error).message.split('\n')[0]}`);
  }
  return codeMapFrom(data, file);
}

/** Reads several files into one map. */
export function loadCodeMaps(files: readonly string[]): CodeMap {
  const map = new CodeMap();
  for (const f of files) map.merge(loadCodeMap(f));
  return map;
}
