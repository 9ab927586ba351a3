import { isHeaderSegment } from './delimiters.js';

/**
 * One segment, split into raw (still escaped) field strings at parse time.
 * `fields[0]` is the segment name. In MSH/FHS/BHS `fields[1]` is MSH-2, because MSH-1
 * is the separator itself; `fieldIndex` hides that offset.
 */
export class Segment {
  /** The exact original text while unmodified; dropped on the first write. */
  raw: string | undefined;
  readonly header: boolean;

  constructor(
    readonly name: string,
    readonly fields: string[],
    raw: string | undefined,
    /** The CR/LF run (and any blank lines) that followed this segment in the input. */
    public terminator: string,
  ) {
    this.raw = raw;
    this.header = isHeaderSegment(name);
  }

  /** Index into `fields` for a 1-based field number (-1 for MSH-1, which is not stored). */
  fieldIndex(n: number): number {
    return this.header ? n - 1 : n;
  }

  /** Raw text of a 1-based field; '' when absent. */
  field(n: number): string {
    return this.fields[this.fieldIndex(n)] ?? '';
  }

  /** Number of the last field present. */
  get fieldCount(): number {
    return this.header ? this.fields.length : this.fields.length - 1;
  }

  encode(fieldSeparator: string): string {
    return this.raw ?? this.fields.join(fieldSeparator);
  }
}
