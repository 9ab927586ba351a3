import { KeyedSerializer } from '../channel/keyed.js';
import { sleep } from '../sleep.js';
import type { FlowControl, Intake, Outcome, SourceMeta } from '../channel/types.js';
import type { Logger } from '../log.js';
import { describeKafkaError, type ConsumedRecord, type KafkaConsumer, type RecordPosition } from './client.js';
import type { ConnectionLease } from './connection.js';
import { OffsetTracker, partitionId } from './offsets.js';

interface RunOptions {
  readonly topics: string[];
  readonly groupId: string;
  readonly fromBeginning: boolean;
  readonly maxInFlight: number;
  readonly maxBacklog: number;
  readonly maxIntakeAttempts: number;
  readonly commitInterval: number;
  readonly deadLetterTopic?: string;
  readonly sessionTimeout: number;
}

/** First wait between intake attempts of one record; doubles up to RETRY_MAX_MS. */
const RETRY_MS = 200;
const RETRY_MAX_MS = 5000;
/** How often a paused consumer looks whether the channel's backlog went down. */
const RESUME_POLL_MS = 100;
/**
 * Records started and not yet committable (finished ones behind an unfinished one) at most,
 * per multiple of maxInFlight: bounds the positions kept while one record is retried.
 */
const UNCOMMITTED_FACTOR = 64;
/** How long `stop` waits for records being stored. */
const STOP_TIMEOUT_MS = 10_000;

/**
 * Fixed dead-letter reasons: the channel's error text can quote the payload (a JSON parse
 * error does), and a header is copied wherever the topic is read, so no PHI may reach it.
 */
type DeadLetterReason = 'rejected' | 'not-stored';

class Stopping extends Error {
  constructor() { super('stopping'); }
}

/** One started consumer: hands records to the channel, commits what it stored. */
export class ConsumerRun {
  private consumer: KafkaConsumer | undefined;
  private readonly lanes = new KeyedSerializer();
  private tracker = new OffsetTracker();
  private readonly handling = new Set<Promise<void>>();
  private commitTimer: NodeJS.Timeout | undefined;
  private resumeTimer: NodeJS.Timeout | undefined;
  private committing: Promise<void> | undefined;
  private stopping = false;
  /** Ends retry waits at once when stopping. */
  private readonly stopSignal = new AbortController();
  /** The partitions the group gave this member (`topic\0partition`); undefined before the first assignment. */
  private assigned: Set<string> | undefined;

  constructor(
    private readonly lease: ConnectionLease,
    private readonly intake: Intake,
    private readonly o: RunOptions,
    private readonly logger: Logger,
    private readonly flow?: FlowControl,
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
    clearInterval(this.resumeTimer); // a new member fetches from the start
    this.resumeTimer = undefined;
    this.assigned = undefined;
    await consumer.start((r) => this.onRecord(r, tracker), (err) => { void this.rejoin(consumer, err); }, {
      // Still ours while the group prepares the rebalance: commit what is finished, so the
      // next owner does not re-deliver it.
      onRebalance: () => { if (this.consumer === consumer) void this.commit(); },
      onAssignment: (partitions) => { if (this.consumer === consumer) this.onAssignment(tracker, partitions); },
    });
  }

  /** Forgets revoked partitions: their unfinished records belong to the new owner now (re-delivered there). */
  private onAssignment(tracker: OffsetTracker, partitions: readonly { topic: string; partition: number }[]): void {
    const owned = new Set(partitions.map((p) => partitionId(p.topic, p.partition)));
    this.assigned = owned;
    const revoked = tracker.tracked().filter((p) => !owned.has(partitionId(p.topic, p.partition)));
    for (const p of revoked) tracker.drop(p.topic, p.partition);
    if (revoked.length > 0) this.logger.info({ revoked: revoked.map((p) => `${p.topic}[${p.partition}]`) }, 'kafka partitions revoked');
    this.maybeResume();
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
        await this.wait(Math.min(5000, 500 * attempt));
      }
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.stopSignal.abort();
    clearInterval(this.commitTimer);
    clearInterval(this.resumeTimer);
    this.consumer?.pause();
    // Records being stored finish (bounded): their offsets are committed; queued ones are not
    // started (handle() checks `stopping`), so they are re-delivered later.
    const deadline = new Promise((r) => setTimeout(r, STOP_TIMEOUT_MS).unref());
    await Promise.race([Promise.allSettled([...this.handling]), deadline]);
    await this.commit(); // a round already running…
    await this.commit(); // …then one with everything finished since
    await this.consumer?.close();
    this.consumer = undefined;
    await this.lease.release();
  }

  /** Whether fetching must wait: too many records at the intake, behind a stuck one, or in the channel's queues. */
  private overloaded(factor: number): boolean {
    const t = this.tracker;
    return t.inProgress >= this.o.maxInFlight * factor
      || t.uncommitted >= this.o.maxInFlight * UNCOMMITTED_FACTOR * factor
      || (this.flow !== undefined && this.flow.backlog() >= this.o.maxBacklog * factor);
  }

  private maybePause(): void {
    if (this.resumeTimer !== undefined || this.stopping || !this.overloaded(1)) return;
    this.consumer?.pause();
    // The backlog shrinks as destinations deliver, without an event here: look now and then.
    this.resumeTimer = setInterval(() => this.maybeResume(), RESUME_POLL_MS);
  }

  /** Resumes below half of each bound (hysteresis, so it does not flap at the mark). */
  private maybeResume(): void {
    if (this.resumeTimer === undefined || this.stopping || this.overloaded(0.5)) return;
    clearInterval(this.resumeTimer);
    this.resumeTimer = undefined;
    this.consumer?.resume();
  }

  private onRecord(r: ConsumedRecord, tracker: OffsetTracker): void {
    if (this.stopping || tracker !== this.tracker) return; // not committed: the group hands it out again
    // Buffered before a rebalance took its partition away: the new owner has it.
    if (this.assigned && !this.assigned.has(partitionId(r.topic, r.partition))) return;
    // Fetched again after a rebalance: the copy handed out before finishes and is committed.
    if (tracker.seen(r.position)) return;
    tracker.started(r.position);
    this.maybePause();
    // One key's records in offset order; other keys go ahead in parallel.
    const lane = `${r.topic}/${r.partition}/${r.key ?? ''}`;
    const p = this.lanes.run(lane, () => this.handle(r, tracker)).then(() => {
      // A revoked partition's or a replaced member's record: never committed here.
      if (!tracker.finished(r.position) || tracker !== this.tracker) return;
      if (this.o.commitInterval === 0) void this.commit();
      this.maybeResume();
    }, () => undefined); // given up only when stopping: left uncommitted, so it is re-delivered
    this.handling.add(p);
    void p.finally(() => this.handling.delete(p));
  }

  /**
   * Stores one record; retries while the store fails, up to maxIntakeAttempts (then the
   * record goes to the dead-letter topic, if any, and the partition goes on).
   */
  private async handle(r: ConsumedRecord, tracker: OffsetTracker): Promise<void> {
    const meta: SourceMeta & { key?: string; headers?: Readonly<Record<string, string>> } = {
      kind: 'kafka', peer: `${r.topic}[${r.partition}]`, sourceId: `${r.topic}/${r.partition}/${r.offset}`, key: r.key, headers: r.headers,
    };
    for (let attempt = 1; ; attempt++) {
      // Queued behind its key while stop() ran, or its partition went to another member.
      if (this.stopping) throw new Stopping();
      if (tracker !== this.tracker || !tracker.has(r.topic, r.partition)) return;
      let outcome: Outcome;
      try {
        outcome = await this.intake(r.value, meta);
      } catch (err) {
        outcome = { status: 'error', ackCode: 'AE', text: (err as Error).message };
      }
      if (outcome.status === 'accepted') return;
      if (outcome.status === 'rejected') {
        this.logger.warn({ sourceId: meta.sourceId, messageId: outcome.messageId }, 'kafka record rejected by the channel');
        if (this.o.deadLetterTopic) await this.deadLetter(r, 'rejected');
        return;
      }
      if (attempt >= this.o.maxIntakeAttempts) {
        // Never stored: only the log and the dead-letter topic know it; the partition goes on.
        this.logger.error({ sourceId: meta.sourceId, attempts: attempt }, 'kafka record could not be stored; giving up on it');
        if (this.o.deadLetterTopic) await this.deadLetter(r, 'not-stored');
        return;
      }
      if (attempt === 1 || attempt % 20 === 0) this.logger.warn({ sourceId: meta.sourceId, attempt }, 'kafka record not stored; retrying');
      await this.wait(Math.min(RETRY_MAX_MS, RETRY_MS * 2 ** (attempt - 1)));
    }
  }

  /** Ends at once when stopping (the callers check `stopping`). */
  private wait(ms: number): Promise<void> {
    return sleep(ms, this.stopSignal.signal).catch(() => undefined);
  }

  private async deadLetter(r: ConsumedRecord, reason: DeadLetterReason): Promise<void> {
    const record = { topic: this.o.deadLetterTopic!, key: r.key, value: r.value, headers: { ...r.headers, 'sluice-error': reason, 'sluice-source': `${r.topic}/${r.partition}/${r.offset}` } };
    for (let attempt = 1; !this.stopping; attempt++) {
      try {
        await this.lease.connection.ensureTopics([record.topic], 1, 1);
        await this.lease.connection.producer.send([record]);
        return;
      } catch (err) {
        if (attempt === 1) this.logger.warn({ err: describeKafkaError(err) }, 'dead-letter topic write failed; retrying');
        await this.wait(Math.min(RETRY_MAX_MS, RETRY_MS * attempt));
      }
    }
    throw new Stopping();
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
      await Promise.all(tracker.take().map(async (position: RecordPosition) => {
        try {
          await consumer.commit(position);
        } catch (err) {
          // A rebalance or broker restart: try again next round (unless the partition went
          // away meanwhile); at worst the records are re-delivered.
          tracker.retry(position);
          this.logger.debug({ err: describeKafkaError(err) }, 'kafka offset commit failed');
        }
      }));
    })().finally(() => { this.committing = undefined; });
    this.committing = round;
    return round;
  }
}
