import { appendFile, mkdir } from 'node:fs/promises';
import path from 'node:path';

export interface AuditEntry {
  /** Who: the token's name, or "-" when the request carried none we know. */
  readonly actor: string;
  readonly role?: string;
  /** What was asked, e.g. "channel.stop", "message.reprocess". */
  readonly action: string;
  /** The channel or message id acted on. */
  readonly target?: string;
  /** requested (written before the action), then ok or failed; denied (401/403) alone. */
  readonly outcome: 'requested' | 'ok' | 'denied' | 'failed';
  readonly peer?: string;
  readonly detail?: string;
}

/**
 * The admin API's audit log: one JSON line per request that acts or is refused, appended
 * and flushed before the answer goes out. Ids and names only, never message content (PHI).
 * Writes are chained, so lines keep request order.
 */
export class AuditLog {
  private tail: Promise<void> = Promise.resolve();
  private ready: Promise<void> | undefined;

  constructor(readonly file: string) {}

  record(entry: AuditEntry): Promise<void> {
    const line = JSON.stringify({ at: new Date().toISOString(), ...entry }) + '\n';
    this.ready ??= mkdir(path.dirname(this.file), { recursive: true }).then(() => undefined);
    const write = this.tail.then(() => this.ready).then(() => appendFile(this.file, line, { mode: 0o600, flush: true }));
    this.tail = write.catch(() => undefined);
    return write;
  }
}
