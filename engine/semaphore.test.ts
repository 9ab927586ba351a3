import { describe, expect, it } from 'vitest';
import { Semaphore } from './semaphore.js';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('Semaphore', () => {
  it('lets `limit` holders in at once and queues the rest', async () => {
    const gate = new Semaphore(2);
    const a = await gate.acquire();
    await gate.acquire();
    let third = false;
    const c = gate.acquire().then((release) => { third = true; return release; });
    await tick();
    expect(third).toBe(false);
    expect(gate.inFlight).toBe(2);
    a();
    (await c)();
    expect(third).toBe(true);
    expect(gate.inFlight).toBe(1);
  });

  it('serves waiters in arrival order, handing a released permit straight over', async () => {
    const gate = new Semaphore(1);
    const first = await gate.acquire();
    const order: number[] = [];
    const waiters = [1, 2, 3].map((n) => gate.acquire().then((release) => { order.push(n); return release; }));
    first();
    expect(gate.inFlight).toBe(1);
    for (const w of waiters) (await w)();
    expect(order).toEqual([1, 2, 3]);
    expect(gate.inFlight).toBe(0);
  });

  it('ignores a second release of the same permit', async () => {
    const gate = new Semaphore(1);
    const release = await gate.acquire();
    release();
    release();
    expect(gate.inFlight).toBe(0);
    await gate.acquire();
    expect(gate.inFlight).toBe(1);
    let second = false;
    void gate.acquire().then(() => { second = true; });
    release();
    await tick();
    expect(second).toBe(false);
  });

  it('an aborted waiter leaves the queue without taking a permit', async () => {
    const gate = new Semaphore(1);
    const held = await gate.acquire();
    const ac = new AbortController();
    const aborted = gate.acquire(ac.signal);
    const next = gate.acquire();
    ac.abort(new Error('gone'));
    await expect(aborted).rejects.toThrow('gone');
    held();
    (await next)();
    expect(gate.inFlight).toBe(0);
  });

  it('rejects at once when the signal is already aborted', async () => {
    const gate = new Semaphore(1);
    await expect(gate.acquire(AbortSignal.abort(new Error('early')))).rejects.toThrow('early');
    expect(gate.inFlight).toBe(0);
  });

  it('needs a limit of at least 1', () => {
    expect(() => new Semaphore(0)).toThrow(/at least 1/);
    expect(() => new Semaphore(Number.NaN)).toThrow(/at least 1/);
  });
});
