import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { ulid } from '../ids.js';
import { Checkpointer } from './checkpointer.js';
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
 * SQLite message store (better-sqlite3, one connection, WAL).
 *
 * Durability: `synchronous = FULL` by default for batches that hold an intake (receive): in
 * WAL mode FULL fsyncs the WAL at the commit, so an ACKed message survives a power loss or OS
 * crash, not only a process crash. Bookkeeping-only batches run at NORMAL (no fsync): recovery
 * redoes them, and the next FULL commit's fsync covers them (README.md, "Durability").
 * Group commit makes FULL affordable: one fsync per batch (bench/store.ts).
 *
 * better-sqlite3 is synchronous: every statement, and each group-commit transaction, runs to
 * completion on the event loop, so no other code can observe a transaction half done.
 * Deleted rows are overwritten (`secure_delete`), so pruned PHI does not linger in free pages.
 */

export interface SqliteStoreOptions {
  /** Directory for `sluice.db` (created if missing). Ignored when `file` is set. */
  readonly dataDir?: string;
  /** Full path of the database file. */
  readonly file?: string;
  readonly encryptionKey?: string | Uint8Array;
  /** Most writes per transaction (default 1000; 1 = a transaction per write, for comparison). */
  readonly maxBatch?: number;
  /** Default FULL; see the durability note above. */
  readonly synchronous?: 'FULL' | 'NORMAL';
  /** How long a write waits for another process's lock (default 5000 ms). */
  readonly busyTimeoutMs?: number;
  /** How often the background checkpointer copies the WAL into the database (default 100 ms). */
  readonly checkpointIntervalMs?: number;
  /**
   * The WAL's size, in 4 KiB pages, at which the writer copies the last frames itself so the
   * WAL starts again from its beginning (see Checkpointer; default 4096, 16 MiB).
   */
  readonly walRestartFrames?: number;
  /** Told about a failed background checkpoint (the next one retries) or a checkpoint worker that died. */
  readonly onCheckpointError?: (message: string) => void;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS messages (
  id TEXT PRIMARY KEY, channel TEXT NOT NULL, received_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
  status TEXT NOT NULL ${SQL_PARTS.messageStatusCheck}, source_kind TEXT NOT NULL, peer TEXT, control_id TEXT,
  sender TEXT, message_type TEXT,
  patient_key TEXT, ordering_key TEXT, duplicate_of TEXT, error TEXT,
  reprocess_count INTEGER NOT NULL DEFAULT 0, raw BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS messages_channel_status ON messages (channel, status, id);
CREATE INDEX IF NOT EXISTS messages_received_at ON messages (received_at);
CREATE INDEX IF NOT EXISTS messages_control_id ON messages (control_id);
CREATE INDEX IF NOT EXISTS messages_patient_key ON messages (patient_key);
CREATE INDEX IF NOT EXISTS messages_duplicate ON messages (channel, sender, control_id, received_at);
CREATE TABLE IF NOT EXISTS deliveries (
  message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE, destination TEXT NOT NULL,
  status TEXT NOT NULL ${SQL_PARTS.deliveryStatusCheck}, attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER, error TEXT,
  updated_at INTEGER NOT NULL, PRIMARY KEY (message_id, destination));
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, next_attempt_at);
CREATE TABLE IF NOT EXISTS contents (
  message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE, stage TEXT NOT NULL,
  destination TEXT NOT NULL DEFAULT '', content_type TEXT NOT NULL, content BLOB NOT NULL,
  created_at INTEGER NOT NULL, run INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (message_id, stage, destination, run));
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY, message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
  at INTEGER NOT NULL, kind TEXT NOT NULL, destination TEXT, detail TEXT);
CREATE INDEX IF NOT EXISTS events_message ON events (message_id, seq);
`;

const SQL = {
  insertMessage: `INSERT INTO messages (${MESSAGE_COLUMNS.join(', ')}) VALUES (${MESSAGE_COLUMNS.map(() => '?').join(', ')})`,
  updateMessage: `UPDATE messages SET status = COALESCE(@status, status),
    error = CASE WHEN @setError THEN @error ELSE error END, ordering_key = COALESCE(@orderingKey, ordering_key),
    patient_key = COALESCE(@patientKey, patient_key), message_type = COALESCE(@messageType, message_type),
    updated_at = @now WHERE id = @id`,
  insertEvent: 'INSERT INTO events (message_id, at, kind, destination, detail) VALUES (?, ?, ?, ?, ?)',
  // The run is the message's reprocess count (0 when the message is missing: the foreign key then fails).
  saveContent: `INSERT INTO contents (message_id, stage, destination, content_type, content, created_at, run)
    VALUES (?, ?, ?, ?, ?, ?, COALESCE((SELECT reprocess_count FROM messages WHERE id = ?), 0))
    ON CONFLICT (message_id, stage, destination, run) DO UPDATE SET
    content_type = excluded.content_type, content = excluded.content, created_at = excluded.created_at`,
  setDelivery: `INSERT INTO deliveries (message_id, destination, status, attempts, next_attempt_at, error, updated_at)
    VALUES (@id, @destination, @status, COALESCE(@attempts, 0), @next, @error, @now)
    ON CONFLICT (message_id, destination) DO UPDATE SET status = excluded.status,
    attempts = COALESCE(@attempts, attempts),
    next_attempt_at = CASE WHEN @setNext THEN excluded.next_attempt_at ELSE next_attempt_at END,
    error = CASE WHEN @setError THEN excluded.error ELSE error END, updated_at = excluded.updated_at`,
  reprocess: `UPDATE messages SET status = 'RECEIVED', error = NULL, reprocess_count = reprocess_count + 1,
    updated_at = ? WHERE id = ?`,
  clearDeliveries: 'DELETE FROM deliveries WHERE message_id = ?',
  getMessage: 'SELECT * FROM messages WHERE id = ?',
  getDeliveries: 'SELECT * FROM deliveries WHERE message_id = ? ORDER BY destination',
  getContents: `SELECT * FROM contents WHERE message_id = ? ${SQL_PARTS.contentOrder}`,
  getEvents: 'SELECT * FROM events WHERE message_id = ? ORDER BY seq',
  findDuplicate: `SELECT id, duplicate_of FROM messages WHERE channel = ? AND sender = ? AND control_id = ?
    AND received_at >= ? ORDER BY id DESC LIMIT 1`,
  pendingMessages: `SELECT ${SUMMARY_COLUMNS} FROM messages WHERE channel = ? AND status IN
    (${PENDING_STATUSES.map((s) => `'${s}'`).join(', ')}) ORDER BY id`,
  pendingDeliveries: `SELECT d.* FROM deliveries d JOIN messages m ON m.id = d.message_id WHERE m.channel = ?
    AND m.status IN (${PENDING_STATUSES.map((s) => `'${s}'`).join(', ')}) ORDER BY d.message_id, d.destination`,
  prune: `DELETE FROM messages WHERE id IN
    (SELECT id FROM messages WHERE received_at < ? AND status NOT IN ('RECEIVED', 'TRANSFORMED', 'QUEUED') ORDER BY received_at LIMIT ?)`,
} as const;

type Statements = { [K in keyof typeof SQL]: Database.Statement };

/**
 * Brings a store made by an earlier version up to date, inside init's transaction.
 * 2: contents per run (`run`, in the primary key), so reprocessing keeps the first run's.
 * SQLite cannot change a primary key in place: the table is copied.
 */
function migrate(db: Database.Database): void {
  const version = db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string } | undefined;
  checkSchemaVersion(version?.value);
  const columns = db.prepare('PRAGMA table_info(contents)').all() as { name: string }[];
  if (!columns.some((c) => c.name === 'run')) {
    db.exec(`
      CREATE TABLE contents_v2 (
        message_id TEXT NOT NULL REFERENCES messages (id) ON DELETE CASCADE, stage TEXT NOT NULL,
        destination TEXT NOT NULL DEFAULT '', content_type TEXT NOT NULL, content BLOB NOT NULL,
        created_at INTEGER NOT NULL, run INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (message_id, stage, destination, run));
      INSERT INTO contents_v2 (message_id, stage, destination, content_type, content, created_at, run)
        SELECT message_id, stage, destination, content_type, content, created_at, 0 FROM contents;
      DROP TABLE contents;
      ALTER TABLE contents_v2 RENAME TO contents;`);
  }
  db.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version' AND CAST(value AS INTEGER) < ?").run(String(SCHEMA_VERSION), SCHEMA_VERSION);
}

function isSqliteOwnError(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return isOwnError(error) || (typeof code === 'string' &&
    (code.startsWith('SQLITE_CONSTRAINT') || code === 'SQLITE_MISMATCH' || code === 'SQLITE_TOOBIG'));
}

/** A missing parent row shows up as a foreign key failure; report it as "message not found". */
function forMessage<T>(id: string, run: () => T): T {
  try {
    return run();
  } catch (error) {
    if ((error as { code?: unknown }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY') throw new MessageNotFoundError(id);
    throw error;
  }
}

class SqliteRunner implements TransactionRunner<void> {
  private syncing: boolean;
  /** Set by the Checkpointer after each round: copy the frames written meanwhile (see there). */
  catchUp = false;

  /** `fsync`: FULL for durable batches (configured FULL); otherwise every batch is NORMAL. */
  constructor(private readonly db: Database.Database, private readonly fsync: boolean) {
    this.syncing = fsync;
  }

  // Synchronous from BEGIN to COMMIT: nothing else runs on the connection in between.
  async run(works: readonly Work<void>[], durable: boolean): Promise<unknown[]> {
    // WAL is append-only: a FULL commit's fsync also covers the NORMAL commits before it, so
    // bookkeeping can skip the fsync without ever becoming durable ahead of an intake.
    const sync = this.fsync && durable;
    if (sync !== this.syncing) {
      // Not a prepared statement: SQLite applies this pragma when it is compiled.
      this.db.exec(sync ? 'PRAGMA synchronous = FULL' : 'PRAGMA synchronous = NORMAL');
      this.syncing = sync;
    }
    if (this.catchUp) {
      this.catchUp = false;
      this.db.pragma('wal_checkpoint(PASSIVE)');
    }
    const results: unknown[] = [];
    this.db.exec('BEGIN IMMEDIATE');
    let i = 0;
    try {
      for (; i < works.length; i++) results.push(works[i]!());
      this.db.exec('COMMIT');
    } catch (error) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      if (i < works.length && isSqliteOwnError(error)) throw new WorkFailed(i, error);
      throw error;
    }
    return results;
  }
}

export class SqliteStore implements MessageStore {
  readonly file: string;
  private db?: Database.Database;
  private st?: Statements;
  private batcher?: GroupCommit<void>;
  private checkpointer?: Checkpointer;
  private readonly codec: RowCodec;
  private closed = false;
  /** Prepared search statements by SQL text (at most one per combination of filters). */
  private readonly searches = new Map<string, Database.Statement>();

  constructor(private readonly options: SqliteStoreOptions) {
    if (!options.file && !options.dataDir) throw new Error('SqliteStore needs dataDir or file');
    this.file = options.file ?? path.join(options.dataDir!, 'sluice.db');
    this.codec = new RowCodec(options.encryptionKey === undefined ? undefined : new StoreCipher(options.encryptionKey));
  }

  async init(): Promise<void> {
    if (this.closed) throw new StoreClosedError();
    if (this.db) return;
    mkdirSync(path.dirname(this.file), { recursive: true });
    const db = new Database(this.file, { timeout: this.options.busyTimeoutMs ?? 5000 });
    try {
      db.pragma('journal_mode = WAL');
      db.pragma(`synchronous = ${this.options.synchronous === 'NORMAL' ? 'NORMAL' : 'FULL'}`);
      db.pragma('foreign_keys = ON');
      db.pragma('secure_delete = ON');
      // Truncate the WAL back to 64 MiB after a checkpoint (it can grow during a large prune).
      db.pragma('journal_size_limit = 67108864');
      // Checkpoints run on the Checkpointer's thread, not inside a COMMIT on the event loop.
      db.pragma('wal_autocheckpoint = 0');
      db.transaction(() => {
        db.exec(SCHEMA);
        const row = db.prepare("SELECT value FROM meta WHERE key = 'encryption'").get() as { value: string } | undefined;
        checkMarker(row?.value, this.codec);
        if (!row) {
          db.prepare(`INSERT INTO meta (key, value) VALUES ('encryption', ?), ('schema_version', '${SCHEMA_VERSION}')`).run(this.codec.encryptionMarker);
        }
        migrate(db);
      }).immediate();
    } catch (error) {
      db.close();
      throw error;
    }
    this.st = Object.fromEntries(Object.entries(SQL).map(([k, sql]) => [k, db.prepare(sql)])) as Statements;
    const runner = new SqliteRunner(db, this.options.synchronous !== 'NORMAL');
    const restartFrames = Math.max(1, this.options.walRestartFrames ?? 4096);
    try {
      this.checkpointer = new Checkpointer({
        file: this.file, intervalMs: this.options.checkpointIntervalMs, onError: this.options.onCheckpointError,
        onRound: (frames) => { if (frames >= restartFrames) runner.catchUp = true; },
        onExit: (code) => {
          // Without the worker the WAL would grow without bound: SQLite checkpoints itself again.
          if (!this.closed) db.pragma('wal_autocheckpoint = 1000');
          this.options.onCheckpointError?.(`checkpoint worker stopped (exit code ${code}); checkpoints run inside commits again`);
        },
      });
    } catch (error) {
      db.close();
      throw error;
    }
    this.batcher = new GroupCommit(runner, { maxBatch: this.options.maxBatch });
    this.db = db;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const db = this.db;
    if (!db) return;
    await this.batcher!.close();
    await this.checkpointer?.stop();
    // The last connection to close checkpoints the WAL into the database and removes it.
    db.close();
  }

  stats(): StoreStats {
    return this.batcher ? this.batcher.stats : { transactions: 0, durableTransactions: 0, failedTransactions: 0, writes: 0, largestBatch: 0 };
  }

  private ready(): { st: Statements; batcher: GroupCommit<void> } {
    if (this.closed) throw new StoreClosedError();
    if (!this.st || !this.batcher || !this.db) throw new Error('message store is not open (call init())');
    return { st: this.st, batcher: this.batcher };
  }

  /**
   * `durable` only for intake (receive) and reprocess marks: the other writes are bookkeeping
   * that recovery redoes. `ahead` for intake: it depends on no earlier write, so it commits
   * before the bookkeeping of its batch (see GroupCommit).
   */
  private write<T>(work: (st: Statements) => T, durable = false, ahead = false): Promise<T> {
    try {
      const { st, batcher } = this.ready();
      return batcher.submit(() => work(st), { durable, ahead }) as Promise<T>;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private event(st: Statements, id: string, event: Omit<MessageEvent, 'at'>, at: number): void {
    forMessage(id, () => st.insertEvent.run(id, at, event.kind, event.destination ?? null, this.codec.detail(id, event.detail)));
  }

  receive(message: NewMessage): Promise<string> {
    const id = ulid();
    return this.write((st) => {
      st.insertMessage.run(...this.codec.messageValues(id, message, Date.now()));
      return id;
    }, true, true);
  }

  async findDuplicate(channel: string, sender: string, controlId: string, since: number): Promise<string | undefined> {
    const row = this.ready().st.findDuplicate.get(channel, sender, controlId, since) as { id: string; duplicate_of: string | null } | undefined;
    return row ? (row.duplicate_of ?? row.id) : undefined;
  }

  updateMessage(id: string, patch: MessagePatch, event?: Omit<MessageEvent, 'at'>): Promise<void> {
    return this.write((st) => {
      const now = Date.now();
      const changed = st.updateMessage.run({
        id, now, status: patch.status ?? null, setError: patch.error !== undefined ? 1 : 0,
        error: patch.error === undefined ? null : this.codec.error(id, patch.error),
        orderingKey: patch.orderingKey === undefined ? null : this.codec.orderingKey(id, patch.orderingKey),
        patientKey: this.codec.patientKey(patch.patientId), messageType: patch.messageType ?? null,
      }).changes;
      if (changed === 0) throw new MessageNotFoundError(id);
      if (event) this.event(st, id, event, now);
    });
  }

  saveContent(id: string, stage: ContentStage, content: Uint8Array | string, contentType: string, destination = ''): Promise<void> {
    return this.write((st) => {
      const stored = this.codec.content(id, stage, destination, content);
      forMessage(id, () => st.saveContent.run(id, stage, destination, contentType, stored, Date.now(), id));
    });
  }

  setDelivery(id: string, destination: string, update: DeliveryUpdate, event?: Omit<MessageEvent, 'at'>): Promise<void> {
    return this.write((st) => {
      const now = Date.now();
      forMessage(id, () => st.setDelivery.run({
        id, destination, status: update.status, attempts: update.attempts ?? null, now,
        setNext: update.nextAttemptAt !== undefined ? 1 : 0, next: update.nextAttemptAt ?? null,
        setError: update.error !== undefined ? 1 : 0, error: this.codec.deliveryError(id, destination, update.error),
      }));
      if (event) this.event(st, id, { ...event, destination: event.destination ?? destination }, now);
    });
  }

  markForReprocess(id: string, reason?: string): Promise<void> {
    return this.write((st) => {
      const now = Date.now();
      if (st.reprocess.run(now, id).changes === 0) throw new MessageNotFoundError(id);
      st.clearDeliveries.run(id);
      this.event(st, id, { kind: 'reprocess', detail: reason }, now);
    }, true); // durable: a user's request, nothing else would redo it
  }

  async get(id: string): Promise<MessageDetail | undefined> {
    const { st } = this.ready();
    const row = st.getMessage.get(id) as (MessageRow & { raw: Uint8Array }) | undefined;
    if (!row) return undefined;
    return {
      ...this.codec.message(row),
      raw: this.codec.raw(id, row.raw),
      deliveries: (st.getDeliveries.all(id) as DeliveryRow[]).map((r) => this.codec.delivery(r)),
      contents: (st.getContents.all(id) as ContentRow[]).map((r) => this.codec.storedContent(r)),
      events: (st.getEvents.all(id) as EventRow[]).map((r) => this.codec.event(r)),
    };
  }

  async search(filter: MessageFilter): Promise<StoredMessage[]> {
    this.ready();
    const q = searchQuery(filter, this.codec, () => '?');
    let statement = this.searches.get(q.sql);
    if (!statement) this.searches.set(q.sql, (statement = this.db!.prepare(q.sql)));
    return (statement.all(...q.params) as MessageRow[]).map((r) => this.codec.message(r));
  }

  async pending(channel: string): Promise<PendingWork[]> {
    const { st } = this.ready();
    const messages = (st.pendingMessages.all(channel) as MessageRow[]).map((r) => this.codec.message(r));
    const deliveries = byMessage((st.pendingDeliveries.all(channel) as DeliveryRow[]).map((r) => this.codec.delivery(r)));
    return messages.map((message) => ({ message, deliveries: deliveries.get(message.id) ?? [] }));
  }

  async prune(before: number, batchSize = 500): Promise<number> {
    const size = Math.max(1, Math.floor(batchSize));
    let total = 0;
    for (;;) {
      // Each batch is one short autocommit transaction; intake runs between batches.
      const deleted = this.ready().st.prune.run(before, size).changes;
      total += deleted;
      if (deleted < size) return total;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
}
