import { describe, expect, it } from 'vitest';
import type { RecordPosition } from './client.js';
import { OffsetTracker } from './offsets.js';

const rec = (partition: number, offset: number): RecordPosition => ({ topic: 't', partition, offset: BigInt(offset) });
const offsets = (rs: RecordPosition[]): string[] => rs.map((r) => `${r.partition}:${r.offset}`);

describe('OffsetTracker', () => {
  it('commits only up to the first record still in progress', () => {
    const t = new OffsetTracker();
    const [a, b, c] = [rec(0, 5), rec(0, 6), rec(0, 7)];
    for (const r of [a, b, c]) t.started(r);
    t.finished(c);
    t.finished(b);
    expect(t.take()).toEqual([]); // 5 is still in progress
    expect(t.uncommitted).toBe(3);
    t.finished(a);
    expect(offsets(t.take())).toEqual(['0:7']);
    expect(t.take()).toEqual([]);
    expect(t.inProgress).toBe(0);
    expect(t.uncommitted).toBe(0);
  });

  it('keeps partitions apart', () => {
    const t = new OffsetTracker();
    const [a, b] = [rec(0, 1), rec(1, 9)];
    t.started(a);
    t.started(b);
    t.finished(b);
    expect(offsets(t.take())).toEqual(['1:9']);
    t.finished(a);
    expect(offsets(t.take())).toEqual(['0:1']);
  });

  it('puts a failed commit back unless a later offset is waiting, and never goes backwards', () => {
    const t = new OffsetTracker();
    const [a, b] = [rec(0, 1), rec(0, 2)];
    t.started(a);
    t.finished(a);
    const [taken] = t.take();
    t.retry(taken!);
    expect(offsets(t.take())).toEqual(['0:1']);
    t.started(b);
    t.finished(b);
    t.retry(a);
    expect(offsets(t.take())).toEqual(['0:2']);
    // A re-delivered older offset finishing later does not move the commit back.
    const old = rec(0, 1);
    t.started(old);
    expect(t.inProgress).toBe(1);
    t.finished(old);
    expect(t.take()).toEqual([]);
    expect(t.inProgress).toBe(0);
  });

  it('stays linear behind one stuck record (review finding 2: was quadratic and kept every record)', () => {
    const t = new OffsetTracker();
    t.started(rec(0, 0)); // stuck
    const n = 50_000;
    const t0 = performance.now();
    for (let i = 1; i <= n; i++) {
      const r = rec(0, i);
      t.started(r);
      t.finished(r);
    }
    const ms = performance.now() - t0;
    // Quadratic re-filtering took minutes for this many; linear work takes milliseconds.
    expect(ms).toBeLessThan(1500);
    expect(t.inProgress).toBe(1);
    expect(t.uncommitted).toBe(n + 1); // what the source's pause bound counts
    expect(t.take()).toEqual([]);
    t.finished(rec(0, 0));
    expect(offsets(t.take())).toEqual([`0:${n}`]);
    expect(t.uncommitted).toBe(0);
  });

  it('forgets a dropped (revoked) partition: its finishes are ignored and nothing of it is committed', () => {
    const t = new OffsetTracker();
    const [a, b, c] = [rec(0, 1), rec(0, 2), rec(1, 1)];
    for (const r of [a, b, c]) t.started(r);
    t.finished(a);
    expect(t.tracked()).toEqual([{ topic: 't', partition: 0 }, { topic: 't', partition: 1 }]);
    t.drop('t', 0);
    expect(t.has('t', 0)).toBe(false);
    expect(t.inProgress).toBe(1);
    expect(t.finished(b)).toBe(false);
    t.retry(a); // a commit round that failed after the revocation
    expect(t.take()).toEqual([]);
    expect(t.finished(c)).toBe(true);
    expect(offsets(t.take())).toEqual(['1:1']);
  });
});
