import { Prng } from './prng.js';
import { DEFAULT_FAULTS, type SimFaults } from './types.js';

export type FaultDecision =
  | { kind: 'none' }
  | { kind: 'drop' }
  | { kind: 'throttle'; retryAfter: string }
  | { kind: 'unavailable'; retryAfter: string };

/**
 * Decides, per FHIR request, whether to misbehave. Rates use a seeded PRNG so a run is
 * repeatable; bursts are deterministic by request number (a 429 storm for a stretch).
 */
export class FaultInjector {
  private current: SimFaults;
  private readonly dice: Prng;
  private seen = 0;

  constructor(seed: number, initial: Partial<SimFaults> | undefined) {
    this.current = { ...DEFAULT_FAULTS, ...parseFaultUpdate(initial ?? {}) };
    this.dice = new Prng(seed ^ 0x5eed);
  }

  get faults(): SimFaults {
    return { ...this.current };
  }

  /** Validated like a control-API update: a bad value throws instead of confusing clients. */
  set(update: Partial<SimFaults>): void {
    this.current = { ...this.current, ...parseFaultUpdate(update) };
    // A new burst pattern starts counting from the change, so "the next N requests" means that.
    if ('burst429' in update) this.seen = 0;
  }

  decide(): FaultDecision {
    const f = this.current;
    const position = this.seen++;
    if (f.dropRate > 0 && this.dice.chance(f.dropRate)) return { kind: 'drop' };
    if (f.rate503 > 0 && this.dice.chance(f.rate503)) return { kind: 'unavailable', retryAfter: this.retryAfter() };
    const inBurst = f.burst429 !== undefined && f.burst429.every > 0 && position % f.burst429.every < f.burst429.length;
    if (inBurst || (f.rate429 > 0 && this.dice.chance(f.rate429))) return { kind: 'throttle', retryAfter: this.retryAfter() };
    return { kind: 'none' };
  }

  private retryAfter(): string {
    const { retryAfter, retryAfterSeconds } = this.current;
    if (retryAfter === 'seconds') return String(retryAfterSeconds);
    // Real time, not the sim clock: clients compare the date with their own wall clock.
    // HTTP-date has whole-second precision: round up so waiting until it is always long enough.
    return new Date(Math.ceil((Date.now() + retryAfterSeconds * 1000) / 1000) * 1000).toUTCString();
  }
}

/** Validates a fault update from the control API (unknown or ill-typed fields are refused). */
export function parseFaultUpdate(input: unknown): Partial<SimFaults> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new Error('faults must be a JSON object');
  const out: Partial<SimFaults> = {};
  const fraction = (key: string, v: unknown): number => {
    if (typeof v !== 'number' || v < 0 || v > 1) throw new Error(`${key} must be a number between 0 and 1`);
    return v;
  };
  const nonNegative = (key: string, v: unknown): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`${key} must be a number >= 0`);
    return v;
  };
  const wholeSeconds = (key: string, v: unknown): number => {
    // Retry-After is delta-seconds: a non-negative integer (RFC 9110 10.2.3).
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new Error(`${key} must be a whole number of seconds >= 0`);
    return v;
  };
  for (const [key, v] of Object.entries(input)) {
    if (v === undefined && key !== 'burst429') continue;
    switch (key) {
      case 'rate429': out.rate429 = fraction(key, v); break;
      case 'rate503': out.rate503 = fraction(key, v); break;
      case 'dropRate': out.dropRate = fraction(key, v); break;
      case 'slowMs': out.slowMs = nonNegative(key, v); break;
      case 'retryAfterSeconds': out.retryAfterSeconds = wholeSeconds(key, v); break;
      case 'retryAfter':
        if (v !== 'seconds' && v !== 'http-date') throw new Error('retryAfter must be "seconds" or "http-date"');
        out.retryAfter = v;
        break;
      case 'burst429': {
        if (v === null || v === undefined) { out.burst429 = undefined; break; }
        const b = v as { every?: unknown; length?: unknown };
        out.burst429 = { every: nonNegative('burst429.every', b.every), length: nonNegative('burst429.length', b.length) };
        break;
      }
      default: throw new Error(`unknown fault "${key}"`);
    }
  }
  return out;
}
