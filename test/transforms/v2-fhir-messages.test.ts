import { describe, expect, it } from 'vitest';
import { ConversionError, type FhirBundle, type FhirResource } from '../../transforms/types.js';
import { EXT, STATUS_BY_TRIGGER, v2ToFhir } from '../../transforms/v2-fhir/index.js';
import { hl7, one, resourcesOf, seg, validateBundle } from './v2-fhir-helpers.js';

type R = FhirResource & Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const msh = (type: string, control = 'CTRL-1') => `MSH|^~\\&|LAB^1.2.840.1^ISO|HOSP|EHR|HOSP|20240301083000||${type}|${control}|P|2.5.1`;
const PID = 'PID|1||MRN-1^^^HOSP&1.2.3&ISO^MR~999-88-7777^^^SSA^SS||DOE^JANE^Q^^^^L~SMITH^JANE^^^^^M||198001021530-0500|F|||1 MAIN ST^^SPRINGFIELD^IL^62701^USA^H||^PRN^PH^^1^217^5551234~^NET^Internet^jane@example.org';
const PV1 = seg('PV1', { 1: '1', 2: 'I', 3: 'WARD1^101^A^HOSP', 7: '1234^WELBY^MARCUS^^^DR', 10: 'MED', 19: 'V-100^^^HOSP&1.2.3&ISO^VN', 44: '20240301080000' });

describe('ADT', () => {
  const a01 = hl7(msh('ADT^A01^ADT_A01'), 'EVN|A01|20240301083000', PID, 'PD1|||CLINIC^^C1|777^HOUSE^GREG', 'NK1|1|DOE^JOHN|SPO^Spouse^HL70063||^PRN^PH^^^217^5550000', PV1, 'PV2|||CHEST PAIN^Chest pain^L',
    'AL1|1|DA|70618^Penicillin^RXNORM|SV|Hives', 'DG1|1||I21.4^NSTEMI^I10|||A', seg('PR1', { 1: '1', 3: '0210093^CABG^I10P', 5: '20240301100000', 6: 'P', 11: '555^CUTTER^SAM' }), seg('IN1', { 1: '1', 2: 'PLAN-A', 3: 'BCBS^^^^NIIP', 4: 'Blue Cross', 8: 'GRP-9', 12: '20240101', 13: '20241231', 15: 'HMO', 36: 'POL-123' }), 'ZPI|1|custom|data');

  it('ADT^A01: Patient, Encounter, RelatedPerson, AllergyIntolerance, Condition, Procedure, Coverage, MessageHeader, Provenance — all valid R4', () => {
    const { result, warnings } = v2ToFhir(a01);
    expect(validateBundle(result)).toEqual([]);
    expect(warnings).toEqual([]);
    const p = one(result, 'Patient');
    expect(p.identifier.map((i: R) => `${i.system}|${i.value}`)).toEqual(['urn:oid:1.2.3|MRN-1', 'https://sluice.dev/fhir/v2-assigning-authority/SSA|999-88-7777']);
    expect(p.name).toEqual([
      { extension: [{ url: EXT.original, valueString: 'DOE^JANE^Q^^^^L' }], use: 'official', family: 'DOE', given: ['JANE', 'Q'] },
      { extension: [{ url: EXT.original, valueString: 'SMITH^JANE^^^^^M' }], use: 'maiden', family: 'SMITH', given: ['JANE'] },
    ]);
    expect(p.birthDate).toBe('1980-01-02');
    expect(p._birthDate.extension).toEqual([
      { url: EXT.datetime, valueString: '198001021530-0500' },
      { url: 'http://hl7.org/fhir/StructureDefinition/patient-birthTime', valueDateTime: '1980-01-02T15:30:00-05:00' },
    ]);
    expect(p.gender).toBe('female');
    expect(p.address).toEqual([{ extension: [{ url: EXT.original, valueString: '1 MAIN ST^^SPRINGFIELD^IL^62701^USA^H' }], line: ['1 MAIN ST'], city: 'SPRINGFIELD', state: 'IL', postalCode: '62701', country: 'USA', use: 'home' }]);
    expect(p.telecom).toEqual([{ system: 'phone', value: '+1 (217) 5551234', use: 'home' }, { system: 'email', value: 'jane@example.org' }]);
    expect(p.generalPractitioner).toEqual([{ type: 'Practitioner', identifier: { value: '777' }, display: 'GREG HOUSE' }, { type: 'Organization', identifier: { value: 'C1' }, display: 'CLINIC' }]);
    const e = one(result, 'Encounter');
    expect(e).toMatchObject({ status: 'in-progress', class: { code: 'IMP' }, period: { start: '2024-03-01T08:00:00+00:00' }, reasonCode: [{ coding: [{ code: 'CHEST PAIN' }] }] });
    const patientUrl = result.entry!.find((x) => x.resource!.resourceType === 'Patient')!.fullUrl;
    expect(e.subject).toEqual({ reference: patientUrl });
    expect(one(result, 'RelatedPerson')).toMatchObject({ patient: { reference: patientUrl }, name: [{ family: 'DOE', given: ['JOHN'] }] });
    expect(one(result, 'AllergyIntolerance')).toMatchObject({ category: ['medication'], criticality: 'high', reaction: [{ manifestation: [{ text: 'Hives' }] }] });
    expect(one(result, 'Condition')).toMatchObject({ code: { coding: [{ system: 'http://hl7.org/fhir/sid/icd-10', code: 'I21.4' }] } });
    expect(one(result, 'Procedure')).toMatchObject({
      status: 'completed', code: { coding: [{ code: '0210093' }] }, performedDateTime: '2024-03-01T10:00:00+00:00',
      category: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0230', code: 'P' }] },
      performer: [{ function: { text: 'surgeon' }, actor: { display: 'SAM CUTTER' } }],
    });
    expect(one(result, 'Coverage')).toMatchObject({ status: 'active', payor: [{ display: 'Blue Cross' }], class: [{ value: 'GRP-9' }], period: { start: '2024-01-01', end: '2024-12-31' } });
    // Z-segments are kept whole.
    const mh = one(result, 'MessageHeader');
    expect(mh.extension).toContainEqual({ url: EXT.segment, valueString: 'ZPI|1|custom|data' });
    expect(mh.eventCoding).toEqual({ system: 'http://terminology.hl7.org/CodeSystem/v2-0003', code: 'A01' });
    // Provenance targets every other resource.
    const prov = one(result, 'Provenance');
    expect(prov.target).toHaveLength(result.entry!.length - 1);
    expect(prov.recorded).toBe('2024-03-01T08:30:00+00:00');
  });

  it('transaction: conditional updates on identifiers (no id in the body), PUT Type/id otherwise', () => {
    const { result } = v2ToFhir(a01);
    const patient = result.entry!.find((x) => x.resource!.resourceType === 'Patient')!;
    expect(patient.request).toEqual({ method: 'PUT', url: 'Patient?identifier=urn%3Aoid%3A1.2.3|MRN-1' });
    expect(patient.resource!.id).toBeUndefined();
    expect(result.entry!.find((x) => x.resource!.resourceType === 'Encounter')!.request!.url).toBe('Encounter?identifier=urn%3Aoid%3A1.2.3|V-100');
    const allergy = result.entry!.find((x) => x.resource!.resourceType === 'AllergyIntolerance')!;
    expect(allergy.request).toEqual({ method: 'PUT', url: `AllergyIntolerance/${allergy.resource!.id}` });
    expect(allergy.fullUrl).toBe(`urn:uuid:${allergy.resource!.id}`);
  });

  it('replays and later messages about the same patient address the same resources', () => {
    const first = v2ToFhir(a01).result;
    const later = v2ToFhir(a01.replace('CTRL-1', 'CTRL-2').replace('ADT^A01^ADT_A01', 'ADT^A08^ADT_A01')).result;
    const urlOf = (b: FhirBundle, t: string) => b.entry!.find((x) => x.resource!.resourceType === t)!.fullUrl;
    expect(urlOf(later, 'Patient')).toBe(urlOf(first, 'Patient'));
    expect(urlOf(later, 'Encounter')).toBe(urlOf(first, 'Encounter'));
    expect(urlOf(later, 'MessageHeader')).not.toBe(urlOf(first, 'MessageHeader'));
  });

  it('message bundle: MessageHeader first, no requests, focus on Patient and Encounter', () => {
    const { result } = v2ToFhir(a01, { bundle: 'message' });
    expect(result.type).toBe('message');
    expect(result.entry![0]!.resource!.resourceType).toBe('MessageHeader');
    expect(result.entry!.every((x) => x.request === undefined && x.resource!.id !== undefined)).toBe(true);
    expect((result.entry![0]!.resource as R).focus).toHaveLength(2);
    expect(result.timestamp).toBe('2024-03-01T08:30:00+00:00');
  });

  it.each(Object.entries(STATUS_BY_TRIGGER))('Encounter.status for %s is %s', (trigger, status) => {
    // A05 is only supported with its structure (ADT_A05) in MSH-9.3.
    const { result } = v2ToFhir(hl7(msh(`ADT^${trigger}^ADT_A01`), PID, PV1));
    expect(one(result, 'Encounter').status).toBe(status);
  });

  it('IG tables: A04 → planned (table 0003); A08/A31 fall back to PV1-45, else PV1-2 by table 0004', () => {
    expect(one(v2ToFhir(hl7(msh('ADT^A04'), PID, PV1)).result, 'Encounter').status).toBe('planned');
    const pv1 = (cls: string) => seg('PV1', { 1: '1', 2: cls, 19: 'V-100^^^HOSP&1.2.3&ISO^VN' });
    expect(one(v2ToFhir(hl7(msh('ADT^A08'), PID, pv1('E'))).result, 'Encounter').status).toBe('in-progress');
    expect(one(v2ToFhir(hl7(msh('ADT^A31'), PID, pv1('O'))).result, 'Encounter').status).toBe('in-progress');
    expect(one(v2ToFhir(hl7(msh('ADT^A08'), PID, pv1('P'))).result, 'Encounter').status).toBe('planned');
    expect(one(v2ToFhir(hl7(msh('ADT^A08'), PID, pv1('U'))).result, 'Encounter').status).toBe('unknown');
    expect(one(v2ToFhir(hl7(msh('ADT^A08'), PID, pv1('Z'))).result, 'Encounter').status).toBe('unknown');
  });

  it('A08/A31 (no trigger status) derive it from PV1-44/45; A28 with "PV1|1|N" makes no Encounter', () => {
    expect(one(v2ToFhir(hl7(msh('ADT^A08'), PID, PV1)).result, 'Encounter').status).toBe('in-progress');
    expect(one(v2ToFhir(hl7(msh('ADT^A08'), PID, `${PV1}|20240302090000`)).result, 'Encounter').status).toBe('finished'); // PV1-45 set
    expect(resourcesOf(v2ToFhir(hl7(msh('ADT^A28^ADT_A05'), PID, 'PV1|1|N')).result, 'Encounter')).toEqual([]);
  });

  it('MSH-9.3 chooses the map; unsupported types and non-HL7 input throw ConversionError', () => {
    expect(one(v2ToFhir(hl7(msh('ADT^A04^ADT_A01'), PID, PV1)).result, 'Encounter').status).toBe('planned');
    expect(() => v2ToFhir(hl7(msh('ADT^A01^XYZ_A01'), PID))).toThrow(/unsupported message structure XYZ_A01/);
    expect(() => v2ToFhir(hl7(msh('ADT^A60'), PID))).toThrow(ConversionError);
    expect(() => v2ToFhir(hl7(msh('MDM^T02'), PID))).toThrow(/unsupported message type MDM\^T02/);
    expect(() => v2ToFhir('hello')).toThrow(ConversionError);
    expect(() => v2ToFhir(hl7(msh('ADT^A01'), PID), { timezone: 'Nowhere/Land' })).toThrow(/unknown time zone/);
  });

  it('A40 merge: the prior patient is replaced-by the survivor, which replaces it', () => {
    const { result } = v2ToFhir(hl7(msh('ADT^A40^ADT_A39'), 'EVN|A40|20240301', PID, 'MRG|OLD-9^^^HOSP&1.2.3&ISO^MR'));
    expect(validateBundle(result)).toEqual([]);
    const [survivor, prior] = resourcesOf<R>(result, 'Patient');
    const urls = result.entry!.filter((x) => x.resource!.resourceType === 'Patient').map((x) => x.fullUrl);
    expect(survivor!.link).toEqual([{ other: { reference: urls[1] }, type: 'replaces' }]);
    expect(prior).toMatchObject({ active: false, identifier: [{ value: 'OLD-9' }], link: [{ other: { reference: urls[0] }, type: 'replaced-by' }] });
  });

  it('messy input: missing PID-3, unknown sex and a bad date give warnings and still a valid Patient', () => {
    const { result, warnings } = v2ToFhir(hl7(msh('ADT^A01'), 'PID|1||||DOE^J||1980133|X', 'PV1|1|'));
    expect(validateBundle(result)).toEqual([]);
    expect(warnings.map((w) => `${w.code} ${w.path}`)).toEqual(['missing-required PID-3', 'unknown-code PID-8', 'bad-timestamp PID-7']);
    // The best valid Patient, with what could not be mapped kept for the reverse map.
    expect(one(result, 'Patient')).toMatchObject({
      name: [{ family: 'DOE' }],
      gender: 'unknown', _gender: { extension: [{ url: EXT.code, valueString: 'X' }] },
      _birthDate: { extension: [{ url: EXT.datetime, valueString: '1980133' }] },
    });
    expect(one(result, 'Patient').birthDate).toBeUndefined();
  });

  it('attachOriginal: the Provenance entity points at a DocumentReference holding the message', () => {
    const { result } = v2ToFhir(a01, { attachOriginal: true });
    const doc = one(result, 'DocumentReference');
    expect(Buffer.from(doc.content[0].attachment.data, 'base64').toString('utf8')).toBe(a01);
    const docUrl = result.entry!.find((x) => x.resource!.resourceType === 'DocumentReference')!.fullUrl;
    expect(one(result, 'Provenance').entity[0]).toMatchObject({ role: 'source', what: { reference: docUrl } });
    expect(resourcesOf(v2ToFhir(a01, { provenance: false }).result, 'Provenance')).toEqual([]);
    // Bytes are attached as received, whatever their charset.
    const latin1 = Buffer.from(a01.replace('DOE^JANE', 'DOÉ^JANE').replace('|2.5.1', '|2.5.1|||||||8859/1'), 'latin1');
    const fromBytes = v2ToFhir(latin1, { attachOriginal: true }).result;
    expect(one(fromBytes, 'DocumentReference').content[0].attachment.data).toBe(latin1.toString('base64'));
    expect(one(fromBytes, 'Patient').name[0].family).toBe('DOÉ');
  });
});

describe('ORU^R01', () => {
  const obx = (n: number, type: string, code: string, value: string, units = '', status = 'F', extra = '') => `OBX|${n}|${type}|${code}||${value}|${units}|||||${status}${extra}`;
  const oru = hl7(
    msh('ORU^R01^ORU_R01'), PID,
    'ORC|RE|PL-1^EHR|FI-1^LAB^2.16.1^ISO|GRP-1^EHR|CM',
    seg('OBR', { 1: '1', 2: 'PL-1^EHR', 3: 'FI-1^LAB^2.16.1^ISO', 4: '24323-8^Comprehensive metabolic panel^LN', 7: '20240301070000', 22: '20240301083000', 24: 'CH', 25: 'F' }),
    'NTE|1||Order comment',
    obx(1, 'NM', '2345-7^Glucose^LN', '0095.50', 'mg/dL^mg/dL^UCUM'),
    'NTE|1||Fasting sample',
    obx(2, 'ST', '5778-6^Color^LN', 'Yellow'),
    obx(3, 'TX', '11529-5^Path report^LN', 'Line one~Line two'),
    obx(4, 'CWE', '600-7^Culture^LN', '112283007^E. coli^SCT'),
    obx(5, 'DT', '11778-8^Delivery date^LN', '20240401'),
    obx(6, 'TS', '8665-2^LMP^LN', '202402011030'),
    obx(7, 'TM', '12345-6^Time^LN', '1015'),
    obx(8, 'SN', '5803-2^pH^LN', '<^5', '[pH]^pH^UCUM'),
    obx(9, 'SN', '1234-5^Titer^LN', '^1^:^128'),
    obx(10, 'SN', '1235-5^Range^LN', '^10^-^20', 'mg^mg^UCUM'),
    obx(11, 'NM', '8480-6^BP^LN', '120~80', 'mm[Hg]^mmHg^UCUM'),
    obx(12, 'ED', '18748-4^Report^LN', 'LAB^AP^PDF^Base64^JVBERi0xLjQ='),
    obx(13, 'NM', '2951-2^Sodium^LN', 'see note', 'mmol/L^mmol/L^UCUM'),
    obx(14, 'NM', '2823-3^Potassium^LN', '4.1', '', ''),
    'SPM|1|SP-1&LAB||BLD^Blood^HL70487|||||||||||||20240301065000',
    'ORC|RE|PL-2^EHR|FI-2^LAB^2.16.1^ISO||IP',
    seg('OBR', { 1: '2', 2: 'PL-2^EHR', 3: 'FI-2^LAB^2.16.1^ISO', 4: '58410-2^CBC^LN', 7: '20240301071000', 22: '20240301083000', 24: 'HM', 25: 'P' }),
    obx(1, 'NM', '718-7^Hemoglobin^LN', '13.5', 'g/dL^g/dL^UCUM', 'P'),
    seg('OBR', { 1: '3', 3: 'FI-3^LAB^2.16.1^ISO', 4: '1234-0^No ORC^LN', 25: 'F' }),
  );

  it('is valid R4 and maps every OBX-2 value type', () => {
    const { result, warnings } = v2ToFhir(oru);
    expect(validateBundle(result)).toEqual([]);
    const obs = resourcesOf<R>(result, 'Observation');
    const byCode = (c: string) => obs.find((o) => o.code.coding[0].code === c)!;
    expect(byCode('2345-7').valueQuantity).toEqual({ value: 95.5, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL', extension: [{ url: EXT.numeric, valueString: '0095.50' }] });
    expect(byCode('2345-7').note).toEqual([{ text: 'Fasting sample' }]);
    expect(byCode('2345-7').effectiveDateTime).toBeUndefined(); // OBX-14 is empty: OBR-7 stays on the report
    expect(byCode('2345-7').extension).toEqual([{ url: EXT.valueType, valueString: 'NM' }, { url: EXT.units, valueString: 'mg/dL^mg/dL^UCUM' }]);
    expect(byCode('5778-6').valueString).toBe('Yellow');
    expect(byCode('11529-5').valueString).toBe('Line one\nLine two');
    expect(byCode('600-7').valueCodeableConcept.coding[0]).toMatchObject({ system: 'http://snomed.info/sct', code: '112283007' });
    expect(byCode('11778-8').valueDateTime).toBe('2024-04-01');
    expect(byCode('8665-2').valueDateTime).toBe('2024-02-01T10:30:00+00:00');
    expect(byCode('12345-6').valueTime).toBe('10:15:00');
    expect(byCode('5803-2').valueQuantity).toEqual({ value: 5, comparator: '<', unit: 'pH', system: 'http://unitsofmeasure.org', code: '[pH]' });
    expect(byCode('1234-5').valueRatio).toEqual({ numerator: { value: 1 }, denominator: { value: 128 } });
    expect(byCode('1235-5').valueRange).toMatchObject({ low: { value: 10, code: 'mg' }, high: { value: 20, code: 'mg' } });
    expect(byCode('8480-6').component.map((c: R) => c.valueQuantity.value)).toEqual([120, 80]);
    expect(byCode('8480-6').valueQuantity).toBeUndefined();
    // R4 has no valueAttachment: ED goes to a DocumentReference the Observation derives from.
    const doc = one(result, 'DocumentReference');
    expect(doc.content[0].attachment).toEqual({ contentType: 'application/pdf', data: 'JVBERi0xLjQ=', extension: [{ url: EXT.original, valueString: 'LAB^AP^PDF^Base64^JVBERi0xLjQ=' }] });
    expect(byCode('18748-4').derivedFrom).toEqual([{ reference: result.entry!.find((x) => x.resource!.resourceType === 'DocumentReference')!.fullUrl }]);
    expect(byCode('2951-2').valueString).toBe('see note');
    expect(byCode('2823-3').status).toBe('unknown');
    expect(byCode('5778-6')._status).toBeUndefined();
    expect(warnings.map((w) => `${w.code} ${w.path}`)).toEqual(['nm-not-numeric OBX[13]-5', 'missing-required OBX[14]-11']);
  });

  it('one ServiceRequest and DiagnosticReport per OBR, each with its own ORC; results and specimen linked', () => {
    const { result } = v2ToFhir(oru);
    const requests = resourcesOf<R>(result, 'ServiceRequest');
    expect(requests.map((r) => r.status)).toEqual(['completed', 'active', 'active']);
    expect(requests.map((r) => r.identifier.map((i: R) => i.value))).toEqual([['PL-1', 'FI-1'], ['PL-2', 'FI-2'], ['FI-3']]);
    expect(requests[0]!.note).toEqual([{ text: 'Order comment' }]);
    expect(requests[0]!.requisition).toMatchObject({ value: 'GRP-1' });
    const reports = resourcesOf<R>(result, 'DiagnosticReport');
    expect(reports.map((r) => r.status)).toEqual(['final', 'preliminary', 'final']);
    expect(reports.map((r) => r.identifier.map((i: R) => `${i.type.coding[0].code} ${i.value}`))).toEqual([['PLAC PL-1', 'FILL FI-1', 'PGN GRP-1'], ['PLAC PL-2', 'FILL FI-2'], ['FILL FI-3']]);
    expect(reports[0]!.result).toHaveLength(14);
    expect(reports[1]!.result).toHaveLength(1);
    expect(reports[0]!.issued).toBe('2024-03-01T08:30:00+00:00');
    const urls = new Map(result.entry!.map((x) => [x.resource, x.fullUrl]));
    expect(reports[1]!.basedOn).toEqual([{ reference: urls.get(requests[1]!) }]);
    const specimenRef = { reference: urls.get(one(result, 'Specimen')) };
    expect(reports[0]!.specimen).toEqual([specimenRef]);
    // The group's SPM follows its OBX: it is still their specimen, and only theirs.
    const obs = resourcesOf<R>(result, 'Observation');
    expect(obs.filter((o) => o.specimen !== undefined)).toHaveLength(14);
    expect(obs.find((o) => o.code.coding[0].code === '718-7')!.specimen).toBeUndefined();
    expect(obs[0]!.specimen).toEqual(specimenRef);
    expect(one(result, 'Specimen')).toMatchObject({ identifier: [{ value: 'SP-1' }], type: { coding: [{ code: 'BLD' }] }, collection: { collectedDateTime: '2024-03-01T06:50:00+00:00' } });
  });

  it('an order sent twice (same filler number) is one ServiceRequest and DiagnosticReport holding both groups', () => {
    const twice = hl7(msh('ORU^R01'), PID,
      'OBR|1||FI-9^LAB|1^A^L||||||||||||||||||||||F', obx(1, 'ST', 'X1^One^L', 'a'),
      'OBR|2||FI-9^LAB|1^A^L||||||||||||||||||||||F', obx(1, 'ST', 'X2^Two^L', 'b'));
    const { result } = v2ToFhir(twice);
    expect(validateBundle(result)).toEqual([]);
    expect(resourcesOf(result, 'ServiceRequest')).toHaveLength(1);
    expect(one(result, 'DiagnosticReport').result).toHaveLength(2);
  });

  it('timestamps without an offset use the timezone option', () => {
    const { result } = v2ToFhir(oru, { timezone: 'America/Chicago' });
    expect(resourcesOf<R>(result, 'DiagnosticReport')[0]!.effectiveDateTime).toBe('2024-03-01T07:00:00-06:00');
  });
});

describe('ORM^O01', () => {
  it('each ORC is its own order; OBR enriches it; DG1 and OBX in the order are linked', () => {
    const orm = hl7(
      msh('ORM^O01'), PID, PV1,
      seg('ORC', { 1: 'NW', 2: 'P-1^EHR', 7: '^^^^^S', 9: '20240301080000', 12: '999^ORDER^DOC' }),
      'OBR|1|P-1^EHR||80053^CMP^C4',
      'DG1|1||R73.9^Hyperglycemia^I10',
      'OBX|1|ST|Q1^Question^L||Fasting||||||F',
      'ORC|CA|P-2^EHR',
      'OBR|2|P-2^EHR||85025^CBC^C4',
      'ORC|NW|P-3^EHR',
    );
    const { result } = v2ToFhir(orm);
    expect(validateBundle(result)).toEqual([]);
    const requests = resourcesOf<R>(result, 'ServiceRequest');
    expect(requests.map((r) => [r.identifier[0].value, r.status, r.code?.coding[0].code])).toEqual([['P-1', 'active', '80053'], ['P-2', 'revoked', '85025'], ['P-3', 'active', undefined]]);
    expect(requests[0]).toMatchObject({ intent: 'order', priority: 'stat', authoredOn: '2024-03-01T08:00:00+00:00', requester: { display: 'DOC ORDER' } });
    expect(requests[1]!.requester).toBeUndefined(); // not borrowed from the first ORC
    expect(requests[0]!.reasonReference).toHaveLength(1);
    expect(requests[0]!.supportingInfo).toHaveLength(1);
    expect(resourcesOf(result, 'DiagnosticReport')).toEqual([]);
  });
});
