import { describe, expect, it } from 'vitest';
import { GroupCommit, StoreClosedError, WorkFailed, type TransactionRunner, type Work } from './batcher.js';

/** A runner that records each transaction and can hold its COMMIT or fail it. */
class FakeRunner implements TransactionRunner<string> {
  readonly transactions: number[] = [];
  readonly durable: boolean[] = [];
  hold?: Promise<void>;
  failCommit?: Error;

  async run(works: readonly Work<string>[], durable: boolean): Promise<unknown[]> {
    this.durable.push(durable);
    const results: unknown[] = [];
    for (let i = 0; i < works.length; i++) {
      try {
        results.push(works[i]!('tx'));
      } catch (error) {
        throw new WorkFailed(i, error);
      }
    }
    this.transactions.push(works.length);
    if (this.hold) await this.hold;
    if (this.failCommit) throw this.failCommit;
    return results;
  }
}

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('GroupCommit', () => {
  it('runs writes submitted in one tick as one transaction, each getting its own result', async () => {
    const runner = new FakeRunner();
    const batcher = new GroupCommit(runner);
    const results = await Promise.all([1, 2, 3].map((n) => batcher.submit((ctx) => `${ctx}:${n}`)));
    expect(results).toEqual(['tx:1', 'tx:2', 'tx:3']);
    expect(runner.transactions).toEqual([3]);
    expect(batcher.stats).toEqual({ transactions: 1, durableTransactions: 1, failedTransactions: 0, writes: 3, largestBatch: 3 });
  });

  it('asks for a durable commit only when a durable write is in the batch (the default)', async () => {
    const runner = new FakeRunner();
    const batcher = new GroupCommit(runner);
    await Promise.all([batcher.submit(() => 1, { durable: false }), batcher.submit(() => 2, { durable: false })]);
    await Promise.all([batcher.submit(() => 3, { durable: false }), batcher.submit(() => 4)]);
    await batcher.submit(() => 5);
    expect(runner.durable).toEqual([false, true, true]);
    expect(batcher.stats).toMatchObject({ transactions: 3, durableTransactions: 2, writes: 5 });
  });

  it('commits intakes (ahead) first in a transaction of their own, then the rest before anything newer', async () => {
    const runner = new FakeRunner();
    const batcher = new GroupCommit(runner);
    const order: string[] = [];
    const write = (name: string, options: { durable?: boolean; ahead?: boolean }) =>
      batcher.submit(() => { order.push(name); return name; }, options).then((r) => { order.push(`settled ${r}`); });
    const first = [
      write('status-1', { durable: false }),
      write('intake-1', { durable: true, ahead: true }),
      write('status-2', { durable: false }),
      write('intake-2', { durable: true, ahead: true }),
    ];
    // Submitted after the batch was taken, before its second transaction: must wait for the next one.
    await tick();
    const late = write('intake-3', { durable: true, ahead: true });
    await Promise.all([...first, late]);
    expect(runner.transactions).toEqual([2, 2, 1]);
    expect(runner.durable).toEqual([true, false, true]);
    expect(order.filter((o) => !o.startsWith('settled'))).toEqual(['intake-1', 'intake-2', 'status-1', 'status-2', 'intake-3']);
    // The intakes' callers (the ACKs) go on before the bookkeeping transaction runs.
    expect(order.indexOf('settled intake-1')).toBeLessThan(order.indexOf('status-1'));
  });

  it('keeps a batch of only intakes or only bookkeeping in one transaction', async () => {
    const runner = new FakeRunner();
    const batcher = new GroupCommit(runner);
    await Promise.all([batcher.submit(() => 1, { ahead: true }), batcher.submit(() => 2, { ahead: true })]);
    await Promise.all([batcher.submit(() => 3, { durable: false }), batcher.submit(() => 4)]);
    expect(runner.transactions).toEqual([2, 2]);
  });

  it('settles nothing before COMMIT returns', async () => {
    const runner = new FakeRunner();
    const commit = deferred();
    runner.hold = commit.promise;
    const batcher = new GroupCommit(runner);
    let settled = false;
    const write = batcher.submit(() => 1).then(() => { settled = true; });
    for (let i = 0; i < 5; i++) await tick();
    expect(runner.transactions).toEqual([1]);
    expect(settled).toBe(false);
    commit.resolve();
    await write;
    expect(settled).toBe(true);
  });

  it('keeps one transaction in flight; writes arriving meanwhile form the next batch', async () => {
    const runner = new FakeRunner();
    const commit = deferred();
    runner.hold = commit.promise;
    const batcher = new GroupCommit(runner);
    const first = batcher.submit(() => 'a');
    await tick();
    await tick();
    const later = [batcher.submit(() => 'b'), batcher.submit(() => 'c')];
    await tick();
    const more = batcher.submit(() => 'd');
    expect(runner.transactions).toEqual([1]);
    runner.hold = undefined;
    commit.resolve();
    expect(await Promise.all([first, ...later, more])).toEqual(['a', 'b', 'c', 'd']);
    expect(runner.transactions).toEqual([1, 3]);
  });

  it('splits a large tick into transactions of at most maxBatch writes', async () => {
    const runner = new FakeRunner();
    const batcher = new GroupCommit(runner, { maxBatch: 4 });
    await Promise.all(Array.from({ length: 10 }, (_, i) => batcher.submit(() => i)));
    expect(runner.transactions).toEqual([4, 4, 2]);
  });

  it('rejects every write of a batch whose transaction failed, with that error', async () => {
    const runner = new FakeRunner();
    const boom = new Error('disk full');
    runner.failCommit = boom;
    const batcher = new GroupCommit(runner);
    const results = await Promise.allSettled([1, 2, 3].map((n) => batcher.submit(() => n)));
    expect(results).toEqual([1, 2, 3].map(() => ({ status: 'rejected', reason: boom })));
    expect(batcher.stats).toMatchObject({ transactions: 0, failedTransactions: 1, writes: 0 });
    runner.failCommit = undefined;
    expect(await batcher.submit(() => 'recovered')).toBe('recovered');
  });

  it('rejects a write that failed on its own and commits the others in a new transaction', async () => {
    const runner = new FakeRunner();
    const batcher = new GroupCommit(runner);
    const bad = new Error('not found');
    const results = await Promise.allSettled([
      batcher.submit(() => 'a'),
      batcher.submit(() => { throw bad; }),
      batcher.submit(() => 'c'),
    ]);
    expect(results).toEqual([
      { status: 'fulfilled', value: 'a' }, { status: 'rejected', reason: bad }, { status: 'fulfilled', value: 'c' },
    ]);
    expect(runner.transactions).toEqual([2]);
    expect(batcher.stats).toMatchObject({ transactions: 1, failedTransactions: 1, writes: 2 });
  });

  it('close() waits for queued writes and refuses new ones', async () => {
    const runner = new FakeRunner();
    const batcher = new GroupCommit(runner);
    const queued = batcher.submit(() => 'queued');
    await batcher.close();
    expect(await queued).toBe('queued');
    await expect(batcher.submit(() => 'late')).rejects.toBeInstanceOf(StoreClosedError);
    await batcher.drain();
  });
});
