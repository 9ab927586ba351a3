import { Prng } from './prng.js';

/** A FHIR resource as plain JSON; the simulator does not need typed models. */
export type FhirResource = { resourceType: string; id: string } & Record<string, unknown>;

export interface GenerateOptions {
  seed: number;
  patients: number;
  observationsPerPatient: number;
  messy: boolean;
}

const LOINC = 'http://loinc.org';
const EPIC_CATEGORY = 'http://open.epic.com/FHIR/StructureDefinition/observation-category';
const HL7_CATEGORY = 'http://terminology.hl7.org/CodeSystem/observation-category';
/** Site-specific component OIDs, the shape real Epic data uses instead of LOINC (EPIC.md). */
const LOCAL_OID_PREFIX = 'urn:oid:1.2.840.114350.1.13.283.2.7.5.737384.';
/** Data is dated from here, not from "now", so it is identical on every run. */
const BASE_TIME = Date.UTC(2024, 0, 1);

interface Test { loinc: string; local: string; display: string; unit: string; low: number; high: number; vital: boolean }
const TESTS: Test[] = [
  { loinc: '2345-7', local: '149', display: 'Glucose', unit: 'mg/dL', low: 70, high: 180, vital: false },
  { loinc: '718-7', local: '152', display: 'Hemoglobin', unit: 'g/dL', low: 10, high: 17, vital: false },
  { loinc: '2823-3', local: '163', display: 'Potassium', unit: 'mmol/L', low: 3.2, high: 5.5, vital: false },
  { loinc: '2951-2', local: '171', display: 'Sodium', unit: 'mmol/L', low: 132, high: 148, vital: false },
  { loinc: '2160-0', local: '178', display: 'Creatinine', unit: 'mg/dL', low: 0.5, high: 1.8, vital: false },
  { loinc: '8867-4', local: '5', display: 'Heart rate', unit: '/min', low: 50, high: 120, vital: true },
  { loinc: '8310-5', local: '6', display: 'Body temperature', unit: 'Cel', low: 36, high: 39, vital: true },
  { loinc: '9279-1', local: '9', display: 'Respiratory rate', unit: '/min', low: 12, high: 24, vital: true },
  { loinc: '59408-5', local: '10', display: 'Oxygen saturation', unit: '%', low: 90, high: 100, vital: true },
];
const FAMILY = ['Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Lopez', 'Wilson'];
const GIVEN = ['Ana', 'Ben', 'Chloe', 'David', 'Elena', 'Farah', 'George', 'Hana', 'Ivan', 'Julia'];
const CONDITIONS = [['44054006', 'Type 2 diabetes mellitus'], ['38341003', 'Hypertension'], ['195967001', 'Asthma'], ['13645005', 'COPD']] as const;
const ALLERGENS = [['7980', 'Penicillin G'], ['2670', 'Codeine'], ['1191', 'Aspirin']] as const;

const iso = (ms: number): string => new Date(ms).toISOString();
const round = (n: number, digits: number): number => Number(n.toFixed(digits));

/** Generates the same patients and clinical data for the same options, every time. */
export function generateData(options: GenerateOptions): FhirResource[] {
  const rng = new Prng(options.seed);
  const out: FhirResource[] = [];
  for (let p = 0; p < options.patients; p++) {
    const patientId = rng.id();
    const meta = (offsetMs: number): Record<string, string> => ({ versionId: '1', lastUpdated: iso(BASE_TIME + offsetMs) });
    out.push({
      resourceType: 'Patient', id: patientId, meta: meta(p * 1000),
      identifier: [{ use: 'usual', system: 'urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14', value: `E${String(100000 + p)}` }],
      active: true,
      name: [{ use: 'official', family: rng.pick(FAMILY), given: [rng.pick(GIVEN)] }],
      gender: rng.pick(['female', 'male']),
      birthDate: iso(Date.UTC(1940 + rng.int(0, 60), rng.int(0, 11), rng.int(1, 28))).slice(0, 10),
    });
    const subject = { reference: `Patient/${patientId}` };
    const encounterIds: string[] = [];
    for (let e = 0; e < 3; e++) {
      const id = rng.id();
      encounterIds.push(id);
      const start = BASE_TIME + rng.int(0, 300) * 86_400_000;
      out.push({
        resourceType: 'Encounter', id, meta: meta(start), subject,
        status: e === 2 ? 'in-progress' : 'finished',
        class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: rng.pick(['AMB', 'IMP', 'EMER']) },
        identifier: [{ use: 'usual', system: 'urn:oid:1.2.840.114350.1.13.0.1.7.3.698084.8', value: String(rng.int(100000000, 999999999)) }],
        period: { start: iso(start), ...(e === 2 ? {} : { end: iso(start + 3_600_000) }) },
      });
    }
    for (let c = 0, n = rng.int(1, 3); c < n; c++) {
      const [code, display] = rng.pick(CONDITIONS);
      out.push({
        resourceType: 'Condition', id: rng.id(), meta: meta(c), subject,
        clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
        category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: 'problem-list-item' }] }],
        code: { coding: [{ system: 'http://snomed.info/sct', code, display }], text: display },
      });
    }
    if (rng.chance(0.7)) {
      const [code, display] = rng.pick(ALLERGENS);
      out.push({
        resourceType: 'AllergyIntolerance', id: rng.id(), meta: meta(0), patient: subject,
        clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }] },
        code: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code, display }], text: display },
      });
    }
    out.push({
      resourceType: 'DocumentReference', id: rng.id(), meta: meta(0), subject, status: 'current',
      type: { coding: [{ system: LOINC, code: '11506-3', display: 'Progress note' }] },
      category: [{ coding: [{ system: 'http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category', code: 'clinical-note' }] }],
      content: [{ attachment: { contentType: 'text/plain', url: `Binary/${rng.id()}` } }],
    });
    for (let o = 0; o < options.observationsPerPatient; o++) {
      const effective = BASE_TIME + rng.int(0, 300 * 24) * 3_600_000;
      const encounterId = rng.pick(encounterIds);
      out.push(observation(rng, options.messy, rng.id(), subject, { reference: `Encounter/${encounterId}` }, effective));
    }
  }
  return out;
}

function observation(rng: Prng, messy: boolean, id: string, subject: object, encounter: object, effective: number): FhirResource {
  const test = rng.pick(TESTS);
  const value = round(test.low + rng.next() * (test.high - test.low), 1);
  const base = {
    resourceType: 'Observation', id, meta: { versionId: '1', lastUpdated: iso(effective) }, subject, encounter,
    effectiveDateTime: iso(effective), issued: iso(effective + 600_000),
  };
  const hl7Category = { coding: [{ system: HL7_CATEGORY, code: test.vital ? 'vital-signs' : 'laboratory' }] };
  const loincCoding = { system: LOINC, code: test.loinc, display: test.display };
  const localCoding = { system: LOCAL_OID_PREFIX.slice(0, -1), code: test.local, display: test.display };
  if (!messy) {
    return { ...base, status: 'final', category: [hl7Category], code: { coding: [loincCoding], text: test.display }, valueQuantity: quantity(value, test.unit) };
  }

  // Messy: proportions loosely follow the real record in EPIC.md (357 Observations).
  const status = rng.chance(0.6) ? 'final' : rng.pick(['amended', 'unknown', 'preliminary', 'corrected']);
  const localOnly = rng.chance(0.6);
  const code = localOnly
    ? { coding: [{ system: `${LOCAL_OID_PREFIX}${test.local}`, code: test.local, display: test.display }], text: test.display }
    : { coding: [loincCoding, localCoding], text: test.display };
  const categoryRoll = rng.next();
  const category = categoryRoll < 0.1
    ? [{ coding: [{ system: EPIC_CATEGORY, code: 'smartdata', display: 'SmartData' }] }]
    : categoryRoll < 0.15
      ? [{ coding: [{ system: EPIC_CATEGORY, code: 'LDA', display: 'LDA' }] }]
      : [hl7Category];
  const valueRoll = rng.next();
  let valueField: Record<string, unknown>;
  if (valueRoll < 0.2) valueField = {};
  else if (test.vital && valueRoll < 0.45) valueField = { valueCodeableConcept: { text: `${value} ${test.unit}` } };
  else if (!test.vital && valueRoll < 0.45) valueField = { valueString: rng.chance(0.3) ? '0' : String(value) };
  else valueField = { valueQuantity: quantity(value, test.unit) };
  return { ...base, status, category, code, ...valueField };
}

function quantity(value: number, unit: string): Record<string, unknown> {
  return { value, unit, system: 'http://unitsofmeasure.org', code: unit };
}
