import net from 'node:net';
import tls from 'node:tls';
import { Hl7ParseError, buildAck, buildNak, parseHeader, parseHl7, type Hl7Message, HL7_ERROR } from '../hl7/index.js';
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
  /**
   * How long close() waits for in-flight messages before cutting connections; also how long
   * a connection we ended (idle, frame too large, handler asked to close) may stay half-open
   * waiting for the peer to close its side before it is destroyed.
   */
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

/**
 * AA (or CA) for a parsed message; for a frame that failed to parse, an AR carrying the
 * parse error, with MSA-2 set to the control id when the frame's MSH-10 could be read.
 */
export function defaultReply(inbound: MllpInbound, okCode: 'AA' | 'CA' = 'AA', nakHeader: { application?: string; facility?: string } = {}): string {
  if (inbound.message) return buildAck(inbound.message, { code: okCode });
  return buildNak({
    code: 'AR',
    application: nakHeader.application,
    facility: nakHeader.facility,
    acknowledgedId: salvageControlId(inbound.raw),
    error: { code: HL7_ERROR.segmentSequence, text: inbound.error?.reason ?? 'not an HL7 v2 message' },
  });
}

/**
 * MSH-10 read straight from the first line of a frame that did not parse as a whole, so a
 * NAK can still name the message it rejects. Undefined when there is no readable MSH.
 */
function salvageControlId(raw: Buffer): string | undefined {
  const head = raw.toString('latin1', 0, Math.min(raw.length, 4096)).replace(/^[\ufeff\r\n \t]+/, '');
  if (!head.startsWith('MSH') || head.length < 4) return undefined;
  const sep = head[3]!;
  if (/[A-Za-z0-9\r\n ]/.test(sep)) return undefined;
  const line = head.split(/[\r\n]/, 1)[0]!;
  const id = line.split(sep)[9];
  if (!id) return undefined;
  // Only a plain id is echoed back: printable ASCII without delimiters, at most 199 characters.
  return /^[\x21-\x7e]{1,199}$/.test(id) && !/[\^~\\&]/.test(id) ? id : undefined;
}

/** An MLLP server that answers each message with the ACK its handler decides. */
export class MllpListener {
  private server: net.Server | undefined;
  private readonly connections = new Set<Connection>();
  /** Every accepted TCP socket, including TLS ones still in their handshake (not yet a Connection). */
  private readonly sockets = new Set<net.Socket>();
  private nextConnectionId = 1;
  private readonly opts: ResolvedOptions;
  readonly stats: MllpListenerStats = { connections: 0, totalConnections: 0, rejectedConnections: 0, frames: 0, acks: 0, naks: 0, discardedBytes: 0, handlerErrors: 0, handlerTimeouts: 0 };

  constructor(options: MllpListenerOptions) {
    const nakHeader = { application: options.application, facility: options.facility };
    this.opts = {
      host: '127.0.0.1',
      handler: (inbound) => defaultReply(inbound, 'AA', nakHeader),
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
    this.server.on('tlsClientError', (err: Error, socket: tls.TLSSocket) => o.logger.warn({ peer: peerOf(socket), err: err.message }, 'mllp TLS handshake failed'));
    const server = this.server;
    server.on('connection', (socket: net.Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
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
    return this.address?.port;
  }

  /** The bound address and port, while listening. */
  get address(): net.AddressInfo | undefined {
    const a = this.server?.address();
    return a && typeof a === 'object' ? a : undefined;
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
    // The server can report "closed" a moment before each socket's own close event; wait for
    // those too, so the stats are final when close() resolves.
    const connectionsClosed = [...this.connections].map((c) => c.closed);
    for (const c of this.connections) c.drain();
    // Cut whatever is still open at the deadline: connections with a message still running,
    // peers that never close their side, and TLS sockets that never finished the handshake.
    const deadline = setTimeout(() => {
      for (const c of this.connections) c.destroy();
      for (const s of this.sockets) s.destroy();
    }, this.opts.drainTimeoutMs);
    await Promise.all([closed, ...connectionsClosed]);
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

/** Given to handlers that do not take a signal: it never aborts, and costs nothing per message. */
const NEVER_ABORTED = new AbortController().signal;

function isPromiseLike<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

/** Pause reading when this many frames wait behind the one being handled. */
const MAX_QUEUED_FRAMES = 64;

interface QueuedFrame {
  raw: Buffer;
  receivedAt: number;
}

class Connection {
  private readonly decoder: MllpDecoder;
  private readonly queue: QueuedFrame[] = [];
  private busy = false;
  /** No more frames are read; the connection ends once the frame in progress is answered. */
  private draining = false;
  private ended = false;
  private isClosed = false;
  /** Resolves once the socket has closed and the listener has forgotten this connection. */
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;
  /** Sent after the last ACK, just before the connection ends (the NAK for an oversized frame). */
  private finalReply: Buffer | undefined;
  private loggedDiscard = false;
  private readonly peer: string;
  private readonly isTls: boolean;

  constructor(
    readonly id: number,
    private readonly socket: net.Socket,
    private readonly o: ResolvedOptions,
    private readonly stats: MllpListenerStats,
    private readonly onClose: () => void,
  ) {
    this.closed = new Promise((resolve) => { this.resolveClosed = resolve; });
    this.decoder = new MllpDecoder(o.maxFrameBytes);
    this.peer = peerOf(socket);
    this.isTls = socket instanceof tls.TLSSocket;
    socket.setNoDelay(true);
    socket.setTimeout(o.idleTimeoutMs);
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('timeout', () => {
      if (this.busy || this.queue.length > 0 || this.ended) return;
      o.logger.info({ peer: this.peer, connection: id }, 'mllp connection idle, closing');
      this.end();
    });
    socket.on('error', (err) => o.logger.warn({ peer: this.peer, connection: id, err: err.message }, 'mllp connection error'));
    socket.on('close', () => {
      this.isClosed = true;
      if (this.decoder.discardedBytes > 0) o.logger.warn({ peer: this.peer, connection: id, discardedBytes: this.decoder.discardedBytes }, 'mllp bytes outside frames discarded');
      this.onClose();
      this.resolveClosed();
    });
    o.logger.debug({ peer: this.peer, connection: id, tls: this.isTls }, 'mllp connection opened');
  }

  /** Graceful close: finish the message in progress (its ACK is sent), drop the rest, end. */
  drain(): void {
    this.draining = true;
    this.queue.length = 0;
    if (!this.busy) this.end(this.finalReply);
  }

  destroy(): void {
    this.socket.destroy();
  }

  /**
   * Ends our side (after `last`, if given) and gives the peer drainTimeoutMs to close its
   * side; a peer that ignores the FIN (or keeps sending) is then cut off.
   */
  private end(last?: Buffer): void {
    if (this.ended || this.isClosed) return;
    this.ended = true;
    this.draining = true;
    if (last) this.socket.end(last);
    else this.socket.end();
    setTimeout(() => this.socket.destroy(), this.o.drainTimeoutMs).unref();
  }

  private onData(chunk: Buffer): void {
    if (this.draining) return;
    const receivedAt = Date.now();
    const before = this.decoder.discardedBytes;
    let frames: Buffer[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      if (!(err instanceof FrameTooLargeError)) throw err;
      this.o.logger.warn({ peer: this.peer, connection: this.id, limit: err.limit }, 'mllp frame too large: NAK and close');
      // Frames that ended before the oversized one are still answered, in order; then the
      // NAK goes out and the connection ends. Nothing more is read from this peer.
      this.stats.naks++;
      this.finalReply = frame(buildNak({ code: 'AR', application: this.o.application, facility: this.o.facility, error: { code: HL7_ERROR.applicationInternalError, text: err.message } }));
      this.draining = true;
      frames = err.frames;
    } finally {
      this.countDiscarded(before);
    }
    for (const raw of frames) this.queue.push({ raw, receivedAt });
    if (this.queue.length > MAX_QUEUED_FRAMES) this.socket.pause();
    // Not busy: start handling (or, after an oversized frame with nothing queued, NAK and end now).
    // Busy: the running pump picks the frames up, and sends the final NAK when it is done.
    if (!this.busy && (this.queue.length > 0 || this.draining)) this.startPump();
  }

  private countDiscarded(before: number): void {
    const added = this.decoder.discardedBytes - before;
    if (added <= 0) return;
    this.stats.discardedBytes += added;
    if (!this.loggedDiscard) {
      // Once per connection while it is open (the total is logged again at close); never the bytes themselves.
      this.loggedDiscard = true;
      this.o.logger.warn({ peer: this.peer, connection: this.id, discardedBytes: this.decoder.discardedBytes }, 'mllp bytes outside frames discarded');
    }
  }

  private startPump(): void {
    this.pump().catch((err: unknown) => {
      // Not expected: handle() turns handler failures into AE. Never let it take the process down.
      this.busy = false;
      this.o.logger.error({ peer: this.peer, connection: this.id, err: err instanceof Error ? err.message : String(err) }, 'mllp connection failed');
      this.socket.destroy();
    });
  }

  /** Handles queued frames strictly one after another, so ACKs go out in order. */
  private async pump(): Promise<void> {
    this.busy = true;
    while (this.queue.length > 0 && !this.isClosed) {
      const next = this.queue.shift()!;
      if (this.queue.length <= MAX_QUEUED_FRAMES / 2 && this.socket.isPaused() && !this.draining) this.socket.resume();
      const handled = this.handle(next);
      const reply = isPromiseLike(handled) ? await handled : handled;
      if (this.isClosed) break;
      const ack = typeof reply === 'string' || Buffer.isBuffer(reply) ? reply : reply.ack;
      const payload = frame(ack);
      if (typeof reply === 'object' && !Buffer.isBuffer(reply) && reply.close) {
        this.queue.length = 0;
        this.draining = true;
        this.busy = false;
        this.end(this.finalReply ? Buffer.concat([payload, this.finalReply]) : payload);
        return;
      }
      this.socket.write(payload);
    }
    this.busy = false;
    if (this.draining && !this.isClosed) this.end(this.finalReply);
  }

  /** Handles one frame; stays synchronous when the handler is, so the hot path makes no timer or promise. */
  private handle(item: QueuedFrame): MllpReply | Promise<MllpReply> {
    this.stats.frames++;
    const { raw } = item;
    let message: Hl7Message | undefined;
    let error: Hl7ParseError | undefined;
    try {
      message = parseHl7(raw);
    } catch (err) {
      error = err instanceof Hl7ParseError ? err : new Hl7ParseError(err instanceof Error ? err.message : String(err), 0);
    }
    const inbound: MllpInbound = { raw, message, error, peer: this.peer, connectionId: this.id, receivedAt: item.receivedAt, tls: this.isTls, clientCertSubject: this.certSubject() };
    // Only a handler that takes the signal pays for an AbortController.
    const controller = this.o.handler.length >= 2 ? new AbortController() : undefined;
    let result: MllpReply | Promise<MllpReply>;
    try {
      result = this.o.handler(inbound, controller?.signal ?? NEVER_ABORTED);
    } catch (err) {
      return this.handlerFailed(inbound, err);
    }
    if (!isPromiseLike(result)) {
      this.count(result);
      return result;
    }
    return this.settle(inbound, result, controller);
  }

  private async settle(inbound: MllpInbound, pending: Promise<MllpReply>, controller: AbortController | undefined): Promise<MllpReply> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), this.o.handlerTimeoutMs); });
    try {
      const result = await Promise.race([pending, timeout]);
      if (result === 'timeout') {
        controller?.abort();
        this.stats.handlerTimeouts++;
        this.stats.naks++;
        this.o.logger.warn({ peer: this.peer, connection: this.id, timeoutMs: this.o.handlerTimeoutMs }, 'mllp handler timed out: AE');
        return this.errorReply(inbound, `message not processed within ${this.o.handlerTimeoutMs} ms`);
      }
      this.count(result);
      return result;
    } catch (err) {
      return this.handlerFailed(inbound, err);
    } finally {
      clearTimeout(timer);
    }
  }

  private handlerFailed(inbound: MllpInbound, err: unknown): string {
    this.stats.handlerErrors++;
    this.stats.naks++;
    const text = err instanceof Error ? err.message : String(err);
    this.o.logger.error({ peer: this.peer, connection: this.id, err: text }, 'mllp handler failed: AE');
    return this.errorReply(inbound, text);
  }

  private errorReply(inbound: MllpInbound, text: string): string {
    const error = { code: HL7_ERROR.applicationInternalError, text };
    // The header again from the bytes: the handler may have edited inbound.message (a
    // channel's steps do), and the answer must name the message as it was sent.
    const message = inbound.message && parseHeader(inbound.raw);
    if (message) return buildAck(message, { code: 'AE', error });
    return buildNak({ code: 'AR', application: this.o.application, facility: this.o.facility, acknowledgedId: salvageControlId(inbound.raw), error });
  }

  private count(reply: MllpReply): void {
    const ack = typeof reply === 'string' ? reply : Buffer.isBuffer(reply) ? reply.toString('latin1') : typeof reply.ack === 'string' ? reply.ack : reply.ack.toString('latin1');
    // MSA-1 decides what we count; reading it here avoids trusting the handler's word.
    const code = /(?:^|[\r\n])MSA(.)([A-Z]{2})/.exec(ack)?.[2] ?? '';
    if (code === 'AA' || code === 'CA') this.stats.acks++;
    else this.stats.naks++;
  }

  private subject: string | null | undefined;

  /** The client certificate's subject, read once per connection (it cannot change). */
  private certSubject(): string | undefined {
    if (this.subject === undefined) {
      const cert = this.socket instanceof tls.TLSSocket ? this.socket.getPeerCertificate() : undefined;
      this.subject = cert && cert.subject ? Object.entries(cert.subject).map(([k, v]) => `${k}=${String(v)}`).join(',') : null;
    }
    return this.subject ?? undefined;
  }
}
