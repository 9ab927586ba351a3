import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatError, lintPaths, loadChannelFiles, loadConfig } from './index.js';
import { registerFakes } from './testing/fakes.js';
import { cleanTrees, tree, yaml } from './testing/tree.js';

beforeAll(registerFakes);
afterAll(cleanTrees);

function load(files: Record<string, string>, env: Record<string, string> = {}) {
  const cwd = tree(files);
  const r = loadConfig(undefined, { cwd, env });
  return { ...r, cwd, lines: r.errors.map(formatError) };
}

const MINIMAL = yaml('name: adt-in', 'source:', '  fake: { port: 2575 }', 'destinations:', '  out:', '    sink: {}');

describe('a valid channel', () => {
  it('loads with every default applied', () => {
    const r = load({ 'channels/adt.yaml': MINIMAL });
    expect(r.lines).toEqual([]);
    expect(r.channels).toHaveLength(1);
    expect(r.channels[0]!.file).toBe('channels/adt.yaml');
    expect(r.channels[0]!.config).toEqual({
      name: 'adt-in',
      enabled: true,
      source: { component: 'fake', options: { port: 2575 } },
      respondFrom: 'received',
      dataType: 'hl7v2',
      duplicates: { enabled: true, window: 86_400_000 },
      maxBacklog: 10_000,
      orderingKey: 'PID-3.1',
      steps: [],
      route: [{ to: ['out'], continue: false }],
      destinations: {
        out: {
          name: 'out',
          component: 'sink',
          options: {},
          queue: { mode: 'on-failure', maxAttempts: 5, backoff: { initial: 1000, max: 300_000, factor: 2 }, concurrency: 1 },
        },
      },
    });
  });

  it('applies engine defaults without an engine file', () => {
    const r = load({ 'channels/adt.yaml': MINIMAL });
    expect(r.engine).toMatchObject({ file: undefined, dataDir: join(r.cwd, 'data'), channels: ['channels'], log: { level: 'info' }, connections: {} });
  });

  it('applies component defaults, `name:` with no options, and normalizes one-or-many lists', () => {
    const r = load({
      'channels/a.yaml': yaml(
        'name: a', 'source: { poll: }', 'steps: [ { noop: }, { upper: { field: PID-3 } } ]',
        'filter: { messageType: ADT^A01, paths: { "PV1-2": I, "PV1-3": [1, W] } }',
        'route: [ { when: { messageType: [ADT^*] }, to: out, continue: true } ]',
        'orderingKey: PID-3[1].1', 'duplicates: { window: 2h, enabled: false }', 'respondFrom: delivered',
        'destinations: { out: { sink: } }',
      ),
    });
    expect(r.lines).toEqual([]);
    const c = r.channels[0]!.config;
    expect(c.source).toEqual({ component: 'poll', options: { every: '1m' } });
    expect(c.steps).toEqual([{ component: 'noop', options: {} }, { component: 'upper', options: { field: 'PID-3', mode: 'upper' } }]);
    expect(c.filter).toEqual({ messageType: ['ADT^A01'], paths: { 'PV1-2': ['I'], 'PV1-3': ['1', 'W'] } });
    expect(c.route).toEqual([{ when: { messageType: ['ADT^*'] }, to: ['out'], continue: true }]);
    expect(c.orderingKey).toBe('PID-3[1].1');
    expect(c.duplicates).toEqual({ window: 7_200_000, enabled: false });
    expect(c.respondFrom).toBe('delivered');
  });

  it('merges a destination queue over the engine defaults.queue over the built-in defaults', () => {
    const r = load({
      'sluice.yaml': yaml('dataDir: /var/sluice', 'defaults:', '  queue: { maxAttempts: 9, backoff: { factor: 3 } }', 'store: { retention: 30d }', 'log: { level: debug }'),
      'channels/a.yaml': yaml('name: a', 'source: { poll: {} }', 'destinations:', '  d: { sink: {}, queue: { mode: always, backoff: { max: 1m } } }', '  e: { sink: {} }'),
    });
    expect(r.lines).toEqual([]);
    expect(r.engine).toMatchObject({ dataDir: '/var/sluice', store: { retention: 2_592_000_000 }, log: { level: 'debug' } });
    expect(r.engine.defaults.queue).toEqual({ mode: 'on-failure', maxAttempts: 9, backoff: { initial: 1000, max: 300_000, factor: 3 }, concurrency: 1 });
    const d = r.channels[0]!.config.destinations;
    expect(d.d!.queue).toEqual({ mode: 'always', maxAttempts: 9, backoff: { initial: 1000, max: 60_000, factor: 3 }, concurrency: 1 });
    expect(d.e!.queue).toEqual(r.engine.defaults.queue);
  });
});

describe('errors', () => {
  it('collects every error of a file, each at its position', () => {
    const r = load({
      'channels/bad.yaml': yaml(
        'name: Bad_Name', //                       1
        'enabled: yes', //                         2
        'source:', //                              3
        '  fake: { port: "2575", prot: 1 }', //    4
        'respondFrom: recieved', //                5
        'duplicates: { window: 5min }', //         6
        'orderingKey: PIDX', //                    7
        'destination: {}', //                      8
      ),
    });
    expect(r.lines).toEqual([
      'channels/bad.yaml:1:1 name: expected lowercase letters, digits and "-", e.g. adt-in',
      'channels/bad.yaml:1:1 destinations: is required (expected a mapping)',
      'channels/bad.yaml:2:1 enabled: expected true or false, got a string "yes"',
      'channels/bad.yaml:4:11 source.fake.port: expected a number, got a string "2575"',
      'channels/bad.yaml:4:25 source.fake.prot: unknown key "prot" (did you mean "port"? expected one of: port, host)',
      'channels/bad.yaml:5:1 respondFrom: invalid value "recieved" (did you mean "received"? expected one of: received, processed, delivered)',
      'channels/bad.yaml:6:15 duplicates.window: expected a duration: a number and a unit, e.g. 500ms, 30s, 5m, 24h or 30d',
      'channels/bad.yaml:7:1 orderingKey: invalid HL7 path "PIDX": expected SEG[n]-field[rep].component.subcomponent, e.g. PID-3[2].1',
      'channels/bad.yaml:8:1 destination: unknown key "destination" (did you mean "destinations"? expected one of: name, description, enabled, source, respondFrom, dataType, duplicates, maxBacklog, orderingKey, filter, steps, route, destinations)',
    ]);
    expect(r.channels).toEqual([]);
  });

  it('names the known components for an unknown one, with did-you-mean', () => {
    const r = load({
      'channels/a.yaml': yaml('name: a', 'source: { fak: { port: 1 } }', 'steps:', '  - nop: {}', '  - frobnicate: {}', 'destinations:', '  out: { snk: {} }'),
    });
    expect(r.lines).toEqual([
      'channels/a.yaml:2:11 source.fak: unknown source "fak" (did you mean "fake"? known: fake, poll)',
      'channels/a.yaml:4:5 steps[0].nop: unknown step "nop" (did you mean "noop"? known: noop, upper)',
      'channels/a.yaml:5:5 steps[1].frobnicate: unknown step "frobnicate" (known: noop, upper)',
      'channels/a.yaml:7:10 destinations.out.snk: unknown destination type "snk" (did you mean "sink"? known: channel, sink)',
    ]);
  });

  it('rejects two components in one block and stray keys beside one', () => {
    const r = load({
      'channels/a.yaml': yaml('name: a', 'source:', '  fake: { port: 1 }', '  poll: {}', 'destinations:', '  out: { sink: {}, queu: {} }', '  none: {}'),
    });
    expect(r.lines).toEqual([
      'channels/a.yaml:4:3 source.poll: only one source allowed here; "poll" conflicts with "fake"',
      'channels/a.yaml:6:20 destinations.out.queu: unknown key "queu" (did you mean "queue"? expected one destination type ("sink") plus optional queue)',
      'channels/a.yaml:7:3 destinations.none: expected one destination type as key, e.g. "channel: { ... }" (known: channel, sink)',
    ]);
  });

  it('reports missing required keys at the parent, and an empty destinations map', () => {
    const r = load({ 'channels/a.yaml': yaml('description: nothing else', 'destinations: {}'), 'channels/b.yaml': '' });
    expect(r.lines).toEqual([
      'channels/a.yaml:1:1 name: is required (expected a string)',
      'channels/a.yaml:1:1 source: is required (one source as key; known: fake, poll)',
      'channels/a.yaml:2:1 destinations: at least one destination is required',
      'channels/b.yaml:1:1 name: is required (expected a string)',
      'channels/b.yaml:1:1 source: is required (one source as key; known: fake, poll)',
      'channels/b.yaml:1:1 destinations: is required (expected a mapping)',
    ]);
  });

  it('validates route, filter and queue blocks', () => {
    const r = load({
      'channels/a.yaml': yaml(
        'name: a', 'source: { poll: {} }',
        'filter: { messageType: [adt], paths: { PID3: [x] }, scrpt: x }',
        'route: [ { to: [] }, { when: { messageType: 7 }, to: out } ]',
        'destinations:',
        '  out: { sink: {}, queue: { mode: sometimes, maxAttempts: 0, backoff: { initial: 5 } } }',
      ),
    });
    expect(r.lines).toEqual([
      'channels/a.yaml:3:25 filter.messageType[0]: expected a message type like ADT^A01, ADT^* or ORU',
      'channels/a.yaml:3:40 filter.paths.PID3: invalid key: invalid HL7 path "PID3": expected SEG[n]-field[rep].component.subcomponent, e.g. PID-3[2].1',
      'channels/a.yaml:3:53 filter.scrpt: unknown key "scrpt" (did you mean "script"? expected one of: messageType, paths, script)',
      'channels/a.yaml:4:12 route[0].to: must have at least 1 item',
      'channels/a.yaml:4:32 route[1].when.messageType: expected a string or a list, got an integer 7',
      'channels/a.yaml:6:29 destinations.out.queue.mode: invalid value "sometimes" (expected one of: never, on-failure, always)',
      'channels/a.yaml:6:46 destinations.out.queue.maxAttempts: must be >= 1',
      'channels/a.yaml:6:73 destinations.out.queue.backoff.initial: expected a duration: a number and a unit, e.g. 500ms, 30s, 5m, 24h or 30d',
    ]);
  });

  it('reports YAML syntax errors in the same format and still checks the other files', () => {
    const r = load({ 'channels/a.yaml': yaml('name: a', 'source: { fake: { port: 1 }'), 'channels/b.yaml': yaml('name: b', 'source: { poll: {} }') });
    expect(r.lines.some((l) => /^channels\/a\.yaml:\d+:\d+ \(root\): YAML syntax: /.test(l))).toBe(true);
    expect(r.lines).toContain('channels/b.yaml:1:1 destinations: is required (expected a mapping)');
  });

  it('checks the engine file strictly and reports channel entries that match nothing', () => {
    const r = load({
      'sluice.yaml': yaml('dataDir: ./d', 'chanels: [x]', 'channels: [channels, "more/*.yaml", missing]', 'log: { level: loud }'),
      'channels/a.yaml': MINIMAL,
    });
    expect(r.lines).toEqual([
      'sluice.yaml:2:1 chanels: unknown key "chanels" (did you mean "channels"? expected one of: dataDir, store, channels, log, connections, defaults, admin)',
      'sluice.yaml:3:22 channels[1]: no channel files match "more/*.yaml"',
      'sluice.yaml:3:37 channels[2]: no such file or directory "missing"',
      'sluice.yaml:4:8 log.level: invalid value "loud" (expected one of: fatal, error, warn, info, debug, trace, silent)',
    ]);
    expect(r.channels.map((c) => c.file)).toEqual(['channels/a.yaml']);
    const ok = load({ 'sluice.yaml': yaml('channels: [channels, "more/*.yaml", missing]'), 'channels/a.yaml': MINIMAL, 'more/b.yaml': MINIMAL.replace('adt-in', 'b').replace('2575', '2576') });
    expect(ok.lines).toEqual(['sluice.yaml:1:37 channels[2]: no such file or directory "missing"']);
    expect(ok.channels.map((c) => c.file)).toEqual(['channels/a.yaml', 'more/b.yaml']);
  });
});

describe('channel files', () => {
  it('skips *.test.yaml and non-YAML files in directories and globs', () => {
    const r = load({
      'sluice.yaml': yaml('channels: [channels, "nested/**/*.yaml"]'),
      'channels/a.yaml': MINIMAL,
      'channels/a.test.yaml': 'not: a channel\n',
      'channels/README.md': '# x\n',
      'nested/x/y/b.yaml': MINIMAL.replace('adt-in', 'b').replace('2575', '2576'),
      'nested/x/b.test.yaml': 'not: a channel\n',
    });
    expect(r.lines).toEqual([]);
    expect(r.channels.map((c) => c.file)).toEqual(['channels/a.yaml', 'nested/x/y/b.yaml']);
    const globbed = load({
      'sluice.yaml': yaml('channels: ["nested/**/*.y*ml"]'),
      'nested/x/y/b.yml': MINIMAL,
      'nested/x/b.test.yaml': 'not: a channel\n',
    });
    expect(globbed.lines).toEqual([]);
    expect(globbed.channels.map((c) => c.file)).toEqual(['nested/x/y/b.yml']);
  });

  it('lintPaths tells engine from channel files by content', () => {
    const cwd = tree({
      'conf/main.yaml': yaml('log: { level: info }', 'channels: []'),
      'conf/in.yaml': MINIMAL,
      'conf/out.yaml': yaml('name: out', 'destinations: { d: { sink: { bogus: 1 } } }'),
      'conf/in.test.yaml': 'whatever: 1\n',
    });
    const r = lintPaths(['conf'], { cwd, env: {} });
    expect(r.files).toEqual([
      { file: 'conf/main.yaml', kind: 'engine' },
      { file: 'conf/in.yaml', kind: 'channel' },
      { file: 'conf/out.yaml', kind: 'channel' },
    ]);
    expect(r.errors.map(formatError)).toEqual([
      'conf/out.yaml:1:1 source: is required (one source as key; known: fake, poll)',
      'conf/out.yaml:2:30 destinations.d.sink.bogus: unknown key "bogus" (expected one of: connection, path, token, retry)',
    ]);
  });

  it('an explicit engine file that does not exist is an error', () => {
    const cwd = tree({ 'channels/a.yaml': MINIMAL });
    const r = loadConfig('conf/sluice.yaml', { cwd, env: {} });
    expect(r.errors.map(formatError)).toEqual(['conf/sluice.yaml:1:1 (root): file not found']);
    expect(r.engine.file).toBe(join(cwd, 'conf/sluice.yaml'));
  });

  it('loadChannelFiles loads only the given files, with queue defaults and connections from sluice.yaml in cwd', () => {
    const cwd = tree({
      'sluice.yaml': yaml('connections: { lab: { api: {} } }', 'defaults: { queue: { maxAttempts: 2 } }'),
      'channels/a.yaml': yaml('name: a', 'source: { poll: {} }', 'destinations: { d: { sink: { connection: lab } }, e: { channel: { channel: other } } }'),
      'channels/b.yaml': yaml('name: b', 'source: { poll: {} }', 'destinations: { d: { sink: { connection: labb } } }'),
    });
    const one = loadChannelFiles(['channels/a.yaml'], { cwd, env: {} });
    expect(one.errors).toEqual([]);
    expect(one.channels.map((c) => [c.file, c.config.name, c.config.destinations.d!.queue.maxAttempts])).toEqual([['channels/a.yaml', 'a', 2]]);
    const both = loadChannelFiles(['channels/a.yaml', 'channels/b.yaml'], { cwd, env: {} });
    expect(both.errors.map(formatError)).toEqual([
      'channels/a.yaml:3:76 destinations.e.channel.channel: unknown channel "other" (known: a, b)',
      'channels/b.yaml:3:30 destinations.d.sink.connection: unknown connection "labb" (did you mean "lab"? known: lab)',
    ]);
    expect(both.channels.map((c) => c.config.name)).toEqual([]);
  });

  it('lintPaths treats a file with only channel keys as a channel', () => {
    const cwd = tree({ 'a.yaml': yaml('name: a', 'steps: []') });
    const r = lintPaths(['a.yaml'], { cwd, env: {} });
    expect(r.files).toEqual([{ file: 'a.yaml', kind: 'channel' }]);
    expect(r.errors.map(formatError)).toEqual([
      'a.yaml:1:1 source: is required (one source as key; known: fake, poll)',
      'a.yaml:1:1 destinations: is required (expected a mapping)',
    ]);
  });

  it('lintPaths on a directory with sluice.yaml lints that engine and its channels; missing paths are errors', () => {
    const cwd = tree({ 'sluice.yaml': yaml('channels: [ch]'), 'ch/a.yaml': yaml('name: a', 'source: { poll: {} }', 'destinations: { d: { sink: { connection: nope } } }') });
    const r = lintPaths(['.', 'nowhere.yaml'], { cwd, env: {} });
    expect(r.files).toEqual([{ file: 'sluice.yaml', kind: 'engine' }, { file: 'ch/a.yaml', kind: 'channel' }]);
    expect(r.errors.map(formatError)).toEqual([
      'nowhere.yaml:1:1 (root): no such file or directory',
      'ch/a.yaml:3:30 destinations.d.sink.connection: unknown connection "nope" (none are defined)',
    ]);
  });
});
