import { spawn } from 'node:child_process';
import { mkdtemp, mkdir, readdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { adt } from '../../test/helpers/channel.js';
import { eventually } from '../../test/helpers/http-sink.js';
import { Capture } from '../../test/helpers/streams.js';
import { MllpSender } from '../mllp/index.js';
import { main } from './main.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

describe('sluice run', () => {
  it('starts the engine from its files, takes a message end to end, and stops cleanly', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-run-'));
    await mkdir(path.join(dir, 'channels'));
    const out = path.join(dir, 'out');
    await writeFile(path.join(dir, 'sluice.yaml'), 'dataDir: ./data\nchannels: [channels]\nlog: { level: warn }\n');
    await writeFile(path.join(dir, 'channels', 'in.yaml'), [
      'name: in', 'source:', '  mllp: { port: 0 }', 'steps:', '  - set: { path: MSH-5, value: RUN }',
      'destinations:', '  out:', `    file: { dir: ${JSON.stringify(out)}, name: '{controlId}.hl7' }`, '',
    ].join('\n'));
    const stdout = new Capture();
    const stderr = new Capture();
    const stop = new AbortController();
    const running = main(['run', '--config', path.join(dir, 'sluice.yaml')], { out: stdout, err: stderr, signal: stop.signal });
    await eventually(() => /in: mllp 127\.0\.0\.1:\d+/.test(stdout.text), 10_000, 'engine start');
    const port = Number(/in: mllp 127\.0\.0\.1:(\d+)/.exec(stdout.text)![1]);
    expect(stdout.text).toContain(`sqlite in ${path.join(dir, 'data')}`);

    const sender = new MllpSender({ host: '127.0.0.1', port });
    expect((await sender.send(adt('RUN1', 'MRN1'))).code).toBe('AA');
    await sender.close();
    await eventually(async () => (await readdir(out).catch((): string[] => [])).includes('RUN1.hl7'), 10_000, 'file delivered');

    stop.abort();
    expect(await running).toBe(0);
    expect(stdout.text).toContain('stopping: draining in-flight messages');
    expect(stderr.text).not.toMatch(/"level":(50|60)/); // no error or fatal log lines
  });

  it('with its stdout reader gone (| tee that died), keeps running and still stops gracefully on SIGINT', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-run-'));
    await mkdir(path.join(dir, 'channels'));
    await writeFile(path.join(dir, 'sluice.yaml'), 'dataDir: ./data\nchannels: [channels]\nlog: { level: info }\n');
    await writeFile(path.join(dir, 'channels', 'in.yaml'), 'name: in\nsource:\n  mllp: { port: 0 }\ndestinations:\n  out:\n    file: { dir: ./out }\n');
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'engine/cli/run.ts'), 'run', '--config', path.join(dir, 'sluice.yaml')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy(); // before it prints "sluice running"
    let err = '';
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    await eventually(() => err.includes('"channel started"') || child.exitCode !== null, 30_000, 'engine start');
    await new Promise((r) => setTimeout(r, 300)); // past its stdout banner
    expect(child.exitCode).toBeNull(); // still running
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(err).toContain('"channel stopped"');
    expect(err).not.toContain('EPIPE');
  });

  it('refuses to start with config errors and prints them with positions', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-run-bad-'));
    await mkdir(path.join(dir, 'channels'));
    await writeFile(path.join(dir, 'sluice.yaml'), 'channels: [channels]\n');
    await writeFile(path.join(dir, 'channels', 'bad.yaml'), 'name: bad\nsource:\n  mllp: { port: 0 }\nroute:\n  - to: [nowhere]\ndestinations:\n  out:\n    file: { dir: /tmp/x }\n');
    const stderr = new Capture();
    const code = await main(['run', '--config', path.join(dir, 'sluice.yaml')], { out: new Capture(), err: stderr });
    expect(code).toBe(1);
    expect(stderr.text).toMatch(/bad\.yaml:5:\d+ route\[0\]\.to\[0\]: .*nowhere/);
  });
});
