import { describe, expect, it } from 'vitest';
import { AuthFailureLimiter } from './limiter.js';

describe('AuthFailureLimiter', () => {
  it('blocks a peer at maxFailures within the window, until its oldest counted failure leaves it', () => {
    let now = 1_000;
    const limiter = new AuthFailureLimiter(3, 10_000, 100, () => now);
    limiter.failed('a');
    now += 1_000;
    limiter.failed('a');
    expect(limiter.blockedFor('a')).toBe(0);
    now += 1_000;
    limiter.failed('a');
    expect(limiter.blockedFor('a')).toBe(8_000); // the first failure (t=1000) leaves at 11000
    expect(limiter.blockedFor('b')).toBe(0); // per address
    now = 11_000;
    expect(limiter.blockedFor('a')).toBe(0);
    limiter.failed('a'); // the second and third are still in the window: blocked again
    expect(limiter.blockedFor('a')).toBe(1_000);
  });

  it('forgets peers whose failures left the window, and tracks at most maxPeers', () => {
    let now = 0;
    const limiter = new AuthFailureLimiter(2, 1_000, 5, () => now);
    for (let i = 0; i < 20; i++) limiter.failed(`peer-${i}`);
    expect(limiter.tracked).toBe(5);
    limiter.failed('peer-19');
    expect(limiter.blockedFor('peer-19')).toBe(1_000);
    now = 2_000;
    expect(limiter.blockedFor('peer-19')).toBe(0);
    expect(limiter.tracked).toBe(4);
  });
});
