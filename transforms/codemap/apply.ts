import { EXT } from '../v2-fhir/extensions.js';
import type { CodeMap } from './load.js';

/*
 * Applying a code map to FHIR JSON: every CodeableConcept with a coding in a mapped
 * source system gets the mapped coding added after its own; the original stays, so the
 * sender's code is never lost. Codes of a mapped system with no entry are "unmapped".
 * A coding's source system is its `system`, else the v2 coding-system name the converter
 * kept in the `hl7v2-coding-system` extension (local names like `99EPIC` or `L` have no
 * URI, so the converter leaves `system` out): a table `source: 99EPIC` matches those.
 */

export interface UnmappedCode {
  readonly system: string;
  readonly code: string;
  /** FHIR path of the first place it was seen (e.g. `Observation/1.code`). */
  readonly path: string;
}

export interface CodeMapResult {
  /** Codings added. */
  readonly mapped: number;
  /** Each unmapped occurrence, in document order. */
  readonly unmapped: UnmappedCode[];
  /** The map's source systems that at least one coding was in (mapped or not). */
  readonly sources: ReadonlySet<string>;
}

type Tally = { mapped: number; unmapped: UnmappedCode[]; sources: Set<string> };

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Adds mapped codings in place (the resource is edited); returns what was mapped and what was not. */
export function applyCodeMap(resource: unknown, map: CodeMap): CodeMapResult {
  const result: Tally = { mapped: 0, unmapped: [], sources: new Set() };
  walk(resource, rootLabel(resource), map, result);
  return result;
}

function rootLabel(v: unknown): string {
  if (!isObject(v)) return '';
  const id = typeof v.id === 'string' ? `/${v.id}` : '';
  return `${String(v.resourceType ?? '')}${id}`;
}

function walk(v: unknown, path: string, map: CodeMap, out: Tally): void {
  if (Array.isArray(v)) {
    v.forEach((item, i) => walk(item, `${path}[${i}]`, map, out));
    return;
  }
  if (!isObject(v)) return;
  if (Array.isArray(v.coding)) mapConcept(v.coding, path, map, out);
  for (const [key, child] of Object.entries(v)) {
    if (key === 'coding' || child === null || typeof child !== 'object') continue;
    // A resource inside a bundle entry or `contained` starts a new path.
    const label = isObject(child) && typeof child.resourceType === 'string' ? rootLabel(child) : `${path}.${key}`;
    walk(child, label, map, out);
  }
}

/** The v2 coding-system name the converter kept on a Coding (`99EPIC`, `L`, `LN`). */
function v2SystemName(c: Json): string | undefined {
  if (!Array.isArray(c.extension)) return undefined;
  for (const e of c.extension) if (isObject(e) && e.url === EXT.codingSystem && typeof e.valueString === 'string') return e.valueString;
  return undefined;
}

/** The map's source system a coding belongs to: its `system`, else its v2 coding-system name. */
function sourceOf(c: Json, map: CodeMap): string | undefined {
  if (typeof c.system === 'string' && map.covers(c.system)) return c.system;
  const name = v2SystemName(c);
  return name !== undefined && map.covers(name) ? name : undefined;
}

function mapConcept(codings: unknown[], path: string, map: CodeMap, out: Tally): void {
  const added: Json[] = [];
  for (const c of codings) {
    if (!isObject(c) || typeof c.code !== 'string') continue;
    const system = sourceOf(c, map);
    if (system === undefined) continue;
    out.sources.add(system);
    const targets = map.lookup(system, c.code);
    if (!targets) {
      out.unmapped.push({ system, code: c.code, path });
      continue;
    }
    for (const t of targets) {
      const present = [...codings, ...added].some((x) => isObject(x) && x.system === t.system && x.code === t.code);
      if (present) continue;
      added.push(t.display === undefined ? { system: t.system, code: t.code } : { system: t.system, code: t.code, display: t.display });
    }
  }
  if (added.length > 0) {
    codings.push(...added);
    out.mapped += added.length;
  }
}

/**
 * Which source systems of a map matched any coding over a run of messages: a table whose
 * source never matches is most likely named wrong (`99EPIC` vs the sender's `99EPC`).
 */
export class SourceUsage {
  private readonly seen = new Set<string>();

  constructor(private readonly map: CodeMap) {}

  record(result: CodeMapResult): void {
    for (const s of result.sources) this.seen.add(s);
  }

  /** Source systems of the map that no coding has been in so far. */
  unused(): string[] {
    return this.map.sourceSystems.filter((s) => !this.seen.has(s));
  }

  /** One warning per table whose source never matched, for the end of a run (e.g. `sluice convert --codemap`). */
  warnings(): { code: string; message: string }[] {
    return this.unused().map((system) => ({
      code: 'codemap-source-unused',
      message: `no coding was in the code map's source system ${system}: check the table's source (a URI, or a v2 coding-system name such as 99EPIC)`,
    }));
  }
}

/**
 * Running counts of unmapped codes per (system, code), e.g. one per channel. Distinct codes
 * are capped (a sender of random codes must not grow memory without bound); occurrences
 * of codes beyond the cap are counted in `overflow`.
 */
export class UnmappedCounter {
  private readonly counts = new Map<string, { system: string; code: string; count: number }>();
  mapped = 0;
  overflow = 0;

  constructor(private readonly maxDistinct = 10_000) {}

  record(result: CodeMapResult): void {
    this.mapped += result.mapped;
    for (const u of result.unmapped) {
      const key = `${u.system}|${u.code}`;
      const hit = this.counts.get(key);
      if (hit) hit.count++;
      else if (this.counts.size < this.maxDistinct) this.counts.set(key, { system: u.system, code: u.code, count: 1 });
      else this.overflow++;
    }
  }

  /** Most frequent first, then by system and code. */
  list(): { system: string; code: string; count: number }[] {
    return [...this.counts.values()].map((c) => ({ ...c })).sort((a, b) => b.count - a.count || a.system.localeCompare(b.system) || a.code.localeCompare(b.code));
  }
}
