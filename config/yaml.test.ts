import { describe, expect, it } from 'vitest';
import { didYouMean, formatError, formatPath } from './errors.js';
import { parseYaml } from './yaml.js';
import { yaml } from './testing/tree.js';

const TEXT = yaml(
  'name: adt-in', //                 1
  'source:', //                      2
  '  fake:', //                      3
  '    port: 2575', //               4
  'steps:', //                       5
  '  - upper: { mode: up }', //      6
  '  - noop: {}', //                 7
  'route:', //                       8
  '  - to: [epic, other]', //        9
  'destinations:', //               10
  '  epic:', //                     11
  '    sink:', //                   12
  '      connection: epic-prd', //  13
  '      path:', //                 14
);

describe('positions', () => {
  const file = parseYaml(TEXT, 'channels/adt.yaml');

  it('parses to a plain value', () => {
    expect(file.errors).toEqual([]);
    expect(file.value).toMatchObject({ name: 'adt-in', source: { fake: { port: 2575 } }, destinations: { epic: { sink: { connection: 'epic-prd', path: null } } } });
  });

  it('gives line:column of nested keys (1-based)', () => {
    expect(file.positionOf(['name'])).toEqual({ line: 1, column: 1 });
    expect(file.positionOf(['source', 'fake', 'port'])).toEqual({ line: 4, column: 5 });
    expect(file.positionOf(['destinations', 'epic', 'sink', 'connection'])).toEqual({ line: 13, column: 7 });
  });

  it('gives the value position when asked', () => {
    expect(file.positionOf(['destinations', 'epic', 'sink', 'connection'], 'value')).toEqual({ line: 13, column: 19 });
    expect(file.positionOf(['source', 'fake', 'port'], 'value')).toEqual({ line: 4, column: 11 });
  });

  it('an empty value points at its key', () => {
    expect(file.positionOf(['destinations', 'epic', 'sink', 'path'], 'value')).toEqual({ line: 14, column: 7 });
  });

  it('gives list items, block and flow', () => {
    expect(file.positionOf(['steps', 1])).toEqual({ line: 7, column: 5 });
    expect(file.positionOf(['steps', 0, 'upper', 'mode'])).toEqual({ line: 6, column: 14 });
    expect(file.positionOf(['route', 0, 'to', 1])).toEqual({ line: 9, column: 16 });
  });

  it('a missing key points at the nearest existing parent', () => {
    expect(file.positionOf(['source', 'fake', 'host'])).toEqual({ line: 3, column: 3 });
    expect(file.positionOf(['destinations', 'epic', 'queue', 'mode'])).toEqual({ line: 11, column: 3 });
    expect(file.positionOf(['steps', 7, 'noop'])).toEqual({ line: 5, column: 1 });
    expect(file.positionOf(['filter'])).toEqual({ line: 1, column: 1 });
  });

  it('locates problems into the common error format', () => {
    const [e] = file.locate([{ path: ['destinations', 'epic', 'sink', 'connection'], message: 'unknown connection "epic-prd" (known: epic-prod)' }]);
    expect(formatError(e!)).toBe('channels/adt.yaml:13:7 destinations.epic.sink.connection: unknown connection "epic-prd" (known: epic-prod)');
  });
});

describe('YAML syntax errors', () => {
  it('come back in the same format, one line each, with no value', () => {
    const f = parseYaml(yaml('name: ok', 'source:', '  fake: { port: 1', 'x: "unterminated'), 'bad.yaml');
    expect(f.value).toBeUndefined();
    expect(f.errors.length).toBeGreaterThan(0);
    for (const e of f.errors) {
      const line = formatError(e);
      expect(line).toMatch(/^bad\.yaml:\d+:\d+ \(root\): YAML syntax: /);
      expect(line).not.toContain('\n');
      expect(e.line).toBeGreaterThanOrEqual(3);
    }
  });

  it('reports duplicate keys', () => {
    const f = parseYaml(yaml('name: a', 'name: b'), 'dup.yaml');
    expect(f.errors).toHaveLength(1);
    expect(f.errors[0]).toMatchObject({ line: 2, column: 1 });
    expect(f.errors[0]!.message).toMatch(/unique/);
  });
});

describe('formatPath and didYouMean', () => {
  it('dots keys, brackets indices and quotes odd keys', () => {
    expect(formatPath(['destinations', 'epic', 'fhir', 'connection'])).toBe('destinations.epic.fhir.connection');
    expect(formatPath(['steps', 0, 'map'])).toBe('steps[0].map');
    expect(formatPath(['filter', 'paths', 'PID-3.1'])).toBe('filter.paths["PID-3.1"]');
    expect(formatPath([])).toBe('(root)');
  });

  it('suggests close names only', () => {
    expect(didYouMean('conection', ['channel', 'connection'])).toBe('connection');
    expect(didYouMean('Port', ['port', 'host'])).toBe('port');
    expect(didYouMean('xyz', ['connection', 'port'])).toBeUndefined();
    expect(didYouMean('prot', ['port', 'host'])).toBe('port');
    expect(didYouMean('c', ['a', 'b'])).toBeUndefined();
  });
});
