import net from 'node:net';
import tls from 'node:tls';
import { describe, expect, it } from 'vitest';
import { buildAck } from '../hl7/index.js';
import { MllpListener, type MllpInbound, type MllpListenerOptions } from './listener.js';
import { MllpSendError, MllpSender } from './sender.js';
import { RawClient, adt, memoryLogger, onCleanup, waitFor, within } from '../../test/helpers/mllp.js';
import { testPki } from '../../test/helpers/tls.js';

const pki = testPki();

async function startTlsListener(opts: Partial<MllpListenerOptions> & { mutual?: boolean } = {}): Promise<{ listener: MllpListener; port: number; seen: MllpInbound[] }> {
  const seen: MllpInbound[] = [];
  const { mutual, ...rest } = opts;
  const listener = new MllpListener({
    port: 0,
    drainTimeoutMs: 500,
    tls: { key: pki.serverKey, cert: pki.serverCert, ...(mutual ? { ca: pki.caCert, requestCert: true } : {}) },
    handler: (i) => { seen.push(i); return buildAck(i.message!, { code: 'AA' }); },
    ...rest,
  });
  const port = await listener.start();
  onCleanup(() => listener.close());
  return { listener, port, seen };
}

/** Connects with TLS and resolves with the error (or undefined) once the server accepted or refused us. */
async function tlsOutcome(port: number, options: tls.ConnectionOptions): Promise<{ client?: RawClient; error?: Error }> {
  try {
    const client = await RawClient.connect(port, { tls: options });
    // Under TLS 1.3 the client handshake finishes before the server checks our certificate,
    // so make one round trip to learn the verdict.
    client.send(adt('PROBE'));
    try {
      await client.next(2000);
      return { client };
    } catch (err) {
      return { client, error: client.error ?? (err as Error) };
    }
  } catch (err) {
    return { error: err as Error };
  }
}

describe('MLLP over TLS', () => {
  it('serves TLS: ACK over an encrypted connection; inbound.tls is set', async () => {
    const { port, seen } = await startTlsListener();
    const client = await RawClient.connect(port, { tls: { ca: pki.caCert } });
    expect((client.socket as tls.TLSSocket).encrypted).toBe(true);
    client.send(adt('TLS1'));
    const ack = await client.next();
    expect(ack.get('MSA-1')).toBe('AA');
    expect(seen[0]!.tls).toBe(true);
    expect(seen[0]!.clientCertSubject).toBeUndefined();
  });

  it('a plain-TCP client on the TLS port gets no ACK and is dropped', async () => {
    const { listener, port } = await startTlsListener();
    const client = await RawClient.connect(port);
    client.send(adt('PLAIN'));
    await client.waitClosed();
    expect(client.frames).toHaveLength(0);
    expect(listener.stats.frames).toBe(0);
  });

  it('mutual TLS: a client certificate from the trusted CA is accepted and its subject reported', async () => {
    const { port, seen } = await startTlsListener({ mutual: true });
    const { client, error } = await tlsOutcome(port, { ca: pki.caCert, key: pki.clientKey, cert: pki.clientCert });
    expect(error).toBeUndefined();
    expect(client).toBeDefined();
    expect(seen).toHaveLength(1);
    expect(seen[0]!.clientCertSubject).toContain(`CN=${pki.clientCn}`);
    expect(seen[0]!.clientCertSubject).toContain('O=Sluice Tests');
  });

  it('mutual TLS: a client without a certificate is refused', async () => {
    const mem = memoryLogger();
    const { listener, port, seen } = await startTlsListener({ mutual: true, logger: mem.logger });
    const { client, error } = await tlsOutcome(port, { ca: pki.caCert });
    expect(error).toBeDefined();
    expect(client?.frames ?? []).toHaveLength(0);
    expect(seen).toHaveLength(0);
    expect(listener.stats.totalConnections).toBe(0);
    await waitFor(() => mem.text().includes('TLS handshake failed'), 'handshake failure logged');
  });

  it('mutual TLS: a client certificate from another CA is refused', async () => {
    const { port, seen } = await startTlsListener({ mutual: true });
    const { error } = await tlsOutcome(port, { ca: pki.caCert, key: pki.rogueKey, cert: pki.rogueCert });
    expect(error).toBeDefined();
    expect(seen).toHaveLength(0);
  });

  it('close() does not hang on a client stuck before the TLS handshake', async () => {
    const listener = new MllpListener({ port: 0, drainTimeoutMs: 200, tls: { key: pki.serverKey, cert: pki.serverCert } });
    const port = await listener.start();
    onCleanup(() => listener.close());
    const raw = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => resolve(s));
      s.once('error', reject);
    });
    onCleanup(() => raw.destroy());
    raw.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => raw.once('close', () => resolve()));
    await within(listener.close(), 1500, 'listener.close() with a pre-handshake socket');
    await within(closed, 1000, 'pre-handshake socket closed');
  });
});

describe('MllpSender over TLS', () => {
  it('sends to our TLS listener and gets AA on one connection', async () => {
    const { listener, port } = await startTlsListener();
    const sender = new MllpSender({ host: '127.0.0.1', port, tls: { ca: pki.caCert }, ackTimeoutMs: 2000 });
    onCleanup(() => sender.close());
    for (let i = 0; i < 3; i++) {
      const r = await sender.send(adt(`TLSS${i}`));
      expect(r).toMatchObject({ ok: true, code: 'AA', controlId: `TLSS${i}` });
    }
    expect(listener.stats.totalConnections).toBe(1);
  });

  it('sends with a client certificate under mutual TLS', async () => {
    const { port, seen } = await startTlsListener({ mutual: true });
    const sender = new MllpSender({ host: '127.0.0.1', port, tls: { ca: pki.caCert, key: pki.clientKey, cert: pki.clientCert }, ackTimeoutMs: 2000 });
    onCleanup(() => sender.close());
    expect((await sender.send(adt('MTLS1'))).ok).toBe(true);
    expect(seen[0]!.clientCertSubject).toContain(`CN=${pki.clientCn}`);
  });

  it('refuses a server certificate it cannot verify (connect error, no message sent)', async () => {
    const { listener, port } = await startTlsListener();
    const sender = new MllpSender({ host: '127.0.0.1', port, tls: {}, ackTimeoutMs: 1000, maxConnectAttempts: 1 });
    onCleanup(() => sender.close());
    const err = await sender.send(adt('NOTRUST')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MllpSendError);
    expect((err as MllpSendError).reason).toBe('connect');
    expect(listener.stats.frames).toBe(0);
  });

  it('refuses a server whose certificate does not match the host name', async () => {
    const { port } = await startTlsListener();
    const sender = new MllpSender({ host: '127.0.0.1', port, tls: { ca: pki.caCert, servername: 'wrong.example' }, ackTimeoutMs: 1000, maxConnectAttempts: 1 });
    onCleanup(() => sender.close());
    const err = await sender.send(adt('BADNAME')).catch((e: unknown) => e);
    expect((err as MllpSendError).reason).toBe('connect');
  });
});
