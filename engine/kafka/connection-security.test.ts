import net from 'node:net';
import tls from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { testPki } from '../../test/helpers/tls.js';
import { KafkaConnection, kafkaConnectionSchema } from './connection.js';

/*
 * TLS and SASL options reach the client (review finding 10): a fake "broker" on 127.0.0.1
 * reads the first Kafka request the client sends. No secured broker is needed for that:
 * with SASL the first request is SaslHandshake (API key 17), without it ApiVersions (18);
 * with TLS the fake only sees a request after a handshake with its own certificate.
 */
const SASL_HANDSHAKE = 17;
const API_VERSIONS = 18;

const closers: (() => void)[] = [];
afterEach(() => { for (const c of closers.splice(0)) c(); });

/** Listens; resolves the API key of the first request received (then hangs up). */
function fakeBroker(server: net.Server, secureEvent: 'connection' | 'secureConnection'): Promise<{ port: number; firstApiKey: Promise<number> }> {
  const firstApiKey = new Promise<number>((resolve) => {
    server.on(secureEvent, (socket: net.Socket) => {
      let buf = Buffer.alloc(0);
      socket.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 6) { resolve(buf.readInt16BE(4)); socket.destroy(); }
      });
      socket.on('error', () => undefined);
    });
  });
  closers.push(() => server.close());
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ port: (server.address() as net.AddressInfo).port, firstApiKey })));
}

async function firstRequestOf(options: Record<string, unknown>, port: number): Promise<void> {
  const conn = new KafkaConnection(kafkaConnectionSchema.parse({ brokers: [`127.0.0.1:${port}`], requestTimeout: 2000, ...options }));
  closers.push(() => { void conn.close(); });
  await conn.admin.listTopics().catch(() => undefined); // the fake never answers properly
}

describe('kafka connection security options', () => {
  it('sends a SASL handshake first when sasl is configured (and ApiVersions without)', async () => {
    const sasl = await fakeBroker(net.createServer(), 'connection');
    void firstRequestOf({ sasl: { mechanism: 'SCRAM-SHA-512', username: 'sluice', password: 'from-env' } }, sasl.port);
    expect(await sasl.firstApiKey).toBe(SASL_HANDSHAKE);

    const plain = await fakeBroker(net.createServer(), 'connection');
    void firstRequestOf({}, plain.port);
    expect(await plain.firstApiKey).toBe(API_VERSIONS);
  });

  it('speaks TLS with the configured CA (then SASL inside it)', async () => {
    const pki = testPki();
    const server = tls.createServer({ key: pki.serverKey, cert: pki.serverCert });
    const broker = await fakeBroker(server, 'secureConnection');
    void firstRequestOf({ tls: { ca: pki.caCert.toString() }, sasl: { mechanism: 'PLAIN', username: 'u', password: 'p' } }, broker.port);
    expect(await broker.firstApiKey).toBe(SASL_HANDSHAKE);
  });

  it('rejects unknown mechanisms and keys in the schema', () => {
    expect(() => kafkaConnectionSchema.parse({ sasl: { mechanism: 'GSSAPI', username: 'u', password: 'p' } })).toThrow();
    expect(() => kafkaConnectionSchema.parse({ tls: { ca: 'x', passphrase: 'y' } })).toThrow();
  });
});
