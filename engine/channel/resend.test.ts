import { afterEach, describe, expect, it } from 'vitest';
import { adt, channelConfig, tempEngineConfig, type TestChannel } from '../../test/helpers/channel.js';
import { eventually, HttpSink } from '../../test/helpers/http-sink.js';
import { Engine } from '../engine.js';
import { silentLogger } from '../log.js';
import { MllpSender } from '../mllp/index.js';
import { sleep } from '../sleep.js';
import { openStore } from '../store/index.js';
import type { NewMessage } from '../store/types.js';
import path from 'node:path';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  while (open.length) await open.pop()!.close().catch(() => {});
});

async function startEngine(t: TestChannel): Promise<{ engine: Engine; send: (hl7: string) => ReturnType<MllpSender['send']> }> {
  const engine = await Engine.open(await tempEngineConfig(), silentLogger);
  const channel = engine.deploy(channelConfig(t));
  await channel.start();
  open.push({ close: () => engine.stop() });
  const port = (channel.def.source as unknown as { port: number }).port;
  const sender = new MllpSender({ host: '127.0.0.1', port, ackTimeoutMs: 5_000 });
  open.push(sender);
  return { engine, send: (hl7) => sender.send(hl7) };
}

async function sink(): Promise<{ sink: HttpSink; url: string }> {
  const s = new HttpSink();
  const url = await s.start();
  open.push(s);
  return { sink: s, url };
}

describe('channel: a resend after AE, and failures in routing', () => {
  it.each(['delivered', 'processed'] as const)('respondFrom %s: a resend of a message answered AE is processed, not taken for a duplicate', async (respondFrom) => {
    const { sink: http, url } = await sink();
    // delivered: the first delivery fails for good; processed: the first run's script step
    // throws (the sender's first try has a ward the script refuses; the resend is fixed).
    let failFirst = true;
    http.respond = () => ({ status: respondFrom === 'delivered' && failFirst ? 400 : 200 });
    const { engine, send } = await startEngine({
      source: { mllp: { port: 0 } }, respondFrom,
      steps: [{ script: { code: "if (msg.get('PV1-3.1') === 'BAD') throw new Error('no such ward')" } }],
      destinations: { out: { http: { url }, queue: { maxAttempts: 1 } } },
    });
    const first = respondFrom === 'processed' ? adt('R1', 'MRN1').replace('PV1|1|I|WARD', 'PV1|1|I|BAD') : adt('R1', 'MRN1');
    expect((await send(first)).code).toBe('AE');
    failFirst = false;
    const again = await send(adt('R1', 'MRN1'));
    expect(again.code).toBe('AA');
    expect(again.text ?? '').not.toMatch(/duplicate/);
    await eventually(async () => (await engine.store.search({ channel: 'test', controlId: 'R1', status: 'SENT' })).length === 1, 5_000, 'the resend SENT');
    // A third send after the AA'd resend is a duplicate of that one: delivered once in all.
    const third = await send(adt('R1', 'MRN1'));
    expect(third.code).toBe('AA');
    const all = await engine.store.search({ channel: 'test', controlId: 'R1' });
    expect(all).toHaveLength(3);
    const dup = all.find((m) => m.duplicateOf);
    const resend = all.find((m) => m.status === 'SENT');
    expect(dup?.duplicateOf).toBe(resend?.id);
    expect(all.filter((m) => m.status === 'ERROR')).toHaveLength(1);
    expect(http.bodies).toHaveLength(1);
  });

  it('respondFrom delivered: one destination failing for good beside one retrying answers AE; the message stays QUEUED (recoverable) until the retry ends', async () => {
    const { sink: bad, url: badUrl } = await sink();
    const { sink: slow, url: slowUrl } = await sink();
    bad.respond = () => ({ status: 400 });
    let slowUp = false;
    slow.respond = () => ({ status: slowUp ? 200 : 503 });
    const { engine, send } = await startEngine({
      source: { mllp: { port: 0 } }, respondFrom: 'delivered',
      destinations: {
        bad: { http: { url: badUrl }, queue: { maxAttempts: 1 } },
        slow: { http: { url: slowUrl }, queue: { maxAttempts: 50, backoff: { initial: 20, max: 50, factor: 2 } } },
      },
    });
    expect((await send(adt('Q1', 'MRN1'))).code).toBe('AE');
    const [m] = await engine.store.search({ channel: 'test', controlId: 'Q1' });
    await eventually(async () => (await engine.store.get(m!.id))?.status === 'QUEUED', 5_000, 'QUEUED while slow retries');
    expect((await engine.store.pending('test')).map((w) => w.message.id)).toContain(m!.id);
    // The resend, while the original is still QUEUED (not ERROR), is a new attempt, not a
    // duplicate: the original's AE was recorded. Its own answer waits for its deliveries.
    const again = send(adt('Q1', 'MRN1'));
    await eventually(async () => (await engine.store.search({ channel: 'test', controlId: 'Q1' })).length === 2, 5_000, 'the resend stored');
    const resend = (await engine.store.search({ channel: 'test', controlId: 'Q1' })).find((r) => r.id !== m!.id)!;
    expect(resend.duplicateOf).toBeUndefined();
    expect(resend.status).not.toBe('FILTERED');
    slowUp = true;
    expect((await again).code).toBe('AE');
    await eventually(async () => (await engine.store.get(m!.id))?.status === 'ERROR', 5_000, 'ERROR at the end');
    expect((await engine.store.get(m!.id))!.deliveries.map((d) => `${d.destination}:${d.status}`).sort()).toEqual(['bad:ERROR', 'slow:SENT']);
  });

  it('respondFrom received: a resend is still a duplicate even when the original ended in ERROR (the sender had AA)', async () => {
    const { sink: http, url } = await sink();
    http.respond = () => ({ status: 400 });
    const { engine, send } = await startEngine({ source: { mllp: { port: 0 } }, destinations: { out: { http: { url }, queue: { maxAttempts: 1 } } } });
    expect((await send(adt('R2', 'MRN1'))).code).toBe('AA');
    const [first] = await engine.store.search({ channel: 'test', controlId: 'R2' });
    await eventually(async () => (await engine.store.get(first!.id))?.status === 'ERROR', 5_000, 'ERROR');
    expect((await send(adt('R2', 'MRN1'))).code).toBe('AA');
    const all = await engine.store.search({ channel: 'test', controlId: 'R2' });
    expect(all.find((m) => m.id !== first!.id)?.duplicateOf).toBe(first!.id);
    expect(http.requests).toBe(1);
  });

  it('a route script that throws ends the message in ERROR with the reason (it used to stay RECEIVED)', async () => {
    const { sink: http, url } = await sink();
    const { engine, send } = await startEngine({
      source: { mllp: { port: 0 } },
      route: [{ when: { script: "msg.get('PID-3.1') === 'MRN-BAD' ? undefined.boom : true" }, to: ['out'], continue: false }],
      destinations: { out: { http: { url } } },
    });
    expect((await send(adt('S1', 'MRN-BAD'))).code).toBe('AA');
    expect((await send(adt('S2', 'MRN-OK'))).code).toBe('AA');
    const [bad] = await engine.store.search({ channel: 'test', controlId: 'S1' });
    await eventually(async () => (await engine.store.get(bad!.id))?.status === 'ERROR', 5_000, 'ERROR');
    expect((await engine.store.get(bad!.id))!.error).toMatch(/^routing failed: /);
    await eventually(() => http.bodies.length === 1, 5_000, 'the other message delivered');
  });

  it('a copy arriving while the original is still being stored waits for it: ACKed as its duplicate if it was stored, processed itself if not', async () => {
    const config = await tempEngineConfig();
    const real = await openStore({ dataDir: config.dataDir });
    let failNext = true;
    // The original's intake write fails after a while (a failed group commit: I/O error, disk full).
    const store = new Proxy(real, {
      get(target, prop, receiver) {
        if (prop === 'receive') {
          return async (m: NewMessage) => {
            if (failNext && m.status === undefined) {
              failNext = false;
              await sleep(200);
              throw new Error('disk I/O error');
            }
            return target.receive(m);
          };
        }
        const value = Reflect.get(target, prop, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const engine = await Engine.open(config, silentLogger, store);
    open.push({ close: () => engine.stop() });
    const channel = engine.deploy(channelConfig({ source: { mllp: { port: 0 } }, destinations: { out: { file: { dir: path.join(config.dataDir, 'out') } } } }));
    const raw = Buffer.from(adt('F1', 'MRN1'));
    const meta = { kind: 'mllp', peer: '127.0.0.1:1' };
    const original = channel.intake(raw, meta);
    await sleep(50);
    const copy = channel.intake(raw, meta); // the sender timed out and resent
    expect((await original).ackCode).toBe('AE');
    const copied = await copy;
    expect(copied).toMatchObject({ ackCode: 'AA' });
    expect(copied.text).not.toBe('duplicate');
    // The next resend is a duplicate of the copy, which was accepted and processed.
    expect(await channel.intake(raw, meta)).toMatchObject({ ackCode: 'AA', text: 'duplicate', duplicateOf: copied.messageId });
    await eventually(async () => (await store.get(copied.messageId!))?.status === 'SENT', 5_000, 'the copy delivered');

    // Two copies at the same moment (two connections): one is processed, the other is its duplicate.
    const [a, b] = await Promise.all([channel.intake(Buffer.from(adt('F2', 'MRN2')), meta), channel.intake(Buffer.from(adt('F2', 'MRN2')), meta)]);
    expect([a.text, b.text].filter((t) => t === 'duplicate')).toHaveLength(1);
    const [dup, first] = a.text === 'duplicate' ? [a, b] : [b, a];
    expect(dup.duplicateOf).toBe(first.messageId);
    const statuses = (await store.search({ channel: 'test', controlId: 'F2' })).map((r) => r.status);
    expect(statuses.filter((st) => st === 'FILTERED')).toHaveLength(1);
    expect(statuses).toHaveLength(2);
  });
});
