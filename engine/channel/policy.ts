import { backoffDelay } from '../fhir/retry.js';

/** How a destination retries. Validated config turns into this. */
export interface QueuePolicy {
  /** never: one attempt; on-failure: retry transient failures; always: queue durably before the first attempt. */
  readonly mode: 'never' | 'on-failure' | 'always';
  readonly maxAttempts: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
  readonly factor: number;
  /** How many ordering keys may be in delivery at once for this destination. */
  readonly concurrency: number;
}

export const DEFAULT_QUEUE_POLICY: QueuePolicy = Object.freeze({
  mode: 'on-failure',
  maxAttempts: 5,
  initialBackoffMs: 1_000,
  maxBackoffMs: 5 * 60_000,
  factor: 2,
  concurrency: 1,
});

/**
 * Delay before attempt `attempt + 1`: exponential with "equal jitter" (half fixed, half
 * random), capped, and never shorter than the peer's Retry-After.
 */
export function retryDelayMs(policy: QueuePolicy, attempt: number, retryAfterMs?: number, random = Math.random): number {
  // Unlike the FHIR client (where Retry-After replaces the backoff), a queue treats it as a floor.
  return Math.round(Math.max(backoffDelay(Math.max(1, attempt), policy, random), retryAfterMs ?? 0));
}
