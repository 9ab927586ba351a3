import { randomBytes } from 'node:crypto';
import { createConsumer, describeKafkaError, type ConsumedRecord } from './client.js';

export interface TailOptions {
  readonly brokers: readonly string[];
  readonly topic: string;
  readonly fromBeginning: boolean;
  /** Stop after this many records. */
  readonly count?: number;
  /** Stop after this long in any case. */
  readonly timeoutMs: number;
  readonly onRecord: (r: ConsumedRecord) => void;
}

/** One JSON line per record: key, headers and the value as text. */
export function recordLine(r: ConsumedRecord): string {
  return JSON.stringify({ topic: r.topic, partition: r.partition, offset: String(r.offset), timestamp: String(r.timestamp), key: r.key ?? null, headers: r.headers, value: r.value.toString('utf8') });
}

/**
 * Reads a topic without committing anything (a throwaway group), until `count` records or
 * the timeout. Resolves with the number of records seen.
 */
export async function tailTopic(o: TailOptions): Promise<number> {
  const consumer = createConsumer({ brokers: o.brokers, clientId: 'sluice-tail' }, {
    groupId: `sluice-tail-${randomBytes(6).toString('hex')}`, topics: [o.topic], fromBeginning: o.fromBeginning, sessionTimeoutMs: 6000,
  });
  let seen = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, o.timeoutMs);
      if (o.count === 0) { clearTimeout(timer); resolve(); return; }
      consumer.start((r) => {
        if (o.count !== undefined && seen >= o.count) return;
        seen++;
        o.onRecord(r);
        if (o.count !== undefined && seen >= o.count) { clearTimeout(timer); resolve(); }
      }, (err) => { clearTimeout(timer); reject(new Error(describeKafkaError(err))); }).catch((err: unknown) => { clearTimeout(timer); reject(err as Error); });
    });
  } finally {
    await consumer.close();
  }
  return seen;
}
