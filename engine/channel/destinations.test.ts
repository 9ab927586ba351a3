import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { adt } from '../../test/helpers/channel.js';
import { FAST_QUEUE, freePort, httpSink, messageOf, mllpPort, mllpSender, onClose, sleep, startEngine, text, untilStatus } from '../../test/helpers/engine.js';
import { eventually } from '../../test/helpers/http-sink.js';
import { buildAck, parseHl7 } from '../hl7/index.js';
import { silentLogger } from '../log.js';
import { MllpListener, type MllpInbound } from '../mllp/index.js';
import { getComponent } from '../registry.js';
import { fileIo } from './components/file-io.js';
import type { Envelope } from './envelope.js';
import type { Destination, SendContext } from './types.js';

/** A destination built straight from the registry, as buildChannel does. */
function destination(name: string, options: Record<string, unknown>): Destination {
  const spec = getComponent('destination', name)!;
  const d = spec.create(spec.schema.parse(options), { channel: 't', dataDir: '/nonexistent', logger: silentLogger }) as Destination;
  onClose(() => d.close());
  return d;
}

function envelope(controlId: string): Envelope {
  const raw = Buffer.from(adt(controlId, 'MRN1'));
  return { id: controlId, channel: 't', receivedAt: Date.now(), source: { kind: 'test' }, raw, content: { kind: 'hl7v2', message: parseHl7(raw) }, warnings: [], stages: [] };
}

const sendCtx = (): SendContext => ({ channel: 't', destination: 'out', attempt: 1, logger: silentLogger, signal: new AbortController().signal });

type Code = 'AA' | 'AE' | 'AR';

/** A real MLLP peer whose answer to each message `decide` picks; it records what it got. */
async function peer(decide: (n: number) => Code = () => 'AA', port = 0) {
  const got: string[] = [];
  const listener = new MllpListener({
    port,
    host: '127.0.0.1',
    handler: (inbound: MllpInbound) => {
      const code = decide(got.length);
      got.push(inbound.raw.toString('utf8'));
      return buildAck(inbound.message!, code === 'AA' ? { code } : { code, error: { text: code === 'AE' ? 'database busy' : 'unknown patient' } });
    },
  });
  const bound = await listener.start();
  onClose(() => listener.close());
  return { got, port: bound, listener };
}

async function mllpChannel(port: number, extra: Record<string, unknown> = {}, queue = FAST_QUEUE) {
  const engine = await startEngine({ source: { mllp: { port: 0 } }, destinations: { out: { mllp: { host: '127.0.0.1', port, ackTimeout: 2_000, connectTimeout: 1_000, ...extra }, queue } } });
  return { engine, send: mllpSender(mllpPort(engine)) };
}

describe('mllp destination', () => {
  it('a dead peer does not hold up shutdown: retries follow the queue policy, the sender adds no backoff of its own', async () => {
    const dead = await freePort();
    const engine = await startEngine({
      source: { mllp: { port: 0 } },
      destinations: { out: { mllp: { host: '127.0.0.1', port: dead, connectTimeout: 1000 }, queue: { mode: 'on-failure', maxAttempts: 1000, backoff: { initial: 20, max: 50, factor: 2 }, concurrency: 4 } } },
    });
    const send = mllpSender(mllpPort(engine));
    for (let i = 0; i < 20; i++) expect((await send.send(adt(`D${i}`, `MRN${i}`))).code).toBe('AA');
    // Long enough for many failed connects: with the sender's own exponential backoff (up to 30 s) this grew to seconds per attempt.
    await sleep(1500);
    expect((await engine.store.search({ channel: 'test' })).length).toBe(20);
    // A pull source (Kafka) pauses on this: 20 deliveries accepted, none final.
    expect(engine.channel('test')!.backlog()).toBe(20);
    const started = Date.now();
    await engine.stop();
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('AA: SENT after one attempt, with what was sent and the ACK saved', async () => {
    const p = await peer();
    const { engine, send } = await mllpChannel(p.port);
    expect((await send.send(adt('M1', 'MRN1'))).code).toBe('AA');
    const m = await messageOf(engine.store, 'M1');
    const detail = await untilStatus(engine.store, m.id, 'SENT');
    expect(p.got).toHaveLength(1);
    expect(parseHl7(p.got[0]!).controlId).toBe('M1');
    expect(detail.deliveries).toMatchObject([{ destination: 'out', status: 'SENT', attempts: 1 }]);
    await eventually(() => engine.channel('test')!.backlog() === 0, 5_000, 'backlog back to 0');
    const response = detail.contents.find((c) => c.stage === 'response' && c.destination === 'out');
    expect(response).toBeDefined();
    const ack = parseHl7(text(response!.content));
    expect(ack.get('MSA-1')).toBe('AA');
    expect(ack.get('MSA-2')).toBe('M1');
    expect(text(detail.contents.find((c) => c.stage === 'sent')!.content)).toBe(p.got[0]);
  });

  it('AE: retried (onAE: retry) until the peer recovers, then SENT', async () => {
    const p = await peer((n) => (n < 2 ? 'AE' : 'AA'));
    const { engine, send } = await mllpChannel(p.port);
    await send.send(adt('M2', 'MRN1'));
    const m = await messageOf(engine.store, 'M2');
    const detail = await untilStatus(engine.store, m.id, 'SENT');
    expect(p.got).toHaveLength(3);
    expect(detail.deliveries[0]).toMatchObject({ status: 'SENT', attempts: 3 });
    const retries = detail.events.filter((e) => e.kind === 'retry');
    expect(retries).toHaveLength(2);
    expect(retries[0]!.detail).toContain('AE: database busy');
  });

  it('AE with onAE: error fails at once', async () => {
    const p = await peer(() => 'AE');
    const { engine, send } = await mllpChannel(p.port, { onAE: 'error' });
    await send.send(adt('M3', 'MRN1'));
    const detail = await untilStatus(engine.store, (await messageOf(engine.store, 'M3')).id, 'ERROR');
    expect(detail.deliveries[0]).toMatchObject({ status: 'ERROR', attempts: 1, error: 'AE: database busy' });
    expect(p.got).toHaveLength(1);
  });

  it('AR: ERROR at once (onAR default error), the NAK kept as the response and what was sent beside it', async () => {
    const p = await peer(() => 'AR');
    const { engine, send } = await mllpChannel(p.port);
    await send.send(adt('M4', 'MRN1'));
    const detail = await untilStatus(engine.store, (await messageOf(engine.store, 'M4')).id, 'ERROR');
    expect(detail.deliveries[0]).toMatchObject({ status: 'ERROR', attempts: 1 });
    expect(detail.deliveries[0]!.error).toContain('AR: unknown patient');
    const response = detail.contents.find((c) => c.stage === 'response');
    expect(parseHl7(text(response!.content)).get('MSA-1')).toBe('AR');
    const sentContent = detail.contents.find((c) => c.stage === 'sent' && c.destination === 'out');
    expect(text(sentContent!.content)).toBe(p.got[0]);
    await sleep(150);
    expect(p.got).toHaveLength(1);
  });

  it('AR with onAR: retry keeps trying', async () => {
    const p = await peer((n) => (n < 1 ? 'AR' : 'AA'));
    const { engine, send } = await mllpChannel(p.port, { onAR: 'retry' });
    await send.send(adt('M5', 'MRN1'));
    const detail = await untilStatus(engine.store, (await messageOf(engine.store, 'M5')).id, 'SENT');
    expect(detail.deliveries[0]).toMatchObject({ status: 'SENT', attempts: 2 });
  });

  it('peer down: QUEUED, then delivered in order when it comes up on the same port', async () => {
    const port = await freePort();
    const { engine, send } = await mllpChannel(port);
    await send.send(adt('D1', 'MRN1'));
    await send.send(adt('D2', 'MRN1'));
    const d1 = await messageOf(engine.store, 'D1');
    await untilStatus(engine.store, d1.id, 'QUEUED');
    await eventually(async () => ((await engine.store.get(d1.id))!.deliveries[0]?.attempts ?? 0) >= 2, 5_000, 'several attempts');
    expect((await engine.store.get(d1.id))!.deliveries[0]!.error).toContain('cannot connect');

    const p = await peer(() => 'AA', port);
    await untilStatus(engine.store, d1.id, 'SENT');
    await untilStatus(engine.store, (await messageOf(engine.store, 'D2')).id, 'SENT');
    expect(p.got.map((m) => parseHl7(m).controlId)).toEqual(['D1', 'D2']);
  });
});

describe('destinations used directly', () => {
  it('mllp: sends again after close(), on a new connection (a restarted channel keeps its destinations)', async () => {
    const p = await peer();
    const d = destination('mllp', { host: '127.0.0.1', port: p.port, ackTimeout: 2_000 });
    expect(await d.send(envelope('R1'), sendCtx())).toMatchObject({ ok: true });
    await d.close();
    expect(await d.send(envelope('R2'), sendCtx())).toMatchObject({ ok: true });
    expect(p.got.map((m) => parseHl7(m).controlId)).toEqual(['R1', 'R2']);
    expect(p.listener.stats.totalConnections).toBe(2);
  });

  it('file: writes the whole message under its name, no temporary file left; a directory removed meanwhile is made again', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'sluice-file-dest-'));
    onClose(() => rm(root, { recursive: true, force: true }));
    const dir = path.join(root, 'out');
    const d = destination('file', { dir, name: '{id}.hl7' });
    expect(await d.send(envelope('F1'), sendCtx())).toMatchObject({ ok: true, response: path.join(dir, 'F1.hl7') });
    await rm(dir, { recursive: true });
    expect(await d.send(envelope('F2'), sendCtx())).toMatchObject({ ok: true });
    expect((await readdir(dir)).sort()).toEqual(['F2.hl7']);
    expect(await readFile(path.join(dir, 'F2.hl7'), 'utf8')).toBe(adt('F2', 'MRN1'));
    await rm(root, { recursive: true });
    await writeFile(root, 'a file where the directory should be');
    expect(await d.send(envelope('F3'), sendCtx())).toMatchObject({ ok: false, transient: true });
  });

  it('file: a dir relative to the working directory (as in the example channels) is written into, subdirectories included', async () => {
    // Below the working directory, so the relative path does not climb through the filesystem root.
    const root = await mkdtemp(path.join(process.cwd(), '.sluice-test-'));
    onClose(() => rm(root, { recursive: true, force: true }));
    const dir = path.relative(process.cwd(), path.join(root, 'data', 'out'));
    expect(dir.startsWith('.sluice-test-')).toBe(true);
    const d = destination('file', { dir, name: '{MSH-4}/{id}.hl7' });
    expect(await d.send(envelope('R1'), sendCtx())).toMatchObject({ ok: true, response: path.join(dir, 'HOSP', 'R1.hl7') });
    expect(await readFile(path.join(root, 'data', 'out', 'HOSP', 'R1.hl7'), 'utf8')).toBe(adt('R1', 'MRN1'));
  });

  it('file: a value of "." or ".." from the message stays a name inside dir; concurrent first writes into a new directory create it once', async () => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'sluice-file-dest-'));
    onClose(() => rm(root, { recursive: true, force: true }));
    const dir = path.join(root, 'out');
    const d = destination('file', { dir, name: '{MSH-4}/{id}.hl7' });
    const up = envelope('T1');
    (up.content as { message: ReturnType<typeof parseHl7> }).message.set('MSH-4', '..');
    expect(await d.send(up, sendCtx())).toMatchObject({ ok: true, response: path.join(dir, '__', 'T1.hl7') });
    expect(await readdir(root)).toEqual(['out']); // nothing written beside dir
    // A name that only starts with dots is a name; an empty last part is refused, not retried.
    const dots = destination('file', { dir, name: '{MSH-10}.hl7' });
    const dotted = envelope('..42');
    expect(await dots.send(dotted, sendCtx())).toMatchObject({ ok: true, response: path.join(dir, '..42.hl7') });
    const emptyLast = destination('file', { dir, name: '{MSH-4}/{PID-8}' });
    const noSex = envelope('T2');
    (noSex.content as { message: ReturnType<typeof parseHl7> }).message.set('PID-8', '');
    expect(await emptyLast.send(noSex, sendCtx())).toMatchObject({ ok: false, transient: false });
    // Five first writes at once into one new directory: one mkdir (and one set of parent
    // fsyncs) that all of them wait for, not one each that might skip the fsync.
    const mkdir = vi.spyOn(fileIo, 'mkdir');
    onClose(() => mkdir.mockRestore());
    const results = await Promise.all(['C1', 'C2', 'C3', 'C4', 'C5'].map((id) => d.send(envelope(id), sendCtx())));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(mkdir).toHaveBeenCalledTimes(1);
    expect((await readdir(path.join(dir, 'HOSP'))).sort()).toEqual(['C1.hl7', 'C2.hl7', 'C3.hl7', 'C4.hl7', 'C5.hl7']);
  });

  it('http: a configured Content-Type replaces the default rather than joining it', async () => {
    const seen: (string | undefined)[] = [];
    const server = http.createServer((req, res) => { seen.push(req.headers['content-type']); req.resume().on('end', () => res.end('ok')); });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    onClose(() => new Promise((r) => { server.closeAllConnections(); server.close(r); }));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    await destination('http', { url }).send(envelope('H1'), sendCtx());
    await destination('http', { url, headers: { 'Content-Type': 'application/json' } }).send(envelope('H2'), sendCtx());
    await destination('http', { url, contentType: 'text/plain', headers: { 'x-token': 'abc' } }).send(envelope('H3'), sendCtx());
    expect(seen).toEqual(['x-application/hl7-v2+er7', 'application/json', 'text/plain']);
  });

  it('http: Retry-After is read as seconds or an HTTP-date; anything else is ignored', async () => {
    let retryAfter = '';
    const server = http.createServer((req, res) => {
      req.resume().on('end', () => res.writeHead(503, retryAfter ? { 'retry-after': retryAfter } : {}).end('busy'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    onClose(() => new Promise((r) => { server.closeAllConnections(); server.close(r); }));
    const d = destination('http', { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/` });
    const wait = async (value: string) => {
      retryAfter = value;
      const result = await d.send(envelope('R1'), sendCtx());
      expect(result).toMatchObject({ ok: false, transient: true, error: 'HTTP 503' });
      return (result as { retryAfterMs?: number }).retryAfterMs;
    };
    expect(await wait('7')).toBe(7_000);
    expect(await wait(' 120 ')).toBe(120_000);
    const inAMinute = await wait(new Date(Date.now() + 60_000).toUTCString());
    expect(inAMinute).toBeGreaterThan(55_000);
    expect(inAMinute).toBeLessThanOrEqual(60_000);
    expect(await wait('Sun, 06 Nov 1994 08:49:37 GMT')).toBe(0); // already past
    expect(await wait('')).toBeUndefined();
    expect(await wait('soon')).toBeUndefined();
    expect(await wait('-1')).toBeUndefined();
    expect(await wait('1.5')).toBeUndefined();
    // Not an HTTP-date, though Date.parse reads it as one: must not park the message until 2099.
    expect(await wait('12/31/2099')).toBeUndefined();
  });
});

describe('channel destination', () => {
  async function twoChannels(opts: { startB: boolean }) {
    const { sink, url } = await httpSink();
    const engine = await startEngine([
      { name: 'A', source: { mllp: { port: 0 } }, destinations: { toB: { channel: { channel: 'B' }, queue: FAST_QUEUE } } },
      { name: 'B', source: { mllp: { port: 0 } }, destinations: { out: { http: { url }, queue: FAST_QUEUE } } },
    ], { noStart: true });
    await engine.channel('A')!.start();
    if (opts.startB) await engine.channel('B')!.start();
    return { engine, sink, send: mllpSender(mllpPort(engine, 'A')) };
  }

  it('A hands the message to B, which stores it as its own message and delivers it', async () => {
    const { engine, sink, send } = await twoChannels({ startB: true });
    await send.send(adt('C1', 'MRN1'));
    const a = await messageOf(engine.store, 'C1', 'A');
    const b = await messageOf(engine.store, 'C1', 'B');
    expect(b.id).not.toBe(a.id);
    expect(b).toMatchObject({ channel: 'B', sourceKind: 'channel', peer: 'A' });
    await untilStatus(engine.store, a.id, 'SENT');
    await untilStatus(engine.store, b.id, 'SENT');
    expect(sink.bodies).toHaveLength(1);
    expect(parseHl7(sink.bodies[0]!).controlId).toBe('C1');
  });

  it('B not running: A retries, then delivers once B starts', async () => {
    const { engine, sink, send } = await twoChannels({ startB: false });
    await send.send(adt('C2', 'MRN1'));
    const a = await messageOf(engine.store, 'C2', 'A');
    await untilStatus(engine.store, a.id, 'QUEUED');
    await eventually(async () => ((await engine.store.get(a.id))!.deliveries[0]?.attempts ?? 0) >= 2, 5_000, 'retries');
    expect((await engine.store.get(a.id))!.deliveries[0]!.error).toContain('channel "B" is not running');
    expect(await engine.store.search({ channel: 'B' })).toHaveLength(0);

    await engine.channel('B')!.start();
    await untilStatus(engine.store, a.id, 'SENT');
    await untilStatus(engine.store, (await messageOf(engine.store, 'C2', 'B')).id, 'SENT');
    expect(sink.bodies).toHaveLength(1);
  });

  it('B stopped after running: A retries and B takes the message once started again', async () => {
    const { engine, send } = await twoChannels({ startB: true });
    await engine.channel('B')!.stop();
    await send.send(adt('C3', 'MRN1'));
    const a = await messageOf(engine.store, 'C3', 'A');
    await eventually(async () => ((await engine.store.get(a.id))!.deliveries[0]?.attempts ?? 0) >= 2, 5_000, 'retries');
    expect((await engine.store.get(a.id))!.status).toBe('QUEUED');
    await engine.channel('B')!.start();
    await untilStatus(engine.store, a.id, 'SENT');
    expect(await engine.store.search({ channel: 'B', controlId: 'C3' })).toHaveLength(1);
  });

  // A stopped queue is resumed when its channel starts again (it used to stay stopped).
  it('B stopped after running: B also delivers to its own destination once started again', async () => {
    const { engine, sink, send } = await twoChannels({ startB: true });
    await engine.channel('B')!.stop();
    await engine.channel('B')!.start();
    await send.send(adt('C4', 'MRN1'));
    const b = await messageOf(engine.store, 'C4', 'B');
    await untilStatus(engine.store, b.id, 'SENT', 1_000);
    expect(sink.bodies).toHaveLength(1);
  });

  it('a reprocess in A goes through B again (not taken there for a duplicate); a plain resend still is one', async () => {
    const { engine, sink, send } = await twoChannels({ startB: true });
    await send.send(adt('C6', 'MRN1'));
    const a = await messageOf(engine.store, 'C6', 'A');
    await untilStatus(engine.store, a.id, 'SENT');
    await eventually(() => sink.bodies.length === 1, 5_000, 'first delivery from B');
    await engine.reprocess(a.id, 'mapping fixed');
    await eventually(() => sink.bodies.length === 2, 5_000, 'B delivered the reprocess');
    const inB = await engine.store.search({ channel: 'B', controlId: 'C6' });
    expect(inB.map((m) => m.status).sort()).toEqual(['SENT', 'SENT']);
    await send.send(adt('C6', 'MRN1')); // the sender's resend: a duplicate in A, so B sees nothing new
    await sleep(200);
    expect(sink.bodies).toHaveLength(2);
  });

  it('B rejecting the message (a step made it unparsable) is a permanent error in A', async () => {
    const { url } = await httpSink();
    const engine = await startEngine([
      { name: 'A', source: { mllp: { port: 0 } }, steps: [{ script: { code: "msg.setRaw('PID-3', 'x\\rGARBAGE')" } }], destinations: { toB: { channel: { channel: 'B' }, queue: FAST_QUEUE } } },
      { name: 'B', source: { mllp: { port: 0 } }, destinations: { out: { http: { url } } } },
    ]);
    await mllpSender(mllpPort(engine, 'A')).send(adt('C5', 'MRN1'));
    const a = await messageOf(engine.store, 'C5', 'A');
    const detail = await untilStatus(engine.store, a.id, 'ERROR');
    expect(detail.deliveries[0]).toMatchObject({ status: 'ERROR', attempts: 1 });
    expect(detail.deliveries[0]!.error).toContain('rejected by channel B');
    expect(await engine.store.search({ channel: 'B', status: 'ERROR' })).toHaveLength(1);
  });
});
