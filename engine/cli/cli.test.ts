import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildAck, buildBatch } from '../hl7/index.js';
import { MllpListener } from '../mllp/index.js';
import { Capture } from '../../test/helpers/streams.js';
import { main } from './main.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CORPUS = path.join(ROOT, 'test/fixtures/v2-fhir');

function msg(id: string, extra = 'PID|1||MRN' + id + '^^^HOSP^MR||DOE^JANE'): string {
  return `MSH|^~\\&|SENDER|FAC|RECV|RFAC|20240101120000||ADT^A01^ADT_A01|${id}|P|2.5.1\r${extra}\r`;
}

async function run(argv: string[], signal?: AbortSignal): Promise<{ code: number; out: string; err: string }> {
  const out = new Capture();
  const err = new Capture();
  const code = await main(argv, { out, err, signal });
  return { code, out: out.text, err: err.text };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function tmpdir(): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), 'sluice-cli-'));
}

describe('sluice hl7', () => {
  it('get prints the decoded value of each path, one per line', async () => {
    const dir = await tmpdir();
    const file = path.join(dir, 'a.hl7');
    await writeFile(file, 'MSH|^~\\&|A|B|C|D|20240101||ADT^A08|C1|P|2.5\rPID|1||111^^^H^MR~222^^^SSA^SS||O\\T\\BRIEN^MARY\r');
    const r = await run(['hl7', 'get', file, 'PID-5.1', 'MSH-9.2', 'PID-3[2].1', 'PID-3[2].4', 'MSH-1']);
    expect(r.code).toBe(0);
    expect(r.out).toBe('O&BRIEN\nA08\n222\nSSA\n|\n');
  });

  it('get reads a corpus message with LF terminators and a BOM', async () => {
    const r = await run(['hl7', 'get', path.join(CORPUS, 'ms__ADT_A01__ADT01-23.hl7'), 'MSH-9.1', 'MSH-12']);
    expect(r.code).toBe(0);
    expect(r.out).toBe('ADT\n2.3\n');
  });

  it('reports a parse error as one line with file, line and column', async () => {
    const dir = await tmpdir();
    const file = path.join(dir, 'bad.hl7');
    await writeFile(file, 'MSH|^~\\&|A\rPID|1\rP@D|2\r');
    const r = await run(['hl7', 'get', file, 'PID-1']);
    expect(r.code).toBe(1);
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toContain(`${file}:3:1: invalid segment`);
  });

  it('rejects a malformed path with exit 2', async () => {
    const dir = await tmpdir();
    const file = path.join(dir, 'a.hl7');
    await writeFile(file, msg('X1'));
    const r = await run(['hl7', 'get', file, 'PID-x']);
    expect(r.code).toBe(2);
    expect(r.err).toContain('invalid HL7 path "PID-x"');
  });

  it('inspect prints segments, named fields and components', async () => {
    const dir = await tmpdir();
    const file = path.join(dir, 'a.hl7');
    await writeFile(file, msg('X1'));
    const r = await run(['hl7', 'inspect', file]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('PID  Patient Identification');
    expect(r.out).toContain('  MSH-10  (Message Control ID): X1');
    expect(r.out).toMatch(/PID-3 {2}\(Patient Identifier List\): MRNX1\^\^\^HOSP\^MR\n {4}\.1: MRNX1\n {4}\.4: HOSP\n {4}\.5: MR/);
  });
});

describe('sluice listen + sluice send', () => {
  it('sends files and batches, prints each ACK, and listen stores each message byte for byte', async () => {
    const dir = await tmpdir();
    const inDir = path.join(dir, 'in');
    const outDir = path.join(dir, 'out');
    await mkdir(inDir);
    const single = msg('M1');
    const batched = [msg('M2'), msg('M3'), msg('M4')];
    await writeFile(path.join(inDir, '1.hl7'), single);
    await writeFile(path.join(inDir, '2.hl7'), buildBatch(batched, { file: true }));

    const stop = new AbortController();
    const listenOut = new Capture();
    const listening = main(['listen', '--port', '0', '--out', outDir], { out: listenOut, err: new Capture(), signal: stop.signal });
    const port = await waitForPort(listenOut);

    const r = await run(['send', '--port', String(port), inDir]);
    stop.abort();
    expect(await listening).toBe(0);
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n').map((l) => l.split('\t'));
    expect(lines.map((l) => [l[1], l[2]])).toEqual([['AA', 'M1'], ['AA', 'M2'], ['AA', 'M3'], ['AA', 'M4']]);
    expect(r.err).toContain('4 messages: AA 4');

    const stored = (await readdir(outDir)).sort();
    expect(stored).toHaveLength(4);
    const contents = await Promise.all(stored.map((f) => readFile(path.join(outDir, f), 'utf8')));
    expect(contents.sort()).toEqual([single, ...batched].sort());
  });

  it('exits 1 and prints the error text when the peer NAKs', async () => {
    const listener = new MllpListener({
      port: 0,
      handler: (inb) => buildAck(inb.message!, { code: 'AE', error: { text: 'unknown patient', location: 'PID^1^3' } }),
    });
    const port = await listener.start();
    cleanups.push(() => listener.close());
    const dir = await tmpdir();
    await writeFile(path.join(dir, 'a.hl7'), msg('N1'));
    const r = await run(['send', '--port', String(port), path.join(dir, 'a.hl7')]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/\tAE\tN1\t.*unknown patient/);
  });

  it('exits 1 with NO-ACK when nothing listens', async () => {
    const probe = new MllpListener({ port: 0 });
    const port = await probe.start();
    await probe.close();
    const dir = await tmpdir();
    await writeFile(path.join(dir, 'a.hl7'), msg('N2') + msg('N3'));
    const r = await run(['send', '--port', String(port), path.join(dir, 'a.hl7')]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('NO-ACK');
    expect(r.err).toContain('not sent 1');
  });

  it('reports an unparsable message in a file and still sends the others', async () => {
    const listener = new MllpListener({ port: 0 });
    const port = await listener.start();
    cleanups.push(() => listener.close());
    const dir = await tmpdir();
    await writeFile(path.join(dir, 'a.hl7'), msg('G1') + 'MSH|^~\\&|X\rBAD SEGMENT\r' + msg('G2'));
    const r = await run(['send', '--port', String(port), path.join(dir, 'a.hl7')]);
    expect(r.code).toBe(1);
    expect(r.err).toContain('invalid segment');
    expect(r.out).toContain('\tAA\tG1');
    expect(r.out).toContain('\tAA\tG2');
  });

  it('the installed entry point exits non-zero on a usage error', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'engine/cli/run.ts'), 'send'], { cwd: ROOT });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(2);
    expect(stderr).toContain('usage: sluice send');
  });
});

async function waitForPort(out: Capture): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const m = /listening on [^:]+:(\d+)/.exec(out.text);
    if (m) return Number(m[1]);
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('listener did not start');
}
