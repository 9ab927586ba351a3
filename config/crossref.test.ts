import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatError, lintPaths, loadConfig } from './index.js';
import { registerFakes } from './testing/fakes.js';
import { cleanTrees, tree, yaml } from './testing/tree.js';

beforeAll(registerFakes);
afterAll(cleanTrees);

function load(files: Record<string, string>) {
  const cwd = tree(files);
  return loadConfig(undefined, { cwd, env: {} }).errors.map(formatError);
}

/** A channel named `name` with an MLLP-like `fake` source on `port` (and `host`). */
function listener(name: string, port: number, more: string[] = []): string {
  return yaml(`name: ${name}`, `source: { fake: { port: ${port} } }`, ...more, 'destinations: { out: { sink: {} } }');
}

describe('route targets', () => {
  it('must name destinations of the same channel', () => {
    const errors = load({
      'channels/a.yaml': yaml(
        'name: a', 'source: { poll: {} }',
        'route:', '  - to: [epic, epci]', '  - to: archive', '  - { when: { messageType: ADT^A01 }, to: [epic] }',
        'destinations:', '  epic: { sink: {} }', '  lab: { sink: {} }',
      ),
    });
    expect(errors).toEqual([
      'channels/a.yaml:4:16 route[0].to[1]: unknown destination "epci" (did you mean "epic"? known: epic, lab)',
      'channels/a.yaml:5:9 route[1].to: unknown destination "archive" (known: epic, lab)',
    ]);
  });
});

describe('connections', () => {
  const engine = yaml('connections:', '  epic-prod: { api: { base: https://epic.example } }', '  lab: { api: {} }');

  it('an option named `connection` must name a key of the engine connections, at any depth', () => {
    const errors = load({
      'sluice.yaml': engine,
      'channels/a.yaml': yaml(
        'name: a', 'source: { poll: {} }',
        'destinations:',
        '  epic:',
        '    sink:',
        '      connection: epic-prd',
        '  ok: { sink: { connection: lab } }',
        '  deep: { sink: { retry: { connection: nowhere } } }',
      ),
    });
    expect(errors).toEqual([
      'channels/a.yaml:6:7 destinations.epic.sink.connection: unknown connection "epic-prd" (did you mean "epic-prod"? known: epic-prod, lab)',
      'channels/a.yaml:8:28 destinations.deep.sink.retry.connection: unknown key "connection" (expected one of: times)',
      'channels/a.yaml:8:28 destinations.deep.sink.retry.connection: unknown connection "nowhere" (known: epic-prod, lab)',
    ]);
  });

  it('are checked against an empty set when there is no engine file in loadConfig', () => {
    expect(load({ 'channels/a.yaml': yaml('name: a', 'source: { poll: {} }', 'destinations: { d: { sink: { connection: lab } } }') })).toEqual([
      'channels/a.yaml:3:30 destinations.d.sink.connection: unknown connection "lab" (none are defined)',
    ]);
  });

  it('are not checked by lint when no engine file is known', () => {
    const cwd = tree({ 'a.yaml': yaml('name: a', 'source: { poll: {} }', 'destinations: { d: { sink: { connection: lab } } }') });
    expect(lintPaths(['a.yaml'], { cwd, env: {} }).errors).toEqual([]);
  });

  it('lint uses sluice.yaml in the working directory for connection names', () => {
    const cwd = tree({ 'sluice.yaml': engine, 'x/a.yaml': yaml('name: a', 'source: { poll: {} }', 'destinations: { d: { sink: { connection: labb } } }') });
    expect(lintPaths(['x/a.yaml'], { cwd, env: {} }).errors.map(formatError)).toEqual([
      'x/a.yaml:3:30 destinations.d.sink.connection: unknown connection "labb" (did you mean "lab"? known: epic-prod, lab)',
    ]);
  });
});

describe('across channels', () => {
  it('channel names must be unique', () => {
    expect(load({ 'channels/a.yaml': listener('adt', 2575), 'channels/b.yaml': listener('adt', 2576), 'channels/c.yaml': listener('adt-2', 2577) })).toEqual([
      'channels/b.yaml:1:7 name: duplicate channel name "adt" (also in channels/a.yaml)',
    ]);
  });

  it('two enabled sources may not listen on the same port', () => {
    expect(load({ 'channels/a.yaml': listener('a', 2575), 'channels/b.yaml': listener('b', 2575) })).toEqual([
      'channels/b.yaml:2:19 source.fake.port: port 2575 is already used by channel "a" (channels/a.yaml)',
    ]);
  });

  it('port 0 (a free port picked at start) never clashes', () => {
    expect(load({ 'channels/a.yaml': listener('a', 0), 'channels/b.yaml': listener('b', 0) })).toEqual([]);
  });

  it('ports clash on the same host or against all hosts, not across different hosts or with a disabled channel', () => {
    const files = {
      'channels/a.yaml': yaml('name: a', 'source: { fake: { port: 2575, host: 10.0.0.1 } }', 'destinations: { out: { sink: {} } }'),
      'channels/b.yaml': yaml('name: b', 'source: { fake: { port: 2575, host: 10.0.0.2 } }', 'destinations: { out: { sink: {} } }'),
      'channels/c.yaml': listener('c', 2575, ['enabled: false']),
    };
    expect(load(files)).toEqual([]);
    expect(load({ ...files, 'channels/d.yaml': listener('d', 2575) })).toEqual([
      'channels/d.yaml:2:19 source.fake.port: port 2575 is already used by channel "a" (channels/a.yaml)',
    ]);
    expect(load({ ...files, 'channels/d.yaml': yaml('name: d', 'source: { fake: { port: 2575, host: 10.0.0.2 } }', 'destinations: { out: { sink: {} } }') })).toEqual([
      'channels/d.yaml:2:19 source.fake.port: 10.0.0.2:2575 is already used by channel "b" (channels/b.yaml)',
    ]);
  });

  it('a `channel` destination must name an existing channel, not itself', () => {
    const errors = load({
      'channels/a.yaml': listener('a', 1),
      'channels/b.yaml': yaml('name: b', 'source: { poll: {} }', 'destinations:', '  next: { channel: { channel: a } }', '  bad: { channel: { channel: c } }', '  self: { channel: { channel: b } }'),
    });
    expect(errors).toEqual([
      'channels/b.yaml:5:30 destinations.bad.channel.channel: unknown channel "c" (known: a, b)',
      'channels/b.yaml:6:31 destinations.self.channel.channel: channel "b" sends to itself',
    ]);
  });

  it('lint checks channel references only when several channels are linted together', () => {
    const cwd = tree({
      'a.yaml': listener('a', 1),
      'b.yaml': yaml('name: b', 'source: { poll: {} }', 'destinations: { next: { channel: { channel: elsewhere } } }'),
    });
    expect(lintPaths(['b.yaml'], { cwd, env: {} }).errors).toEqual([]);
    expect(lintPaths(['a.yaml', 'b.yaml'], { cwd, env: {} }).errors.map(formatError)).toEqual([
      'b.yaml:3:45 destinations.next.channel.channel: unknown channel "elsewhere" (known: a, b)',
    ]);
  });

  it('lint through an engine file checks channel references as run does, even with a single channel', () => {
    const cwd = tree({
      'sluice.yaml': yaml('dataDir: ./data'),
      'channels/b.yaml': yaml('name: b', 'source: { poll: {} }', 'destinations: { next: { channel: { channel: ghost } } }'),
    });
    expect(lintPaths(['sluice.yaml'], { cwd, env: {} }).errors.map(formatError)).toEqual([
      'channels/b.yaml:3:45 destinations.next.channel.channel: unknown channel "ghost" (known: b)',
    ]);
  });

  it('files with schema errors are still cross-checked', () => {
    const errors = load({
      'channels/a.yaml': listener('a', 2575),
      'channels/b.yaml': yaml('name: a', 'source: { fake: { port: 2575, hots: x } }', 'route: [ { to: nowhere } ]', 'destinations: { out: { sink: {} } }'),
    });
    expect(errors).toEqual([
      'channels/b.yaml:1:7 name: duplicate channel name "a" (also in channels/a.yaml)',
      'channels/b.yaml:2:19 source.fake.port: port 2575 is already used by channel "a" (channels/a.yaml)',
      'channels/b.yaml:2:31 source.fake.hots: unknown key "hots" (did you mean "host"? expected one of: port, host)',
      'channels/b.yaml:3:16 route[0].to: unknown destination "nowhere" (known: out)',
    ]);
  });
});
