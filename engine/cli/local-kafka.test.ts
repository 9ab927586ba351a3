import { afterEach, describe, expect, it } from 'vitest';
import { channelConfig, tempEngineConfig } from '../../test/helpers/channel.js';
import { freePort } from '../../test/helpers/net.js';
import { Capture } from '../../test/helpers/streams.js';
import { ensureLocalKafka, needsLocalBroker } from './local-kafka.js';

const kafkaChannel = (options: Record<string, unknown> = { topic: 't' }) =>
  channelConfig({ name: 'k', source: { http: { port: 0 } }, destinations: { out: { kafka: options } } });
const fileChannel = () => channelConfig({ name: 'f', source: { http: { port: 0 } }, destinations: { out: { file: { dir: '/tmp/x' } } } });

const savedEnv = { ...process.env };
afterEach(() => { process.env = { ...savedEnv }; });

describe('sluice run --local-kafka', () => {
  it('wants the local broker only for Kafka components with no brokers configured', async () => {
    delete process.env.SLUICE_KAFKA_BROKERS;
    const engine = await tempEngineConfig();
    expect(needsLocalBroker(engine, [fileChannel()])).toBe(false);
    expect(needsLocalBroker(engine, [fileChannel(), kafkaChannel()])).toBe(true);
    expect(needsLocalBroker(engine, [kafkaChannel({ topic: 't', brokers: ['kafka:9092'] })])).toBe(false);
    expect(needsLocalBroker({ ...engine, connections: { k: { component: 'kafka', options: { brokers: ['kafka:9092'] } } } }, [kafkaChannel()])).toBe(false);
    process.env.SLUICE_KAFKA_BROKERS = 'kafka:9092';
    expect(needsLocalBroker(engine, [kafkaChannel()])).toBe(false);
  });

  it('without Java, says Kafka deliveries will queue and starts nothing', async () => {
    delete process.env.SLUICE_KAFKA_BROKERS;
    const engine = await tempEngineConfig();
    const port = await freePort();
    process.env.JAVA_HOME = '/nonexistent-java-home';
    process.env.PATH = '/nonexistent-bin';
    const out = new Capture();
    const stop = await ensureLocalKafka(engine, [kafkaChannel()], out, port);
    await stop();
    expect(out.text).toMatch(new RegExp(`no broker on 127\\.0\\.0\\.1:${port} and`));
    expect(out.text).toMatch(/ .*Java.*Kafka deliveries will queue/s);
  });
});
