import { DEFAULT_DELIMITERS, encodingCharacters, readDelimiters, type Delimiters } from './delimiters.js';
import { Hl7ParseError } from './errors.js';
import { formatHl7Timestamp } from './ack.js';

/** The messages of a file or batch, with the envelope segments that wrapped them. */
export interface Hl7Batch {
  /** Each message's exact text, segment terminators included. */
  readonly messages: string[];
  readonly fileHeader?: string;
  readonly batchHeaders: string[];
  readonly batchTrailers: string[];
  readonly fileTrailer?: string;
  /** Envelope problems that lose nothing (e.g. a BTS count that does not match). */
  readonly warnings: string[];
}

const ENVELOPE = new Set(['FHS', 'BHS', 'BTS', 'FTS']);

/**
 * Splits a batch file (FHS/BHS/…/BTS/FTS), or bare concatenated messages, into messages.
 * A message starts at each MSH line; anything other than envelope segments before the
 * first MSH is an error, since it cannot belong to any message. A BOM at the very start
 * is dropped; one in front of a later MSH stays with that message.
 */
export function splitBatch(text: string): Hl7Batch {
  const messages: string[] = [];
  const batchHeaders: string[] = [];
  const batchTrailers: string[] = [];
  const warnings: string[] = [];
  let fileHeader: string | undefined;
  let fileTrailer: string | undefined;
  let current: string | undefined;
  let inBatchCount = 0;

  let pos = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let lineNo = 0;
  while (pos < text.length) {
    let end = pos;
    while (end < text.length && text[end] !== '\r' && text[end] !== '\n') end++;
    let t = end;
    while (t < text.length && (text[t] === '\r' || text[t] === '\n')) t++;
    // Files concatenated with `cat` carry each file's BOM in front of its first line; a message
    // keeps it (the parser takes it as a prefix), an envelope line drops it.
    const line = text.charCodeAt(pos) === 0xfeff ? text.slice(pos + 1, end) : text.slice(pos, end);
    const whole = text.slice(pos, t);
    lineNo++;
    const name = line.slice(0, 3);
    if (line.trim() === '') {
      if (current !== undefined) current += whole;
    } else if (ENVELOPE.has(name) && (line.length === 3 || !/[A-Za-z0-9]/.test(line[3]!))) {
      if (current !== undefined) { messages.push(current); current = undefined; }
      if (name === 'FHS') fileHeader = line;
      else if (name === 'FTS') fileTrailer = line;
      else if (name === 'BHS') { batchHeaders.push(line); inBatchCount = 0; }
      else {
        batchTrailers.push(line);
        const declared = line.split(line[3] ?? '|')[1];
        if (declared && /^\d+$/.test(declared) && Number(declared) !== inBatchCount) {
          warnings.push(`BTS-1 declares ${declared} messages but the batch holds ${inBatchCount}`);
        }
      }
    } else if (name === 'MSH') {
      if (current !== undefined) messages.push(current);
      current = whole;
      inBatchCount++;
    } else if (current !== undefined) {
      current += whole;
    } else {
      throw new Hl7ParseError(`segment ${JSON.stringify(name)} outside any message (expected MSH, FHS or BHS)`, pos, lineNo);
    }
    pos = t;
  }
  if (current !== undefined) messages.push(current);
  return { messages, fileHeader, batchHeaders, batchTrailers, fileTrailer, warnings };
}

export interface BuildBatchOptions {
  /** Wrap in FHS/FTS as well as BHS/BTS. */
  file?: boolean;
  sendingApplication?: string;
  sendingFacility?: string;
  receivingApplication?: string;
  receivingFacility?: string;
  controlId?: string;
  delimiters?: Delimiters;
  now?: Date;
}

const LEADING = /^\uFEFF?[\r\n]*/;

/** Wraps messages in a BHS/BTS batch (and FHS/FTS when `file`), CR-terminated. */
export function buildBatch(messages: readonly string[], opts: BuildBatchOptions = {}): string {
  // A BOM (and blank lines) may open a file, not a message inside a batch: splitBatch would take it for junk.
  const bodies = messages.map((m) => m.replace(LEADING, ''));
  const firstLine = bodies[0]?.split(/\r\n|\r|\n/, 1)[0];
  const d = opts.delimiters ?? (firstLine?.startsWith('MSH') ? readDelimiters(firstLine) : DEFAULT_DELIMITERS);
  const f = d.field;
  const enc = encodingCharacters(d);
  const ts = formatHl7Timestamp(opts.now ?? new Date());
  const head = [opts.sendingApplication ?? '', opts.sendingFacility ?? '', opts.receivingApplication ?? '', opts.receivingFacility ?? '', ts, '', '', '', opts.controlId ?? ''].join(f);
  const body = bodies.map((m) => (/[\r\n]$/.test(m) ? m : m + '\r')).join('');
  let out = `BHS${f}${enc}${f}${head}\r${body}BTS${f}${messages.length}\r`;
  if (opts.file) out = `FHS${f}${enc}${f}${head}\r${out}FTS${f}1\r`;
  return out;
}
