import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { parseHl7 } from '../engine/hl7/index.js';
import { MllpSender } from '../engine/mllp/index.js';
import { eventually } from './helpers/http-sink.js';
import { freePort } from './helpers/net.js';

const ROOT = path.resolve(import.meta.dirname, '..');
/** The example channels that need no Kafka broker: what the README's quick try goes through. */
const CHANNELS = ['adt-to-file', 'lab-forward', 'lis-sink'];
const PORTS = [2575, 2576, 2577];

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => {});
});

async function files(dir: string): Promise<string[]> {
  return readdir(dir).catch(() => []);
}

describe('the example setup (sluice.yaml and channels/), as the README runs it', () => {
  it('files an ADT sent to adt-to-file, forwards an ORU through lab-forward to lis-sink, and stops on SIGINT', async () => {
    // A copy run from its own directory: the channels' relative paths (data/out/...) resolve there.
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-examples-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await mkdir(path.join(dir, 'channels'));
    await copyFile(path.join(ROOT, 'sluice.yaml'), path.join(dir, 'sluice.yaml'));
    // Fixed ports in the examples; free ones here, so the test runs beside anything else.
    const ports = new Map<number, number>();
    for (const p of PORTS) ports.set(p, await freePort());
    for (const name of CHANNELS) {
      let text = await readFile(path.join(ROOT, 'channels', `${name}.yaml`), 'utf8');
      for (const [from, to] of ports) text = text.replaceAll(`port: ${from}`, `port: ${to}`);
      await writeFile(path.join(dir, 'channels', `${name}.yaml`), text);
    }
    // tsx by path: `--import tsx` resolves from the working directory, which has no node_modules.
    const tsx = pathToFileURL(path.join(ROOT, 'node_modules/tsx/dist/loader.mjs')).href;
    const child = spawn(process.execPath, ['--import', tsx, path.join(ROOT, 'engine/cli/run.ts'), 'run', '--config', 'sluice.yaml'], {
      cwd: dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' },
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    cleanups.push(async () => { child.kill('SIGKILL'); await exited; });
    await eventually(() => CHANNELS.every((c) => output.includes(`${c}: mllp 127.0.0.1:`)) || child.exitCode !== null, 30_000, `engine start: ${output}`);

    /** Sends `text` to the example listening on `examplePort`; resolves with the one file it led to in data/out/<sub>. */
    const sendAndFile = async (examplePort: number, text: string, sub: string): Promise<ReturnType<typeof parseHl7>> => {
      const sender = new MllpSender({ host: '127.0.0.1', port: ports.get(examplePort)! });
      cleanups.push(() => sender.close());
      expect((await sender.send(text)).code).toBe('AA');
      const out = path.join(dir, 'data', 'out', sub);
      await eventually(async () => (await files(out)).length === 1, 10_000, `a file in data/out/${sub}: ${output}`);
      const [file] = await files(out);
      return parseHl7(await readFile(path.join(out, file!), 'utf8'));
    };

    const adt = await readFile(path.join(ROOT, 'test/fixtures/v2-fhir/ms__ADT_A01__ADT-A01-01.hl7'), 'utf8');
    const filed = await sendAndFile(2575, adt, 'adt');
    expect(filed.get('MSH-5')).toBe('ARCHIVE'); // the channel's step ran
    expect(filed.controlId).toBe(parseHl7(adt).controlId);

    const oru = 'MSH|^~\\&|LAB|HOSP|EHR|HOSP|20240101120000||ORU^R01|EX-ORU-1|P|2.5.1\rPID|1||MRN9^^^HOSP^MR||DOE^JOHN\rOBR|1||ORD1|GLU^Glucose\rOBX|1|NM|GLU^Glucose||5.4|mmol/L|||||F\r';
    expect((await sendAndFile(2576, oru, 'lis')).get('MSH-6')).toBe('LIS');

    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(output).not.toMatch(/RangeError|Maximum call stack|cannot write/);
  });
});
