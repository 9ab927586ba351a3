import type { Ctx, Reference } from './context.js';
import { codeableConcept, cxIdentifier, eiIdentifier, tableConcept, xcnReference, type Json } from './datatypes.js';
import type { SegmentReader } from './fields.js';

/* AL1 → AllergyIntolerance, DG1 → Condition, PR1 → Procedure, IN1 → Coverage. */

const ALLERGY_CATEGORY: Readonly<Record<string, string>> = { DA: 'medication', FA: 'food', EA: 'environment', AA: 'environment', PA: 'environment', LA: 'environment', MA: '' };
const CRITICALITY: Readonly<Record<string, string>> = { SV: 'high', MO: 'low', MI: 'low', U: 'unable-to-assess' };

export function allergyFromAl1(ctx: Ctx, al1: SegmentReader, patient: Reference): void {
  const a: Json = {
    resourceType: 'AllergyIntolerance',
    clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }] },
  };
  const type = al1.str(2);
  const category = ALLERGY_CATEGORY[type.toUpperCase()];
  if (category) a.category = [category];
  const criticality = CRITICALITY[al1.str(4).toUpperCase()];
  if (criticality) a.criticality = criticality;
  const code = codeableConcept(ctx, al1.field(3), al1.path(3));
  if (code) a.code = code;
  else ctx.warn('missing-required', 'AL1-3 (allergen) is empty', al1.path(3));
  a.patient = patient;
  ctx.dateTime(a, 'onsetDateTime', al1.str(6), al1.path(6));
  const reactions = al1.reps(5).map((r) => r.text()).filter((t) => t !== '');
  if (reactions.length > 0) a.reaction = [{ manifestation: reactions.map((text) => ({ text })) }];
  const key = `${patient.reference}|AL1|${al1.raw(3)}`;
  ctx.add(a as { resourceType: string }, ctx.sender, key);
}

/** Field 3 as a CodeableConcept with field 4 (the description) as its text, as DG1 and PR1 carry them; warns when both are empty. */
function codedWithText(ctx: Ctx, seg: SegmentReader, missing: string): Json | undefined {
  const code = codeableConcept(ctx, seg.field(3), seg.path(3));
  const description = seg.str(4);
  if (code) {
    if (description !== '' && code.text === undefined) code.text = description;
    return code;
  }
  if (description !== '') return { text: description };
  ctx.warn('missing-required', missing, seg.path(3));
  return undefined;
}

export function conditionFromDg1(ctx: Ctx, dg1: SegmentReader, patient: Reference, encounter: Reference | undefined): Reference {
  const c: Json = { resourceType: 'Condition' };
  const ident = eiIdentifier(dg1.field(20));
  if (ident) c.identifier = [ident];
  c.category = [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: 'encounter-diagnosis', display: 'Encounter Diagnosis' }] }];
  const code = codedWithText(ctx, dg1, 'DG1-3 (diagnosis code) is empty');
  if (code) c.code = code;
  c.subject = patient;
  if (encounter) c.encounter = encounter;
  ctx.dateTime(c, 'onsetDateTime', dg1.str(5), dg1.path(5));
  ctx.dateTime(c, 'recordedDate', dg1.str(19), dg1.path(19));
  const clinician = xcnReference(dg1.field(16));
  if (clinician) c.asserter = clinician;
  const key = ident ? `${ident.system ?? ''}|${ident.value as string}` : `${patient.reference}|DG1|${dg1.str(1)}|${dg1.raw(3)}`;
  return ctx.add(c as { resourceType: string }, ctx.sender, key);
}

/** PR1 → Procedure (IG PR1 map): a reported procedure is `completed`. */
export function procedureFromPr1(ctx: Ctx, pr1: SegmentReader, patient: Reference, encounter: Reference | undefined): Reference {
  const p: Json = { resourceType: 'Procedure' };
  const ident = eiIdentifier(pr1.field(19));
  if (ident) p.identifier = [ident];
  p.status = 'completed';
  const category = tableConcept(pr1.str(6), '0230', pr1.field(6).str(2) || undefined);
  if (category) p.category = category;
  const code = codedWithText(ctx, pr1, 'PR1-3 (procedure code) is empty');
  if (code) p.code = code;
  p.subject = patient;
  if (encounter) p.encounter = encounter;
  ctx.dateTime(p, 'performedDateTime', pr1.str(5), pr1.path(5));
  const performers: Json[] = [];
  for (const [field, role] of [[8, 'anesthesiologist'], [11, 'surgeon']] as const) {
    for (const rep of pr1.reps(field)) {
      const actor = xcnReference(rep);
      if (actor) performers.push({ function: { text: role }, actor });
    }
  }
  if (performers.length > 0) p.performer = performers;
  const reasons = pr1.reps(15).map((r) => codeableConcept(ctx, r, pr1.path(15))).filter((c) => c !== undefined);
  if (reasons.length > 0) p.reasonCode = reasons;
  const key = ident ? `${ident.system ?? ''}|${ident.value as string}` : `${patient.reference}|PR1|${pr1.str(1)}|${pr1.raw(3)}|${pr1.raw(5)}`;
  return ctx.add(p as { resourceType: string }, ctx.sender, key);
}

const SUBSCRIBER_RELATIONSHIP: Readonly<Record<string, string>> = { SEL: 'self', SPO: 'spouse', DOM: 'common', CHD: 'child', PAR: 'parent', EME: 'other', FTH: 'parent', MTH: 'parent', OTH: 'other' };

export function coverageFromIn1(ctx: Ctx, in1: SegmentReader, patient: Reference): void {
  const c: Json = { resourceType: 'Coverage', status: 'active' };
  const ids: Json[] = [];
  const policy = in1.str(36);
  if (policy !== '') ids.push({ type: tableConcept('MB', '0203'), value: policy });
  const plan = in1.field(2);
  if (plan.str(1) !== '') ids.push({ value: plan.str(1) });
  if (ids.length > 0) c.identifier = ids;
  const planType = in1.str(15);
  if (planType !== '') c.type = tableConcept(planType, '0086');
  const insured = in1.str(49);
  if (insured !== '') c.subscriberId = insured;
  c.beneficiary = patient;
  const relationship = in1.str(17);
  if (relationship !== '') c.relationship = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/subscriber-relationship', code: SUBSCRIBER_RELATIONSHIP[relationship] ?? 'other' }], text: relationship };
  const period: Json = {};
  ctx.dateTime(period, 'start', in1.str(12), in1.path(12));
  ctx.dateTime(period, 'end', in1.str(13), in1.path(13));
  if (Object.keys(period).length > 0) c.period = period;
  const company = cxIdentifier(ctx, in1.field(3), in1.path(3));
  const companyName = in1.str(4);
  const payor: Json = { type: 'Organization' };
  if (company) payor.identifier = company;
  if (companyName !== '') payor.display = companyName;
  if (!company && companyName === '') {
    ctx.warn('missing-required', 'IN1-3/IN1-4 (insurance company) are empty: Coverage.payor is unknown', in1.path(3));
    payor.display = 'unknown';
  }
  c.payor = [payor];
  const group = in1.str(8);
  if (group !== '') {
    const cls: Json = { type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/coverage-class', code: 'group' }] }, value: group };
    if (in1.str(9) !== '') cls.name = in1.str(9);
    c.class = [cls];
  }
  const key = `${patient.reference}|IN1|${in1.str(1)}|${in1.raw(3)}|${policy}`;
  ctx.add(c as { resourceType: string }, ctx.sender, key);
}
