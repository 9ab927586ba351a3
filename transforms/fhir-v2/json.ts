/*
 * Tolerant readers for FHIR JSON of unknown quality: production data is messy, so every
 * access checks the shape and a wrong shape reads as absent, never as a crash.
 */

export type Json = Record<string, unknown>;

export function obj(v: unknown): Json | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined;
}

/** An array of objects (a single object reads as a one-element list; other items are skipped). */
export function objs(v: unknown): Json[] {
  if (Array.isArray(v)) return v.map(obj).filter((x): x is Json => x !== undefined);
  const one = obj(v);
  return one ? [one] : [];
}

export function str(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

export function strs(v: unknown): string[] {
  if (Array.isArray(v)) return v.map(str).filter((x): x is string => x !== undefined && x !== '');
  const one = str(v);
  return one ? [one] : [];
}

/** The `valueString` (or other value[x]) of the first extension with this url on an element. */
export function extensionValue(element: unknown, url: string): string | undefined {
  for (const e of objs(obj(element)?.extension)) {
    if (e.url !== url) continue;
    for (const key of ['valueString', 'valueCode', 'valueDateTime', 'valueDecimal', 'valueInteger']) {
      const v = str(e[key]);
      if (v !== undefined) return v;
    }
  }
  return undefined;
}
