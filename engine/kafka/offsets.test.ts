import { describe, expect, it } from 'vitest';
import type { ConsumedRecord } from './client.js';
import { OffsetTracker } from './offsets.js';

const rec = (partition: number, offset: number): ConsumedRecord => ({ topic: 't', partition, offset: BigInt(offset), value: Buffer.alloc(0), headers: {}, timestamp: 0n });
const offsets = (rs: ConsumedRecord[]): string[] => rs.map((r) => `${r.partition}:${r.offset}`);

describe('OffsetTracker', () => {
  it('commits only up to the first record still in progress', () => {
    const t = new OffsetTracker();
    const [a, b, c] = [rec(0, 5), rec(0, 6), rec(0, 7)];
    for (const r of [a, b, c]) t.started(r);
    t.finished(c);
    t.finished(b);
    expect(t.take()).toEqual([]); // 5 is still in progress
    t.finished(a);
    expect(offsets(t.take())).toEqual(['0:7']);
    expect(t.take()).toEqual([]);
    expect(t.inProgress).toBe(0);
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
    t.finished(old);
    expect(t.take()).toEqual([]);
  });
});
