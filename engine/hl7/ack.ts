import { randomInt } from 'node:crypto';
import { DEFAULT_DELIMITERS, encodingCharacters, type Delimiters } from './delimiters.js';
import { escapeValue } from './escape.js';
import type { Hl7Message } from './message.js';

/** Original mode (AA/AE/AR) and enhanced-mode accept acknowledgements (CA/CE/CR). */
export type AckCode = 'AA' | 'AE' | 'AR' | 'CA' | 'CE' | 'CR';

/** HL7 table 0357 codes most used in NAKs. */
export const HL7_ERROR = {
  segmentSequence: '100',
  requiredFieldMissing: '101',
  dataTypeError: '102',
  tableValueNotFound: '103',
  unsupportedMessageType: '200',
  unsupportedEventCode: '201',
  unsupportedProcessingId: '202',
  unsupportedVersion: '203',
  duplicateKey: '205',
  applicationInternalError: '207',
} as const;

const ERROR_TEXT: Record<string, string> = {
  '100': 'Segment sequence error',
  '101': 'Required field missing',
  '102': 'Data type error',
  '103': 'Table value not found',
  '200': 'Unsupported message type',
  '201': 'Unsupported event code',
  '202': 'Unsupported processing id',
  '203': 'Unsupported version id',
  '205': 'Duplicate key identifier',
  '207': 'Application internal error',
};

export interface AckError {
  /** HL7 table 0357 code; 207 (application internal error) when not given. */
  code?: string;
  /** Error location, e.g. `PID^1^3` (segment^sequence^field). */
  location?: string;
  /** Human-readable text for the sender's interface analyst. */
  text: string;
  /** E (error), W (warning), I (information). */
  severity?: 'E' | 'W' | 'I';
}

export interface AckOptions {
  code: AckCode;
  /** MSA-3 text and, with AE/AR/CE/CR, the ERR text when no `error` is given. */
  text?: string;
  error?: AckError;
  /** MSH-3/MSH-4 of the ACK when the original message lacks MSH-5/MSH-6. */
  application?: string;
  facility?: string;
  now?: Date;
  controlId?: string;
}

const BASE36 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ';
// Random per-process values, so processes running side by side (cluster workers) differ.
const processTag = randomInt(1679616);
const counterBase = randomInt(46656);
let lastTime = 0;
let seq = 0;

/**
 * A control id unique across messages and restarts: time in ms (base 36), a per-process
 * random tag, a per-millisecond counter and two random characters; 17 characters until
 * 2059, at most 20 (the v2.5 limit of MSH-10). Within a process ids never repeat: the time
 * part never goes backwards (clock steps, a fixed `now`) and a full millisecond moves on
 * to the next one.
 */
export function newControlId(time = Date.now()): string {
  const now = Math.floor(time);
  if (now > lastTime) {
    lastTime = now;
    seq = 0;
  } else if (++seq >= 46656) {
    lastTime++;
    seq = 0;
  }
  // randomInt draws from a cached pool; randomBytes(2) would cost a system call per id.
  const rnd = randomInt(1296);
  return lastTime.toString(36).toUpperCase() + pad36(processTag, 4) + pad36((counterBase + seq) % 46656, 3) + pad36(rnd, 2);
}

function pad36(n: number, width: number): string {
  let s = '';
  for (let i = 0; i < width; i++) { s = BASE36[n % 36] + s; n = Math.floor(n / 36); }
  return s;
}

/** HL7 DTM in UTC with an explicit offset, to the millisecond. */
const p = (n: number, w = 2): string => String(n).padStart(w, '0');

export function formatHl7Timestamp(d: Date): string {
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds(), 3)}+0000`;
}

/** Original or enhanced mode, from MSH-15/MSH-16 (accept/application ack types). */
export function ackMode(msg: Hl7Message): 'original' | 'enhanced' {
  return msg.get('MSH-15') !== '' || msg.get('MSH-16') !== '' ? 'enhanced' : 'original';
}

/** Builds the ACK for a parsed message. */
export function buildAck(msg: Hl7Message, opts: AckOptions): string {
  const d = msg.delimiters;
  const trigger = msg.get('MSH-9.2');
  return renderAck(d, {
    sendingApplication: msg.getRaw('MSH-5') || escapeValue(opts.application ?? '', d),
    sendingFacility: msg.getRaw('MSH-6') || escapeValue(opts.facility ?? '', d),
    receivingApplication: msg.getRaw('MSH-3'),
    receivingFacility: msg.getRaw('MSH-4'),
    messageType: `ACK${d.component}${escapeValue(trigger, d)}${d.component}ACK`,
    processingId: msg.getRaw('MSH-11'),
    version: msg.getRaw('MSH-12') || '2.5.1',
    acknowledgedId: msg.getRaw('MSH-10'),
  }, opts);
}

/**
 * A NAK for input that could not be parsed as a message: default delimiters, no MSA-2
 * unless the caller salvaged a control id.
 */
export function buildNak(opts: Omit<AckOptions, 'code'> & { code?: 'AR' | 'AE' | 'CR' | 'CE'; acknowledgedId?: string; version?: string }): string {
  const d = DEFAULT_DELIMITERS;
  return renderAck(d, {
    sendingApplication: escapeValue(opts.application ?? '', d),
    sendingFacility: escapeValue(opts.facility ?? '', d),
    receivingApplication: '',
    receivingFacility: '',
    messageType: 'ACK',
    processingId: 'P',
    version: opts.version ?? '2.5.1',
    acknowledgedId: escapeValue(opts.acknowledgedId ?? '', d),
  }, { ...opts, code: opts.code ?? 'AR' });
}

interface AckHeader {
  sendingApplication: string;
  sendingFacility: string;
  receivingApplication: string;
  receivingFacility: string;
  messageType: string;
  processingId: string;
  version: string;
  acknowledgedId: string;
}

function renderAck(d: Delimiters, h: AckHeader, opts: AckOptions): string {
  const f = d.field;
  const controlId = opts.controlId ?? newControlId();
  const msh = ['MSH', encodingCharacters(d), h.sendingApplication, h.sendingFacility, h.receivingApplication, h.receivingFacility,
    formatHl7Timestamp(opts.now ?? new Date()), '', h.messageType, controlId, h.processingId, h.version].join(f);
  const failed = opts.code !== 'AA' && opts.code !== 'CA';
  const errorText = opts.error?.text ?? opts.text;
  const msaText = opts.text ?? (failed ? errorText : undefined);
  let out = `${msh}\rMSA${f}${opts.code}${f}${h.acknowledgedId}`;
  if (msaText) out += `${f}${escapeValue(truncate(msaText, 80), d)}`;
  out += '\r';
  if (failed && errorText !== undefined) out += renderErr(d, h.version, opts.error ?? { text: errorText }) + '\r';
  return out;
}

function renderErr(d: Delimiters, version: string, e: AckError): string {
  const f = d.field;
  const c = d.component;
  const code = e.code ?? HL7_ERROR.applicationInternalError;
  const codeText = ERROR_TEXT[code] ?? 'Error';
  const location = (e.location ?? '').split('^').map((x) => escapeValue(x, d)).join(c);
  const text = escapeValue(e.text, d);
  if (versionBefore(version, 2, 5)) {
    // v2.3/v2.4: ERR-1 (ELD) = segment^sequence^field^code&text&HL70357.
    const sub = d.subcomponent || c;
    const where = (e.location ?? '').split('^').slice(0, 3).map((x) => escapeValue(x, d));
    while (where.length < 3) where.push('');
    return `ERR${f}${where.join(c)}${c}${code}${sub}${escapeValue(codeText, d)}${sub}HL70357${sub}${sub}${text}`;
  }
  // v2.5+: ERR-2 location, ERR-3 code (CWE), ERR-4 severity, ERR-8 user message.
  return ['ERR', '', location, `${code}${c}${escapeValue(codeText, d)}${c}HL70357`, e.severity ?? 'E', '', '', '', text].join(f);
}

function versionBefore(version: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(version);
  if (!m) return false;
  const a = Number(m[1]);
  const b = Number(m[2]);
  return a < major || (a === major && b < minor);
}

function truncate(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, max - 1) + '…';
}
