import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { buildAck, type AckCode } from '../hl7/index.js';
import { MllpDecoder, frame } from './framing.js';
import { MllpListener, type MllpHandler, type MllpListenerOptions } from './listener.js';
import { MllpSendError, MllpSender, type MllpSenderOptions } from './sender.js';
import { adt, onCleanup, sleep } from '../../test/helpers/mllp.js';
import { freePort } from '../../test/helpers/net.js';

async function startListener(opts: Partial<MllpListenerOptions> = {}): Promise<{ listener: MllpListener; port: number }> {
  const listener = new MllpListener({ port: 0, drainTimeoutMs: 500, ...opts });
  const port = await listener.start();
  onCleanup(() => listener.close());
  return { listener, port };
}

function newSender(port: number, opts: Partial<MllpSenderOptions> = {}): MllpSender {
  const sender = new MllpSender({ host: '127.0.0.1', port, ackTimeoutMs: 2000, connectTimeoutMs: 1000, backoff: { initialMs: 20, maxMs: 200 }, ...opts });
  onCleanup(() => sender.close());
  return sender;
}


async function expectSendError(p: Promise<unknown>, reason: MllpSendError['reason']): Promise<MllpSendError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(MllpSendError);
  expect((err as MllpSendError).reason).toBe(reason);
  return err as MllpSendError;
}

describe('MllpSender: connection handling', () => {
  it('keeps one persistent connection for many sends', async () => {
    const { listener, port } = await startListener();
    const sender = newSender(port);
    for (let i = 0; i < 25; i++) {
      const r = await sender.send(adt(`P${i}`));
      expect(r).toMatchObject({ ok: true, code: 'AA', controlId: `P${i}`, text: '' });
    }
    expect(listener.stats.totalConnections).toBe(1);
    expect(sender.connected).toBe(true);
  });

  it('queues concurrent send() calls and runs them one at a time, in order', async () => {
    let active = 0;
    let maxActive = 0;
    const order: string[] = [];
    const handler: MllpHandler = async (i) => {
      active++;
      maxActive = Math.max(maxActive, active);
      order.push(i.message!.controlId);
      await sleep(3);
      active--;
      return buildAck(i.message!, { code: 'AA' });
    };
    const { listener, port } = await startListener({ handler });
    const sender = newSender(port);
    const ids = Array.from({ length: 10 }, (_, i) => `Q${i}`);
    const results = await Promise.all(ids.map((id) => sender.send(adt(id))));
    expect(results.map((r) => r.controlId)).toEqual(ids);
    expect(order).toEqual(ids);
    expect(maxActive).toBe(1);
    expect(listener.stats.totalConnections).toBe(1);
  });

  it('reconnects when the server closes the connection right after an ACK', async () => {
    const { listener, port } = await startListener({ handler: (i) => ({ ack: buildAck(i.message!, { code: 'AA' }), close: true }) });
    const sender = newSender(port);
    for (let i = 0; i < 5; i++) expect((await sender.send(adt(`DROP${i}`))).ok).toBe(true);
    expect(listener.stats.totalConnections).toBe(5);
  });

  it('reconnects after the server restarts on the same port', async () => {
    const first = await startListener();
    const port = first.port;
    const sender = newSender(port);
    expect((await sender.send(adt('BEFORE'))).ok).toBe(true);
    await first.listener.close();
    const second = await startListener({ port });
    expect((await sender.send(adt('AFTER'))).ok).toBe(true);
    expect(second.listener.stats.totalConnections).toBe(1);
  });

  it('retries the connection with backoff, gives up with reason "connect", and recovers when the server is back', async () => {
    const port = await freePort();
    const sender = newSender(port, { maxConnectAttempts: 3, backoff: { initialMs: 40, maxMs: 1000, factor: 2 } });
    const t0 = Date.now();
    const err = await expectSendError(sender.send(adt('DOWN')), 'connect');
    // Attempts 2 and 3 wait (with jitter) at least 20 + 40 ms.
    expect(Date.now() - t0).toBeGreaterThanOrEqual(55);
    expect(err.message).toContain(`127.0.0.1:${port}`);
    await startListener({ port });
    expect((await sender.send(adt('UP'))).ok).toBe(true);
  });

  it('an ACK timeout fails with reason "timeout"; the next send uses a fresh connection and is not confused by the late ACK', async () => {
    const handler: MllpHandler = async (i) => {
      if (i.message!.controlId === 'LATE') await sleep(400);
      return buildAck(i.message!, { code: 'AA' });
    };
    const { listener, port } = await startListener({ handler });
    const sender = newSender(port, { ackTimeoutMs: 100 });
    const t0 = Date.now();
    await expectSendError(sender.send(adt('LATE')), 'timeout');
    expect(Date.now() - t0).toBeLessThan(350);
    expect(sender.connected).toBe(false);
    const r = await sender.send(adt('NEXT'));
    expect(r).toMatchObject({ ok: true, controlId: 'NEXT' });
    expect(listener.stats.totalConnections).toBe(2);
  });

  it('a connection closed before the ACK fails with reason "closed"; the next send reconnects', async () => {
    let n = 0;
    const sockets: net.Socket[] = [];
    // A bare server: the first connection is dropped on its first frame, later ones ACK.
    const server = net.createServer((s) => {
      sockets.push(s);
      const d = new MllpDecoder();
      const mine = ++n;
      s.on('data', (c: Buffer) => {
        for (const f of d.push(c)) {
          if (mine === 1) s.destroy();
          else s.write(frame(`MSH|^~\\&|||||||ACK|1|P|2.5.1\rMSA|AA|${/\|([^|]*)\|P\|/.exec(f.toString())![1]}\r`));
        }
      });
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    onCleanup(() => new Promise<void>((r) => { sockets.forEach((s) => s.destroy()); server.close(() => r()); }));
    const sender = newSender((server.address() as net.AddressInfo).port);
    await expectSendError(sender.send(adt('CUT')), 'closed');
    expect((await sender.send(adt('CUT2'))).ok).toBe(true);
    expect(n).toBe(2);
  });

  it('reconnects after the listener closed the idle connection', async () => {
    const { listener, port } = await startListener({ idleTimeoutMs: 50 });
    const sender = newSender(port);
    expect((await sender.send(adt('IDLE1'))).ok).toBe(true);
    await sleep(150);
    expect((await sender.send(adt('IDLE2'))).ok).toBe(true);
    expect(listener.stats.totalConnections).toBe(2);
  });

  it('resends at most once when a reused connection dies without a reply', async () => {
    const frames: string[] = [];
    const sockets: net.Socket[] = [];
    // ACKs the first message, then drops every connection on the frame it receives.
    const server = net.createServer((s) => {
      sockets.push(s);
      const d = new MllpDecoder();
      s.on('data', (c: Buffer) => {
        for (const f of d.push(c)) {
          const id = /\|([^|]*)\|P\|/.exec(f.toString())![1]!;
          frames.push(id);
          if (frames.length === 1) s.write(frame(`MSH|^~\\&|||||||ACK|1|P|2.5.1\rMSA|AA|${id}\r`));
          else s.destroy();
        }
      });
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    onCleanup(() => new Promise<void>((r) => { sockets.forEach((s) => s.destroy()); server.close(() => r()); }));
    const sender = newSender((server.address() as net.AddressInfo).port);
    expect((await sender.send(adt('R1'))).ok).toBe(true);
    await expectSendError(sender.send(adt('R2')), 'closed');
    expect(frames).toEqual(['R1', 'R2', 'R2']);
    expect(sockets).toHaveLength(2);
  });

  it('close() ends the connection; later sends fail with reason "closed"', async () => {
    const { listener, port } = await startListener();
    const sender = newSender(port);
    await sender.send(adt('C1'));
    await sender.close();
    expect(sender.connected).toBe(false);
    await expectSendError(sender.send(adt('C2')), 'closed');
    await sleep(20);
    expect(listener.stats.connections).toBe(0);
  });
});

describe('MllpSender: ACK checks', () => {
  it('an ACK for another control id fails with reason "mismatch" and the next send uses a fresh connection', async () => {
    const handler: MllpHandler = (i) => {
      if (i.message!.controlId === 'MINE') return 'MSH|^~\\&|R|F|S|F|20240101||ACK^A01^ACK|X1|P|2.5.1\rMSA|AA|SOMEONE-ELSE\r';
      return buildAck(i.message!, { code: 'AA' });
    };
    const { listener, port } = await startListener({ handler });
    const sender = newSender(port);
    const err = await expectSendError(sender.send(adt('MINE')), 'mismatch');
    expect(err.message).toContain('SOMEONE-ELSE');
    expect((await sender.send(adt('OK'))).ok).toBe(true);
    expect(listener.stats.totalConnections).toBe(2);
  });

  it('an unparsable ACK fails with reason "bad-ack"', async () => {
    const { port } = await startListener({ handler: () => 'this is not HL7' });
    const sender = newSender(port);
    await expectSendError(sender.send(adt('BAD')), 'bad-ack');
  });

  it.each<[AckCode, boolean]>([['AA', true], ['CA', true], ['AE', false], ['AR', false], ['CE', false], ['CR', false]])(
    '%s → ok=%s with the ERR text',
    async (code, ok) => {
      const handler: MllpHandler = (i) => buildAck(i.message!, ok ? { code } : { code, error: { code: '103', text: `rejected: unknown ward (${code})` } });
      const { port } = await startListener({ handler });
      const sender = newSender(port);
      const r = await sender.send(adt(`ACK${code}`));
      expect(r.ok).toBe(ok);
      expect(r.code).toBe(code);
      expect(r.controlId).toBe(`ACK${code}`);
      expect(r.text).toBe(ok ? '' : `rejected: unknown ward (${code})`);
      expect(r.ack.get('MSA-1')).toBe(code);
    },
  );

  it('reads the error text of a v2.3 ACK (ERR-1) and does not repeat a truncated MSA-3', async () => {
    const long = 'the receiving system could not find the patient account referenced in PV1-19 for this visit';
    const handler: MllpHandler = (i) => buildAck(i.message!, { code: 'AE', error: { text: long } });
    const { port } = await startListener({ handler });
    const sender = newSender(port);
    const r23 = await sender.send(adt('V23', { version: '2.3' }));
    expect(r23.ok).toBe(false);
    expect(r23.text).toBe(long);
    const r25 = await sender.send(adt('V25'));
    expect(r25.text).toBe(long);
  });

  it('a NAK without MSA-2 (the receiver could not read our message) is a negative ACK, not a mismatch', async () => {
    const handler: MllpHandler = () => 'MSH|^~\\&|R|F|||20240101||ACK|N1|P|2.5.1\rMSA|AR\rERR||||E||||could not parse message\r';
    const { port } = await startListener({ handler });
    const sender = newSender(port);
    const r = await sender.send(adt('NOID'));
    expect(r).toMatchObject({ ok: false, code: 'AR', controlId: '', text: 'could not parse message' });
  });

  it('a positive ACK without MSA-2 is still a mismatch', async () => {
    const { port } = await startListener({ handler: () => 'MSH|^~\\&|R|F|||20240101||ACK|N1|P|2.5.1\rMSA|AA\r' });
    const sender = newSender(port);
    await expectSendError(sender.send(adt('NOID2')), 'mismatch');
  });
});

describe('MllpSender: destroy', () => {
  it('fails a send waiting for its ACK and one sleeping in backoff at once, with reason closed', async () => {
    // A peer that accepts and never answers.
    const sockets: net.Socket[] = [];
    const silent = net.createServer((s) => { sockets.push(s); s.on('data', () => {}); });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', () => r()));
    onCleanup(() => new Promise<void>((r) => { sockets.forEach((s) => s.destroy()); silent.close(() => r()); }));
    const waiting = new MllpSender({ host: '127.0.0.1', port: (silent.address() as net.AddressInfo).port, ackTimeoutMs: 60_000 });
    const pending = waiting.send(adt('W1'));
    await sleep(100);
    let started = Date.now();
    waiting.destroy();
    await expect(pending).rejects.toMatchObject({ reason: 'closed' });
    expect(Date.now() - started).toBeLessThan(1000);
    await expect(waiting.send(adt('W2'))).rejects.toMatchObject({ reason: 'closed' });

    const dead = await freePort();
    const sleeping = new MllpSender({ host: '127.0.0.1', port: dead, maxConnectAttempts: 3, backoff: { initialMs: 20_000, maxMs: 20_000 } });
    const failing = sleeping.send(adt('S1'));
    await sleep(300); // first connect refused; now asleep for ~10–20 s before the second
    started = Date.now();
    sleeping.destroy();
    await expect(failing).rejects.toMatchObject({ reason: 'closed' });
    expect(Date.now() - started).toBeLessThan(1000);
  });
});
