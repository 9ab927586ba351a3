import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseHl7 } from '../../engine/hl7/index.js';
import { fhirToV2 } from '../../transforms/fhir-v2/index.js';
import { ConversionError, type FhirBundle, type FhirResource } from '../../transforms/types.js';

const CORPUS = path.resolve(import.meta.dirname, '../fixtures/v2-fhir');
const FIXED = { now: new Date('2024-03-01T10:20:30.456Z'), controlId: 'CTRL1' };

function bundle(...resources: FhirResource[]): FhirBundle {
  return { resourceType: 'Bundle', type: 'collection', entry: resources.map((r) => ({ fullUrl: `urn:uuid:${r.resourceType}-${r.id ?? 'x'}`, resource: r })) };
}

const patient: FhirResource = {
  resourceType: 'Patient', id: 'p1',
  identifier: [
    { type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] }, system: 'urn:oid:1.2.3.4', value: 'MRN-1', assigner: { display: 'HOSP' } },
    { system: 'http://hl7.org/fhir/sid/us-ssn', type: { coding: [{ code: 'SS' }] }, value: '123-45-6789' },
  ],
  name: [{ use: 'official', family: "O'Brien|Smith", given: ['Mary', 'Ann'], prefix: ['Dr'], suffix: ['Jr'] }],
  birthDate: '1980-02-29',
  gender: 'female',
  address: [{ use: 'home', line: ['1 Main St', 'Apt 2'], city: 'Springfield', state: 'IL', postalCode: '62701', country: 'USA' }],
  telecom: [{ system: 'phone', value: '555-1234', use: 'home' }, { system: 'email', value: 'mary@example.org' }, { system: 'phone', value: '555-9999', use: 'work' }],
};

function report(results: FhirResource[], extra: Record<string, unknown> = {}): FhirResource {
  return {
    resourceType: 'DiagnosticReport', id: 'r1', status: 'final',
    identifier: [{ type: { coding: [{ code: 'FILL' }] }, value: 'F-100' }, { type: { coding: [{ code: 'PLAC' }] }, value: 'P-200' }],
    code: { coding: [{ system: 'http://loinc.org', code: '24323-8', display: 'Comprehensive metabolic panel' }] },
    subject: { reference: 'Patient/p1' },
    effectiveDateTime: '2024-02-28T08:15:00-06:00',
    issued: '2024-02-28T10:00:00.123Z',
    result: results.map((r) => ({ reference: `urn:uuid:Observation-${r.id}` })),
    ...extra,
  };
}

function observation(id: string, value: Record<string, unknown>, extra: Record<string, unknown> = {}): FhirResource {
  return {
    resourceType: 'Observation', id, status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: `${id}-0`, display: `Test ${id}` }] },
    effectiveDateTime: '2024-02-28T08:15:00-06:00',
    ...value,
    ...extra,
  };
}

describe('fhirToV2: DiagnosticReport + Observations → ORU^R01', () => {
  const obs = [
    observation('1', { valueQuantity: { value: 6.3, unit: 'mmol/l', system: 'http://unitsofmeasure.org', code: 'mmol/L' } }, {
      interpretation: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: 'H' }] }],
      referenceRange: [{ low: { value: 3.1 }, high: { value: 6.2 } }],
      note: [{ text: 'line one\nline two' }],
    }),
    observation('2', { valueString: 'Negative^for everything|really' }),
    observation('3', { valueCodeableConcept: { coding: [{ system: 'http://snomed.info/sct', code: '260385009', display: 'Negative' }], text: 'NEG' } }),
    observation('4', { valueDateTime: '2024-01-02T03:04:05Z' }),
    observation('5', { valueTime: '13:45:00' }),
    observation('6', { valueRange: { low: { value: 1 }, high: { value: 5, unit: 'mg' } } }),
    observation('7', { valueRatio: { numerator: { value: 1 }, denominator: { value: 128 } } }),
    observation('8', { valueQuantity: { value: 0.1, comparator: '<', unit: 'kU/L' } }),
    observation('9', { valueString: 'first line\nsecond line' }),
    observation('10', { valueAttachment: { contentType: 'application/pdf', data: 'SGVsbG8=' } }),
  ];
  const input = bundle(patient, report(obs), ...obs);
  const { result, warnings } = fhirToV2(input, FIXED);
  const msg = parseHl7(result);

  it('writes the header from options, deterministic with now and controlId', () => {
    expect(result.startsWith('MSH|^~\\&|SLUICE||||20240301102030.456+0000||ORU^R01^ORU_R01|CTRL1|P|2.5.1\r')).toBe(true);
    expect(result.endsWith('\r')).toBe(true);
    expect(result).not.toContain('\n');
    expect(fhirToV2(input, FIXED).result).toBe(result);
    const custom = parseHl7(fhirToV2(input, { ...FIXED, sendingApplication: 'LAB^1.2.3^ISO', sendingFacility: 'FAC', receivingApplication: 'EHR', receivingFacility: 'RFAC', processingId: 'T', version: '2.4' }).result);
    expect([custom.get('MSH-3.1'), custom.get('MSH-3.2'), custom.get('MSH-3.3'), custom.get('MSH-4'), custom.get('MSH-5'), custom.get('MSH-6'), custom.get('MSH-11'), custom.get('MSH-12')])
      .toEqual(['LAB', '1.2.3', 'ISO', 'FAC', 'EHR', 'RFAC', 'T', '2.4']);
  });

  it('writes PID with escaped names, identifiers, birth date, gender, address, phones', () => {
    expect(msg.get('PID-3.1')).toBe('MRN-1');
    expect(msg.get('PID-3.4')).toBe('HOSP&1.2.3.4&ISO');
    expect(msg.get('PID-3.5')).toBe('MR');
    expect(msg.repetitions('PID-3')).toBe(1); // the SSN goes to PID-19, not PID-3
    expect(msg.get('PID-19')).toBe('123-45-6789');
    expect(msg.get('PID-5.1')).toBe("O'Brien|Smith");
    expect(msg.getRaw('PID-5.1')).toBe("O'Brien\\F\\Smith");
    expect([msg.get('PID-5.2'), msg.get('PID-5.3'), msg.get('PID-5.4'), msg.get('PID-5.5'), msg.get('PID-5.7')]).toEqual(['Mary', 'Ann', 'Jr', 'Dr', 'L']);
    expect(msg.get('PID-7')).toBe('19800229');
    expect(msg.get('PID-8')).toBe('F');
    expect([msg.get('PID-11.1'), msg.get('PID-11.2'), msg.get('PID-11.3'), msg.get('PID-11.4'), msg.get('PID-11.5'), msg.get('PID-11.6'), msg.get('PID-11.7')])
      .toEqual(['1 Main St', 'Apt 2', 'Springfield', 'IL', '62701', 'USA', 'H']);
    expect(msg.get('PID-13[1].1')).toBe('555-1234');
    expect(msg.get('PID-13[2].4')).toBe('mary@example.org');
    expect(msg.get('PID-14.1')).toBe('555-9999');
  });

  it('writes OBR from the report', () => {
    expect(msg.all('OBR')).toHaveLength(1);
    expect(msg.get('OBR-2.1')).toBe('P-200');
    expect(msg.get('OBR-3.1')).toBe('F-100');
    expect([msg.get('OBR-4.1'), msg.get('OBR-4.2'), msg.get('OBR-4.3')]).toEqual(['24323-8', 'Comprehensive metabolic panel', 'LN']);
    expect(msg.get('OBR-7')).toBe('20240228081500-0600');
    expect(msg.get('OBR-22')).toBe('20240228100000.123+0000');
    expect(msg.get('OBR-25')).toBe('F');
  });

  it('maps each value[x] to OBX-2/5/6', () => {
    const obx = (n: number, p: string) => msg.get(`OBX[${n}]-${p}`);
    expect(msg.all('OBX')).toHaveLength(10);
    expect([obx(1, '1'), obx(1, '2'), obx(1, '3.1'), obx(1, '3.3'), obx(1, '5'), obx(1, '6.1'), obx(1, '6.2'), obx(1, '6.3'), obx(1, '7'), obx(1, '8'), obx(1, '11'), obx(1, '14')])
      .toEqual(['1', 'NM', '1-0', 'LN', '6.3', 'mmol/L', 'mmol/l', 'UCUM', '3.1-6.2', 'H', 'F', '20240228081500-0600']);
    expect([obx(2, '2'), obx(2, '5')]).toEqual(['ST', 'Negative^for everything|really']);
    expect([obx(3, '2'), obx(3, '5.1'), obx(3, '5.2'), obx(3, '5.3'), obx(3, '5.9')]).toEqual(['CWE', '260385009', 'Negative', 'SCT', 'NEG']);
    expect([obx(4, '2'), obx(4, '5')]).toEqual(['DTM', '20240102030405+0000']);
    expect([obx(5, '2'), obx(5, '5')]).toEqual(['TM', '134500']);
    expect([obx(6, '2'), obx(6, '5.2'), obx(6, '5.3'), obx(6, '5.4'), obx(6, '6')]).toEqual(['SN', '1', '-', '5', 'mg']);
    expect([obx(7, '2'), obx(7, '5.2'), obx(7, '5.3'), obx(7, '5.4')]).toEqual(['SN', '1', ':', '128']);
    expect([obx(8, '2'), obx(8, '5.1'), obx(8, '5.2'), obx(8, '6')]).toEqual(['SN', '<', '0.1', 'kU/L']);
    expect([obx(9, '2'), msg.get('OBX[9]-5[1]'), msg.get('OBX[9]-5[2]')]).toEqual(['TX', 'first line', 'second line']);
    expect([obx(10, '2'), obx(10, '5.2'), obx(10, '5.3'), obx(10, '5.4'), obx(10, '5.5')]).toEqual(['ED', 'application', 'pdf', 'Base64', 'SGVsbG8=']);
  });

  it('writes notes as NTE lines right after their OBX', () => {
    const names = msg.segments.map((s) => s.name);
    const first = names.indexOf('OBX');
    expect(names.slice(first, first + 3)).toEqual(['OBX', 'NTE', 'NTE']);
    expect([msg.get('NTE[1]-1'), msg.get('NTE[1]-3'), msg.get('NTE[2]-1'), msg.get('NTE[2]-3')]).toEqual(['1', 'line one', '2', 'line two']);
  });

  it('has no warnings for complete input', () => {
    expect(warnings).toEqual([]);
  });
});

describe('fhirToV2: messy input gives warnings, not crashes', () => {
  it('warns about missing code, value and status, an unresolved result and a bad date', () => {
    const bad: FhirResource = { resourceType: 'Observation', id: 'b1', effectiveDateTime: 'yesterday' };
    const r = report([bad], { result: [{ reference: 'Observation/b1' }, { reference: 'Observation/missing' }] });
    const { result, warnings } = fhirToV2(bundle(patient, r, bad), FIXED);
    const codes = warnings.map((w) => w.code).sort();
    expect(codes).toEqual(['bad-datetime', 'missing-required', 'missing-required', 'missing-value', 'unresolved-reference']);
    expect(warnings.find((w) => w.code === 'unresolved-reference')!.path).toBe('DiagnosticReport/r1.result[1]');
    expect(parseHl7(result).all('OBX')).toHaveLength(1);
  });

  it('converts a bare Observation (own OBR) and warns that there is no patient', () => {
    const { result, warnings } = fhirToV2(observation('1', { valueInteger: 7 }), FIXED);
    const msg = parseHl7(result);
    expect(msg.segments.map((s) => s.name)).toEqual(['MSH', 'OBR', 'OBX']);
    expect([msg.get('OBR-4.1'), msg.get('OBX-2'), msg.get('OBX-5')]).toEqual(['1-0', 'NM', '7']);
    expect(warnings.map((w) => w.code)).toEqual(['missing-patient']);
  });

  it('throws a ConversionError when there is nothing to convert', () => {
    expect(() => fhirToV2({ resourceType: 'Medication' }, FIXED)).toThrow(ConversionError);
    expect(() => fhirToV2({ resourceType: 'Medication' }, FIXED)).toThrow(/nothing to convert.*Medication/);
    expect(() => fhirToV2({} as FhirResource, FIXED)).toThrow(/not a FHIR resource/);
  });

  it('never throws on garbage shapes inside a resource', () => {
    const weird = { resourceType: 'Observation', code: 'not-a-concept', valueQuantity: 'x', status: 7, performer: 'me', note: [null, 3, { text: 5 }], component: {} } as unknown as FhirResource;
    const { result } = fhirToV2(weird, FIXED);
    expect(parseHl7(result).get('OBX-1')).toBe('1');
  });
});

describe('fhirToV2: ServiceRequest → ORM^O01', () => {
  it('writes ORC and OBR with placer, code, requester and reason', () => {
    const practitioner: FhirResource = { resourceType: 'Practitioner', id: 'dr1', identifier: [{ value: 'NPI-9' }], name: [{ family: 'House', given: ['Gregory'] }] };
    const sr: FhirResource = {
      resourceType: 'ServiceRequest', id: 's1', status: 'active', intent: 'order',
      identifier: [{ type: { coding: [{ code: 'PLAC' }] }, value: 'ORD-1', system: 'urn:oid:2.3.4' }],
      code: { coding: [{ system: 'http://loinc.org', code: '57021-8', display: 'CBC' }] },
      subject: { reference: 'Patient/p1' }, requester: { reference: 'Practitioner/dr1' }, authoredOn: '2024-02-01T09:00:00+01:00',
      reasonCode: [{ coding: [{ system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'R50.9' }] }],
      note: [{ text: 'fasting' }],
    };
    const msg = parseHl7(fhirToV2(bundle(patient, practitioner, sr), FIXED).result);
    expect(msg.segments.map((s) => s.name)).toEqual(['MSH', 'PID', 'ORC', 'OBR', 'NTE']);
    expect(msg.get('MSH-9')).toBe('ORM^O01^ORM_O01');
    expect([msg.get('ORC-1'), msg.get('ORC-2.1'), msg.get('ORC-2.3'), msg.get('ORC-9'), msg.get('ORC-12.1'), msg.get('ORC-12.2'), msg.get('ORC-12.3')])
      .toEqual(['NW', 'ORD-1', '2.3.4', '20240201090000+0100', 'NPI-9', 'House', 'Gregory']);
    expect([msg.get('OBR-2.1'), msg.get('OBR-4.1'), msg.get('OBR-16.2'), msg.get('OBR-31.1'), msg.get('OBR-31.3')]).toEqual(['ORD-1', '57021-8', 'House', 'R50.9', 'I10C']);
    expect(msg.get('NTE-3')).toBe('fasting');
  });

  it('cancels a revoked request', () => {
    const msg = parseHl7(fhirToV2({ resourceType: 'ServiceRequest', status: 'revoked', code: { text: 'x' } }, FIXED).result);
    expect(msg.get('ORC-1')).toBe('CA');
  });
});

describe('fhirToV2: Patient (+ Encounter) → ADT', () => {
  const encounter: FhirResource = {
    resourceType: 'Encounter', id: 'e1', status: 'in-progress', subject: { reference: 'Patient/p1' },
    class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'IMP' },
    identifier: [{ value: 'V-77' }], period: { start: '2024-02-27T22:00:00Z' },
    location: [{ location: { display: 'WARD 3' } }],
  };

  it.each([['A08', 'ADT_A01'], ['A28', 'ADT_A05'], ['A31', 'ADT_A05']] as const)('%s', (event, structure) => {
    const msg = parseHl7(fhirToV2(bundle(patient, encounter), { ...FIXED, adtEvent: event }).result);
    expect(msg.segments.map((s) => s.name)).toEqual(['MSH', 'EVN', 'PID', 'PV1']);
    expect(msg.get('MSH-9')).toBe(`ADT^${event}^${structure}`);
    expect(msg.get('EVN-1')).toBe(event);
    expect([msg.get('PV1-2'), msg.get('PV1-3.1'), msg.get('PV1-19.1'), msg.get('PV1-44')]).toEqual(['I', 'WARD 3', 'V-77', '20240227220000+0000']);
  });

  it('writes PV1|1|N without an encounter (ADT structures require PV1)', () => {
    const msg = parseHl7(fhirToV2(patient, { ...FIXED, adtEvent: 'A31' }).result);
    expect(msg.get('PV1-2')).toBe('N');
  });

  it('prefers the original v2 timestamp kept by the v2→FHIR map', () => {
    const p = { ...patient, _birthDate: { extension: [{ url: 'https://sluice.dev/fhir/StructureDefinition/hl7v2-datetime', valueString: '198002291230' }] } };
    expect(parseHl7(fhirToV2(p, FIXED).result).get('PID-7')).toBe('198002291230');
  });
});

describe("Microsoft FHIR-Converter's FHIR→v2 sample (ms__FHIR2V2__ObservationBundle)", () => {
  const input = JSON.parse(readFileSync(path.join(CORPUS, 'ms__FHIR2V2__ObservationBundle.json'), 'utf8').replace(/^\uFEFF/, '')) as FhirBundle;
  const expected = parseHl7(readFileSync(path.join(CORPUS, 'ms__FHIR2V2__ObservationBundle.expected.hl7'), 'utf8'));
  const { result, warnings } = fhirToV2(input, FIXED);
  const ours = parseHl7(result);

  it('agrees on message type, patient id, order id and every OBX field Microsoft fills', () => {
    expect(ours.get('MSH-9.1')).toBe(expected.get('MSH-9.1'));
    expect(ours.get('MSH-9.2')).toBe(expected.get('MSH-9.2'));
    expect(ours.get('PID-3.1')).toBe(expected.get('PID-3'));
    expect(ours.get('OBR-3.1')).toBe(expected.get('OBR-3'));
    for (const p of ['OBX-3.1', 'OBX-3.2', 'OBX-3.3', 'OBX-5', 'OBX-7', 'OBX-8', 'OBX-11']) expect(ours.get(p), p).toBe(expected.get(p));
  });

  it('differs only where documented: OBX-6 is a UCUM CWE (code, unit, UCUM), version and processing id are ours', () => {
    // Microsoft writes Quantity.unit alone; we write the UCUM code first and the unit as text (IG CWE ↔ Quantity).
    expect([ours.get('OBX-6.1'), ours.get('OBX-6.2'), ours.get('OBX-6.3')]).toEqual(['mmol/L', expected.get('OBX-6'), 'UCUM']);
    expect(expected.get('MSH-12')).toBe('2.5');
    expect(ours.get('MSH-12')).toBe('2.5.1');
    // The sample's Encounter is written as the entry itself (no entry.resource): read, with a warning.
    expect(warnings.map((w) => w.code)).toEqual(['malformed-entry']);
    expect(ours.get('PV1-19.1')).toBe('v1451');
  });
});

describe('fhirToV2: originals kept by the v2→FHIR map', () => {
  const EXT = 'https://sluice.dev/fhir/StructureDefinition/';
  const original = (text: string) => ({ extension: [{ url: `${EXT}hl7v2-original`, valueString: text }] });
  const cxText = '1032702^^^OrdOrg&3.4.5.6.7&ISO^MR^OrdFac&2.3.4.5.6&ISO^20190101^20290101';
  const xpnText = 'Everywoman^Eve^L^Jr^Dr^^L^^^^G^20000909^20301231^PhD';
  const p = (identifierValue: string, family: string): FhirResource => ({
    resourceType: 'Patient',
    identifier: [{ ...original(cxText), system: 'urn:oid:3.4.5.6.7', value: identifierValue }],
    name: [{ ...original(xpnText), family, given: ['Eve', 'L'] }],
    gender: 'other', _gender: { extension: [{ url: `${EXT}hl7v2-code`, valueString: 'A' }] },
  });

  it('writes the original CX and XPN repetitions, and the original sex code', () => {
    const msg = parseHl7(fhirToV2(p('1032702', 'Everywoman'), FIXED).result);
    expect(msg.getRaw('PID-3')).toBe(cxText);
    expect(msg.getRaw('PID-5')).toBe(xpnText);
    expect(msg.get('PID-8')).toBe('A');
  });

  it('rebuilds from FHIR when the value was edited after conversion', () => {
    const msg = parseHl7(fhirToV2(p('999', 'Smith'), FIXED).result);
    expect(msg.getRaw('PID-3')).toBe('999^^^&3.4.5.6.7&ISO');
    expect(msg.getRaw('PID-5')).toBe('Smith^Eve^L');
  });

  it('never writes an original that could break the segment', () => {
    const bad = { resourceType: 'Patient', identifier: [{ ...original('X1|BAD'), value: 'X1' }] } as FhirResource;
    expect(parseHl7(fhirToV2(bad, FIXED).result).getRaw('PID-3')).toBe('X1');
  });

  it('keeps OBX-6 as sent and the table 0085 status code', () => {
    const o: FhirResource = {
      resourceType: 'Observation', status: 'registered', _status: { extension: [{ url: `${EXT}hl7v2-code`, valueString: 'O' }] },
      code: { text: 'Rate' }, extension: [{ url: `${EXT}hl7v2-units`, valueString: 'beats/min^^ISO' }],
      valueCodeableConcept: { coding: [{ code: 'FAST' }] },
    };
    const msg = parseHl7(fhirToV2(o, FIXED).result);
    expect([msg.getRaw('OBX-6'), msg.get('OBX-11')]).toEqual(['beats/min^^ISO', 'O']);
  });
});

describe('fhirToV2: choosing the message and the segments around it', () => {
  const obsAboutPatient = observation('w', { valueQuantity: { value: 70, unit: 'kg' } }, { subject: { reference: 'Patient/p1' } });
  const allergy: FhirResource = { resourceType: 'AllergyIntolerance', patient: { reference: 'Patient/p1' }, category: ['medication'], criticality: 'high', code: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '7980', display: 'Penicillin' }] }, reaction: [{ manifestation: [{ text: 'Hives' }] }] };
  const condition: FhirResource = { resourceType: 'Condition', subject: { reference: 'Patient/p1' }, code: { coding: [{ system: 'http://hl7.org/fhir/sid/icd-10-cm', code: 'J18.9' }], text: 'Pneumonia' }, recordedDate: '2024-02-27' };
  const header = (event: string): FhirResource => ({ resourceType: 'MessageHeader', eventCoding: { system: 'http://terminology.hl7.org/CodeSystem/v2-0003', code: event }, source: { endpoint: 'x' } });

  it('an ADT from a MessageHeader keeps OBX, AL1 and DG1, and its A28/A31 trigger', () => {
    const msg = parseHl7(fhirToV2(bundle(header('A31'), patient, obsAboutPatient, allergy, condition), FIXED).result);
    expect(msg.segments.map((s) => s.name)).toEqual(['MSH', 'EVN', 'PID', 'PV1', 'OBX', 'AL1', 'DG1']);
    expect(msg.get('MSH-9')).toBe('ADT^A31^ADT_A05');
    expect([msg.get('AL1-2'), msg.get('AL1-3.1'), msg.get('AL1-3.3'), msg.get('AL1-4'), msg.get('AL1-5')]).toEqual(['DA', '7980', 'RXNORM', 'SV', 'Hives']);
    expect([msg.get('DG1-3.1'), msg.get('DG1-3.3'), msg.get('DG1-4'), msg.get('DG1-6'), msg.get('DG1-19')]).toEqual(['J18.9', 'I10C', 'Pneumonia', 'F', '20240227']);
    // An explicit option wins over the header.
    expect(parseHl7(fhirToV2(bundle(header('A31'), patient), { ...FIXED, adtEvent: 'A28' }).result).get('MSH-9.2')).toBe('A28');
  });

  it('the message option forces the family; a family without its resources falls back with a warning', () => {
    const input = bundle(patient, obsAboutPatient);
    expect(parseHl7(fhirToV2(input, FIXED).result).get('MSH-9.1')).toBe('ORU');
    expect(parseHl7(fhirToV2(input, { ...FIXED, message: 'ADT' }).result).get('MSH-9.1')).toBe('ADT');
    const r = fhirToV2(input, { ...FIXED, message: 'ORM' });
    expect(parseHl7(r.result).get('MSH-9.1')).toBe('ORU');
    expect(r.warnings.map((w) => w.code)).toContain('missing-required');
  });

  it("an ORM carries the request's supportingInfo observations as OBX after its OBR", () => {
    const answer = observation('q', { valueString: 'yes' });
    const sr: FhirResource = { resourceType: 'ServiceRequest', status: 'active', code: { text: 'CBC' }, subject: { reference: 'Patient/p1' }, supportingInfo: [{ reference: 'urn:uuid:Observation-q' }] };
    const msg = parseHl7(fhirToV2(bundle(patient, sr, answer), FIXED).result);
    expect(msg.segments.map((s) => s.name)).toEqual(['MSH', 'PID', 'ORC', 'OBR', 'OBX']);
    expect(msg.get('OBX-5')).toBe('yes');
  });
});

describe('fhirToV2: property — any JSON shape converts or fails with a ConversionError', () => {
  it('never crashes and always writes parseable HL7', async () => {
    const fc = await import('fast-check');
    const keys = ['id', 'status', 'code', 'subject', 'identifier', 'name', 'birthDate', '_birthDate', 'gender', 'valueQuantity', 'valueString', 'valueCodeableConcept', 'valueRange',
      'valueDateTime', 'effectiveDateTime', 'interpretation', 'referenceRange', 'note', 'component', 'result', 'performer', 'requester', 'extension', 'telecom', 'address', 'class', 'period', 'category', 'reaction'];
    const value = fc.oneof(fc.anything(), fc.record({ coding: fc.array(fc.record({ system: fc.string(), code: fc.string() })), text: fc.string() }), fc.record({ value: fc.oneof(fc.double(), fc.string()), unit: fc.string() }));
    const resource = fc.record({
      resourceType: fc.constantFrom('Patient', 'Observation', 'DiagnosticReport', 'ServiceRequest', 'Encounter', 'AllergyIntolerance', 'Condition', 'Basic'),
      fields: fc.dictionary(fc.constantFrom(...keys), value),
    }).map(({ resourceType, fields }) => ({ ...fields, resourceType }) as FhirResource);
    const input = fc.oneof(resource, fc.array(resource, { maxLength: 6 }).map((rs): FhirBundle => ({ resourceType: 'Bundle', type: 'collection', entry: rs.map((r) => ({ resource: r })) })));
    fc.assert(fc.property(input, (r) => {
      try {
        const { result } = fhirToV2(r, FIXED);
        expect(parseHl7(result).get('MSH-10')).toBe('CTRL1');
      } catch (e) {
        if (!(e instanceof ConversionError)) throw e;
      }
    }), { numRuns: 300, seed: 4242 });
  });
});
