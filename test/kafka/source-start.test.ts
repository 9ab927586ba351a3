import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adt } from '../helpers/channel.js';
import { freePort, messageOf, onClose, startEngine } from '../helpers/engine.js';
import { KafkaConnection } from '../../engine/kafka/connection.js';
import '../../engine/kafka/index.js';
import { deleteTestTopics, requireBroker, TEST_BROKERS, uniqueTopic } from './helpers.js';

/* A Kafka source on a fresh broker (no topics yet) or a broker that is down must not keep the engine from starting. */

beforeAll(() => requireBroker());
afterAll(() => deleteTestTopics());

describe('kafka source start', () => {
  it('creates its missing topic and consumes what is produced afterwards', async () => {
    const topic = uniqueTopic('fresh');
    const engine = await startEngine({
      name: 'fresh', source: { kafka: { topics: topic, brokers: TEST_BROKERS, commitInterval: 50 } },
      destinations: {},
    });
    const conn = new KafkaConnection({ brokers: TEST_BROKERS });
    onClose(() => conn.close());
    await conn.producer.send([{ topic, key: 'MRN1', value: adt('FRESH1', 'MRN1') }]);
    const m = await messageOf(engine.store, 'FRESH1', 'fresh');
    expect(m.sourceKind).toBe('kafka');
  });

  it('with no broker answering, the channel still starts, other channels run, and stop is prompt', async () => {
    const dead = await freePort();
    const started = Date.now();
    const engine = await startEngine([
      { name: 'down', source: { kafka: { topics: 'never', brokers: [`127.0.0.1:${dead}`] } }, destinations: {} },
      { name: 'up', source: { http: { port: 0 } }, destinations: {} },
    ]);
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(engine.channel('up')!.state).toBe('started');
    expect(engine.channel('down')!.state).toBe('started');
    const stopping = Date.now();
    await engine.stop();
    expect(Date.now() - stopping).toBeLessThan(5_000);
  });
});
