import { EncryptionKeyError, type StoreCipher } from './crypto.js';
import type {
  ContentStage, Delivery, DeliveryStatus, MessageEvent, MessageFilter, MessageStatus, NewMessage, StoredContent,
  StoredMessage,
} from './types.js';

/**
 * What both backends share: column lists, the mapping between rows and the store's types,
 * and which fields are encrypted when a key is configured.
 *
 * Encrypted with a key (AES-256-GCM, bound to row and column):
 *   messages.raw, messages.error, messages.ordering_key (the patient id by default),
 *   contents.content, deliveries.error, events.detail.
 * Stored as a keyed HMAC (blind index): messages.patient_key.
 * A content's binding does not name its run (the run is decided inside the INSERT, after
 * encryption): one message's contents of a stage could be swapped between its runs.
 * Plaintext (needed for indexes, not patient data): ids, channel, status, times, source kind,
 * peer address, control id, sender (MSH-3^MSH-4), message type, destination names, event kinds.
 */

export const MESSAGE_COLUMNS = [
  'id', 'channel', 'received_at', 'updated_at', 'status', 'source_kind', 'peer', 'control_id', 'sender',
  'message_type', 'patient_key', 'ordering_key', 'duplicate_of', 'error', 'reprocess_count', 'raw',
] as const;

/** Columns of `messages` without `raw`, for listings. */
export const SUMMARY_COLUMNS = MESSAGE_COLUMNS.filter((c) => c !== 'raw' && c !== 'patient_key').join(', ');

const MESSAGE_STATUSES: readonly MessageStatus[] = ['RECEIVED', 'FILTERED', 'TRANSFORMED', 'QUEUED', 'SENT', 'ERROR'];
const DELIVERY_STATUSES: readonly DeliveryStatus[] = ['PENDING', 'QUEUED', 'SENT', 'FILTERED', 'ERROR'];
const STAGES: readonly ContentStage[] = ['raw', 'transformed', 'encoded', 'sent', 'response'];
const list = (values: readonly string[]) => values.map((v) => `'${v}'`).join(', ');

/** SQL fragments both schemas use. */
export const SQL_PARTS = {
  messageStatusCheck: `CHECK (status IN (${list(MESSAGE_STATUSES)}))`,
  deliveryStatusCheck: `CHECK (status IN (${list(DELIVERY_STATUSES)}))`,
  /** Contents by run, in pipeline order, then by destination. */
  contentOrder: `ORDER BY run, CASE stage ${STAGES.map((s, i) => `WHEN '${s}' THEN ${i}`).join(' ')} ELSE ${STAGES.length} END, destination`,
};

export const PENDING_STATUSES: readonly MessageStatus[] = ['RECEIVED', 'TRANSFORMED', 'QUEUED'];

/** Error for a write naming a message that does not exist (e.g. pruned). */
export class MessageNotFoundError extends Error {
  constructor(readonly messageId: string) {
    super(`message ${messageId} not found`);
    this.name = 'MessageNotFoundError';
  }
}

type Num = number | string | bigint;
export interface MessageRow {
  id: string; channel: string; received_at: Num; updated_at: Num; status: string; source_kind: string;
  peer: string | null; control_id: string | null; sender: string | null; message_type: string | null;
  ordering_key: string | null; duplicate_of: string | null; error: string | null; reprocess_count: Num;
  raw?: Uint8Array;
}
export interface DeliveryRow {
  message_id: string; destination: string; status: string; attempts: Num; next_attempt_at: Num | null;
  error: string | null; updated_at: Num;
}
export interface ContentRow {
  message_id: string; run: Num; stage: string; destination: string; content_type: string; content: Uint8Array; created_at: Num;
}
export interface EventRow {
  message_id: string; at: Num; kind: string; destination: string | null; detail: string | null;
}

function num(value: Num): number {
  return Number(value);
}

function opt<T>(value: T | null | undefined): T | undefined {
  return value === null ? undefined : value;
}

/** Drops keys whose value is undefined, so returned objects list only what is set. */
function compact<T extends object>(value: T): T {
  for (const key of Object.keys(value) as (keyof T)[]) if (value[key] === undefined) delete value[key];
  return value;
}

const where = {
  raw: (id: string) => `messages.raw|${id}`,
  error: (id: string) => `messages.error|${id}`,
  orderingKey: (id: string) => `messages.ordering_key|${id}`,
  content: (id: string, stage: string, destination: string) => `contents.content|${id}|${stage}|${destination}`,
  deliveryError: (id: string, destination: string) => `deliveries.error|${id}|${destination}`,
  detail: (id: string) => `events.detail|${id}`,
};

/** Turns values into what is stored and back, encrypting when a cipher is configured. */
export class RowCodec {
  constructor(readonly cipher?: StoreCipher) {}

  /** The value kept in the `meta` table to recognise the key (or its absence) on the next open. */
  get encryptionMarker(): string {
    return this.cipher ? this.cipher.keyCheck : 'none';
  }

  private sealText(value: string | null | undefined, at: string): string | null {
    if (value === undefined || value === null) return null;
    return this.cipher ? this.cipher.sealText(value, at) : value;
  }

  private openText(value: string | null, at: string): string | undefined {
    if (value === null) return undefined;
    return this.cipher ? this.cipher.openText(value, at) : value;
  }

  private sealBytes(value: Uint8Array, at: string): Buffer {
    return this.cipher ? this.cipher.seal(value, at) : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  }

  private openBytes(value: Uint8Array, at: string): Uint8Array {
    return this.cipher ? this.cipher.open(value, at) : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  }

  patientKey(patientId: string | undefined): string | null {
    if (patientId === undefined) return null;
    return this.cipher ? this.cipher.blindIndex(patientId) : patientId;
  }

  /** Values for MESSAGE_COLUMNS, in that order. */
  messageValues(id: string, m: NewMessage, now: number): unknown[] {
    const status: MessageStatus = m.status ?? (m.duplicateOf ? 'FILTERED' : 'RECEIVED');
    return [
      id, m.channel, m.receivedAt, now, status, m.sourceKind, m.peer ?? null, m.controlId ?? null, m.sender ?? null,
      m.messageType ?? null, this.patientKey(m.patientId), this.sealText(m.orderingKey, where.orderingKey(id)),
      m.duplicateOf ?? null, this.sealText(m.error, where.error(id)), 0, this.sealBytes(m.raw, where.raw(id)),
    ];
  }

  error(id: string, error: string | null): string | null {
    return this.sealText(error, where.error(id));
  }

  orderingKey(id: string, key: string): string | null {
    return this.sealText(key, where.orderingKey(id));
  }

  content(id: string, stage: string, destination: string, content: Uint8Array | string): Buffer {
    const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
    return this.sealBytes(bytes, where.content(id, stage, destination));
  }

  deliveryError(id: string, destination: string, error: string | null | undefined): string | null {
    return this.sealText(error, where.deliveryError(id, destination));
  }

  detail(id: string, detail: string | undefined): string | null {
    return this.sealText(detail, where.detail(id));
  }

  message(row: MessageRow): StoredMessage {
    return compact({
      id: row.id,
      channel: row.channel,
      receivedAt: num(row.received_at),
      updatedAt: num(row.updated_at),
      status: row.status as MessageStatus,
      sourceKind: row.source_kind,
      peer: opt(row.peer),
      controlId: opt(row.control_id),
      sender: opt(row.sender),
      messageType: opt(row.message_type),
      orderingKey: this.openText(row.ordering_key, where.orderingKey(row.id)),
      duplicateOf: opt(row.duplicate_of),
      error: this.openText(row.error, where.error(row.id)),
      reprocessCount: num(row.reprocess_count),
    });
  }

  raw(id: string, stored: Uint8Array): Uint8Array {
    return this.openBytes(stored, where.raw(id));
  }

  delivery(row: DeliveryRow): Delivery {
    return compact({
      messageId: row.message_id,
      destination: row.destination,
      status: row.status as DeliveryStatus,
      attempts: num(row.attempts),
      nextAttemptAt: row.next_attempt_at === null ? undefined : num(row.next_attempt_at),
      error: this.openText(row.error, where.deliveryError(row.message_id, row.destination)),
      updatedAt: num(row.updated_at),
    });
  }

  storedContent(row: ContentRow): StoredContent {
    return {
      run: num(row.run),
      stage: row.stage as ContentStage,
      destination: row.destination,
      contentType: row.content_type,
      content: this.openBytes(row.content, where.content(row.message_id, row.stage, row.destination)),
      createdAt: num(row.created_at),
    };
  }

  event(row: EventRow): MessageEvent {
    return compact({
      at: num(row.at),
      kind: row.kind,
      destination: opt(row.destination),
      detail: this.openText(row.detail, where.detail(row.message_id)),
    });
  }
}

/** Groups deliveries by message id, keeping their order. */
export function byMessage(rows: readonly Delivery[]): Map<string, Delivery[]> {
  const map = new Map<string, Delivery[]>();
  for (const d of rows) {
    const list = map.get(d.messageId);
    if (list) list.push(d);
    else map.set(d.messageId, [d]);
  }
  return map;
}

/** The store schema this code reads and writes (see README.md, "Schema versions"). */
export const SCHEMA_VERSION = 2;

/**
 * Throws for a store made by a newer Sluice: this code would write rows that version does
 * not expect (and read ones it does not know), so it must not open it.
 */
export function checkSchemaVersion(stored: string | undefined): void {
  if (stored === undefined) return;
  const version = Number(stored);
  if (!Number.isInteger(version) || version < 1) throw new Error(`the message store's schema version ${JSON.stringify(stored)} is not one this Sluice knows`);
  if (version > SCHEMA_VERSION) {
    throw new Error(`the message store has schema version ${version}, written by a newer Sluice; this Sluice knows up to ${SCHEMA_VERSION}: run the newer version`);
  }
}

export function checkMarker(stored: string | undefined, codec: RowCodec): void {
  if (stored === undefined) return;
  if (stored === codec.encryptionMarker) return;
  if (stored === 'none') throw new EncryptionKeyError('the message store was created without encryption; remove encryptionKey or use a new store');
  if (!codec.cipher) throw new EncryptionKeyError('the message store is encrypted; an encryptionKey is required to open it');
  throw new EncryptionKeyError('the encryptionKey does not match the key this message store was created with');
}

/** Errors that belong to one write (bad input, missing message) rather than to the transaction. */
export function isOwnError(error: unknown): boolean {
  return error instanceof MessageNotFoundError || error instanceof TypeError || error instanceof RangeError;
}

/**
 * WHERE clause and parameters for `search`, newest first. `ph(n)` renders the n-th (1-based)
 * placeholder: `?` for SQLite, `$n` for PostgreSQL. Appends the LIMIT parameter last.
 */
export function searchQuery(filter: MessageFilter, codec: RowCodec, ph: (n: number) => string): { sql: string; params: unknown[] } {
  const clauses: string[] = [];
  const params: unknown[] = [];
  const add = (clause: (p: string) => string, value: unknown): void => {
    params.push(value);
    clauses.push(clause(ph(params.length)));
  };
  if (filter.channel !== undefined) add((p) => `channel = ${p}`, filter.channel);
  if (filter.status !== undefined) add((p) => `status = ${p}`, filter.status);
  if (filter.since !== undefined) add((p) => `received_at >= ${p}`, filter.since);
  if (filter.until !== undefined) add((p) => `received_at <= ${p}`, filter.until);
  if (filter.controlId !== undefined) add((p) => `control_id = ${p}`, filter.controlId);
  if (filter.patientId !== undefined) add((p) => `patient_key = ${p}`, codec.patientKey(filter.patientId));
  if (filter.messageType !== undefined) add((p) => `message_type = ${p}`, filter.messageType);
  if (filter.before !== undefined) add((p) => `id < ${p}`, filter.before);
  const limit = Math.max(0, Math.floor(filter.limit ?? 100));
  params.push(limit);
  const where = clauses.length ? `WHERE ${clauses.join(' AND ')}` : '';
  return { sql: `SELECT ${SUMMARY_COLUMNS} FROM messages ${where} ORDER BY id DESC LIMIT ${ph(params.length)}`, params };
}
