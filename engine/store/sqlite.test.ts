import { existsSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { describeStore, type StoreHarness, type TestStore } from './conformance.js';
import { expectContentRunsAfterMigration } from './conformance-kit.js';
import { openStore } from './index.js';
import { SqliteStore } from './sqlite.js';

const harness: StoreHarness = {
  name: 'sqlite',
  async location() {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-store-'));
    const file = path.join(dir, 'sluice.db');
    const stores: TestStore[] = [];
    let admin: Database.Database | undefined;
    return {
      async open(options = {}) {
        const store = new SqliteStore({ dataDir: dir, ...options });
        stores.push(store);
        await store.init();
        return store;
      },
      async rows(sql, params = []) {
        admin ??= new Database(file, { timeout: 5000 });
        const statement = admin.prepare(sql);
        if (statement.reader) return statement.all(...params) as Record<string, unknown>[];
        statement.run(...params);
        return [];
      },
      async dump() {
        const parts = ['', '-wal', '-shm'].map((suffix) => file + suffix).filter((f) => existsSync(f));
        return Buffer.concat(await Promise.all(parts.map((f) => readFile(f))));
      },
      childOptions(options = {}) {
        return { dataDir: dir, encryptionKey: options.encryptionKey?.toString('base64') };
      },
      async dispose() {
        try {
          for (const store of stores) await store.close();
          admin?.close();
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      },
    };
  },
};

describeStore(harness);

describe('sqlite specifics', () => {
  it('migrates a store made before contents had runs: its contents become run 0, a reprocess then adds run 1', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-store-'));
    try {
      const first = new SqliteStore({ dataDir: dir });
      await first.init();
      const id = await first.receive({ channel: 'c', receivedAt: 1, sourceKind: 'test', raw: Buffer.from('x') });
      await first.close();
      // The schema version 1 table, as earlier versions made it.
      const db = new Database(path.join(dir, 'sluice.db'));
      db.exec(`DROP TABLE contents;
        CREATE TABLE contents (
          message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE, stage TEXT NOT NULL,
          destination TEXT NOT NULL DEFAULT '', content_type TEXT NOT NULL, content BLOB NOT NULL,
          created_at INTEGER NOT NULL, PRIMARY KEY (message_id, stage, destination));
        UPDATE meta SET value = '1' WHERE key = 'schema_version';`);
      db.prepare("INSERT INTO contents VALUES (?, 'transformed', '', 'text/plain', ?, 5)").run(id, Buffer.from('old run'));
      db.close();
      const store = new SqliteStore({ dataDir: dir });
      await store.init();
      try {
        await expectContentRunsAfterMigration(store, id);
        expect((await store.get(id))!.contents[0]!.createdAt).toBe(5);
      } finally {
        await store.close();
      }
      const check = new Database(path.join(dir, 'sluice.db'));
      expect(check.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get()).toEqual({ value: '2' });
      expect((check.prepare('PRAGMA foreign_key_list(contents)').all() as { table: string }[]).map((f) => f.table)).toEqual(['messages']);
      check.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a checkpoint worker that dies is reported, SQLite checkpoints by itself again, and close() still returns', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-store-'));
    const errors: string[] = [];
    const store = new SqliteStore({ dataDir: dir, onCheckpointError: (m) => errors.push(m) });
    try {
      await store.init();
      await (store as unknown as { checkpointer: { kill(): Promise<void> } }).checkpointer.kill();
      await new Promise((r) => setTimeout(r, 50));
      expect(errors.join()).toContain('checkpoint worker stopped');
      expect((store as unknown as { db: Database.Database }).db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
      await store.receive({ channel: 'c', receivedAt: 1, sourceKind: 'test', raw: Buffer.from('x') });
      const closed = store.close().then(() => 'closed');
      expect(await Promise.race([closed, new Promise((r) => setTimeout(() => r('hung'), 3000))])).toBe('closed');
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('checkpoints on its worker thread: the WAL reaches the database file while the store is open, and is gone after close', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-store-'));
    const store = new SqliteStore({ dataDir: dir, checkpointIntervalMs: 20 });
    try {
      await store.init();
      const db = (store as unknown as { db: Database.Database }).db;
      expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(0); // never inside a COMMIT
      const before = statSync(store.file).size;
      const raw = Buffer.alloc(2000, 65);
      for (let i = 0; i < 20; i++) await Promise.all(Array.from({ length: 50 }, () => store.receive({ channel: 'c', receivedAt: 1, sourceKind: 'test', raw })));
      const rounds = (): number => (store as unknown as { checkpointer: { rounds: number } }).checkpointer.rounds;
      const deadline = Date.now() + 5000;
      while ((statSync(store.file).size < before + 1_000_000 || rounds() === 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(statSync(store.file).size).toBeGreaterThan(before + 1_000_000); // 1,000 × 2 KB copied out of the WAL
      expect(rounds()).toBeGreaterThan(0);
    } finally {
      await store.close();
    }
    expect(existsSync(`${store.file}-wal`)).toBe(false);
    await rm(dir, { recursive: true, force: true });
  });

  it('under steady writes the WAL starts again from its beginning once it passes walRestartFrames, so it does not grow without bound', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-store-'));
    const store = new SqliteStore({ dataDir: dir, synchronous: 'NORMAL', checkpointIntervalMs: 50, walRestartFrames: 256 });
    try {
      await store.init();
      const raw = Buffer.alloc(2000, 66);
      // The worker's first round: before it, nothing copies the WAL out.
      const rounds = (): number => (store as unknown as { checkpointer: { rounds: number } }).checkpointer.rounds;
      for (let i = 0; i < 500 && rounds() === 0; i++) await new Promise((r) => setTimeout(r, 10));
      // Written back to back for 1.5 s, so the checkpoint worker never finds the WAL idle.
      const until = Date.now() + 1500;
      let written = 0;
      while (Date.now() < until) {
        await Promise.all(Array.from({ length: 20 }, () => store.receive({ channel: 'c', receivedAt: 1, sourceKind: 'test', raw })));
        written += 20 * raw.length;
      }
      // Without the restart the WAL keeps every page written: measured 3.7 times the bytes
      // received (252 MB), against 0.5 to 0.9 times with it.
      expect(written).toBeGreaterThan(8 * 1024 * 1024);
      expect(statSync(`${store.file}-wal`).size).toBeLessThan(written * 1.5);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('fsyncs (synchronous FULL) the commits that hold an intake, and only those', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-store-'));
    const store = new SqliteStore({ dataDir: dir });
    try {
      await store.init();
      const db = (store as unknown as { db: Database.Database }).db;
      // The mode each COMMIT runs under (2 = FULL: fsync of the WAL; 1 = NORMAL: none).
      const commits: unknown[] = [];
      const exec = db.exec.bind(db);
      db.exec = (sql: string) => {
        if (sql === 'COMMIT') commits.push(db.pragma('synchronous', { simple: true }));
        return exec(sql);
      };
      const id = await store.receive({ channel: 'c', receivedAt: 1, sourceKind: 'test', raw: Buffer.from('x') });
      await store.updateMessage(id, { status: 'TRANSFORMED' });
      await store.saveContent(id, 'transformed', 'y', 'text/plain');
      const second = await store.receive({ channel: 'c', receivedAt: 2, sourceKind: 'test', raw: Buffer.from('z') });
      // An intake that shares a batch with bookkeeping commits first, fsynced; the bookkeeping follows at NORMAL.
      await Promise.all([store.setDelivery(id, 'd', { status: 'SENT' }), store.receive({ channel: 'c', receivedAt: 3, sourceKind: 'test', raw: Buffer.from('w') })]);
      await store.markForReprocess(second, 'asked'); // a user's request: nothing would redo it
      expect(commits).toEqual([2, 1, 1, 2, 2, 1, 2]);
      expect(store.stats()).toMatchObject({ transactions: 7, durableTransactions: 4 });
      const normal = new SqliteStore({ file: path.join(dir, 'normal.db'), synchronous: 'NORMAL' });
      await normal.init();
      await normal.receive({ channel: 'c', receivedAt: 1, sourceKind: 'test', raw: Buffer.from('x') });
      expect((normal as unknown as { db: Database.Database }).db.pragma('synchronous', { simple: true })).toBe(1);
      await normal.close();
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('openStore creates <dataDir>/sluice.db, directories included, with WAL and synchronous FULL', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-store-'));
    try {
      const dataDir = path.join(dir, 'nested', 'data');
      const store = await openStore({ dataDir });
      await store.receive({ channel: 'c', receivedAt: 1, sourceKind: 'test', raw: Buffer.from('x') });
      expect(existsSync(path.join(dataDir, 'sluice.db'))).toBe(true);
      expect(store).toBeInstanceOf(SqliteStore);
      const db = new Database(path.join(dataDir, 'sluice.db'));
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      db.close();
      const probe = new SqliteStore({ dataDir }) as unknown as { db?: Database.Database; init(): Promise<void>; close(): Promise<void> };
      await probe.init();
      expect(probe.db!.pragma('synchronous', { simple: true })).toBe(2); // FULL
      expect(probe.db!.pragma('foreign_keys', { simple: true })).toBe(1);
      await probe.close();
      await store.close();
      const other = await openStore({ dataDir, url: `sqlite:${path.join(dir, 'other.db')}` });
      await other.close();
      expect(existsSync(path.join(dir, 'other.db'))).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
