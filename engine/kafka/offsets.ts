import type { RecordPosition } from './client.js';

interface Entry {
  readonly position: RecordPosition;
  /** Hand-outs of this offset not yet finished (a re-delivered offset counts twice). */
  remaining: number;
  /** Re-delivered below the passed front: counted, never committed. */
  readonly stray: boolean;
}

interface PartitionState {
  readonly topic: string;
  readonly partition: number;
  /** Started offsets in order, from `head` on; finished ones leave only from the front. */
  readonly entries: Entry[];
  head: number;
  readonly byOffset: Map<bigint, Entry>;
  lastStarted?: bigint;
  committable?: RecordPosition;
}

/** The key of one partition in maps and sets (`topic\0partition`). */
export const partitionId = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

/**
 * Which offset of each partition may be committed: records finish out of order (different
 * keys run in parallel), but a commit says "everything before this is done", so it only
 * moves up to the first record still in progress. It keeps positions only (never record
 * values), and each offset is passed once: O(1) amortised per record, however long one
 * record at the front stays unfinished.
 */
export class OffsetTracker {
  private readonly partitions = new Map<string, PartitionState>();
  private inProgressCount = 0;

  private of(r: RecordPosition, create: boolean): PartitionState | undefined {
    const id = partitionId(r.topic, r.partition);
    let p = this.partitions.get(id);
    if (!p && create) {
      p = { topic: r.topic, partition: r.partition, entries: [], head: 0, byOffset: new Map() };
      this.partitions.set(id, p);
    }
    return p;
  }

  /** A record was handed out. */
  started(r: RecordPosition): void {
    const p = this.of(r, true)!;
    this.inProgressCount++;
    const known = p.byOffset.get(r.offset);
    if (known) {
      known.remaining++;
      return;
    }
    // An offset at or below one already passed (a re-delivery after it was finished) is only
    // counted: its finish never moves the commit back.
    if (p.lastStarted !== undefined && r.offset <= p.lastStarted) {
      const stray: Entry = { position: r, remaining: 1, stray: true };
      p.byOffset.set(r.offset, stray);
      return;
    }
    const entry: Entry = { position: r, remaining: 1, stray: false };
    p.entries.push(entry);
    p.byOffset.set(r.offset, entry);
    p.lastStarted = r.offset;
  }

  /** A record was handled; false when its partition is no longer tracked (revoked). */
  finished(r: RecordPosition): boolean {
    const p = this.of(r, false);
    const entry = p?.byOffset.get(r.offset);
    if (!p || !entry) return false;
    this.inProgressCount--;
    entry.remaining--;
    if (entry.remaining > 0) return true;
    if (entry.stray) {
      p.byOffset.delete(r.offset); // a stray re-delivery
      return true;
    }
    while (p.head < p.entries.length && p.entries[p.head]!.remaining === 0) {
      const done = p.entries[p.head++]!;
      p.byOffset.delete(done.position.offset);
      p.committable = done.position;
    }
    // Drop the passed front now and then, so the array does not grow for ever.
    if (p.head > 1024 && p.head * 2 > p.entries.length) {
      p.entries.splice(0, p.head);
      p.head = 0;
    }
    return true;
  }

  /** Positions to commit now (the latest committable one per partition). */
  take(): RecordPosition[] {
    const out: RecordPosition[] = [];
    for (const p of this.partitions.values()) {
      if (!p.committable) continue;
      out.push(p.committable);
      p.committable = undefined;
    }
    return out;
  }

  /** Puts back a position whose commit failed, unless a later one is waiting or its partition was dropped. */
  retry(r: RecordPosition): void {
    const p = this.of(r, false);
    if (!p) return;
    if (p.committable === undefined || p.committable.offset < r.offset) p.committable = r;
  }

  /**
   * Whether this offset was handed out already (it is in progress, or passed): the library
   * fetches again from the committed offset after a rebalance, and what it had buffered
   * still arrives too.
   */
  seen(r: RecordPosition): boolean {
    const p = this.of(r, false);
    return p?.lastStarted !== undefined && r.offset <= p.lastStarted;
  }

  /** Whether the partition is tracked (assigned to this member). */
  has(topic: string, partition: number): boolean {
    return this.partitions.has(partitionId(topic, partition));
  }

  /** The tracked partitions. */
  tracked(): { topic: string; partition: number }[] {
    return [...this.partitions.values()].map((p) => ({ topic: p.topic, partition: p.partition }));
  }

  /** Forgets a revoked partition: its unfinished records are re-delivered to the new owner. */
  drop(topic: string, partition: number): void {
    const id = partitionId(topic, partition);
    const p = this.partitions.get(id);
    if (!p) return;
    for (const e of p.byOffset.values()) this.inProgressCount -= e.remaining;
    this.partitions.delete(id);
  }

  /** Records handed out and not finished. */
  get inProgress(): number {
    return this.inProgressCount;
  }

  /** Records started and not yet committable: the unfinished ones and those finished behind them. */
  get uncommitted(): number {
    let n = 0;
    for (const p of this.partitions.values()) n += p.entries.length - p.head;
    return n;
  }
}
