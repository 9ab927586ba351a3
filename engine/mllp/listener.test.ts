import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { buildAck } from '../hl7/index.js';
import { frame } from './framing.js';
import { MllpListener, type MllpHandler, type MllpListenerOptions } from './listener.js';
import { RawClient, adt, memoryLogger, onCleanup, sleep, waitFor, within } from '../../test/helpers/mllp.js';

async function startListener(opts: Partial<MllpListenerOptions> = {}): Promise<{ listener: MllpListener; port: number }> {
  const listener = new MllpListener({ port: 0, ...opts });
  const port = await listener.start();
  onCleanup(() => listener.close());
  return { listener, port };
}

describe('MllpListener: replies', () => {
  it('NAKs (AR) a frame without MSH and keeps the connection usable', async () => {
    const { listener, port } = await startListener({ application: 'SLUICE', facility: 'HOSP' });
    const client = await RawClient.connect(port);
    client.send('PID|1||123^^^HOSP^MR||DOE^JANE\r');
    const nak = await client.next();
    expect(nak.get('MSA-1')).toBe('AR');
    expect(nak.get('MSA-2')).toBe('');
    expect(nak.get('MSH-3')).toBe('SLUICE');
    expect(nak.get('ERR-8') || nak.get('MSA-3')).toMatch(/MSH/);
    client.send(adt('AFTERNAK'));
    const ack = await client.next();
    expect(ack.get('MSA-1')).toBe('AA');
    expect(ack.get('MSA-2')).toBe('AFTERNAK');
    expect(client.closed).toBe(false);
    expect(listener.stats).toMatchObject({ frames: 2, acks: 1, naks: 1, connections: 1 });
  });

  it('NAKs an empty frame too', async () => {
    const { port } = await startListener();
    const client = await RawClient.connect(port);
    client.send('');
    expect((await client.next()).get('MSA-1')).toBe('AR');
    client.send(adt('AFTEREMPTY'));
    expect((await client.next()).get('MSA-2')).toBe('AFTEREMPTY');
  });

  it('puts the control id of a message that has an MSH but fails to parse into the NAK (MSA-2)', async () => {
    const { port } = await startListener();
    const client = await RawClient.connect(port);
    client.send(adt('BROKEN7') + 'not a segment\r');
    const nak = await client.next();
    expect(nak.get('MSA-1')).toBe('AR');
    expect(nak.get('MSA-2')).toBe('BROKEN7');
  });

  it('handles one message at a time per connection, in order, while connections run in parallel', async () => {
    const active = new Map<number, number>();
    let maxActivePerConnection = 0;
    let maxActiveOverall = 0;
    const seen = new Map<number, string[]>();
    const handler: MllpHandler = async (inbound) => {
      const now = (active.get(inbound.connectionId) ?? 0) + 1;
      active.set(inbound.connectionId, now);
      maxActivePerConnection = Math.max(maxActivePerConnection, now);
      maxActiveOverall = Math.max(maxActiveOverall, [...active.values()].reduce((a, b) => a + b, 0));
      seen.set(inbound.connectionId, [...(seen.get(inbound.connectionId) ?? []), inbound.message!.controlId]);
      await sleep(Math.floor(Math.random() * 8));
      active.set(inbound.connectionId, (active.get(inbound.connectionId) ?? 1) - 1);
      return buildAck(inbound.message!, { code: 'AA' });
    };
    const { listener, port } = await startListener({ handler });
    const clients = await Promise.all([0, 1, 2].map(() => RawClient.connect(port)));
    const perClient = 15;
    clients.forEach((c, ci) => {
      // Everything is written up front, in a few chunks, so messages queue on the server.
      const all = Array.from({ length: perClient }, (_, i) => frame(adt(`C${ci}M${i}`)));
      c.write(Buffer.concat(all.slice(0, 5)));
      c.write(Buffer.concat(all.slice(5)));
    });
    for (const [ci, c] of clients.entries()) {
      const acks: string[] = [];
      for (let i = 0; i < perClient; i++) acks.push((await c.next()).get('MSA-2'));
      expect(acks).toEqual(Array.from({ length: perClient }, (_, i) => `C${ci}M${i}`));
    }
    expect(maxActivePerConnection).toBe(1);
    expect(maxActiveOverall).toBeGreaterThan(1);
    for (const ids of seen.values()) expect(ids).toEqual([...ids].sort((a, b) => Number(a.split('M')[1]) - Number(b.split('M')[1])));
    expect(listener.stats.acks).toBe(3 * perClient);
  });

  it('answers AE with an ERR segment when the handler throws; connection and process survive', async () => {
    const mem = memoryLogger();
    const handler: MllpHandler = (inbound) => {
      if (inbound.message!.controlId === 'BOOM') throw new Error('database unavailable');
      return buildAck(inbound.message!, { code: 'AA' });
    };
    const { listener, port } = await startListener({ handler, logger: mem.logger });
    const client = await RawClient.connect(port);
    client.send(adt('BOOM'));
    const ae = await client.next();
    expect(ae.get('MSA-1')).toBe('AE');
    expect(ae.get('MSA-2')).toBe('BOOM');
    expect(ae.all('ERR')).toHaveLength(1);
    expect(ae.get('ERR-8')).toBe('database unavailable');
    expect(ae.get('ERR-3.1')).toBe('207');
    client.send(adt('OK1'));
    expect((await client.next()).get('MSA-1')).toBe('AA');
    expect(listener.stats.handlerErrors).toBe(1);
    expect(mem.text()).not.toContain('DOE^JANE');
  });

  it('an AE names the message as it was sent, even when the handler edited the parsed message first (a channel\'s steps do)', async () => {
    const handler: MllpHandler = (inbound) => {
      inbound.message!.set('MSH-3', 'EDITED');
      inbound.message!.set('MSH-10', 'CHANGED');
      throw new Error('step failed');
    };
    const { port } = await startListener({ handler });
    const client = await RawClient.connect(port);
    client.send(adt('ORIG1'));
    const ae = await client.next();
    expect(ae.get('MSA-1')).toBe('AE');
    expect(ae.get('MSA-2')).toBe('ORIG1');
    expect(ae.get('MSH-5')).not.toBe('EDITED'); // the ACK goes back to the original sending application
  });

  it('answers AE when the handler exceeds handlerTimeoutMs, aborts its signal, and goes on', async () => {
    let aborted = false;
    const handler: MllpHandler = async (inbound, signal) => {
      if (inbound.message!.controlId === 'SLOW') {
        signal.addEventListener('abort', () => { aborted = true; });
        await sleep(400);
      }
      return buildAck(inbound.message!, { code: 'AA' });
    };
    const { listener, port } = await startListener({ handler, handlerTimeoutMs: 80 });
    const client = await RawClient.connect(port);
    const t0 = Date.now();
    client.send(adt('SLOW'));
    client.send(adt('FAST'));
    const ae = await client.next();
    expect(Date.now() - t0).toBeLessThan(350);
    expect(ae.get('MSA-1')).toBe('AE');
    expect(ae.get('MSA-2')).toBe('SLOW');
    expect(ae.get('ERR-8')).toMatch(/80 ms/);
    expect(aborted).toBe(true);
    const next = await client.next();
    expect(next.get('MSA-1')).toBe('AA');
    expect(next.get('MSA-2')).toBe('FAST');
    expect(listener.stats.handlerTimeouts).toBe(1);
  });

  it('sends the reply then closes when the handler asks for it', async () => {
    const { port } = await startListener({ handler: (i) => ({ ack: buildAck(i.message!, { code: 'AA' }), close: true }) });
    const client = await RawClient.connect(port);
    client.send(adt('BYE'));
    expect((await client.next()).get('MSA-2')).toBe('BYE');
    await client.waitClosed();
  });

  it('passes peer, connection id and raw bytes to the handler', async () => {
    const got: { peer: string; raw: string; connectionId: number; tls: boolean }[] = [];
    const { port } = await startListener({ handler: (i) => { got.push({ peer: i.peer, raw: i.raw.toString(), connectionId: i.connectionId, tls: i.tls }); return buildAck(i.message!, { code: 'AA' }); } });
    const client = await RawClient.connect(port);
    client.send(adt('META'));
    await client.next();
    expect(got).toEqual([{ peer: `127.0.0.1:${client.socket.localPort}`, raw: adt('META'), connectionId: 1, tls: false }]);
  });
});

describe('MllpListener: binding and shutdown', () => {
  it('binds to the configured address only', async () => {
    const { listener, port } = await startListener();
    expect(listener.address).toMatchObject({ address: '127.0.0.1', family: 'IPv4', port });
    expect(listener.port).toBe(port);
    // Another loopback address reaches the same host but not this socket.
    const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
      const s = net.connect({ host: '127.0.0.2', port });
      s.once('connect', () => { s.destroy(); resolve(undefined); });
      s.once('error', (e) => resolve(e));
    });
    expect(err?.code).toBe('ECONNREFUSED');
  });

  it('fails start() with EADDRINUSE on a taken port, and close() still resolves', async () => {
    const { port } = await startListener();
    const second = new MllpListener({ port });
    await expect(second.start()).rejects.toMatchObject({ code: 'EADDRINUSE' });
    await within(second.close(), 1000, 'close after failed start');
  });

  it('close(): the message in flight still gets its ACK, then the connection closes and close() resolves', async () => {
    let started = 0;
    const handler: MllpHandler = async (inbound) => {
      started++;
      await sleep(150);
      return buildAck(inbound.message!, { code: 'AA' });
    };
    const listener = new MllpListener({ port: 0, handler, drainTimeoutMs: 3000 });
    const port = await listener.start();
    onCleanup(() => listener.close());
    const client = await RawClient.connect(port);
    client.send(adt('INFLIGHT'));
    client.send(adt('QUEUED'));
    await waitFor(() => started === 1, 'handler to start');
    const t0 = Date.now();
    await within(listener.close(), 2000, 'listener.close()');
    const ack = await client.next();
    expect(ack.get('MSA-1')).toBe('AA');
    expect(ack.get('MSA-2')).toBe('INFLIGHT');
    await client.waitClosed();
    // The queued message was not started (no ACK), so the sender will resend it.
    expect(client.frames).toHaveLength(1);
    expect(started).toBe(1);
    expect(Date.now() - t0).toBeLessThan(1500);
    await expect(RawClient.connect(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('close() cuts a connection whose handler outlives drainTimeoutMs', async () => {
    const listener = new MllpListener({ port: 0, handler: () => new Promise(() => undefined), drainTimeoutMs: 100, handlerTimeoutMs: 10_000 });
    const port = await listener.start();
    onCleanup(() => listener.close());
    const client = await RawClient.connect(port);
    client.send(adt('STUCK'));
    await waitFor(() => listener.stats.frames === 1, 'frame received');
    await within(listener.close(), 1000, 'listener.close()');
    await client.waitClosed();
  });

  it('close() does not wait for a client that ignores the FIN', async () => {
    const listener = new MllpListener({ port: 0, drainTimeoutMs: 200 });
    const port = await listener.start();
    onCleanup(() => listener.close());
    const client = await RawClient.connect(port, { allowHalfOpen: true });
    client.send(adt('HALF'));
    await client.next();
    await within(listener.close(), 1500, 'listener.close()');
    expect(client.ended).toBe(true);
    expect(listener.stats.connections).toBe(0);
  });
});
