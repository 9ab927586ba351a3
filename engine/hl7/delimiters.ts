import { Hl7ParseError } from './errors.js';

/** The separator set a message declares in MSH-1 and MSH-2. */
export interface Delimiters {
  readonly field: string;
  readonly component: string;
  readonly repetition: string;
  /** Empty when the message declares no escape character. */
  readonly escape: string;
  /** Empty when the message declares no subcomponent separator. */
  readonly subcomponent: string;
  /** v2.7+ truncation character (MSH-2 fifth character), empty when absent. */
  readonly truncation: string;
}

export const DEFAULT_DELIMITERS: Delimiters = Object.freeze({
  field: '|',
  component: '^',
  repetition: '~',
  escape: '\\',
  subcomponent: '&',
  truncation: '',
});

/** Segments whose first field is the field separator itself. */
export function isHeaderSegment(name: string): boolean {
  return name === 'MSH' || name === 'FHS' || name === 'BHS';
}

const FORBIDDEN = /[A-Za-z0-9\r\n]/;

/**
 * Reads the delimiters from a header segment line (MSH, FHS or BHS).
 * `offset` is where the line starts in the whole input, for error positions.
 */
export function readDelimiters(line: string, offset = 0): Delimiters {
  // Nearly every message uses the standard set; skip the checks for it.
  if (line.startsWith('|^~\\&|', 3)) return DEFAULT_DELIMITERS;
  if (line.length < 4) throw new Hl7ParseError(`${line.slice(0, 3) || 'header'} segment is too short to declare delimiters`, offset);
  const field = line[3]!;
  if (FORBIDDEN.test(field) || field === ' ') {
    throw new Hl7ParseError(`invalid field separator ${JSON.stringify(field)}`, offset + 3);
  }
  const end = line.indexOf(field, 4);
  const raw = end < 0 ? line.slice(4) : line.slice(4, end);
  // A character written twice in a row (`^~\\&`, a common string-escaping slip) is read once;
  // MSH-2 itself keeps the text as received, so the message still round-trips exactly.
  let enc = '';
  const seen = new Set<string>([field]);
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (i > 0 && c === raw[i - 1]) continue;
    if (FORBIDDEN.test(c) || c === ' ' || seen.has(c)) {
      throw new Hl7ParseError(`invalid or repeated encoding character ${JSON.stringify(c)}`, offset + 4 + i);
    }
    seen.add(c);
    enc += c;
  }
  if (enc.length < 1 || enc.length > 5) {
    throw new Hl7ParseError(`encoding characters must be 1 to 5 characters, got ${JSON.stringify(raw)}`, offset + 4);
  }
  return {
    field,
    component: enc[0]!,
    repetition: enc[1] ?? '',
    escape: enc[2] ?? '',
    subcomponent: enc[3] ?? '',
    truncation: enc[4] ?? '',
  };
}

/** MSH-2 as it would be written for these delimiters. */
export function encodingCharacters(d: Delimiters): string {
  return d.component + d.repetition + d.escape + d.subcomponent + d.truncation;
}
