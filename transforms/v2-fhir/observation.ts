import type { Ctx, Reference } from './context.js';
import { UCUM, lookupSystem } from './codesystems.js';
import { v2Date, v2TimeOfDay } from './datetime.js';
import { codeableConcept, eiIdentifier, xcnReference, xonReference, type Json } from './datatypes.js';
import { EXT, originalCodeElement, originalTimeElement, stringExt } from './extensions.js';
import type { SegmentReader, V2Value } from './fields.js';

/* OBX → Observation, with value[x] chosen by OBX-2; NTE → Annotation. */

const OBS_STATUS: Readonly<Record<string, string>> = { F: 'final', C: 'corrected', A: 'amended', P: 'preliminary', R: 'preliminary', S: 'preliminary', I: 'registered', O: 'registered', X: 'cancelled', D: 'entered-in-error', W: 'entered-in-error', U: 'final', N: 'unknown' };
/** The v2 code a reverse map would write for each status; any other original code is kept in `_status`. */
const OBS_STATUS_V2: Readonly<Record<string, string>> = { final: 'F', corrected: 'C', amended: 'A', preliminary: 'P', registered: 'I', cancelled: 'X', 'entered-in-error': 'W' };
/** A required CodeableConcept the message left empty. */
export const DATA_ABSENT: Readonly<Json> = Object.freeze({ extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/data-absent-reason', valueCode: 'unknown' }] });
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)$/;
const BASE64 = /^[A-Za-z0-9+/\r\n]*={0,2}$/;
const LINE_BREAKS = /[\r\n]/g;
const RANGE = /^\s*([+-]?(?:\d+\.?\d*|\.\d+))?\s*-\s*([+-]?(?:\d+\.?\d*|\.\d+))?\s*$/;
const COMPARATORS: ReadonlySet<string> = new Set(['<', '<=', '>=', '>']);
const MIME: Readonly<Record<string, string>> = {
  PDF: 'application/pdf', JPEG: 'image/jpeg', JPG: 'image/jpeg', PNG: 'image/png', GIF: 'image/gif', TIFF: 'image/tiff',
  RTF: 'application/rtf', HTML: 'text/html', XML: 'text/xml', PLAIN: 'text/plain', TEXT: 'text/plain', 'OCTET-STREAM': 'application/octet-stream',
};

export interface ObservationScope {
  readonly patient: Reference | undefined;
  readonly encounter: Reference | undefined;
  readonly specimen: Reference | undefined;
  /** Key of the parent order (filler/placer number) so OBX ids are stable per order. */
  readonly orderKey: string;
}

/** OBX-6 → unit, and a UCUM system/code when the unit is coded in UCUM. */
function units(ctx: Ctx, obx: SegmentReader): Json {
  const u = obx.field(6);
  if (u.empty) return {};
  const code = u.str(1);
  const text = u.str(2) || code;
  const system = u.str(3);
  const q: Json = { unit: text };
  const found = system === '' ? undefined : lookupSystem(system);
  if (found?.kind === 'known' && found.uri === UCUM) {
    q.system = UCUM;
    q.code = code;
  } else if (found?.kind === 'unknown') {
    ctx.warn('unknown-code-system', `unknown unit coding system ${JSON.stringify(system)}`, obx.path(6));
  }
  return q;
}

function quantity(value: string, unit: Json): Json {
  const q: Json = { value: Number(value), ...unit };
  // JSON numbers lose leading/trailing zeros and the plus sign: keep the text for the reverse map.
  if (String(Number(value)) !== value) q.extension = [stringExt(EXT.numeric, value)];
  return q;
}

type Value = { key: string; value: unknown; extra?: Record<string, unknown> } | undefined;

/** valueString, or nothing for blank text. */
function stringValue(text: string): Value {
  return text === '' ? undefined : { key: 'valueString', value: text };
}

/** One repetition of OBX-5 → a value[x] (key and value), or undefined when empty. */
function value(ctx: Ctx, obx: SegmentReader, type: string, rep: V2Value, unit: Json): Value {
  const path = obx.path(5);
  switch (type) {
    case 'NM': {
      const text = rep.str(1);
      if (NUMBER.test(text)) return { key: 'valueQuantity', value: quantity(text, unit) };
      ctx.warn('nm-not-numeric', `OBX-2 is NM but OBX-5 is not a number: kept as valueString`, path);
      return stringValue(rep.text());
    }
    case 'ST': case 'TX': case 'FT': case 'IS': case 'ID': case 'GTS':
      return stringValue(rep.text());
    case 'CWE': case 'CE': case 'CNE': case 'CF': case 'CV': {
      const cc = codeableConcept(ctx, rep, path);
      return cc ? { key: 'valueCodeableConcept', value: cc } : undefined;
    }
    case 'DT': case 'DTM': case 'TS': case 'DIN': {
      const text = rep.str(1);
      if (type === 'DT') {
        const d = v2Date(text);
        if (d) return { key: 'valueDateTime', value: d, extra: text.length > 8 ? { _valueDateTime: originalTimeElement(text) } : undefined };
      }
      const holder: Json = {};
      ctx.dateTime(holder, 'valueDateTime', text, path);
      if (holder.valueDateTime !== undefined) return { key: 'valueDateTime', value: holder.valueDateTime, extra: holder._valueDateTime ? { _valueDateTime: holder._valueDateTime } : undefined };
      return stringValue(rep.text());
    }
    case 'TM': {
      const text = rep.str(1).trim();
      const t = v2TimeOfDay(text);
      // FHIR time has no offset (and pads seconds): the text as sent is kept for the reverse map.
      if (t) return { key: 'valueTime', value: t, extra: text !== t.replaceAll(':', '') ? { _valueTime: originalTimeElement(text) } : undefined };
      ctx.warn('bad-timestamp', 'OBX-2 is TM but OBX-5 is not a time: kept as valueString', path);
      return stringValue(rep.text());
    }
    case 'SN': return structuredNumeric(ctx, rep, unit, path);
    case 'ED': {
      const ed = encapsulatedData(ctx, rep, path);
      (ed!.value as Json).extension = [stringExt(EXT.original, rep.original())];
      return ed;
    }
    case 'RP': {
      const url = rep.str(1);
      const attachment: Json = { extension: [stringExt(EXT.original, rep.original())], contentType: MIME[rep.str(4).toUpperCase()] ?? 'application/octet-stream' };
      if (url !== '') attachment.url = url;
      return { key: 'valueAttachment', value: attachment };
    }
    default:
      ctx.warn('unsupported-value-type', `OBX-2 value type ${JSON.stringify(type)} is not mapped: OBX-5 kept as valueString`, obx.path(2));
      return stringValue(rep.text());
  }
}

/** SN: comparator^num1^separator^num2 → Quantity (with comparator), Range or Ratio (IG SN map). */
function structuredNumeric(ctx: Ctx, rep: V2Value, unit: Json, path: string): Value {
  const comparator = rep.str(1);
  const n1 = rep.str(2);
  const sep = rep.str(3);
  const n2 = rep.str(4);
  const numeric = (s: string) => s === '' || NUMBER.test(s);
  if (!numeric(n1) || !numeric(n2) || (comparator !== '' && comparator !== '=' && !COMPARATORS.has(comparator))) {
    ctx.warn('sn-not-numeric', 'OBX-5 is not a valid SN value: kept as valueString', path);
    return stringValue(rep.text());
  }
  if (sep === ':' || sep === '/') {
    return { key: 'valueRatio', value: { ...(n1 ? { numerator: quantity(n1, unit) } : {}), ...(n2 ? { denominator: quantity(n2, {}) } : {}) } };
  }
  if (sep === '-') {
    return { key: 'valueRange', value: { ...(n1 ? { low: quantity(n1, unit) } : {}), ...(n2 ? { high: quantity(n2, unit) } : {}) } };
  }
  if (sep === '+') return stringValue(rep.text());
  if (n1 === '') return undefined;
  const q = quantity(n1, unit);
  if (COMPARATORS.has(comparator)) q.comparator = comparator;
  return { key: 'valueQuantity', value: q };
}

/** ED: source^type^subtype^encoding^data → Attachment. */
function encapsulatedData(ctx: Ctx, rep: V2Value, path: string): Value {
  const type = rep.str(2).toUpperCase();
  const subtype = rep.str(3).toUpperCase();
  const encoding = rep.str(4).toUpperCase();
  const data = rep.str(5);
  const contentType = MIME[subtype] ?? (type === 'TEXT' ? 'text/plain' : 'application/octet-stream');
  const attachment: Json = { contentType };
  if (data !== '') {
    if (encoding === 'BASE64') {
      if (BASE64.test(data)) attachment.data = data.replace(LINE_BREAKS, '');
      else {
        ctx.warn('bad-base64', 'OBX-5 ED data is not valid Base64: the attachment has no data', path);
      }
    } else attachment.data = Buffer.from(data, encoding === 'HEX' ? 'hex' : 'utf8').toString('base64');
  }
  return { key: 'valueAttachment', value: attachment };
}

/** OBX-7 "low-high" → a referenceRange; anything else as text. */
function referenceRange(text: string, unit: Json): Json {
  const m = RANGE.exec(text);
  const range: Json = {};
  if (m && (m[1] !== undefined || m[2] !== undefined)) {
    if (m[1] !== undefined) range.low = quantity(m[1], unit);
    if (m[2] !== undefined) range.high = quantity(m[2], unit);
  }
  range.text = text;
  return range;
}

/**
 * OBX → Observation. R4 has no Observation.valueAttachment: ED/RP values become
 * DocumentReference attachments (returned for the caller to add) and the Observation
 * points at them through derivedFrom.
 */
function observationFromObx(ctx: Ctx, obx: SegmentReader, scope: ObservationScope): { observation: Json; attachments: Json[] } {
  const attachments: Json[] = [];
  const o: Json = { resourceType: 'Observation' };
  const type = obx.str(2).toUpperCase();
  if (type !== '') o.extension = [stringExt(EXT.valueType, type)];
  const ids = obx.reps(21).map((r) => eiIdentifier(r)).filter((i) => i !== undefined);
  if (ids.length > 0) o.identifier = ids;
  const statusCode = obx.str(11);
  const status = OBS_STATUS[statusCode.toUpperCase()];
  if (!status) ctx.warn(statusCode === '' ? 'missing-required' : 'unknown-code', `OBX-11 (result status) ${statusCode === '' ? 'is empty' : `${JSON.stringify(statusCode)} is not in table 0085`}: status set to unknown`, obx.path(11));
  o.status = status ?? 'unknown';
  if (statusCode !== '' && OBS_STATUS_V2[o.status as string] !== statusCode) o._status = originalCodeElement(statusCode);
  const code = codeableConcept(ctx, obx.field(3), obx.path(3));
  if (code) o.code = code;
  else {
    ctx.warn('missing-required', 'OBX-3 (observation identifier) is empty', obx.path(3));
    o.code = DATA_ABSENT;
  }
  if (scope.patient) o.subject = scope.patient;
  if (scope.encounter) o.encounter = scope.encounter;
  // OBX-14 only: OBR-7 is on the DiagnosticReport, and copying it here would invent an OBX-14 on the way back.
  ctx.dateTime(o, 'effectiveDateTime', obx.str(14), obx.path(14));
  const performers = [...obx.reps(16).map((r) => xcnReference(r)), xonReference(obx.field(23))].filter((r) => r !== undefined);
  if (performers.length > 0) o.performer = performers;

  const unit = units(ctx, obx);
  const unitsField = obx.field(6);
  if (!unitsField.empty) ((o.extension ??= []) as unknown[]).push(stringExt(EXT.units, unitsField.original()));
  const reps = obx.reps(5);
  if (type === '' && reps.length > 0) ctx.warn('missing-required', 'OBX-2 (value type) is empty: OBX-5 kept as valueString', obx.path(2));
  const valueType = type === '' ? 'ST' : type;
  // TX/FT repetitions are lines of one text, not several values.
  if (reps.length > 1 && (valueType === 'TX' || valueType === 'FT' || valueType === 'ST')) {
    const lines = reps.map((r) => r.text()).join('\n');
    if (lines.trim() !== '') o.valueString = lines;
  } else if (reps.length === 1) {
    const v = value(ctx, obx, valueType, reps[0]!, unit);
    if (v?.key === 'valueAttachment') attachments.push(v.value as Json);
    else if (v) {
      o[v.key] = v.value;
      if (v.extra) Object.assign(o, v.extra);
    }
  } else if (reps.length > 1) {
    const components: Json[] = [];
    for (const rep of reps) {
      const v = value(ctx, obx, valueType, rep, unit);
      if (v?.key === 'valueAttachment') attachments.push(v.value as Json);
      else if (v) components.push({ code: o.code, [v.key]: v.value, ...v.extra });
    }
    if (components.length > 0) o.component = components;
  }
  const interpretation = obx.reps(8).map((r) => codeableConcept(ctx, r, obx.path(8))).filter((c) => c !== undefined);
  if (interpretation.length > 0) o.interpretation = interpretation;
  const range = obx.str(7);
  if (range !== '') o.referenceRange = [referenceRange(obx.text(7), unit)];
  const method = codeableConcept(ctx, obx.field(17), obx.path(17));
  if (method) o.method = method;
  const site = codeableConcept(ctx, obx.field(20), obx.path(20));
  if (site) o.bodySite = site;
  if (scope.specimen) o.specimen = scope.specimen;
  return { observation: o, attachments };
}

/** Adds an OBX's Observation; its id is keyed by its order, set id, sub-id and code. */
export function addObservation(ctx: Ctx, obx: SegmentReader, scope: ObservationScope): { ref: Reference; resource: Json } {
  const { observation: o, attachments } = observationFromObx(ctx, obx, scope);
  const key = `${scope.orderKey}|OBX|${obx.str(1)}|${obx.raw(3)}|${obx.str(4)}|${obx.occurrence}`;
  const derivedFrom: Reference[] = [];
  attachments.forEach((attachment, i) => {
    const doc: Json = { resourceType: 'DocumentReference', status: 'current', type: o.code, content: [{ attachment }] };
    if (scope.patient) doc.subject = scope.patient;
    derivedFrom.push(ctx.add(doc as { resourceType: string }, ctx.sender, `${key}|ED|${i}`));
  });
  if (derivedFrom.length > 0) o.derivedFrom = derivedFrom;
  const ref = ctx.add(o as { resourceType: string }, ctx.sender, key);
  return { ref, resource: ctx.resourceOf(ref) };
}

/** NTE → Annotation (NTE-3 repetitions are lines). */
export function annotation(ctx: Ctx, nte: SegmentReader): Json | undefined {
  const text = nte.reps(3).map((r) => r.text()).join('\n');
  if (text.trim() === '') return undefined;
  const a: Json = { text };
  const author = xcnReference(nte.field(5));
  if (author?.display) a.authorString = author.display;
  ctx.dateTime(a, 'time', nte.str(6), nte.path(6));
  return a;
}
