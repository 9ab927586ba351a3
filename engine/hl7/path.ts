import { Hl7PathError } from './errors.js';

/**
 * A parsed value path, all numbers 1-based. Grammar:
 *   SEG[occurrence]-FIELD[repetition].COMPONENT.SUBCOMPONENT
 * e.g. `MSH-9.2`, `PID-3[2].1`, `PID-3[2].4.2`, `OBX[3]-5`. HAPI-style dashes
 * (`PID-3-1`) are accepted too. Levels left out are `undefined`.
 */
export interface Hl7Path {
  readonly segment: string;
  readonly occurrence: number;
  readonly field: number | undefined;
  readonly repetition: number | undefined;
  readonly component: number | undefined;
  readonly subcomponent: number | undefined;
}

const PATH = /^([A-Z][A-Z0-9]{2})(?:\[(\d+)\])?(?:[-.](\d+)(?:\[(\d+)\])?(?:[-.](\d+)(?:[-.](\d+))?)?)?$/;
const cache = new Map<string, Hl7Path>();
const CACHE_LIMIT = 4096;
/** Largest number accepted at any level: a write pads up to it, so it must stay small. */
const MAX_PATH_INDEX = 99_999;

function positive(path: string, text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (n < 1) throw new Hl7PathError(path, `${what} must be 1 or more`);
  if (n > MAX_PATH_INDEX) throw new Hl7PathError(path, `${what} must be at most ${MAX_PATH_INDEX}`);
  return n;
}

export function parsePath(path: string): Hl7Path {
  const hit = cache.get(path);
  if (hit) return hit;
  const m = PATH.exec(path.trim());
  if (!m) throw new Hl7PathError(path, 'expected SEG[n]-field[rep].component.subcomponent, e.g. PID-3[2].1');
  const parsed: Hl7Path = Object.freeze({
    segment: m[1]!,
    occurrence: positive(path, m[2], 'segment occurrence') ?? 1,
    field: m[3] === undefined ? undefined : Number(m[3]),
    repetition: positive(path, m[4], 'repetition'),
    component: positive(path, m[5], 'component'),
    subcomponent: positive(path, m[6], 'subcomponent'),
  });
  if (parsed.field === 0) throw new Hl7PathError(path, 'fields are numbered from 1');
  if (parsed.field !== undefined && parsed.field > MAX_PATH_INDEX) throw new Hl7PathError(path, `field must be at most ${MAX_PATH_INDEX}`);
  // Paths in configs are few; the cap only guards against callers that build paths from data.
  if (cache.size < CACHE_LIMIT) cache.set(path, parsed);
  return parsed;
}

export function formatPath(p: Hl7Path): string {
  let s = p.occurrence > 1 ? `${p.segment}[${p.occurrence}]` : p.segment;
  if (p.field === undefined) return s;
  s += `-${p.field}`;
  if (p.repetition !== undefined) s += `[${p.repetition}]`;
  if (p.component !== undefined) s += `.${p.component}`;
  if (p.subcomponent !== undefined) s += `.${p.subcomponent}`;
  return s;
}
