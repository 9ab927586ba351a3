import type { Hl7Message } from '../hl7/index.js';

/** The current form of a message as it moves through a channel. */
export type Content =
  | { readonly kind: 'hl7v2'; readonly message: Hl7Message }
  | { readonly kind: 'fhir'; readonly resource: Record<string, unknown> }
  | { readonly kind: 'json'; readonly value: unknown }
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'bytes'; readonly bytes: Uint8Array };

export interface Warning {
  readonly stage: string;
  readonly code: string;
  readonly message: string;
  readonly path?: string;
}

/** What one stage produced, for the message browser. */
export interface StageRecord {
  readonly stage: string;
  readonly at: number;
  readonly summary?: string;
}

export interface SourceInfo {
  readonly kind: string;
  readonly peer?: string;
  readonly controlId?: string;
  readonly sender?: string;
}

/**
 * One message's journey through a channel. Stages append warnings and stage records and
 * may replace `content`; nothing earlier is rewritten.
 */
export interface Envelope {
  readonly id: string;
  readonly channel: string;
  readonly receivedAt: number;
  readonly source: SourceInfo;
  readonly raw: Uint8Array;
  content: Content;
  key?: string;
  readonly warnings: Warning[];
  readonly stages: StageRecord[];
  /** This run is a reprocess the user asked for (not a first run, nor recovery after a stop). */
  readonly reprocess?: boolean;
}

/** Returned by a filter or step to drop the message (recorded as FILTERED). */
export const FILTERED: unique symbol = Symbol('FILTERED');
export type Filtered = typeof FILTERED;

/** Content as text, for destinations that write text (MLLP, file, HTTP). */
export function contentText(c: Content): string {
  switch (c.kind) {
    case 'hl7v2': return c.message.toString();
    case 'fhir': return JSON.stringify(c.resource);
    case 'json': return JSON.stringify(c.value);
    case 'text': return c.text;
    case 'bytes': return Buffer.from(c.bytes).toString('utf8');
  }
}

export function contentType(c: Content): string {
  switch (c.kind) {
    case 'hl7v2': return 'x-application/hl7-v2+er7';
    case 'fhir': return 'application/fhir+json';
    case 'json': return 'application/json';
    case 'text': return 'text/plain';
    case 'bytes': return 'application/octet-stream';
  }
}
