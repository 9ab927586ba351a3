import type { Ctx, Reference } from './context.js';
import { codeableConcept, cxIdentifier, tableConcept, xcnReference, type Json } from './datatypes.js';
import { EXT, stringExt, tagField } from './extensions.js';
import type { SegmentReader, V2Value } from './fields.js';
import { identityOf } from './patient.js';

/* PV1/PV2 → Encounter. The status comes from the trigger event (table in docs/TRANSFORMS.md). */

const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
const PARTICIPATION = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';

/** PV1-2 patient class (table 0004) → Encounter.class (v3 ActCode). */
export const ENCOUNTER_CLASS: Readonly<Record<string, { code: string; display: string }>> = {
  E: { code: 'EMER', display: 'emergency' },
  I: { code: 'IMP', display: 'inpatient encounter' },
  O: { code: 'AMB', display: 'ambulatory' },
  P: { code: 'PRENC', display: 'pre-admission' },
  R: { code: 'AMB', display: 'ambulatory' },
  B: { code: 'IMP', display: 'inpatient encounter' },
  C: { code: 'AMB', display: 'ambulatory' },
};

/**
 * Trigger event → Encounter.status: the IG ConceptMap table-hl70003-to-encounter-status.
 * Its A08 row says `unknown`, i.e. the trigger does not decide: A08 and triggers not listed
 * take the status from PV1 (statusFromPv1).
 */
export const STATUS_BY_TRIGGER: Readonly<Record<string, string>> = {
  A01: 'in-progress',
  A02: 'in-progress',
  A03: 'finished',
  A04: 'planned',
  A05: 'planned',
  A11: 'cancelled',
  A13: 'in-progress',
};

/** PV1-2 → Encounter.status: the IG ConceptMap table-hl70004-to-encounter-status. */
const STATUS_BY_CLASS: Readonly<Record<string, string>> = {
  E: 'in-progress', I: 'in-progress', O: 'in-progress', P: 'planned', R: 'in-progress', B: 'in-progress', C: 'in-progress', N: 'in-progress', U: 'unknown',
};

/** Status when the trigger does not decide (IG PV1 map): discharged (PV1-45) → finished, else by PV1-2, else unknown. */
function statusFromPv1(pv1: SegmentReader): string {
  if (pv1.str(45) !== '') return 'finished';
  return STATUS_BY_CLASS[pv1.str(2).toUpperCase()] ?? 'unknown';
}

/** True when the PV1 says more than "no visit" (`PV1|1|N`), which A28/A31 often send. */
export function hasVisit(pv1: SegmentReader): boolean {
  const cls = pv1.str(2);
  return (cls !== '' && cls !== 'N') || pv1.str(19) !== '' || pv1.str(3) !== '' || pv1.str(44) !== '';
}

/** PL (point of care, room, bed, facility) → a Location reference by display. */
function locationRef(v: V2Value): Reference | undefined {
  const display = [v.str(1), v.str(2), v.str(3), v.sub(4).str(1), v.str(7), v.str(8)].filter((s) => s !== '').join(', ');
  return display === '' ? undefined : { type: 'Location', display };
}

function participant(list: Json[], code: string, display: string, reps: V2Value[]): void {
  for (const rep of reps) {
    const individual = xcnReference(rep);
    if (individual) list.push({ type: [{ coding: [{ system: PARTICIPATION, code, display }] }], individual });
  }
}

export function encounterFromPv1(ctx: Ctx, pv1: SegmentReader, pv2: SegmentReader | undefined, trigger: string, patient: Reference): Reference {
  const e: Json = { resourceType: 'Encounter' };
  const visit = pv1.field(19);
  const ids: Json[] = [];
  const visitId = cxIdentifier(ctx, visit, pv1.path(19));
  // IG PV1 map: the visit number is typed VN whatever CX-5 says (the original CX keeps CX-5).
  if (visitId) ids.push({ ...visitId, type: { ...tableConcept('VN', '0203'), text: 'visit number' } });
  // PV1-50, every repetition (IG: identifier[2]), tagged for the reverse map.
  for (const rep of pv1.reps(50)) {
    const alt = cxIdentifier(ctx, rep, pv1.path(50));
    if (alt) ids.push(tagField(alt, 'PV1-50'));
  }
  if (ids.length > 0) e.identifier = ids;
  e.status = STATUS_BY_TRIGGER[trigger] ?? statusFromPv1(pv1);
  const cls = pv1.str(2);
  const mapped = ENCOUNTER_CLASS[cls];
  if (mapped) e.class = { system: ACT_CODE, code: mapped.code, display: mapped.display };
  else if (cls !== '') {
    // A local class: unknown in FHIR terms, the sender's code kept for the reverse map.
    ctx.warn('unknown-code', `patient class ${JSON.stringify(cls)} is not in HL7 table 0004`, pv1.path(2));
    e.class = { extension: [stringExt(EXT.code, cls)], system: 'http://terminology.hl7.org/CodeSystem/v3-NullFlavor', code: 'UNK', display: 'unknown' };
  } else {
    ctx.warn('missing-required', 'PV1-2 (patient class) is empty: Encounter.class set to unknown', pv1.path(2));
    e.class = { system: 'http://terminology.hl7.org/CodeSystem/v3-NullFlavor', code: 'UNK', display: 'unknown' };
  }
  const admissionType = pv1.str(4);
  if (admissionType !== '') e.type = [tableConcept(admissionType, '0007')];
  const service = pv1.str(10);
  if (service !== '') e.serviceType = tableConcept(service, '0069');
  e.subject = patient;
  const participants: Json[] = [];
  participant(participants, 'ATND', 'attender', pv1.reps(7));
  participant(participants, 'REF', 'referrer', pv1.reps(8));
  participant(participants, 'CON', 'consultant', pv1.reps(9));
  participant(participants, 'ADM', 'admitter', pv1.reps(17));
  if (participants.length > 0) e.participant = participants;
  const period: Json = {};
  ctx.dateTime(period, 'start', pv1.str(44), pv1.path(44));
  ctx.dateTime(period, 'end', pv1.str(45), pv1.path(45));
  if (Object.keys(period).length > 0) e.period = period;
  if (pv2) {
    const reason = codeableConcept(ctx, pv2.field(3), pv2.path(3));
    if (reason) e.reasonCode = [reason];
  }
  const hospitalization: Json = {};
  const admitSource = pv1.str(14);
  if (admitSource !== '') hospitalization.admitSource = tableConcept(admitSource, '0023');
  const readmission = pv1.str(13);
  if (readmission !== '') hospitalization.reAdmission = tableConcept(readmission, '0092');
  const disposition = pv1.str(36);
  if (disposition !== '') hospitalization.dischargeDisposition = tableConcept(disposition, '0112');
  if (Object.keys(hospitalization).length > 0) e.hospitalization = hospitalization;
  const locations: Json[] = [];
  const current = locationRef(pv1.field(3));
  if (current) locations.push({ location: current, status: e.status === 'finished' ? 'completed' : e.status === 'planned' ? 'planned' : 'active' });
  const prior = locationRef(pv1.field(6));
  if (prior) locations.push({ location: prior, status: 'completed' });
  if (locations.length > 0) e.location = locations;
  const identity = identityOf(ctx, visit.empty ? [] : [visit]);
  const key = identity?.value ?? ctx.localKey(pv1.index);
  return ctx.add(e as { resourceType: string }, identity?.authority ?? ctx.sender, key, identity?.token ? `identifier=${identity.token}` : undefined);
}
