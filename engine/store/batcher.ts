/**
 * Group commit: writes submitted in the same tick run in ONE transaction, and each caller's
 * promise settles only after that transaction has committed (or failed).
 *
 * - One batch is in flight at a time. Writes that arrive while a batch commits wait for the
 *   next batch, so batches grow with load and one fsync covers many messages.
 * - A failure of the transaction itself (BEGIN/COMMIT, I/O, lost connection, disk full)
 *   rejects every write of the batch with that error: none of them is durable.
 * - A write that fails on its own (the backend throws `WorkFailed` for errors attributable to
 *   one write, e.g. "message not found", a constraint) is rejected alone: the transaction is
 *   rolled back and the other writes are applied again in a new transaction, so one bad
 *   update cannot make the engine NAK unrelated messages.
 */

/** One write: runs inside the batch transaction with the backend's context. */
export type Work<C> = (ctx: C) => unknown;

/**
 * Runs the given writes in one transaction, in order, and returns their results after COMMIT.
 * `durable`: the commit must reach stable storage before it returns (fsync; an ACK depends
 * on it). Otherwise it may be flushed later: it survives a process crash, and a power loss
 * can only undo it together with everything after it, which recovery then redoes.
 */
export interface TransactionRunner<C> {
  run(works: readonly Work<C>[], durable: boolean): Promise<unknown[]>;
}

/** Thrown by a runner when write `index` failed for a reason of its own; the transaction was rolled back. */
export class WorkFailed extends Error {
  constructor(readonly index: number, override readonly cause: unknown) {
    super(`write ${index} of the batch failed: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'WorkFailed';
  }
}

/** The store was closed; no more writes are accepted. */
export class StoreClosedError extends Error {
  constructor() {
    super('message store is closed');
    this.name = 'StoreClosedError';
  }
}

export interface BatcherStats {
  /** Transactions committed. */
  readonly transactions: number;
  /** Of those, the ones committed durably (fsync before returning). */
  readonly durableTransactions: number;
  /** Transactions that failed or were rolled back (including retries after a failed write). */
  readonly failedTransactions: number;
  /** Writes committed. */
  readonly writes: number;
  /** The largest number of writes committed in one transaction. */
  readonly largestBatch: number;
}

interface Pending<C> {
  readonly work: Work<C>;
  readonly durable: boolean;
  readonly ahead: boolean;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

export interface BatcherOptions {
  /** Most writes in one transaction (default 1000). 1 = one transaction per write. */
  readonly maxBatch?: number;
}

export class GroupCommit<C> {
  private queue: Pending<C>[] = [];
  private running = false;
  private closed = false;
  private idle: (() => void)[] = [];
  private readonly maxBatch: number;
  private counts = { transactions: 0, durableTransactions: 0, failedTransactions: 0, writes: 0, largestBatch: 0 };

  constructor(private readonly runner: TransactionRunner<C>, options: BatcherOptions = {}) {
    this.maxBatch = Math.max(1, options.maxBatch ?? 1000);
  }

  get stats(): BatcherStats {
    return { ...this.counts };
  }

  /**
   * Queues a write; resolves with its result after the transaction that applied it committed.
   * `durable: false` for bookkeeping that recovery can redo (statuses, contents after intake):
   * its batch skips the fsync unless a durable write shares it.
   */
  submit<T>(work: (ctx: C) => T, options: { readonly durable?: boolean; readonly ahead?: boolean } = {}): Promise<Awaited<T>> {
    if (this.closed) return Promise.reject(new StoreClosedError());
    return new Promise<Awaited<T>>((resolve, reject) => {
      const durable = options.durable ?? true;
      this.queue.push({ work, durable, ahead: options.ahead ?? false, resolve: resolve as (value: unknown) => void, reject });
      if (!this.running) {
        this.running = true;
        void this.loop();
      }
    });
  }

  /** Resolves when every write submitted so far has settled. */
  drain(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** Refuses new writes and waits for the queued ones to settle. */
  async close(): Promise<void> {
    this.closed = true;
    await this.drain();
  }

  private async loop(): Promise<void> {
    try {
      for (;;) {
        // Let the rest of this tick (and callbacks of the batch just committed) add their writes.
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (this.queue.length === 0) break;
        const batch = this.queue.splice(0, this.maxBatch);
        const ahead = batch.filter((item) => item.ahead);
        if (ahead.length === 0 || ahead.length === batch.length) {
          await this.commit(batch);
          continue;
        }
        // Intakes first, in a transaction of their own: their ACKs wait for its fsync and
        // should not also wait for the pages of the bookkeeping queued beside them. The
        // rest follows before anything that arrives meanwhile, so nothing starves.
        await this.commit(ahead);
        await new Promise<void>((resolve) => setImmediate(resolve));
        await this.commit(batch.filter((item) => !item.ahead));
      }
    } finally {
      this.running = false;
      for (const resolve of this.idle.splice(0)) resolve();
    }
  }

  private async commit(batch: Pending<C>[]): Promise<void> {
    let items = batch;
    while (items.length > 0) {
      let results: unknown[];
      const durable = items.some((item) => item.durable);
      try {
        results = await this.runner.run(items.map((item) => item.work), durable);
      } catch (error) {
        this.counts.failedTransactions++;
        if (error instanceof WorkFailed && items[error.index]) {
          // Reject the write at fault; apply the others again in a new transaction.
          items[error.index]!.reject(error.cause);
          items = items.filter((_, i) => i !== error.index);
          continue;
        }
        for (const item of items) item.reject(error);
        return;
      }
      this.counts.transactions++;
      if (durable) this.counts.durableTransactions++;
      this.counts.writes += items.length;
      this.counts.largestBatch = Math.max(this.counts.largestBatch, items.length);
      items.forEach((item, i) => item.resolve(results[i]));
      return;
    }
  }
}
