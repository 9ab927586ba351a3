import { describe, expect, it } from 'vitest';
import { BatchingProducer } from './batcher.js';
import type { ClientOptions, KafkaProducer, KafkaRecord } from './client.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const client: ClientOptions = { brokers: ['fake:9092'], clientId: 'test' };
const rec = (key: string, value: string): KafkaRecord => ({ topic: 't', key, value });

/** A broker stand-in: records every request, counts requests in flight, fails on demand. */
class FakeProducers {
  readonly requests: KafkaRecord[][] = [];
  inFlight = 0;
  maxInFlight = 0;
  created = 0;
  closed = 0;
  /** Errors the next requests throw (after their round trip), in order. */
  readonly failures: unknown[] = [];

  constructor(private readonly roundTripMs = 1) {}

  readonly factory = (): KafkaProducer => {
    this.created++;
    return {
      send: async (records) => {
        this.inFlight++;
        this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
        this.requests.push([...records]);
        await sleep(this.roundTripMs);
        this.inFlight--;
        const failure = this.failures.shift();
        if (failure) throw failure;
        if (records.length > 1 && records.some((r) => r.value === 'too-large')) throw Object.assign(new Error('request refused'), { apiId: 'MESSAGE_TOO_LARGE' });
        if (records.some((r) => r.value === 'too-large')) throw Object.assign(new Error('record refused'), { apiId: 'MESSAGE_TOO_LARGE' });
      },
      close: async () => { this.closed++; },
    };
  };
}

describe('BatchingProducer', () => {
  it('keeps one request in flight and every key in order, with many concurrent callers', async () => {
    const fake = new FakeProducers();
    const p = new BatchingProducer(client, { lingerMs: 2, maxBatch: 50 }, fake.factory);
    // 64 callers, each taking the next record: a key's records are often in flight together.
    let next = 0;
    await Promise.all(Array.from({ length: 64 }, async () => {
      for (let i = next++; i < 2000; i = next++) await p.send([rec(`K${i % 37}`, String(i))]);
    }));
    expect(fake.maxInFlight).toBe(1);
    const sent = fake.requests.flat();
    expect(sent.map((r) => Number(r.value)).sort((a, b) => a - b)).toEqual(Array.from({ length: 2000 }, (_, i) => i));
    const perKey = new Map<string, number[]>();
    for (const r of sent) perKey.set(r.key!, [...(perKey.get(r.key!) ?? []), Number(r.value)]);
    for (const [key, ns] of perKey) expect(ns, key).toEqual([...ns].sort((a, b) => a - b));
    expect(Math.max(...fake.requests.map((r) => r.length))).toBeLessThanOrEqual(50);
    expect(p.stats).toEqual({ requests: fake.requests.length, records: 2000 });
    await p.close();
  });

  it('sends the next records of the callers it just resolved at once, not after another linger', async () => {
    const fake = new FakeProducers();
    // A linger this long would make 20 rounds take 20 × 300 ms if each round waited it again.
    const p = new BatchingProducer(client, { lingerMs: 300, maxBatch: 500 }, fake.factory);
    const t = performance.now();
    await Promise.all(Array.from({ length: 8 }, async (_, w) => {
      for (let i = 0; i < 20; i++) await p.send([rec(`K${w}`, `${w}.${i}`)]);
    }));
    const ms = performance.now() - t;
    // The first round lingers (the producer was idle); every later round carries all 8 callers.
    expect(fake.requests.map((r) => r.length)).toEqual(Array.from({ length: 20 }, () => 8));
    expect(ms).toBeLessThan(1500);
    await p.close();
  });

  it('lingers while idle, so records arriving close together share a request', async () => {
    const fake = new FakeProducers();
    const p = new BatchingProducer(client, { lingerMs: 50, maxBatch: 500 }, fake.factory);
    const a = p.send([rec('A', '1')]);
    await sleep(5);
    const b = p.send([rec('B', '2')]);
    await Promise.all([a, b]);
    expect(fake.requests.map((r) => r.map((x) => x.value))).toEqual([['1', '2']]);
    await p.close();
  });

  it('sends a full batch without waiting for the linger', async () => {
    const fake = new FakeProducers();
    const p = new BatchingProducer(client, { lingerMs: 60_000, maxBatch: 10 }, fake.factory);
    await Promise.all(Array.from({ length: 10 }, (_, i) => p.send([rec('K', String(i))])));
    expect(fake.requests.map((r) => r.length)).toEqual([10]);
    await p.close();
  });

  it('fails the callers of a failed request, replaces the producer, and goes on', async () => {
    const fake = new FakeProducers();
    const p = new BatchingProducer(client, { lingerMs: 1, maxBatch: 500 }, fake.factory);
    fake.failures.push(new Error('broker gone'));
    const first = await Promise.allSettled([p.send([rec('A', '1')]), p.send([rec('B', '2')])]);
    expect(first.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(fake.closed).toBe(1);
    await p.send([rec('A', '3')]);
    expect(fake.created).toBe(2);
    await p.close();
  });

  it("fails only the delivery with a permanent fault, the others' records are sent", async () => {
    const fake = new FakeProducers();
    const p = new BatchingProducer(client, { lingerMs: 5, maxBatch: 500 }, fake.factory);
    const results = await Promise.allSettled([p.send([rec('A', 'a')]), p.send([rec('B', 'too-large')]), p.send([rec('C', 'c')])]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    await p.close();
  });

  it('rejects queued and later sends once closed', async () => {
    const fake = new FakeProducers();
    const p = new BatchingProducer(client, { lingerMs: 60_000, maxBatch: 500 }, fake.factory);
    const queued = p.send([rec('A', '1')]);
    await p.close();
    await expect(queued).rejects.toThrow('closed');
    await expect(p.send([rec('A', '2')])).rejects.toThrow('closed');
    expect(fake.requests).toEqual([]);
  });
});
