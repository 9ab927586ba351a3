import { z } from 'zod';
import { zDuration } from '../duration.js';
import { KeyedSerializer } from '../channel/keyed.js';
import type { Intake, Outcome, Source, SourceMeta } from '../channel/types.js';
import { registerComponent } from '../registry.js';
import { describeKafkaError, type ConsumedRecord, type KafkaConsumer } from './client.js';
import { leaseConnection, type ConnectionLease } from './connection.js';
import { OffsetTracker } from './offsets.js';

const schema = z.object({
  topics: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).transform((t) => (Array.isArray(t) ? t : [t])).describe('topic or topics to consume'),
  connection: z.string().optional().describe('engine connection (connections: in sluice.yaml); default: the only kafka connection, else the local broker'),
  brokers: z.array(z.string()).min(1).optional().describe('inline bootstrap brokers instead of a connection'),
  groupId: z.string().min(1).optional().describe('consumer group; default sluice.<channel>'),
  fromBeginning: z.boolean().default(true).describe('a new group starts at the earliest offset (false: only new records)'),
  maxInFlight: z.number().int().positive().default(64).describe('records handed to the channel and not yet stored; fetching pauses at this many'),
  commitInterval: zDuration.default(200).describe('time between offset commits (a crash re-delivers about this much)'),
  deadLetterTopic: z.string().min(1).optional().describe('records the channel rejects (not HL7, ...) are also copied here'),
  sessionTimeout: zDuration.default(10_000).describe('how long before the group gives a silent member\'s partitions away (at least 6s; the broker\'s minimum)'),
}).strict();

const RETRY_MS = 500;

registerComponent({
  kind: 'source', name: 'kafka',
  description: 'Kafka consumer (one group per channel): offsets are committed only after the channel stored the message.',
  schema,
  docs: [
    'A crash re-delivers rather than loses: a record\'s offset is committed only after the channel answered `accepted`',
    '(durably stored; later with `respondFrom`). Records with one key are handed over in order, other keys in parallel,',
    'at most `maxInFlight` at a time (fetching pauses beyond). A record the channel rejects (not HL7) is stored as ERROR,',
    'copied to `deadLetterTopic` if set, and committed, so the partition goes on. The message\'s source id is',
    '`topic/partition/offset`.',
  ].join('\n'),
  example: 'kafka: { topics: [adt.inbound], groupId: sluice.adt-in, deadLetterTopic: adt.inbound.dlq }',
  create: (o, ctx): Source => {
    const groupId = o.groupId ?? `sluice.${ctx.channel}`;
    let run: ConsumerRun | undefined;
    return {
      describe: () => `kafka ${o.topics.join(',')} (group ${groupId})`,
      async start(intake) {
        const lease = leaseConnection(ctx, o.connection, o.brokers);
        run = new ConsumerRun(lease, intake, { ...o, groupId }, ctx.logger);
        try {
          await run.start();
        } catch (err) {
          await run.stop();
          run = undefined;
          throw err;
        }
      },
      async stop() {
        const r = run;
        run = undefined;
        await r?.stop();
      },
    };
  },
});

interface RunOptions {
  readonly topics: string[];
  readonly groupId: string;
  readonly fromBeginning: boolean;
  readonly maxInFlight: number;
  readonly commitInterval: number;
  readonly deadLetterTopic?: string;
  readonly sessionTimeout: number;
}

/** One started consumer: hands records to the channel, commits what it stored. */
class ConsumerRun {
  private consumer: KafkaConsumer | undefined;
  private readonly lanes = new KeyedSerializer();
  private tracker = new OffsetTracker();
  private readonly handling = new Set<Promise<void>>();
  private commitTimer: NodeJS.Timeout | undefined;
  private committing: Promise<void> | undefined;
  private paused = false;
  private stopping = false;

  constructor(
    private readonly lease: ConnectionLease,
    private readonly intake: Intake,
    private readonly o: RunOptions,
    private readonly logger: import('../log.js').Logger,
  ) {}

  async start(): Promise<void> {
    await this.join();
    this.commitTimer = setInterval(() => { void this.commit(); }, Math.max(10, this.o.commitInterval));
  }

  private async join(): Promise<void> {
    const consumer = this.lease.connection.consumer({ groupId: this.o.groupId, topics: this.o.topics, fromBeginning: this.o.fromBeginning, sessionTimeoutMs: Math.max(6000, this.o.sessionTimeout) });
    this.consumer = consumer;
    // A fresh member starts from the committed offsets, so it gets a fresh tracker; records of
    // the old member still being stored finish, and their re-delivery is a duplicate.
    const tracker = new OffsetTracker();
    this.tracker = tracker;
    this.paused = false;
    await consumer.start((r) => this.onRecord(r, tracker), (err) => { void this.rejoin(consumer, err); });
  }

  /** The member stopped working (the broker was away too long): replace it, until stopped. */
  private async rejoin(failed: KafkaConsumer, err: Error): Promise<void> {
    if (this.stopping || this.consumer !== failed) return;
    this.logger.warn({ err: describeKafkaError(err) }, 'kafka consumer stopped; joining again');
    this.consumer = undefined;
    await failed.close().catch(() => undefined);
    for (let attempt = 1; !this.stopping; attempt++) {
      try {
        await this.join();
        this.logger.info({ attempt }, 'kafka consumer joined again');
        return;
      } catch (e) {
        this.logger.warn({ err: describeKafkaError(e), attempt }, 'kafka consumer could not join; retrying');
        await new Promise((r) => setTimeout(r, Math.min(5000, 500 * attempt)));
      }
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.commitTimer);
    this.consumer?.pause();
    // Records being stored finish (bounded): their offsets are committed; the rest is re-delivered later.
    await Promise.race([Promise.allSettled([...this.handling]), new Promise((r) => setTimeout(r, 10_000).unref())]);
    await this.commit(); // a round already running…
    await this.commit(); // …then one with everything finished since
    await this.consumer?.close();
    this.consumer = undefined;
    await this.lease.release();
  }

  private onRecord(r: ConsumedRecord, tracker: OffsetTracker): void {
    if (this.stopping) return; // not committed: the group hands it out again
    tracker.started(r);
    if (!this.paused && tracker.inProgress >= this.o.maxInFlight) {
      this.paused = true;
      this.consumer?.pause();
    }
    // One key's records in offset order; other keys go ahead in parallel.
    const lane = `${r.topic}/${r.partition}/${r.key ?? ''}`;
    const p = this.lanes.run(lane, () => this.handle(r)).then(() => {
      tracker.finished(r);
      if (tracker !== this.tracker) return; // a replaced member's record: never committed by the new one
      if (this.o.commitInterval === 0) void this.commit();
      if (this.paused && !this.stopping && tracker.inProgress <= this.o.maxInFlight / 2) {
        this.paused = false;
        this.consumer?.resume();
      }
    }, () => undefined); // given up only when stopping: left uncommitted, so it is re-delivered
    this.handling.add(p);
    void p.finally(() => this.handling.delete(p));
  }

  /** Stores one record; retries while the store fails; poison records go to ERROR and on. */
  private async handle(r: ConsumedRecord): Promise<void> {
    const meta: SourceMeta & { key?: string; headers?: Readonly<Record<string, string>> } = {
      kind: 'kafka', peer: `${r.topic}[${r.partition}]`, sourceId: `${r.topic}/${r.partition}/${r.offset}`, key: r.key, headers: r.headers,
    };
    for (let attempt = 1; ; attempt++) {
      let outcome: Outcome;
      try {
        outcome = await this.intake(r.value, meta);
      } catch (err) {
        outcome = { status: 'error', ackCode: 'AE', text: (err as Error).message };
      }
      if (outcome.status === 'accepted') return;
      if (outcome.status === 'rejected') {
        this.logger.warn({ sourceId: meta.sourceId, messageId: outcome.messageId }, 'kafka record rejected by the channel');
        if (this.o.deadLetterTopic) await this.deadLetter(r, outcome.text ?? 'rejected');
        return;
      }
      if (this.stopping) throw new Error('stopping'); // not committed: re-delivered after restart
      if (attempt === 1 || attempt % 20 === 0) this.logger.warn({ sourceId: meta.sourceId, attempt }, 'kafka record not stored; retrying');
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  }

  private async deadLetter(r: ConsumedRecord, reason: string): Promise<void> {
    const record = { topic: this.o.deadLetterTopic!, key: r.key, value: r.value, headers: { ...r.headers, 'sluice-error': reason.slice(0, 500), 'sluice-source': `${r.topic}/${r.partition}/${r.offset}` } };
    for (let attempt = 1; !this.stopping; attempt++) {
      try {
        await this.lease.connection.ensureTopics([record.topic], 1, 1);
        await this.lease.connection.producer.send([record]);
        return;
      } catch (err) {
        if (attempt === 1) this.logger.warn({ err: (err as Error).message }, 'dead-letter topic write failed; retrying');
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      }
    }
    throw new Error('stopping');
  }

  /**
   * Commits what is committable, one round at a time (a tick while a round is running is
   * skipped, so slow commits never pile up); the partitions of a round go in parallel.
   */
  private commit(): Promise<void> {
    if (this.committing) return this.committing;
    const round = (async () => {
      const { consumer, tracker } = this;
      if (!consumer) return;
      await Promise.all(tracker.take().map(async (r) => {
        try {
          await consumer.commit(r);
        } catch (err) {
          // A rebalance or broker restart: try again next round; at worst the records are re-delivered.
          tracker.retry(r);
          this.logger.debug({ err: (err as Error).message }, 'kafka offset commit failed');
        }
      }));
    })().finally(() => { this.committing = undefined; });
    this.committing = round;
    return round;
  }
}
