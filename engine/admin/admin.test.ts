import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Agent, request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { formatErrors, loadConfig } from '../../config/index.js';
import { adt, tempEngineConfig } from '../../test/helpers/channel.js';
import { testPki } from '../../test/helpers/tls.js';
import { eventually, HttpSink } from '../../test/helpers/http-sink.js';
import { freePort } from '../../test/helpers/net.js';
import { Capture } from '../../test/helpers/streams.js';
import { main } from '../cli/main.js';
import { Engine } from '../engine.js';
import { silentLogger } from '../log.js';
import { MllpSender } from '../mllp/index.js';
import { openStore } from '../store/index.js';
import { AdminServer } from './server.js';

// Tokens come from the environment, as the config requires (${env:...}); 32+ characters.
const TOKENS = { viewer: 'v'.repeat(40), operator: 'o'.repeat(40), admin: 'a'.repeat(40) };
const ENV = { SLUICE_TEST_ADMIN_VIEWER: TOKENS.viewer, SLUICE_TEST_ADMIN_OPERATOR: TOKENS.operator, SLUICE_TEST_ADMIN_ADMIN: TOKENS.admin };
const ADMIN_BLOCK = [
  'admin:', '  listen: 127.0.0.1:0', '  tokens:',
  '    - { name: val, role: viewer, token: "${env:SLUICE_TEST_ADMIN_VIEWER}" }',
  '    - { name: ops, role: operator, token: "${env:SLUICE_TEST_ADMIN_OPERATOR}" }',
  '    - { name: root, role: admin, token: "${env:SLUICE_TEST_ADMIN_ADMIN}" }',
].join('\n');

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
  for (const k of [...Object.keys(ENV), 'SLUICE_ADMIN_TOKEN']) delete process.env[k];
});

function mllpChannel(name: string, destination: string, port = 0): string {
  return [`name: ${name}`, 'source:', `  mllp: { port: ${port} }`, 'destinations:', `  out:`, `    ${destination}`, ''].join('\n');
}


/** `sluice run` on a temp directory with the admin API; resolves once both are up. */
async function run(channels: Record<string, string>) {
  Object.assign(process.env, ENV);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-admin-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  await mkdir(path.join(dir, 'channels'));
  const config = path.join(dir, 'sluice.yaml');
  await writeFile(config, `dataDir: ./data\nchannels: [channels]\nlog: { level: warn }\n${ADMIN_BLOCK}\n`);
  for (const [name, text] of Object.entries(channels)) await writeFile(path.join(dir, 'channels', `${name}.yaml`), text);
  const stdout = new Capture();
  const stderr = new Capture();
  const stop = new AbortController();
  const running = main(['run', '--config', config], { out: stdout, err: stderr, signal: stop.signal });
  cleanups.push(async () => { stop.abort(); await running; });
  await eventually(() => /admin API on http:\/\/127\.0\.0\.1:\d+/.test(stdout.text) || /sluice:/.test(stderr.text), 10_000, 'engine start');
  expect(stderr.text).toBe('');
  const url = /admin API on (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout.text)![1]!;
  const port = (channel: string): number => Number(new RegExp(`${channel}: mllp 127\\.0\\.0\\.1:(\\d+)`).exec(stdout.text)![1]);
  return { dir, config, url, port, stdout, stderr };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, each test reads the fields it expects
async function call(url: string, method: 'GET' | 'POST', token?: string): Promise<{ status: number; body: any; headers: Record<string, unknown> }> {
  const res = await request(url, { method, headers: token ? { authorization: `Bearer ${token}` } : {} });
  const text = await res.body.text();
  return { status: res.statusCode, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

async function auditLines(dir: string): Promise<Record<string, string>[]> {
  return (await readFile(path.join(dir, 'data', 'audit.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
}

async function cli(argv: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string; err: string }> {
  Object.assign(process.env, env);
  const out = new Capture();
  const err = new Capture();
  const code = await main(argv, { out, err });
  return { code, out: out.text, err: err.text };
}

describe('admin API', () => {
  it('requires a token, enforces roles and writes every request to the audit log before acting', async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'sluice-admin-out-'));
    cleanups.push(() => rm(out, { recursive: true, force: true }));
    const { dir, url } = await run({ in: mllpChannel('in', `file: { dir: ${JSON.stringify(out)} }`) });

    expect((await call(`${url}/health`, 'GET')).status).toBe(200);
    const anonymous = await call(`${url}/api/channels`, 'GET');
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers['www-authenticate']).toMatch(/^Bearer/);
    expect((await call(`${url}/api/channels`, 'GET', 'x'.repeat(40))).status).toBe(401);

    const listed = await call(`${url}/api/channels`, 'GET', TOKENS.viewer);
    expect(listed.status).toBe(200);
    expect(listed.body).toMatchObject([{ name: 'in', state: 'started', backlog: 0, destinations: ['out'] }]);
    const refused = await call(`${url}/api/channels/in/stop`, 'POST', TOKENS.viewer);
    expect(refused.status).toBe(403);
    expect(refused.body.error).toMatch(/needs the operator role/);

    expect((await call(`${url}/api/channels/in/pause`, 'POST', TOKENS.operator)).body).toEqual({ name: 'in', state: 'paused' });
    expect((await call(`${url}/api/channels/in/start`, 'POST', TOKENS.operator)).body).toEqual({ name: 'in', state: 'started' });
    expect((await call(`${url}/api/reload`, 'POST', TOKENS.operator)).status).toBe(403);
    expect((await call(`${url}/api/channels/nope/stop`, 'POST', TOKENS.operator)).status).toBe(404);
    expect((await call(`${url}/api/channels/in/stop`, 'GET', TOKENS.admin)).status).toBe(405);
    expect((await call(`${url}/api/nothing`, 'GET', TOKENS.admin)).status).toBe(404);

    const audit = await auditLines(dir);
    const summary = audit.map((a) => `${a.actor} ${a.action} ${a.target ?? ''} ${a.outcome}`.replace(/ +/g, ' '));
    expect(summary).toEqual([
      '- channel.list denied', '- channel.list denied',
      'val channel.list requested', 'val channel.list ok',
      'val channel.stop in denied',
      'ops channel.pause in requested', 'ops channel.pause in ok',
      'ops channel.start in requested', 'ops channel.start in ok',
      'ops channels.reload denied',
      'ops channel.stop nope requested', 'ops channel.stop nope failed',
    ]);
    expect(audit.every((a) => typeof a.at === 'string' && a.peer !== undefined)).toBe(true);
  });

  it('reprocesses in the running engine, from the API and from `sluice messages reprocess`', async () => {
    const sink = new HttpSink();
    const sinkUrl = await sink.start();
    cleanups.push(() => sink.close());
    let up = false;
    sink.respond = () => ({ status: up ? 200 : 400 });
    const { dir, config, url, port } = await run({ in: mllpChannel('in', `http: { url: ${JSON.stringify(sinkUrl)} }`) });
    const sender = new MllpSender({ host: '127.0.0.1', port: port('in') });
    cleanups.push(() => sender.close());
    expect((await sender.send(adt('P1', 'MRN1'))).code).toBe('AA');
    expect((await sender.send(adt('P2', 'MRN2'))).code).toBe('AA');
    // The CLI reads the store beside the running engine (SQLite allows a second connection).
    const store = await openStore({ dataDir: path.join(dir, 'data') });
    cleanups.push(() => store.close());
    const idOf = async (c: string) => (await store.search({ controlId: c }))[0]!.id;
    const [p1, p2] = [await idOf('P1'), await idOf('P2')];
    await eventually(async () => (await store.get(p1))?.status === 'ERROR' && (await store.get(p2))?.status === 'ERROR', 5_000, 'both ERROR');
    up = true;

    const api = await call(`${url}/api/messages/${p1}/reprocess`, 'POST', TOKENS.operator);
    expect(api).toMatchObject({ status: 200, body: { id: p1, reprocessed: true } });
    expect((await store.get(p1))!.events.map((e) => e.detail)).toContain('reprocess requested by ops (admin API)');
    await eventually(async () => (await store.get(p1))?.status === 'SENT', 5_000, 'P1 SENT');
    expect((await call(`${url}/api/messages/01ARZ3NDEKTSV4RRFFQ69G5FAV/reprocess`, 'POST', TOKENS.operator)).status).toBe(404);

    // --admin: this engine listens on a port of its own choosing (listen: 127.0.0.1:0).
    const r = await cli(['messages', 'reprocess', '--config', config, '--admin', url, '--channel', 'in', '--status', 'ERROR'], { SLUICE_ADMIN_TOKEN: TOKENS.operator });
    expect(r).toMatchObject({ code: 0, out: '1 message(s) reprocessed by the running engine\n' });
    await eventually(async () => (await store.get(p2))?.status === 'SENT', 5_000, 'P2 SENT without a restart');
    expect(sink.bodies).toHaveLength(2);

    // A viewer may not. A message still in progress is refused (its retry may be in memory:
    // it would go out twice), by the API and so by the CLI, which then marks nothing.
    expect((await call(`${url}/api/messages/${p1}/reprocess`, 'POST', TOKENS.viewer)).status).toBe(403);
    sink.respond = (body) => ({ status: body.includes('|P3|') ? 503 : 200 });
    expect((await sender.send(adt('P3', 'MRN3'))).code).toBe('AA');
    const p3 = await idOf('P3');
    await eventually(async () => (await store.get(p3))?.status === 'QUEUED', 5_000, 'P3 QUEUED');
    const refused = await call(`${url}/api/messages/${p3}/reprocess`, 'POST', TOKENS.operator);
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatch(/QUEUED: still in progress/);
    const cliRefused = await cli(['messages', 'reprocess', '--config', config, '--admin', url, p3], { SLUICE_ADMIN_TOKEN: TOKENS.operator });
    expect(cliRefused.code).toBe(1);
    expect(cliRefused.out).toContain(`${p3}: refused: message ${p3} is QUEUED`);
    expect((await store.get(p3))!.reprocessCount).toBe(0);
    // A paused channel's queues still run: a finished message can be reprocessed there.
    await call(`${url}/api/channels/in/pause`, 'POST', TOKENS.operator);
    expect((await call(`${url}/api/messages/${p1}/reprocess`, 'POST', TOKENS.operator)).status).toBe(200);
    await eventually(async () => (await store.get(p1))?.reprocessCount === 2 && (await store.get(p1))?.status === 'SENT', 5_000, 'P1 SENT again');
  });

  it('survives malformed request paths (no token needed to send one): 400, and the engine runs on', async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'sluice-admin-out-'));
    cleanups.push(() => rm(out, { recursive: true, force: true }));
    const { url } = await run({ in: mllpChannel('in', `file: { dir: ${JSON.stringify(out)} }`) });
    expect((await call(`${url}/api/channels/%E0%A4%A/stop`, 'POST')).status).toBe(400);
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(new URL(url).port), '127.0.0.1', () => socket.end('POST http://a:99999/api/reload HTTP/1.1\r\nHost: x\r\n\r\n'));
      let text = '';
      socket.on('data', (d) => { text += d.toString(); });
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(raw).toMatch(/^HTTP\/1\.1 400/);
    expect((await call(`${url}/api/channels`, 'GET', TOKENS.viewer)).body).toMatchObject([{ name: 'in', state: 'started' }]);
  });

  it('two reloads at once: one redeploys, the other finds the channel unchanged; it runs once', async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'sluice-admin-out-'));
    cleanups.push(() => rm(out, { recursive: true, force: true }));
    const port = await freePort();
    const { dir, url } = await run({ a: mllpChannel('a', `file: { dir: ${JSON.stringify(path.join(out, 'a'))} }`, port) });
    await writeFile(path.join(dir, 'channels', 'a.yaml'), mllpChannel('a', `file: { dir: ${JSON.stringify(path.join(out, 'a2'))} }`, port));
    const [r1, r2] = await Promise.all([call(`${url}/api/reload`, 'POST', TOKENS.admin), call(`${url}/api/reload`, 'POST', TOKENS.admin)]);
    expect([r1.status, r2.status]).toEqual([200, 200]);
    expect([...r1.body.redeployed, ...r2.body.redeployed]).toEqual(['a']);
    expect([...r1.body.unchanged, ...r2.body.unchanged]).toEqual(['a']);
    expect((await call(`${url}/api/channels`, 'GET', TOKENS.viewer)).body).toMatchObject([{ name: 'a', state: 'started' }]);
    const sender = new MllpSender({ host: '127.0.0.1', port });
    cleanups.push(() => sender.close());
    expect((await sender.send(adt('R1', 'MRN1'))).code).toBe('AA');
  });

  it('reloads the channel files: deploys new, redeploys changed, undeploys removed; refuses files with errors', async () => {
    const out = await mkdtemp(path.join(os.tmpdir(), 'sluice-admin-out-'));
    cleanups.push(() => rm(out, { recursive: true, force: true }));
    const file = (sub: string) => `file: { dir: ${JSON.stringify(path.join(out, sub))} }`;
    const { dir, config, url } = await run({ a: mllpChannel('a', file('a')) });
    const token = { SLUICE_ADMIN_TOKEN: TOKENS.admin };
    const portB = await freePort();
    await writeFile(path.join(dir, 'channels', 'b.yaml'), mllpChannel('b', file('b'), portB));
    let r = await cli(['channels', 'reload', '--config', config, '--admin', url], token);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^deployed +b$/m);
    expect(r.out).toMatch(/^unchanged +a$/m);

    await writeFile(path.join(dir, 'channels', 'b.yaml'), mllpChannel('b', file('b2'), portB));
    await writeFile(path.join(dir, 'channels', 'a.yaml'), 'name: a\nsource:\n  mllp: { port: 0 }\ndestinations:\n  out:\n    file: { dir: 7 }\n');
    r = await cli(['channels', 'reload', '--config', config, '--admin', url], token);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/a\.yaml:6:\d+ destinations\.out\.file\.dir/);
    // Nothing changed: b still writes to b, a still runs.
    expect((await call(`${url}/api/channels`, 'GET', TOKENS.viewer)).body.map((c: { name: string; state: string }) => `${c.name} ${c.state}`)).toEqual(['a started', 'b started']);

    await rm(path.join(dir, 'channels', 'a.yaml'));
    r = await cli(['channels', 'reload', '--config', config, '--admin', url], token);
    expect(r.out).toMatch(/^redeployed +b$/m);
    expect(r.out).toMatch(/^undeployed +a$/m);
    r = await cli(['channels', 'list', '--config', config, '--admin', url], { SLUICE_ADMIN_TOKEN: TOKENS.viewer });
    expect(r.out.trim().split('\n').slice(1).map((l) => l.split('\t').slice(0, 2).join(' '))).toEqual(['b started']);
    r = await cli(['channels', 'reload', '--config', config, '--admin', url], { SLUICE_ADMIN_TOKEN: TOKENS.operator });
    expect(r).toMatchObject({ code: 1, err: expect.stringMatching(/needs the admin role/) });
  });
});

describe('admin config', () => {
  async function errorsOf(admin: string): Promise<string> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-admin-cfg-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await writeFile(path.join(dir, 'sluice.yaml'), `channels: []\n${admin}\n`);
    return formatErrors(loadConfig(path.join(dir, 'sluice.yaml'), { env: ENV, cwd: dir }).errors);
  }

  it('refuses a literal token, a short one, and a non-loopback address without TLS', async () => {
    expect(await errorsOf('admin:\n  listen: 127.0.0.1:8765\n  tokens:\n    - { name: a, role: admin, token: literal-token-literal-token-literal-token }'))
      .toMatch(/sluice\.yaml:5:\d+ admin\.tokens\[0\]\.token: secrets must come from/);
    expect(await errorsOf('admin:\n  listen: 127.0.0.1:8765\n  tokens:\n    - { name: a, role: admin, token: "${env:SHORT}" }').catch(String))
      .toMatch(/admin\.tokens\[0\]\.token/);
    expect(await errorsOf('admin:\n  listen: 0.0.0.0:8765\n  tokens:\n    - { name: a, role: admin, token: "${env:SLUICE_TEST_ADMIN_ADMIN}" }'))
      .toMatch(/sluice\.yaml:3:\d+ admin\.listen: 0\.0\.0\.0 is not a loopback address: set admin\.tls/);
    expect(await errorsOf('admin:\n  listen: 127.0.0.1:8765\n  tokens:\n    - { name: a, role: root, token: "${env:SLUICE_TEST_ADMIN_ADMIN}" }'))
      .toMatch(/admin\.tokens\[0\]\.role/);
    expect(await errorsOf('admin:\n  listen: 127.0.0.1:8765\n  tokens:\n    - { name: a, role: admin, token: "${env:SLUICE_TEST_ADMIN_ADMIN}" }')).toBe('');
  });
});

describe('admin API over TLS', () => {
  it('serves HTTPS and, with a CA, requires a client certificate it signed', async () => {
    const pki = testPki();
    const engine = await Engine.open(await tempEngineConfig(), silentLogger);
    cleanups.push(() => engine.stop());
    const server = new AdminServer({
      engine, logger: silentLogger, reload: async () => ({ errors: ['not here'] }),
      config: { listen: '127.0.0.1:0', tls: { cert: pki.serverCert.toString(), key: pki.serverKey.toString(), ca: pki.caCert.toString() }, tokens: [{ name: 'ops', role: 'operator', token: TOKENS.operator }] },
    });
    const port = await server.start();
    cleanups.push(() => server.stop());
    const get = (connect: Record<string, unknown>) => {
      const dispatcher = new Agent({ connect });
      cleanups.push(() => dispatcher.close());
      return request(`https://127.0.0.1:${port}/api/channels`, { headers: { authorization: `Bearer ${TOKENS.operator}` }, dispatcher });
    };
    const ok = await get({ ca: pki.caCert, cert: pki.clientCert, key: pki.clientKey });
    expect(ok.statusCode).toBe(200);
    expect(await ok.body.json()).toEqual([]);
    await expect(get({ ca: pki.caCert })).rejects.toThrow();
    await expect(get({ ca: pki.caCert, cert: pki.rogueCert, key: pki.rogueKey })).rejects.toThrow();
    await expect(request(`http://127.0.0.1:${port}/api/channels`)).rejects.toThrow();
  });
});

describe('admin API lockout', () => {
  it('after too many failed authentications from one address, refuses it (429, Retry-After) unchecked and audited, until the window passes', async () => {
    const engine = await Engine.open(await tempEngineConfig(), silentLogger);
    cleanups.push(() => engine.stop());
    const server = new AdminServer({
      engine, logger: silentLogger, reload: async () => ({ errors: ['not here'] }),
      config: { listen: '127.0.0.1:0', tokens: [{ name: 'ops', role: 'operator', token: TOKENS.operator }], lockout: { failures: 3, window: 1500 } },
    });
    const port = await server.start();
    cleanups.push(() => server.stop());
    const url = `http://127.0.0.1:${port}/api/channels`;
    expect((await call(url, 'GET', TOKENS.operator)).status).toBe(200); // a success counts for nothing
    for (const token of ['w'.repeat(40), undefined, 'x'.repeat(40)]) expect((await call(url, 'GET', token)).status).toBe(401);
    const refused = await call(url, 'GET', TOKENS.operator); // even the right token, now
    expect(refused.status).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(refused.body.error).toMatch(/too many failed authentications/);
    const audit = (await readFile(server.audit.file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
    expect(audit.at(-1)).toMatchObject({ actor: '-', outcome: 'denied', action: 'channel.list' });
    expect(audit.at(-1)!.detail).toMatch(/locked out: 3 failed authentications/);
    await new Promise((r) => setTimeout(r, 1600));
    expect((await call(url, 'GET', TOKENS.operator)).status).toBe(200);
  });
});
