/**
 * When to retry a FHIR request and how long to wait. Retry-After wins (seconds or an
 * HTTP-date); otherwise exponential backoff with jitter. Both are bounded by the attempt
 * count and the total wait budget.
 */

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  readonly maxAttempts: number;
  /** Sum of all waits before giving up. */
  readonly maxTotalWaitMs: number;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
  readonly factor: number;
}

export const DEFAULT_RETRY: RetryPolicy = Object.freeze({
  maxAttempts: 6,
  maxTotalWaitMs: 120_000,
  initialBackoffMs: 500,
  maxBackoffMs: 30_000,
  factor: 2,
});

/**
 * Milliseconds to wait from a Retry-After header value at time `now` (ms since epoch), or
 * undefined when absent or unreadable. An HTTP-date is second-precision, so a date already
 * past means "now" (0), never NaN. Shared by the FHIR client and the http destination.
 */
export function parseRetryAfter(value: string | null | undefined, now: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (!/[a-z]/i.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/**
 * Backoff before retry number `retry` (1-based): full exponential step, half of it jittered
 * ("equal jitter"). The destination queues use it too (engine/channel/policy.ts).
 */
export function backoffDelay(retry: number, policy: Pick<RetryPolicy, 'initialBackoffMs' | 'maxBackoffMs' | 'factor'>, random: () => number = Math.random): number {
  const step = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * policy.factor ** (retry - 1));
  return Math.round(step / 2 + random() * (step / 2));
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);

export function isIdempotent(method: string): boolean {
  return IDEMPOTENT.has(method.toUpperCase());
}

/**
 * Statuses worth another try. 429 and 503 mean the server did not do the work, so any
 * method may repeat; a 502/504 may have reached the origin, so only idempotent ones.
 */
export function isRetryableStatus(status: number, method: string): boolean {
  if (status === 429 || status === 503) return true;
  return (status === 502 || status === 504) && isIdempotent(method);
}

const NETWORK_CODES = new Set([
  'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ENETUNREACH', 'EAI_AGAIN',
  'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT',
]);

/** A dropped or stalled connection (as opposed to a bug or an answer we did not like). */
export function isNetworkError(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e; depth++) {
    const code = (e as { code?: unknown }).code;
    const name = (e as { name?: unknown }).name;
    if (typeof code === 'string' && NETWORK_CODES.has(code)) return true;
    if (name === 'TimeoutError' || name === 'AbortError') return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}
