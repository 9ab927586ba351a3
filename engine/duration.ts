import { z } from 'zod';
import { tryParseDuration } from '../config/duration.js';

/**
 * Durations in component options: a string such as '30s' (parsed by the config layer's
 * one duration grammar) or a plain number of milliseconds.
 */
export const zDuration = z
  .union([z.string(), z.number()])
  .transform((v, ctx) => {
    const ms = typeof v === 'number' ? (Number.isFinite(v) && v >= 0 ? v : undefined) : tryParseDuration(v);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected a duration like 500ms, 30s, 5m, 24h or 30d, got ${JSON.stringify(v)}` });
      return z.NEVER;
    }
    return ms;
  })
  .meta({ description: 'duration: 500ms, 30s, 5m, 24h, 30d, or milliseconds' });
