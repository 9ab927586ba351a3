import { ConversionError, type ConversionResult, type FhirBundle, type FhirResource } from '../types.js';
import { DEFAULT_FHIR_TO_V2, Resources, type Build, type FhirToV2Options } from './context.js';
import { writeAdtClinical } from './clinical.js';
import { MessageWriter } from './encode.js';
import { EXT } from '../v2-fhir/extensions.js';
import { extensionValue, obj, objs, str, type Json } from './json.js';
import { supportingObservations, writeLooseObservation, writeReport, writeRequest } from './orders.js';
import { writeEvn, writeMsh, writePid, writePv1 } from './segments.js';

export { DEFAULT_FHIR_TO_V2, type FhirToV2Options } from './context.js';

/*
 * FHIR R4 → HL7 v2. The `message` option, else a MessageHeader's message type, else what
 * the input holds decides the message:
 *   DiagnosticReport (+ Observations)  → ORU^R01
 *   ServiceRequest (no report)         → ORM^O01
 *   Observations alone                 → ORU^R01
 *   Patient (+ Encounter)              → ADT^A08, A28 or A31 (option adtEvent)
 * References resolve inside a bundle by fullUrl or Type/id. Missing pieces become
 * warnings; only input with nothing to convert throws a ConversionError.
 */
export function fhirToV2(input: FhirResource | FhirBundle, options: Partial<FhirToV2Options> = {}): ConversionResult<string> {
  if (!obj(input) || typeof input.resourceType !== 'string') throw new ConversionError('not a FHIR resource: no resourceType', 'not-fhir');
  const opts: FhirToV2Options = { ...DEFAULT_FHIR_TO_V2, now: new Date(), controlId: '', adtEvent: 'A08', ...stripUndefined(options) };
  const res = new Resources(input);
  const b: Build = { w: new MessageWriter(), res, opts };
  const reports = res.ofType('DiagnosticReport');
  const observations = res.ofType('Observation');
  const requests = res.ofType('ServiceRequest');
  const patients = res.ofType('Patient');
  const family = opts.message === 'auto' ? headerFamily(res) : opts.message;
  const possible = { ORU: reports.length > 0 || observations.length > 0, ORM: requests.length > 0, ADT: patients.length > 0 };
  if (family && !possible[family]) res.warn('missing-required', `no resource for an ${family} message in the input; chose the message from what it holds`);
  // By content: a report makes a result; a request (with its answers) an order; observations alone a result.
  const byContent = reports.length > 0 ? 'ORU' : requests.length > 0 ? 'ORM' : observations.length > 0 ? 'ORU' : possible.ADT ? 'ADT' : undefined;
  const chosen = family && possible[family] ? family : byContent;
  if (chosen === 'ORU') oru(b, reports, observations);
  else if (chosen === 'ORM') orm(b, requests);
  else if (chosen === 'ADT') adt(b, patients, options.adtEvent ?? headerEvent(res) ?? 'A08');
  else {
    const types = [...new Set(res.all.map((r) => String(r.resourceType)))].join(', ') || 'nothing';
    throw new ConversionError(`nothing to convert to HL7 v2: expected a DiagnosticReport, Observation, ServiceRequest or Patient, got ${types}`, 'unsupported');
  }
  return { result: b.w.toString(), warnings: res.warnings };
}

/** The message family a MessageHeader names: its original v2 type, else its v2 event code. */
function headerFamily(res: Resources): 'ORU' | 'ORM' | 'ADT' | undefined {
  const header = res.ofType('MessageHeader')[0];
  if (!header) return undefined;
  const type = extensionValue(header, EXT.messageType)?.split('^')[0];
  if (type === 'ORU' || type === 'ORM' || type === 'ADT') return type;
  const event = str(obj(header.eventCoding)?.code) ?? '';
  if (/^A\d\d$/.test(event)) return 'ADT';
  return event === 'O01' ? 'ORM' : event === 'R01' ? 'ORU' : undefined;
}

/** A MessageHeader's event when it is one of the ADT triggers we write (so an A31 stays an A31). */
function headerEvent(res: Resources): FhirToV2Options['adtEvent'] | undefined {
  const code = str(obj(res.ofType('MessageHeader')[0]?.eventCoding)?.code);
  return code === 'A08' || code === 'A28' || code === 'A31' ? code : undefined;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The subject of the first resource that names one, resolved; else the only Patient. */
function patientOf(b: Build, sources: Json[]): Json | undefined {
  for (const s of sources) {
    const p = b.res.resolve(s.subject, s);
    if (p?.resourceType === 'Patient') return p;
  }
  const all = b.res.ofType('Patient');
  if (all.length > 1) b.res.warn('several-patients', `${all.length} Patients in the input; PID is written for the first`);
  return all[0];
}

function encounterOf(b: Build, sources: Json[]): Json | undefined {
  for (const s of sources) {
    const e = b.res.resolve(s.encounter, s);
    if (e?.resourceType === 'Encounter') return e;
  }
  return b.res.ofType('Encounter')[0];
}

function patientGroup(b: Build, sources: Json[], pv1: boolean): void {
  const patient = patientOf(b, sources);
  if (patient) writePid(b, patient);
  else b.res.warn('missing-patient', 'no Patient in the input: the message has no PID');
  const encounter = encounterOf(b, sources);
  if (patient && (encounter || pv1)) writePv1(b, encounter);
}

function oru(b: Build, reports: Json[], observations: Json[]): void {
  writeMsh(b, ['ORU', 'R01', 'ORU_R01']);
  // Observations a report (or a panel) already lists are written under it, not again.
  const listed = new Set<Json>();
  for (const r of [...reports, ...observations]) {
    for (const ref of [...objs(r.result), ...objs(r.hasMember)]) {
      const o = b.res.resolve(ref, r);
      if (o) listed.add(o);
    }
  }
  const loose = observations.filter((o) => !listed.has(o));
  patientGroup(b, [...reports, ...loose], false);
  if (reports.length === 0) {
    for (const o of loose) writeLooseObservation(b, o);
    return;
  }
  // Observations no report lists go under the report nearest them in the input (the next
  // one, else the last), in input order, so none is lost and no OBR is invented.
  const extra = new Map<Json, Json[]>(reports.map((r) => [r, []]));
  let pending: Json[] = [];
  for (const r of b.res.all) {
    if (r.resourceType === 'DiagnosticReport') {
      extra.get(r)!.unshift(...pending);
      pending = [];
    } else if (loose.includes(r)) pending.push(r);
  }
  extra.get(reports[reports.length - 1]!)!.push(...pending);
  for (const r of reports) writeReport(b, r, extra.get(r)!);
}

function orm(b: Build, requests: Json[]): void {
  writeMsh(b, ['ORM', 'O01', 'ORM_O01']);
  patientGroup(b, requests, false);
  // Observations no request lists still go out, under the last order.
  const listed = new Set(requests.flatMap((r) => supportingObservations(b, r)));
  const unlisted = b.res.ofType('Observation').filter((o) => !listed.has(o));
  requests.forEach((r, i) => writeRequest(b, r, i === requests.length - 1 ? unlisted : []));
}

function adt(b: Build, patients: Json[], event: FhirToV2Options['adtEvent']): void {
  writeMsh(b, ['ADT', event, event === 'A08' ? 'ADT_A01' : 'ADT_A05']);
  writeEvn(b, event);
  const encounters = b.res.ofType('Encounter');
  // The encounter of the patient we write, when several are given.
  const first = patients[0]!;
  if (patients.length > 1) b.res.warn('several-patients', `${patients.length} Patients in the input; the message is for the first`);
  writePid(b, first);
  const own = encounters.find((e) => b.res.resolve(e.subject, e) === first) ?? encounters.find((e) => str(obj(e.subject)?.reference) === undefined);
  writePv1(b, own);
  writeAdtClinical(b, first);
}
