import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { channelConfig, tempEngineConfig } from '../test/helpers/channel.js';
import { onClose } from '../test/helpers/engine.js';
import { sent, type Destination } from './channel/types.js';
import { ConnectionPool } from './connections.js';
import { Engine } from './engine.js';
import { silentLogger } from './log.js';
import { registerComponent, type CreateContext } from './registry.js';

/** A connection that counts how often it was created and closed. */
class Counter {
  static created = 0;
  closed = 0;
  constructor(readonly url: string) { Counter.created++; }
  async close(): Promise<void> { this.closed++; }
}

registerComponent({
  kind: 'connection', name: 'counter-conn', description: 'Test connection.',
  schema: z.strictObject({ url: z.string() }),
  create: (o) => new Counter(o.url),
});

const seen: Counter[] = [];
registerComponent({
  kind: 'destination', name: 'uses-conn', description: 'Test destination that resolves a connection.',
  schema: z.strictObject({ connection: z.string() }),
  create: (o, ctx: CreateContext): Destination => {
    seen.push(ctx.connection!<Counter>(o.connection, 'counter-conn'));
    return { send: async () => sent(), close: async () => {} };
  },
});

describe('engine connections', () => {
  it('creates a named connection once, on first use, shares it across channels and closes it on stop', async () => {
    const base = await tempEngineConfig();
    const config = { ...base, connections: { lab: { component: 'counter-conn', options: { url: 'tcp://lab' } }, unused: { component: 'counter-conn', options: { url: 'x' } } } };
    const engine = await Engine.open(config, silentLogger);
    onClose(() => engine.stop());
    const before = Counter.created;
    const dest = { out: { 'uses-conn': { connection: 'lab' } } };
    engine.deploy(channelConfig({ name: 'a', source: { http: { port: 0 } }, destinations: dest }));
    engine.deploy(channelConfig({ name: 'b', source: { http: { port: 0 } }, destinations: dest }));
    expect(Counter.created - before).toBe(1); // `unused` was never created
    expect(seen.at(-1)).toBe(seen.at(-2));
    expect(seen.at(-1)!.url).toBe('tcp://lab');
    await engine.stop();
    expect(seen.at(-1)!.closed).toBe(1);
  });

  it('names the known connections when one is missing, and refuses one of another type', () => {
    const pool = new ConnectionPool({ lab: { component: 'counter-conn', options: { url: 'x' } } }, { dataDir: '/tmp', logger: silentLogger });
    expect(() => pool.get('labb', 'counter-conn')).toThrow('unknown connection "labb" (known: lab)');
    expect(() => pool.get('lab', 'kafka')).toThrow('connection "lab" is a counter-conn connection, expected kafka');
    expect(pool.ofType('counter-conn')).toEqual(['lab']);
    expect(pool.ofType('fhir')).toEqual([]);
  });
});
