import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adt } from '../helpers/channel.js';
import { eventually } from '../helpers/http-sink.js';
import { mllpPort, mllpSender, startEngine } from '../helpers/engine.js';
import { deleteTestTopics, readTopic, requireBroker, tally, TEST_BROKERS, uniqueTopic } from './helpers.js';

/*
 * 2,000 ADT messages for 50 patients, interleaved over 8 MLLP connections, through
 * v2ToFhir into a Kafka topic: every message exactly once, each patient's in order.
 * Each patient is sent on one connection, one message at a time, so the order in which
 * the engine received a patient's messages is known: P<n>-<seq> with seq counting up.
 */
const MESSAGES = 2000;
const PATIENTS = 50;
const CONNECTIONS = 8;

beforeAll(() => requireBroker());
afterAll(() => deleteTestTopics());

describe('MLLP → v2ToFhir → Kafka', () => {
  it(`delivers ${MESSAGES} messages for ${PATIENTS} patients exactly once, in order per patient`, async () => {
    const topic = uniqueTopic('adt.fhir');
    const engine = await startEngine({
      source: { mllp: { port: 0 } },
      steps: [{ v2ToFhir: { provenance: false } }],
      destinations: { out: { kafka: { topic, brokers: TEST_BROKERS, partitions: 6 }, queue: { concurrency: 32 } } },
    });
    const port = mllpPort(engine);

    // Message i belongs to patient i % 50; the patient's connection is patient % 8.
    const perConnection: string[][] = Array.from({ length: CONNECTIONS }, () => []);
    const seq = new Map<number, number>();
    for (let i = 0; i < MESSAGES; i++) {
      const p = i % PATIENTS;
      const n = (seq.get(p) ?? 0) + 1;
      seq.set(p, n);
      perConnection[p % CONNECTIONS]!.push(`P${p}-${n}`);
    }
    const started = performance.now();
    await Promise.all(perConnection.map(async (ids) => {
      const sender = mllpSender(port, 15_000);
      for (const id of ids) {
        const ack = await sender.send(adt(id, id.split('-')[0]!));
        if (ack.code !== 'AA') throw new Error(`${id}: ${ack.code}`);
      }
    }));
    const ackedMs = performance.now() - started;
    await eventually(async () => (await engine.store.search({ channel: 'test', status: 'SENT', limit: MESSAGES })).length === MESSAGES, 40_000, 'all SENT');
    const sentMs = performance.now() - started;

    const records = await readTopic(topic, MESSAGES, 30_000);
    const expected = perConnection.flat();
    const { missing, duplicates } = tally(records, expected);
    expect(missing).toEqual([]);
    expect([...duplicates]).toEqual([]);
    expect(records).toHaveLength(MESSAGES);

    // Per patient: one key, one partition, sequence numbers strictly increasing in offset order.
    const byKey = new Map<string, { partition: number; seqs: { offset: bigint; seq: number }[] }>();
    for (const r of records) {
      const [patient, n] = r.headers['sluice-control-id']!.split('-');
      expect(r.key).toBe(patient);
      const entry = byKey.get(r.key!) ?? { partition: r.partition, seqs: [] };
      expect(r.partition).toBe(entry.partition);
      entry.seqs.push({ offset: r.offset, seq: Number(n) });
      byKey.set(r.key!, entry);
    }
    expect(byKey.size).toBe(PATIENTS);
    for (const [key, { seqs }] of byKey) {
      const inOffsetOrder = seqs.sort((a, b) => (a.offset < b.offset ? -1 : 1)).map((s) => s.seq);
      expect(inOffsetOrder, key).toEqual(Array.from({ length: MESSAGES / PATIENTS }, (_, i) => i + 1));
    }
    const bundle = JSON.parse(records[0]!.value.toString()) as { resourceType: string };
    expect(bundle.resourceType).toBe('Bundle');
    process.stdout.write(`mllp→fhir→kafka: ${MESSAGES} ACKed in ${Math.round(ackedMs)} ms, all SENT after ${Math.round(sentMs)} ms\n`);
  }, 90_000);
});
