import { decodeHl7Bytes, encodeHl7Text, encodingForText, type Hl7Encoding } from './charset.js';
import { encodingCharacters, isHeaderSegment, readDelimiters, type Delimiters } from './delimiters.js';
import { Hl7ParseError, Hl7PathError } from './errors.js';
import { escapeValue, unescapeValue } from './escape.js';
import { parsePath, type Hl7Path } from './path.js';
import { Segment } from './segment.js';
import { piece, setPiece } from './pieces.js';

/** The explicit HL7 null: a field sent as `""` means "delete this value", unlike an empty field. */
export const HL7_NULL = '""';

/**
 * A parsed HL7 v2 message. Segments and fields are split at parse time; repetitions,
 * components, subcomponents and escapes are only looked at when a path reaches them.
 * Serializing an unmodified message gives back the input exactly; a write re-joins only
 * the segment it touched, so every other byte stays as received.
 */
export class Hl7Message {
  private index: Map<string, Segment[]> | undefined;

  private constructor(
    readonly delimiters: Delimiters,
    readonly segments: Segment[],
    /** BOM and blank lines before the first segment, kept for a lossless round trip. */
    private readonly prefix: string,
    /** Known for bytes; for text it is worked out on first use (only toBytes and wide-character writes need it). */
    private knownEncoding: Hl7Encoding | undefined,
  ) {}

  /** How this message's text becomes bytes: as read, or as its MSH-18 declares for text input. */
  get encoding(): Hl7Encoding {
    return (this.knownEncoding ??= encodingForText(this.toString()));
  }

  static parse(input: string | Uint8Array): Hl7Message {
    if (typeof input === 'string') return parseText(input, undefined);
    if (!(input instanceof Uint8Array)) throw new Hl7ParseError('input must be a string or bytes', 0);
    const { text, encoding } = decodeHl7Bytes(input);
    return parseText(text, encoding);
  }

  /** @internal used by the parser. */
  static create(delimiters: Delimiters, segments: Segment[], prefix: string, encoding: Hl7Encoding | undefined): Hl7Message {
    return new Hl7Message(delimiters, segments, prefix, encoding);
  }

  // ---- navigation -------------------------------------------------------

  /** The n-th (1-based) segment with this name, or undefined. */
  segment(name: string, occurrence = 1): Segment | undefined {
    if (occurrence === 1 && !this.index) {
      // Most reads want the first MSH/PID/PV1: a scan is cheaper than building the index.
      for (const s of this.segments) if (s.name === name) return s;
      return undefined;
    }
    return this.all(name)[occurrence - 1];
  }

  /** Every segment with this name, in message order. */
  all(name: string): readonly Segment[] {
    let index = this.index;
    if (!index) {
      index = new Map();
      for (const s of this.segments) {
        const list = index.get(s.name);
        if (list) list.push(s);
        else index.set(s.name, [s]);
      }
      this.index = index;
    }
    return index.get(name) ?? EMPTY;
  }

  // ---- reading ----------------------------------------------------------

  /**
   * The text at exactly the level the path addresses. A leaf (no deeper delimiter in it)
   * comes back with escapes decoded; a value with deeper structure comes back as encoded
   * text (`MSH-9` → `ADT^A01^ADT_A01`). Absent values are ''. The explicit null stays `""`.
   */
  get(path: string | Hl7Path): string {
    const p = typeof path === 'string' ? parsePath(path) : path;
    const text = this.locate(p);
    // Whole segments, MSH-1/MSH-2 and structured values come back encoded.
    if (this.verbatim || text === '' || !isLeaf(text, p, this.delimiters)) return text;
    return unescapeValue(text, this.delimiters);
  }

  /** Like get, but '' and absent are `undefined` and the explicit null `""` is `null`. */
  value(path: string | Hl7Path): string | null | undefined {
    const v = this.get(path);
    if (v === '') return undefined;
    return v === HL7_NULL ? null : v;
  }

  /** Encoded text at the addressed level, escapes left as they are. */
  getRaw(path: string | Hl7Path): string {
    return this.locate(typeof path === 'string' ? parsePath(path) : path);
  }

  /** Set by locate(): the text it found is not a value to unescape (a segment, MSH-1/MSH-2, nothing). */
  private verbatim = false;

  /** The encoded text a path addresses. Reports through `verbatim` rather than an object, to keep reads allocation-free. */
  private locate(p: Hl7Path): string {
    this.verbatim = true;
    const seg = this.segment(p.segment, p.occurrence);
    if (!seg) return '';
    if (p.field === undefined) return seg.encode(this.delimiters.field);
    if (seg.header && p.field <= 2) return p.field === 1 ? this.delimiters.field : seg.field(2);
    this.verbatim = false;
    const d = this.delimiters;
    let text = seg.field(p.field);
    if (p.repetition !== undefined || p.component !== undefined) text = piece(text, d.repetition, (p.repetition ?? 1) - 1);
    if (p.component !== undefined) text = piece(text, d.component, p.component - 1);
    if (p.subcomponent !== undefined) text = piece(text, d.subcomponent, p.subcomponent - 1);
    return text;
  }

  /** How many repetitions a field has (0 when empty or absent). */
  repetitions(path: string | Hl7Path): number {
    const p = typeof path === 'string' ? parsePath(path) : path;
    if (p.field === undefined) throw new Hl7PathError(String(path), 'a field is required');
    const seg = this.segment(p.segment, p.occurrence);
    const text = seg ? seg.field(p.field) : '';
    if (text === '') return 0;
    if (seg?.header && p.field <= 2) return 1;
    return this.delimiters.repetition === '' ? 1 : text.split(this.delimiters.repetition).length;
  }

  // ---- common header values ---------------------------------------------

  get messageCode(): string { return this.get('MSH-9.1'); }
  get triggerEvent(): string { return this.get('MSH-9.2'); }
  get messageStructure(): string { return this.get('MSH-9.3'); }
  /** `ADT^A01` style type, for filters and routing. */
  get messageType(): string {
    const t = this.triggerEvent;
    return t ? `${this.messageCode}^${t}` : this.messageCode;
  }
  get controlId(): string { return this.get('MSH-10'); }
  get version(): string { return this.get('MSH-12.1'); }

  // ---- writing ----------------------------------------------------------

  /** Writes a plain value (escaped for this message's delimiters), growing the message as needed. */
  set(path: string | Hl7Path, value: string): this {
    let encoded = escapeValue(value, this.delimiters);
    // latin1 has no byte for these: write them as UTF-8 hex escapes rather than mangle them in toBytes().
    if (this.encoding === 'latin1' && this.delimiters.escape !== '' && hasWideChar(encoded)) encoded = hexEscapeWide(encoded, this.delimiters.escape);
    return this.setRaw(path, encoded);
  }

  /** Writes already-encoded text (it may contain delimiters) at the addressed level. */
  setRaw(path: string | Hl7Path, encoded: string): this {
    const p = typeof path === 'string' ? parsePath(path) : path;
    if (p.field === undefined) throw new Hl7PathError(String(path), 'a field is required to write');
    const d = this.delimiters;
    if (p.repetition !== undefined && p.repetition > 1 && d.repetition === '') throw new Hl7PathError(String(path), 'the message declares no repetition separator');
    if (p.subcomponent !== undefined && p.subcomponent > 1 && d.subcomponent === '') throw new Hl7PathError(String(path), 'the message declares no subcomponent separator');
    if (isHeaderSegment(p.segment) && p.field <= 2) throw new Hl7PathError(String(path), `${p.segment}-1 and ${p.segment}-2 hold the delimiters and cannot be written`);
    const seg = this.segment(p.segment, p.occurrence) ?? this.grow(p.segment, p.occurrence);
    const at = seg.fieldIndex(p.field);
    while (seg.fields.length <= at) seg.fields.push('');
    let value = encoded;
    if (p.repetition !== undefined || p.component !== undefined) {
      const rep = (p.repetition ?? 1) - 1;
      const repText = piece(seg.fields[at]!, d.repetition, rep);
      if (p.component !== undefined) {
        const compText = piece(repText, d.component, p.component - 1);
        const newComp = p.subcomponent !== undefined ? setPiece(compText, d.subcomponent, p.subcomponent - 1, value) : value;
        value = setPiece(repText, d.component, p.component - 1, newComp);
      }
      value = setPiece(seg.fields[at]!, d.repetition, rep, value);
    }
    seg.fields[at] = value;
    seg.raw = undefined;
    return this;
  }

  /** Appends segments named `name` until the `occurrence`-th exists (one at least); returns the last. */
  private grow(name: string, occurrence: number): Segment {
    let seg = this.appendSegment(name);
    for (let have = this.all(name).length; have < occurrence; have++) seg = this.appendSegment(name);
    return seg;
  }

  /** Appends an empty segment with this name and returns it. */
  appendSegment(name: string): Segment {
    if (!/^[A-Z][A-Z0-9]{2}$/.test(name)) throw new Hl7PathError(name, 'segment names are three characters, A-Z and 0-9');
    const last = this.segments[this.segments.length - 1];
    // Reuse the message's own line break (CR, LF or CRLF) for the new segment.
    const brk = last ? lineBreak(last.terminator) : '\r';
    // The new segment must start a line: after an unterminated last segment, or after
    // whitespace that followed the last line break, put a line break first.
    if (last && !/[\r\n]$/.test(last.terminator)) last.terminator += brk;
    // A new header segment gets this message's encoding characters as its second field.
    const seg = new Segment(name, isHeaderSegment(name) ? [name, encodingCharacters(this.delimiters)] : [name], undefined, brk);
    this.segments.push(seg);
    this.index = undefined;
    return seg;
  }

  // ---- output -----------------------------------------------------------

  toString(): string {
    const sep = this.delimiters.field;
    let out = this.prefix;
    for (const s of this.segments) out += s.encode(sep) + s.terminator;
    return out;
  }

  /** The message as bytes, in the encoding it was read with. */
  toBytes(): Buffer {
    return encodeHl7Text(this.toString(), this.encoding);
  }
}

const EMPTY: readonly Segment[] = Object.freeze([]);

function hasWideChar(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0xff) return true;
  return false;
}

function hexEscapeWide(text: string, esc: string): string {
  let out = '';
  for (const c of text) out += c.charCodeAt(0) > 0xff ? `${esc}X${Buffer.from(c, 'utf8').toString('hex').toUpperCase()}${esc}` : c;
  return out;
}

/** The first line break (CR, LF or CRLF) in a terminator; CR when there is none. */
function lineBreak(terminator: string): string {
  for (let i = 0; i < terminator.length; i++) {
    const c = terminator[i]!;
    if (c === '\n') return c;
    if (c === '\r') return terminator[i + 1] === '\n' ? '\r\n' : c;
  }
  return '\r';
}

function isLeaf(text: string, p: Hl7Path, d: Delimiters): boolean {
  if (p.repetition === undefined && p.component === undefined && d.repetition !== '' && text.includes(d.repetition)) return false;
  if (p.component === undefined && text.includes(d.component)) return false;
  if (p.subcomponent === undefined && d.subcomponent !== '' && text.includes(d.subcomponent)) return false;
  return true;
}

function isSegmentName(line: string, fieldSep: string): boolean {
  if (line.length < 3) return false;
  for (let i = 0; i < 3; i++) {
    const c = line.charCodeAt(i);
    const upper = c >= 65 && c <= 90;
    const digit = c >= 48 && c <= 57;
    if (!(upper || (digit && i > 0))) return false;
  }
  return line.length === 3 || line[3] === fieldSep;
}

function isBlank(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c !== 32 && c !== 9) return false;
  }
  return true;
}

function parseText(input: string, encoding: Hl7Encoding | undefined): Hl7Message {
  // Leading BOM and blank lines are kept aside so the round trip is exact.
  let start = 0;
  if (input.charCodeAt(0) === 0xfeff) start = 1;
  // A UTF-8 BOM in front of bytes that are not UTF-8 was decoded as latin1.
  else if (encoding === 'latin1' && input.startsWith('\u00ef\u00bb\u00bf')) start = 3;
  while (start < input.length && (input[start] === '\r' || input[start] === '\n' || input[start] === ' ' || input[start] === '\t')) start++;
  if (!input.startsWith('MSH', start)) {
    throw new Hl7ParseError(start >= input.length ? 'empty message' : 'message must start with an MSH segment', start, 1);
  }
  const prefix = input.slice(0, start);
  const segments = input.indexOf('\n', start) < 0 ? splitCrOnly(input, start) : splitMixed(input, start);
  return Hl7Message.create(segments.delimiters, segments.list, prefix, encoding);
}

/** Validates one line and adds it as a segment. */
function addSegment(list: Segment[], line: string, sep: string, terminator: string, pos: number): void {
  if (!isSegmentName(line, sep)) {
    throw new Hl7ParseError(`invalid segment ${JSON.stringify(line.slice(0, 4))}: a segment starts with a three-character name (A-Z, 0-9) and the field separator`, pos, list.length + 1);
  }
  const fields = line.split(sep);
  list.push(new Segment(fields[0]!, fields, line, terminator));
}

/** The common case, CR-only terminators: one native split. */
function splitCrOnly(input: string, start: number): { delimiters: Delimiters; list: Segment[] } {
  const lines = (start === 0 ? input : input.slice(start)).split('\r');
  const delimiters = readDelimiters(lines[0]!, start);
  const sep = delimiters.field;
  const list: Segment[] = [];
  const lastIndex = lines.length - 1;
  let pos = start;
  for (let i = 0; i <= lastIndex; i++) {
    const line = lines[i]!;
    const terminator = i < lastIndex ? '\r' : '';
    if (isBlank(line, 0, line.length)) {
      // Blank lines belong to the terminator of the segment before them.
      list[list.length - 1]!.terminator += line + terminator;
    } else {
      addSegment(list, line, sep, terminator, pos);
    }
    pos += line.length + 1;
  }
  return { delimiters, list };
}

/** Any mix of CR, LF and CRLF. */
function splitMixed(input: string, start: number): { delimiters: Delimiters; list: Segment[] } {
  const breaks = new BreakScanner(input);
  const delimiters = readDelimiters(input.slice(start, breaks.next(start)), start);
  const sep = delimiters.field;
  const list: Segment[] = [];
  let pos = start;
  const n = input.length;
  while (pos < n) {
    const end = breaks.next(pos);
    const line = input.slice(pos, end);
    // The terminator is the CR/LF run after the line; blank lines are folded into it.
    let t = end;
    while (t < n) {
      const c = input.charCodeAt(t);
      if (c === 13 || c === 10) { t++; continue; }
      if (c !== 32 && c !== 9) break;
      const next = breaks.next(t);
      if (!isBlank(input, t, next)) break;
      t = next;
    }
    const terminator = t === end ? '' : input.slice(end, t);
    if (isBlank(line, 0, line.length)) {
      // Only possible for trailing whitespace without a line break.
      const last = list[list.length - 1];
      if (last) last.terminator += line + terminator;
    } else {
      addSegment(list, line, sep, terminator, pos);
    }
    pos = t;
  }
  return { delimiters, list };
}

/** Finds line breaks (CR or LF) left to right; remembers the next of each so a long message is scanned once. */
class BreakScanner {
  private cr = -2;
  private lf = -2;
  constructor(private readonly s: string) {}
  /** Index of the next CR or LF at or after `from`, or the string's length. */
  next(from: number): number {
    const n = this.s.length;
    if (this.cr !== n && this.cr < from) { const i = this.s.indexOf('\r', from); this.cr = i < 0 ? n : i; }
    if (this.lf !== n && this.lf < from) { const i = this.s.indexOf('\n', from); this.lf = i < 0 ? n : i; }
    return this.cr < this.lf ? this.cr : this.lf;
  }
}

export function parseHl7(input: string | Uint8Array): Hl7Message {
  return Hl7Message.parse(input);
}

/**
 * The MSH segment alone, parsed from the bytes as received (one segment: a few µs), or
 * undefined when it does not parse. For ACKs that must answer the message as it was sent
 * after steps have edited the parsed copy in place.
 */
export function parseHeader(raw: Uint8Array): Hl7Message | undefined {
  // The parser skips a BOM and leading blank lines; so does the search for MSH's end.
  let start = raw[0] === 0xef && raw[1] === 0xbb && raw[2] === 0xbf ? 3 : 0;
  while (start < raw.length && (raw[start] === 0x0d || raw[start] === 0x0a || raw[start] === 0x20 || raw[start] === 0x09)) start++;
  let end = raw.indexOf(0x0d, start);
  const lf = raw.indexOf(0x0a, start);
  if (end < 0 || (lf >= 0 && lf < end)) end = lf;
  try {
    return parseHl7(end < 0 ? raw : raw.subarray(0, end));
  } catch {
    return undefined;
  }
}
