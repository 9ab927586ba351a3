/**
 * Shared helpers for the MLLP socket tests: sample messages, a raw MLLP client that
 * exposes every frame it receives, bounded waits, and per-test cleanup.
 */
import net from 'node:net';
import tls from 'node:tls';
import { Writable } from 'node:stream';
import { afterEach } from 'vitest';
import { parseHl7, type Hl7Message } from '../../engine/hl7/index.js';
import { createLogger, type Logger } from '../../engine/log.js';
import { MllpDecoder, frame } from '../../engine/mllp/framing.js';
import { sleep } from '../../engine/sleep.js';

/** A small ADT^A01 with PHI-looking content, so tests can check it never reaches logs. */
export function adt(controlId: string, opts: { version?: string; patient?: string } = {}): string {
  const patient = opts.patient ?? 'DOE^JANE';
  return [
    `MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20240101120000||ADT^A01^ADT_A01|${controlId}|P|${opts.version ?? '2.5.1'}`,
    'EVN|A01|20240101120000',
    `PID|1||MRN-${controlId}^^^HOSP^MR||${patient}||19800101|F`,
    'PV1|1|I',
  ].join('\r') + '\r';
}

export { sleep };

/** Polls `cond` every few ms; throws with `what` if it is still false after `timeoutMs`. */
export async function waitFor(cond: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await sleep(5);
  }
}

/** Rejects if `p` does not settle within `ms`. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms); });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

type Closer = () => unknown;
const closers: Closer[] = [];

/** Registers something to close after the current test (last registered closes first). */
export function onCleanup(fn: Closer): void {
  closers.push(fn);
}

afterEach(async () => {
  const errors: unknown[] = [];
  while (closers.length > 0) {
    try {
      await within(Promise.resolve(closers.pop()!()), 15_000, 'test cleanup');
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length > 0) throw errors[0];
});

export interface RawClientOptions {
  host?: string;
  /** TLS options; when set the client speaks TLS. */
  tls?: tls.ConnectionOptions;
  /** Keep our side open after the peer ends (a client that ignores the server's FIN). */
  allowHalfOpen?: boolean;
}

/**
 * A bare MLLP client over a real socket: writes whatever it is told to and decodes every
 * frame it receives, so tests can see exactly what the server sent and when it closed.
 */
export class RawClient {
  readonly frames: Buffer[] = [];
  private readonly decoder = new MllpDecoder();
  private taken = 0;
  ended = false;
  closed = false;
  error: Error | undefined;
  readonly closedPromise: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => { this.frames.push(...this.decoder.push(chunk)); });
    socket.on('end', () => { this.ended = true; });
    socket.on('error', (err) => { this.error = err; });
    this.closedPromise = new Promise((resolve) => socket.once('close', () => { this.closed = true; resolve(); }));
  }

  static connect(port: number, opts: RawClientOptions = {}): Promise<RawClient> {
    const host = opts.host ?? '127.0.0.1';
    return new Promise((resolve, reject) => {
      const socket = opts.tls
        ? tls.connect({ host, port, ...opts.tls })
        : net.connect({ host, port, allowHalfOpen: opts.allowHalfOpen ?? false });
      const onError = (err: Error): void => reject(err);
      socket.once('error', onError);
      socket.once(opts.tls ? 'secureConnect' : 'connect', () => {
        socket.off('error', onError);
        socket.setNoDelay(true);
        const client = new RawClient(socket);
        onCleanup(() => client.close());
        resolve(client);
      });
    });
  }

  /** Writes an MLLP-framed message. */
  send(message: string | Buffer): void {
    this.socket.write(frame(message));
  }

  write(bytes: string | Buffer): void {
    this.socket.write(bytes);
  }

  /** The next frame not yet taken, parsed, waiting up to `timeoutMs`. */
  async next(timeoutMs = 3000): Promise<Hl7Message> {
    return parseHl7(await this.nextRaw(timeoutMs));
  }

  async nextRaw(timeoutMs = 3000): Promise<Buffer> {
    await waitFor(() => this.frames.length > this.taken || this.closed, 'an ACK frame', timeoutMs);
    if (this.frames.length <= this.taken) throw new Error('connection closed before the next frame');
    return this.frames[this.taken++]!;
  }

  /** Waits until the server closed the connection. */
  async waitClosed(timeoutMs = 3000): Promise<void> {
    await within(this.closedPromise, timeoutMs, 'server closing the connection');
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.socket.destroy();
    await this.closedPromise;
  }
}

/** A pino logger writing JSON lines into memory, for asserting on what gets logged. */
export function memoryLogger(level = 'debug'): { logger: Logger; lines: () => Record<string, unknown>[]; text: () => string } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer | string, _enc, cb) { chunks.push(chunk.toString()); cb(); },
  });
  const logger = createLogger({ level, name: 'mllp-test', destination });
  const text = (): string => chunks.join('');
  const lines = (): Record<string, unknown>[] => text().split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  return { logger, lines, text };
}

/** Counts TCP connections accepted by a server we wrap around a port (for the sender tests). */
export function countConnections(server: net.Server): { readonly count: number } {
  const state = { count: 0 };
  server.on('connection', () => { state.count++; });
  return state;
}
