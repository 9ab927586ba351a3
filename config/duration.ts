import { z } from 'zod';

const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const DURATION_HINT = 'expected a duration: a number and a unit, e.g. 500ms, 30s, 5m, 24h or 30d';

/** `'500ms'` → 500, `'30s'` → 30000, `'1.5h'` → 5400000; `undefined` for anything else. */
export function tryParseDuration(text: string): number | undefined {
  const m = DURATION.exec(text.trim());
  if (!m) return undefined;
  const ms = Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
  return Number.isFinite(ms) ? Math.round(ms) : undefined;
}

/** Like {@link tryParseDuration} but throws with the accepted forms in the message. */
export function parseDuration(text: string): number {
  const ms = tryParseDuration(text);
  if (ms === undefined) throw new Error(`invalid duration "${text}": ${DURATION_HINT}`);
  return ms;
}

/** A duration string in, milliseconds out. In the JSON Schema it is a string with a pattern. */
export function durationSchema() {
  return z
    .string({ error: DURATION_HINT })
    .regex(DURATION, { error: DURATION_HINT })
    .transform((s) => tryParseDuration(s)!)
    .meta({ description: 'Duration: a number and a unit (ms, s, m, h, d), e.g. 30s or 24h.' });
}
