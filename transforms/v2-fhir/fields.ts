import { unescapeValue, type Delimiters, type Segment } from '../../engine/hl7/index.js';

/*
 * Reading values out of segments for the converter. The codec's path API parses a path
 * per call; the converter reads hundreds of values per message, so it walks the raw
 * segment text directly with the message's delimiters and unescapes leaf values only.
 */

/** One repetition of a field (or a component holding subcomponents): its raw text and how to split it. */
export class V2Value {
  private parts: string[] | undefined;

  constructor(
    readonly raw: string,
    private readonly d: Delimiters,
    /** The separator one level down: component for a field repetition, subcomponent for a component. */
    private readonly sep: string,
  ) {}

  get empty(): boolean {
    return this.raw === '' || this.raw === '""';
  }

  private split(): string[] {
    return (this.parts ??= this.sep === '' ? [this.raw] : this.raw.split(this.sep));
  }

  /** The n-th (1-based) part, unescaped; '' when absent or the explicit null. */
  str(n = 1): string {
    const raw = this.split()[n - 1] ?? '';
    if (raw === '' || raw === '""') return '';
    // A component with subcomponents read as a plain value means its first subcomponent.
    const leaf = this.sep === this.d.component && this.d.subcomponent !== '' ? firstPiece(raw, this.d.subcomponent) : raw;
    return unescapeValue(leaf, this.d).trim();
  }

  /** The n-th part as a value whose parts are subcomponents. */
  sub(n: number): V2Value {
    return new V2Value(this.split()[n - 1] ?? '', this.d, this.d.subcomponent);
  }

  /** How many parts are present. */
  get count(): number {
    return this.empty ? 0 : this.split().length;
  }

  /**
   * The value as encoded text with the standard delimiters (`^~\\&`), whatever the message
   * declared: what the `hl7v2-original` extension keeps for a lossless reverse map.
   */
  original(): string {
    return standardDelimiters(this.raw, this.d);
  }

  /** The whole value unescaped, delimiters left in (for free text read as text). */
  text(): string {
    return this.empty ? '' : blankToEmpty(unescapeValue(this.raw, this.d));
  }
}

const STANDARD = '^~\\&';

/** Re-encodes text written with a message's own delimiters in the standard ones. */
function standardDelimiters(raw: string, d: Delimiters): string {
  if (d.component === '^' && d.repetition === '~' && d.escape === '\\' && d.subcomponent === '&') return raw;
  const from = [d.component, d.repetition, d.escape, d.subcomponent];
  let out = '';
  for (const c of raw) {
    const i = from.indexOf(c);
    out += i < 0 ? c : STANDARD[i];
  }
  return out;
}

/** FHIR strings must hold some non-whitespace: blank text counts as absent. */
function blankToEmpty(text: string): string {
  return text.trim() === '' ? '' : text;
}

function firstPiece(text: string, sep: string): string {
  const at = text.indexOf(sep);
  return at < 0 ? text : text.slice(0, at);
}

/** A segment with its delimiters, for reading fields by number. */
export class SegmentReader {
  constructor(
    readonly segment: Segment,
    readonly d: Delimiters,
    /** Position of this segment in the message (1-based), for warning paths. */
    readonly index: number,
    /** Occurrence of this segment name in the message (1-based), for paths like OBX[3]-5. */
    readonly occurrence: number,
  ) {}

  get name(): string {
    return this.segment.name;
  }

  /** An HL7 path for warnings: `OBX[3]-5`. */
  path(field: number, component?: number): string {
    const seg = this.occurrence > 1 ? `${this.name}[${this.occurrence}]` : this.name;
    return component === undefined ? `${seg}-${field}` : `${seg}-${field}.${component}`;
  }

  /** Raw text of field n ('' when absent). */
  raw(n: number): string {
    return this.segment.field(n);
  }

  /** Every non-empty repetition of field n. */
  reps(n: number): V2Value[] {
    const raw = this.segment.field(n);
    if (raw === '' || raw === '""') return [];
    const list = this.d.repetition === '' ? [raw] : raw.split(this.d.repetition);
    const out: V2Value[] = [];
    for (const r of list) if (r !== '' && r !== '""') out.push(new V2Value(r, this.d, this.d.component));
    return out;
  }

  /** First repetitions already read: maps read a field's components one by one. */
  private readonly firsts: Array<V2Value | undefined> = [];

  /** The first repetition of field n (possibly empty). */
  field(n: number): V2Value {
    let v = this.firsts[n];
    if (v === undefined) {
      const raw = this.segment.field(n);
      const at = this.d.repetition === '' ? -1 : raw.indexOf(this.d.repetition);
      v = new V2Value(at < 0 ? raw : raw.slice(0, at), this.d, this.d.component);
      this.firsts[n] = v;
    }
    return v;
  }

  /** Field n, first repetition, component c, unescaped. */
  str(n: number, c = 1): string {
    return this.field(n).str(c);
  }

  /** The whole field as text (the segment's raw text with escapes decoded), for Z-segments and ED data. */
  text(n: number): string {
    const raw = this.segment.field(n);
    return raw === '' || raw === '""' ? '' : blankToEmpty(unescapeValue(raw, this.d));
  }
}
