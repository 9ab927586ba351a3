import pg from 'pg';
import { ulid } from '../ids.js';
import { GroupCommit, StoreClosedError, WorkFailed, type TransactionRunner, type Work } from './batcher.js';
import { StoreCipher } from './crypto.js';
import {
  MESSAGE_COLUMNS, MessageNotFoundError, PENDING_STATUSES, RowCodec, SCHEMA_VERSION, SUMMARY_COLUMNS, byMessage, checkMarker, checkSchemaVersion, isOwnError,
  SQL_PARTS, searchQuery, type ContentRow, type DeliveryRow, type EventRow, type MessageRow,
} from './rows.js';
import type {
  ContentStage, DeliveryUpdate, MessageDetail, MessageEvent, MessageFilter, MessagePatch, MessageStore, NewMessage,
  PendingWork, StoreStats, StoredMessage,
} from './types.js';

/**
 * PostgreSQL message store (pg Pool). Same tables and semantics as the SQLite store.
 * Durability is the server's: with the default `synchronous_commit = on` an intake COMMIT
 * returns after the WAL is flushed; bookkeeping commits set it off for their transaction. Group commit puts many writes behind one COMMIT; one batch is in
 * flight at a time on one pooled connection, reads and prune use the others.
 */

export interface PostgresStoreOptions {
  /** postgres:// or postgresql:// URL. */
  readonly url: string;
  /** Schema for the tables (created if missing); default: the connection's search_path. */
  readonly schema?: string;
  readonly encryptionKey?: string | Uint8Array;
  /** Most writes per transaction (default 1000; 1 = a transaction per write, for comparison). */
  readonly maxBatch?: number;
  /** Pool size (default 4). */
  readonly poolSize?: number;
  /** Shown in pg_stat_activity (default 'sluice-store'). */
  readonly applicationName?: string;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** PostgreSQL types of MESSAGE_COLUMNS, in order. */
const COLUMN_TYPES = ['text', 'text', 'bigint', 'bigint', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'text',
  'text', 'text', 'integer', 'bytea'];
const STATUSES = PENDING_STATUSES.map((s) => `'${s}'`).join(', ');

function statements(schema: string | undefined) {
  const p = schema ? `"${schema}".` : '';
  const [messages, deliveries, contents, events, meta] = ['messages', 'deliveries', 'contents', 'events', 'meta'].map((t) => p + t);
  return {
    schema: `${schema ? `CREATE SCHEMA IF NOT EXISTS "${schema}";` : ''}
      CREATE TABLE IF NOT EXISTS ${meta} (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS ${messages} (
        id TEXT PRIMARY KEY, channel TEXT NOT NULL, received_at BIGINT NOT NULL, updated_at BIGINT NOT NULL,
        status TEXT NOT NULL ${SQL_PARTS.messageStatusCheck}, source_kind TEXT NOT NULL, peer TEXT, control_id TEXT,
        sender TEXT, message_type TEXT,
        patient_key TEXT, ordering_key TEXT, duplicate_of TEXT, error TEXT,
        reprocess_count INTEGER NOT NULL DEFAULT 0, raw BYTEA NOT NULL);
      CREATE INDEX IF NOT EXISTS messages_channel_status ON ${messages} (channel, status, id);
      CREATE INDEX IF NOT EXISTS messages_received_at ON ${messages} (received_at);
      CREATE INDEX IF NOT EXISTS messages_control_id ON ${messages} (control_id);
      CREATE INDEX IF NOT EXISTS messages_patient_key ON ${messages} (patient_key);
      CREATE INDEX IF NOT EXISTS messages_duplicate ON ${messages} (channel, sender, control_id, received_at);
      CREATE TABLE IF NOT EXISTS ${deliveries} (
        message_id TEXT NOT NULL REFERENCES ${messages} (id) ON DELETE CASCADE, destination TEXT NOT NULL,
        status TEXT NOT NULL ${SQL_PARTS.deliveryStatusCheck}, attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at BIGINT, error TEXT,
        updated_at BIGINT NOT NULL, PRIMARY KEY (message_id, destination));
      CREATE INDEX IF NOT EXISTS deliveries_due ON ${deliveries} (status, next_attempt_at);
      CREATE TABLE IF NOT EXISTS ${contents} (
        message_id TEXT NOT NULL REFERENCES ${messages} (id) ON DELETE CASCADE, stage TEXT NOT NULL,
        destination TEXT NOT NULL DEFAULT '', content_type TEXT NOT NULL, content BYTEA NOT NULL,
        created_at BIGINT NOT NULL, run INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (message_id, stage, destination, run));
      CREATE TABLE IF NOT EXISTS ${events} (
        seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        message_id TEXT NOT NULL REFERENCES ${messages} (id) ON DELETE CASCADE,
        at BIGINT NOT NULL, kind TEXT NOT NULL, destination TEXT, detail TEXT);
      CREATE INDEX IF NOT EXISTS events_message ON ${events} (message_id, seq);`,
    getMarker: `SELECT value FROM ${meta} WHERE key = 'encryption'`,
    getVersion: `SELECT value FROM ${meta} WHERE key = 'schema_version'`,
    setMarker: `INSERT INTO ${meta} (key, value) VALUES ('encryption', $1), ('schema_version', '${SCHEMA_VERSION}')`,
    // 2: contents per run (see SqliteStore's migrate). Run in init's transaction, under its lock.
    migrate: `DO $$ BEGIN
      IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = '${contents}'::regclass AND attname = 'run' AND NOT attisdropped) THEN
        ALTER TABLE ${contents} ADD COLUMN run INTEGER NOT NULL DEFAULT 0;
        EXECUTE format('ALTER TABLE ${contents} DROP CONSTRAINT %I',
          (SELECT conname FROM pg_constraint WHERE conrelid = '${contents}'::regclass AND contype = 'p'));
        ALTER TABLE ${contents} ADD PRIMARY KEY (message_id, stage, destination, run);
      END IF;
      UPDATE ${meta} SET value = '${SCHEMA_VERSION}' WHERE key = 'schema_version' AND value::integer < ${SCHEMA_VERSION};
    END $$`,
    insertMany: `INSERT INTO ${messages} (${MESSAGE_COLUMNS.join(', ')}) SELECT * FROM unnest(${
      COLUMN_TYPES.map((type, i) => `$${i + 1}::${type}[]`).join(', ')})`,
    insertMessage: `INSERT INTO ${messages} (${MESSAGE_COLUMNS.join(', ')}) VALUES (${MESSAGE_COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`,
    updateMessage: `UPDATE ${messages} SET status = COALESCE($2, status),
      error = CASE WHEN $3::boolean THEN $4 ELSE error END, ordering_key = COALESCE($5, ordering_key),
      patient_key = COALESCE($6, patient_key), message_type = COALESCE($7, message_type), updated_at = $8 WHERE id = $1`,
    insertEvent: `INSERT INTO ${events} (message_id, at, kind, destination, detail) VALUES ($1, $2, $3, $4, $5)`,
    // The run is the message's reprocess count (0 when the message is missing: the foreign key then fails).
    saveContent: `INSERT INTO ${contents} AS c (message_id, stage, destination, content_type, content, created_at, run)
      VALUES ($1, $2, $3, $4, $5, $6, COALESCE((SELECT reprocess_count FROM ${messages} WHERE id = $1), 0))
      ON CONFLICT (message_id, stage, destination, run) DO UPDATE SET
      content_type = excluded.content_type, content = excluded.content, created_at = excluded.created_at`,
    setDelivery: `INSERT INTO ${deliveries} AS d (message_id, destination, status, attempts, next_attempt_at, error, updated_at)
      VALUES ($1, $2, $3, COALESCE($4::integer, 0), $6, $8, $9)
      ON CONFLICT (message_id, destination) DO UPDATE SET status = excluded.status,
      attempts = COALESCE($4::integer, d.attempts),
      next_attempt_at = CASE WHEN $5::boolean THEN excluded.next_attempt_at ELSE d.next_attempt_at END,
      error = CASE WHEN $7::boolean THEN excluded.error ELSE d.error END, updated_at = excluded.updated_at`,
    reprocess: `UPDATE ${messages} SET status = 'RECEIVED', error = NULL, reprocess_count = reprocess_count + 1,
      updated_at = $1 WHERE id = $2`,
    clearDeliveries: `DELETE FROM ${deliveries} WHERE message_id = $1`,
    getMessage: `SELECT * FROM ${messages} WHERE id = $1`,
    getDeliveries: `SELECT * FROM ${deliveries} WHERE message_id = $1 ORDER BY destination`,
    getContents: `SELECT * FROM ${contents} WHERE message_id = $1 ${SQL_PARTS.contentOrder}`,
    getEvents: `SELECT * FROM ${events} WHERE message_id = $1 ORDER BY seq`,
    findDuplicate: `SELECT id, duplicate_of FROM ${messages} WHERE channel = $1 AND sender = $2 AND control_id = $3
      AND received_at >= $4 ORDER BY id DESC LIMIT 1`,
    pendingMessages: `SELECT ${SUMMARY_COLUMNS} FROM ${messages} WHERE channel = $1 AND status IN (${STATUSES}) ORDER BY id`,
    pendingDeliveries: `SELECT d.* FROM ${deliveries} d JOIN ${messages} m ON m.id = d.message_id WHERE m.channel = $1
      AND m.status IN (${STATUSES}) ORDER BY d.message_id, d.destination`,
    // SKIP LOCKED: rows a write transaction holds are left for the next prune, never waited for.
    prune: `DELETE FROM ${messages} WHERE id IN (SELECT id FROM ${messages} WHERE received_at < $1 AND status NOT IN ('RECEIVED', 'TRANSFORMED', 'QUEUED')
      ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
    table: (sql: string) => sql.replace('FROM messages', `FROM ${messages}`),
  };
}

type Client = pg.PoolClient;

function pgCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** Data (22) and integrity (23) errors belong to one write; anything else to the transaction. */
function isPgOwnError(error: unknown): boolean {
  const code = pgCode(error);
  return isOwnError(error) || (code !== undefined && (code.startsWith('22') || code.startsWith('23')));
}

async function forMessage<T>(id: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (pgCode(error) === '23503') throw new MessageNotFoundError(id);
    throw error;
  }
}

/** Marks a receive() write, so consecutive ones can be inserted with one statement. */
const ROW = Symbol('message row');
type PgWork = Work<Client> & { [ROW]?: { id: string; values: unknown[] } };

/** A multi-row insert failed on a row of its own; the batch is retried one statement per write. */
class CoalescedInsertFailed extends Error {}

class PgRunner implements TransactionRunner<Client> {
  constructor(private readonly pool: pg.Pool, private readonly insertMany: string) {}

  async run(works: readonly PgWork[], durable: boolean): Promise<unknown[]> {
    try {
      return await this.attempt(works, durable, true);
    } catch (error) {
      // Find the write at fault (WorkFailed) by applying the batch again without coalescing.
      if (error instanceof CoalescedInsertFailed) return this.attempt(works, durable, false);
      throw error;
    }
  }

  private async attempt(works: readonly PgWork[], durable: boolean, coalesce: boolean): Promise<unknown[]> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    const fail = async (error: unknown, index: number | undefined): Promise<never> => {
      await client.query('ROLLBACK').catch((e: Error) => { broken = e; });
      if (!broken && isPgOwnError(error)) throw index === undefined ? new CoalescedInsertFailed() : new WorkFailed(index, error);
      throw error;
    };
    try {
      // Bookkeeping commits need not wait for the WAL flush: a later durable commit flushes
      // the WAL up to itself, so they never become durable out of order.
      await client.query(durable ? 'BEGIN' : 'BEGIN; SET LOCAL synchronous_commit = off');
      // The batch's statements are pipelined: every write starts at once, so its queries go
      // out without waiting for the round trip of the one before (pg's pipeline mode).
      // Statements of one write keep their order; writes of one batch never depend on each
      // other's results (a write depends only on writes committed before it was submitted).
      const segments: { first: number; run: () => Promise<unknown[]> }[] = [];
      for (let i = 0; i < works.length;) {
        let end = i;
        while (coalesce && end < works.length && works[end]![ROW]) end++;
        if (end - i >= 2) {
          // One INSERT ... SELECT FROM unnest(arrays) for a run of receive() writes.
          const rows = works.slice(i, end).map((w) => w[ROW]!);
          const columns = MESSAGE_COLUMNS.map((_, c) => rows.map((r) => r.values[c]));
          segments.push({ first: -1, run: () => client.query(this.insertMany, columns).then(() => rows.map((r) => r.id)) });
          i = end;
          continue;
        }
        const work = works[i]!;
        segments.push({ first: i, run: async () => [await work(client)] });
        i++;
      }
      const settled = await Promise.allSettled(segments.map((segment) => segment.run()));
      // The failure at fault: the others may only be "transaction aborted" (25P02) after it.
      const failed = settled.findIndex((r) => r.status === 'rejected' && pgCode(r.reason) !== '25P02');
      const fault = failed >= 0 ? failed : settled.findIndex((r) => r.status === 'rejected');
      if (fault >= 0) {
        const first = segments[fault]!.first;
        await fail((settled[fault] as PromiseRejectedResult).reason, first < 0 ? undefined : first);
      }
      const results = settled.flatMap((r) => (r as PromiseFulfilledResult<unknown[]>).value);
      await client.query('COMMIT');
      return results;
    } catch (error) {
      // A failed BEGIN/COMMIT may leave the connection unusable: do not return it to the pool.
      if (!(error instanceof WorkFailed || error instanceof CoalescedInsertFailed)) {
        broken ??= error instanceof Error ? error : new Error(String(error));
      }
      throw error;
    } finally {
      client.release(broken);
    }
  }
}

export class PostgresStore implements MessageStore {
  private readonly pool: pg.Pool;
  private readonly writer: pg.Pool;
  private readonly sql: ReturnType<typeof statements>;
  private readonly codec: RowCodec;
  private readonly batcher: GroupCommit<Client>;
  private opened = false;
  private closed = false;

  constructor(options: PostgresStoreOptions) {
    if (options.schema !== undefined && !IDENT.test(options.schema)) throw new Error(`invalid schema name: ${options.schema}`);
    this.sql = statements(options.schema);
    this.codec = new RowCodec(options.encryptionKey === undefined ? undefined : new StoreCipher(options.encryptionKey));
    this.pool = new pg.Pool({
      connectionString: options.url, max: options.poolSize ?? 4, application_name: options.applicationName ?? 'sluice-store',
    });
    // An idle client's error (server restart) must not crash the process; the next query reports it.
    this.pool.on('error', () => {});
    // The group commit's own connection, pipelined: one transaction runs at a time.
    this.writer = new pg.Pool({
      connectionString: options.url, max: 1, application_name: options.applicationName ?? 'sluice-store', pipeline: true,
    } as pg.PoolConfig);
    this.writer.on('error', () => {});
    this.batcher = new GroupCommit(new PgRunner(this.writer, this.sql.insertMany), { maxBatch: options.maxBatch });
  }

  async init(): Promise<void> {
    if (this.closed) throw new StoreClosedError();
    if (this.opened) return;
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      // Serialises concurrent first starts (CREATE ... IF NOT EXISTS is not race-free in PostgreSQL).
      await client.query("SELECT pg_advisory_xact_lock(hashtext('sluice-store-init'))");
      await client.query(this.sql.schema);
      const row = (await client.query<{ value: string }>(this.sql.getMarker)).rows[0];
      checkMarker(row?.value, this.codec);
      if (!row) await client.query(this.sql.setMarker, [this.codec.encryptionMarker]);
      checkSchemaVersion((await client.query<{ value: string }>(this.sql.getVersion)).rows[0]?.value);
      await client.query(this.sql.migrate);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    } finally {
      client.release();
    }
    this.opened = true;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.batcher.close();
    await Promise.all([this.pool.end(), this.writer.end()]);
  }

  stats(): StoreStats {
    return this.batcher.stats;
  }

  private ready(): void {
    if (this.closed) throw new StoreClosedError();
    if (!this.opened) throw new Error('message store is not open (call init())');
  }

  /**
   * `durable` only for intake (receive) and reprocess marks: the other writes are bookkeeping
   * that recovery redoes. `ahead` for intake: it depends on no earlier write, so it commits
   * before the bookkeeping of its batch (see GroupCommit).
   */
  private write<T>(work: (client: Client) => Promise<T>, durable = false, ahead = false): Promise<T> {
    try {
      this.ready();
    } catch (error) {
      return Promise.reject(error);
    }
    return this.batcher.submit(work, { durable, ahead });
  }

  private async query<R extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<R[]> {
    this.ready();
    return (await this.pool.query<R>(text, values)).rows;
  }

  private event(c: Client, id: string, event: Omit<MessageEvent, 'at'>, at: number): Promise<unknown> {
    return forMessage(id, () => c.query(this.sql.insertEvent, [id, at, event.kind, event.destination ?? null, this.codec.detail(id, event.detail)]));
  }

  receive(message: NewMessage): Promise<string> {
    const id = ulid();
    let values: unknown[];
    try {
      values = this.codec.messageValues(id, message, Date.now());
    } catch (error) {
      return Promise.reject(error);
    }
    const work = Object.assign(async (c: Client) => {
      await c.query(this.sql.insertMessage, values);
      return id;
    }, { [ROW]: { id, values } });
    return this.write(work, true, true);
  }

  async findDuplicate(channel: string, sender: string, controlId: string, since: number): Promise<string | undefined> {
    const row = (await this.query<{ id: string; duplicate_of: string | null }>(this.sql.findDuplicate, [channel, sender, controlId, since]))[0];
    return row ? (row.duplicate_of ?? row.id) : undefined;
  }

  updateMessage(id: string, patch: MessagePatch, event?: Omit<MessageEvent, 'at'>): Promise<void> {
    return this.write(async (c) => {
      const now = Date.now();
      const result = await c.query(this.sql.updateMessage, [
        id, patch.status ?? null, patch.error !== undefined, patch.error === undefined ? null : this.codec.error(id, patch.error),
        patch.orderingKey === undefined ? null : this.codec.orderingKey(id, patch.orderingKey),
        this.codec.patientKey(patch.patientId), patch.messageType ?? null, now,
      ]);
      if (result.rowCount === 0) throw new MessageNotFoundError(id);
      if (event) await this.event(c, id, event, now);
    });
  }

  saveContent(id: string, stage: ContentStage, content: Uint8Array | string, contentType: string, destination = ''): Promise<void> {
    return this.write(async (c) => {
      const stored = this.codec.content(id, stage, destination, content);
      await forMessage(id, () => c.query(this.sql.saveContent, [id, stage, destination, contentType, stored, Date.now()]));
    });
  }

  setDelivery(id: string, destination: string, update: DeliveryUpdate, event?: Omit<MessageEvent, 'at'>): Promise<void> {
    return this.write(async (c) => {
      const now = Date.now();
      await forMessage(id, () => c.query(this.sql.setDelivery, [
        id, destination, update.status, update.attempts ?? null, update.nextAttemptAt !== undefined,
        update.nextAttemptAt ?? null, update.error !== undefined, this.codec.deliveryError(id, destination, update.error), now,
      ]));
      if (event) await this.event(c, id, { ...event, destination: event.destination ?? destination }, now);
    });
  }

  markForReprocess(id: string, reason?: string): Promise<void> {
    return this.write(async (c) => {
      const now = Date.now();
      if ((await c.query(this.sql.reprocess, [now, id])).rowCount === 0) throw new MessageNotFoundError(id);
      await c.query(this.sql.clearDeliveries, [id]);
      await this.event(c, id, { kind: 'reprocess', detail: reason }, now);
    }, true); // durable: a user's request, nothing else would redo it
  }

  async get(id: string): Promise<MessageDetail | undefined> {
    const row = (await this.query<MessageRow & { raw: Buffer }>(this.sql.getMessage, [id]))[0];
    if (!row) return undefined;
    const [deliveries, contents, events] = await Promise.all([
      this.query<DeliveryRow>(this.sql.getDeliveries, [id]),
      this.query<ContentRow>(this.sql.getContents, [id]),
      this.query<EventRow>(this.sql.getEvents, [id]),
    ]);
    return {
      ...this.codec.message(row),
      raw: this.codec.raw(id, row.raw),
      deliveries: deliveries.map((r) => this.codec.delivery(r)),
      contents: contents.map((r) => this.codec.storedContent(r)),
      events: events.map((r) => this.codec.event(r)),
    };
  }

  async search(filter: MessageFilter): Promise<StoredMessage[]> {
    const q = searchQuery(filter, this.codec, (n) => `$${n}`);
    return (await this.query<MessageRow>(this.sql.table(q.sql), q.params)).map((r) => this.codec.message(r));
  }

  async pending(channel: string): Promise<PendingWork[]> {
    this.ready();
    const client = await this.pool.connect();
    let messageRows: MessageRow[];
    let deliveryRows: DeliveryRow[];
    let failed: Error | undefined;
    try {
      // One snapshot for both queries.
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      messageRows = (await client.query<MessageRow>(this.sql.pendingMessages, [channel])).rows;
      deliveryRows = (await client.query<DeliveryRow>(this.sql.pendingDeliveries, [channel])).rows;
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch((e: Error) => { failed = e; });
      throw error;
    } finally {
      client.release(failed);
    }
    const deliveries = byMessage(deliveryRows.map((r) => this.codec.delivery(r)));
    return messageRows.map((r) => this.codec.message(r)).map((message) => ({ message, deliveries: deliveries.get(message.id) ?? [] }));
  }

  async prune(before: number, batchSize = 500): Promise<number> {
    this.ready();
    const size = Math.max(1, Math.floor(batchSize));
    let total = 0;
    for (;;) {
      // Each batch is its own autocommit statement: short locks, intake keeps going.
      const deleted = (await this.pool.query(this.sql.prune, [before, size])).rowCount ?? 0;
      total += deleted;
      if (deleted < size) return total;
    }
  }
}
