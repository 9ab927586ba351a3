import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { convertCommand } from '../../engine/cli/convert.js';
import { CliError } from '../../engine/cli/errors.js';
import { main } from '../../engine/cli/main.js';
import { parseHl7 } from '../../engine/hl7/index.js';
import { tempDir } from '../helpers/engine.js';
import { Capture } from '../helpers/streams.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CORPUS = path.join(ROOT, 'test/fixtures/v2-fhir');
const MS_BUNDLE = path.join(CORPUS, 'ms__FHIR2V2__ObservationBundle.json');
const LAB_YAML = path.join(ROOT, 'channels/codemaps/lab-local-to-loinc.yaml');
const EPIC_LAB_OID = '1.2.840.114350.1.13.283.2.7.5.737384.149';

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = new Capture();
  const err = new Capture();
  const code = await main(argv, { out, err });
  return { code, out: out.text, err: err.text };
}

type Bundle = { resourceType: string; type: string; entry: { resource: Record<string, unknown> }[] };

describe('sluice convert', () => {
  it('HL7 → FHIR by default: a pretty-printed transaction Bundle on stdout', async () => {
    const r = await run(['convert', path.join(CORPUS, 'ms__ORU_R01__LAB-ORU-2.hl7')]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^\{\n {2}"resourceType": "Bundle",/);
    const b = JSON.parse(r.out) as Bundle;
    expect(b.type).toBe('transaction');
    expect(b.entry.filter((e) => e.resource.resourceType === 'Observation')).toHaveLength(10);
  });

  it('--bundle and --timezone reach the converter; warnings go to stderr, one per line with code and path', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'nm.hl7');
    await writeFile(file, 'MSH|^~\\&|A|B|C|D|20240101120000||ORU^R01^ORU_R01|X1|P|2.5.1\rPID|1||M1^^^H^MR||DOE^J\rOBR|1||F1|1234-5^Test^LN|||202401011000\rOBX|1|NM|1234-5^Test^LN||high|mg|||||F|||202401011000\r');
    const r = await run(['convert', file, '--bundle', 'collection', '--timezone', 'America/Chicago']);
    expect(r.code).toBe(0);
    const b = JSON.parse(r.out) as Bundle;
    expect(b.type).toBe('collection');
    const obs = b.entry.find((e) => e.resource.resourceType === 'Observation')!.resource;
    expect(obs.valueString).toBe('high');
    expect(obs.effectiveDateTime).toBe('2024-01-01T10:00:00-06:00');
    const lines = r.err.trim().split('\n');
    expect(lines).toContain('warning: nm-not-numeric OBX-5: OBX-2 is NM but OBX-5 is not a number: kept as valueString');
    for (const l of lines) expect(l).toMatch(/^warning: [a-z0-9-]+ /);
  });

  it('FHIR → HL7 by default, one segment per line for the terminal; --raw keeps CR', async () => {
    const r = await run(['convert', MS_BUNDLE]);
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines.map((l) => l.slice(0, 3))).toEqual(['MSH', 'PID', 'PV1', 'OBR', 'OBX']);
    expect(lines[4]).toContain('|NM|15074-8^Glucose [Moles/volume] in Blood^LN||6.3|');
    expect(r.err).toBe('warning: malformed-entry Bundle.entry[1]: bundle entry holds the resource directly instead of in entry.resource; read it anyway\n');
    const raw = await run(['convert', MS_BUNDLE, '--raw', '--to', 'hl7']);
    expect(raw.out).not.toContain('\n');
    expect(parseHl7(raw.out).get('OBX-5')).toBe('6.3');
  });

  it('a file of several messages gives a JSON array, warnings naming the message', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'two.hl7');
    const one = (id: string, value: string) => `MSH|^~\\&|A|B|C|D|20240101120000||ORU^R01^ORU_R01|${id}|P|2.5.1\rPID|1||M${id}^^^H^MR\rOBR|1||F${id}|1-1^T^LN\rOBX|1|NM|1-1^T^LN||${value}||||||F\r`;
    await writeFile(file, one('1', '5') + one('2', 'n/a'));
    const r = await run(['convert', file]);
    expect(r.code).toBe(0);
    const bundles = JSON.parse(r.out) as Bundle[];
    expect(bundles.map((b) => b.resourceType)).toEqual(['Bundle', 'Bundle']);
    expect(r.err).toContain('warning: message 2: nm-not-numeric OBX-5:');
    expect(r.err).not.toContain('message 1: nm-not-numeric');
  });

  it('an FHS/BHS batch, from a file or from stdin (-), gives one Bundle per message', async () => {
    const dir = await tempDir();
    const one = (id: string) => `MSH|^~\\&|A|B|C|D|20240101120000||ORU^R01^ORU_R01|${id}|P|2.5.1\rPID|1||M${id}^^^H^MR\rOBR|1||F${id}|1-1^T^LN\rOBX|1|NM|1-1^T^LN||5||||||F\r`;
    const batch = `FHS|^~\\&|A|B\rBHS|^~\\&|A|B\r${one('B1')}${one('B2')}BTS|2\rFTS|1\r`;
    const file = path.join(dir, 'batch.hl7');
    await writeFile(file, batch);
    const fromFile = await run(['convert', file]);
    expect(fromFile.code).toBe(0);
    expect((JSON.parse(fromFile.out) as Bundle[]).map((b) => b.type)).toEqual(['transaction', 'transaction']);
    const out = new Capture();
    const err = new Capture();
    // Bytes and strings, in chunks that split a segment: stdin is read whole before splitting.
    const stdin = Readable.from([Buffer.from(batch.slice(0, 40)), batch.slice(40)]);
    expect(await convertCommand(['-'], out, err, stdin)).toBe(0);
    expect(out.text).toBe(fromFile.out);
  });

  it('a batch with a segment outside any message: file:line:column, from a file or <stdin>', async () => {
    const dir = await tempDir();
    const text = '\nFHS|^~\\&|A|B\rPID|1||M1\r';
    const file = path.join(dir, 'orphan.hl7');
    await writeFile(file, text);
    const r = await run(['convert', file]);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`sluice: ${file}:2:1: segment "PID" outside any message (expected MSH, FHS or BHS)\n`);
    await expect(convertCommand(['-'], new Capture(), new Capture(), Readable.from([text]))).rejects.toThrow(new CliError('<stdin>:2:1: segment "PID" outside any message (expected MSH, FHS or BHS)'));
  });

  it('--event picks the ADT trigger for a Patient', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'p.json');
    await writeFile(file, JSON.stringify({ resourceType: 'Patient', identifier: [{ value: 'M9' }], name: [{ family: 'Roe' }] }));
    const r = await run(['convert', file, '--event', 'A28']);
    expect(r.code).toBe(0);
    expect(r.out.split('\n')[0]).toContain('|ADT^A28^ADT_A05|');
  });

  it('--codemap adds the mapped coding and reports unmapped codes on stderr', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'lab.hl7');
    await writeFile(file, `MSH|^~\\&|A|B|C|D|20240101120000||ORU^R01^ORU_R01|X2|P|2.5.1\rPID|1||M1^^^H^MR||DOE^J\rOBR|1||F1|P^Panel^LN\rOBX|1|NM|GLU^Glucose^${EPIC_LAB_OID}||99|mg/dL|||||F\rOBX|2|NM|QQQ^Odd^${EPIC_LAB_OID}||1||||||F\r`);
    const r = await run(['convert', file, '--codemap', LAB_YAML]);
    expect(r.code).toBe(0);
    const b = JSON.parse(r.out) as Bundle;
    const glucose = b.entry.map((e) => e.resource).find((x) => x.resourceType === 'Observation' && JSON.stringify(x.code).includes('GLU'))!;
    expect((glucose.code as { coding: { code: string }[] }).coding.map((c) => c.code)).toEqual(['GLU', '2345-7']);
    expect(r.err).toMatch(new RegExp(`^warning: unmapped-code Observation/[0-9a-f-]+\\.code: no mapping for urn:oid:${EPIC_LAB_OID.replace(/\./g, '\\.')}\\|QQQ$`, 'm'));
  });

  it('--codemap warns once about a table whose source system nothing in the file used (likely misnamed)', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'loinc-only.hl7');
    await writeFile(file, 'MSH|^~\\&|A|B|C|D|20240101120000||ORU^R01^ORU_R01|X3|P|2.5.1\rPID|1||M1^^^H^MR||DOE^J\rOBR|1||F1|P^Panel^LN\rOBX|1|NM|2345-7^Glucose^LN||99|mg/dL|||||F\r');
    const r = await run(['convert', file, '--codemap', LAB_YAML]);
    expect(r.code).toBe(0);
    const unused = r.err.split('\n').filter((l) => l.startsWith('warning: codemap-source-unused'));
    expect(unused).toHaveLength(1);
    expect(unused[0]).toContain(EPIC_LAB_OID);
  });

  it('exits 1 with one clear line on unconvertible input', async () => {
    const dir = await tempDir();
    const write = async (name: string, text: string) => { const f = path.join(dir, name); await writeFile(f, text); return f; };
    const cases: [string, RegExp][] = [
      [await write('a.json', '{"resourceType":"Medication"}'), /a\.json: cannot convert: nothing to convert to HL7 v2.*Medication/],
      [await write('b.json', '{"hello":1}'), /b\.json: cannot convert: JSON without a resourceType/],
      [await write('c.json', '{"resourceType": '), /c\.json: not valid JSON/],
      [await write('d.txt', 'hello world'), /d\.txt: neither an HL7 v2 message/],
      [await write('e.hl7', 'MSH|^~\\&|A|B|C|D|20240101||XYZ^Q99|1|P|2.5\r'), /e\.hl7: cannot convert: /],
      [path.join(dir, 'missing.hl7'), /missing\.hl7: no such file/],
    ];
    for (const [file, message] of cases) {
      const r = await run(['convert', file]);
      expect(r.code, file).toBe(1);
      expect(r.out, file).toBe('');
      expect(r.err.trim().split('\n'), file).toHaveLength(1);
      expect(r.err, file).toMatch(message);
    }
  });

  it('rejects bad options with exit 2', async () => {
    expect((await run(['convert', MS_BUNDLE, '--to', 'xml'])).code).toBe(2);
    expect((await run(['convert'])).code).toBe(2);
    const wrong = await run(['convert', MS_BUNDLE, '--to', 'fhir']);
    expect(wrong.code).toBe(1);
    expect(wrong.err).toContain('--to fhir needs HL7 v2 input, got JSON');
  });

  it('reads stdin with - (a real process)', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'engine/cli/run.ts'), 'convert', '-', '--raw'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
    child.stdin.end(JSON.stringify({ resourceType: 'Observation', status: 'final', code: { text: 'Mood' }, valueString: 'fine' }));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
    const msg = parseHl7(out);
    expect([msg.get('MSH-9'), msg.get('OBX-2'), msg.get('OBX-5')]).toEqual(['ORU^R01^ORU_R01', 'ST', 'fine']);
  }, 20_000);
});
