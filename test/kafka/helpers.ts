/** Shared pieces of the Kafka tests: the test broker, unique topics, writing and reading a topic, a source. */
import { randomBytes } from 'node:crypto';
import type { Source } from '../../engine/channel/types.js';
import { portAccepts } from '../../engine/kafka/broker.js';
import { createAdmin, type ConsumedRecord, type KafkaRecord } from '../../engine/kafka/client.js';
import { KafkaConnection } from '../../engine/kafka/connection.js';
import { tailTopic } from '../../engine/kafka/tail.js';
import { silentLogger } from '../../engine/log.js';
import { getComponent } from '../../engine/registry.js';
import '../../engine/kafka/index.js';
import { onClose } from '../helpers/engine.js';

/** The broker test/setup/kafka.ts (or scripts/services-up.sh) runs. */
export const TEST_BROKERS = ['127.0.0.1:19092'];

export async function requireBroker(brokers = TEST_BROKERS): Promise<void> {
  const port = Number(brokers[0]!.split(':')[1]);
  if (!(await portAccepts(port, 2000))) throw new Error(`no Kafka broker on ${brokers[0]}: start one with \`sluice kafka up --port ${port} --data .cache/kafka/ci\``);
}

/** Unique names handed out by this test file: topics named by them (or starting with them) are deleted by `deleteTestTopics`. */
const handedOut = new Set<string>();

export function uniqueTopic(prefix: string): string {
  const name = `${prefix}.${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  handedOut.add(name);
  return name;
}

/**
 * Deletes the topics of this test file (call it in afterAll): the shared test broker would
 * otherwise keep every partition dir of every run, and its start gets slower with each.
 */
export async function deleteTestTopics(brokers = TEST_BROKERS): Promise<void> {
  if (handedOut.size === 0) return;
  const admin = createAdmin({ brokers, clientId: 'test-cleanup', requestTimeoutMs: 5000 });
  try {
    const names = [...handedOut];
    const ours = (await admin.listTopics()).filter((t) => names.some((n) => t === n || t.startsWith(`${n}.`)));
    if (ours.length > 0) await admin.deleteTopics(ours);
    handedOut.clear();
  } catch {
    // A broker that is gone (the restart test's own) has nothing left to clean.
  } finally {
    await admin.close().catch(() => undefined);
  }
}

/** A new topic (named by `uniqueTopic(prefix)`) with `partitions` partitions, holding these records (sent 500 per request). */
export async function topicWith(records: readonly Omit<KafkaRecord, 'topic'>[], partitions = 1, prefix = 'flow'): Promise<string> {
  const topic = uniqueTopic(prefix);
  const conn = new KafkaConnection({ brokers: TEST_BROKERS });
  try {
    await conn.ensureTopics([topic], partitions, 1);
    for (let i = 0; i < records.length; i += 500) await conn.producer.send(records.slice(i, i + 500).map((r) => ({ topic, ...r })));
  } finally {
    await conn.close();
  }
  return topic;
}

/** A Kafka source on the test broker (own group, commits every 20 ms unless `options` say otherwise), stopped after the test. */
export function kafkaSource(options: Record<string, unknown>, channel = 'flow'): Source {
  const spec = getComponent('source', 'kafka')!;
  const source = spec.create(spec.schema.parse({ brokers: TEST_BROKERS, groupId: uniqueTopic('group'), commitInterval: 20, ...options }), { channel, dataDir: '.', logger: silentLogger }) as Source;
  onClose(() => source.stop());
  return source;
}

/** Reads a topic from the beginning until `count` records (or the timeout); returns what it read. */
export async function readTopic(topic: string, count: number, timeoutMs = 20_000, brokers = TEST_BROKERS): Promise<ConsumedRecord[]> {
  const records: ConsumedRecord[] = [];
  await tailTopic({ brokers, topic, fromBeginning: true, count, timeoutMs, onRecord: (r) => records.push(r) });
  return records;
}

/** Counts records per `sluice-control-id` header: missing ids and duplicates. */
export function tally(records: readonly ConsumedRecord[], expected: readonly string[]): { missing: string[]; duplicates: Map<string, number> } {
  const seen = new Map<string, number>();
  for (const r of records) {
    const id = r.headers['sluice-control-id'] ?? '';
    seen.set(id, (seen.get(id) ?? 0) + 1);
  }
  const duplicates = new Map([...seen].filter(([, n]) => n > 1));
  return { missing: expected.filter((id) => !seen.has(id)), duplicates };
}

/** The committed offset of a group on one partition (undefined: nothing committed). */
export async function committedOffset(groupId: string, topic: string, partition: number, brokers = TEST_BROKERS): Promise<bigint | undefined> {
  const { Consumer } = await import('@platformatic/kafka');
  const c = new Consumer({ clientId: 'test', groupId, bootstrapBrokers: brokers });
  try {
    const offsets = await c.listCommittedOffsets({ topics: [{ topic, partitions: [partition] }] });
    const o = offsets.get(topic)?.[partition];
    return o === undefined || o < 0n ? undefined : o;
  } finally {
    await c.close(true);
  }
}
