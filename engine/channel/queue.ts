import type { Logger } from '../log.js';
import type { DeliveryStatus, MessageStore } from '../store/types.js';
import type { Envelope } from './envelope.js';
import { Semaphore } from '../semaphore.js';
import { KeyedSerializer } from './keyed.js';
import { retryDelayMs, type QueuePolicy } from './policy.js';
import { transient, type Destination, type DeliveryResult } from './types.js';

/** First outcome (for respondFrom: delivered) and final outcome of one delivery. */
export interface DeliveryTicket {
  readonly first: Promise<DeliveryStatus>;
  readonly done: Promise<DeliveryStatus>;
}

/** A delivery waiting for its turn in its key's lane. */
interface Waiting {
  readonly env: Envelope;
  readonly prior?: PriorAttempts;
  readonly first: (s: DeliveryStatus) => void;
  /** Set once it is written QUEUED while waiting. */
  queued?: Promise<void>;
}

/** Where a recovered delivery left off. */
export interface PriorAttempts {
  readonly attempts: number;
  readonly nextAttemptAt?: number;
}

/**
 * One destination's queue. Deliveries with the same ordering key go strictly in order
 * (a retrying message holds back only its own key); different keys run in parallel up to
 * the policy's concurrency. Every status change is written to the store before it counts.
 */
export class DestinationQueue {
  private readonly lanes = new KeyedSerializer();
  private readonly slots: Semaphore;
  private readonly inFlight = new Set<Promise<DeliveryStatus>>();
  private readonly wakers = new Set<() => void>();
  /** Ordering keys whose lane is held by a delivery waiting to retry, with how many such. */
  private readonly retrying = new Map<string, number>();
  /** Deliveries enqueued and not yet started, per key (their lane is busy). */
  private readonly waiting = new Map<string, Set<Waiting>>();
  private abort = new AbortController();
  private stopping = false;

  constructor(
    readonly name: string,
    private readonly destination: Destination,
    readonly policy: QueuePolicy,
    private readonly store: MessageStore,
    private readonly channel: string,
    private readonly logger: Logger,
  ) {
    this.slots = new Semaphore(Math.max(1, policy.concurrency));
  }

  /** Deliveries accepted and not yet final (running, waiting in a lane, or waiting to retry). */
  get pending(): number {
    return this.inFlight.size;
  }

  enqueue(env: Envelope, prior?: PriorAttempts): DeliveryTicket {
    let resolveFirst!: (s: DeliveryStatus) => void;
    const first = new Promise<DeliveryStatus>((r) => { resolveFirst = r; });
    const key = env.key ?? '';
    const waiting: Waiting = { env, prior, first: resolveFirst };
    // QUEUED now, not when the lane gets to it: with mode `always`, and behind a delivery of
    // the same key that waits to retry (or, see hold(), once the one ahead starts to). Else a
    // sender waiting for its answer (respondFrom: delivered) would wait out another message's
    // whole retry schedule, and with MLLP, every patient behind it on that connection too.
    const queuedByPolicy = this.policy.mode === 'always' && !prior?.attempts && prior?.nextAttemptAt === undefined;
    if (queuedByPolicy || (this.retrying.get(key) ?? 0) > 0) this.markQueued(waiting, !queuedByPolicy);
    let lane = this.waiting.get(key);
    if (!lane) this.waiting.set(key, (lane = new Set()));
    lane.add(waiting);
    const done = this.lanes.run(key, () => {
      // Its turn: from here on its own attempts decide its first outcome.
      lane.delete(waiting);
      if (lane.size === 0 && this.waiting.get(key) === lane) this.waiting.delete(key);
      return this.deliver(env, prior, resolveFirst, waiting.queued);
    });
    const tracked = done.catch((err: unknown) => {
      // A store failure mid-delivery: the row keeps its last durable state and recovery resumes it.
      this.logger.error({ destination: this.name, messageId: env.id, err: (err as Error).message }, 'delivery bookkeeping failed');
      resolveFirst('QUEUED');
      return 'QUEUED' as DeliveryStatus;
    });
    this.inFlight.add(tracked);
    void tracked.then(() => this.inFlight.delete(tracked));
    return { first, done: tracked };
  }

  /**
   * Stops after the attempts in progress (up to `drainMs`; then they are aborted); queued
   * work stays QUEUED in the store and resumes on the next start.
   */
  async stop(drainMs = 10_000): Promise<void> {
    this.stopping = true;
    for (const wake of this.wakers) wake();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => { timer = setTimeout(resolve, drainMs); });
    await Promise.race([Promise.all([...this.inFlight]), deadline]);
    clearTimeout(timer);
    this.abort.abort();
    await Promise.all([...this.inFlight]);
    await this.destination.close();
  }

  /** Makes a stopped queue deliver again (a channel that is started after a stop). */
  resume(): void {
    if (!this.stopping) return;
    this.stopping = false;
    this.abort = new AbortController();
  }

  /** Writes the delivery QUEUED and then answers its first outcome; deliver() awaits the write. */
  private markQueued(w: Waiting, behind: boolean): void {
    w.queued = this.store.setDelivery(w.env.id, this.name, { status: 'QUEUED', attempts: w.prior?.attempts ?? 0 }, {
      kind: 'queued', destination: this.name, detail: behind ? 'behind a message of the same ordering key that is waiting to retry' : undefined,
    }).then(() => w.first('QUEUED'));
    w.queued.catch(() => undefined); // awaited (and reported) by deliver()
  }

  /** `queued`: the QUEUED row written while it waited (it must land before any later status). */
  private async deliver(env: Envelope, prior: PriorAttempts | undefined, first: (s: DeliveryStatus) => void, queued?: Promise<void>): Promise<DeliveryStatus> {
    const key = env.key ?? '';
    let holding = false;
    const hold = (): void => {
      if (holding) return;
      holding = true;
      this.retrying.set(key, (this.retrying.get(key) ?? 0) + 1);
      // Those already waiting behind it are now held back for a retry schedule: QUEUED.
      for (const w of this.waiting.get(key) ?? []) if (!w.queued) this.markQueued(w, true);
    };
    try {
      await queued;
      if (prior?.nextAttemptAt !== undefined && prior.nextAttemptAt > Date.now()) {
        first('QUEUED');
        hold();
        await this.sleep(prior.nextAttemptAt - Date.now());
      }
      return await this.attempt(env, prior?.attempts ?? 0, first, hold);
    } finally {
      if (holding) {
        const n = (this.retrying.get(key) ?? 1) - 1;
        if (n > 0) this.retrying.set(key, n);
        else this.retrying.delete(key);
      }
    }
  }

  /** Attempts until SENT, a final failure, or the queue stops; `hold` marks the lane as waiting to retry. */
  private async attempt(env: Envelope, initialAttempts: number, first: (s: DeliveryStatus) => void, hold: () => void): Promise<DeliveryStatus> {
    const { store, name } = this;
    let attempts = initialAttempts;
    for (;;) {
      if (this.stopping) { first('QUEUED'); return 'QUEUED'; }
      const release = await this.slots.acquire();
      attempts++;
      let result: DeliveryResult;
      try {
        result = await this.destination.send(env, { channel: this.channel, destination: name, attempt: attempts, logger: this.logger, signal: this.abort.signal });
      } catch (err) {
        // A destination should return a typed failure; a throw is treated as transient so nothing is lost.
        result = transient(err instanceof Error ? err.message : String(err));
      } finally {
        release();
      }
      // Each outcome's writes are issued together, so they share one group-commit transaction.
      if (result.ok) {
        await Promise.all([
          result.sent !== undefined && store.saveContent(env.id, 'sent', result.sent, 'text/plain', name),
          result.response !== undefined && store.saveContent(env.id, 'response', result.response, result.responseType ?? 'text/plain', name),
          store.setDelivery(env.id, name, { status: 'SENT', attempts, nextAttemptAt: null, error: null }, { kind: 'sent', destination: name, detail: `attempt ${attempts}` }),
        ]);
        first('SENT');
        return 'SENT';
      }
      // What went out and what came back, also when the peer refused it: the analyst's first question.
      const savingResponse = Promise.all([
        result.sent !== undefined && store.saveContent(env.id, 'sent', result.sent, 'text/plain', name),
        result.response !== undefined && store.saveContent(env.id, 'response', result.response, 'text/plain', name),
      ]);
      const final = !result.transient || this.policy.mode === 'never' || attempts >= this.policy.maxAttempts;
      if (final) {
        const why = result.transient ? `gave up after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${result.error}` : result.error;
        await Promise.all([savingResponse, store.setDelivery(env.id, name, { status: 'ERROR', attempts, nextAttemptAt: null, error: why }, { kind: 'error', destination: name, detail: why })]);
        this.logger.warn({ destination: name, messageId: env.id, attempts }, 'delivery failed');
        first('ERROR');
        return 'ERROR';
      }
      const delay = retryDelayMs(this.policy, attempts, result.retryAfterMs);
      await Promise.all([savingResponse, store.setDelivery(env.id, name, { status: 'QUEUED', attempts, nextAttemptAt: Date.now() + delay, error: result.error }, { kind: 'retry', destination: name, detail: `attempt ${attempts} failed: ${result.error}; next in ${delay} ms` })]);
      first('QUEUED');
      hold();
      await this.sleep(delay);
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = (): void => { clearTimeout(timer); this.wakers.delete(wake); resolve(); };
      const timer = setTimeout(wake, ms);
      this.wakers.add(wake);
    });
  }
}

