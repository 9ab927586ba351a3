import type { ConsumedRecord } from './client.js';

/**
 * Which offset of each partition may be committed: records finish out of order (different
 * keys run in parallel), but a commit says "everything before this is done", so it only
 * moves up to the first record still in progress.
 */
export class OffsetTracker {
  private readonly partitions = new Map<string, { pending: Map<bigint, number>; done: ConsumedRecord[]; committable?: ConsumedRecord; committed?: bigint }>();

  private of(r: ConsumedRecord) {
    const id = `${r.topic}\u0000${r.partition}`;
    let p = this.partitions.get(id);
    if (!p) {
      p = { pending: new Map(), done: [] };
      this.partitions.set(id, p);
    }
    return p;
  }

  /** A record was handed out (a redelivered offset counts twice until both finish). */
  started(r: ConsumedRecord): void {
    const p = this.of(r);
    p.pending.set(r.offset, (p.pending.get(r.offset) ?? 0) + 1);
  }

  finished(r: ConsumedRecord): void {
    const p = this.of(r);
    const n = (p.pending.get(r.offset) ?? 1) - 1;
    if (n <= 0) p.pending.delete(r.offset);
    else p.pending.set(r.offset, n);
    p.done.push(r);
    let lowestPending: bigint | undefined;
    for (const o of p.pending.keys()) if (lowestPending === undefined || o < lowestPending) lowestPending = o;
    const ready = p.done.filter((d) => lowestPending === undefined || d.offset < lowestPending);
    if (ready.length === 0) return;
    p.done = p.done.filter((d) => !(lowestPending === undefined || d.offset < lowestPending));
    const best = ready.reduce((a, b) => (b.offset > a.offset ? b : a));
    if ((p.committable === undefined || best.offset > p.committable.offset) && (p.committed === undefined || best.offset >= p.committed)) p.committable = best;
  }

  /** Records to commit now (the latest committable one per partition); marks them committed. */
  take(): ConsumedRecord[] {
    const out: ConsumedRecord[] = [];
    for (const p of this.partitions.values()) {
      if (!p.committable) continue;
      out.push(p.committable);
      p.committed = p.committable.offset + 1n;
      p.committable = undefined;
    }
    return out;
  }

  /** Puts back a record whose commit failed, unless a later one is already waiting. */
  retry(r: ConsumedRecord): void {
    const p = this.of(r);
    if (p.committable === undefined || p.committable.offset < r.offset) p.committable = r;
    p.committed = undefined;
  }

  get inProgress(): number {
    let n = 0;
    for (const p of this.partitions.values()) for (const c of p.pending.values()) n += c;
    return n;
  }
}
