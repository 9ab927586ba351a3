import { z } from 'zod';
import { contentText } from '../channel/envelope.js';
import { permanent, sent, transient, type Destination } from '../channel/types.js';
import { registerComponent } from '../registry.js';
import { leaseConnection, type ConnectionLease } from './connection.js';
import { describeKafkaError, isPermanentKafkaError, type KafkaRecord } from './client.js';
import { recordsOf, topicNameProblem } from './records.js';

const schema = z.object({
  topic: z.string().min(1).describe('fixed name or template: {MSH-9.1} {MSH-4} (any HL7 path), {resourceType}, {messageType}, {channel}'),
  connection: z.string().optional().describe('engine connection (connections: in sluice.yaml); default: the only kafka connection, else the local broker'),
  brokers: z.array(z.string()).min(1).optional().describe('inline bootstrap brokers instead of a connection'),
  format: z.enum(['auto', 'hl7', 'fhir']).default('auto').describe('auto: HL7 v2 text or FHIR JSON, by the content'),
  perResource: z.boolean().default(false).describe('FHIR Bundle: one record per entry resource (all keyed by the patient)'),
  key: z.string().optional().describe('key template; default: the ordering key (patient identifier)'),
  createTopics: z.boolean().default(true).describe('create missing topics; false: a missing topic is an error'),
  maxTopics: z.number().int().positive().default(1000).describe('distinct topics this destination writes (and may create) per run at most; a message for one more is an error, so a template over a message field cannot flood the cluster'),
  partitions: z.number().int().positive().default(3).describe('for created topics'),
  replication: z.number().int().positive().default(1).describe('for created topics'),
}).strict();
export type KafkaDestinationOptions = z.output<typeof schema>;

registerComponent({
  kind: 'destination', name: 'kafka',
  description: 'Kafka producer: one record per message (or per FHIR resource), keyed by patient, SENT only after the broker acknowledged it (acks=all, idempotent).',
  schema,
  docs: [
    'Records carry the headers `content-type`, `sluice-message-type`, `sluice-control-id`, `sluice-channel`,',
    '`sluice-source` and `sluice-message-id`. The key is the ordering key (patient identifier by default), so one',
    "patient's events stay in order on one partition. A broker that is down or slow is a transient failure:",
    'the message is QUEUED and retried, nothing is lost. Batching (`linger`, `maxBatch`) is set on the connection.',
    'Throughput comes from deliveries in flight: the records of concurrent deliveries share one produce request (one',
    'request in flight per connection, which keeps the idempotent producer in order). So a Kafka destination\'s queue',
    '`concurrency` defaults to 256, not 1 (with 1, each message would cost a broker round trip); the engine file\'s',
    '`defaults.queue` or the destination\'s `queue:` block can set another. The queue still delivers each key (patient)',
    'in order, one message at a time.',
    'Faults no retry fixes are permanent (straight to ERROR): a rendered topic name Kafka does not allow',
    '(`[a-zA-Z0-9._-]`, at most 249 characters; placeholders have other characters replaced by `_`), more than',
    '`maxTopics` topics, and the broker errors INVALID_TOPIC_EXCEPTION, TOPIC_AUTHORIZATION_FAILED, POLICY_VIOLATION,',
    'MESSAGE_TOO_LARGE and the like. A produce request that failed in part is retried whole, so a broker failure',
    'can duplicate records on the partitions that did succeed (consumers tell them apart by `sluice-message-id`).',
  ].join('\n'),
  example: "kafka: { topic: 'hl7.{MSH-9.1}.{MSH-4}', connection: local-kafka }",
  queueDefaults: { concurrency: 256 },
  create: (o, ctx): Destination => {
    let lease: ConnectionLease | undefined;
    const written = new Set<string>();
    return {
      async send(env) {
        let records: KafkaRecord[];
        try {
          records = recordsOf(env, o);
        } catch (err) {
          return permanent(`cannot build Kafka records: ${(err as Error).message}`);
        }
        if (records.length === 0) return permanent('nothing to send: the FHIR Bundle has no entries');
        lease ??= leaseConnection(ctx, o.connection, o.brokers);
        const { connection } = lease;
        const topics = [...new Set(records.map((r) => r.topic))];
        // A topic written before was checked then; only new names need the check.
        const fresh = topics.filter((t) => !written.has(t));
        for (const t of fresh) {
          const problem = topicNameProblem(t);
          if (problem) return permanent(`${problem} (topic template ${JSON.stringify(o.topic)})`);
        }
        if (written.size + fresh.length > o.maxTopics) return permanent(`this would be topic number ${written.size + fresh.length} of this destination (maxTopics: ${o.maxTopics})`);
        try {
          if (o.createTopics) {
            await connection.ensureTopics(topics, o.partitions, o.replication);
          } else {
            const missing = await connection.requireTopics(topics);
            if (missing.length > 0) return permanent(`topic ${missing.join(', ')} does not exist (createTopics: false)`);
          }
          await connection.producer.send(records);
        } catch (err) {
          return isPermanentKafkaError(err) ? permanent(`Kafka refused the records: ${describeKafkaError(err)}`) : transient(`Kafka: ${describeKafkaError(err)}`);
        }
        for (const t of fresh) written.add(t);
        return sent(`${records.length} record(s) to ${topics.join(', ')}`, records.length === 1 ? String(records[0]!.value) : contentText(env.content));
      },
      async close() {
        const l = lease;
        lease = undefined;
        await l?.release();
      },
    };
  },
});
