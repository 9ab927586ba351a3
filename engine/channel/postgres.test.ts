import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { adt, tempEngineConfig, type TestChannel } from '../../test/helpers/channel.js';
import { FAST_QUEUE, httpSink, messageOf, mllpPort, mllpSender, onClose, sleep, startEngine, untilStatus } from '../../test/helpers/engine.js';
import { eventually } from '../../test/helpers/http-sink.js';
import { dropSchema, PG_URL } from '../../test/helpers/pg.js';
import type { Engine } from '../engine.js';
import { openStore, PostgresStore } from '../store/index.js';

/** Set SLUICE_SKIP_POSTGRES=1 to skip where no PostgreSQL runs (as engine/store/postgres.test.ts). */
const URL = PG_URL;
const suite = process.env.SLUICE_SKIP_POSTGRES === '1' ? describe.skip : describe;

/** An engine whose store is PostgreSQL in a throwaway schema, dropped after the test. */
async function pgEngine(destinations: TestChannel['destinations']): Promise<Engine> {
  const schema = `sluice_t_${randomBytes(6).toString('hex')}`;
  onClose(() => dropSchema(schema));
  const config = await tempEngineConfig({ store: { url: URL } });
  onClose(() => rm(config.dataDir, { recursive: true, force: true }));
  const store = await openStore({ url: URL, schema, dataDir: config.dataDir });
  expect(store).toBeInstanceOf(PostgresStore);
  return startEngine({ source: { mllp: { port: 0 } }, destinations }, { config, store });
}

suite('channels on PostgreSQL', () => {
  it('MLLP in → HTTP out: AA, delivered, SENT, with its history in PostgreSQL', async () => {
    const { sink, url } = await httpSink();
    const engine = await pgEngine({ out: { http: { url } } });
    expect((await mllpSender(mllpPort(engine)).send(adt('PG1', 'MRN1'))).code).toBe('AA');
    const m = await messageOf(engine.store, 'PG1');
    const detail = await untilStatus(engine.store, m.id, 'SENT');
    expect(sink.bodies).toHaveLength(1);
    expect(detail.deliveries).toMatchObject([{ destination: 'out', status: 'SENT', attempts: 1 }]);
    expect(detail.events.map((e) => e.kind)).toEqual(['sent']);
    expect(await engine.store.search({ channel: 'test', patientId: 'MRN1' })).toHaveLength(1);
  });

  it('retries transient failures, then SENT', async () => {
    const { sink, url } = await httpSink();
    sink.respond = (_b, n) => ({ status: n < 2 ? 503 : 200 });
    const engine = await pgEngine({ out: { http: { url }, queue: FAST_QUEUE } });
    await mllpSender(mllpPort(engine)).send(adt('PG2', 'MRN1'));
    const m = await messageOf(engine.store, 'PG2');
    const detail = await untilStatus(engine.store, m.id, 'SENT');
    expect(detail.deliveries[0]).toMatchObject({ status: 'SENT', attempts: 3 });
    expect(detail.events.filter((e) => e.kind === 'retry')).toHaveLength(2);
    expect(sink.bodies).toHaveLength(1);
  });

  it('a duplicate is acknowledged and recorded, but delivered once', async () => {
    const { sink, url } = await httpSink();
    const engine = await pgEngine({ out: { http: { url } } });
    const s = mllpSender(mllpPort(engine));
    expect((await s.send(adt('PG3', 'MRN1'))).code).toBe('AA');
    await eventually(() => sink.bodies.length === 1, 5_000, 'first delivery');
    expect((await s.send(adt('PG3', 'MRN1'))).code).toBe('AA');
    const all = await engine.store.search({ channel: 'test', controlId: 'PG3' });
    expect(all).toHaveLength(2);
    const dup = all.find((m) => m.duplicateOf)!;
    expect(dup).toMatchObject({ status: 'FILTERED', duplicateOf: all.find((m) => !m.duplicateOf)!.id });
    await sleep(100);
    expect(sink.bodies).toHaveLength(1);
  });

  it('unparsable input: AR, stored as ERROR with its raw bytes', async () => {
    const { sink, url } = await httpSink();
    const engine = await pgEngine({ out: { http: { url } } });
    const reply = await new Promise<string>((resolve, reject) => {
      const sock = net.connect(mllpPort(engine), '127.0.0.1', () => sock.write(Buffer.from('\x0bNOT HL7 \xe9\x1c\r', 'latin1')));
      sock.on('data', (d) => { resolve(d.toString('latin1')); sock.destroy(); });
      sock.on('error', reject);
    });
    expect(reply).toContain('MSA|AR');
    const [m] = await engine.store.search({ channel: 'test', status: 'ERROR' });
    expect(m!.error).toContain('not a valid HL7 v2 message');
    expect(Buffer.from((await engine.store.get(m!.id))!.raw)).toEqual(Buffer.from('NOT HL7 \xe9', 'latin1'));
    expect(sink.requests).toBe(0);
  });
});
