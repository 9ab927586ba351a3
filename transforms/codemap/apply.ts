import type { CodeMap } from './load.js';

/*
 * Applying a code map to FHIR JSON: every CodeableConcept with a coding in a mapped
 * source system gets the mapped coding added after its own; the original stays, so the
 * sender's code is never lost. Codes of a mapped system with no entry are "unmapped".
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
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Adds mapped codings in place (the resource is edited); returns what was mapped and what was not. */
export function applyCodeMap(resource: unknown, map: CodeMap): CodeMapResult {
  const result = { mapped: 0, unmapped: [] as UnmappedCode[] };
  walk(resource, rootLabel(resource), map, result);
  return result;
}

function rootLabel(v: unknown): string {
  if (!isObject(v)) return '';
  const id = typeof v.id === 'string' ? `/${v.id}` : '';
  return `${String(v.resourceType ?? '')}${id}`;
}

function walk(v: unknown, path: string, map: CodeMap, out: { mapped: number; unmapped: UnmappedCode[] }): void {
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

function mapConcept(codings: unknown[], path: string, map: CodeMap, out: { mapped: number; unmapped: UnmappedCode[] }): void {
  const added: Json[] = [];
  for (const c of codings) {
    if (!isObject(c) || typeof c.system !== 'string' || typeof c.code !== 'string') continue;
    if (!map.covers(c.system)) continue;
    const targets = map.lookup(c.system, c.code);
    if (!targets) {
      out.unmapped.push({ system: c.system, code: c.code, path });
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
