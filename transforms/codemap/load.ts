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

/** What a ConceptMap group says for a source code it does not list (`group.unmapped`). */
export type UnmappedFallback = { readonly mode: 'provided'; readonly system: string } | { readonly mode: 'fixed'; readonly target: MappedCoding };

/** Lookups by (source system, code); one source code may map to several targets. */
export class CodeMap {
  private readonly bySystem = new Map<string, Map<string, MappedCoding[]>>();
  private readonly fallbacks = new Map<string, UnmappedFallback>();

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

  /** The group's `unmapped` rule for a source system: a listed code always wins over it. */
  setFallback(sourceSystem: string, fallback: UnmappedFallback): void {
    if (!this.bySystem.has(sourceSystem)) this.bySystem.set(sourceSystem, new Map());
    this.fallbacks.set(sourceSystem, fallback);
  }

  lookup(system: string, code: string): readonly MappedCoding[] | undefined {
    const listed = this.bySystem.get(system)?.get(code);
    if (listed) return listed;
    const fallback = this.fallbacks.get(system);
    if (!fallback) return undefined;
    // `provided`: the source code is itself a code of the target system.
    return fallback.mode === 'provided' ? [{ system: fallback.system, code }] : [fallback.target];
  }

  /** Adds every mapping of another map. */
  merge(other: CodeMap): this {
    for (const [system, codes] of other.bySystem) {
      if (!this.bySystem.has(system)) this.bySystem.set(system, new Map());
      for (const [code, targets] of codes) for (const t of targets) this.add(system, code, t);
    }
    for (const [system, fallback] of other.fallbacks) if (!this.fallbacks.has(system)) this.fallbacks.set(system, fallback);
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
    unmapped: z.object({ mode: z.string(), code: z.string().optional(), display: z.string().optional(), url: z.string().optional() }).optional(),
  })).min(1),
});

/**
 * Which ConceptMap equivalences (R4 `ConceptMapEquivalence`) become mappings:
 *   - `exact-only`: `equivalent`, `equal` (and a target without equivalence, which R4 reads as equivalent);
 *   - `safe` (default): also `wider` and `subsumes`: the target is broader than the local
 *     code, so adding it is true, only less specific;
 *   - `any`: also `relatedto`, `narrower`, `specializes` and `inexact`, which R4 says need
 *     care: the target may assert more than the source (a narrower code) or only overlap.
 * `unmatched` and `disjoint` are never mappings.
 */
export const EQUIVALENCE_POLICIES = ['exact-only', 'safe', 'any'] as const;
export type EquivalencePolicy = (typeof EQUIVALENCE_POLICIES)[number];

const ACCEPTED: Readonly<Record<EquivalencePolicy, ReadonlySet<string>>> = {
  'exact-only': new Set(['equivalent', 'equal']),
  safe: new Set(['equivalent', 'equal', 'wider', 'subsumes']),
  any: new Set(['equivalent', 'equal', 'wider', 'subsumes', 'relatedto', 'narrower', 'specializes', 'inexact']),
};

export interface CodeMapOptions {
  readonly equivalence?: EquivalencePolicy;
}

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
export function codeMapFrom(data: unknown, file = '<code map>', options: CodeMapOptions = {}): CodeMap {
  const accepted = ACCEPTED[options.equivalence ?? 'safe'];
  const map = new CodeMap();
  if (data !== null && typeof data === 'object' && (data as { resourceType?: unknown }).resourceType !== undefined) {
    const parsed = conceptMap.safeParse(data);
    if (!parsed.success) throw new CodeMapError(file, `not a usable ConceptMap: ${describeZodError(parsed.error)}`);
    for (const g of parsed.data.group) {
      if (!g.target) throw new CodeMapError(file, `ConceptMap group for ${g.source} has no target system`);
      for (const e of g.element) {
        for (const t of e.target ?? []) {
          if (!t.code || !accepted.has(t.equivalence ?? 'equivalent')) continue;
          map.add(g.source, e.code, t.display === undefined ? { system: g.target, code: t.code } : { system: g.target, code: t.code, display: t.display });
        }
      }
      const unmapped = g.unmapped;
      if (unmapped?.mode === 'provided') map.setFallback(g.source, { mode: 'provided', system: g.target });
      else if (unmapped?.mode === 'fixed') {
        if (!unmapped.code) throw new CodeMapError(file, `ConceptMap group for ${g.source}: unmapped mode fixed needs a code`);
        map.setFallback(g.source, { mode: 'fixed', target: unmapped.display === undefined ? { system: g.target, code: unmapped.code } : { system: g.target, code: unmapped.code, display: unmapped.display } });
      } else if (unmapped !== undefined) throw new CodeMapError(file, `ConceptMap group for ${g.source}: unmapped mode ${JSON.stringify(unmapped.mode)} is not supported (provided, fixed)`);
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
export function loadCodeMap(file: string, options: CodeMapOptions = {}): CodeMap {
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
  return codeMapFrom(data, file, options);
}

/** Reads several files into one map. */
export function loadCodeMaps(files: readonly string[], options: CodeMapOptions = {}): CodeMap {
  const map = new CodeMap();
  for (const f of files) map.merge(loadCodeMap(f, options));
  return map;
}
