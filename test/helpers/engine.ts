/**
 * Shared set-up for the channel integration tests: engines on temporary data directories,
 * MLLP senders, HTTP sinks, free ports and bounded waits, all closed after each test.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';
import type { EngineConfig } from '../../config/schema.js';
import { Engine } from '../../engine/engine.js';
import { silentLogger } from '../../engine/log.js';
import { MllpSender } from '../../engine/mllp/index.js';
import type { MessageDetail, MessageStatus, MessageStore, StoredMessage } from '../../engine/store/types.js';
import { channelConfig, tempEngineConfig, type TestChannel } from './channel.js';
import { eventually, HttpSink } from './http-sink.js';

export { freePort } from './net.js';

type Closer = () => unknown;
const closers: Closer[] = [];

/** Runs `fn` after the current test (last registered first). */
export function onClose(fn: Closer): void {
  closers.push(fn);
}

afterEach(async () => {
  while (closers.length) {
    try {
      await closers.pop()!();
    } catch {
      // best effort: a test that closed something itself
    }
  }
});

export async function tempDir(prefix = 'sluice-t-'): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  onClose(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

export interface StartOptions {
  config?: EngineConfig;
  store?: MessageStore;
  /** Deploy only; do not start the channels. */
  noStart?: boolean;
}

/** An engine on a temporary data directory with these channels deployed (and started). */
export async function startEngine(channels: TestChannel | TestChannel[], opts: StartOptions = {}): Promise<Engine> {
  let config = opts.config;
  if (!config) {
    config = await tempEngineConfig();
    const dataDir = config.dataDir;
    onClose(() => rm(dataDir, { recursive: true, force: true }));
  }
  const engine = await Engine.open(config, silentLogger, opts.store);
  onClose(() => engine.stop());
  for (const t of Array.isArray(channels) ? channels : [channels]) {
    const c = engine.deploy(channelConfig(t));
    if (!opts.noStart) await c.start();
  }
  return engine;
}

/** The bound port of a channel's MLLP source. */
export function mllpPort(engine: Engine, name = 'test'): number {
  const port = (engine.channel(name)!.def.source as unknown as { port?: number }).port;
  if (!port) throw new Error(`channel ${name} has no listening MLLP source`);
  return port;
}

/** The bound port of a channel's HTTP source (from its description, `http host:port/path`). */
export function httpPort(engine: Engine, name = 'test'): number {
  const m = /:(\d+)\//.exec(engine.channel(name)!.def.source.describe());
  if (!m) throw new Error(`channel ${name} has no HTTP source port`);
  return Number(m[1]);
}

export function mllpSender(port: number, ackTimeoutMs = 5_000): MllpSender {
  const s = new MllpSender({ host: '127.0.0.1', port, ackTimeoutMs, maxConnectAttempts: 1 });
  onClose(() => s.close());
  return s;
}

export async function httpSink(): Promise<{ sink: HttpSink; url: string }> {
  const sink = new HttpSink();
  const url = await sink.start();
  onClose(() => sink.close());
  return { sink, url };
}

/**
 * An HTTP server that answers every request after `delayMs`; `started` counts requests
 * received, `finished` the answers it sent.
 */
export async function slowSink(delayMs: number): Promise<{ url: string; started: () => number; finished: () => number }> {
  let started = 0;
  let finished = 0;
  const server = http.createServer((req, res) => {
    started++;
    req.resume();
    req.on('end', () => setTimeout(() => { res.end('ok'); finished++; }, delayMs));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  onClose(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/in`, started: () => started, finished: () => finished };
}


/** Resolves true when something accepts a TCP connection on the port, false when refused. */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(port, '127.0.0.1');
    const timer = setTimeout(() => { sock.destroy(); resolve(false); }, 2_000);
    sock.once('connect', () => { clearTimeout(timer); sock.destroy(); resolve(true); });
    sock.once('error', () => { clearTimeout(timer); resolve(false); });
  });
}

/** The single stored message with this control id (waits for it to appear). */
export async function messageOf(store: MessageStore, controlId: string, channel = 'test'): Promise<StoredMessage> {
  let found: StoredMessage[] = [];
  await eventually(async () => (found = await store.search({ channel, controlId })).length > 0, 5_000, `message ${controlId} in ${channel}`);
  if (found.length !== 1) throw new Error(`expected one message ${controlId} in ${channel}, found ${found.length}`);
  return found[0]!;
}

/** Waits until the message has this status; resolves with its detail. */
export async function untilStatus(store: MessageStore, id: string, status: MessageStatus, timeoutMs = 5_000): Promise<MessageDetail> {
  let detail: MessageDetail | undefined;
  try {
    await eventually(async () => (detail = await store.get(id))?.status === status, timeoutMs, `${id} ${status}`);
  } catch {
    throw new Error(`message ${id}: expected ${status}, still ${detail?.status ?? 'missing'}${detail?.error ? ` (${detail.error})` : ''}`);
  }
  return detail!;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export function text(b: Uint8Array): string {
  return Buffer.from(b).toString('utf8');
}

/** Fast retry settings for destinations under test. */
export const FAST_QUEUE = { maxAttempts: 50, backoff: { initial: 30, max: 80, factor: 2 } };
