import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Capture } from '../../test/helpers/streams.js';
import { main } from '../cli/main.js';
import { BrokerError, clusterId, freePort, portAccepts, resolveKafkaClasspath, startBroker, stopBroker, type BrokerInfo } from './broker.js';

// Real broker: the first run resolves Kafka with Maven (a minute or more on a cold ~/.m2), later runs reuse the cache.
const ROOT = path.resolve(import.meta.dirname, '../..');
const CACHE = path.join(ROOT, '.cache', 'kafka');
const SLOW = 300_000;

async function cli(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = new Capture();
  const err = new Capture();
  const code = await main(argv, { out, err });
  return { code, out: out.text, err: err.text };
}

/** A raw Kafka ApiVersions v0 request over TCP; no client library. */
function apiVersions(port: number, correlationId: number, clientId = 'sluice-test'): Promise<{ correlationId: number; errorCode: number; apiKeys: number[] }> {
  const client = Buffer.from(clientId, 'utf8');
  const body = Buffer.alloc(2 + 2 + 4 + 2 + client.length);
  let o = body.writeInt16BE(18, 0); // api_key ApiVersions
  o = body.writeInt16BE(0, o); // api_version 0
  o = body.writeInt32BE(correlationId, o);
  o = body.writeInt16BE(client.length, o);
  client.copy(body, o);
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length, 0);

  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    socket.setTimeout(10_000, () => { socket.destroy(); reject(new Error('ApiVersions: no response within 10 s')); });
    socket.once('error', reject);
    socket.once('connect', () => socket.write(Buffer.concat([size, body])));
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      if (buf.length < 4 || buf.length < 4 + buf.readInt32BE(0)) return;
      socket.destroy();
      // v0 response: correlation_id int32, error_code int16, api_keys [api_key int16, min int16, max int16]
      const n = buf.readInt32BE(10);
      const apiKeys: number[] = [];
      for (let i = 0; i < n; i++) apiKeys.push(buf.readInt16BE(14 + i * 6));
      resolve({ correlationId: buf.readInt32BE(4), errorCode: buf.readInt16BE(8), apiKeys });
    });
    socket.once('end', () => reject(new Error(`ApiVersions: connection closed after ${buf.length} bytes`)));
  });
}

/** Signal 0 reaches the process and it is not a zombie (this test process spawned the broker and may not have reaped it yet). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !['Z', 'X'].includes(stat.charAt(stat.lastIndexOf(')') + 2));
  } catch {
    return true;
  }
}

const dirs: string[] = [];
async function tmpdir(): Promise<string> {
  const d = await mkdtemp(path.join(os.tmpdir(), 'sluice-kafka-'));
  dirs.push(d);
  return d;
}

describe('local Kafka broker', () => {
  let dataDir: string;
  let port: number;
  let info: BrokerInfo;

  beforeAll(async () => {
    dataDir = await tmpdir();
    port = await freePort();
    info = await startBroker({ port, dataDir, cacheDir: CACHE, startTimeoutMs: 120_000 });
  }, SLOW);

  afterAll(async () => {
    if (dataDir) await stopBroker(dataDir);
    for (const d of dirs) await rm(d, { recursive: true, force: true });
  }, 60_000);

  it('starts a broker that accepts connections and answers a Kafka ApiVersions request', async () => {
    expect(info).toMatchObject({ port, dataDir: path.resolve(dataDir), alreadyRunning: false });
    expect(isAlive(info.pid)).toBe(true);
    expect((await readFile(path.join(dataDir, 'kafka.pid'), 'utf8')).trim()).toBe(String(info.pid));
    expect(await portAccepts(port)).toBe(true);

    const r = await apiVersions(port, 424242);
    expect(r.correlationId).toBe(424242);
    expect(r.errorCode).toBe(0);
    expect(r.apiKeys).toEqual(expect.arrayContaining([0, 1, 3, 18])); // Produce, Fetch, Metadata, ApiVersions
  }, 30_000);

  it('binds 127.0.0.1 only, with the generated KRaft config', async () => {
    const props = await readFile(path.join(dataDir, 'server.properties'), 'utf8');
    expect(props).toContain('process.roles=broker,controller');
    expect(props).toContain(`listeners=PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${info.controllerPort}`);
    expect(props).toContain(`advertised.listeners=PLAINTEXT://127.0.0.1:${port}`);
    expect(props).toContain('auto.create.topics.enable=true');
    expect(await readFile(path.join(dataDir, 'server.log'), 'utf8')).toMatch(/Kafka Server started/);
  });

  it('`kafka up` on a data dir with a running broker reports it and exits 0 without starting another', async () => {
    const r = await cli(['kafka', 'up', '--port', String(port), '--data', dataDir]);
    expect(r).toMatchObject({ code: 0, out: `kafka already running on 127.0.0.1:${port} (pid ${info.pid})\n` });
    const again = await startBroker({ dataDir, cacheDir: CACHE });
    expect(again).toMatchObject({ port, pid: info.pid, alreadyRunning: true });
  }, 60_000);

  it('refuses a different port for a running data dir, and a port that is in use', async () => {
    const other = await freePort();
    await expect(startBroker({ port: other, dataDir, cacheDir: CACHE })).rejects.toThrow(/already running .* on port \d+/);
    const r = await cli(['kafka', 'up', '--port', String(port), '--data', await tmpdir()]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use`));
  }, 60_000);

  it('stops with `kafka down`: the process exits and the port closes', async () => {
    const r = await cli(['kafka', 'down', '--data', dataDir]);
    expect(r).toMatchObject({ code: 0, out: `kafka stopped (pid ${info.pid})\n` });
    expect(isAlive(info.pid)).toBe(false);
    expect(await portAccepts(port)).toBe(false);
    expect(existsSync(path.join(dataDir, 'kafka.pid'))).toBe(false);
    expect(await stopBroker(dataDir)).toBeUndefined();
  }, 60_000);
});

describe('stopBroker without a running broker', () => {
  it('is a no-op on a dir that never ran one', async () => {
    const d = await mkdtemp(path.join(os.tmpdir(), 'sluice-kafka-none-'));
    try {
      expect(await stopBroker(d)).toBeUndefined();
      expect(await stopBroker(path.join(d, 'missing'))).toBeUndefined();
      expect(await cli(['kafka', 'down', '--data', d])).toMatchObject({ code: 0, out: `kafka not running (${d})\n` });
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });

  it('leaves alone a live process that is not a Kafka broker and clears a stale pid', async () => {
    const d = await mkdtemp(path.join(os.tmpdir(), 'sluice-kafka-stale-'));
    const sleeper = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      await new Promise((r) => sleeper.once('spawn', r));
      const state = (pid: number) => JSON.stringify({ pid, port: 1, controllerPort: 2, kafkaVersion: 'x', startedAt: '' });
      await writeFile(path.join(d, 'broker.json'), state(sleeper.pid!));
      expect(await stopBroker(d)).toBeUndefined();
      expect(isAlive(sleeper.pid!)).toBe(true);
      expect(existsSync(path.join(d, 'broker.json'))).toBe(false);
    } finally {
      sleeper.kill('SIGKILL');
      await rm(d, { recursive: true, force: true });
    }
  });

  it('reports bad versions as a resolution failure with Maven output', async () => {
    const cacheDir = await mkdtemp(path.join(os.tmpdir(), 'sluice-kafka-cache-'));
    try {
      const e = await resolveKafkaClasspath({ cacheDir, kafkaVersion: '0.0.0-nope' }).then(() => new Error('resolved'), (err: Error) => err);
      expect(e).toBeInstanceOf(BrokerError);
      expect(e.message).toMatch(/could not resolve org\.apache\.kafka:kafka_2\.13:0\.0\.0-nope with Maven/);
      expect(e.message).toMatch(/Could not (find|resolve)/); // the tail of Maven's own output
    } finally {
      await rm(cacheDir, { recursive: true, force: true });
    }
  }, 120_000);
});


describe('clusterId', () => {
  it('is 22 base64url characters and never starts with "-" (the storage tool would take it for an option)', () => {
    // 1 in 64 random ids starts with "-": 5,000 draws would meet dozens.
    const ids = Array.from({ length: 5_000 }, () => clusterId());
    expect(ids.every((id) => /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
  });
});
