import { afterAll, describe, expect, it } from 'vitest';
import '../engine/channel/components/index.js';
import '../engine/kafka/index.js';
import { loadConfig } from './index.js';
import { cleanTrees, tree, yaml } from './testing/tree.js';

afterAll(cleanTrees);

const CHANNEL = (queue = '') => yaml(
  'name: adt-in', 'source:', '  mllp: { port: 2575 }', 'destinations:',
  `  bus: { kafka: { topic: adt, brokers: ["127.0.0.1:9092"] }${queue} }`,
  '  archive: { file: { dir: ./out } }',
);

function concurrency(files: Record<string, string>): Record<string, number> {
  const r = loadConfig(files['sluice.yaml'] ? 'sluice.yaml' : undefined, { cwd: tree(files), env: {} });
  expect(r.errors).toEqual([]);
  return Object.fromEntries(Object.values(r.channels[0]!.config.destinations).map((d) => [d.name, d.queue.concurrency]));
}

describe('queue defaults of a destination kind', () => {
  it('a Kafka destination gets concurrency 256 (its records share produce requests); other kinds keep 1', () => {
    expect(concurrency({ 'channels/adt.yaml': CHANNEL() })).toEqual({ bus: 256, archive: 1 });
  });

  it("the engine file's defaults.queue and the destination's own queue block still win, in that order", () => {
    const engine = yaml('channels: [channels]', 'defaults:', '  queue: { concurrency: 8, maxAttempts: 9 }');
    expect(concurrency({ 'sluice.yaml': engine, 'channels/adt.yaml': CHANNEL() })).toEqual({ bus: 8, archive: 8 });
    expect(concurrency({ 'sluice.yaml': engine, 'channels/adt.yaml': CHANNEL(', queue: { concurrency: 32 }') })).toEqual({ bus: 32, archive: 8 });
    // A default that does not touch concurrency leaves the Kafka one in place.
    const retries = yaml('channels: [channels]', 'defaults:', '  queue: { maxAttempts: 9 }');
    expect(concurrency({ 'sluice.yaml': retries, 'channels/adt.yaml': CHANNEL() })).toEqual({ bus: 256, archive: 1 });
  });
});
