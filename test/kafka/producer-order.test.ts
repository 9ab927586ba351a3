import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getComponent } from '../../engine/registry.js';
import { KafkaConnection } from '../../engine/kafka/connection.js';
import { silentLogger } from '../../engine/log.js';
import { parseHl7 } from '../../engine/hl7/index.js';
import type { Destination } from '../../engine/channel/types.js';
import type { Envelope } from '../../engine/channel/envelope.js';
import { adt } from '../helpers/channel.js';
import { deleteTestTopics, readTopic, requireBroker, TEST_BROKERS, uniqueTopic } from './helpers.js';
import '../../engine/kafka/index.js';

beforeAll(() => requireBroker());
afterAll(() => deleteTestTopics());

/*
 * Many deliveries in flight on one connection (as a queue with concurrency does): the
 * batching producer must keep one request in flight per idempotent producer (else the
 * broker answers OUT_OF_ORDER_SEQUENCE_NUMBER), keep each key's records in the order they
 * were sent, write every record exactly once, and batch them.
 */
describe('kafka destination under concurrency', () => {
  it('64 deliveries in flight: every record once, each key in order', async () => {
    const topic = uniqueTopic('concurrent');
    const conn = new KafkaConnection({ brokers: TEST_BROKERS, clientId: 'order-test' });
    await conn.ensureTopics([topic], 6, 1);
    const spec = getComponent('destination', 'kafka')!;
    const dest = spec.create(spec.schema.parse({ topic, brokers: TEST_BROKERS, format: 'hl7' }), { channel: 'order', dataDir: '/tmp', logger: silentLogger }) as Destination;
    const ctx = { channel: 'order', destination: 'out', attempt: 1, logger: silentLogger, signal: new AbortController().signal };
    const N = 3000;
    const envelope = (i: number): Envelope => {
      const raw = Buffer.from(adt(`C${i}`, `P${i % 37}`));
      return { id: `m${i}`, channel: 'order', receivedAt: Date.now(), source: { kind: 'mllp', controlId: `C${i}` }, raw, content: { kind: 'hl7v2', message: parseHl7(raw) }, key: `P${i % 37}`, warnings: [], stages: [] };
    };
    // Each worker takes the next message: records of one key are often in flight together.
    let next = 0;
    const failures: string[] = [];
    await Promise.all(Array.from({ length: 64 }, async () => {
      for (let i = next++; i < N; i = next++) {
        const r = await dest.send(envelope(i), ctx);
        if (!r.ok) failures.push(r.error);
      }
    }));
    await dest.close();
    await conn.close();
    expect(failures).toEqual([]);

    const records = await readTopic(topic, N, 30_000);
    expect(records).toHaveLength(N);
    const ids = records.map((r) => Number(r.headers['sluice-control-id']!.slice(1)));
    expect(new Set(ids).size).toBe(N);
    const perKey = new Map<string, number[]>();
    for (const r of records) perKey.set(r.key!, [...(perKey.get(r.key!) ?? []), Number(r.headers['sluice-control-id']!.slice(1))]);
    expect(perKey.size).toBe(37);
    for (const [key, ns] of perKey) expect(ns, `order of ${key}`).toEqual([...ns].sort((a, b) => a - b));
  }, 90_000);

  it('batches concurrent sends into few requests on one idempotent producer', async () => {
    const topic = uniqueTopic('batched');
    const conn = new KafkaConnection({ brokers: TEST_BROKERS, clientId: 'batch-test' });
    try {
      await conn.ensureTopics([topic], 3, 1);
      let next = 0;
      await Promise.all(Array.from({ length: 32 }, async () => {
        for (let i = next++; i < 1000; i = next++) await conn.producer.send([{ topic, key: `K${i % 10}`, value: String(i) }]);
      }));
      expect(conn.producer.stats.records).toBe(1000);
      // 32 callers in a closed loop: each request carries about all of them.
      expect(conn.producer.stats.requests).toBeLessThan(1000 / 8);
      const records = await readTopic(topic, 1000, 30_000);
      expect(new Set(records.map((r) => r.value.toString())).size).toBe(1000);
    } finally {
      await conn.close();
    }
  }, 60_000);
});
