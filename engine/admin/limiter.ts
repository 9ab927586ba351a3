/**
 * Failed authentications per peer address, in a sliding window: past `maxFailures` within
 * `windowMs`, the peer is refused (429) without its token being checked, until the oldest
 * failure leaves the window. Bearer tokens are long (≥ 32 characters), so guessing is already
 * hopeless; this keeps a guessing client from costing a digest and an audit line per try
 * for as long as it likes, and makes the refusals visible as such.
 *
 * Bounded: at most `maxPeers` addresses are tracked (the least recently failed go first).
 */
export class AuthFailureLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    readonly maxFailures: number,
    readonly windowMs: number,
    private readonly maxPeers = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds until `peer` may try again; 0 when it may now. */
  blockedFor(peer: string): number {
    const times = this.recent(peer);
    if (times.length < this.maxFailures) return 0;
    return times[times.length - this.maxFailures]! + this.windowMs - this.now();
  }

  /** Records a failed authentication from `peer`. */
  failed(peer: string): void {
    const times = this.recent(peer);
    times.push(this.now());
    // Only the last maxFailures matter for blockedFor().
    if (times.length > this.maxFailures) times.splice(0, times.length - this.maxFailures);
    this.failures.delete(peer);
    this.failures.set(peer, times);
    if (this.failures.size > this.maxPeers) this.failures.delete(this.failures.keys().next().value!);
  }

  /** Peers tracked (tests). */
  get tracked(): number {
    return this.failures.size;
  }

  private recent(peer: string): number[] {
    const times = this.failures.get(peer);
    if (!times) return [];
    const since = this.now() - this.windowMs;
    while (times.length > 0 && times[0]! <= since) times.shift();
    if (times.length === 0) this.failures.delete(peer);
    return times;
  }
}
