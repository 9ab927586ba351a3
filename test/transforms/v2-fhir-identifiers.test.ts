import { describe, expect, it } from 'vitest';
import { parseHl7 } from '../../engine/hl7/index.js';
import { fhirToV2 } from '../../transforms/fhir-v2/index.js';
import type { FhirResource } from '../../transforms/types.js';
import { EXT, v2ToFhir } from '../../transforms/v2-fhir/index.js';
import { hl7, one, seg, validateBundle } from './v2-fhir-helpers.js';

/*
 * The identifiers and names the IG maps beyond the main field (PID-2/4/9/19/20, PV1-19/50,
 * ORC-2/3/4, OBR-2/3/53), the SAD street line, and their way back through the reverse map.
 */

type R = FhirResource & Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const msh = (type: string) => `MSH|^~\\&|APP|HOSP|EHR|HOSP|20240301083000||${type}|CTRL-7|P|2.5.1`;
const PID = seg('PID', {
  1: '1',
  2: 'EXT-42^^^CLINIC^PI',
  3: 'MRN-1^^^HOSP&1.2.3&ISO^MR',
  4: 'ALT-9^^^OLDSYS^PI~ALT-10^^^OLDSYS^PI',
  5: 'DOE^JANE^Q^^^^L^^^^^^^^JJ',
  7: '19800102',
  8: 'F',
  9: 'ROE^JANIE^^^^^A~SMITH^JANE',
  11: '1000&Hospital Lane^Ste. 123^Ann Arbor^MI^99999^USA^H',
  19: '123-45-6789',
  20: 'D1234567^MI^20300115',
});
const PV1 = seg('PV1', { 1: '1', 2: 'I', 19: 'V-100^^^HOSP&1.2.3&ISO^AN', 44: '20240301080000', 50: 'ALT-V1^^^HOSP^VN~ALT-V2^^^OTHER' });
const fieldOf = (e: R) => (e.extension as R[] | undefined)?.find((x) => x.url === EXT.field)?.valueString as string | undefined;
const codeOf = (e: R) => e.type?.coding?.[0]?.code as string | undefined;

describe('v2 → FHIR: identifiers and names beyond the main field (IG PID/PV1/ORC/OBR maps)', () => {
  const adt = hl7(msh('ADT^A01^ADT_A01'), 'EVN|A01|20240301083000', PID, PV1);
  const bundle = v2ToFhir(adt).result;

  it('Patient: PID-3, PID-2, PID-4 (each repetition), PID-19 as SS in us-ssn, PID-20 as DL with its expiry', () => {
    const p = one(bundle, 'Patient');
    const ids = (p.identifier as R[]).map((i) => `${fieldOf(i) ?? 'main'} ${codeOf(i) ?? '-'} ${i.value as string}`);
    expect(ids).toEqual(['main MR MRN-1', 'PID-2 PI EXT-42', 'PID-4 PI ALT-9', 'PID-4 PI ALT-10', 'main SS 123-45-6789', 'PID-20 DL D1234567']);
    const ssn = (p.identifier as R[]).find((i) => codeOf(i) === 'SS' && fieldOf(i) === undefined)!;
    expect(ssn.system).toBe('http://hl7.org/fhir/sid/us-ssn');
    const dl = (p.identifier as R[]).find((i) => codeOf(i) === 'DL')!;
    expect(dl.period).toEqual({ end: '2030-01-15' });
    expect(dl.assigner).toEqual({ display: 'MI' });
  });

  it('Patient: PID-9 aliases are names tagged PID-9, their use from XPN-7 only', () => {
    const names = (one(bundle, 'Patient').name as R[]).map((n) => `${fieldOf(n) ?? 'PID-5'} ${n.use ?? '-'} ${(n.family ?? n.given?.[0]) as string}`);
    // IG NameType map: `A` (assigned/alias) has no name-use; XPN-15 "called by" is a nickname of its own.
    expect(names).toEqual(['PID-5 official DOE', 'XPN-15 nickname JJ', 'PID-9 - ROE', 'PID-9 - SMITH']);
    const withUse = hl7(msh('ADT^A08^ADT_A01'), 'EVN|A08|20240301083000', 'PID|1||M-2^^^HOSP||DOE^JO^^^^^L|||||||||||||||||||||||||||', 'PV1|1|N').replace('DOE^JO^^^^^L', 'DOE^JO^^^^^L~DOE^JOJO^^^^^N~X^Y^^^^^MSK');
    expect((one(v2ToFhir(withUse).result, 'Patient').name as R[]).map((n) => n.use as string)).toEqual(['official', 'nickname', 'anonymous']);
  });

  it('Address: an XAD-1 sent as SAD subcomponents keeps the whole street line', () => {
    expect(one(bundle, 'Patient').address).toEqual([expect.objectContaining({ line: ['1000 Hospital Lane', 'Ste. 123'], city: 'Ann Arbor' })]);
    const sadName = hl7(msh('ADT^A08^ADT_A01'), 'EVN|A08|20240301083000', 'PID|1||M-2^^^HOSP||DOE^JO||||||&Elm Street&12^^Ames^IA', 'PV1|1|N');
    expect(one(v2ToFhir(sadName).result, 'Patient').address).toEqual([expect.objectContaining({ line: ['Elm Street 12'] })]);
  });

  it('Encounter: PV1-19 typed VN (whatever CX-5 says), every PV1-50 repetition tagged', () => {
    const ids = (one(bundle, 'Encounter').identifier as R[]).map((i) => `${fieldOf(i) ?? 'PV1-19'} ${codeOf(i) ?? '-'} ${i.value as string}`);
    expect(ids).toEqual(['PV1-19 VN V-100', 'PV1-50 VN ALT-V1', 'PV1-50 - ALT-V2']);
  });

  it('the bundle stays valid R4', () => {
    expect(validateBundle(bundle)).toEqual([]);
  });
});

describe('v2 → FHIR: order numbers (IG ORC/OBR maps)', () => {
  const orc = seg('ORC', { 1: 'RE', 2: 'ORC-PL^EHR', 3: 'FI-1^LAB', 4: 'GRP-1^EHR' });
  const obr = seg('OBR', { 1: '1', 2: 'OBR-PL^EHR', 3: 'FI-1^LAB', 4: '1234-5^Panel^LN', 7: '20240301080000', 25: 'F', 53: 'ALT-PL^^^HOSP&1.2.3&ISO' });
  const oru = hl7(msh('ORU^R01^ORU_R01'), PID, orc, obr, 'OBX|1|NM|2345-7^Glucose^LN||95|mg/dL|||||F');
  const bundle = v2ToFhir(oru).result;

  it('OBR-2/OBR-3 first, a differing ORC-2 kept tagged; OBR-53 a CX typed PLAC (request only); ORC-4 a PGN requisition and report identifier', () => {
    const sr = one(bundle, 'ServiceRequest');
    const list = (r: R) => (r.identifier as R[]).map((i) => `${fieldOf(i) ?? 'main'} ${codeOf(i) ?? '-'} ${i.value as string}`);
    expect(list(sr)).toEqual(['main PLAC OBR-PL', 'ORC-2 PLAC ORC-PL', 'main FILL FI-1', 'OBR-53 PLAC ALT-PL']);
    expect((sr.identifier as R[])[3]!.system).toBe('urn:oid:1.2.3');
    expect(sr.requisition).toMatchObject({ value: 'GRP-1', type: { coding: [{ code: 'PGN' }] } });
    expect(sr.intent).toBe('order');
    // OBR-53 is the ServiceRequest's only (IG OBR[ServiceRequest] map; not in OBR[DiagnosticReport]).
    expect(list(one(bundle, 'DiagnosticReport'))).toEqual(['main PLAC OBR-PL', 'ORC-2 PLAC ORC-PL', 'main FILL FI-1', 'ORC-4 PGN GRP-1']);
    expect(validateBundle(bundle)).toEqual([]);
  });

  it('the same placer and filler number are two identifiers, one of each type', () => {
    const same = hl7(msh('ORM^O01^ORM_O01'), PID, seg('ORC', { 1: 'NW', 2: 'ACC-1', 3: 'ACC-1' }), seg('OBR', { 1: '1', 2: 'ACC-1', 3: 'ACC-1', 4: 'XR^Chest^L' }));
    const ids = (one(v2ToFhir(same).result, 'ServiceRequest').identifier as R[]).map((i) => `${codeOf(i)!} ${i.value as string}`);
    expect(ids).toEqual(['PLAC ACC-1', 'FILL ACC-1']);
  });

  it('an ORC alone, then its OBR (same filler number), make one ServiceRequest with what both say', () => {
    const split = hl7(msh('ORU^R01^ORU_R01'), PID, seg('ORC', { 1: 'NW', 3: 'FI-9^LAB', 4: 'GRP-9' }), 'OBX|1|ST|1-1^Note^L||text||||||F',
      seg('OBR', { 1: '1', 2: 'PL-9^EHR', 3: 'FI-9^LAB', 4: '625-4^Stool culture^LN', 25: 'F' }), 'OBX|1|ST|2-2^Result^L||neg||||||F');
    const result = v2ToFhir(split).result;
    const sr = one(result, 'ServiceRequest');
    expect((sr.identifier as R[]).map((i) => i.value as string).sort()).toEqual(['FI-9', 'PL-9']);
    expect(sr.code).toMatchObject({ coding: [{ code: '625-4' }] });
    const srUrl = result.entry!.find((e) => e.resource?.resourceType === 'ServiceRequest')!.fullUrl;
    expect(one(result, 'DiagnosticReport').basedOn).toEqual([{ reference: srUrl }]);
  });
});

describe('FHIR → v2: the tagged identifiers and names go back to their own fields', () => {
  it('ADT: PID-2, PID-3, PID-4, PID-9, PID-19, PID-20, PV1-19, PV1-50 as sent', () => {
    const original = parseHl7(hl7(msh('ADT^A08^ADT_A01'), 'EVN|A08|20240301083000', PID, PV1));
    const back = parseHl7(fhirToV2(v2ToFhir(original).result, { now: new Date(0), controlId: 'RT' }).result);
    for (const f of ['PID-2', 'PID-3', 'PID-4', 'PID-9', 'PID-19', 'PID-20', 'PID-11', 'PV1-19', 'PV1-50']) expect(back.getRaw(f), f).toBe(original.getRaw(f));
  });

  it('ORU: ORC-2/3/4 and OBR-2/3/53 as sent, each in its own segment', () => {
    const orc = seg('ORC', { 1: 'RE', 2: 'ORC-PL^EHR', 3: 'FI-1^LAB^1.2.840.9^ISO', 4: 'GRP-1^EHR' });
    const obr = seg('OBR', { 1: '1', 2: 'OBR-PL^EHR', 3: 'FI-1^LAB^1.2.840.9^ISO', 4: '1234-5^Panel^LN', 7: '20240301080000', 25: 'F', 53: 'ALT-PL^^^HOSP&1.2.3&ISO' });
    const original = parseHl7(hl7(msh('ORU^R01^ORU_R01'), PID, orc, obr, 'OBX|1|NM|2345-7^Glucose^LN||95|mg/dL|||||F'));
    const back = parseHl7(fhirToV2(v2ToFhir(original).result, { now: new Date(0), controlId: 'RT' }).result);
    for (const f of ['ORC-2', 'ORC-3', 'ORC-4', 'OBR-2', 'OBR-3', 'OBR-53']) expect(back.getRaw(f), f).toBe(original.getRaw(f));
  });
});
