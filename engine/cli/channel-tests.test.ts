import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Capture } from '../../test/helpers/streams.js';
import { main } from './main.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

async function run(argv: string[]) {
  const out = new Capture();
  const err = new Capture();
  const code = await main(argv, { out, err });
  return { code, out: out.text, err: err.text };
}

describe('sluice test / lint on the example channels', () => {
  it('every example channel test passes', async () => {
    const r = await run(['test', path.join(ROOT, 'channels')]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/\n(\d+) passed, 0 failed\n$/);
    expect(Number(/(\d+) passed/.exec(r.out)![1])).toBeGreaterThanOrEqual(6);
  });

  it('the example engine and channels lint clean', async () => {
    const r = await run(['lint', path.join(ROOT, 'sluice.yaml')]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('channels/adt-to-file.yaml');
  });

  it('a failing expectation prints a readable diff and exits 1', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-ct-'));
    await writeFile(path.join(dir, 'ch.yaml'), [
      'name: ch', 'source:', '  mllp: { port: 0 }', 'steps:', '  - set: { path: MSH-5, value: X }',
      'destinations:', '  out:', '    file: { dir: /tmp/never }', '',
    ].join('\n'));
    await writeFile(path.join(dir, 'ch.test.yaml'), [
      'tests:', '  - name: wrong expectations', '    input: |', '      MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5', '      PID|1||9^^^H^MR||DOE^JOHN',
      '    expect:', '      status: SENT', '      destinations:', '        out:', '          paths: { MSH-5: Y }', '          equals: |',
      '            MSH|^~\\&|A|B|Y|D|20240101||ADT^A01|1|P|2.5', '            PID|1||9^^^H^MR||DOE^JOHN', '',
    ].join('\n'));
    const r = await run(['test', dir]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('FAIL  wrong expectations');
    expect(r.out).toContain('out MSH-5: expected "Y", got "X"');
    expect(r.out).toContain('- MSH|^~\\&|A|B|Y|D|');
    expect(r.out).toContain('+ MSH|^~\\&|A|B|X|D|');
    expect(r.out).toContain('0 passed, 1 failed');
  });

  it('exact, subset and contains assertions: a block of segments each, passing and failing readably', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-ct-'));
    await writeFile(path.join(dir, 'ch.yaml'), [
      'name: ch', 'source:', '  mllp: { port: 0 }', 'steps:', '  - set: { path: MSH-5, value: X }',
      'destinations:', '  out:', '    file: { dir: /tmp/never }', '',
    ].join('\n'));
    const input = ['    input: |', '      MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5', '      PID|1||9^^^H^MR||DOE^JOHN', '      PV1|1|I|W1'];
    await writeFile(path.join(dir, 'ch.test.yaml'), [
      'tests:',
      '  - name: all hold', ...input, '    expect:', '      destinations:', '        out:',
      '          exact: |', '            MSH|^~\\&|A|B|X|D|20240101||ADT^A01|1|P|2.5', '            PID|1||9^^^H^MR||DOE^JOHN', '            PV1|1|I|W1',
      '          subset: |', '            MSH||||X', '            PID|||9^^^H^MR',
      '          contains: |', '            PID|1||9^^^H^MR||DOE^JOHN', '            PV1|1|I',
      '  - name: subset by component', ...input, '    expect:', '      destinations:', '        out:',
      '          subset: |', '            PID|||9^^^H||DOE', '            PV1|||W1',
      '  - name: subset misses', ...input, '    expect:', '      destinations:', '        out:',
      '          subset: |', '            PID|||10^^^H^MR', '            OBX|1', '            PV1|1', '            PV1|1',
      '',
    ].join('\n'));
    const r = await run(['test', dir]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('ok    all hold');
    expect(r.out).toContain('FAIL  subset misses');
    expect(r.out).toContain('out: no PID segment matches "PID|||10^^^H^MR":\n');
    expect(r.out).toContain('  + PID|1||9^^^H^MR||DOE^JOHN');
    expect(r.out).toContain('out: no OBX segment (expected one like "OBX|1")');
    expect(r.out).toContain('ok    subset by component');
    expect(r.out).toMatch(/out: no PV1 segment matches "PV1\|1":\n +\+ PV1\|1\|I\|W1/); // the second PV1|1 has no segment of its own
    expect(r.out).toContain('2 passed, 1 failed');
  });

  it('lint refuses a credential written into an HTTP header, and takes one from the environment', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-lint-'));
    const channel = (value: string) => `name: h\nsource:\n  mllp: { port: 2599 }\ndestinations:\n  out:\n    http: { url: "https://example.org/in", headers: { Authorization: ${value}, X-Api-Key: ${value} } }\n`;
    await writeFile(path.join(dir, 'h.yaml'), channel('"Bearer abcdef123456"'));
    let r = await run(['lint', path.join(dir, 'h.yaml')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/h\.yaml:6:\d+ destinations\.out\.http\.headers\.Authorization: secrets must come from/);
    expect(r.err).toMatch(/destinations\.out\.http\.headers\.X-Api-Key: secrets must come from/);
    process.env.SLUICE_TEST_HEADER_TOKEN = 'Bearer from-env';
    try {
      await writeFile(path.join(dir, 'h.yaml'), channel('"${env:SLUICE_TEST_HEADER_TOKEN}"'));
      r = await run(['lint', path.join(dir, 'h.yaml')]);
      expect(r.err).toBe('');
      expect(r.code).toBe(0);
    } finally {
      delete process.env.SLUICE_TEST_HEADER_TOKEN;
    }
  });

  it('lint reports an unknown destination type with file, line and column', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-lint-'));
    await writeFile(path.join(dir, 'bad.yaml'), 'name: bad\nsource:\n  mllp: { port: 2599 }\ndestinations:\n  out:\n    fiel: { dir: x }\n');
    const r = await run(['lint', path.join(dir, 'bad.yaml')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/bad\.yaml:6:5 destinations\.out.*fiel.*file/);
  });

  it('given a channel file, runs the tests beside it; a malformed test file is reported with line and column', async () => {
    let r = await run(['test', path.join(ROOT, 'channels', 'lis-sink.yaml')]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('lis-sink.test.yaml (lis-sink)');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-ct-'));
    await writeFile(path.join(dir, 'lonely.yaml'), 'name: lonely\n');
    r = await run(['test', path.join(dir, 'lonely.yaml')]);
    expect(r).toMatchObject({ code: 1, err: expect.stringContaining('not a channel test file (*.test.yaml), and no lonely.test.yaml beside it') });
    await writeFile(path.join(dir, 'bad.test.yaml'), 'tests:\n  - name: x\n    input: 5\n    expect: { status: BOGUS }\n');
    r = await run(['test', path.join(dir, 'bad.test.yaml')]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/bad\.test\.yaml:3:5 tests\[0\]\.input: /);
    expect(r.err).toMatch(/bad\.test\.yaml:4:15 tests\[0\]\.expect\.status: /);
  });

  it('sluice list names every registered component; sluice schema prints the channel JSON Schema', async () => {
    let r = await run(['list']);
    expect(r.code).toBe(0);
    for (const name of ['mllp', 'file', 'http', 'kafka', 'set', 'script', 'channel']) expect(r.out).toMatch(new RegExp(`^  ${name} +\\S`, 'm'));
    expect(r.out).toMatch(/^sources:\n/);
    r = await run(['schema']);
    const schema = JSON.parse(r.out) as { title: string; additionalProperties: boolean; required: string[] };
    expect(schema).toMatchObject({ title: 'Sluice channel file', additionalProperties: false });
    expect(schema.required).toEqual(expect.arrayContaining(['name', 'source', 'destinations']));
    r = await run(['schema', '--engine']);
    expect(Object.keys((JSON.parse(r.out) as { properties: object }).properties)).toContain('admin');
  });
});
