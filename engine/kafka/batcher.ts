import { createProducer, permanentKafkaCodes, type ClientOptions, type KafkaProducer, type KafkaRecord } from './client.js';

export interface BatchOptions {
  /** How long a record may wait for others to share its request; default 2 ms. */
  readonly lingerMs: number;
  /** Records per produce request at most; default 500. */
  readonly maxBatch: number;
}

const asError = (err: unknown): Error => (err instanceof Error ? err : new Error(String(err)));

interface Pending {
  readonly records: readonly KafkaRecord[];
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

/**
 * Gathers the records of many concurrent deliveries into few produce requests, with one
 * request in flight at a time: an idempotent producer with several requests in flight
 * got OUT_OF_ORDER_SEQUENCE_NUMBER from the broker (measured, see docs/DECISIONS.md).
 * Each caller's promise resolves only when the broker acknowledged its records (acks=all).
 * After a failed request the underlying producer is replaced: its sequence numbers may no
 * longer match the broker's after a broker restart.
 */
export class BatchingProducer {
  private queue: Pending[] = [];
  private producer: KafkaProducer | undefined;
  private flushing = false;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly client: ClientOptions, private readonly batch: BatchOptions = { lingerMs: 2, maxBatch: 500 }) {}

  send(records: readonly KafkaRecord[]): Promise<void> {
    if (this.closed) return Promise.reject(new Error('producer is closed'));
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ records, resolve, reject });
      this.schedule();
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    for (const p of this.queue.splice(0)) p.reject(new Error('producer is closed'));
    const producer = this.producer;
    this.producer = undefined;
    await producer?.close().catch(() => undefined);
  }

  /** One produce request; a failed producer is replaced (its sequence numbers may be off). */
  private async sendNow(records: readonly KafkaRecord[]): Promise<void> {
    try {
      this.producer ??= createProducer(this.client);
      await this.producer.send(records);
    } catch (err) {
      const producer = this.producer;
      this.producer = undefined;
      void producer?.close().catch(() => undefined);
      throw err;
    }
  }

  private async sendEachAlone(taken: readonly Pending[]): Promise<void> {
    for (const p of taken) {
      try {
        await this.sendNow(p.records);
        p.resolve();
      } catch (err) {
        p.reject(asError(err));
      }
    }
  }

  private schedule(): void {
    if (this.flushing || this.timer) return;
    if (this.queuedRecords() >= this.batch.maxBatch || this.batch.lingerMs <= 0) {
      void this.flush();
      return;
    }
    this.timer = setTimeout(() => { this.timer = undefined; void this.flush(); }, this.batch.lingerMs);
  }

  private queuedRecords(): number {
    let n = 0;
    for (const p of this.queue) n += p.records.length;
    return n;
  }

  private async flush(): Promise<void> {
    if (this.flushing || this.queue.length === 0) return;
    this.flushing = true;
    const taken: Pending[] = [];
    let count = 0;
    while (this.queue.length > 0 && (count === 0 || count + this.queue[0]!.records.length <= this.batch.maxBatch)) {
      const p = this.queue.shift()!;
      taken.push(p);
      count += p.records.length;
    }
    try {
      try {
        await this.sendNow(taken.flatMap((p) => p.records));
        for (const p of taken) p.resolve();
      } catch (err) {
        // One delivery's permanent fault (a record too large, a forbidden topic) fails the
        // whole request: send each delivery alone, so only its own fails for good. A request
        // that failed in part is sent again whole: the partitions that did succeed get a
        // duplicate (counted by the broker-restart test; the channel's ids tell them apart).
        if (taken.length > 1 && permanentKafkaCodes(err).length > 0) await this.sendEachAlone(taken);
        else for (const p of taken) p.reject(asError(err));
      }
    } finally {
      this.flushing = false;
      // Records that queued up during the request already waited: send them at once. The
      // callers just resolved send their next records in microtasks and I/O callbacks:
      // flush on setImmediate to take those too, instead of a fresh linger.
      if (!this.closed) {
        if (this.queue.length > 0 && this.queuedRecords() >= this.batch.maxBatch) void this.flush();
        else if (!this.timer) this.timer = setImmediate(() => { this.timer = undefined; void this.flush(); }) as unknown as NodeJS.Timeout;
      }
    }
  }
}
