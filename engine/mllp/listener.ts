import net from 'node:net';
import tls from 'node:tls';
import { Hl7ParseError, buildAck, buildNak, parseHl7, type Hl7Message, HL7_ERROR } from '../hl7/index.js';
import { silentLogger, type Logger } from '../log.js';
import { DEFAULT_MAX_FRAME_BYTES, FrameTooLargeError, MllpDecoder, frame } from './framing.js';

/** One received frame, parsed when possible. Exactly one of `message` / `error` is set. */
export interface MllpInbound {
  readonly raw: Buffer;
  readonly message?: Hl7Message;
  readonly error?: Hl7ParseError;
  readonly peer: string;
  readonly connectionId: number;
  readonly receivedAt: number;
  readonly tls: boolean;
  /** Subject of the client certificate, under mutual TLS. */
  readonly clientCertSubject?: string;
}

/** What to send back: the ACK text or bytes, and whether to close the connection after it. */
export type MllpReply = string | Buffer | { ack: string | Buffer; close?: boolean };

/**
 * Decides the ACK for one message. It runs for one message at a time per connection.
 * The signal aborts when the handler timeout passes (an AE has then already been sent).
 */
export type MllpHandler = (inbound: MllpInbound, signal: AbortSignal) => Promise<MllpReply> | MllpReply;

export interface MllpTlsOptions {
  key: string | Buffer;
  cert: string | Buffer;
  /** CA bundle that client certificates must chain to; with requestCert this is mutual TLS. */
  ca?: string | Buffer;
  requestCert?: boolean;
}

export interface MllpListenerOptions {
  host?: string;
  port: number;
  handler?: MllpHandler;
  maxFrameBytes?: number;
  maxConnections?: number;
  /** Close a connection with no traffic and no message in progress after this long. */
  idleTimeoutMs?: number;
  /** A handler slower than this gets an AE sent on its behalf. */
  handlerTimeoutMs?: number;
  /** How long close() waits for in-flight messages before cutting connections. */
  drainTimeoutMs?: number;
  tls?: MllpTlsOptions;
  logger?: Logger;
  /** MSH-3/4 to put in NAKs for frames that have no MSH to answer from. */
  application?: string;
  facility?: string;
}

export interface MllpListenerStats {
  connections: number;
  totalConnections: number;
  rejectedConnections: number;
  frames: number;
  acks: number;
  naks: number;
  discardedBytes: number;
  handlerErrors: number;
  handlerTimeouts: number;
}

type ResolvedOptions = Required<Omit<MllpListenerOptions, 'tls' | 'application' | 'facility'>> & Pick<MllpListenerOptions, 'tls' | 'application' | 'facility'>;

/** Default behaviour: AA for a parsable message, AR with the parse error otherwise. */
export const acceptParsable: MllpHandler = (inbound) => defaultReply(inbound, 'AA');

export function defaultReply(inbound: MllpInbound, okCode: 'AA' | 'CA' = 'AA'): string {
  if (inbound.message) return buildAck(inbound.message, { code: okCode });
  return buildNak({ code: 'AR', error: { code: HL7_ERROR.segmentSequence, text: inbound.error?.reason ?? 'not an HL7 v2 message' } });
}

/** An MLLP server that answers each message with the ACK its handler decides. */
export class MllpListener {
  private server: net.Server | undefined;
  private readonly connections = new Set<Connection>();
  private nextConnectionId = 1;
  private readonly opts: ResolvedOptions;
  readonly stats: MllpListenerStats = { connections: 0, totalConnections: 0, rejectedConnections: 0, frames: 0, acks: 0, naks: 0, discardedBytes: 0, handlerErrors: 0, handlerTimeouts: 0 };

  constructor(options: MllpListenerOptions) {
    this.opts = {
      host: '127.0.0.1',
      handler: acceptParsable,
      maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
      maxConnections: 256,
      idleTimeoutMs: 10 * 60_000,
      handlerTimeoutMs: 30_000,
      drainTimeoutMs: 10_000,
      logger: silentLogger,
      ...options,
    };
  }

  /** Starts listening; resolves with the bound port (useful with port 0). */
  async start(): Promise<number> {
    const onConnection = (socket: net.Socket): void => this.accept(socket);
    const o = this.opts;
    this.server = o.tls
      ? tls.createServer({ key: o.tls.key, cert: o.tls.cert, ca: o.tls.ca, requestCert: o.tls.requestCert ?? false, rejectUnauthorized: o.tls.requestCert ?? false }, onConnection)
      : net.createServer(onConnection);
    this.server.on('tlsClientError', (err: Error) => o.logger.warn({ err: err.message }, 'mllp TLS handshake failed'));
    const server = this.server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(o.port, o.host, () => { server.off('error', reject); resolve(); });
    });
    server.on('error', (err) => o.logger.error({ err: err.message }, 'mllp server error'));
    const port = (server.address() as net.AddressInfo).port;
    o.logger.info({ host: o.host, port, tls: !!o.tls }, 'mllp listener started');
    return port;
  }

  get port(): number | undefined {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a.port : undefined;
  }

  /**
   * Stops accepting, lets each connection finish the message it is handling (its ACK is
   * sent), then closes. Messages queued but not started get no ACK, so senders resend them.
   */
  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const c of this.connections) c.drain();
    const deadline = setTimeout(() => { for (const c of this.connections) c.destroy(); }, this.opts.drainTimeoutMs);
    await closed;
    clearTimeout(deadline);
    this.opts.logger.info(this.stats, 'mllp listener stopped');
  }

  private accept(socket: net.Socket): void {
    const o = this.opts;
    if (this.connections.size >= o.maxConnections || !this.server) {
      this.stats.rejectedConnections++;
      o.logger.warn({ peer: peerOf(socket), limit: o.maxConnections }, 'mllp connection refused: limit reached');
      socket.destroy();
      return;
    }
    const conn = new Connection(this.nextConnectionId++, socket, o, this.stats, () => {
      this.connections.delete(conn);
      this.stats.connections = this.connections.size;
    });
    this.connections.add(conn);
    this.stats.connections = this.connections.size;
    this.stats.totalConnections++;
  }
}

function peerOf(socket: net.Socket): string {
  return `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
}

/** Pause reading when this many frames wait behind the one being handled. */
const MAX_QUEUED_FRAMES = 64;

class Connection {
  private readonly decoder: MllpDecoder;
  private readonly queue: Buffer[] = [];
  private busy = false;
  private draining = false;
  private closed = false;
  private readonly peer: string;
  private readonly isTls: boolean;

  constructor(
    readonly id: number,
    private readonly socket: net.Socket,
    private readonly o: ResolvedOptions,
    private readonly stats: MllpListenerStats,
    private readonly onClose: () => void,
  ) {
    this.decoder = new MllpDecoder(o.maxFrameBytes);
    this.peer = peerOf(socket);
    this.isTls = socket instanceof tls.TLSSocket;
    socket.setNoDelay(true);
    socket.setTimeout(o.idleTimeoutMs);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('timeout', () => {
      if (this.busy || this.queue.length > 0) return;
      o.logger.info({ peer: this.peer, connection: id }, 'mllp connection idle, closing');
      socket.end();
    });
    socket.on('error', (err) => o.logger.warn({ peer: this.peer, connection: id, err: err.message }, 'mllp connection error'));
    socket.on('close', () => {
      this.closed = true;
      if (this.decoder.discardedBytes > 0) o.logger.warn({ peer: this.peer, connection: id, discardedBytes: this.decoder.discardedBytes }, 'mllp bytes outside frames discarded');
      this.onClose();
    });
    o.logger.debug({ peer: this.peer, connection: id, tls: this.isTls }, 'mllp connection opened');
  }

  drain(): void {
    this.draining = true;
    this.queue.length = 0;
    if (!this.busy) this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.draining) return;
    const before = this.decoder.discardedBytes;
    let frames: Buffer[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      if (!(err instanceof FrameTooLargeError)) throw err;
      this.stats.naks++;
      this.o.logger.warn({ peer: this.peer, connection: this.id, limit: err.limit }, 'mllp frame too large: NAK and close');
      this.queue.length = 0;
      this.draining = true;
      this.socket.end(frame(buildNak({ code: 'AR', application: this.o.application, facility: this.o.facility, error: { code: HL7_ERROR.applicationInternalError, text: err.message } })));
      return;
    } finally {
      this.stats.discardedBytes += this.decoder.discardedBytes - before;
    }
    if (frames.length === 0) return;
    this.queue.push(...frames);
    if (this.queue.length > MAX_QUEUED_FRAMES) this.socket.pause();
    if (!this.busy) void this.pump();
  }

  /** Handles queued frames strictly one after another, so ACKs go out in order. */
  private async pump(): Promise<void> {
    this.busy = true;
    while (this.queue.length > 0 && !this.closed) {
      const raw = this.queue.shift()!;
      if (this.queue.length <= MAX_QUEUED_FRAMES / 2 && this.socket.isPaused()) this.socket.resume();
      const reply = await this.handle(raw);
      if (this.closed) break;
      const ack = typeof reply === 'string' || Buffer.isBuffer(reply) ? reply : reply.ack;
      const payload = frame(ack);
      if (typeof reply === 'object' && !Buffer.isBuffer(reply) && reply.close) {
        this.draining = true;
        this.queue.length = 0;
        this.socket.end(payload);
        break;
      }
      this.socket.write(payload);
    }
    this.busy = false;
    if (this.draining && !this.closed) this.socket.end();
  }

  private async handle(raw: Buffer): Promise<MllpReply> {
    this.stats.frames++;
    let inbound: MllpInbound;
    const base = { raw, peer: this.peer, connectionId: this.id, receivedAt: Date.now(), tls: this.isTls, clientCertSubject: this.certSubject() };
    try {
      inbound = { ...base, message: parseHl7(raw) };
    } catch (err) {
      if (!(err instanceof Hl7ParseError)) throw err;
      inbound = { ...base, error: err };
    }
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), this.o.handlerTimeoutMs); });
    try {
      const result = await Promise.race([Promise.resolve().then(() => this.o.handler(inbound, controller.signal)), timeout]);
      if (result === 'timeout') {
        controller.abort();
        this.stats.handlerTimeouts++;
        this.stats.naks++;
        this.o.logger.warn({ peer: this.peer, connection: this.id, timeoutMs: this.o.handlerTimeoutMs }, 'mllp handler timed out: AE');
        return this.errorReply(inbound, `message not processed within ${this.o.handlerTimeoutMs} ms`);
      }
      this.count(result);
      return result;
    } catch (err) {
      this.stats.handlerErrors++;
      this.stats.naks++;
      const text = err instanceof Error ? err.message : String(err);
      this.o.logger.error({ peer: this.peer, connection: this.id, err: text }, 'mllp handler failed: AE');
      return this.errorReply(inbound, text);
    } finally {
      clearTimeout(timer);
    }
  }

  private errorReply(inbound: MllpInbound, text: string): string {
    const error = { code: HL7_ERROR.applicationInternalError, text };
    if (inbound.message) return buildAck(inbound.message, { code: 'AE', error });
    return buildNak({ code: 'AR', application: this.o.application, facility: this.o.facility, error });
  }

  private count(reply: MllpReply): void {
    const ack = typeof reply === 'string' ? reply : Buffer.isBuffer(reply) ? reply.toString('latin1') : typeof reply.ack === 'string' ? reply.ack : reply.ack.toString('latin1');
    // MSA-1 decides what we count; reading it here avoids trusting the handler's word.
    const msa = ack.indexOf('MSA');
    const code = msa >= 0 ? ack.slice(msa + 4, msa + 6) : '';
    if (code === 'AA' || code === 'CA') this.stats.acks++;
    else this.stats.naks++;
  }

  private certSubject(): string | undefined {
    if (!(this.socket instanceof tls.TLSSocket)) return undefined;
    const cert = this.socket.getPeerCertificate();
    return cert && cert.subject ? Object.entries(cert.subject).map(([k, v]) => `${k}=${String(v)}`).join(',') : undefined;
  }
}
