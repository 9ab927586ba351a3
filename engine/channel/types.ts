import type { Hl7Message } from '../hl7/index.js';
import type { Logger } from '../log.js';
import type { Envelope, Filtered } from './envelope.js';

/** What a source passes in for one received message. */
export interface SourceMeta {
  readonly kind: string;
  readonly peer?: string;
  /** The source's own id when the payload has none (file name, Kafka offset). */
  readonly sourceId?: string;
  /** Aborts when the source has given up on this message (e.g. the MLLP handler timeout sent an AE). */
  readonly signal?: AbortSignal;
  /**
   * The source's own parse of `raw` (HL7 v2), when it made one: the channel takes it instead
   * of parsing again. Its steps edit it in place, so the source must not read it afterwards.
   */
  readonly parsed?: Hl7Message;
  /**
   * A reprocess handed on by another channel (`channel` destination): the user asked for it to
   * go through again, so it is not taken for a duplicate of its first run here.
   */
  readonly reprocess?: boolean;
}

/**
 * The channel's answer to a source about one message. `accepted` means the message is
 * durably stored (and, per respondFrom, processed or delivered). The MLLP source turns it
 * into an ACK; the file source into a move; the HTTP source into a status code.
 */
export interface Outcome {
  readonly status: 'accepted' | 'rejected' | 'error';
  /** HL7 acknowledgement code for message-based sources. */
  readonly ackCode: 'AA' | 'AE' | 'AR';
  readonly messageId?: string;
  readonly text?: string;
  /** The ACK to send, when the source speaks HL7 and the channel built one. */
  readonly ack?: string;
  /** The message was a duplicate of this earlier message id. */
  readonly duplicateOf?: string;
}

export type Intake = (raw: Uint8Array, meta: SourceMeta) => Promise<Outcome>;

/**
 * What a pull source (Kafka, pollers) reads to hold back when the channel is behind: a
 * pushing peer (MLLP) is held back by its ACKs, a pulling source must pause itself.
 */
export interface FlowControl {
  /** Messages taken in and not yet finished: being processed, or waiting in a destination queue. */
  backlog(): number;
}

export interface Source {
  start(intake: Intake, flow?: FlowControl): Promise<void>;
  stop(): Promise<void>;
  /** A short description for logs and `sluice run` output, e.g. `mllp 127.0.0.1:2575`. */
  describe(): string;
}

export interface StepContext {
  readonly channel: string;
  readonly logger: Logger;
}

/** A step (or filter) is a function of the envelope; it may drop the message. */
export type Step = (env: Envelope, ctx: StepContext) => Envelope | Filtered | Promise<Envelope | Filtered>;

export interface SendContext {
  readonly channel: string;
  readonly destination: string;
  readonly attempt: number;
  readonly logger: Logger;
  readonly signal: AbortSignal;
}

/**
 * A delivery outcome. A failure is typed: transient (retry, maybe after retryAfterMs) or
 * permanent (straight to ERROR). Nothing else decides retries.
 */
export type DeliveryResult =
  | { readonly ok: true; readonly response?: string; readonly responseType?: string; readonly sent?: string }
  | {
    readonly ok: false; readonly transient: boolean; readonly error: string; readonly retryAfterMs?: number; readonly response?: string;
    /** What went out when the peer got it and answered with a failure (stored as the `sent` stage). */
    readonly sent?: string;
  };

export interface Destination {
  send(env: Envelope, ctx: SendContext): Promise<DeliveryResult>;
  close(): Promise<void>;
}

export const sent = (response?: string, sentText?: string): DeliveryResult => ({ ok: true, response, sent: sentText });
export const transient = (error: string, retryAfterMs?: number): DeliveryResult => ({ ok: false, transient: true, error, retryAfterMs });
export const permanent = (error: string, response?: string, sentText?: string): DeliveryResult => ({ ok: false, transient: false, error, response, sent: sentText });
