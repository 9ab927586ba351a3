import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';
import { registerComponent } from '../engine/registry.js';
import { jsonSchema } from './index.js';
import { registerFakes } from './testing/fakes.js';
import { yaml } from './testing/tree.js';

beforeAll(registerFakes);

type Schema = Record<string, unknown>;

const KEYWORDS = new Set([
  '$schema', 'title', 'description', 'default', 'type', 'properties', 'required', 'additionalProperties', 'propertyNames',
  'anyOf', 'oneOf', 'enum', 'const', 'pattern', 'minLength', 'maxLength', 'minimum', 'maximum', 'items', 'minItems', 'minProperties', 'not',
]);

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

/**
 * A small JSON Schema validator for the keywords our schemas use. It throws on any other
 * keyword, so a schema it cannot judge fails the test instead of passing it.
 */
function check(schema: Schema, v: unknown, path = '$'): string[] {
  for (const k of Object.keys(schema)) if (!KEYWORDS.has(k)) throw new Error(`unsupported keyword ${k} at ${path}`);
  const errs: string[] = [];
  const t = typeOf(v);
  if (schema.not !== undefined) errs.push(`${path}: not allowed`);
  if (schema.type !== undefined) {
    const types = ([] as unknown[]).concat(schema.type);
    if (!types.some((ty) => ty === t || (ty === 'number' && t === 'integer'))) return [`${path}: expected ${types.join('|')}`];
  }
  if (Array.isArray(schema.enum) && !schema.enum.includes(v)) errs.push(`${path}: not in enum`);
  if ('const' in schema && schema.const !== v) errs.push(`${path}: not const`);
  if (typeof v === 'string') {
    if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(v)) errs.push(`${path}: pattern`);
    if (typeof schema.minLength === 'number' && v.length < schema.minLength) errs.push(`${path}: minLength`);
  }
  if (typeof v === 'number') {
    if (typeof schema.minimum === 'number' && v < schema.minimum) errs.push(`${path}: minimum`);
    if (typeof schema.maximum === 'number' && v > schema.maximum) errs.push(`${path}: maximum`);
  }
  if (Array.isArray(v)) {
    if (schema.items) v.forEach((item, i) => errs.push(...check(schema.items as Schema, item, `${path}[${i}]`)));
    if (typeof schema.minItems === 'number' && v.length < schema.minItems) errs.push(`${path}: minItems`);
  }
  if (t === 'object') {
    const obj = v as Record<string, unknown>;
    const props = (schema.properties ?? {}) as Record<string, Schema>;
    for (const r of (schema.required ?? []) as string[]) if (!(r in obj)) errs.push(`${path}.${r}: required`);
    if (typeof schema.minProperties === 'number' && Object.keys(obj).length < schema.minProperties) errs.push(`${path}: minProperties`);
    for (const [k, item] of Object.entries(obj)) {
      if (schema.propertyNames) errs.push(...check(schema.propertyNames as Schema, k, `${path}.${k}(name)`));
      if (props[k]) errs.push(...check(props[k], item, `${path}.${k}`));
      else if (schema.additionalProperties === false) errs.push(`${path}.${k}: additional property`);
      else if (typeof schema.additionalProperties === 'object') errs.push(...check(schema.additionalProperties as Schema, item, `${path}.${k}`));
    }
  }
  if (Array.isArray(schema.anyOf) && !schema.anyOf.some((s) => check(s as Schema, v, path).length === 0)) errs.push(`${path}: matches no alternative`);
  if (Array.isArray(schema.oneOf) && schema.oneOf.filter((s) => check(s as Schema, v, path).length === 0).length !== 1) errs.push(`${path}: oneOf`);
  return errs;
}

const GOOD = yaml(
  'name: adt-in',
  'description: ADT from the registration system',
  'source:',
  '  fake: { port: 2575, host: 0.0.0.0 }',
  'respondFrom: processed',
  'duplicates: { window: 24h }',
  'orderingKey: PID-3[1].1',
  'filter: { messageType: [ADT^A01, ADT^*], paths: { "PV1-2": [I, E] } }',
  'steps:',
  '  - upper: { field: PID-5, mode: lower }',
  '  - noop: {}',
  'route:',
  '  - { when: { messageType: ADT^A01 }, to: [epic], continue: true }',
  '  - to: archive',
  'destinations:',
  '  epic:',
  '    sink: { connection: epic-prod, token: "${env:EPIC_TOKEN}" }',
  '    queue: { mode: always, maxAttempts: 5, backoff: { initial: 1s, max: 5m, factor: 2 }, concurrency: 1 }',
  '  archive: { channel: { channel: archive-in } }',
);

describe('channel JSON Schema', () => {
  it('is draft 2020-12 with strict top level and the required keys', () => {
    const s = jsonSchema().channel;
    expect(s.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(s.type).toBe('object');
    expect(s.additionalProperties).toBe(false);
    expect(s.required).toEqual(['name', 'source', 'destinations']);
    expect(Object.keys(s.properties as object)).toEqual([
      'name', 'description', 'enabled', 'source', 'respondFrom', 'dataType', 'duplicates', 'maxBacklog', 'orderingKey', 'filter', 'steps', 'route', 'destinations',
    ]);
  });

  it('has one strict single-key branch per registered component, with its description', () => {
    const props = jsonSchema().channel.properties as Record<string, Schema>;
    const source = props.source!.anyOf as Schema[];
    expect(source.map((b) => b.title)).toEqual(['fake (source)', 'poll (source)']);
    expect(source[0]).toMatchObject({ required: ['fake'], additionalProperties: false, description: 'A fake listening source.' });
    expect((source[0]!.properties as Record<string, Schema>).fake).toMatchObject({ required: ['port'], additionalProperties: false });
    const dest = (props.destinations!.additionalProperties as Schema).anyOf as Schema[];
    expect(dest.map((b) => Object.keys(b.properties as object))).toEqual([['channel', 'queue'], ['sink', 'queue']]);
  });

  it('accepts a good channel', () => {
    expect(check(jsonSchema().channel, parse(GOOD))).toEqual([]);
  });

  it.each([
    ['an unknown top-level key', (c: Schema) => ({ ...c, destination: {} })],
    ['a missing destinations', ({ destinations: _d, ...c }: Schema) => c],
    ['an unknown source', (c: Schema) => ({ ...c, source: { mllp2: { port: 1 } } })],
    ['two sources', (c: Schema) => ({ ...c, source: { fake: { port: 1 }, poll: {} } })],
    ['an unknown source option', (c: Schema) => ({ ...c, source: { fake: { port: 1, prot: 2 } } })],
    ['a bad respondFrom', (c: Schema) => ({ ...c, respondFrom: 'later' })],
    ['a bad duration', (c: Schema) => ({ ...c, duplicates: { window: '5min' } })],
    ['a bad channel name', (c: Schema) => ({ ...c, name: 'ADT In' })],
    ['an unknown step', (c: Schema) => ({ ...c, steps: [{ nope: {} }] })],
    ['empty destinations', (c: Schema) => ({ ...c, destinations: {} })],
    ['a bad queue mode', (c: Schema) => ({ ...c, destinations: { d: { sink: {}, queue: { mode: 'sometimes' } } } })],
  ])('rejects %s', (_name, mutate) => {
    const bad = mutate(parse(GOOD) as Schema);
    expect(check(jsonSchema().channel, bad).length).toBeGreaterThan(0);
  });

  it('includes components registered after the first call', () => {
    const before = jsonSchema().channel;
    registerComponent({ kind: 'step', name: 'late', description: 'Registered late.', schema: z.strictObject({ n: z.number() }), create: () => ({}) });
    const after = jsonSchema().channel;
    const stepTitles = (s: Schema) => (((s.properties as Record<string, Schema>).steps!.items as Schema).anyOf as Schema[]).map((b) => b.title);
    expect(stepTitles(before)).not.toContain('late (step)');
    expect(stepTitles(after)).toContain('late (step)');
    expect(check(after, { ...(parse(GOOD) as Schema), steps: [{ late: { n: 1 } }] })).toEqual([]);
  });
});

describe('engine JSON Schema', () => {
  it('is strict, documents its keys and accepts a good engine file', () => {
    const s = jsonSchema().engine;
    expect(s.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(s.additionalProperties).toBe(false);
    expect(Object.keys(s.properties as object)).toEqual(['dataDir', 'store', 'channels', 'log', 'connections', 'defaults', 'admin']);
    const good = parse(yaml('dataDir: ./data', 'store: { retention: 30d, encryptionKey: "${env:K}" }', 'channels: [channels, "more/*.yaml"]', 'log: { level: debug }', 'connections: { epic-prod: { api: { base: x } } }', 'defaults: { queue: { mode: never } }'));
    expect(check(s, good)).toEqual([]);
    expect(check(s, { ...good, logs: {} })).not.toEqual([]);
    expect(check(s, { ...good, store: { retention: 'forever' } })).not.toEqual([]);
  });
});
