import type { Build } from './context.js';
import { cwe, firstCode, xcn } from './datatypes.js';
import { repeat, type Field } from './encode.js';
import { obj, objs, str, type Json } from './json.js';
import { writeObx } from './obx.js';
import { timestamp } from './segments.js';

/*
 * The patient-level segments of an ADT message beyond PID/PV1: OBX (observations), AL1
 * (AllergyIntolerance) and DG1 (Condition), in the order ADT_A01/ADT_A05 put them.
 */

/** AllergyIntolerance.category → AL1-2 (HL7 table 0127). */
const ALLERGEN_TYPE: Readonly<Record<string, string>> = { medication: 'DA', food: 'FA', environment: 'EA', biologic: 'MA' };
/** reaction.severity, else criticality → AL1-4 (HL7 table 0128). */
const SEVERITY: Readonly<Record<string, string>> = { severe: 'SV', moderate: 'MO', mild: 'MI', high: 'SV', low: 'MI' };

function aboutPatient(b: Build, r: Json, patient: Json, field: string): boolean {
  const ref = obj(r[field]);
  if (!ref) return true;
  const target = b.res.resolve(ref, r);
  return target === undefined || target === patient;
}

export function writeAdtClinical(b: Build, patient: Json): void {
  for (const o of b.res.ofType('Observation')) if (aboutPatient(b, o, patient, 'subject')) writeObx(b, o);
  let n = 0;
  for (const a of b.res.ofType('AllergyIntolerance')) {
    if (!aboutPatient(b, a, patient, 'patient')) continue;
    const reaction = objs(a.reaction)[0];
    const manifestations = objs(reaction?.manifestation).map((m) => str(m.text) ?? str(objs(m.coding)[0]?.display) ?? firstCode(m)).filter((t): t is string => !!t);
    const category = Array.isArray(a.category) ? str(a.category[0]) : undefined;
    const fields: Field[] = [];
    fields[0] = String(++n);
    fields[1] = ALLERGEN_TYPE[category ?? ''];
    fields[2] = cwe(obj(a.code)).value;
    fields[3] = SEVERITY[str(reaction?.severity) ?? ''] ?? SEVERITY[str(a.criticality) ?? ''];
    fields[4] = repeat(manifestations.map((m) => [m]));
    fields[5] = timestamp(b, a, 'onsetDateTime', 'AllergyIntolerance');
    b.w.segment('AL1', fields);
  }
  n = 0;
  for (const c of b.res.ofType('Condition')) {
    if (!aboutPatient(b, c, patient, 'subject')) continue;
    const code = obj(c.code);
    const fields: Field[] = [];
    fields[0] = String(++n);
    fields[2] = cwe(code).value;
    fields[3] = str(code?.text);
    fields[4] = timestamp(b, c, 'onsetDateTime', 'Condition');
    // DG1-6 (diagnosis type) is required before v2.5: F(inal) unless the record says working.
    fields[5] = firstCode(c.verificationStatus) === 'provisional' ? 'W' : 'F';
    fields[15] = xcn(obj(c.asserter), b.res.resolve(c.asserter, c));
    fields[18] = timestamp(b, c, 'recordedDate', 'Condition');
    b.w.segment('DG1', fields);
  }
}
