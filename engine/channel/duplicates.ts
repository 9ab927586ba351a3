import type { MessageStore } from '../store/types.js';
import type { RespondFrom } from './channel.js';

/** Event kind: the sender was answered AE for this message (its resend is a new attempt). */
export const NAK_EVENT = 'answered-ae';

/** What check() found: the original this message duplicates, or a claim to settle with this message's answer. */
export interface DuplicateClaim {
  /** The id of the original, when this message is a duplicate of it. */
  readonly original?: string;
  /** Tells copies waiting for this message its answer: its id when answered AA, else undefined. Idempotent. */
  readonly settle: (accepted: string | undefined) => void;
}

/**
 * Duplicate detection on (channel, sender, control id) within a window. Messages in intake
 * are tracked in memory: a copy that arrives meanwhile (a sender that timed out and resent)
 * waits for the first one's answer, so it is neither processed twice nor ACKed as a
 * duplicate of a message that was never accepted. Older ones are found in the store.
 */
/** How many ids answered with an error are remembered in memory (see rejected()). */
const REJECTED_KEPT = 10_000;

export class DuplicateCheck {
  private readonly inFlight = new Map<string, Promise<string | undefined>>();
  /** Stored messages answered with an error, newest last: never originals, whatever the store says yet. */
  private readonly rejectedIds = new Set<string>();

  constructor(
    private readonly channel: string,
    private readonly store: MessageStore,
    private readonly windowMs: number,
    private readonly respondFrom: RespondFrom,
  ) {}

  async check(sender: string, controlId: string, receivedAt: number): Promise<DuplicateClaim> {
    const key = `${sender}\u0000${controlId}`;
    const prior = this.inFlight.get(key);
    let settle!: (accepted: string | undefined) => void;
    const mine = new Promise<string | undefined>((resolve) => {
      settle = (accepted) => {
        if (this.inFlight.get(key) === mine) this.inFlight.delete(key);
        resolve(accepted);
      };
    });
    // Claimed before the store lookup, so a copy arriving meanwhile waits for this one.
    this.inFlight.set(key, mine);
    const original = (prior && await prior) || await this.stored(sender, controlId, receivedAt);
    if (original) settle(original);
    return { original, settle };
  }

  /**
   * A stored message was answered AE (or its answer failed): a resend is a new attempt. The
   * store learns it too (an event, the ERROR status), but that write may fail or come late.
   */
  rejected(id: string): void {
    this.rejectedIds.add(id);
    if (this.rejectedIds.size > REJECTED_KEPT) this.rejectedIds.delete(this.rejectedIds.values().next().value!);
  }

  /**
   * The original of a stored message with this sender and control id inside the window.
   * With respondFrom processed or delivered, an original that ended in ERROR or was answered
   * AE is not one: the sender's resend is a new attempt.
   */
  private async stored(sender: string, controlId: string, receivedAt: number): Promise<string | undefined> {
    try {
      const earlier = await this.store.findDuplicate(this.channel, sender, controlId, receivedAt - this.windowMs);
      if (earlier === undefined || this.rejectedIds.has(earlier)) return undefined;
      if (this.respondFrom === 'received') return earlier;
      const original = await this.store.get(earlier);
      const answeredAe = original?.status === 'ERROR' || original?.events.some((e) => e.kind === NAK_EVENT);
      return answeredAe ? undefined : earlier;
    } catch {
      return undefined;
    }
  }
}
