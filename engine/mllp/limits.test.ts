import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { buildAck } from '../hl7/index.js';
import { frame } from './framing.js';
import { MllpListener, type MllpListenerOptions } from './listener.js';
import { RawClient, adt, memoryLogger, onCleanup, sleep, waitFor } from '../../test/helpers/mllp.js';

async function startListener(opts: Partial<MllpListenerOptions> = {}): Promise<{ listener: MllpListener; port: number }> {
  const listener = new MllpListener({ port: 0, drainTimeoutMs: 500, ...opts });
  const port = await listener.start();
  onCleanup(() => listener.close());
  return { listener, port };
}

/** A syntactically valid message padded past `size` bytes. */
function bigMessage(id: string, size: number): string {
  return adt(id) + `NTE|1||${'X'.repeat(size)}\r`;
}

describe('MllpListener: max frame size', () => {
  it('NAKs (AR) a frame over maxFrameBytes and closes the connection', async () => {
    const mem = memoryLogger();
    const { listener, port } = await startListener({ maxFrameBytes: 1024, logger: mem.logger });
    const client = await RawClient.connect(port);
    client.send(adt('SMALL'));
    expect((await client.next()).get('MSA-1')).toBe('AA');
    client.send(bigMessage('HUGE', 2048));
    const nak = await client.next();
    expect(nak.get('MSA-1')).toBe('AR');
    expect(nak.get('ERR-8')).toMatch(/1024/);
    await client.waitClosed();
    expect(listener.stats.naks).toBe(1);
    expect(mem.text()).not.toContain('XXXX');
    // The listener itself is fine.
    const again = await RawClient.connect(port);
    again.send(adt('NEXTCONN'));
    expect((await again.next()).get('MSA-2')).toBe('NEXTCONN');
  });

  it('accepts a frame of exactly maxFrameBytes', async () => {
    const msg = adt('EXACT');
    const { port } = await startListener({ maxFrameBytes: Buffer.byteLength(msg) });
    const client = await RawClient.connect(port);
    client.send(msg);
    expect((await client.next()).get('MSA-1')).toBe('AA');
  });

  it('still ACKs the messages received before the oversized frame, in order, then NAKs and closes', async () => {
    const { port } = await startListener({ maxFrameBytes: 1024 });
    const client = await RawClient.connect(port);
    client.write(Buffer.concat([frame(adt('BEFORE1')), frame(adt('BEFORE2')), frame(bigMessage('HUGE', 4096))]));
    const a1 = await client.next();
    const a2 = await client.next();
    const nak = await client.next();
    expect([a1.get('MSA-1'), a1.get('MSA-2')]).toEqual(['AA', 'BEFORE1']);
    expect([a2.get('MSA-1'), a2.get('MSA-2')]).toEqual(['AA', 'BEFORE2']);
    expect(nak.get('MSA-1')).toBe('AR');
    await client.waitClosed();
    expect(client.error).toBeUndefined();
  });

  it('sends the in-flight ACK before the NAK when the oversized frame arrives during a slow handler', async () => {
    const { listener, port } = await startListener({
      maxFrameBytes: 1024,
      handler: async (i) => { await sleep(100); return buildAck(i.message!, { code: 'AA' }); },
    });
    const client = await RawClient.connect(port);
    client.send(adt('SLOWONE'));
    await waitFor(() => listener.stats.frames === 1, 'handler started');
    client.send(bigMessage('HUGE', 4096));
    const first = await client.next();
    expect(first.get('MSA-1')).toBe('AA');
    expect(first.get('MSA-2')).toBe('SLOWONE');
    const nak = await client.next();
    expect(nak.get('MSA-1')).toBe('AR');
    await client.waitClosed();
  });

  it('closes a client that keeps streaming an oversized frame and ignores the FIN', async () => {
    const { listener, port } = await startListener({ maxFrameBytes: 1024 });
    const client = await RawClient.connect(port, { allowHalfOpen: true });
    client.write(Buffer.concat([Buffer.from([0x0b]), Buffer.alloc(2048, 0x41)]));
    const nak = await client.next();
    expect(nak.get('MSA-1')).toBe('AR');
    // Keep sending garbage: the server must still get rid of the connection.
    const spam = setInterval(() => { if (!client.closed) client.socket.write(Buffer.alloc(512, 0x41), () => undefined); }, 10);
    onCleanup(() => clearInterval(spam));
    await client.waitClosed(4000);
    clearInterval(spam);
    await waitFor(() => listener.stats.connections === 0, 'server-side connection gone');
  });
});

describe('MllpListener: connection limits and idle timeout', () => {
  it('refuses connections beyond maxConnections and accepts again once one closes', async () => {
    const { listener, port } = await startListener({ maxConnections: 2 });
    const a = await RawClient.connect(port);
    const b = await RawClient.connect(port);
    await waitFor(() => listener.stats.connections === 2, 'two connections');
    const c = await RawClient.connect(port);
    await c.waitClosed();
    expect(c.frames).toHaveLength(0);
    expect(listener.stats.rejectedConnections).toBe(1);
    a.send(adt('A1'));
    b.send(adt('B1'));
    expect((await a.next()).get('MSA-2')).toBe('A1');
    expect((await b.next()).get('MSA-2')).toBe('B1');
    await a.close();
    await waitFor(() => listener.stats.connections === 1, 'one connection after close');
    const d = await RawClient.connect(port);
    d.send(adt('D1'));
    expect((await d.next()).get('MSA-2')).toBe('D1');
  });

  it('closes idle connections after idleTimeoutMs, but not one with a message in progress', async () => {
    const { listener, port } = await startListener({
      idleTimeoutMs: 100,
      handler: async (i) => { if (i.message!.controlId === 'LONG') await sleep(300); return buildAck(i.message!, { code: 'AA' }); },
    });
    const t0 = Date.now();
    const idle = await RawClient.connect(port);
    const busy = await RawClient.connect(port);
    busy.send(adt('LONG'));
    await idle.waitClosed(2000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
    expect(busy.closed).toBe(false);
    expect((await busy.next()).get('MSA-2')).toBe('LONG');
    // Once idle again, it is closed too.
    await busy.waitClosed(2000);
    await waitFor(() => listener.stats.connections === 0, 'no connections left');
  });

  it('traffic keeps a connection open past idleTimeoutMs', async () => {
    const { port } = await startListener({ idleTimeoutMs: 150 });
    const client = await RawClient.connect(port);
    for (let i = 0; i < 5; i++) {
      client.send(adt(`KEEP${i}`));
      expect((await client.next()).get('MSA-2')).toBe(`KEEP${i}`);
      await sleep(60);
    }
    expect(client.closed).toBe(false);
  });

  it('gets rid of an idle client that ignores the FIN (half-open)', async () => {
    const { listener, port } = await startListener({ idleTimeoutMs: 100 });
    const client = await RawClient.connect(port, { allowHalfOpen: true });
    await waitFor(() => client.ended, 'server FIN', 2000);
    // The server frees its side after drainTimeoutMs; a half-open peer that never writes is
    // not told (no RST without data), and that is fine: nothing is held for it any more.
    await waitFor(() => listener.stats.connections === 0, 'server to drop the half-open connection', 3000);
  });

  it('does not count a refused socket or leak it when the client vanishes', async () => {
    const { listener, port } = await startListener({ maxConnections: 1 });
    const a = await RawClient.connect(port);
    for (let i = 0; i < 5; i++) {
      await new Promise<void>((resolve) => {
        const s = net.connect({ host: '127.0.0.1', port });
        s.on('error', () => undefined);
        s.once('close', () => resolve());
      });
    }
    expect(listener.stats.rejectedConnections).toBe(5);
    expect(listener.stats.connections).toBe(1);
    a.send(adt('STILL'));
    expect((await a.next()).get('MSA-2')).toBe('STILL');
  });
});
