import { beforeAll, describe, expect, it } from 'vitest';
import { adt } from '../helpers/channel.js';
import { eventually } from '../helpers/http-sink.js';
import { freePort, FAST_QUEUE, messageOf, mllpPort, mllpSender, onClose, startEngine, untilStatus } from '../helpers/engine.js';
import { createAdmin } from '../../engine/kafka/client.js';
import { KafkaConnection } from '../../engine/kafka/connection.js';
import { readTopic, requireBroker, TEST_BROKERS, uniqueTopic } from './helpers.js';

beforeAll(() => requireBroker());

describe('kafka destination', () => {
  it('sends raw HL7 keyed by patient to a templated topic, with the headers, SENT after the ack', async () => {
    const prefix = uniqueTopic('hl7');
    const engine = await startEngine({
      source: { mllp: { port: 0 } },
      destinations: { out: { kafka: { topic: `${prefix}.{MSH-9.1}.{MSH-4}`, brokers: TEST_BROKERS } } },
    });
    const ack = await mllpSender(mllpPort(engine)).send(adt('K1', 'MRN77'));
    expect(ack.code).toBe('AA');
    const m = await messageOf(engine.store, 'K1');
    await untilStatus(engine.store, m.id, 'SENT', 15_000);

    const [record] = await readTopic(`${prefix}.ADT.HOSP`, 1);
    expect(record?.key).toBe('MRN77');
    expect(record?.value.toString()).toBe(adt('K1', 'MRN77'));
    expect(record?.headers).toEqual({
      'content-type': 'x-application/hl7-v2+er7', 'sluice-message-type': 'ADT^A01', 'sluice-control-id': 'K1',
      'sluice-channel': 'test', 'sluice-source': expect.stringMatching(/^mllp:127\.0\.0\.1:\d+$/), 'sluice-message-id': m.id,
    });
  });

  it('writes one FHIR record per Bundle resource to fhir.{resourceType}, all keyed by the patient', async () => {
    const prefix = uniqueTopic('fhir');
    const engine = await startEngine({
      source: { mllp: { port: 0 } },
      steps: [{ v2ToFhir: { provenance: false } }],
      destinations: { out: { kafka: { topic: `${prefix}.{resourceType}`, perResource: true, brokers: TEST_BROKERS } } },
    });
    expect((await mllpSender(mllpPort(engine)).send(adt('F1', 'MRN5'))).code).toBe('AA');
    await untilStatus(engine.store, (await messageOf(engine.store, 'F1')).id, 'SENT', 15_000);
    const [patient] = await readTopic(`${prefix}.Patient`, 1);
    expect(patient?.key).toBe('MRN5');
    expect(patient?.headers['content-type']).toBe('application/fhir+json');
    expect(patient?.headers['sluice-message-type']).toBe('ADT^A01');
    expect(JSON.parse(patient!.value.toString())).toMatchObject({ resourceType: 'Patient' });
    const [encounter] = await readTopic(`${prefix}.Encounter`, 1);
    expect(encounter?.key).toBe('MRN5');
  });

  it('is a permanent error when the topic must exist and does not', async () => {
    const engine = await startEngine({
      source: { mllp: { port: 0 } },
      destinations: { out: { kafka: { topic: uniqueTopic('absent'), createTopics: false, brokers: TEST_BROKERS } } },
    });
    await mllpSender(mllpPort(engine)).send(adt('A1', 'MRN1'));
    const detail = await untilStatus(engine.store, (await messageOf(engine.store, 'A1')).id, 'ERROR', 15_000);
    expect(detail.deliveries[0]?.error).toMatch(/does not exist/);
  });

  it('queues the message (transient) while no broker answers', async () => {
    const dead = `127.0.0.1:${await freePort()}`;
    const engine = await startEngine({
      source: { mllp: { port: 0 } },
      destinations: { out: { kafka: { topic: 'never', brokers: [dead] }, queue: FAST_QUEUE } },
    });
    await mllpSender(mllpPort(engine)).send(adt('Q1', 'MRN1'));
    const detail = await untilStatus(engine.store, (await messageOf(engine.store, 'Q1')).id, 'QUEUED', 15_000);
    expect(detail.deliveries[0]?.error).toMatch(/Kafka/);
  });
});

describe('kafka source', () => {
  it('stores each record, sends poison records to ERROR and the dead-letter topic, and commits past both', async () => {
    const topic = uniqueTopic('in');
    const dlq = `${topic}.dlq`;
    const conn = new KafkaConnection({ brokers: TEST_BROKERS });
    onClose(() => conn.close());
    await conn.ensureTopics([topic], 2, 1);
    await conn.producer.send([
      { topic, key: 'MRN1', value: adt('S1', 'MRN1') },
      { topic, key: 'MRN1', value: 'this is not HL7' },
      { topic, key: 'MRN1', value: adt('S2', 'MRN1') },
    ]);
    const groupId = uniqueTopic('group');
    const engine = await startEngine({
      name: 'kin',
      source: { kafka: { topics: topic, groupId, brokers: TEST_BROKERS, deadLetterTopic: dlq, commitInterval: 50 } },
      destinations: {},
    });
    const s1 = await messageOf(engine.store, 'S1', 'kin');
    await messageOf(engine.store, 'S2', 'kin');
    expect(s1.sourceKind).toBe('kafka');
    const errors = await engine.store.search({ channel: 'kin', status: 'ERROR' });
    expect(errors).toHaveLength(1);
    const [dead] = await readTopic(dlq, 1);
    expect(dead?.value.toString()).toBe('this is not HL7');
    expect(dead?.headers['sluice-error']).toMatch(/not a valid HL7/);

    // Every offset of the partition is committed: 3 records → committed offset 3.
    const admin = createAdmin({ brokers: TEST_BROKERS, clientId: 'test' });
    onClose(() => admin.close());
    const ends = await admin.endOffsets(topic);
    const partition = [...ends].find(([, end]) => end === 3n)?.[0];
    expect(partition).toBeDefined();
    await eventually(async () => (await committedOffset(groupId, topic, partition!)) === 3n, 10_000, 'offset 3 committed');
  });
});

async function committedOffset(groupId: string, topic: string, partition: number): Promise<bigint | undefined> {
  const { Consumer } = await import('@platformatic/kafka');
  const c = new Consumer({ clientId: 'test', groupId, bootstrapBrokers: TEST_BROKERS });
  try {
    const offsets = await c.listCommittedOffsets({ topics: [{ topic, partitions: [partition] }] });
    return offsets.get(topic)?.[partition];
  } finally {
    await c.close(true);
  }
}
