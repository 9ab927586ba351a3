import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { adt, channelConfig, tempEngineConfig } from '../test/helpers/channel.js';
import { eventually } from '../test/helpers/http-sink.js';
import { Engine } from './engine.js';
import { createLogger, silentLogger } from './log.js';
import { MllpSender } from './mllp/index.js';
import { generateKey } from './store/crypto.js';
import { openStore } from './store/index.js';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  while (open.length) await open.pop()!.close().catch(() => {});
});

describe('engine wiring of the store settings', () => {
  it('store.retention: prunes finished messages older than the retention when it starts, keeps the rest', async () => {
    const config = await tempEngineConfig({ store: { retention: 24 * 3600_000 } });
    const day = 24 * 3600_000;
    // Messages written before the engine starts: two old (one finished, one still owed a delivery), one recent.
    const store = await openStore({ dataDir: config.dataDir });
    const oldSent = await store.receive({ channel: 'c', receivedAt: Date.now() - 3 * day, sourceKind: 'test', raw: Buffer.from('old'), status: 'SENT' });
    const oldQueued = await store.receive({ channel: 'c', receivedAt: Date.now() - 3 * day, sourceKind: 'test', raw: Buffer.from('owed'), status: 'QUEUED' });
    const recent = await store.receive({ channel: 'c', receivedAt: Date.now() - day / 2, sourceKind: 'test', raw: Buffer.from('new'), status: 'SENT' });
    await store.close();
    const engine = await Engine.open(config, silentLogger);
    open.push({ close: () => engine.stop() });
    await eventually(async () => (await engine.store.get(oldSent)) === undefined, 5_000, 'the old finished message pruned');
    expect(await engine.store.get(oldQueued)).toBeDefined();
    expect(await engine.store.get(recent)).toBeDefined();
  });

  it('store.encryptionKey: message content is not readable in the database file', async () => {
    const config = await tempEngineConfig({ store: { encryptionKey: generateKey() } });
    const engine = await Engine.open(config, silentLogger);
    open.push({ close: () => engine.stop() });
    const channel = engine.deploy(channelConfig({ source: { mllp: { port: 0 } }, destinations: { out: { file: { dir: path.join(config.dataDir, 'out') } } } }));
    await channel.start();
    const sender = new MllpSender({ host: '127.0.0.1', port: (channel.def.source as unknown as { port: number }).port });
    open.push(sender);
    expect((await sender.send(adt('ENC1', 'MRN-SECRET-77'))).code).toBe('AA');
    const [m] = await engine.store.search({ controlId: 'ENC1' });
    await eventually(async () => (await engine.store.get(m!.id))?.status === 'SENT', 5_000, 'SENT');
    // Through the engine's store it reads back; in the file, neither the raw message nor the patient id appears.
    expect(Buffer.from((await engine.store.get(m!.id))!.raw).toString()).toContain('MRN-SECRET-77');
    const db = new Database(path.join(config.dataDir, 'sluice.db'), { readonly: true });
    try {
      const rows = db.prepare('SELECT raw, patient_key FROM messages').all() as { raw: Buffer; patient_key: string }[];
      expect(rows).toHaveLength(1);
      expect(rows[0]!.raw.toString('latin1')).not.toContain('MRN-SECRET-77');
      expect(rows[0]!.patient_key).not.toContain('MRN-SECRET-77');
      const contents = db.prepare('SELECT content FROM contents').all() as { content: Buffer }[];
      expect(contents.length).toBeGreaterThan(0);
      for (const c of contents) expect(Buffer.from(c.content).toString('latin1')).not.toContain('DOE^JANE');
    } finally {
      db.close();
    }
    // The delivered file itself is plain: encryption at rest covers the store, not destinations.
    const [file] = (await import('node:fs')).readdirSync(path.join(config.dataDir, 'out'));
    expect(await readFile(path.join(config.dataDir, 'out', file!), 'utf8')).toContain('MRN-SECRET-77');
  });
});

describe('engine reload', () => {
  it('an edit to a script step\'s file alone redeploys the channel, and the new script runs; no edit leaves it running', async () => {
    const config = await tempEngineConfig();
    const engine = await Engine.open(config, silentLogger);
    open.push({ close: () => engine.stop() });
    const script = path.join(config.dataDir, 'route.js');
    await writeFile(script, "msg.set('MSH-5', 'FIRST')");
    const out = path.join(config.dataDir, 'out');
    const cfg = () => channelConfig({ source: { mllp: { port: 0 } }, steps: [{ script: { file: script } }], destinations: { out: { file: { dir: out, name: '{controlId}.hl7' } } } });
    expect(await engine.reload([cfg()])).toMatchObject({ deployed: ['test'] });
    expect(await engine.reload([cfg()])).toMatchObject({ unchanged: ['test'], redeployed: [] });
    await writeFile(script, "msg.set('MSH-5', 'SECOND')");
    expect(await engine.reload([cfg()])).toMatchObject({ redeployed: ['test'], unchanged: [] });
    const channel = engine.channel('test')!;
    const sender = new MllpSender({ host: '127.0.0.1', port: (channel.def.source as unknown as { port: number }).port });
    open.push(sender);
    expect((await sender.send(adt('RL1', 'MRN1'))).code).toBe('AA');
    await eventually(async () => (await readFile(path.join(out, 'RL1.hl7'), 'utf8').catch(() => '')).includes('|SECOND|'), 5_000, 'the edited script ran');
    expect(await engine.reload([cfg()])).toMatchObject({ unchanged: ['test'] });
  });
});

describe('engine logs', () => {
  it('a channel\'s log lines name it once (its logger is the engine\'s child with the channel bound)', async () => {
    const lines: string[] = [];
    const destination = { write: (line: string) => { lines.push(line); return true; } };
    const engine = await Engine.open(await tempEngineConfig(), createLogger({ destination: destination as unknown as NodeJS.WritableStream }));
    open.push({ close: () => engine.stop() });
    const channel = engine.deploy(channelConfig({ name: 'logged', source: { mllp: { port: 0 } }, destinations: { out: { file: { dir: path.join(engine.config.dataDir, 'out') } } } }));
    await channel.start();
    await channel.stop();
    const stopped = lines.find((l) => l.includes('"channel stopped"'));
    expect(stopped).toBeDefined();
    expect(stopped!.match(/"channel":/g)).toHaveLength(1);
    expect(JSON.parse(stopped!)).toMatchObject({ channel: 'logged' });
  });
});
