import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { dropSchema, PG_URL } from '../../test/helpers/pg.js';
import { describeStore, type StoreHarness, type TestStore } from './conformance.js';
import { expectContentRunsAfterMigration } from './conformance-kit.js';
import { openStore } from './index.js';
import { PostgresStore } from './postgres.js';

/** Set SLUICE_SKIP_POSTGRES=1 to skip where no PostgreSQL runs; CI starts one (scripts/services-up.sh). */
const URL = PG_URL;
const TABLES = ['meta', 'messages', 'deliveries', 'contents', 'events'];

function toDollar(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

const harness: StoreHarness = {
  name: 'postgres',
  async location() {
    const schema = `sluice_test_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: URL, options: `-c search_path=${schema}` });
    await admin.connect();
    const stores: TestStore[] = [];
    return {
      async open(options = {}) {
        const store = new PostgresStore({ url: URL, schema, ...options });
        stores.push(store);
        await store.init();
        return store;
      },
      async rows(sql, params = []) {
        return (await admin.query(toDollar(sql), params)).rows as Record<string, unknown>[];
      },
      async dump() {
        const parts: Buffer[] = [];
        for (const table of TABLES) {
          for (const row of (await admin.query(`SELECT * FROM ${table}`)).rows as Record<string, unknown>[]) {
            for (const value of Object.values(row)) parts.push(Buffer.isBuffer(value) ? value : Buffer.from(String(value)));
          }
        }
        return Buffer.concat(parts);
      },
      childOptions(options = {}) {
        return { url: URL, schema, dataDir: '', encryptionKey: options.encryptionKey?.toString('base64') };
      },
      async dispose() {
        try {
          for (const store of stores) await store.close();
        } finally {
          await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
          await admin.end();
        }
      },
    };
  },
};

const suite = process.env.SLUICE_SKIP_POSTGRES === '1' ? describe.skip : describe;

suite('postgres', () => {
  describeStore(harness);

  it('openStore picks PostgreSQL for postgres:// and postgresql:// URLs, in the given schema', async () => {
    const schema = `sluice_test_${randomBytes(6).toString('hex')}`;
    for (const url of [URL, URL.replace(/^postgres:/, 'postgresql:')]) {
      const store = await openStore({ url, dataDir: '/nonexistent', schema });
      expect(store).toBeInstanceOf(PostgresStore);
      await store.close();
    }
    const client = new pg.Client({ connectionString: URL });
    await client.connect();
    try {
      const tables = await client.query('SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1', [schema]);
      expect(tables.rows.map((r: { table_name: string }) => r.table_name)).toEqual(['contents', 'deliveries', 'events', 'messages', 'meta']);
    } finally {
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    }
  });

  it('rejects the writes of a lost connection, then carries on with a new one', async () => {
    const schema = `sluice_test_${randomBytes(6).toString('hex')}`;
    const applicationName = `sluice-test-${randomBytes(4).toString('hex')}`;
    const store = new PostgresStore({ url: URL, schema, applicationName });
    const admin = new pg.Client({ connectionString: URL });
    await admin.connect();
    try {
      await store.init();
      await store.receive({ channel: 'c', receivedAt: 1, sourceKind: 'test', raw: Buffer.from('before') });
      const killed = await admin.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [applicationName]);
      expect(killed.rowCount).toBeGreaterThan(0);
      // The first write may meet the dead connection and be rejected (the engine NAKs); it must not hang.
      await store.receive({ channel: 'c', receivedAt: 2, sourceKind: 'test', raw: Buffer.from('maybe') }).catch(() => undefined);
      const id = await store.receive({ channel: 'c', receivedAt: 3, sourceKind: 'test', raw: Buffer.from('after') });
      expect(Buffer.from((await store.get(id))!.raw).toString()).toBe('after');
    } finally {
      await store.close();
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    }
  });

  it('flushes the WAL at COMMIT for intake and user requests only; bookkeeping commits with synchronous_commit off', async () => {
    const schema = `sluice_test_${randomBytes(6).toString('hex')}`;
    const store = new PostgresStore({ url: URL, schema });
    // The synchronous_commit each COMMIT runs under, asked on the same connection just before it.
    const commits: string[] = [];
    const pool = (store as unknown as { writer: pg.Pool }).writer; // the group commit's connection
    const connect = pool.connect.bind(pool) as () => Promise<pg.PoolClient>;
    (pool as unknown as { connect: () => Promise<pg.PoolClient> }).connect = async () => {
      const client = await connect();
      if (!(client as unknown as { wrapped?: boolean }).wrapped) {
        const query = client.query.bind(client) as (...args: unknown[]) => Promise<pg.QueryResult>;
        Object.assign(client, {
          wrapped: true,
          query: async (...args: unknown[]) => {
            if (args[0] === 'COMMIT') commits.push((await query('SHOW synchronous_commit')).rows[0].synchronous_commit as string);
            return query(...args);
          },
        });
      }
      return client;
    };
    try {
      await store.init();
      commits.length = 0; // init's own transaction
      const id = await store.receive({ channel: 'c', receivedAt: 1, sourceKind: 'test', raw: Buffer.from('x') });
      await store.updateMessage(id, { status: 'TRANSFORMED' });
      await store.setDelivery(id, 'd', { status: 'SENT' });
      // The intake commits first, alone and flushed; the bookkeeping beside it follows without.
      await Promise.all([store.saveContent(id, 'sent', 'y', 'text/plain'), store.receive({ channel: 'c', receivedAt: 2, sourceKind: 'test', raw: Buffer.from('z') })]);
      await store.markForReprocess(id, 'asked');
      expect(commits).toEqual(['on', 'off', 'off', 'on', 'off', 'on']);
      expect(store.stats()).toMatchObject({ durableTransactions: 3 });
    } finally {
      await store.close();
      await dropSchema(schema);
    }
  });

  it("pipelines a batch's writes: all start before the first answer, on a connection in pipeline mode", async () => {
    const schema = `sluice_test_${randomBytes(6).toString('hex')}`;
    const store = new PostgresStore({ url: URL, schema });
    const writer = (store as unknown as { writer: pg.Pool }).writer;
    const log: string[] = [];
    const pipelined: boolean[] = [];
    const connect = writer.connect.bind(writer) as () => Promise<pg.PoolClient>;
    (writer as unknown as { connect: () => Promise<pg.PoolClient> }).connect = async () => {
      const client = await connect();
      pipelined.push((client as unknown as { pipeline: boolean }).pipeline);
      if (!(client as unknown as { wrapped?: boolean }).wrapped) {
        const query = client.query.bind(client) as (...args: unknown[]) => Promise<pg.QueryResult>;
        let n = 0;
        Object.assign(client, {
          wrapped: true,
          query: (...args: unknown[]) => {
            const i = n++;
            log.push(`send ${i}`);
            return query(...args).finally(() => log.push(`answer ${i}`));
          },
        });
      }
      return client;
    };
    try {
      await store.init();
      const ids = await Promise.all([1, 2, 3].map((n) => store.receive({ channel: 'c', receivedAt: n, sourceKind: 'test', raw: Buffer.from('x') })));
      log.length = 0;
      await Promise.all(ids.map((id) => store.saveContent(id, 'transformed', 'y', 'text/plain')));
      // BEGIN is answered first; then the three writes go out before any of them is answered.
      expect(log.slice(0, 5).map((entry) => entry.split(' ')[0])).toEqual(['send', 'answer', 'send', 'send', 'send']);
      expect(pipelined.every(Boolean)).toBe(true);
      expect((await store.get(ids[2]!))!.contents.map((c) => c.stage)).toContain('transformed');
    } finally {
      await store.close();
      await dropSchema(schema);
    }
  });

  it('migrates a store made before contents had runs: its contents become run 0, a reprocess then adds run 1', async () => {
    const schema = `sluice_test_${randomBytes(6).toString('hex')}`;
    const admin = new pg.Client({ connectionString: URL, options: `-c search_path=${schema}` });
    await admin.connect();
    try {
      const first = new PostgresStore({ url: URL, schema });
      await first.init();
      const id = await first.receive({ channel: 'c', receivedAt: 1, sourceKind: 'test', raw: Buffer.from('x') });
      await first.close();
      // The schema version 1 table, as earlier versions made it.
      await admin.query(`DROP TABLE contents;
        CREATE TABLE contents (
          message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE, stage TEXT NOT NULL,
          destination TEXT NOT NULL DEFAULT '', content_type TEXT NOT NULL, content BYTEA NOT NULL,
          created_at BIGINT NOT NULL, PRIMARY KEY (message_id, stage, destination));
        UPDATE meta SET value = '1' WHERE key = 'schema_version';`);
      await admin.query("INSERT INTO contents VALUES ($1, 'transformed', '', 'text/plain', $2, 5)", [id, Buffer.from('old run')]);
      const store = new PostgresStore({ url: URL, schema });
      await store.init();
      try {
        await expectContentRunsAfterMigration(store, id);
      } finally {
        await store.close();
      }
      expect((await admin.query("SELECT value FROM meta WHERE key = 'schema_version'")).rows).toEqual([{ value: '2' }]);
      // Opening again finds nothing to do.
      const again = new PostgresStore({ url: URL, schema });
      await again.init();
      await again.close();
    } finally {
      await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await admin.end();
    }
  });

  it('rejects schema names that are not plain identifiers', () => {
    expect(() => new PostgresStore({ url: URL, schema: 'x; DROP TABLE y' })).toThrow(/invalid schema/);
  });
});
