import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import '../engine/channel/components/index.js';
import { Capture } from '../test/helpers/streams.js';
import { adt } from '../test/helpers/channel.js';
import type { Envelope } from '../engine/channel/envelope.js';
import { compileScript, scriptProblem } from '../engine/channel/script.js';
import { parseHl7 } from '../engine/hl7/index.js';
import { main } from '../engine/cli/main.js';
import { formatError, lintPaths, loadConfig } from './index.js';
import { cleanTrees, tree, yaml } from './testing/tree.js';

/*
 * What used to pass `sluice lint` and fail only when the channel started or a message ran:
 * step HL7 paths, script files and scripts that do not compile, file name placeholders.
 * These use the real components (not config/testing/fakes), checked with the engine's own
 * path parser, script compiler and template filler.
 */

afterAll(cleanTrees);

const HEAD = ['name: adt', 'source:', '  mllp: { port: 2575 }']; // lines 1-3
const OUT = ['destinations:', '  out:', '    file: { dir: out }'];

function lint(files: Record<string, string>, env: Record<string, string> = {}) {
  const cwd = tree(files);
  const r = lintPaths(['channels'], { cwd, env });
  return { cwd, lines: r.errors.map(formatError) };
}

function channel(...lines: string[]): string {
  return yaml(...HEAD, ...lines);
}

describe('step HL7 paths are parsed by the engine path parser', () => {
  it('set: a path that is not an HL7 path', () => {
    const { lines } = lint({ 'channels/adt.yaml': channel('steps:', '  - set: { path: NOTAPATH, value: X }', ...OUT) });
    expect(lines).toEqual([
      'channels/adt.yaml:5:12 steps[0].set.path: invalid HL7 path "NOTAPATH": expected SEG[n]-field[rep].component.subcomponent, e.g. PID-3[2].1',
    ]);
  });

  it('copy: both from and to', () => {
    const { lines } = lint({
      'channels/adt.yaml': channel('steps:', '  - copy: { from: "PID-3[1].1", to: PID-2.1 }', '  - copy:', '      from: pid-3', '      to: PID-3[0]', ...OUT),
    });
    expect(lines).toEqual([
      'channels/adt.yaml:7:7 steps[1].copy.from: invalid HL7 path "pid-3": expected SEG[n]-field[rep].component.subcomponent, e.g. PID-3[2].1',
      'channels/adt.yaml:8:7 steps[1].copy.to: invalid HL7 path "PID-3[0]": repetition must be 1 or more',
    ]);
  });

  it('delete: a field numbered 0', () => {
    const { lines } = lint({ 'channels/adt.yaml': channel('steps:', '  - delete: { path: PID-0 }', ...OUT) });
    expect(lines).toEqual(['channels/adt.yaml:5:15 steps[0].delete.path: invalid HL7 path "PID-0": fields are numbered from 1']);
  });

  it('map: path and to', () => {
    const { lines } = lint({
      'channels/adt.yaml': channel('steps:', '  - map:', '      path: PV1_2', '      to: PV1-x', '      table: { I: IMP }', ...OUT),
    });
    expect(lines).toEqual([
      'channels/adt.yaml:6:7 steps[0].map.path: invalid HL7 path "PV1_2": expected SEG[n]-field[rep].component.subcomponent, e.g. PID-3[2].1',
      'channels/adt.yaml:7:7 steps[0].map.to: invalid HL7 path "PV1-x": expected SEG[n]-field[rep].component.subcomponent, e.g. PID-3[2].1',
    ]);
  });
});

describe('scripts are compiled by the engine script compiler', () => {
  it('a script step file that does not exist, relative to the working directory as at run time', () => {
    const { cwd, lines } = lint({
      'channels/adt.yaml': channel('steps:', '  - set: { path: MSH-5, value: X }', '  - script: { file: ./missing.ts }', '  - script: { file: scripts/ok.ts }', ...OUT),
      // Next to the channel file, which is not where the engine looks.
      'channels/missing.ts': 'return true;\n',
      'scripts/ok.ts': "const ward: string = msg.get('PV1-3.1');\nif (ward === 'TEST') return false;\n",
    });
    expect(lines).toEqual([`channels/adt.yaml:6:15 steps[1].script.file: file not found: ./missing.ts (relative to the working directory ${cwd})`]);
  });

  it('a script step file or code that does not compile, with the line in the script', () => {
    const { lines } = lint({
      'channels/adt.yaml': channel(
        'steps:', //                                        4
        '  - script: { file: bad.js }', //                  5
        '  - script:', //                                   6
        '      lang: ts', //                                7
        '      code: |', //                                 8
        "        const ward: string = msg.get('PV1-3.1')", // 9
        '        if (ward ===) return false;', //           10
        ...OUT,
      ),
      'bad.js': 'const a = 1;\nif (a ==) return;\n',
    });
    expect(lines).toEqual([
      "channels/adt.yaml:5:15 steps[0].script.file: does not compile: Unexpected token ')' (line 2 of bad.js)",
      'channels/adt.yaml:8:7 steps[1].script.code: does not compile as TypeScript: Unexpected ")" (line 2 of the script)',
    ]);
  });

  it('route when.script and filter.script that do not compile', () => {
    const { lines } = lint({
      'channels/adt.yaml': channel(
        'filter:', //                                            4
        "  script: msg.get('PV1-2') !== 'P'", //                  5
        'route:', //                                             6
        "  - when: { script: \"msg.get('PV1-2') === )\" }", //    7
        '    to: out', //                                        8
        '  - when:', //                                          9
        '      script: msg.get(', //                             10
        '    to: out', //                                        11
        ...OUT,
      ),
    });
    expect(lines).toEqual([
      "channels/adt.yaml:7:13 route[0].when.script: does not compile: Unexpected token ')'",
      "channels/adt.yaml:10:7 route[1].when.script: does not compile: Unexpected token ';'",
    ]);
  });

  it('a script from ${env:...} is not quoted, not even in the compiler message', () => {
    const { lines } = lint({ 'channels/adt.yaml': channel('filter:', '  script: ${env:FILTER}', ...OUT) }, { FILTER: "msg.get('PID-3') === secret-word)" });
    expect(lines).toEqual(['channels/adt.yaml:5:3 filter.script: does not compile (details not shown: the value comes from a secret reference)']);
  });

  it('filter.script too, and the deploy path (loadConfig) reports the same errors', () => {
    const files = { 'channels/adt.yaml': channel('filter: { script: "1 +" }', 'steps: [ { set: { path: NOTAPATH, value: X } } ]', ...OUT) };
    const expected = [
      "channels/adt.yaml:4:11 filter.script: does not compile: Unexpected token ')'",
      'channels/adt.yaml:5:19 steps[0].set.path: invalid HL7 path "NOTAPATH": expected SEG[n]-field[rep].component.subcomponent, e.g. PID-3[2].1',
    ];
    expect(lint(files).lines).toEqual(expected);
    const cwd = tree(files);
    const loaded = loadConfig(undefined, { cwd, env: {} });
    expect(loaded.errors.map(formatError)).toEqual(expected);
    expect(loaded.channels).toEqual([]);
  });
});

describe('file destination name templates', () => {
  it('an unknown placeholder, and an HL7 path placeholder the parser rejects', () => {
    const { lines } = lint({
      'channels/adt.yaml': channel('destinations:', '  out:', "    file: { dir: out, name: '{nosuch}-{PID-0}-{date}-{MSH-10}.hl7' }"),
    });
    expect(lines).toEqual([
      'channels/adt.yaml:6:23 destinations.out.file.name: unknown placeholder {nosuch} (known: {id} {channel} {controlId} {messageType} {date} {receivedAt} or an HL7 path like {MSH-4})',
      'channels/adt.yaml:6:23 destinations.out.file.name: placeholder {PID-0}: invalid HL7 path "PID-0": fields are numbered from 1',
    ]);
  });
});

describe('valid configs stay clean', () => {
  it('every kind of step path, script and template the engine accepts', () => {
    const { lines } = lint({
      'channels/adt.yaml': channel(
        'filter: { messageType: [ADT^A01], script: "msg.get(\'PV1-2\') !== \'P\';" }',
        'steps:',
        '  - set: { path: MSH-5, value: X }',
        '  - copy:',
        '      from: PID-3[1].1',
        '      to: PID-2.1',
        '  - delete: { path: "OBX[2]-5" }',
        '  - map: { path: PV1-2, to: PV1-18, table: { I: IMP } }',
        '  - script: { file: scripts/s.js }',
        '  - script: { lang: ts, code: "const x: number = 1; if (x > 2) return false;" }',
        'route:',
        '  - when: { script: "msg.messageType.startsWith(\'ADT\')" }',
        '    to: out',
        'destinations:',
        '  out:',
        "    file: { dir: out, name: '{date}/{channel}-{controlId}-{ MSH-4 }-{id}{receivedAt}{messageType}.hl7' }",
      ),
      'scripts/s.js': "msg.set('PID-8', 'U');\n",
    });
    expect(lines).toEqual([]);
  });

  it('the example channels and engine file', () => {
    const root = join(import.meta.dirname, '..');
    const r = lintPaths(['sluice.yaml', 'channels'], { cwd: root });
    expect(r.errors.map(formatError)).toEqual([]);
  });
});

describe('sluice lint', () => {
  it('exits 1 with file:line:col and path for each error', async () => {
    const dir = tree({ 'ch/adt.yaml': channel('steps:', '  - delete: { path: NOTAPATH }', ...OUT) });
    const out = new Capture();
    const err = new Capture();
    const code = await main(['lint', join(dir, 'ch/adt.yaml')], { out, err });
    expect(code).toBe(1);
    expect(err.text).toContain('ch/adt.yaml:5:15 steps[0].delete.path: invalid HL7 path "NOTAPATH"');
  });
});

describe('expression scripts', () => {
  it('may end in a // comment, on the same line or the next', () => {
    for (const code of ["msg.get('PV1-2') === 'I' // inpatients only", "msg.get('PV1-2') === 'I'\n// inpatients only\n"]) {
      expect(scriptProblem({ code }, 'expression')).toBeUndefined();
    }
    const run = compileScript({ code: "msg.get('PV1-2') === 'I' // inpatients only" }, 'expression');
    const env = (ward: string) => ({ content: { kind: 'hl7v2', message: parseHl7(adt('C1', 'MRN1').replace('PV1|1|I|', `PV1|1|${ward}|`)) } }) as unknown as Envelope;
    expect(run(env('I'), 'filter')).toBe(true);
    expect(run(env('O'), 'filter')).toBe(false);
  });
});
