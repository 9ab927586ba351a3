/** Shared pieces of the Kafka tests: the test broker, unique topics, reading a topic back. */
import { randomBytes } from 'node:crypto';
import { portAccepts } from '../../engine/kafka/broker.js';
import type { ConsumedRecord } from '../../engine/kafka/client.js';
import { tailTopic } from '../../engine/kafka/tail.js';

/** The broker test/setup/kafka.ts (or scripts/services-up.sh) runs. */
export const TEST_BROKERS = ['127.0.0.1:19092'];

export async function requireBroker(brokers = TEST_BROKERS): Promise<void> {
  const port = Number(brokers[0]!.split(':')[1]);
  if (!(await portAccepts(port, 2000))) throw new Error(`no Kafka broker on ${brokers[0]}: start one with \`sluice kafka up --port ${port} --data .cache/kafka/ci\``);
}

export function uniqueTopic(prefix: string): string {
  return `${prefix}.${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
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
