import { z } from 'zod';
import { zDuration } from '../duration.js';
import { sleep } from '../sleep.js';
import type { FlowControl, Intake, Source } from '../channel/types.js';
import { registerComponent } from '../registry.js';
import { leaseConnection } from './connection.js';
import { ConsumerRun } from './consumer-run.js';

const schema = z.object({
  topics: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).transform((t) => (Array.isArray(t) ? t : [t])).describe('topic or topics to consume'),
  connection: z.string().optional().describe('engine connection (connections: in sluice.yaml); default: the only kafka connection, else the local broker'),
  brokers: z.array(z.string()).min(1).optional().describe('inline bootstrap brokers instead of a connection'),
  groupId: z.string().min(1).optional().describe('consumer group; default sluice.<channel>'),
  fromBeginning: z.boolean().default(true).describe('a new group starts at the earliest offset (false: only new records)'),
  maxInFlight: z.number().int().positive().default(64).describe('records handed to the channel and not yet stored; fetching pauses at this many'),
  maxBacklog: z.number().int().positive().default(1000).describe("the channel's messages in processing or waiting for delivery; fetching pauses at this many and resumes below half"),
  maxIntakeAttempts: z.number().int().positive().default(60).describe('tries to store one record (the store failing) before it is given up: logged, dead-lettered, committed past'),
  commitInterval: zDuration.default(200).describe('time between offset commits (a crash re-delivers about this much)'),
  deadLetterTopic: z.string().min(1).optional().describe('records the channel rejects (not HL7, ...) are also copied here'),
  createTopics: z.boolean().default(true).describe('create the topics when missing (a new broker has none), so the channel can start before any producer wrote'),
  partitions: z.number().int().positive().default(3).describe('partitions of a topic this source creates'),
  replication: z.number().int().positive().default(1).describe('replication factor of a topic this source creates'),
  sessionTimeout: zDuration.default(10_000).describe('how long before the group gives a silent member\'s partitions away (at least 6s; the broker\'s minimum)'),
}).strict();

registerComponent({
  kind: 'source', name: 'kafka',
  description: 'Kafka consumer (one group per channel): offsets are committed only after the channel stored the message.',
  schema,
  docs: [
    'A crash re-delivers rather than loses: a record\'s offset is committed only after the channel answered `accepted`',
    '(durably stored; later with `respondFrom`). Records with one Kafka key are handed over in order, other keys in',
    'parallel: the Kafka key is the producer\'s ordering contract (the channel\'s own ordering key is known only after',
    'parsing, at intake, where the channel orders by it again). Fetching pauses while `maxInFlight` records are at the',
    'intake or the channel\'s backlog (messages in processing plus deliveries not final, e.g. to a destination that is',
    'down) reaches `maxBacklog`, and resumes below half of it. A record the channel rejects (not HL7) is stored as',
    'ERROR, copied to `deadLetterTopic` if set, and committed, so the partition goes on. A record the channel cannot',
    'store (the store failing) is retried with backoff up to `maxIntakeAttempts`, then logged, dead-lettered and',
    'committed past. Dead-letter records carry `sluice-error: rejected | not-stored` (never the error text: it can',
    'quote the payload) and `sluice-source: topic/partition/offset`. On a rebalance, finished offsets are committed',
    'while the group prepares it, and revoked partitions are forgotten (their unfinished records are re-delivered to',
    'the new owner: duplicates, recognised by the channel). The message\'s source id is `topic/partition/offset`.',
  ].join('\n'),
  example: 'kafka: { topics: [adt.inbound], groupId: sluice.adt-in, deadLetterTopic: adt.inbound.dlq }',
  create: (o, ctx): Source => {
    const groupId = o.groupId ?? `sluice.${ctx.channel}`;
    let run: ConsumerRun | undefined;
    let retrying: Promise<void> | undefined;
    let stopped = new AbortController();
    const connect = async (intake: Intake, flow: FlowControl | undefined): Promise<ConsumerRun> => {
      const lease = leaseConnection(ctx, o.connection, o.brokers);
      const r = new ConsumerRun(lease, intake, { ...o, groupId }, ctx.logger, flow);
      try {
        if (o.createTopics) await lease.connection.ensureTopics(o.topics, o.partitions, o.replication);
        await r.start();
        return r;
      } catch (err) {
        await r.stop();
        throw err;
      }
    };
    return {
      describe: () => `kafka ${o.topics.join(',')} (group ${groupId})`,
      async start(intake, flow) {
        stopped = new AbortController();
        const signal = stopped.signal;
        try {
          run = await connect(intake, flow);
        } catch (err) {
          // A broker that is down (or a group that cannot be joined yet) must not keep the
          // engine's other channels from starting: keep trying in the background until stop.
          ctx.logger.warn({ err: (err as Error).message }, 'kafka source not consuming yet; retrying');
          retrying = (async () => {
            for (let delay = 1000; !signal.aborted; delay = Math.min(delay * 2, 30_000)) {
              await sleep(delay, signal).catch(() => undefined);
              if (signal.aborted) return;
              try {
                const r = await connect(intake, flow);
                if (signal.aborted) { await r.stop(); return; }
                run = r;
                ctx.logger.info('kafka source consuming');
                return;
              } catch (e) {
                ctx.logger.warn({ err: (e as Error).message }, 'kafka source still not consuming; retrying');
              }
            }
          })();
        }
      },
      async stop() {
        stopped.abort();
        await retrying;
        retrying = undefined;
        const r = run;
        run = undefined;
        await r?.stop();
      },
    };
  },
});
