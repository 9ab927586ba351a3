/**
 * The message store: the only truth about a message's status. Queues are views over it
 * (QUEUED deliveries), never in-memory arrays a crash can lose.
 *
 * Durability: every write method resolves only after its transaction has committed.
 * Writes arriving in the same tick share one transaction (group commit), so durability
 * does not cost one fsync per message under load.
 */

/** A message's overall status. Per-destination progress is in `Delivery`. */
export type MessageStatus = 'RECEIVED' | 'FILTERED' | 'TRANSFORMED' | 'QUEUED' | 'SENT' | 'ERROR';
export type DeliveryStatus = 'PENDING' | 'QUEUED' | 'SENT' | 'FILTERED' | 'ERROR';

/** Stage names for stored content. Destination-specific stages carry the destination name. */
export type ContentStage = 'raw' | 'transformed' | 'encoded' | 'sent' | 'response';

export interface NewMessage {
  readonly channel: string;
  readonly receivedAt: number;
  readonly sourceKind: string;
  readonly peer?: string;
  /** MSH-10 or the source's own id (Kafka offset, file name). */
  readonly controlId?: string;
  /** MSH-3^MSH-4 (sending application and facility), for duplicate detection. */
  readonly sender?: string;
  readonly messageType?: string;
  /** Patient identifier for search. Stored as a keyed hash when encryption is on. */
  readonly patientId?: string;
  /** Ordering key (patient by default): messages with one key are delivered in order. */
  readonly orderingKey?: string;
  readonly raw: Uint8Array;
  /**
   * When set, the message is a duplicate of this id; stored for the record, not processed.
   * Its status defaults to FILTERED (not RECEIVED), so `pending()` never picks it up.
   */
  readonly duplicateOf?: string;
  /**
   * Initial status; RECEIVED unless the intake already knows better (e.g. ERROR for unparsable
   * input). FILTERED by default when `duplicateOf` is set.
   */
  readonly status?: MessageStatus;
  readonly error?: string;
}

export interface StoredMessage {
  readonly id: string;
  readonly channel: string;
  readonly receivedAt: number;
  readonly updatedAt: number;
  readonly status: MessageStatus;
  readonly sourceKind: string;
  readonly peer?: string;
  readonly controlId?: string;
  readonly sender?: string;
  readonly messageType?: string;
  readonly orderingKey?: string;
  readonly duplicateOf?: string;
  readonly error?: string;
  /** How many times the message was reprocessed (0 for the original run). */
  readonly reprocessCount: number;
}

export interface Delivery {
  readonly messageId: string;
  readonly destination: string;
  readonly status: DeliveryStatus;
  readonly attempts: number;
  /** When a QUEUED delivery is next due (epoch ms). */
  readonly nextAttemptAt?: number;
  readonly error?: string;
  readonly updatedAt: number;
}

export interface StoredContent {
  /**
   * The run that produced it: 0 for the first, n for the n-th reprocess. Each run keeps its
   * own contents, so a reprocessed message still shows what its first run sent.
   */
  readonly run: number;
  readonly stage: ContentStage;
  /** '' for channel-level stages (raw, transformed). */
  readonly destination: string;
  readonly contentType: string;
  readonly content: Uint8Array;
  readonly createdAt: number;
}

/** One line of a message's history: status changes, attempts, errors, reprocessing. */
export interface MessageEvent {
  readonly at: number;
  readonly kind: string;
  readonly destination?: string;
  readonly detail?: string;
}

export interface MessageDetail extends StoredMessage {
  readonly raw: Uint8Array;
  readonly deliveries: Delivery[];
  readonly contents: StoredContent[];
  readonly events: MessageEvent[];
}

export interface MessageFilter {
  readonly channel?: string;
  readonly status?: MessageStatus;
  /** Epoch ms, inclusive. */
  readonly since?: number;
  readonly until?: number;
  readonly controlId?: string;
  readonly patientId?: string;
  readonly messageType?: string;
  /** Default 100. */
  readonly limit?: number;
  /** Return messages with id < before (newest first paging). */
  readonly before?: string;
}

export interface DeliveryUpdate {
  readonly status: DeliveryStatus;
  readonly attempts?: number;
  readonly nextAttemptAt?: number | null;
  readonly error?: string | null;
}

export interface MessagePatch {
  readonly status?: MessageStatus;
  readonly error?: string | null;
  readonly orderingKey?: string;
  readonly patientId?: string;
  readonly messageType?: string;
}

/** Work to resume at start-up: messages not finished when the engine stopped. */
export interface PendingWork {
  readonly message: StoredMessage;
  readonly deliveries: Delivery[];
}

export interface MessageStore {
  /** Creates tables and indexes if missing (idempotent). */
  init(): Promise<void>;
  close(): Promise<void>;

  /** Stores a received message durably; resolves with its new id (a ULID) after commit. */
  receive(message: NewMessage): Promise<string>;
  /**
   * The newest earlier message with the same (channel, sender, control id) received at or after
   * `since`: its id, or the original it duplicates. Newest, so that after a resend of an
   * original answered AE was processed, later resends point at that one.
   */
  findDuplicate(channel: string, sender: string, controlId: string, since: number): Promise<string | undefined>;

  updateMessage(id: string, patch: MessagePatch, event?: Omit<MessageEvent, 'at'>): Promise<void>;
  /** Saves (or replaces) one stage's content for the message's current run (its reprocessCount). */
  saveContent(id: string, stage: ContentStage, content: Uint8Array | string, contentType: string, destination?: string): Promise<void>;
  /** Creates or updates one destination's delivery row. */
  setDelivery(id: string, destination: string, update: DeliveryUpdate, event?: Omit<MessageEvent, 'at'>): Promise<void>;

  get(id: string): Promise<MessageDetail | undefined>;
  search(filter: MessageFilter): Promise<StoredMessage[]>;
  /** Messages of a channel whose status is RECEIVED, TRANSFORMED or QUEUED, oldest first, with their deliveries. */
  pending(channel: string): Promise<PendingWork[]>;

  /**
   * Marks a message for reprocessing: keeps its id, history and earlier runs' contents, clears
   * its deliveries, sets RECEIVED, bumps reprocessCount (the new run) and records an event.
   */
  markForReprocess(id: string, reason?: string): Promise<void>;

  /**
   * Deletes finished messages (not RECEIVED, TRANSFORMED or QUEUED: those are still owed a delivery) received before `before`, in batches of `batchSize`, each batch its own
   * short transaction so intake is never blocked for long. Resolves with the count deleted.
   */
  prune(before: number, batchSize?: number): Promise<number>;

  /** Write counters (committed transactions, writes, largest group commit), for metrics and tests. */
  stats?(): StoreStats;
}

export interface StoreStats {
  /** Write transactions committed (a group commit counts once). */
  readonly transactions: number;
  /** Of those, the ones that had to reach stable storage before returning (intake). */
  readonly durableTransactions: number;
  /** Write transactions that failed or were rolled back. */
  readonly failedTransactions: number;
  /** Writes (receive, updateMessage, saveContent, setDelivery, markForReprocess) committed. */
  readonly writes: number;
  /** The most writes committed in one transaction. */
  readonly largestBatch: number;
}
