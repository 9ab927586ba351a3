import { DEFAULT_DELIMITERS, escapeValue, parseHl7, type Delimiters, type Hl7Message } from '../../engine/hl7/index.js';

/*
 * A small value model for writing segments: converters describe fields as plain values,
 * components and subcomponents, and only this module knows about delimiters and escaping.
 */

/** A component: a plain value, or its subcomponents. */
export type Component = string | undefined | readonly (string | undefined)[];
/** One repetition of a field: its components in order (index 0 is component 1). */
export type Composite = readonly Component[];
/** One repetition already encoded with the standard delimiters (`^~\&`), written as it is. */
export interface Encoded { readonly encoded: string }
/** A field: a plain value, one composite value, or several repetitions. */
export type Field = string | undefined | Composite | Encoded | { readonly repeat: readonly (Composite | Encoded)[] };

export const repeat = (reps: readonly (Composite | Encoded)[]): Field => ({ repeat: reps });

/** Drops trailing empty pieces so `A^^` is written `A`. */
function joinTrimmed(parts: string[], sep: string): string {
  let end = parts.length;
  while (end > 0 && parts[end - 1] === '') end--;
  return parts.slice(0, end).join(sep);
}

function encodeComponent(c: Component, d: Delimiters): string {
  if (c === undefined) return '';
  if (typeof c === 'string') return escapeValue(c, d);
  return joinTrimmed(Array.from(c, (s) => (s === undefined ? '' : escapeValue(s, d))), d.subcomponent);
}

function encodeComposite(c: Composite | Encoded, d: Delimiters): string {
  if (!Array.isArray(c)) return (c as Encoded).encoded;
  // Array.from, not map: composites are often sparse and map skips the holes.
  return joinTrimmed(Array.from(c as Composite, (x) => encodeComponent(x, d)), d.component);
}

function encodeField(f: Field, d: Delimiters = DEFAULT_DELIMITERS): string {
  if (f === undefined) return '';
  if (typeof f === 'string') return escapeValue(f, d);
  if ('encoded' in f) return f.encoded;
  if ('repeat' in f) {
    const reps = Array.from(f.repeat, (r) => encodeComposite(r, d));
    // A repetition may be empty in the middle (kept) but not at the end.
    return joinTrimmed(reps, d.repetition);
  }
  return encodeComposite(f as Composite, d);
}

/**
 * A message under construction: segments are appended through the codec's own
 * `appendSegment`, so the output is exactly what the codec would serialize. It always uses
 * the standard delimiters, which `Encoded` values rely on.
 */
export class MessageWriter {
  readonly message: Hl7Message;

  constructor() {
    this.message = parseHl7('MSH|^~\\&');
  }

  /** Writes MSH-3 onwards (MSH-1 and MSH-2 are the delimiters). */
  header(fields: readonly Field[]): void {
    const msh = this.message.segment('MSH')!;
    const d = this.message.delimiters;
    const encoded = Array.from(fields, (f) => encodeField(f, d));
    msh.fields.length = 2;
    msh.fields.push(...trimFields(encoded));
    msh.raw = undefined;
  }

  /** Appends a segment; `fields[0]` is field 1. */
  segment(name: string, fields: readonly Field[]): void {
    const seg = this.message.appendSegment(name);
    const d = this.message.delimiters;
    seg.fields.push(...trimFields(Array.from(fields, (f) => encodeField(f, d))));
    seg.raw = undefined;
  }

  count(name: string): number {
    return this.message.all(name).length;
  }

  /** Segments separated (and ended) by CR, as HL7 wants on the wire. */
  toString(): string {
    const text = this.message.toString();
    return text.endsWith('\r') ? text : `${text}\r`;
  }
}

function trimFields(encoded: string[]): string[] {
  let end = encoded.length;
  while (end > 0 && encoded[end - 1] === '') end--;
  return encoded.slice(0, end);
}
