import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adt, tempEngineConfig } from '../helpers/channel.js';
import { Capture } from '../helpers/streams.js';
import { main } from '../../engine/cli/main.js';
import { eventually } from '../helpers/http-sink.js';
import { freePort, FAST_QUEUE, messageOf, mllpPort, mllpSender, onClose, sleep, startEngine, untilStatus } from '../helpers/engine.js';
import { createAdmin } from '../../engine/kafka/client.js';
import { kafkaConnectionSchema } from '../../engine/kafka/connection.js';
import type { Intake } from '../../engine/channel/types.js';
import { committedOffset, deleteTestTopics, kafkaSource, readTopic, requireBroker, TEST_BROKERS, topicWith, uniqueTopic } from './helpers.js';

beforeAll(() => requireBroker());
afterAll(() => deleteTestTopics());

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

  it("uses the engine's only kafka connection when none is named", async () => {
    const topic = uniqueTopic('conn');
    const config = await tempEngineConfig({ connections: { 'test-kafka': { component: 'kafka', options: kafkaConnectionSchema.parse({ brokers: TEST_BROKERS, clientId: 'conn-test' }) } } });
    onClose(() => rm(config.dataDir, { recursive: true, force: true }));
    const engine = await startEngine({ source: { mllp: { port: 0 } }, destinations: { out: { kafka: { topic } } } }, { config });
    await mllpSender(mllpPort(engine)).send(adt('N1', 'MRN9'));
    await untilStatus(engine.store, (await messageOf(engine.store, 'N1')).id, 'SENT', 15_000);
    expect((await readTopic(topic, 1))[0]?.key).toBe('MRN9');
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
    const topic = await topicWith([
      { key: 'MRN1', value: adt('S1', 'MRN1') },
      { key: 'MRN1', value: 'this is not HL7' },
      { key: 'MRN1', value: adt('S2', 'MRN1') },
    ], 2, 'in');
    const dlq = `${topic}.dlq`;
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
    expect(dead?.headers['sluice-error']).toBe('rejected'); // a fixed reason: the error text can quote the payload

    // Every offset of the partition is committed: 3 records → committed offset 3.
    const admin = createAdmin({ brokers: TEST_BROKERS, clientId: 'test' });
    onClose(() => admin.close());
    const ends = await admin.endOffsets(topic);
    const partition = [...ends].find(([, end]) => end === 3n)?.[0];
    expect(partition).toBeDefined();
    await eventually(async () => (await committedOffset(groupId, topic, partition!)) === 3n, 10_000, 'offset 3 committed');
  });
});

describe('kafka source flow control', () => {
  it('keeps at most maxInFlight records at the intake, one key in order, and retries a store failure', async () => {
    const total = 120;
    const topic = await topicWith(Array.from({ length: total }, (_, i) => ({ key: `K${i % 6}`, value: `${i}` })), 2, 'flow');

    const source = kafkaSource({ topics: topic, groupId: uniqueTopic('flow'), maxInFlight: 4 });
    let active = 0;
    let peak = 0;
    let failedOnce = false;
    const order = new Map<string, number[]>();
    const sourceIds = new Set<string>();
    // The channel's side of the contract, slowed down: 'error' (store failure) must be retried.
    const intake: Intake = async (raw, meta) => {
      active++;
      peak = Math.max(peak, active);
      await sleep(5);
      active--;
      const n = Number(Buffer.from(raw).toString());
      if (n === 7 && !failedOnce) { failedOnce = true; return { status: 'error', ackCode: 'AE', text: 'store down' }; }
      const key = (meta as { key?: string }).key ?? '';
      order.set(key, [...(order.get(key) ?? []), n]);
      sourceIds.add(meta.sourceId ?? '');
      return { status: 'accepted', ackCode: 'AA' };
    };
    await source.start(intake);
    await eventually(() => sourceIds.size === total, 20_000, `${total} records accepted`);
    expect(peak).toBeLessThanOrEqual(4);
    expect(peak).toBeGreaterThan(1); // different keys do run in parallel
    expect(failedOnce).toBe(true);
    for (const [key, ns] of order) expect(ns, key).toEqual([...ns].sort((a, b) => a - b));
    expect([...sourceIds][0]).toMatch(new RegExp(`^${topic.replace(/\./g, '\\.')}/[01]/\\d+$`));
  });
});

describe('sluice kafka tail', () => {
  it('prints records as JSON lines with key, headers and value; exits 1 when --count is not reached in time', async () => {
    const topic = await topicWith([
      { key: 'MRN1', value: 'first', headers: { 'sluice-control-id': 'T1' } },
      { key: 'MRN1', value: 'second', headers: { 'sluice-control-id': 'T2' } },
    ], 1, 'tail');
    const out = new Capture();
    const err = new Capture();
    const code = await main(['kafka', 'tail', topic, '--brokers', TEST_BROKERS.join(','), '--from-beginning', '--count', '2', '--timeout', '15s'], { out, err });
    expect(err.text).toBe('');
    expect(code).toBe(0);
    const lines = out.text.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toMatchObject([
      { topic, partition: 0, offset: '0', key: 'MRN1', headers: { 'sluice-control-id': 'T1' }, value: 'first' },
      { topic, partition: 0, offset: '1', key: 'MRN1', headers: { 'sluice-control-id': 'T2' }, value: 'second' },
    ]);

    const short = new Capture();
    const shortErr = new Capture();
    expect(await main(['kafka', 'tail', topic, '--brokers', TEST_BROKERS.join(','), '--from-beginning', '--count', '3', '--timeout', '3s'], { out: short, err: shortErr })).toBe(1);
    expect(short.text.trim().split('\n')).toHaveLength(2);
    expect(shortErr.text).toMatch(/2 of 3 records/);
  });
});
