/**
 * Interop with other MLLP implementations: node-hl7-client and simple-hl7 (npm dev
 * dependencies) and HAPI HL7 v2 (Java, built from test/helpers/hapi with Maven).
 */
import net from 'node:net';
import { createRequire } from 'node:module';
import { Client, Message, type InboundResponse } from 'node-hl7-client';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseHl7, type Hl7Message } from '../hl7/index.js';
import { MllpListener, type MllpInbound, type MllpListenerOptions } from './listener.js';
import { MllpSender } from './sender.js';
import { adt, onCleanup, waitFor, within } from '../../test/helpers/mllp.js';
import { ensureHapiBuilt, runHapiClient, startHapiServer } from '../../test/helpers/hapi.js';

async function startListener(opts: Partial<MllpListenerOptions> = {}): Promise<{ listener: MllpListener; port: number; seen: MllpInbound[] }> {
  const seen: MllpInbound[] = [];
  const listener = new MllpListener({
    port: 0,
    drainTimeoutMs: 500,
    handler: (i) => { seen.push(i); return i.message ? defaultAck(i.message) : 'MSH|^~\\&|||||||ACK|X|P|2.5.1\rMSA|AR\r'; },
    ...opts,
  });
  const port = await listener.start();
  onCleanup(() => listener.close());
  return { listener, port, seen };
}

function defaultAck(m: Hl7Message): string {
  return `MSH|^~\\&|RECVAPP|RECVFAC|${m.getRaw('MSH-3')}|${m.getRaw('MSH-4')}|20240101120000||ACK^${m.get('MSH-9.2')}^ACK|A${m.controlId}|P|${m.getRaw('MSH-12')}\rMSA|AA|${m.getRaw('MSH-10')}\r`;
}

// ---- simple-hl7 (CommonJS, untyped): the small surface these tests use ----
interface SimpleHl7Segment { getField(i: number): string }
interface SimpleHl7Message { toString(): string; getSegment(name: string): SimpleHl7Segment | undefined }
interface SimpleHl7Client { send(msg: { toString(): string }, cb: (err: Error | null, ack: SimpleHl7Message) => void): void; close(): void }
interface SimpleHl7Server { start(port: net.ListenOptions): void; stop(): void; server: net.Server }
interface SimpleHl7 {
  Server: {
    createTcpClient(opts: { host: string; port: number; keepalive?: boolean }): SimpleHl7Client;
    createTcpServer(handler: (err: Error | null, req: { msg: SimpleHl7Message }, res: { ack: SimpleHl7Message; end(): void }) => void): SimpleHl7Server;
  };
}
const simpleHl7 = createRequire(import.meta.url)('simple-hl7') as SimpleHl7;

describe('node-hl7-client → our listener', () => {
  it('gets AA for each message on one connection', async () => {
    const { listener, port, seen } = await startListener();
    const client = new Client({ host: '127.0.0.1' });
    const acks: Hl7Message[] = [];
    const conn = client.createConnection({ port, waitAck: true, maxConnectionAttempts: 1 }, (res: InboundResponse) => {
      acks.push(parseHl7(res.getMessage().toString()));
    });
    onCleanup(async () => { await conn.close(); client.closeAll(); });
    // node-hl7-client opens a second connection if sendMessage() runs before its first one is up.
    await within(new Promise<void>((resolve) => conn.once('connect', () => resolve())), 3000, 'node-hl7-client connect');
    const ids = ['NH1', 'NH2', 'NH3'];
    for (const [n, id] of ids.entries()) {
      await conn.sendMessage(new Message({ text: adt(id) }));
      await waitFor(() => acks.length === n + 1, `node-hl7-client ACK ${id}`);
    }
    expect(acks.map((a) => [a.get('MSA-1'), a.get('MSA-2')])).toEqual(ids.map((id) => ['AA', id]));
    expect(seen.map((s) => s.message?.controlId)).toEqual(ids);
    expect(seen.map((s) => s.message?.get('PID-5.1'))).toEqual(['DOE', 'DOE', 'DOE']);
    expect(listener.stats.totalConnections).toBe(1);
  });

  it('accepts a message built with node-hl7-client’s own builder', async () => {
    const { port, seen } = await startListener();
    const client = new Client({ host: '127.0.0.1' });
    const acks: string[] = [];
    const conn = client.createConnection({ port, waitAck: true, maxConnectionAttempts: 1 }, (res: InboundResponse) => {
      acks.push(res.getMessage().get('MSA.1').toString());
    });
    onCleanup(async () => { await conn.close(); client.closeAll(); });
    await within(new Promise<void>((resolve) => conn.once('connect', () => resolve())), 3000, 'node-hl7-client connect');
    const msg = new Message({ messageHeader: { msh_9_1: 'ADT', msh_9_2: 'A08', msh_10: 'BUILT1', msh_11_1: 'T' } });
    msg.set('PID.3.1', '12345');
    await conn.sendMessage(msg);
    await waitFor(() => acks.length === 1, 'ACK for builder message');
    expect(acks).toEqual(['AA']);
    expect(seen[0]!.message!.controlId).toBe('BUILT1');
    expect(seen[0]!.message!.get('MSH-9.2')).toBe('A08');
    expect(seen[0]!.message!.get('PID-3.1')).toBe('12345');
  });
});

describe('simple-hl7', () => {
  it('its client gets AA from our listener, several messages on one kept-alive connection', async () => {
    const { listener, port } = await startListener();
    const client = simpleHl7.Server.createTcpClient({ host: '127.0.0.1', port, keepalive: true });
    onCleanup(() => client.close());
    for (const id of ['SH1', 'SH2', 'SH3']) {
      const ack = await within(new Promise<SimpleHl7Message>((resolve, reject) => {
        client.send(adt(id), (err, a) => (err ? reject(err) : resolve(a)));
      }), 3000, `simple-hl7 ACK for ${id}`);
      expect(ack.getSegment('MSA')!.getField(1)).toBe('AA');
      expect(ack.getSegment('MSA')!.getField(2)).toBe(id);
    }
    expect(listener.stats.totalConnections).toBe(1);
  });

  it('our sender gets AA from its server', async () => {
    const received: string[] = [];
    const app = simpleHl7.Server.createTcpServer((err, req, res) => {
      if (err) return;
      received.push(req.msg.toString());
      res.end();
    });
    const connections: net.Socket[] = [];
    app.start({ port: 0, host: '127.0.0.1' });
    app.server.on('connection', (s) => connections.push(s));
    onCleanup(() => new Promise<void>((resolve) => { connections.forEach((s) => s.destroy()); app.server.close(() => resolve()); }));
    await new Promise<void>((resolve) => (app.server.listening ? resolve() : app.server.once('listening', () => resolve())));
    const port = (app.server.address() as net.AddressInfo).port;
    const sender = new MllpSender({ host: '127.0.0.1', port, ackTimeoutMs: 2000 });
    onCleanup(() => sender.close());
    for (const id of ['TOSH1', 'TOSH2']) {
      const r = await sender.send(adt(id));
      expect(r).toMatchObject({ ok: true, code: 'AA', controlId: id });
    }
    expect(received).toHaveLength(2);
    expect(connections).toHaveLength(1);
  });
});

describe('HAPI HL7 v2 (Java)', () => {
  beforeAll(() => {
    const { built, ms } = ensureHapiBuilt();
    if (built) console.info(`built the HAPI peer in ${ms} ms`);
  }, 180_000);

  it('our sender gets AA from a HAPI SimpleServer', async () => {
    const hapi = await startHapiServer();
    onCleanup(() => hapi.stop());
    const sender = new MllpSender({ host: '127.0.0.1', port: hapi.port, ackTimeoutMs: 5000 });
    onCleanup(() => sender.close());
    const ids = ['TOHAPI1', 'TOHAPI2', 'TOHAPI3'];
    for (const id of ids) {
      const r = await sender.send(adt(id, { version: '2.5' }));
      expect(r.code, `ACK from HAPI: ${r.raw.toString().replace(/\r/g, '\n')}`).toBe('AA');
      expect(r.ok).toBe(true);
      expect(r.controlId).toBe(id);
    }
    await waitFor(() => hapi.received().length === ids.length, 'HAPI to log the messages');
    expect(hapi.received()).toEqual(ids);
  });

  it('HAPI’s client gets AA from our listener', async () => {
    const { listener, port, seen } = await startListener();
    const results = await runHapiClient(port, 3);
    expect(results).toEqual([1, 2, 3].map((i) => ({ code: 'AA', ackId: `HAPI${i}`, sentId: `HAPI${i}` })));
    expect(seen.map((s) => s.message?.controlId)).toEqual(['HAPI1', 'HAPI2', 'HAPI3']);
    expect(listener.stats.totalConnections).toBe(1);
  });

  it('HAPI’s client gets AA from our listener’s default handler (our own buildAck)', async () => {
    const listener = new MllpListener({ port: 0, drainTimeoutMs: 500 });
    const port = await listener.start();
    onCleanup(() => listener.close());
    const results = await runHapiClient(port, 2);
    expect(results.map((r) => r.code)).toEqual(['AA', 'AA']);
    expect(results.map((r) => r.ackId)).toEqual(['HAPI1', 'HAPI2']);
  });
});
