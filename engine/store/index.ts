import { PostgresStore } from './postgres.js';
import { SqliteStore } from './sqlite.js';
import type { MessageStore } from './types.js';

export * from './types.js';
export { GroupCommit, StoreClosedError, WorkFailed, type BatcherOptions, type BatcherStats } from './batcher.js';
export { DecryptionError, EncryptionKeyError, StoreCipher, generateKey, parseKey } from './crypto.js';
export { MessageNotFoundError } from './rows.js';
export { PostgresStore, type PostgresStoreOptions } from './postgres.js';
export { SqliteStore, type SqliteStoreOptions } from './sqlite.js';

export interface OpenStoreOptions {
  /**
   * postgres:// or postgresql:// for PostgreSQL; `sqlite:PATH` or `file:PATH` for a SQLite file
   * elsewhere than `dataDir`; nothing (or anything else) means SQLite at `<dataDir>/sluice.db`.
   */
  readonly url?: string;
  /** Where `sluice.db` lives for SQLite. */
  readonly dataDir: string;
  /** 32 bytes as base64, or a Buffer: turns on encryption at rest. */
  readonly encryptionKey?: string | Buffer;
  /** PostgreSQL schema for the tables (created if missing). */
  readonly schema?: string;
  /** Most writes per group-commit transaction (default 1000). */
  readonly maxBatch?: number;
  /** Told about failures of background work (SQLite checkpoints), which has no caller to reject. */
  readonly onBackgroundError?: (message: string) => void;
}

export function isPostgresUrl(url: string | undefined): url is string {
  return url !== undefined && /^postgres(ql)?:\/\//i.test(url);
}

function sqliteFile(url: string | undefined): string | undefined {
  const match = url === undefined ? null : /^(?:sqlite|file):(?:\/\/)?(.+)$/i.exec(url);
  return match?.[1];
}

/** Opens (and initialises) the message store the options describe. */
export async function openStore(options: OpenStoreOptions): Promise<MessageStore> {
  const { encryptionKey, maxBatch, onBackgroundError } = options;
  const store: MessageStore = isPostgresUrl(options.url)
    ? new PostgresStore({ url: options.url, schema: options.schema, encryptionKey, maxBatch })
    : new SqliteStore({ dataDir: options.dataDir, file: sqliteFile(options.url), encryptionKey, maxBatch, onCheckpointError: onBackgroundError });
  try {
    await store.init();
  } catch (error) {
    await store.close().catch(() => {});
    throw error;
  }
  return store;
}
