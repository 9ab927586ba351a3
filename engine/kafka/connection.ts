import { z } from 'zod';
import { zDuration } from '../duration.js';
import { clientTlsSchema } from '../channel/components/tls.js';
import { registerComponent, type CreateContext } from '../registry.js';
import { BatchingProducer, type BatchOptions } from './batcher.js';
import { createAdmin, createConsumer, type ClientOptions, type ConsumerOptions, type KafkaAdmin, type KafkaConsumer } from './client.js';

/** The local broker `sluice kafka up` starts, unless SLUICE_KAFKA_BROKERS says otherwise. */
export function defaultBrokers(): string[] {
  const env = process.env.SLUICE_KAFKA_BROKERS?.trim();
  return env ? env.split(',').map((b) => b.trim()).filter(Boolean) : ['127.0.0.1:9092'];
}

export const kafkaConnectionSchema = z.object({
  brokers: z.array(z.string().regex(/^[^\s:]+:\d+$/, { error: 'expected host:port' })).min(1).optional().describe('bootstrap brokers; default SLUICE_KAFKA_BROKERS or 127.0.0.1:9092'),
  clientId: z.string().default('sluice'),
  requestTimeout: zDuration.default(10_000).describe('per request'),
  linger: zDuration.default(2).describe('how long a record may wait to share a produce request'),
  maxBatch: z.number().int().positive().default(500).describe('records per produce request at most'),
  tls: z.union([z.literal(true), clientTlsSchema]).optional().describe('TLS to the brokers: true (system CAs) or { ca, cert, key, servername, rejectUnauthorized } as PEM, e.g. ca: "${file:/run/secrets/kafka-ca.pem}"'),
  sasl: z.object({
    mechanism: z.enum(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512']),
    username: z.string().min(1),
    password: z.string().min(1).describe('use ${env:...} or ${file:...}; never the value itself'),
  }).strict().optional().describe('SASL authentication (with tls, so the password is not sent in clear)'),
}).strict();
export type KafkaConnectionOptions = z.output<typeof kafkaConnectionSchema>;

/**
 * One Kafka cluster as the engine sees it: one shared batching producer (idempotent,
 * acks=all), one admin client and a consumer per group member. Created lazily, closed by
 * the engine on stop.
 */
export class KafkaConnection {
  readonly client: ClientOptions;
  private producerValue: BatchingProducer | undefined;
  private adminValue: KafkaAdmin | undefined;
  private readonly knownTopics = new Set<string>();
  private readonly creating = new Map<string, Promise<void>>();
  private readonly consumers = new Set<KafkaConsumer>();

  constructor(o: Partial<KafkaConnectionOptions> = {}) {
    this.client = { brokers: o.brokers ?? defaultBrokers(), clientId: o.clientId ?? 'sluice', requestTimeoutMs: o.requestTimeout ?? 10_000, tls: o.tls, sasl: o.sasl };
    this.batch = { lingerMs: o.linger ?? 2, maxBatch: o.maxBatch ?? 500 };
  }

  private readonly batch: BatchOptions;

  get producer(): BatchingProducer {
    return (this.producerValue ??= new BatchingProducer(this.client, this.batch));
  }

  get admin(): KafkaAdmin {
    return (this.adminValue ??= createAdmin(this.client));
  }

  consumer(o: ConsumerOptions): KafkaConsumer {
    const c = createConsumer(this.client, o);
    this.consumers.add(c);
    const close = c.close.bind(c);
    return { ...c, close: async () => { this.consumers.delete(c); await close(); } };
  }

  /** Creates the topics not yet seen by this connection (an existing topic is fine). */
  ensureTopics(topics: readonly string[], partitions: number, replication: number): Promise<void> {
    const missing = topics.filter((t) => !this.knownTopics.has(t));
    if (missing.length === 0) return Promise.resolve();
    // Concurrent deliveries to a new topic share one creation.
    const key = missing.join('\u0000');
    let creating = this.creating.get(key);
    if (!creating) {
      creating = this.createTopics(missing, partitions, replication).finally(() => this.creating.delete(key));
      this.creating.set(key, creating);
    }
    return creating;
  }

  private async createTopics(missing: readonly string[], partitions: number, replication: number): Promise<void> {
    await this.admin.createTopics(missing, partitions, replication);
    // A produce to a topic whose partitions have no leader yet fails in part; the retry of the
    // whole batch would then duplicate the partitions that did succeed. Wait for the leaders.
    // Still leaderless after the wait: an error the delivery retries (transient), and the
    // topic is not marked known, so the next attempt waits for its leaders again.
    for (const t of missing) {
      for (let attempt = 1; ; attempt++) {
        const ends = await this.admin.endOffsets(t).catch(() => new Map<number, bigint>());
        if (ends.size > 0) break;
        if (attempt >= 50) throw new Error(`topic ${t} was created but its partitions have no leader yet`);
        await new Promise((r) => setTimeout(r, 100));
      }
      this.knownTopics.add(t);
    }
  }

  /** Fails when a topic does not exist (createTopics: false). */
  async requireTopics(topics: readonly string[]): Promise<string[]> {
    const unknown = topics.filter((t) => !this.knownTopics.has(t));
    if (unknown.length === 0) return [];
    const existing = new Set(await this.admin.listTopics());
    const missing = unknown.filter((t) => !existing.has(t));
    for (const t of unknown) if (existing.has(t)) this.knownTopics.add(t);
    return missing;
  }

  async close(): Promise<void> {
    const producer = this.producerValue;
    const admin = this.adminValue;
    this.producerValue = undefined;
    this.adminValue = undefined;
    await Promise.allSettled([producer?.close(), admin?.close(), ...[...this.consumers].map((c) => c.close())]);
    this.consumers.clear();
  }
}

/** Shared fallback connections for engines without a `kafka` connection, per broker list. */
const fallbacks = new Map<string, { connection: KafkaConnection; users: number }>();

export interface ConnectionLease {
  readonly connection: KafkaConnection;
  /** Closes the connection when it was created for this component alone (engine connections are closed by the engine). */
  release(): Promise<void>;
}

/**
 * Resolves the Kafka connection of a component: a named engine connection, else the
 * brokers given in the component's own options, else the local default broker.
 */
export function leaseConnection(ctx: CreateContext, name: string | undefined, brokers: readonly string[] | undefined): ConnectionLease {
  // Without a name, the engine's only kafka connection is meant (brokers given inline win).
  const named = name ?? (brokers === undefined && ctx.connectionsOfType?.('kafka').length === 1 ? ctx.connectionsOfType('kafka')[0] : undefined);
  if (named !== undefined) {
    if (!ctx.connection) throw new Error(`connection "${named}": named connections need an engine`);
    return { connection: ctx.connection<KafkaConnection>(named, 'kafka'), release: async () => {} };
  }
  const list = brokers && brokers.length > 0 ? [...brokers] : defaultBrokers();
  const key = list.join(',');
  let entry = fallbacks.get(key);
  if (!entry) {
    entry = { connection: new KafkaConnection({ brokers: list }), users: 0 };
    fallbacks.set(key, entry);
  }
  entry.users++;
  const held = entry;
  let released = false;
  return {
    connection: held.connection,
    async release() {
      if (released) return;
      released = true;
      held.users--;
      if (held.users > 0) return;
      if (fallbacks.get(key) === held) fallbacks.delete(key);
      await held.connection.close();
    },
  };
}

registerComponent({
  kind: 'connection', name: 'kafka',
  description: 'A Kafka cluster shared by every channel that names it: one idempotent producer (acks=all), an admin client, consumers per group.',
  schema: kafkaConnectionSchema,
  docs: 'Kafka destinations and sources name it with `connection: <name>`. Without one (and without inline `brokers`), they use the local broker of `sluice kafka up`: `127.0.0.1:9092`, or the comma-separated `SLUICE_KAFKA_BROKERS`.',
  example: [
    'connections:', '  local-kafka:', "    kafka: { brokers: ['127.0.0.1:9092'], clientId: sluice }",
    '  cloud-kafka:', "    kafka: { brokers: ['kafka.example.org:9093'], tls: true, sasl: { mechanism: SCRAM-SHA-512, username: sluice, password: '${env:KAFKA_PASSWORD}' } }",
  ].join('\n'),
  create: (o) => new KafkaConnection(o),
});
