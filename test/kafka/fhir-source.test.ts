import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseHl7 } from '../../engine/hl7/index.js';
import { freePort, httpSink, startEngine } from '../helpers/engine.js';
import { eventually } from '../helpers/http-sink.js';
import { observationJson } from '../helpers/fhir.js';
import { deleteTestTopics, requireBroker, TEST_BROKERS, topicWith, uniqueTopic } from './helpers.js';

beforeAll(() => requireBroker());
afterAll(() => deleteTestTopics());

const observation = (id: string, patient: string, value: number) => observationJson({ id, patient, value, code: '8867-4', display: 'Heart rate', unit: '/min' });

describe('FHIR from Kafka to HL7 v2 over MLLP (real broker)', () => {
  it('turns each Observation record into an ORU^R01 delivered over MLLP, in order per patient', async () => {
    const records = Array.from({ length: 30 }, (_, i) => ({ key: `Patient/p${i % 3}`, value: observation(`o${i}`, `p${i % 3}`, 60 + i) }));
    const topic = await topicWith(records, 3, 'fhir-obs');

    const { sink, url } = await httpSink();
    const lisPort = await freePort();
    const engine = await startEngine([
      { name: 'lis', source: { mllp: { port: lisPort } }, destinations: { out: { http: { url } } } },
      {
        name: 'obs', dataType: 'fhir',
        source: { kafka: { topics: topic, brokers: TEST_BROKERS, groupId: uniqueTopic('obs-group'), commitInterval: 50 } },
        steps: [{ fhirToV2: { receivingApplication: 'LIS' } }],
        destinations: { lis: { mllp: { host: '127.0.0.1', port: lisPort } } },
      },
    ]);
    await eventually(() => sink.bodies.length >= 30, 30_000, '30 ORU^R01 at the LIS');
    const results = sink.bodies.map((b) => parseHl7(b));
    expect(results.every((m) => m.messageType === 'ORU^R01' && m.get('MSH-5') === 'LIS')).toBe(true);
    // Each value 60+i identifies record i (patient p{i%3}); per patient, values arrive in production order.
    const values = results.map((m) => Number(m.get('OBX-5')));
    expect([...values].sort((a, b) => a - b)).toEqual(records.map((_, i) => 60 + i));
    for (const p of [0, 1, 2]) {
      const arrived = values.filter((v) => (v - 60) % 3 === p);
      expect(arrived, `patient p${p}`).toEqual([...arrived].sort((a, b) => a - b));
    }

    const stored = await engine.store.search({ channel: 'obs' });
    expect(stored).toHaveLength(30);
    expect(new Set(stored.map((m) => m.orderingKey))).toEqual(new Set(['Patient/p0', 'Patient/p1', 'Patient/p2']));
  });
});
