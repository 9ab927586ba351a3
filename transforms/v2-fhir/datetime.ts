/*
 * HL7 v2 DTM/TS → FHIR date/dateTime/time. A timestamp without an offset is read in the
 * converter's `timezone` option (an IANA zone), never the host's zone, so the same input
 * gives the same output everywhere.
 */

export interface V2Time {
  /** FHIR form: `2012`, `2012-03`, `2012-03-14`, or `2012-03-14T12:59:00-05:00`. */
  readonly value: string;
  /** True when the FHIR form drops or adds detail (precision padded, offset supplied, fraction). */
  readonly lossy: boolean;
}

// Compiled once: the converter runs per message and must not build regexes per call.
const DTM = /^(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?)?)?)?)?([+-]\d{4})?$/;
const TM = /^(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?)?([+-]\d{4})?$/;

const zoneFormats = new Map<string, Intl.DateTimeFormat>();

function zoneFormat(zone: string): Intl.DateTimeFormat {
  let f = zoneFormats.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    zoneFormats.set(zone, f);
  }
  return f;
}

/** Throws a RangeError for a zone name Intl does not know. */
export function checkTimeZone(zone: string): void {
  zoneFormat(zone);
}

/** Offset of `zone` from UTC in minutes at the UTC instant `utcMs`. */
function offsetAt(zone: string, utcMs: number): number {
  if (zone === 'UTC' || zone === 'Etc/UTC') return 0;
  const parts = zoneFormat(zone).formatToParts(new Date(utcMs));
  let y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  for (const p of parts) {
    switch (p.type) {
      case 'year': y = Number(p.value); break;
      case 'month': mo = Number(p.value); break;
      case 'day': d = Number(p.value); break;
      case 'hour': h = Number(p.value); break;
      case 'minute': mi = Number(p.value); break;
      case 'second': s = Number(p.value); break;
      default: break;
    }
  }
  return Math.round((Date.UTC(y, mo - 1, d, h, mi, s) - (utcMs - (utcMs % 1000))) / 60000);
}

/** Offset (minutes) that `zone` applies to a wall-clock time there. */
function offsetForWallTime(zone: string, y: number, mo: number, d: number, h: number, mi: number, s: number): number {
  const wall = Date.UTC(y, mo - 1, d, h, mi, s);
  const first = offsetAt(zone, wall);
  // Second pass settles times near a DST change.
  return offsetAt(zone, wall - first * 60000);
}

function formatOffset(minutes: number): string {
  if (minutes === 0) return '+00:00';
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${sign}${pad2(Math.floor(abs / 60))}:${pad2(abs % 60)}`;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function v2Offset(text: string): string {
  return `${text.slice(0, 3)}:${text.slice(3, 5)}`;
}

/** A UTC offset FHIR accepts: -14:00 to +14:00 (`+1430` or `+0099` are not offsets). */
function validOffset(text: string | undefined): boolean {
  if (text === undefined) return true;
  const h = Number(text.slice(1, 3));
  const mi = Number(text.slice(3, 5));
  return mi <= 59 && (h < 14 || (h === 14 && mi === 0));
}

function validDate(y: number, mo: number, d: number): boolean {
  if (mo < 1 || mo > 12 || d < 1) return false;
  return d <= new Date(Date.UTC(y, mo, 0)).getUTCDate();
}

/**
 * Converts a v2 DTM/TS. `undefined` when the text is not a timestamp. Precision is kept
 * down to the day; with a time, FHIR needs seconds and an offset, so both are supplied
 * (seconds as 00, the offset from the text or the zone) and `lossy` is set.
 */
export function v2DateTime(input: string, zone: string): V2Time | undefined {
  const m = DTM.exec(input.trim());
  if (!m || !validOffset(m[8])) return undefined;
  const y = Number(m[1]);
  if (y < 1) return undefined;
  if (m[2] === undefined) return { value: m[1]!, lossy: m[8] !== undefined };
  const mo = Number(m[2]);
  if (mo < 1 || mo > 12) return undefined;
  if (m[3] === undefined) return { value: `${m[1]}-${m[2]}`, lossy: m[8] !== undefined };
  const d = Number(m[3]);
  if (!validDate(y, mo, d)) return undefined;
  const date = `${m[1]}-${m[2]}-${m[3]}`;
  if (m[4] === undefined) return { value: date, lossy: m[8] !== undefined };
  const h = Number(m[4]);
  const mi = m[5] === undefined ? 0 : Number(m[5]);
  const s = m[6] === undefined ? 0 : Number(m[6]);
  if (h > 23 || mi > 59 || s > 59) return undefined;
  const frac = m[7] === undefined ? '' : `.${m[7]}`;
  const offset = m[8] !== undefined ? v2Offset(m[8]) : formatOffset(offsetForWallTime(zone, y, mo, d, h, mi, s));
  const value = `${date}T${pad2(h)}:${pad2(mi)}:${pad2(s)}${frac}${offset}`;
  return { value, lossy: true };
}

/** Just the date part of a v2 DTM (`YYYY-MM-DD` or shorter), for FHIR `date` elements. */
export function v2Date(input: string): string | undefined {
  const text = input.trim();
  const m = DTM.exec(text);
  if (!m) return undefined;
  if (m[2] === undefined) return m[1];
  if (Number(m[2]) < 1 || Number(m[2]) > 12) return undefined;
  if (m[3] === undefined) return `${m[1]}-${m[2]}`;
  if (!validDate(Number(m[1]), Number(m[2]), Number(m[3]))) return undefined;
  return `${m[1]}-${m[2]}-${m[3]}`;
}

/** v2 TM → FHIR time (`hh:mm:ss`); the offset, which FHIR time cannot hold, is dropped. */
export function v2TimeOfDay(input: string): string | undefined {
  const m = TM.exec(input.trim());
  if (!m || !validOffset(m[5])) return undefined;
  const h = Number(m[1]);
  const mi = m[2] === undefined ? 0 : Number(m[2]);
  const s = m[3] === undefined ? 0 : Number(m[3]);
  if (h > 23 || mi > 59 || s > 59) return undefined;
  return `${pad2(h)}:${pad2(mi)}:${pad2(s)}${m[4] === undefined ? '' : `.${m[4]}`}`;
}
