import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { adt } from '../helpers/channel.js';
import { eventually } from '../helpers/http-sink.js';
import { mllpPort, mllpSender, startEngine } from '../helpers/engine.js';
import { freePort, startBroker, stopBroker } from '../../engine/kafka/broker.js';
import { createAdmin } from '../../engine/kafka/client.js';
import { KafkaConnection } from '../../engine/kafka/connection.js';
import { readTopic, tally, uniqueTopic } from './helpers.js';

/*
 * The broker is stopped mid-stream and started again (its own instance, not the shared
 * test broker): every ACKed message reaches the topic, the queue drains, and duplicates
 * (a batch the broker wrote but could not acknowledge before it went down) are counted.
 * A Kafka source channel reads the topic throughout and must store every message too.
 */
const MESSAGES = 400;
const CONNECTIONS = 4;

let dataDir: string | undefined;
afterAll(async () => {
  if (!dataDir) return;
  await stopBroker(dataDir).catch(() => undefined);
  await rm(dataDir, { recursive: true, force: true });
});

describe('Kafka broker restart', () => {
  it('loses nothing: messages queue while the broker is down and drain after it is back', async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'sluice-kafka-restart-'));
    const port = await freePort();
    const t0 = performance.now();
    const at = (what: string): void => { process.stdout.write(`  ${what} at ${Math.round(performance.now() - t0)} ms\n`); };
    await startBroker({ port, dataDir, startTimeoutMs: 60_000 });
    at('broker up');
    const brokers = [`127.0.0.1:${port}`];
    const topic = uniqueTopic('restart');
    const conn = new KafkaConnection({ brokers });
    await conn.ensureTopics([topic], 3, 1).finally(() => conn.close());
    // One channel writes the topic, the other (a Kafka source) reads it back through the restart.
    const engine = await startEngine([{
      source: { mllp: { port: 0 } },
      destinations: {
        out: {
          kafka: { topic, brokers, partitions: 3 },
          queue: { concurrency: 16, maxAttempts: 1000, backoff: { initial: 100, max: 500, factor: 2 } },
        },
      },
    }, {
      name: 'kin',
      source: { kafka: { topics: topic, brokers, commitInterval: 100 } },
      destinations: {},
    }]);
    const mllp = mllpPort(engine);

    let next = 0;
    const acked: string[] = [];
    // The second half is sent only once the broker is down, so that messages do queue
    // however fast this machine sends (the stop itself takes seconds).
    let brokerDown!: () => void;
    const down = new Promise<void>((r) => { brokerDown = r; });
    const send = async (): Promise<void> => {
      const sender = mllpSender(mllp, 15_000);
      for (let i = next++; i < MESSAGES; i = next++) {
        if (i >= MESSAGES / 2) await down;
        const id = `R${i}`;
        const ack = await sender.send(adt(id, `P${i % 40}`));
        if (ack.code === 'AA') acked.push(id);
        // Paced, so that the broker's downtime falls mid-stream.
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    const sending = Promise.all(Array.from({ length: CONNECTIONS }, send));

    await eventually(() => next >= MESSAGES / 4, 30_000, 'a quarter sent');
    at('stopping broker');
    await stopBroker(dataDir);
    at('broker stopped');
    const downAt = next;
    brokerDown();
    await eventually(async () => (await engine.store.search({ channel: 'test', status: 'QUEUED', limit: 1 })).length > 0, 20_000, 'messages QUEUED while the broker is down');
    await new Promise((r) => setTimeout(r, 1000));
    await startBroker({ port, dataDir, startTimeoutMs: 60_000 });
    at('broker restarted');
    await sending;
    at('all ACKed');
    expect(acked).toHaveLength(MESSAGES);

    await eventually(async () => (await engine.store.search({ channel: 'test', status: 'SENT', limit: MESSAGES })).length === MESSAGES, 60_000, 'queue drained: all SENT');
    expect(await engine.store.search({ channel: 'test', status: 'QUEUED', limit: 5 })).toEqual([]);

    at('all SENT');
    // Read exactly what the topic holds (duplicates included): the sum of its end offsets.
    const admin = createAdmin({ brokers, clientId: 'test' });
    const total = [...(await admin.endOffsets(topic)).values()].reduce((a, n) => a + Number(n), 0);
    await admin.close();
    const records = await readTopic(topic, total, 20_000, brokers);
    expect(records).toHaveLength(total);
    const { missing, duplicates } = tally(records, acked);
    expect(missing).toEqual([]);
    const dupCount = [...duplicates.values()].reduce((a, n) => a + n - 1, 0);
    process.stdout.write(`broker restart: stopped after ~${downAt} sent; ${records.length} records for ${MESSAGES} messages, ${dupCount} duplicate(s)${dupCount ? `: ${[...duplicates.keys()].slice(0, 10).join(', ')}` : ''}\n`);
    expect(records.length).toBe(MESSAGES + dupCount);
    // Per-key order survives the restart: each patient's messages, first copies in sending
    // order (a batch retried whole repeats records, but never goes back before them).
    const firstSeen = new Map<string, number[]>();
    const counted = new Set<string>();
    for (const r of records) {
      const id = r.headers['sluice-control-id'] ?? '';
      if (counted.has(id)) continue;
      counted.add(id);
      firstSeen.set(r.key ?? '', [...(firstSeen.get(r.key ?? '') ?? []), Number(id.slice(1))]);
    }
    expect(firstSeen.size).toBe(40);
    for (const [key, ns] of firstSeen) expect(ns, `order of ${key}`).toEqual([...ns].sort((a, b) => a - b));

    // The consumer side recovered too: the source channel stored every message.
    const storedIds = async (): Promise<Set<string | undefined>> => new Set((await engine.store.search({ channel: 'kin', limit: MESSAGES * 3 })).map((m) => m.controlId));
    await eventually(async () => (await storedIds()).size === MESSAGES, 40_000, 'kafka source stored every message');
    at('source caught up');
  }, 120_000);
});
