import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adt } from '../helpers/channel.js';
import { messageOf, mllpPort, mllpSender, startEngine, untilStatus } from '../helpers/engine.js';
import { deleteTestTopics, readTopic, requireBroker, TEST_BROKERS, uniqueTopic } from './helpers.js';

/* Review findings 5 and 6 (issue 5): faults no retry fixes are permanent errors, not endless retries. */

beforeAll(() => requireBroker());
afterAll(() => deleteTestTopics());

const RETRYING = { maxAttempts: 1000, backoff: { initial: 50, max: 200, factor: 2 } };

describe('kafka destination permanent errors', () => {
  it('refuses an illegal rendered topic name (character, length) as a permanent error naming the problem', async () => {
    const prefix = uniqueTopic('bad');
    const engine = await startEngine([
      { name: 'space', source: { mllp: { port: 0 } }, destinations: { out: { kafka: { topic: `${prefix} in.{MSH-4}`, brokers: TEST_BROKERS }, queue: RETRYING } } },
      { name: 'long', source: { mllp: { port: 0 } }, destinations: { out: { kafka: { topic: `${prefix}.${'x'.repeat(240)}.{MSH-4}`, brokers: TEST_BROKERS }, queue: RETRYING } } },
    ]);
    await mllpSender(mllpPort(engine, 'space')).send(adt('T1', 'MRN1'));
    await mllpSender(mllpPort(engine, 'long')).send(adt('T2', 'MRN1'));
    const space = await untilStatus(engine.store, (await messageOf(engine.store, 'T1', 'space')).id, 'ERROR', 10_000);
    expect(space.deliveries[0]?.error).toMatch(/has the character " " \(Kafka allows a-z A-Z 0-9 \. _ -\)/);
    const long = await untilStatus(engine.store, (await messageOf(engine.store, 'T2', 'long')).id, 'ERROR', 10_000);
    expect(long.deliveries[0]?.error).toMatch(/characters long \(Kafka allows 249\)/);
  });

  it('caps the topics one destination creates on demand (maxTopics)', async () => {
    const prefix = uniqueTopic('many');
    const engine = await startEngine({ source: { mllp: { port: 0 } }, destinations: { out: { kafka: { topic: `${prefix}.{controlId}`, brokers: TEST_BROKERS, partitions: 1, maxTopics: 2 }, queue: RETRYING } } });
    const sender = mllpSender(mllpPort(engine));
    for (const id of ['M1', 'M2', 'M3']) await sender.send(adt(id, 'MRN1'));
    for (const id of ['M1', 'M2']) await untilStatus(engine.store, (await messageOf(engine.store, id)).id, 'SENT', 15_000);
    const third = await untilStatus(engine.store, (await messageOf(engine.store, 'M3')).id, 'ERROR', 15_000);
    expect(third.deliveries[0]?.error).toMatch(/maxTopics: 2/);
  });

  it('fails a record the broker finds too large for good, and only that one of its batch', async () => {
    const topic = uniqueTopic('large');
    const engine = await startEngine({
      source: { mllp: { port: 0 } },
      destinations: { out: { kafka: { topic, brokers: TEST_BROKERS, partitions: 1 }, queue: { ...RETRYING, concurrency: 4 } } },
    });
    const port = mllpPort(engine);
    // The broker's default limit is about 1 MB per record batch.
    const huge = adt('L1', 'MRN1', `\rNTE|1||${'x'.repeat(1_200_000)}`);
    await Promise.all([mllpSender(port, 15_000).send(huge), mllpSender(port).send(adt('L2', 'MRN2'))]);
    const large = await untilStatus(engine.store, (await messageOf(engine.store, 'L1')).id, 'ERROR', 20_000);
    expect(large.deliveries[0]?.error).toMatch(/MESSAGE_TOO_LARGE|RECORD_LIST_TOO_LARGE/);
    await untilStatus(engine.store, (await messageOf(engine.store, 'L2')).id, 'SENT', 20_000);
    const [record] = await readTopic(topic, 1);
    expect(record?.headers['sluice-control-id']).toBe('L2');
  });
});
