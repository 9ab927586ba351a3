import type { Ctx, Reference } from './context.js';
import { address, codeableConcept, languageConcept, contactPoint, cxIdentifier, hdSystem, humanName, humanNames, tableConcept, xcnReference, xonReference, type Json } from './datatypes.js';
import { EXT, originalCodeElement, stringExt, tagField } from './extensions.js';
import type { SegmentReader, V2Value } from './fields.js';

/* PID → Patient, PD1 → Patient.generalPractitioner, NK1 → RelatedPerson, MRG → Patient.link. */

const DIGITS = /^\d+$/;
const GENDER: Readonly<Record<string, string>> = { M: 'male', F: 'female', O: 'other', A: 'other', U: 'unknown', N: 'unknown' };
/** The PID-8 code a reverse map would write for each gender. */
const GENDER_V2: Readonly<Record<string, string>> = { male: 'M', female: 'F', other: 'O', unknown: 'U' };
const MARITAL = 'http://terminology.hl7.org/CodeSystem/v3-MaritalStatus';
const MARITAL_MAP: Readonly<Record<string, string>> = { A: 'L', D: 'D', I: 'I', L: 'L', M: 'M', P: 'T', S: 'S', W: 'W', U: 'UNK', T: 'T', C: 'C', N: 'A', R: 'T', O: 'UNK', E: 'L', G: 'T', B: 'U' };

/** The first usable identifier of an identifier list: it decides the resource's id and conditional URL. */
export interface Identity {
  readonly authority: string;
  readonly value: string;
  /** `system|value`, when the identifier has a system (needed for a safe conditional update). */
  readonly token?: string;
}

export function identityOf(ctx: Ctx, reps: V2Value[]): Identity | undefined {
  for (const rep of reps) {
    const value = rep.str(1);
    if (value === '') continue;
    const hd = rep.sub(4);
    const system = hdSystem(hd.str(1), hd.str(2), hd.str(3));
    // The identifier's system when there is one (HD-2 tells `MR&1.2.3.1` from `MR&1.2.3.2`), so ids agree with the conditional search.
    const authority = system ?? (hd.str(1) || hd.str(2) || ctx.sender);
    return system ? { authority, value, token: `${system}|${value}` } : { authority, value };
  }
  return undefined;
}

/** DLN (licence number, issuing state, expiration date) → Identifier typed DL (IG DLN map). */
function driversLicence(ctx: Ctx, dln: V2Value, path: string): Json | undefined {
  const value = dln.str(1);
  if (value === '') return undefined;
  // The field as sent (some senders write a CX here) goes back whole.
  const id: Json = { extension: [stringExt(EXT.original, dln.original())], type: tableConcept('DL', '0203'), value };
  const end: Json = {};
  ctx.date(end, 'end', dln.str(3), path);
  if (end.end !== undefined) id.period = end;
  if (dln.str(2) !== '') id.assigner = { display: dln.str(2) };
  return id;
}

export function gender(ctx: Ctx, code: string, path: string): string | undefined {
  if (code === '') return undefined;
  const g = GENDER[code.toUpperCase()];
  if (!g) ctx.warn('unknown-code', `sex ${JSON.stringify(code)} is not in HL7 table 0001`, path);
  return g;
}

/** PID (with its PD1, if any) → Patient. Returns the reference other resources use. */
export function patientFromPid(ctx: Ctx, pid: SegmentReader, pd1: SegmentReader | undefined): Reference {
  const p: Json = { resourceType: 'Patient' };
  const identifiers: Json[] = [];
  const idReps = pid.reps(3);
  for (const rep of idReps) {
    const id = cxIdentifier(ctx, rep, pid.path(3));
    if (id) identifiers.push(id);
  }
  // PID-2 and PID-4 (IG PID map: identifier[1], identifier[3]), tagged so the reverse map puts them back.
  for (const n of [2, 4]) {
    for (const rep of pid.reps(n)) {
      const id = cxIdentifier(ctx, rep, pid.path(n));
      if (id) identifiers.push(tagField(id, `PID-${n}`));
    }
  }
  // PID-19: the IG types a US SSN `SS` (v2-0203) in the us-ssn system.
  const ssn = pid.str(19);
  if (ssn !== '') identifiers.push({ type: tableConcept('SS', '0203'), system: 'http://hl7.org/fhir/sid/us-ssn', value: ssn });
  const dl = driversLicence(ctx, pid.field(20), pid.path(20));
  if (dl) identifiers.push(tagField(dl, 'PID-20'));
  if (identifiers.length > 0) p.identifier = identifiers;
  else ctx.warn('missing-required', 'PID-3 has no patient identifier: the Patient cannot be matched on replay', pid.path(3));

  // PID-9 aliases are more names (IG: name[2]); their use comes from XPN-7 only (table 0200 → name-use).
  const names = [...humanNames(ctx, pid.reps(5), pid.path(5)), ...humanNames(ctx, pid.reps(9), pid.path(9), 'PID-9')];
  if (names.length > 0) p.name = names;
  const telecom = [...pid.reps(13), ...pid.reps(14)].map((r) => contactPoint(r)).filter((t) => t !== undefined);
  const business = pid.reps(14).length;
  // PID-14 numbers are work numbers whatever their XTN.2 says.
  for (let i = telecom.length - business; i < telecom.length; i++) if (telecom[i] && telecom[i]!.use === undefined) telecom[i]!.use = 'work';
  if (telecom.length > 0) p.telecom = telecom;
  const sex = pid.str(8);
  // The binding is required: a sex code outside table 0001 becomes `unknown` (original kept below).
  const g = sex === '' ? undefined : gender(ctx, sex, pid.path(8)) ?? 'unknown';
  if (g) p.gender = g;
  // Sex codes FHIR cannot tell apart (A, N) or does not know are kept for the reverse map.
  if (sex !== '' && GENDER_V2[g ?? ''] !== sex) p._gender = originalCodeElement(sex);
  const birth = pid.str(7);
  if (birth !== '') {
    ctx.date(p, 'birthDate', birth, pid.path(7));
    // A birth time goes in the standard extension as well (IG PID-7 map).
    if (birth.length > 8 && p.birthDate) {
      const t = ctx.dateTimeValue(birth, pid.path(7));
      if (t) {
        const el = (p._birthDate ?? { extension: [] }) as { extension: Json[] };
        el.extension.push({ url: 'http://hl7.org/fhir/StructureDefinition/patient-birthTime', valueDateTime: t });
        p._birthDate = el;
      }
    }
  }
  const deathTime = pid.str(29);
  const deathFlag = pid.str(30);
  if (deathTime !== '') ctx.dateTime(p, 'deceasedDateTime', deathTime, pid.path(29));
  else if (deathFlag === 'Y' || deathFlag === 'N') p.deceasedBoolean = deathFlag === 'Y';
  const addresses = pid.reps(11).map((r) => address(ctx, r, pid.path(11))).filter((a) => a !== undefined);
  if (addresses.length > 0) p.address = addresses;
  const marital = pid.field(16);
  if (!marital.empty) {
    const mapped = MARITAL_MAP[marital.str(1)];
    p.maritalStatus = mapped ? { coding: [{ system: MARITAL, code: mapped, ...(marital.str(2) ? { display: marital.str(2) } : {}) }] } : codeableConcept(ctx, marital, pid.path(16));
  }
  const multiple = pid.str(24);
  const order = pid.str(25);
  if (DIGITS.test(order) && order.length < 10) p.multipleBirthInteger = Number(order);
  else if (multiple === 'Y' || multiple === 'N') p.multipleBirthBoolean = multiple === 'Y';
  const language = pid.field(15);
  if (!language.empty) {
    const lang = languageConcept(language);
    if (lang) p.communication = [{ language: lang, preferred: true }];
  }
  if (pd1) {
    const gps: Reference[] = [];
    for (const rep of pd1.reps(4)) { const r = xcnReference(rep); if (r) gps.push(r); }
    for (const rep of pd1.reps(3)) { const r = xonReference(rep); if (r) gps.push(r); }
    if (gps.length > 0) p.generalPractitioner = gps;
  }
  const identity = identityOf(ctx, idReps);
  const authority = identity?.authority ?? ctx.sender;
  const key = identity?.value ?? ctx.localKey(pid.index);
  return ctx.add(p as { resourceType: string }, authority, key, identity?.token ? `identifier=${identity.token}` : undefined);
}

/** NK1 → RelatedPerson (a next of kin that is an organisation, NK1-13 only, is skipped). */
export function relatedPersonFromNk1(ctx: Ctx, nk1: SegmentReader, patient: Reference): void {
  const rp: Json = { resourceType: 'RelatedPerson', patient };
  const names = humanNames(ctx, nk1.reps(2), nk1.path(2));
  if (names.length === 0 && nk1.str(13) !== '') return;
  rp.active = true;
  if (names.length > 0) rp.name = names;
  const rel = codeableConcept(ctx, nk1.field(3), nk1.path(3));
  const role = codeableConcept(ctx, nk1.field(7), nk1.path(7));
  const relationship = [rel, role].filter((c) => c !== undefined);
  if (relationship.length > 0) rp.relationship = relationship;
  const telecom = [...nk1.reps(5), ...nk1.reps(6)].map((r) => contactPoint(r)).filter((t) => t !== undefined);
  if (telecom.length > 0) rp.telecom = telecom;
  const addresses = nk1.reps(4).map((r) => address(ctx, r, nk1.path(4))).filter((a) => a !== undefined);
  if (addresses.length > 0) rp.address = addresses;
  const g = gender(ctx, nk1.str(15), nk1.path(15));
  if (g) rp.gender = g;
  ctx.date(rp, 'birthDate', nk1.str(16), nk1.path(16));
  const period: Json = {};
  ctx.dateTime(period, 'start', nk1.str(8), nk1.path(8));
  ctx.dateTime(period, 'end', nk1.str(9), nk1.path(9));
  if (Object.keys(period).length > 0) rp.period = period;
  const ids = nk1.reps(33).map((r) => cxIdentifier(ctx, r, nk1.path(33))).filter((i) => i !== undefined);
  if (ids.length > 0) rp.identifier = ids;
  const patientKey = patient.reference ?? '';
  ctx.add(rp as { resourceType: string }, patientKey, `NK1|${nk1.str(1)}|${names.length > 0 ? JSON.stringify(names[0]) : nk1.occurrence}`);
}

/**
 * MRG (A34/A40): the prior patient (MRG-1) is kept as an inactive Patient `replaced-by`
 * the surviving one, and the survivor gets a `replaces` link (IG MRG map).
 */
export function mergeFromMrg(ctx: Ctx, mrg: SegmentReader, survivor: Reference): void {
  const reps = mrg.reps(1);
  const identifiers = reps.map((r) => cxIdentifier(ctx, r, mrg.path(1))).filter((i) => i !== undefined);
  const account = mrg.str(3);
  if (identifiers.length === 0) {
    ctx.warn('missing-required', 'MRG-1 has no prior patient identifier: the merge is not represented', mrg.path(1));
    return;
  }
  const prior: Json = { resourceType: 'Patient', active: false, identifier: identifiers };
  const names = mrg.reps(7).map((r) => humanName(ctx, r, mrg.path(7))).filter((n) => n !== undefined);
  if (names.length > 0) prior.name = names;
  prior.link = [{ other: { reference: survivor.reference }, type: 'replaced-by' }];
  const identity = identityOf(ctx, reps)!;
  const priorRef = ctx.add(prior as { resourceType: string }, identity.authority, identity.value, identity.token ? `identifier=${identity.token}` : undefined);
  const survivorEntry = ctx.produced.find((e) => `urn:uuid:${e.resource.id}` === survivor.reference);
  if (survivorEntry) {
    const links = (survivorEntry.resource.link as Json[] | undefined) ?? [];
    links.push({ other: { reference: priorRef.reference }, type: 'replaces' });
    survivorEntry.resource.link = links;
  }
  if (account !== '') ctx.warn('not-mapped', 'MRG-3 (prior account number) is not mapped', mrg.path(3));
}
