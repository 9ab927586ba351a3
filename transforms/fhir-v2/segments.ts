import { formatHl7Timestamp, newControlId } from '../../engine/hl7/index.js';
import { Resources, type Build } from './context.js';
import { cwe, cx, firstCode, originalIdentifierRep, originalStillHolds, timestampOf, xad, xcn, xpn, xtn } from './datatypes.js';
import { repeat, type Composite, type Field } from './encode.js';
import { EXT } from '../v2-fhir/extensions.js';
import { extensionValue, obj, objs, str, type Json } from './json.js';

/*
 * Segments shared by every message: MSH, EVN, PID (Patient), PV1 (Encounter), NTE (notes).
 */

/** HD option text (`LAB^1.2.3^ISO`) as components, so callers can name a universal id. */
function hd(text: string): Composite {
  return text.split('^');
}

export function writeMsh(b: Build, type: readonly [string, string, string]): void {
  const o = b.opts;
  b.w.header([
    hd(o.sendingApplication), hd(o.sendingFacility), hd(o.receivingApplication), hd(o.receivingFacility),
    formatHl7Timestamp(o.now), '', type, o.controlId || newControlId(o.now.getTime()), o.processingId, o.version,
  ]);
}

export function writeEvn(b: Build, trigger: string): void {
  b.w.segment('EVN', [trigger, formatHl7Timestamp(b.opts.now)]);
}

/** Writes a timestamp field, warning when the FHIR value cannot be read. */
export function timestamp(b: Build, parent: Json | undefined, key: string, where: string): string | undefined {
  const t = timestampOf(parent, key);
  if (t.invalid !== undefined) b.res.warn('bad-datetime', `not a FHIR date/dateTime: ${JSON.stringify(t.invalid.slice(0, 40))}`, `${where}.${key}`);
  return t.text;
}

/** The v2 field an element came from when not its resource's main one (`hl7v2-field`). */
export function fieldOf(element: Json): string | undefined {
  return extensionValue(element, EXT.field);
}

/** DL identifier → DLN (licence number, issuing state or authority, expiration date). */
function dln(licence: Json): Field {
  const original = originalIdentifierRep(licence);
  if (original) return original;
  const end = timestampOf(obj(licence.period), 'end').text;
  return [str(licence.value) ?? '', str(obj(licence.assigner)?.display) ?? '', end ?? ''];
}

const GENDER: Readonly<Record<string, string>> = { male: 'M', female: 'F', other: 'O', unknown: 'U' };
const BIRTH_TIME = 'http://hl7.org/fhir/StructureDefinition/patient-birthTime';
const SSN_SYSTEM = 'http://hl7.org/fhir/sid/us-ssn';

/** Patient → PID. */
export function writePid(b: Build, patient: Json): void {
  const where = Resources.label(patient);
  const all = objs(patient.identifier).filter((i) => str(i.value));
  const ssn = all.find((i) => str(i.system) === SSN_SYSTEM);
  // PID-20 is the tagged DL identifier; a DL in PID-3 (a CX, kept whole) stays there.
  const license = all.find((i) => fieldOf(i) === 'PID-20') ?? all.find((i) => firstCode(i.type) === 'DL' && fieldOf(i) === undefined && extensionValue(i, EXT.original) === undefined);
  // Identifiers the forward map took from PID-2 / PID-4 go back there (`hl7v2-field`).
  const patientId = all.filter((i) => fieldOf(i) === 'PID-2');
  const alternateId = all.filter((i) => fieldOf(i) === 'PID-4');
  // The same identifier twice (v2 senders repeat the MRN in PID-2/PID-4) is written once.
  const seen = new Set<string>();
  const identifiers = all.filter((i) => i !== ssn && i !== license && (fieldOf(i) === undefined || fieldOf(i) === 'PID-3') && !seen.has(JSON.stringify(i)) && seen.add(JSON.stringify(i)));
  if (identifiers.length === 0) b.res.warn('missing-required', 'Patient has no identifier: PID-3 left empty', `${where}.identifier`);
  // An XPN-15 "called by" name is inside its XPN's original already.
  const allNames = objs(patient.name).filter((n) => fieldOf(n) !== 'XPN-15');
  const names = allNames.filter((n) => fieldOf(n) !== 'PID-9').map((n) => xpn(n, b.opts.version));
  const aliases = allNames.filter((n) => fieldOf(n) === 'PID-9').map((n) => xpn(n, b.opts.version));
  // The original v2 text first, then the standard birthTime extension, then the date.
  const birthTime = objs(obj(patient._birthDate)?.extension).find((e) => e.url === BIRTH_TIME);
  // The kept text and the birthTime are stale when birthDate was edited since: birthDate wins then.
  const birthDate = str(patient.birthDate);
  const timeHolds = birthTime !== undefined && (birthDate === undefined || (str(birthTime.valueDateTime) ?? '').startsWith(birthDate));
  const original = extensionValue(patient._birthDate, EXT.datetime);
  const birth = original !== undefined && originalStillHolds(original, birthDate) ? original
    : timeHolds ? timestamp(b, birthTime, 'valueDateTime', where) : timestamp(b, patient, 'birthDate', where);
  const gender = str(patient.gender);
  if (gender !== undefined && !GENDER[gender] && extensionValue(patient._gender, EXT.code) === undefined) b.res.warn('unknown-code', `gender ${JSON.stringify(gender)} has no v2 code`, `${where}.gender`);
  const telecom = objs(patient.telecom).filter((t) => str(t.value));
  const deceased = patient.deceasedBoolean === true || str(patient.deceasedDateTime) !== undefined;
  const fields: Field[] = [];
  fields[0] = '1';
  fields[1] = repeat(patientId.map(cx));
  fields[2] = repeat(identifiers.map(cx));
  fields[3] = repeat(alternateId.map(cx));
  fields[4] = repeat(names);
  fields[8] = repeat(aliases);
  fields[6] = birth;
  fields[7] = extensionValue(patient._gender, EXT.code) ?? (gender === undefined ? undefined : GENDER[gender]);
  fields[10] = repeat(objs(patient.address).map(xad));
  fields[12] = repeat(telecom.filter((t) => str(t.use) !== 'work').map(xtn));
  fields[13] = repeat(telecom.filter((t) => str(t.use) === 'work').map(xtn));
  fields[15] = cwe(obj(patient.maritalStatus)).value;
  fields[18] = ssn ? str(ssn.value) : undefined;
  fields[19] = license ? dln(license) : undefined;
  fields[28] = timestamp(b, patient, 'deceasedDateTime', where);
  fields[29] = deceased ? 'Y' : patient.deceasedBoolean === false ? 'N' : undefined;
  b.w.segment('PID', fields);
}

/** v3 ActCode encounter class → PV1-2 patient class. */
const PATIENT_CLASS: Readonly<Record<string, string>> = {
  IMP: 'I', ACUTE: 'I', NONAC: 'I', AMB: 'O', EMER: 'E', PRENC: 'P', OBSENC: 'O', SS: 'O', HH: 'O', FLD: 'O', VR: 'O',
};

/** Encounter → PV1; without one, `PV1|1|N` (not applicable), as the ADT structures require PV1. */
export function writePv1(b: Build, encounter: Json | undefined): void {
  if (!encounter) {
    b.w.segment('PV1', ['1', 'N']);
    return;
  }
  const where = Resources.label(encounter);
  // R4 has `class` as a Coding; R5 (and some senders) as a list of CodeableConcepts.
  const classCoding = Array.isArray(encounter.class) ? encounter.class[0] : encounter.class;
  // A PV1-2 code FHIR had no class for is kept in `hl7v2-code` (the class then says UNK).
  const klass = extensionValue(obj(classCoding), EXT.code) ?? firstCode(classCoding);
  const patientClass = klass === undefined ? 'U' : PATIENT_CLASS[klass] ?? klass;
  const location = obj(objs(encounter.location)[0]?.location);
  const locationText = str(location?.display) ?? str(b.res.resolve(location)?.name);
  const participant = objs(encounter.participant)[0];
  const attending = participant ? xcn(obj(participant.individual), b.res.resolve(participant.individual)) : undefined;
  const ids = objs(encounter.identifier).filter((i) => str(i.value));
  // PV1-19 is the identifier typed VN, else the first not taken from PV1-50.
  const alternate = ids.filter((i) => fieldOf(i) === 'PV1-50');
  const visit = ids.find((i) => firstCode(i.type) === 'VN') ?? ids.find((i) => fieldOf(i) === undefined);
  const period = obj(encounter.period);
  const fields: Field[] = [];
  fields[0] = '1';
  fields[1] = patientClass;
  fields[2] = locationText ? [locationText] : undefined;
  fields[6] = attending;
  fields[18] = visit ? cx(visit) : undefined;
  fields[49] = repeat(alternate.map(cx));
  fields[43] = timestamp(b, period, 'start', `${where}.period`);
  fields[44] = timestamp(b, period, 'end', `${where}.period`);
  b.w.segment('PV1', fields);
}

/** Annotations → NTE segments, one per line (NTE-3 is one line of text in most receivers). */
export function writeNotes(b: Build, notes: unknown): void {
  let n = 0;
  for (const note of objs(notes)) {
    const text = str(note.text);
    if (text === undefined) continue;
    for (const line of text.split(/\r\n|\r|\n/)) b.w.segment('NTE', [String(++n), '', line]);
  }
}
