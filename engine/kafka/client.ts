/**
 * Our own small Kafka client interface, so the library behind it can be swapped. The
 * implementation uses @platformatic/kafka (chosen over kafkajs with numbers, see
 * docs/DECISIONS.md "Kafka client").
 */
import { Admin, Consumer, Producer, ProduceAcks, type Message, type MessagesStream } from '@platformatic/kafka';

export interface KafkaRecord {
  readonly topic: string;
  readonly key?: string;
  readonly value: string | Buffer;
  readonly headers?: Readonly<Record<string, string>>;
}

/** Where a record sits; what the consumer commits (kept without the record's value). */
export interface RecordPosition {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
}

export interface ConsumedRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
  readonly key?: string;
  readonly value: Buffer;
  readonly headers: Readonly<Record<string, string>>;
  readonly timestamp: bigint;
  /** Commit handle of this record (`KafkaConsumer.commit`); holds no payload. */
  readonly position: RecordPosition;
}

export interface ClientOptions {
  readonly brokers: readonly string[];
  readonly clientId: string;
  /** Per-request timeout; default 10 s. */
  readonly requestTimeoutMs?: number;
  /** TLS to the brokers: true (system CAs) or node:tls options (ca, cert, key, servername, ...). */
  readonly tls?: boolean | TlsOptions;
  readonly sasl?: SaslOptions;
}

export interface TlsOptions {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly servername?: string;
  readonly rejectUnauthorized?: boolean;
}

interface SaslOptions {
  readonly mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512';
  readonly username: string;
  readonly password: string;
}

/** Sends records; resolves only after the broker acknowledged them with acks=all (idempotent). */
export interface KafkaProducer {
  send(records: readonly KafkaRecord[]): Promise<void>;
  close(): Promise<void>;
}

export interface ConsumerOptions {
  readonly groupId: string;
  readonly topics: readonly string[];
  /** Where a group without committed offsets starts; default earliest. */
  readonly fromBeginning?: boolean;
  readonly sessionTimeoutMs?: number;
  /** How long `start` keeps trying to join the group; default 30 s. */
  readonly joinTimeoutMs?: number;
}

/**
 * A group member. `start` hands each record to `onRecord` in partition order; the caller
 * commits explicitly (`commit` commits up to and including that record) and may pause
 * and resume fetching. `onError` is called once when the member stopped working (the
 * broker was gone longer than the retries); it does not recover: close it, start another.
 */
export interface KafkaConsumer {
  start(onRecord: (record: ConsumedRecord) => void, onError: (err: Error) => void, group?: GroupEvents): Promise<void>;
  /** Commits up to and including this record (a `ConsumedRecord.position`). */
  commit(position: RecordPosition): Promise<void>;
  pause(): void;
  resume(): void;
  close(): Promise<void>;
}

/** Group membership changes, for a caller that tracks offsets per partition. */
export interface GroupEvents {
  /** The group is rebalancing: commit what is finished now, while the partitions are still ours. */
  onRebalance?(): void;
  /** The member (re)joined with these partitions. */
  onAssignment?(partitions: readonly { topic: string; partition: number }[]): void;
}

export interface KafkaAdmin {
  createTopics(topics: readonly string[], partitions: number, replication: number): Promise<void>;
  listTopics(): Promise<string[]>;
  deleteTopics(topics: readonly string[]): Promise<void>;
  /** The end offset (next offset to be written) of each partition of a topic. */
  endOffsets(topic: string): Promise<Map<number, bigint>>;
  close(): Promise<void>;
}

/** The broker error codes (e.g. TOPIC_ALREADY_EXISTS) anywhere in a (nested) client error. */
export function kafkaErrorCodes(err: unknown): Set<string> {
  const codes = new Set<string>();
  const walk = (e: unknown, depth: number): void => {
    if (!e || typeof e !== 'object' || depth > 4) return;
    const apiId = (e as { apiId?: unknown }).apiId;
    if (typeof apiId === 'string') codes.add(apiId);
    for (const inner of (e as { errors?: unknown[] }).errors ?? []) walk(inner, depth + 1);
  };
  walk(err, 0);
  return codes;
}

/** The message of an error with the broker's error codes of nested errors (AggregateErrors hide them). */
export function describeKafkaError(err: unknown): string {
  const codes = kafkaErrorCodes(err);
  const message = err instanceof Error ? err.message : String(err);
  return codes.size ? `${message} (${[...codes].join(', ')})` : message;
}

/**
 * Broker errors that no retry fixes (the topic name, the rights, the record's size, the
 * broker's policy): the delivery goes straight to ERROR instead of being retried for ever.
 */
const PERMANENT_CODES = new Set([
  'INVALID_TOPIC_EXCEPTION', 'TOPIC_AUTHORIZATION_FAILED', 'CLUSTER_AUTHORIZATION_FAILED', 'POLICY_VIOLATION',
  'MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'INVALID_PARTITIONS', 'INVALID_REPLICATION_FACTOR',
  'INVALID_CONFIG', 'UNSUPPORTED_COMPRESSION_TYPE', 'INVALID_REQUIRED_ACKS',
]);

/** Whether an error carries a permanent broker error code (false: worth a retry). */
export function isPermanentKafkaError(err: unknown): boolean {
  return [...kafkaErrorCodes(err)].some((c) => PERMANENT_CODES.has(c));
}

function isTopicExists(err: unknown): boolean {
  return kafkaErrorCodes(err).has('TOPIC_ALREADY_EXISTS');
}

/** The library's connection options for ours (connection-security.test.ts checks that TLS and SASL reach the broker). */
function base(o: ClientOptions) {
  return {
    clientId: o.clientId, bootstrapBrokers: [...o.brokers], timeout: o.requestTimeoutMs ?? 10_000, retries: 3, retryDelay: 250,
    ...(o.tls ? { tls: o.tls === true ? {} : { ...o.tls } } : {}),
    ...(o.sasl ? { sasl: { mechanism: o.sasl.mechanism, username: o.sasl.username, password: o.sasl.password } } : {}),
  };
}

/**
 * Header names, and each name's last value, as bytes: most headers repeat from record to
 * record (content type, channel, source), and a Buffer per header per record showed in the
 * profile. The library only reads these buffers.
 */
const headerBytes = new Map<string, { name: Buffer; value: string; bytes: Buffer }>();

function toHeaders(h: Readonly<Record<string, string>> | undefined): Map<Buffer, Buffer> | undefined {
  if (!h) return undefined;
  const m = new Map<Buffer, Buffer>();
  for (const k in h) {
    const v = h[k]!;
    let e = headerBytes.get(k);
    if (!e) {
      if (headerBytes.size >= 256) headerBytes.clear();
      e = { name: Buffer.from(k), value: v, bytes: Buffer.from(v) };
      headerBytes.set(k, e);
    } else if (e.value !== v) {
      e.value = v;
      e.bytes = Buffer.from(v);
    }
    m.set(e.name, e.bytes);
  }
  return m;
}

export function createProducer(o: ClientOptions): KafkaProducer {
  const producer = new Producer({ ...base(o), idempotent: true, acks: ProduceAcks.ALL, autocreateTopics: false });
  return {
    async send(records) {
      if (records.length === 0) return;
      await producer.send({
        messages: records.map((r) => ({
          topic: r.topic,
          key: r.key === undefined ? undefined : Buffer.from(r.key),
          value: typeof r.value === 'string' ? Buffer.from(r.value) : r.value,
          headers: toHeaders(r.headers),
        })),
      });
    },
    close: () => producer.close(),
  };
}

function toRecord(m: Message): ConsumedRecord {
  const headers: Record<string, string> = {};
  for (const [k, v] of m.headers) headers[k.toString()] = v.toString();
  const position: RecordPosition = { topic: m.topic, partition: m.partition, offset: m.offset };
  return { topic: m.topic, partition: m.partition, offset: m.offset, key: m.key?.length ? m.key.toString() : undefined, value: m.value ?? Buffer.alloc(0), headers, timestamp: m.timestamp, position };
}

export function createConsumer(o: ClientOptions, c: ConsumerOptions): KafkaConsumer {
  const sessionTimeout = c.sessionTimeoutMs ?? 10_000;
  const consumer = new Consumer({
    ...base(o), groupId: c.groupId, sessionTimeout, heartbeatInterval: Math.min(1000, Math.floor(sessionTimeout / 3)),
    rebalanceTimeout: Math.max(sessionTimeout, 15_000), autocommit: false, maxWaitTime: 500,
  });
  let stream: MessagesStream<Buffer, Buffer, Buffer, Buffer> | undefined;
  // The library's own commit closure knows the leader epoch; keep it per position we handed out.
  const commits = new WeakMap<RecordPosition, Message['commit']>();
  return {
    async start(onRecord, onError, group) {
      if (group?.onRebalance) consumer.on('consumer:group:rebalance', () => group.onRebalance?.());
      if (group?.onAssignment) {
        consumer.on('consumer:group:join', (p: { assignments?: { topic: string; partitions: number[] }[] }) => {
          group.onAssignment?.((p.assignments ?? []).flatMap((a) => a.partitions.map((partition) => ({ topic: a.topic, partition }))));
        });
      }
      // Joining fails while a (re)started broker still loads its group coordinator: retry for a while.
      const deadline = Date.now() + (c.joinTimeoutMs ?? 30_000);
      for (let attempt = 1; ; attempt++) {
        try {
          stream = await consumer.consume({
            topics: [...c.topics], autocommit: false, mode: 'committed', fallbackMode: c.fromBeginning === false ? 'latest' : 'earliest',
            highWaterMark: 256,
          });
          break;
        } catch (err) {
          if (Date.now() > deadline) throw new Error(`cannot join group ${c.groupId}: ${describeKafkaError(err)}`);
          await new Promise((r) => setTimeout(r, Math.min(2000, 100 * attempt)));
        }
      }
      stream.on('data', (m: Message) => {
        const record = toRecord(m);
        commits.set(record.position, m.commit.bind(m));
        onRecord(record);
      });
      // The library's stream ends for good after its retries (e.g. a broker restart): report
      // that as an error too, so the owner can start a new member.
      const s = stream;
      let reported = false;
      const fail = (err: Error): void => { if (!reported && stream === s) { reported = true; onError(err); } };
      s.on('error', fail);
      s.on('close', () => fail(new Error('consumer stream closed')));
    },
    async commit(position) {
      const commit = commits.get(position);
      if (!commit) throw new Error(`record ${position.topic}/${position.partition}/${position.offset} was not handed out by this consumer`);
      await new Promise<void>((resolve, reject) => { commit((err) => (err ? reject(err) : resolve())); });
    },
    pause() { stream?.pause(); },
    resume() { stream?.resume(); },
    async close() {
      const s = stream;
      stream = undefined;
      if (s) await new Promise<void>((resolve) => { s.close(() => resolve()); });
      await new Promise<void>((resolve) => { consumer.close(true, () => resolve()); });
    },
  };
}

export function createAdmin(o: ClientOptions): KafkaAdmin {
  const admin = new Admin(base(o));
  return {
    async createTopics(topics, partitions, replication) {
      for (const topic of topics) {
        try {
          await admin.createTopics({ topics: [topic], partitions, replicas: replication });
        } catch (err) {
          if (!isTopicExists(err)) throw err;
        }
      }
    },
    listTopics: () => admin.listTopics(),
    async deleteTopics(topics) {
      if (topics.length > 0) await admin.deleteTopics({ topics: [...topics] });
    },
    async endOffsets(topic) {
      const meta = await admin.metadata({ topics: [topic] });
      const t = meta.topics.get(topic);
      const out = new Map<number, bigint>();
      if (!t) return out;
      const partitions = Array.from({ length: t.partitionsCount }, (_, i) => ({ partitionIndex: i, timestamp: -1n }));
      const listed = await admin.listOffsets({ topics: [{ name: topic, partitions }] });
      for (const lt of listed) for (const p of lt.partitions) out.set(p.partitionIndex, p.offset);
      return out;
    },
    close: () => admin.close(),
  };
}
