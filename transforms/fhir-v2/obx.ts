import { DEFAULT_DELIMITERS, unescapeValue } from '../../engine/hl7/index.js';
import { v2TimeOfDay } from '../v2-fhir/datetime.js';
import { EXT } from '../v2-fhir/extensions.js';
import { Resources, type Build } from './context.js';
import { atLeast, cwe, firstCode, numberText, originalRep, timestampOf, units, v2Time, xcn } from './datatypes.js';
import { repeat, type Composite, type Encoded, type Field } from './encode.js';
import { extensionValue, obj, objs, str, type Json } from './json.js';
import { timestamp, writeNotes } from './segments.js';

/*
 * Observation → OBX (+ NTE). value[x] decides OBX-2 and OBX-5/6 unless the forward map
 * kept the original OBX-2, which then wins where the value fits it (TX stays TX).
 */

/** Observation.status → OBX-11 (HL7 table 0085). */
const RESULT_STATUS: Readonly<Record<string, string>> = {
  registered: 'I', preliminary: 'P', final: 'F', amended: 'C', corrected: 'C', cancelled: 'X', 'entered-in-error': 'W', unknown: '',
};

/** Longer than this (or multi-line) a string goes as TX rather than ST. */
const ST_MAX = 199;

interface ObxValue {
  readonly type: string;
  readonly reps: (Composite | Encoded)[];
  readonly units?: Composite;
}

/** Text for OBX-5: one repetition per line (TX lines; FT keeps its own `\.br\` escapes). */
function textValue(text: string, original: string | undefined): ObxValue {
  const multiline = /[\r\n]/.test(text);
  // The forward map keeps text it could not read (an NM that is no number, a malformed SN) as
  // valueString: its original OBX-2 goes back with it.
  const type = original ?? (multiline || text.length > ST_MAX ? 'TX' : 'ST');
  return { type, reps: text.split(/\r\n|\r|\n/).map((l) => [l]) };
}

function quantityValue(q: Json, original: string | undefined): ObxValue {
  const num = numberText(q) ?? '';
  const comparator = str(q.comparator) ?? '';
  if (comparator !== '' || original === 'SN') return { type: 'SN', reps: [[comparator, num]], units: units(q) };
  return { type: 'NM', reps: [[num]], units: units(q) };
}

function snPair(a: Json | undefined, separator: string, b: Json | undefined): Composite {
  return ['', a ? numberText(a) : '', separator, b ? numberText(b) : ''];
}

/** The OBX-2/5/6 of one value[x]; undefined when the observation has none. */
function valueOf(b: Build, o: Json, where: string): ObxValue | undefined {
  const original = extensionValue(o, EXT.valueType);
  const v2 = atLeast(b.opts.version, 2, 5);
  if (obj(o.valueQuantity)) return quantityValue(obj(o.valueQuantity)!, original);
  if (typeof o.valueString === 'string') return textValue(o.valueString, original);
  if (obj(o.valueCodeableConcept)) {
    const c = cwe(obj(o.valueCodeableConcept));
    if (c.dropped > 0) b.res.warn('codings-dropped', `${c.dropped} coding(s) beyond the two a CWE holds were dropped`, `${where}.valueCodeableConcept`);
    const coded = original === 'CE' || original === 'CNE' || original === 'CF' || original === 'CWE';
    return { type: coded ? original : v2 ? 'CWE' : 'CE', reps: [c.value] };
  }
  if (typeof o.valueDateTime === 'string') {
    const t = timestampOf(o, 'valueDateTime');
    if (t.text === undefined) return undefined;
    const type = original === 'DT' || original === 'TS' || original === 'DTM' ? original : t.text.length <= 8 ? 'DT' : v2 ? 'DTM' : 'TS';
    return { type, reps: [[t.text]] };
  }
  if (typeof o.valueTime === 'string') {
    // The TM as sent (with its offset) while it still says the same time of day.
    const original = extensionValue(o._valueTime, EXT.datetime);
    if (original !== undefined && v2TimeOfDay(original) === o.valueTime) return { type: 'TM', reps: [[original]] };
    const t = v2Time(o.valueTime);
    return t === undefined ? undefined : { type: 'TM', reps: [[t]] };
  }
  if (obj(o.valueRange)) {
    const r = obj(o.valueRange)!;
    const low = obj(r.low);
    const high = obj(r.high);
    const withUnit = [low, high].find((q) => q && (str(q.unit) || str(q.code)));
    return { type: 'SN', reps: [snPair(low, '-', high)], units: units(withUnit ?? {}) };
  }
  if (obj(o.valueRatio)) {
    const r = obj(o.valueRatio)!;
    return { type: 'SN', reps: [snPair(obj(r.numerator), ':', obj(r.denominator))], units: units(obj(r.numerator) ?? {}) };
  }
  // R4 Observations have no valueAttachment; the forward map puts ED/RP data in a
  // DocumentReference the Observation is derivedFrom. Both shapes are read.
  const attachment = obj(o.valueAttachment) ?? derivedAttachment(b, o);
  if (attachment) return attachmentValue(attachment, original);
  if (typeof o.valueBoolean === 'boolean') return { type: v2 ? 'CWE' : 'CE', reps: [[o.valueBoolean ? 'Y' : 'N', o.valueBoolean ? 'Yes' : 'No', 'HL70136']] };
  if (typeof o.valueInteger === 'number') return { type: 'NM', reps: [[String(o.valueInteger)]] };
  for (const key of Object.keys(o)) {
    if (key.startsWith('value') && key !== 'value') {
      b.res.warn('unsupported-value', `${key} has no OBX form; OBX-5 left empty`, `${where}.${key}`);
      return undefined;
    }
  }
  return undefined;
}

function derivedAttachment(b: Build, o: Json): Json | undefined {
  for (const ref of objs(o.derivedFrom)) {
    const doc = b.res.resolve(ref, o);
    if (doc?.resourceType !== 'DocumentReference') continue;
    const a = obj(objs(doc.content)[0]?.attachment);
    if (a) return a;
  }
  return undefined;
}

/** Attachment → ED (inline data) or RP (a URL); the original ED/RP when the attachment is unchanged. */
function attachmentValue(a: Json, original: string | undefined): ObxValue {
  const kept = originalRep(a, (c) => (original === 'RP' ? c[0] === (str(a.url) ?? '') : c[3]?.toUpperCase() !== 'BASE64' || (c[4] ?? '') === (str(a.data) ?? '')));
  if (kept && (original === 'ED' || original === 'RP')) return { type: original, reps: [kept] };
  const [mainType = '', subType = ''] = (str(a.contentType) ?? '').split('/');
  const data = str(a.data);
  if (original === 'RP' || (data === undefined && str(a.url))) return { type: 'RP', reps: [[str(a.url), '', mainType, subType]] };
  return { type: 'ED', reps: [['', mainType, subType, 'Base64', data]] };
}

/**
 * OBX-6 as sent (`hl7v2-units` on the Observation), unless the value's own unit says
 * otherwise now; it also keeps units the FHIR value has no place for (a coded value's).
 */
function originalUnits(o: Json, value: ObxValue | undefined): Encoded | undefined {
  const encoded = extensionValue(o, EXT.units);
  if (encoded === undefined || /[|~\r\n]/.test(encoded)) return undefined;
  const now = value?.units?.filter((c): c is string => typeof c === 'string' && c !== '') ?? [];
  const sent = encoded.split('^').map((c) => unescapeValue(c, DEFAULT_DELIMITERS));
  return now.every((u) => sent.includes(u)) ? { encoded } : undefined;
}

/** Reference range → OBX-7: its text, else `low-high`, `>low` or `<high`. */
function referenceRange(o: Json): string | undefined {
  const range = objs(o.referenceRange)[0];
  if (!range) return undefined;
  const text = str(range.text);
  if (text) return text;
  const low = obj(range.low) ? numberText(obj(range.low)!) : undefined;
  const high = obj(range.high) ? numberText(obj(range.high)!) : undefined;
  if (low !== undefined && high !== undefined) return `${low}-${high}`;
  if (low !== undefined) return `>${low}`;
  if (high !== undefined) return `<${high}`;
  return undefined;
}

/** Components that repeat the observation's own code carry repeated OBX-5 values (the forward map's shape). */
function repeatedValues(o: Json): Json[] | undefined {
  const components = objs(o.component);
  if (components.length === 0) return undefined;
  const code = firstCode(o.code);
  return components.every((c) => firstCode(c.code) === undefined || firstCode(c.code) === code) ? components : undefined;
}

/** Writes the OBX (and its NTEs) for one Observation. */
export function writeObx(b: Build, o: Json): void {
  const where = Resources.label(o);
  const setId = String(b.w.count('OBX') + 1);
  let value = valueOf(b, o, where);
  const repeated = value ? undefined : repeatedValues(o);
  if (repeated) {
    const values = repeated.map((c) => valueOf(b, c, `${where}.component`)).filter((v): v is ObxValue => v !== undefined);
    const first = values[0];
    if (first) value = { type: first.type, reps: values.flatMap((v) => v.reps), units: first.units };
  }
  const code = cwe(obj(o.code));
  if (code.value.length === 0 || code.value.every((c) => c === '')) b.res.warn('missing-required', 'Observation has no code: OBX-3 left empty', `${where}.code`);
  if (code.dropped > 0) b.res.warn('codings-dropped', `${code.dropped} coding(s) beyond the two a CWE holds were dropped`, `${where}.code`);
  if (!value && !obj(o.dataAbsentReason) && objs(o.component).length === 0) b.res.warn('missing-value', 'Observation has no value: OBX-5 left empty', where);
  const status = str(o.status);
  if (status === undefined) b.res.warn('missing-required', 'Observation has no status: OBX-11 left empty', `${where}.status`);
  const effective = obj(o.effectivePeriod)
    ? timestamp(b, obj(o.effectivePeriod), 'start', `${where}.effectivePeriod`)
    : timestamp(b, o, 'effectiveDateTime', where) ?? timestamp(b, o, 'effectiveInstant', where);
  const performers = objs(o.performer).map((p) => ({ ref: p, resolved: b.res.resolve(p, o) }));
  const person = performers.find((p) => (str(p.resolved?.resourceType) ?? str(p.ref.type) ?? /^(\w+)\//.exec(str(p.ref.reference) ?? '')?.[1] ?? 'Practitioner').startsWith('Practitioner'));
  const org = performers.find((p) => p.resolved?.resourceType === 'Organization' || str(p.ref.type) === 'Organization' || (str(p.ref.reference) ?? '').startsWith('Organization/'));
  const fields: Field[] = [];
  fields[0] = setId;
  // An empty OBX-5 still had a value type in the original message.
  fields[1] = value?.type ?? extensionValue(o, EXT.valueType);
  fields[2] = code.value;
  fields[4] = value ? repeat(value.reps) : undefined;
  fields[5] = originalUnits(o, value) ?? value?.units;
  fields[6] = referenceRange(o);
  fields[7] = repeat(objs(o.interpretation).map((i) => [firstCode(i) ?? '']));
  // The v2 code wins when the forward map kept it (`_status`): table 0085 is finer than FHIR's statuses.
  fields[10] = extensionValue(o._status, EXT.code) ?? (status === undefined ? undefined : RESULT_STATUS[status] ?? '');
  fields[13] = effective;
  fields[15] = person && person !== org ? xcn(person.ref, person.resolved) : undefined;
  if (org && atLeast(b.opts.version, 2, 5)) fields[22] = [str(org.resolved?.name) ?? str(org.ref.display)];
  b.w.segment('OBX', fields);
  writeNotes(b, o.note);
  if (!repeated) for (const c of objs(o.component)) writeComponent(b, c, o);
}

/** A component with its own code becomes its own OBX, with the parent's status and time. */
function writeComponent(b: Build, c: Json, parent: Json): void {
  const synthetic: Json = { ...c, resourceType: 'Observation', status: parent.status };
  for (const key of ['effectiveDateTime', '_effectiveDateTime', 'effectivePeriod', 'effectiveInstant']) if (key in parent) synthetic[key] = parent[key];
  if (str(parent.id)) synthetic.id = `${String(parent.id)}#component`;
  writeObx(b, synthetic);
}
