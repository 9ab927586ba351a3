import { describe, expect, it } from 'vitest';
import { DEFAULT_QUEUE_POLICY, retryDelayMs } from './policy.js';

const policy = { ...DEFAULT_QUEUE_POLICY, initialBackoffMs: 1_000, maxBackoffMs: 10_000, factor: 2 };

describe('retryDelayMs', () => {
  it('grows by `factor` per attempt, half of it jittered, up to maxBackoffMs', () => {
    expect([1, 2, 3, 4, 5, 6].map((a) => retryDelayMs(policy, a, undefined, () => 0))).toEqual([500, 1_000, 2_000, 4_000, 5_000, 5_000]);
    expect([1, 2, 3, 4, 5, 6].map((a) => retryDelayMs(policy, a, undefined, () => 1))).toEqual([1_000, 2_000, 4_000, 8_000, 10_000, 10_000]);
    expect(retryDelayMs(policy, 2, undefined, () => 0.5)).toBe(1_500);
  });

  it('treats attempt 0 like attempt 1', () => {
    expect(retryDelayMs(policy, 0, undefined, () => 1)).toBe(1_000);
  });

  it('waits at least as long as Retry-After asks, never less than the backoff', () => {
    expect(retryDelayMs(policy, 1, 60_000, () => 0)).toBe(60_000);
    expect(retryDelayMs(policy, 3, 100, () => 0)).toBe(2_000);
    expect(retryDelayMs(policy, 1, 0, () => 0)).toBe(500);
  });

  it('rounds to whole milliseconds', () => {
    expect(retryDelayMs({ ...policy, initialBackoffMs: 3 }, 1, undefined, () => 0.5)).toBe(2); // 2.25
    expect(retryDelayMs(policy, 1, 700.6, () => 0)).toBe(701);
  });
});
