/**
 * Delivery modes of a channel, driven through `intake` with a real SQLite store:
 * queue concurrency, queue modes never/always, respondFrom processed/delivered with
 * several destinations, and a script filter. Destinations are in-process recorders whose
 * answers (and timing, through gates) the tests control; the rest of the channel (config
 * → queue policy, filter compilation, script steps, store) is the production code.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { sleep } from '../sleep.js';
import { adt, channelConfig, type TestChannel } from '../../test/helpers/channel.js';
import { eventually } from '../../test/helpers/http-sink.js';
import { parseHl7 } from '../hl7/index.js';
import { silentLogger } from '../log.js';
import { openStore } from '../store/index.js';
import type { MessageDetail, MessageStatus, MessageStore } from '../store/types.js';
import { buildChannel } from './build.js';
import { Channel, worstOf } from './channel.js';
import type { Envelope } from './envelope.js';
import { permanent, sent, transient, type DeliveryResult, type Destination, type Outcome, type SendContext, type Source, type Step } from './types.js';

// ---------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------

const closers: (() => Promise<unknown> | unknown)[] = [];
/** Every gate made in a test; opened before clean-up so no send or step stays blocked. */
const gates: Gate[] = [];

afterEach(async () => {
  for (const g of gates.splice(0)) g.open();
  while (closers.length) {
    try {
      await closers.pop()!();
    } catch {
      // best effort
    }
  }
});

interface Gate {
  readonly promise: Promise<void>;
  open(): void;
}

function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((r) => { open = r; });
  const g = { promise, open };
  gates.push(g);
  return g;
}


/** A source that does nothing: the tests call `intake` themselves. */
const nullSource: Source = { start: async () => {}, stop: async () => {}, describe: () => 'none' };

interface Call {
  readonly controlId: string;
  readonly key: string;
  readonly attempt: number;
}

type Behaviour = (env: Envelope, ctx: SendContext, n: number) => DeliveryResult | Promise<DeliveryResult>;

/**
 * A destination that records each send (in flight, peak in flight, same key twice at
 * once) and answers as `behave` says (default: sent at once).
 */
class Recorder implements Destination {
  readonly calls: Call[] = [];
  /** Control ids of successful sends, in the order they finished. */
  readonly delivered: string[] = [];
  inFlight = 0;
  peak = 0;
  /** Set if two sends of one ordering key were ever in flight together. */
  keyOverlap = false;
  private readonly activeKeys = new Set<string>();

  constructor(public behave: Behaviour = () => sent()) {}

  async send(env: Envelope, ctx: SendContext): Promise<DeliveryResult> {
    const controlId = env.source.controlId ?? '';
    const key = env.key ?? '';
    const n = this.calls.length;
    this.calls.push({ controlId, key, attempt: ctx.attempt });
    if (this.activeKeys.has(key)) this.keyOverlap = true;
    this.activeKeys.add(key);
    this.inFlight++;
    this.peak = Math.max(this.peak, this.inFlight);
    try {
      const r = await this.behave(env, ctx, n);
      if (r.ok) this.delivered.push(controlId);
      return r;
    } finally {
      this.inFlight--;
      this.activeKeys.delete(key);
    }
  }

  async close(): Promise<void> {}
}

/** A placeholder destination block for the config (the component is replaced by a Recorder). */
function dest(queue: TestChannel['destinations'][string]['queue'] = {}): TestChannel['destinations'][string] {
  return { file: { dir: os.tmpdir() }, queue };
}

const FAST = { maxAttempts: 5, backoff: { initial: 20, max: 40, factor: 2 } };

interface Harness {
  readonly channel: Channel;
  readonly store: MessageStore;
  intake(raw: string): Promise<Outcome>;
  /** Waits until the message has this status (bounded); resolves with its detail. */
  until(id: string, status: MessageStatus, timeoutMs?: number): Promise<MessageDetail>;
  detail(id: string): Promise<MessageDetail>;
}

/**
 * Builds the channel the way the engine does (config → buildChannel → Channel) on a real
 * SQLite store in a temporary directory, with each destination replaced by `recorders[name]`
 * and, when given, the steps replaced by `steps`.
 */
async function harness(
  t: Omit<TestChannel, 'source'>,
  recorders: Record<string, Destination>,
  steps?: { name: string; step: Step }[],
): Promise<Harness> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'sluice-modes-'));
  closers.push(() => rm(dataDir, { recursive: true, force: true }));
  const store = await openStore({ dataDir });
  closers.push(() => store.close());
  const cfg = channelConfig({ source: { mllp: { port: 0 } }, ...t });
  const def = buildChannel(cfg, { channel: cfg.name, dataDir, logger: silentLogger }, (name) => {
    const r = recorders[name];
    if (!r) throw new Error(`no recorder for destination ${name}`);
    return r;
  });
  const channel = new Channel({ ...def, source: nullSource, steps: steps ?? def.steps }, store, silentLogger);
  await channel.start();
  closers.push(() => channel.stop());
  const detail = async (id: string): Promise<MessageDetail> => {
    const d = await store.get(id);
    if (!d) throw new Error(`message ${id} not in the store`);
    return d;
  };
  return {
    channel,
    store,
    intake: (raw) => channel.intake(Buffer.from(raw, 'utf8'), { kind: 'test' }),
    detail,
    async until(id, status, timeoutMs = 5_000) {
      let last: MessageDetail | undefined;
      try {
        await eventually(async () => (last = await store.get(id))?.status === status, timeoutMs, `${id} ${status}`);
      } catch {
        throw new Error(`message ${id}: expected ${status}, still ${last?.status ?? 'missing'}${last?.error ? ` (${last.error})` : ''}`);
      }
      return last!;
    },
  };
}

/** Resolves with whether `p` has settled, without waiting for it. */
function settledFlag(p: Promise<unknown>): () => boolean {
  let settled = false;
  void p.then(() => { settled = true; }, () => { settled = true; });
  return () => settled;
}

const msa1 = (o: Outcome): string => parseHl7(o.ack!).get('MSA-1');
const byKey = (calls: readonly string[], prefix: string): string[] => calls.filter((c) => c.startsWith(prefix));

// ---------------------------------------------------------------------------------------
// 1. queue.concurrency
// ---------------------------------------------------------------------------------------

describe('queue concurrency', () => {
  /**
   * `patients` patients × `perPatient` messages, accepted while every send is held at a
   * gate; then the gate opens and each send takes a few ms. Returns the recorder.
   */
  async function run(concurrency: number, patients: number, perPatient: number) {
    const hold = gate();
    const rec = new Recorder(async () => { await hold.promise; await sleep(5); return sent(); });
    const h = await harness({ destinations: { out: dest({ ...FAST, concurrency }) } }, { out: rec });
    const ids: string[] = [];
    for (let m = 0; m < perPatient; m++) {
      for (let p = 0; p < patients; p++) {
        const o = await h.intake(adt(`P${p}-${m}`, `MRN${p}`));
        expect(o.ackCode).toBe('AA');
        ids.push(o.messageId!);
      }
    }
    // Every patient has work waiting; only `concurrency` sends may be in flight.
    await eventually(() => rec.inFlight === Math.min(concurrency, patients), 5_000, `${concurrency} sends in flight`);
    await sleep(150);
    const heldInFlight = rec.inFlight;
    const heldCalls = rec.calls.length;
    hold.open();
    await eventually(() => rec.delivered.length === patients * perPatient, 10_000, 'all delivered');
    for (const id of ids) await h.until(id, 'SENT');
    return { rec, heldInFlight, heldCalls };
  }

  it('concurrency 1: at most one send in flight across patients, each patient in order', async () => {
    const { rec, heldInFlight, heldCalls } = await run(1, 3, 3);
    expect(heldInFlight).toBe(1);
    expect(heldCalls).toBe(1);
    expect(rec.peak).toBe(1);
    expect(rec.calls).toHaveLength(9);
    for (let p = 0; p < 3; p++) expect(byKey(rec.delivered, `P${p}-`)).toEqual([`P${p}-0`, `P${p}-1`, `P${p}-2`]);
  });

  it('concurrency 3 with 5 patients and a slow destination: exactly 3 sends in flight at peak, never one patient twice, each patient in order', async () => {
    const { rec, heldInFlight, heldCalls } = await run(3, 5, 3);
    expect(heldInFlight).toBe(3);
    expect(heldCalls).toBe(3);
    expect(rec.peak).toBe(3);
    expect(rec.keyOverlap).toBe(false);
    expect(rec.calls).toHaveLength(15);
    // The three sends held at the gate were for three different patients.
    expect(new Set(rec.calls.slice(0, 3).map((c) => c.key)).size).toBe(3);
    for (let p = 0; p < 5; p++) expect(byKey(rec.delivered, `P${p}-`)).toEqual([`P${p}-0`, `P${p}-1`, `P${p}-2`]);
  });
});

// ---------------------------------------------------------------------------------------
// 2. queue modes (on-failure is covered in channel.test.ts: retry with backoff, give up
//    after maxAttempts, permanent failure at once)
// ---------------------------------------------------------------------------------------

describe('queue mode: never', () => {
  it('a transient failure is not retried: one attempt, delivery and message ERROR, AE under respondFrom delivered', async () => {
    const rec = new Recorder(() => transient('HTTP 503'));
    const h = await harness({ respondFrom: 'delivered', destinations: { out: dest({ ...FAST, mode: 'never' }) } }, { out: rec });
    const o = await h.intake(adt('N1', 'MRN1'));
    expect(o).toMatchObject({ status: 'error', ackCode: 'AE', text: 'delivery failed' });
    expect(msa1(o)).toBe('AE');
    const d = await h.until(o.messageId!, 'ERROR');
    expect(d.deliveries).toMatchObject([{ destination: 'out', status: 'ERROR', attempts: 1, error: 'gave up after 1 attempt: HTTP 503' }]);
    // Well past several backoffs of this policy (20-40 ms): still one attempt, no retry recorded.
    await sleep(200);
    expect(rec.calls).toHaveLength(1);
    expect((await h.detail(o.messageId!)).events.map((e) => e.kind)).not.toContain('retry');
    expect(h.channel.backlog()).toBe(0);
  });

  it('a send that throws is not retried either', async () => {
    const rec = new Recorder(() => { throw new Error('socket hang up'); });
    const h = await harness({ destinations: { out: dest({ ...FAST, mode: 'never' }) } }, { out: rec });
    const o = await h.intake(adt('N2', 'MRN1'));
    expect(o.ackCode).toBe('AA'); // respondFrom received
    const d = await h.until(o.messageId!, 'ERROR');
    expect(d.deliveries[0]).toMatchObject({ status: 'ERROR', attempts: 1 });
    expect(d.deliveries[0]!.error).toContain('socket hang up');
    await sleep(200);
    expect(rec.calls).toHaveLength(1);
  });
});

describe('queue mode: always', () => {
  it('the delivery is durably QUEUED (attempt 0) before the first attempt, then SENT', async () => {
    let seenDuringSend: MessageDetail | undefined;
    const ref: { store?: MessageStore } = {};
    const rec = new Recorder(async (env) => { seenDuringSend = await ref.store!.get(env.id); return sent(); });
    const h = await harness({ destinations: { out: dest({ ...FAST, mode: 'always' }) } }, { out: rec });
    ref.store = h.store;
    const o = await h.intake(adt('Q1', 'MRN1'));
    const d = await h.until(o.messageId!, 'SENT');
    expect(seenDuringSend!.deliveries).toMatchObject([{ destination: 'out', status: 'QUEUED', attempts: 0 }]);
    expect(seenDuringSend!.events.map((e) => e.kind)).toContain('queued');
    expect(d.deliveries).toMatchObject([{ destination: 'out', status: 'SENT', attempts: 1 }]);
    const kinds = d.events.filter((e) => e.destination === 'out').map((e) => e.kind);
    expect(kinds).toEqual(['queued', 'sent']);
    expect(rec.calls).toHaveLength(1);
  });

  it('respondFrom delivered answers AA "queued" without waiting for the send; the message is QUEUED until it goes', async () => {
    const hold = gate();
    const rec = new Recorder(async () => { await hold.promise; return sent(); });
    const h = await harness({ respondFrom: 'delivered', destinations: { out: dest({ ...FAST, mode: 'always' }) } }, { out: rec });
    const o = await h.intake(adt('Q2', 'MRN1'));
    // Answered while the send is still held: "delivered" means durably queued in this mode.
    expect(rec.delivered).toHaveLength(0);
    expect(o).toMatchObject({ status: 'accepted', ackCode: 'AA', text: 'queued for retry' });
    expect(msa1(o)).toBe('AA');
    expect(o.ack).toContain('queued for retry');
    await h.until(o.messageId!, 'QUEUED');
    hold.open();
    await h.until(o.messageId!, 'SENT');
    expect(rec.delivered).toEqual(['Q2']);
  });

  it('contrast, on-failure: the ACK under respondFrom delivered waits for the first attempt, and a success is never QUEUED', async () => {
    const hold = gate();
    const rec = new Recorder(async () => { await hold.promise; return sent(); });
    const h = await harness({ respondFrom: 'delivered', destinations: { out: dest({ ...FAST, mode: 'on-failure' }) } }, { out: rec });
    const pending = h.intake(adt('Q3', 'MRN1'));
    const settled = settledFlag(pending);
    await eventually(() => rec.calls.length === 1, 5_000, 'send started');
    await sleep(100);
    expect(settled()).toBe(false);
    hold.open();
    const o = await pending;
    expect(o).toMatchObject({ status: 'accepted', ackCode: 'AA' });
    expect(o.text).toBeUndefined();
    const d = await h.until(o.messageId!, 'SENT');
    expect(d.events.map((e) => e.kind)).not.toContain('queued');
  });
});

// ---------------------------------------------------------------------------------------
// 3. respondFrom: processed
// ---------------------------------------------------------------------------------------

describe('respondFrom: delivered, behind a message that waits to retry', () => {
  it('a message of the same patient is answered "queued" at once and waits its turn; other patients go through', async () => {
    let down = true;
    const r = new Recorder((env) => (down && env.source.controlId === 'D1' ? transient('AE: busy') : sent()));
    const h = await harness({ respondFrom: 'delivered', destinations: { out: dest({ mode: 'on-failure', maxAttempts: 100, backoff: { initial: 20, max: 40, factor: 2 } }) } }, { out: r });
    const d1 = await h.intake(adt('D1', 'MRN1'));
    expect(d1).toMatchObject({ ackCode: 'AA', text: 'queued for retry' });
    expect((await h.intake(adt('D2', 'MRN2'))).ackCode).toBe('AA');
    const d3 = await h.intake(adt('D3', 'MRN1'));
    expect(d3).toMatchObject({ ackCode: 'AA', text: 'queued for retry' });
    // Answered while D1 still retries: D3 did not wait for it, and was not sent ahead of it.
    expect((await h.detail(d1.messageId!)).status).toBe('QUEUED');
    expect(r.calls.some((c) => c.controlId === 'D3')).toBe(false);
    const q3 = await h.detail(d3.messageId!);
    expect(q3.deliveries).toMatchObject([{ destination: 'out', status: 'QUEUED', attempts: 0 }]);
    expect(q3.events.find((e) => e.kind === 'queued')?.detail).toMatch(/behind a message of the same ordering key/);
    expect((await h.intake(adt('D4', 'MRN3'))).ackCode).toBe('AA');
    down = false;
    await h.until(d1.messageId!, 'SENT');
    await h.until(d3.messageId!, 'SENT');
    expect(byKey(r.delivered, 'D').filter((c) => c === 'D1' || c === 'D3')).toEqual(['D1', 'D3']);
    expect(r.keyOverlap).toBe(false);
  });
});

describe('respondFrom: delivered, waiting when the one ahead starts to retry', () => {
  it('a message already waiting behind one whose attempt is still running is answered "queued" once that attempt fails', async () => {
    const first = gate();
    let down = true;
    const r = new Recorder(async (env, ctx) => {
      if (env.source.controlId !== 'A1') return sent();
      if (ctx.attempt === 1) await first.promise;
      return down ? transient('AE: busy') : sent();
    });
    const h = await harness({ respondFrom: 'delivered', destinations: { out: dest({ mode: 'on-failure', maxAttempts: 100, backoff: { initial: 20, max: 40, factor: 2 } }) } }, { out: r });
    const a = h.intake(adt('A1', 'MRN1'));
    await eventually(() => r.calls.length === 1, 5_000, 'A1 in its first attempt');
    const b = h.intake(adt('B1', 'MRN1')); // behind A1, which has not failed yet: B1 waits (A1 may well succeed)
    const bAnswered = settledFlag(b);
    await sleep(50);
    expect(bAnswered()).toBe(false);
    first.open(); // A1 fails and waits to retry: B1 is held back for that whole schedule now
    const [oa, ob] = await Promise.all([a, b]);
    expect(oa).toMatchObject({ ackCode: 'AA', text: 'queued for retry' });
    expect(ob).toMatchObject({ ackCode: 'AA', text: 'queued for retry' });
    expect(r.calls.some((c) => c.controlId === 'B1')).toBe(false);
    expect((await h.detail(ob.messageId!)).deliveries).toMatchObject([{ status: 'QUEUED', attempts: 0 }]);
    down = false;
    await h.until(oa.messageId!, 'SENT');
    await h.until(ob.messageId!, 'SENT');
    expect(r.delivered).toEqual(['A1', 'B1']);
  });
});

describe('respondFrom: processed', () => {
  it('answers only after the steps have run, and without waiting for delivery', async () => {
    const stepGate = gate();
    const sendGate = gate();
    let entered!: () => void;
    const inStep = new Promise<void>((r) => { entered = r; });
    const waitStep: Step = async (env) => { entered(); await stepGate.promise; return env; };
    const rec = new Recorder(async () => { await sendGate.promise; return sent(); });
    const h = await harness({ respondFrom: 'processed', destinations: { out: dest(FAST) } }, { out: rec }, [{ name: 'wait', step: waitStep }]);

    const pending = h.intake(adt('R1', 'MRN1'));
    const settled = settledFlag(pending);
    await inStep;
    await sleep(100);
    expect(settled()).toBe(false);
    // Stored while the step runs.
    const [stored] = await h.store.search({ channel: 'test', controlId: 'R1' });
    expect(stored).toMatchObject({ status: 'RECEIVED' });

    stepGate.open();
    const o = await pending;
    expect(o).toMatchObject({ status: 'accepted', ackCode: 'AA', messageId: stored!.id });
    expect(msa1(o)).toBe('AA');
    // The send is still held: the ACK did not wait for it.
    expect(rec.delivered).toHaveLength(0);
    expect((await h.detail(o.messageId!)).status).not.toBe('SENT');
    sendGate.open();
    await h.until(o.messageId!, 'SENT');
  });

  it('an ACK built after the steps (processed, delivered) answers the header as sent, though the steps edited MSH', async () => {
    for (const [respondFrom, lead] of [['processed', ''], ['delivered', ''], ['processed', '\r\n']] as const) {
      const rec = new Recorder();
      const h = await harness({
        respondFrom,
        steps: [{ set: { path: 'MSH-3', value: 'EDITED' } }, { set: { path: 'MSH-10', value: 'CHANGED' } }],
        destinations: { out: dest(FAST) },
      }, { out: rec });
      const raw = lead + adt(`H-${respondFrom}`, 'MRN1'); // a leading line break is skipped by the parser
      const o = await h.intake(raw);
      expect(o.ackCode).toBe('AA');
      const ack = parseHl7(o.ack!);
      expect(ack.get('MSA-2')).toBe(`H-${respondFrom}`);
      expect(ack.get('MSH-5')).toBe('ADT'); // back to the original sending application (MSH-3)
      await h.until(o.messageId!, 'SENT');
      const transformed = (await h.detail(o.messageId!)).contents.find((c) => c.stage === 'transformed')!;
      expect(parseHl7(Buffer.from(transformed.content)).get('MSH-3')).toBe('EDITED'); // the steps did run
    }
  });

  it('a script step that throws answers AE; the message is stored as ERROR and not delivered', async () => {
    const rec = new Recorder();
    const h = await harness({
      respondFrom: 'processed',
      steps: [{ script: { code: "if (msg.get('PV1-2') === 'I') throw new Error('no inpatients here')" } }],
      destinations: { out: dest(FAST) },
    }, { out: rec });
    const raw = adt('R2', 'MRN1');
    const o = await h.intake(raw);
    expect(o).toMatchObject({ status: 'error', ackCode: 'AE' });
    expect(o.messageId).toBeDefined();
    expect(o.text).toMatch(/^transform failed: .*no inpatients here/);
    expect(msa1(o)).toBe('AE');
    const d = await h.detail(o.messageId!);
    expect(d.status).toBe('ERROR');
    expect(d.error).toContain('no inpatients here');
    expect(Buffer.from(d.raw).toString('utf8')).toBe(raw);
    expect(d.deliveries).toEqual([]);
    expect(d.events.map((e) => e.kind)).toContain('error');
    await sleep(50);
    expect(rec.calls).toHaveLength(0);

    // The same step lets another message through.
    const ok = await h.intake(adt('R3', 'MRN2').replace('PV1|1|I|', 'PV1|1|E|'));
    expect(ok.ackCode).toBe('AA');
    await h.until(ok.messageId!, 'SENT');
    expect(rec.delivered).toEqual(['R3']);
  });
});

// ---------------------------------------------------------------------------------------
// 4. respondFrom: delivered with two destinations
// ---------------------------------------------------------------------------------------

describe('respondFrom: delivered with two destinations', () => {
  const two = (a: Recorder, b: Recorder) =>
    harness({ respondFrom: 'delivered', destinations: { a: dest(FAST), b: dest(FAST) } }, { a, b });

  it('both SENT: AA without text, message SENT', async () => {
    const a = new Recorder();
    const b = new Recorder();
    const h = await two(a, b);
    const o = await h.intake(adt('T1', 'MRN1'));
    expect(o).toMatchObject({ status: 'accepted', ackCode: 'AA' });
    expect(o.text).toBeUndefined();
    // Delivered to both before the answer.
    expect(a.delivered).toEqual(['T1']);
    expect(b.delivered).toEqual(['T1']);
    await h.until(o.messageId!, 'SENT');
  });

  it('one SENT + one permanent failure: AE, message ERROR', async () => {
    const a = new Recorder();
    const b = new Recorder(() => permanent('HTTP 400'));
    const h = await two(a, b);
    const o = await h.intake(adt('T2', 'MRN1'));
    expect(o).toMatchObject({ status: 'error', ackCode: 'AE', text: 'delivery failed' });
    expect(msa1(o)).toBe('AE');
    const d = await h.until(o.messageId!, 'ERROR');
    const rows = Object.fromEntries(d.deliveries.map((r) => [r.destination, r]));
    expect(rows.a).toMatchObject({ status: 'SENT', attempts: 1 });
    expect(rows.b).toMatchObject({ status: 'ERROR', attempts: 1, error: 'HTTP 400' });
  });

  it('one SENT + one queued for retry: AA "queued for retry", message QUEUED until the retry succeeds, then SENT', async () => {
    let down = true;
    const a = new Recorder();
    const b = new Recorder(() => (down ? transient('HTTP 503') : sent()));
    const h = await two(a, b);
    const o = await h.intake(adt('T3', 'MRN1'));
    expect(o).toMatchObject({ status: 'accepted', ackCode: 'AA', text: 'queued for retry' });
    expect(msa1(o)).toBe('AA');
    expect(o.ack).toContain('queued for retry');
    const q = await h.until(o.messageId!, 'QUEUED');
    const rows = Object.fromEntries(q.deliveries.map((r) => [r.destination, r]));
    expect(rows.a).toMatchObject({ status: 'SENT' });
    expect(rows.b).toMatchObject({ status: 'QUEUED', error: 'HTTP 503' });
    down = false;
    const d = await h.until(o.messageId!, 'SENT');
    expect(d.deliveries.find((r) => r.destination === 'b')!.attempts).toBeGreaterThanOrEqual(2);
    expect(a.calls).toHaveLength(1);
  });

  it('one queued for retry + one permanent failure: ERROR beats QUEUED (AE), and the message ends ERROR even after the retry succeeds', async () => {
    let down = true;
    const a = new Recorder(() => (down ? transient('HTTP 503') : sent()));
    const b = new Recorder(() => permanent('HTTP 422'));
    const h = await two(a, b);
    const o = await h.intake(adt('T4', 'MRN1'));
    expect(o).toMatchObject({ status: 'error', ackCode: 'AE', text: 'delivery failed' });
    expect(msa1(o)).toBe('AE');
    down = false;
    await eventually(() => a.delivered.length === 1, 5_000, 'a delivered after retry');
    const d = await h.until(o.messageId!, 'ERROR');
    await eventually(async () => (await h.detail(o.messageId!)).deliveries.find((r) => r.destination === 'a')?.status === 'SENT', 5_000, 'a SENT');
    expect(d.deliveries.find((r) => r.destination === 'b')).toMatchObject({ status: 'ERROR', attempts: 1 });
  });

  it('worstOf: ERROR > QUEUED > PENDING > SENT > FILTERED', () => {
    expect(worstOf([])).toBe('FILTERED');
    expect(worstOf(['FILTERED', 'FILTERED'])).toBe('FILTERED');
    expect(worstOf(['FILTERED', 'SENT'])).toBe('SENT');
    expect(worstOf(['SENT', 'PENDING'])).toBe('PENDING');
    expect(worstOf(['SENT', 'QUEUED', 'FILTERED'])).toBe('QUEUED');
    expect(worstOf(['QUEUED', 'ERROR', 'SENT'])).toBe('ERROR');
    expect(worstOf(['ERROR', 'QUEUED'])).toBe('ERROR');
  });
});

// ---------------------------------------------------------------------------------------
// 5. filter by script
// ---------------------------------------------------------------------------------------

describe('filter: script condition', () => {
  const emergency = (id: string, mrn: string): string => adt(id, mrn).replace('PV1|1|I|', 'PV1|1|E|');

  it('drops a non-matching message as FILTERED (recorded, not delivered) and passes a matching one', async () => {
    const rec = new Recorder();
    const h = await harness({ respondFrom: 'delivered', filter: { script: "msg.get('PV1-2') === 'I'" }, destinations: { out: dest(FAST) } }, { out: rec });
    const dropped = await h.intake(emergency('S1', 'MRN1'));
    expect(dropped).toMatchObject({ status: 'accepted', ackCode: 'AA' });
    const f = await h.until(dropped.messageId!, 'FILTERED');
    expect(f.deliveries).toEqual([]);
    expect(f.events).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'filtered', detail: 'filter' })]));

    const passed = await h.intake(adt('S2', 'MRN1'));
    expect(passed).toMatchObject({ status: 'accepted', ackCode: 'AA' });
    const s = await h.until(passed.messageId!, 'SENT');
    expect(s.deliveries).toMatchObject([{ destination: 'out', status: 'SENT' }]);
    expect(rec.calls.map((c) => c.controlId)).toEqual(['S2']);
  });

  it('script and messageType must both hold', async () => {
    const rec = new Recorder();
    const h = await harness({ respondFrom: 'processed', filter: { messageType: ['ADT^A01'], script: "msg.get('PV1-2') === 'I'" }, destinations: { out: dest(FAST) } }, { out: rec });
    const a08 = await h.intake(adt('S3', 'MRN1').replace('ADT^A01^ADT_A01', 'ADT^A08^ADT_A01'));
    await h.until(a08.messageId!, 'FILTERED');
    const er = await h.intake(emergency('S4', 'MRN1'));
    await h.until(er.messageId!, 'FILTERED');
    const ok = await h.intake(adt('S5', 'MRN1'));
    await h.until(ok.messageId!, 'SENT');
    expect(rec.calls.map((c) => c.controlId)).toEqual(['S5']);
  });

  it('a filter script that throws is a processing failure: AE and ERROR, not FILTERED', async () => {
    const rec = new Recorder();
    const h = await harness({ respondFrom: 'processed', filter: { script: "msg.get('PV1-2').nope.deeper === 1" }, destinations: { out: dest(FAST) } }, { out: rec });
    const o = await h.intake(adt('S6', 'MRN1'));
    expect(o).toMatchObject({ status: 'error', ackCode: 'AE' });
    expect(o.text).toMatch(/^transform failed: script failed in filter/);
    expect((await h.detail(o.messageId!)).status).toBe('ERROR');
    expect(rec.calls).toHaveLength(0);
  });
});
