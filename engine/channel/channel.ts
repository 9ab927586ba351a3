import { buildNak, HL7_ERROR } from '../hl7/index.js';
import type { Logger } from '../log.js';
import { sleep } from '../sleep.js';
import type { DeliveryStatus, MessageStatus, MessageStore, NewMessage, PendingWork } from '../store/types.js';
import { FILTERED, contentText, contentType, type Envelope } from './envelope.js';
import { InputError, parseInput, type DataType, type ParsedInput } from './input.js';
import { DuplicateCheck, NAK_EVENT } from './duplicates.js';
import { KeyedSerializer } from './keyed.js';
import { DestinationQueue, type DeliveryTicket } from './queue.js';
import type { QueuePolicy } from './policy.js';
import type { Destination, Intake, Outcome, Source, SourceMeta, Step } from './types.js';

export type RespondFrom = 'received' | 'processed' | 'delivered';

/** A route rule, compiled: a predicate and the destinations it sends to. */
export interface CompiledRoute {
  readonly when?: (env: Envelope) => boolean;
  readonly to: readonly string[];
  /** Keep evaluating later rules after this one matched. */
  readonly continue: boolean;
}

/** A channel ready to run: config validated and components created. */
export interface ChannelDefinition {
  readonly name: string;
  readonly source: Source;
  readonly respondFrom: RespondFrom;
  /** What the source delivers: HL7 v2 or FHIR JSON. */
  readonly dataType: DataType;
  readonly duplicates: { readonly enabled: boolean; readonly windowMs: number };
  /** Intake waits while backlog() is at least this (bounded memory; senders wait for their ACKs). */
  readonly maxBacklog: number;
  /** HL7 path of the ordering key; messages with one key are delivered in order. */
  readonly orderingKey: string;
  /** HL7 path of the patient identifier stored for search. */
  readonly patientPath: string;
  readonly filter?: Step;
  readonly steps: readonly { readonly name: string; readonly step: Step }[];
  readonly route?: readonly CompiledRoute[];
  readonly destinations: readonly { readonly name: string; readonly destination: Destination; readonly policy: QueuePolicy }[];
}

/** What processing one message came to. */
type Processed = { status: 'FILTERED'; reason: string } | { status: 'ROUTED'; tickets: DeliveryTicket[] } | { status: 'FAILED'; error: string };

const PRECEDENCE: Record<DeliveryStatus, number> = { ERROR: 4, QUEUED: 3, PENDING: 2, SENT: 1, FILTERED: 0 };

/** The worst of several delivery outcomes: ERROR > QUEUED > SENT > FILTERED. */
export function worstOf(statuses: readonly DeliveryStatus[]): DeliveryStatus {
  return statuses.reduce<DeliveryStatus>((w, s) => (PRECEDENCE[s] > PRECEDENCE[w] ? s : w), 'FILTERED');
}

export type ChannelState = 'stopped' | 'started' | 'paused';

/**
 * The runtime of one channel: intake (durable store, duplicate check, ACK timing),
 * the pipeline (filter, steps, router) and one queue per destination.
 */
export class Channel {
  private readonly queues = new Map<string, DestinationQueue>();
  private readonly processing = new Set<Promise<unknown>>();
  private readonly duplicates: DuplicateCheck;
  /** Filter, steps and routing run in arrival order per ordering key, so queues receive each key's messages in order. */
  private readonly pipeline = new KeyedSerializer();
  private stateValue: ChannelState = 'stopped';
  /** Intakes waiting for room in the backlog (for the one warning per episode). */
  private waitingForRoom = 0;
  /** Set from the start of pause()/stop(): intakes waiting for room give up, so the source can stop. */
  private closing = false;
  /** Recovered messages being read and processed, not yet in a queue: they count against maxBacklog. */
  private resuming = 0;
  private ticking: Promise<void> | undefined;

  constructor(
    readonly def: ChannelDefinition,
    private readonly store: MessageStore,
    private readonly logger: Logger,
  ) {
    for (const d of def.destinations) {
      this.queues.set(d.name, new DestinationQueue(d.name, d.destination, d.policy, store, def.name, logger));
    }
    this.duplicates = new DuplicateCheck(def.name, store, def.duplicates.windowMs, def.respondFrom);
  }

  get name(): string { return this.def.name; }
  get state(): ChannelState { return this.stateValue; }

  /** Resumes unfinished work from the store, then starts the source. */
  async start(): Promise<void> {
    if (this.stateValue === 'started') return;
    // Before recover(): its lanes give up while `closing` is still set from the last stop().
    this.closing = false;
    if (this.stateValue === 'stopped') {
      for (const q of this.queues.values()) q.resume();
      await this.recover();
    }
    await this.def.source.start(this.intake, this);
    this.stateValue = 'started';
    this.logger.info({ source: this.def.source.describe() }, 'channel started');
  }

  /** Messages in processing plus deliveries not yet final, for sources that must pause themselves. */
  backlog(): number {
    return this.processing.size + this.queued();
  }

  /** Deliveries accepted by the queues and not yet final. */
  private queued(): number {
    let n = 0;
    for (const q of this.queues.values()) n += q.pending;
    return n;
  }

  /**
   * One 10 ms timer shared by everything polling for room (waiting intakes, recovered lanes):
   * thousands of waiters make one wake-up per tick, not one each.
   */
  private tick(): Promise<void> {
    return (this.ticking ??= sleep(10).then(() => { this.ticking = undefined; }));
  }

  /** Stops taking new messages; queues keep delivering. */
  async pause(): Promise<void> {
    if (this.stateValue !== 'started') return;
    this.closing = true;
    try {
      await this.def.source.stop();
    } catch (err) {
      this.closing = false; // still started: intakes may wait for room again
      throw err;
    }
    this.stateValue = 'paused';
  }

  /** Stops the source, lets in-flight processing finish, then stops the queues. */
  async stop(): Promise<void> {
    if (this.stateValue === 'stopped') return;
    this.closing = true;
    if (this.stateValue === 'started') await this.def.source.stop();
    await Promise.allSettled([...this.processing]);
    await Promise.all([...this.queues.values()].map((q) => q.stop()));
    this.stateValue = 'stopped';
    this.logger.info('channel stopped'); // the channel's logger names it
  }

  /** Takes one message from a source. Never answers AA before the message is durably stored. */
  readonly intake: Intake = async (raw: Uint8Array, meta: SourceMeta): Promise<Outcome> => {
    if (this.backlog() >= this.def.maxBacklog && !(await this.room(meta.signal))) {
      // Not stored: the source gave up waiting (an MLLP AE was already sent), the sender resends.
      return { status: 'error', ackCode: 'AE', text: 'channel busy' };
    }
    const receivedAt = Date.now();
    let input: ParsedInput;
    try {
      input = this.parse(raw, meta);
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      return this.rejectUnparsable(raw, meta, receivedAt, err);
    }
    const { controlId, sender } = input;
    const common: NewMessage = {
      channel: this.name, receivedAt, sourceKind: meta.kind, peer: meta.peer, controlId, sender,
      messageType: input.messageType, patientId: input.patientId, orderingKey: input.orderingKey, raw,
    };

    // Copies that arrive while this message is in intake wait for its answer (DuplicateCheck).
    // A reprocess handed on by another channel is meant to go through again.
    const claim = this.def.duplicates.enabled && controlId && !meta.reprocess ? await this.duplicates.check(sender, controlId, receivedAt) : undefined;
    if (claim?.original) {
      const duplicateOf = claim.original;
      try {
        const id = await this.store.receive({ ...common, duplicateOf, status: 'FILTERED', error: 'duplicate' });
        this.logger.info({ messageId: id, duplicateOf }, 'duplicate message acknowledged, not processed');
        return { status: 'accepted', ackCode: 'AA', messageId: id, duplicateOf, text: 'duplicate', ack: input.ack('AA') };
      } catch (err) {
        return this.storeFailed(input, err);
      }
    }
    try {
      const outcome = await this.accept(input, common, meta);
      if (outcome.ackCode !== 'AA' && outcome.messageId) this.duplicates.rejected(outcome.messageId);
      claim?.settle(outcome.ackCode === 'AA' ? outcome.messageId : undefined);
      return outcome;
    } finally {
      claim?.settle(undefined); // a throw: copies waiting for this one are not duplicates of it
    }
  };

  /** Stores a new message, starts its processing and answers as respondFrom says. */
  private async accept(input: ParsedInput, common: NewMessage, meta: SourceMeta): Promise<Outcome> {
    let id: string;
    try {
      id = await this.store.receive(common);
    } catch (err) {
      return this.storeFailed(input, err);
    }
    const { receivedAt, controlId, sender } = common;
    const env: Envelope = {
      id, channel: this.name, receivedAt, source: { kind: meta.kind, peer: meta.peer, controlId, sender },
      raw: common.raw, content: input.content, key: common.orderingKey, warnings: [], stages: [{ stage: 'received', at: receivedAt }],
    };
    // The steps edit the content in place: an ACK built after them answers the header as sent.
    if (this.def.respondFrom !== 'received') input.keepHeader();
    const processed = this.track(this.pipeline.run(env.key ?? '', () => this.process(env)));

    if (this.def.respondFrom === 'received') return accepted(input, id);
    // The sender gets no answer if this throws (a store failure): a resend is a new attempt.
    const result = await processed.catch((err: unknown) => { this.duplicates.rejected(id); throw err; });
    if (result.status === 'FAILED') return { status: 'error', ackCode: 'AE', messageId: id, text: result.error, ack: input.ack('AE', { error: { text: result.error } }) };
    if (this.def.respondFrom === 'processed' || result.status === 'FILTERED') return accepted(input, id);
    const first = worstOf(await Promise.all(result.tickets.map((t) => t.first)));
    if (first === 'ERROR') {
      const text = 'delivery failed';
      // Recorded before the AE goes out, so the sender's resend is not taken for a duplicate
      // (see DuplicateCheck). Not the status: another destination may still be retrying.
      await this.store.updateMessage(id, {}, { kind: NAK_EVENT, detail: `answered AE: ${text}` }).catch(() => undefined);
      return { status: 'error', ackCode: 'AE', messageId: id, text, ack: input.ack('AE', { error: { text } }) };
    }
    return accepted(input, id, first === 'QUEUED' ? 'queued for retry' : undefined);
  }

  /**
   * Waits until the backlog is below maxBacklog; false when `signal` aborted first. Polls:
   * the backlog drains through many paths (processing, each queue), and a few ms of delay
   * only matter when the channel is already this far behind.
   */
  private async room(signal?: AbortSignal): Promise<boolean> {
    if (this.waitingForRoom++ === 0) this.logger.warn({ backlog: this.backlog() }, 'backlog full: intake waits');
    try {
      while (this.backlog() >= this.def.maxBacklog) {
        if (signal?.aborted || this.closing) return false;
        await this.tick();
      }
      return !signal?.aborted;
    } finally {
      this.waitingForRoom--;
    }
  }

  private parse(raw: Uint8Array, meta: SourceMeta): ParsedInput {
    return parseInput(this.def.dataType, raw, meta, this.def);
  }

  /** Re-runs a stored message (reprocess), keeping its id; `reason` goes to its history. */
  async reprocess(id: string, reason = 'reprocess requested'): Promise<void> {
    await this.store.markForReprocess(id, reason);
    const detail = await this.store.get(id);
    if (!detail) throw new Error(`message ${id} not found`);
    await this.resume({ message: detail, deliveries: [] }, detail.raw);
  }

  /**
   * Takes every unfinished message's place in its key's lane before the source starts (so
   * new messages queue behind them), but loads and processes each one only when the
   * destination queues hold fewer than maxBacklog: a long outage's thousands of pending
   * messages do not all sit in memory at once. Meanwhile backlog() counts them, so intake
   * waits until recovery has caught up.
   */
  private async recover(): Promise<void> {
    const pending = await this.store.pending(this.name);
    if (pending.length === 0) return;
    this.logger.info({ count: pending.length }, 'resuming unfinished messages');
    for (const work of pending) void this.resume(work);
  }

  /**
   * `raw` when the caller has it (reprocess); without it (recovery) the message waits for room
   * in the queues and is read from the store when its turn comes.
   */
  private resume(work: PendingWork, raw?: Uint8Array): Promise<Processed> {
    const m = work.message;
    const throttled = raw === undefined;
    return this.track(this.pipeline.run(m.orderingKey ?? '', async (): Promise<Processed> => {
      // Lanes of different keys run at once: each takes its place (resuming) before it loads.
      while (throttled && this.queued() + this.resuming >= this.def.maxBacklog && !this.closing) await this.tick();
      // Stopping: leave it in the store (still RECEIVED or QUEUED) for the next start.
      if (throttled && this.closing) return { status: 'FAILED', error: 'channel stopped before this message was resumed' };
      if (throttled) this.resuming++;
      try {
        return await this.resumeNow(work, raw);
      } finally {
        if (throttled) this.resuming--;
      }
    }));
  }

  /** Reads (unless given), parses and processes one stored message, keeping its id. */
  private async resumeNow(work: PendingWork, raw?: Uint8Array): Promise<Processed> {
    const m = work.message;
    const bytes = raw ?? (await this.store.get(m.id))?.raw;
    if (!bytes) return { status: 'FAILED', error: 'message no longer in the store' };
    let input: ParsedInput;
    try {
      input = this.parse(bytes, { kind: m.sourceKind, peer: m.peer, sourceId: m.controlId });
    } catch (err) {
      await this.store.updateMessage(m.id, { status: 'ERROR', error: (err as Error).message });
      return { status: 'FAILED', error: (err as Error).message };
    }
    const env: Envelope = {
      id: m.id, channel: this.name, receivedAt: m.receivedAt, source: { kind: m.sourceKind, peer: m.peer, controlId: m.controlId, sender: m.sender },
      raw: bytes, content: input.content, key: m.orderingKey ?? '', warnings: [], stages: [{ stage: raw ? 'reprocess' : 'resumed', at: Date.now() }],
      // Given the raw bytes: reprocess(), the user's request (recovery reads them from the store).
      reprocess: raw !== undefined,
    };
    return this.process(env, work);
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.processing.add(p);
    void p.finally(() => this.processing.delete(p)).catch(() => undefined);
    return p;
  }

  /** Filter, steps, router; then hands the message to its destinations' queues. */
  private async process(env: Envelope, resumed?: PendingWork): Promise<Processed> {
    const ctx = { channel: this.name, logger: this.logger };
    let current: Envelope = env;
    let targets: string[];
    let stage = 'transform';
    try {
      if (this.def.filter) {
        const r = await this.def.filter(current, ctx);
        if (r === FILTERED) return this.filtered(env, 'filter');
        current = r;
      }
      for (const { name, step } of this.def.steps) {
        const recorded = current.stages.length;
        const r = await step(current, ctx);
        if (r === FILTERED) return this.filtered(env, `step ${name}`);
        current = r;
        // A step may record itself (with a summary); otherwise the channel records it.
        if (current.stages.length === recorded) current.stages.push({ stage: name, at: Date.now() });
      }
      // A route's script can throw too: the message then ends in ERROR, not stuck in RECEIVED.
      stage = 'routing';
      targets = this.routeOf(current);
    } catch (err) {
      const error = `${stage} failed: ${err instanceof Error ? err.message : String(err)}`;
      await this.store.updateMessage(env.id, { status: 'ERROR', error }, { kind: 'error', detail: error });
      return { status: 'FAILED', error };
    }
    if (targets.length === 0) return this.filtered(env, 'no route matched');

    // Issued together so they share one group-commit transaction. The event is written only
    // when there is something to say beyond the status: the delivery rows show the route.
    const warned = current.warnings.length;
    await Promise.all([
      this.store.saveContent(env.id, 'transformed', contentText(current.content), contentType(current.content)),
      this.store.updateMessage(env.id, { status: 'TRANSFORMED' }, warned ? { kind: 'transformed', detail: `to ${targets.join(', ')}; ${warned} warning(s)` } : undefined),
    ]);

    const done = new Map((resumed?.deliveries ?? []).map((d) => [d.destination, d]));
    const tickets: DeliveryTicket[] = [];
    for (const name of targets) {
      const prior = done.get(name);
      if (prior && (prior.status === 'SENT' || prior.status === 'ERROR' || prior.status === 'FILTERED')) {
        tickets.push({ first: Promise.resolve(prior.status), done: Promise.resolve(prior.status) });
        continue;
      }
      tickets.push(this.queues.get(name)!.enqueue(current, prior && { attempts: prior.attempts, nextAttemptAt: prior.nextAttemptAt }));
    }
    // The message's own status follows its deliveries: QUEUED while any retries (even beside
    // one that failed for good: recovery resumes QUEUED messages), then the worst final one.
    void Promise.all(tickets.map((t) => t.first)).then(async (firsts) => {
      if (firsts.includes('QUEUED')) await this.store.updateMessage(env.id, { status: 'QUEUED' });
      const finals = await Promise.all(tickets.map((t) => t.done));
      const worst = worstOf(finals);
      // The deliveries' own events already tell the story; the status is the summary.
      if (worst !== 'QUEUED') await this.store.updateMessage(env.id, { status: worst as MessageStatus });
    }).catch((err: unknown) => this.logger.error({ messageId: env.id, err: (err as Error).message }, 'could not record final status'));
    return { status: 'ROUTED', tickets };
  }

  private routeOf(env: Envelope): string[] {
    const rules = this.def.route;
    if (!rules) return this.def.destinations.map((d) => d.name);
    const out: string[] = [];
    for (const rule of rules) {
      if (rule.when && !rule.when(env)) continue;
      for (const t of rule.to) if (!out.includes(t)) out.push(t);
      if (!rule.continue) break;
    }
    return out;
  }

  private async filtered(env: Envelope, reason: string): Promise<Processed> {
    await this.store.updateMessage(env.id, { status: 'FILTERED' }, { kind: 'filtered', detail: reason });
    return { status: 'FILTERED', reason };
  }

  private async rejectUnparsable(raw: Uint8Array, meta: SourceMeta, receivedAt: number, err: InputError): Promise<Outcome> {
    const text = err.message;
    const nak = buildNak({ code: 'AR', error: { code: HL7_ERROR.segmentSequence, text } });
    try {
      // Bad input loses nothing: it is stored as ERROR where it can be found and fixed.
      const id = await this.store.receive({ channel: this.name, receivedAt, sourceKind: meta.kind, peer: meta.peer, controlId: meta.sourceId, raw, status: 'ERROR', error: text });
      return { status: 'rejected', ackCode: 'AR', messageId: id, text, ack: nak };
    } catch {
      return { status: 'error', ackCode: 'AR', text, ack: nak };
    }
  }

  private storeFailed(input: ParsedInput, err: unknown): Outcome {
    this.logger.error({ err: (err as Error).message }, 'store write failed: message not accepted');
    const text = 'message could not be stored; resend later';
    return { status: 'error', ackCode: 'AE', text, ack: input.ack('AE', { error: { code: HL7_ERROR.applicationInternalError, text } }) };
  }
}

function accepted(input: ParsedInput, id: string, text?: string): Outcome {
  return { status: 'accepted', ackCode: 'AA', messageId: id, text, ack: input.ack('AA', { text }) };
}
