import net from 'node:net';
import tls from 'node:tls';
import { Hl7Message, Hl7ParseError, parseHl7 } from '../hl7/index.js';
import { silentLogger, type Logger } from '../log.js';
import { sleep } from '../sleep.js';
import { DEFAULT_MAX_FRAME_BYTES, MllpDecoder, frame } from './framing.js';

export interface MllpSenderOptions {
  host: string;
  port: number;
  tls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer; servername?: string; rejectUnauthorized?: boolean };
  connectTimeoutMs?: number;
  ackTimeoutMs?: number;
  /** Connection attempts per send before giving up (with backoff in between). */
  maxConnectAttempts?: number;
  backoff?: { initialMs?: number; maxMs?: number; factor?: number };
  maxFrameBytes?: number;
  logger?: Logger;
}

/** The peer's answer to one message. */
export interface AckResult {
  /** True for AA/CA. */
  readonly ok: boolean;
  /** MSA-1: AA, AE, AR, CA, CE or CR. */
  readonly code: string;
  /**
   * MSA-2, checked equal to the sent MSH-10. Empty only on a negative ACK from a receiver
   * that could not read our control id (it can only be for the one message outstanding).
   */
  readonly controlId: string;
  /** ERR/MSA-3 text on a negative ACK. */
  readonly text: string;
  readonly raw: Buffer;
  readonly ack: Hl7Message;
}

/** A transport failure: no usable ACK came back. Safe to retry. */
export class MllpSendError extends Error {
  override readonly name = 'MllpSendError';
  constructor(message: string, readonly reason: 'connect' | 'timeout' | 'closed' | 'bad-ack' | 'mismatch') {
    super(message);
  }
}

/**
 * An MLLP client that keeps one connection open and sends one message at a time,
 * waiting for its ACK. A connection that timed out or failed is dropped and reopened on
 * the next send, so a late ACK can never be taken for the next message's. When a reused
 * connection turns out to have been closed by the peer (nothing came back at all), the
 * message is sent once more on a new connection; as with any MLLP retry, a receiver that
 * took the message and died before ACKing may see it twice.
 */
export class MllpSender {
  private socket: net.Socket | undefined;
  private decoder: MllpDecoder | undefined;
  /** The message waiting for its ACK, and the socket that ACK must come on. */
  private pending: { socket: net.Socket; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  private chain: Promise<unknown> = Promise.resolve();
  private failures = 0;
  private closed = false;
  /** Ends backoff sleeps at once when the sender is destroyed. */
  private readonly closing = new AbortController();
  private readonly o: Required<Omit<MllpSenderOptions, 'tls' | 'backoff'>> & Pick<MllpSenderOptions, 'tls'> & { backoff: Required<NonNullable<MllpSenderOptions['backoff']>> };

  constructor(options: MllpSenderOptions) {
    this.o = {
      connectTimeoutMs: 5_000,
      ackTimeoutMs: 30_000,
      maxConnectAttempts: 3,
      maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
      logger: silentLogger,
      ...options,
      backoff: { initialMs: 200, maxMs: 30_000, factor: 2, ...options.backoff },
    };
  }

  /** Sends one message and resolves with its ACK. Calls are queued and run in order. */
  send(message: string | Buffer | Hl7Message): Promise<AckResult> {
    const run = this.chain.then(() => this.sendNow(message));
    this.chain = run.catch(() => undefined);
    return run;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.chain;
    const s = this.socket;
    this.socket = undefined;
    if (s && !s.destroyed) await new Promise<void>((resolve) => { s.once('close', () => resolve()); s.end(); setTimeout(() => { s.destroy(); }, 1000).unref(); });
  }

  /**
   * Closes now: a send waiting for its ACK or sleeping in backoff fails with `closed`, and
   * queued sends fail too. For shutdown after the drain time, when waiting is not an option.
   */
  destroy(): void {
    this.closed = true;
    this.closing.abort();
    const s = this.socket;
    this.socket = undefined;
    const p = this.pending;
    this.pending = undefined;
    s?.destroy();
    p?.reject(new MllpSendError('sender is closed', 'closed'));
  }

  get connected(): boolean {
    return !!this.socket && !this.socket.destroyed;
  }

  private async sendNow(message: string | Buffer | Hl7Message): Promise<AckResult> {
    if (this.closed) throw new MllpSendError('sender is closed', 'closed');
    const msg = message instanceof Hl7Message ? message : parseHl7(message);
    // Text goes out in the character set its MSH-18 declares (see encodingForText).
    const payload = typeof message === 'string' || message instanceof Hl7Message ? msg.toBytes() : message;
    const bytes = frame(payload);
    let socket: net.Socket;
    let rawAck: Buffer;
    for (let attempt = 1; ; attempt++) {
      const conn = await this.connect();
      socket = conn.socket;
      const readBefore = socket.bytesRead;
      try {
        rawAck = await this.exchange(socket, bytes);
        break;
      } catch (err) {
        // A kept-alive connection the peer closed while it sat idle (or right after its
        // last ACK: the FIN can trail the ACK by a few ms) fails before a single byte of
        // reply. Send once more on a new connection instead of failing the message.
        const stale = conn.reused && attempt === 1 && err instanceof MllpSendError && err.reason === 'closed' && socket.bytesRead === readBefore;
        if (!stale) throw err;
        this.o.logger.info({ host: this.o.host, port: this.o.port }, 'mllp connection closed by peer before any reply; resending on a new connection');
      }
    }
    let ack: Hl7Message;
    try {
      ack = parseHl7(rawAck);
    } catch (err) {
      this.drop(socket);
      throw new MllpSendError(`unparsable ACK: ${err instanceof Hl7ParseError ? err.reason : String(err)}`, 'bad-ack');
    }
    const code = ack.get('MSA-1');
    const controlId = ack.get('MSA-2');
    if (!code) {
      this.drop(socket);
      throw new MllpSendError('ACK has no MSA-1', 'bad-ack');
    }
    const ok = code === 'AA' || code === 'CA';
    // A receiver that could not parse our message cannot echo its control id; with one
    // message outstanding, a negative ACK without MSA-2 can only be for this one.
    const unreadable = controlId === '' && !ok;
    if (controlId !== msg.controlId && !unreadable) {
      // The stream is out of step; reconnect so later messages are not confused too.
      this.drop(socket);
      throw new MllpSendError(`ACK is for control id "${controlId}", sent "${msg.controlId}"`, 'mismatch');
    }
    const text = ok ? '' : errorText(ack);
    return { ok, code, controlId, text, raw: rawAck, ack };
  }

  /** Writes one framed message on `socket` and resolves with the next frame that comes back. */
  private exchange(socket: net.Socket, bytes: Buffer): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending = undefined;
        this.drop(socket);
        reject(new MllpSendError(`no ACK within ${this.o.ackTimeoutMs} ms`, 'timeout'));
      }, this.o.ackTimeoutMs);
      this.pending = {
        socket,
        resolve: (b) => { clearTimeout(timer); resolve(b); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
      socket.write(bytes);
    });
  }

  /** The open connection, or a new one (with backoff after failures). */
  private async connect(): Promise<{ socket: net.Socket; reused: boolean }> {
    if (this.socket && this.usable(this.socket)) return { socket: this.socket, reused: true };
    if (this.socket) this.drop(this.socket);
    let lastError: Error | undefined;
    for (let attempt = 0; attempt < this.o.maxConnectAttempts; attempt++) {
      // destroy() ends the wait at once; the check below turns it into `closed`.
      if (this.failures > 0) await sleep(this.backoffMs(), this.closing.signal).catch(() => undefined);
      if (this.closed) throw new MllpSendError('sender is closed', 'closed');
      try {
        const socket = await this.open();
        this.failures = 0;
        return { socket, reused: false };
      } catch (err) {
        lastError = err as Error;
        this.failures++;
        this.o.logger.warn({ host: this.o.host, port: this.o.port, attempt: attempt + 1, err: lastError.message }, 'mllp connect failed');
      }
    }
    throw new MllpSendError(`cannot connect to ${this.o.host}:${this.o.port}: ${lastError?.message ?? 'unknown error'}`, 'connect');
  }

  private usable(socket: net.Socket): boolean {
    return !socket.destroyed && socket.writable && !socket.readableEnded;
  }

  /** Exponential backoff with full jitter, capped. */
  private backoffMs(): number {
    const { initialMs, maxMs, factor } = this.o.backoff;
    const ceiling = Math.min(maxMs, initialMs * factor ** Math.min(this.failures - 1, 30));
    return Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
  }

  private open(): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const o = this.o;
      const socket = o.tls
        ? tls.connect({ host: o.host, port: o.port, ca: o.tls.ca, cert: o.tls.cert, key: o.tls.key, servername: o.tls.servername ?? (net.isIP(o.host) ? undefined : o.host), rejectUnauthorized: o.tls.rejectUnauthorized ?? true })
        : net.connect({ host: o.host, port: o.port });
      const readyEvent = o.tls ? 'secureConnect' : 'connect';
      const timer = setTimeout(() => { socket.destroy(); reject(new Error(`connect timeout after ${o.connectTimeoutMs} ms`)); }, o.connectTimeoutMs);
      const onError = (err: Error): void => { clearTimeout(timer); socket.destroy(); reject(err); };
      socket.once('error', onError);
      socket.once(readyEvent, () => {
        clearTimeout(timer);
        socket.off('error', onError);
        socket.setNoDelay(true);
        this.attach(socket);
        resolve(socket);
      });
    });
  }

  private attach(socket: net.Socket): void {
    this.socket = socket;
    this.decoder = new MllpDecoder(this.o.maxFrameBytes);
    const decoder = this.decoder;
    socket.on('data', (chunk: Buffer) => {
      let frames: Buffer[];
      try {
        frames = decoder.push(chunk);
      } catch (err) {
        this.fail(socket, err as Error);
        return;
      }
      for (const f of frames) {
        const p = this.pending?.socket === socket ? this.pending : undefined;
        if (p) this.pending = undefined;
        if (p) p.resolve(f);
        else this.o.logger.warn({ host: this.o.host, port: this.o.port }, 'mllp: unexpected frame with no message outstanding, ignored');
      }
    });
    socket.on('error', (err) => this.fail(socket, err));
    socket.on('close', () => this.fail(socket, new MllpSendError('connection closed by peer before ACK', 'closed')));
  }

  private fail(socket: net.Socket, err: Error): void {
    if (this.socket === socket) this.socket = undefined;
    socket.destroy();
    // Only the message sent on this socket fails: a socket dropped earlier (after an ACK
    // timeout or mismatch) closes asynchronously, possibly while the next message waits.
    const p = this.pending?.socket === socket ? this.pending : undefined;
    if (!p) return;
    this.pending = undefined;
    p.reject(err instanceof MllpSendError ? err : new MllpSendError(err.message, 'closed'));
  }

  private drop(socket: net.Socket): void {
    if (this.socket === socket) this.socket = undefined;
    socket.destroy();
  }
}

/** The most useful error text of a negative ACK: ERR-8, ERR-3.2, ERR-1 (pre-2.5), then MSA-3. */
export function errorText(ack: Hl7Message): string {
  const parts: string[] = [];
  for (let i = 1; i <= ack.all('ERR').length; i++) {
    const t = ack.get(`ERR[${i}]-8`) || ack.get(`ERR[${i}]-3.2`) || ack.get(`ERR[${i}]-1.4.5`) || ack.get(`ERR[${i}]-1.4.2`);
    if (t) parts.push(t);
  }
  const msa3 = ack.get('MSA-3');
  // MSA-3 is often the ERR text cut to 80 characters (ending in "…" or not); do not repeat it.
  const stem = msa3.endsWith('…') ? msa3.slice(0, -1) : msa3;
  if (msa3 && !parts.some((p) => p.startsWith(stem))) parts.unshift(msa3);
  return parts.join('; ');
}

