import { describe, expect, it } from 'vitest';
import { parseHl7 } from '../../engine/hl7/index.js';
import { igVerdict, locateValue, type VerdictInput } from './ig-rules.js';

// Shaped after the Microsoft FHIR-Converter ADT_A01 sample: identifier values in DB1, GT1 and IN2 as well as PID.
const ADT = parseHl7([
  'MSH|^~\\&|ADT|HOSP|EHR|HOSP|20240101120000||ADT^A01|1|P|2.5.1',
  'PID|1|1234567^4^M11|PATID1234^5^M11^^MR~123456789^^^USSSA^SS|PATID567|EVERYMAN^ADAM||19800314|M|||||||||||PSSN123121234|DLN-123^US^20210101',
  'PV1|1|I',
  'DB1|1|PT|DB123^4^M11^t&1.3.6&ISO^MR|Y',
  'GT1|1|1516^4^M11^test^MR|RADIANT^LUCY||||||||||G-SSN-12',
  'IN1|1|BAV^Blue Advantage HMO|IC-1.31^24',
  'IN2|1117^4^M11|425-57-9745|||I^Insurance company|Medicare-12345||MCN-008||MI-12345',
].join('\r'));

// ORC-4 placer group number (EI, v2.5) alongside ORC-2/ORC-3 and OBR-53.
const ORU = parseHl7([
  'MSH|^~\\&|LAB|HOSP|EHR|HOSP|20240101120000||ORU^R01|1|P|2.5.1',
  'PID|1||MRN1^^^HOSP^MR',
  'ORC|RE|ORD666555^NIST EHR|R-991133^NIST Lab Filler|GORD874233^NIST EHR',
  `OBR|1|ORD666555^NIST EHR|R-991133^NIST Lab Filler|CBC^Blood count${'|'.repeat(49)}APON-53^4^M11`,
].join('\r'));

const input = (resourceType: string, ours: string[], theirs: string[], source = ADT): VerdictInput => ({
  resourceType, element: 'identifier', ours, theirs, oursResource: {}, theirsResource: {}, source,
});

const PID_IDS = ['1234567', '123456789', 'DLN-123', 'PATID1234', 'PATID567', 'PSSN123121234'];

describe('locateValue', () => {
  it('finds a value by segment, field and component, across repetitions and subcomponents', () => {
    expect(locateValue(ADT, 'DB123')).toEqual(['DB1-3.1']);
    expect(locateValue(ADT, '123456789')).toEqual(['PID-3.1']);
    expect(locateValue(ADT, 'ISO')).toEqual(['DB1-3.4']);
    expect(locateValue(ADT, 'GORD874233')).toEqual([]);
    expect(locateValue(ORU, 'GORD874233')).toEqual(['ORC-4.1']);
    expect(locateValue(ORU, 'APON-53')).toEqual(['OBR-53.1']);
  });
});

describe('Patient.identifier', () => {
  it('does not credit the IG with values from DB1, GT1 or IN2, which its ADT maps leave unmapped', () => {
    const theirs = [...PID_IDS, '1516', 'DB123', 'G-SSN-12', 'MCN-008', 'MI-12345', 'Medicare-12345'].sort();
    const v = igVerdict(input('Patient', PID_IDS, theirs));
    expect(v.follows).toBe('ours');
    expect(v.note).toContain('DB123 (DB1-3.1, not mapped by the IG)');
    expect(v.note).toContain('1516 (GT1-2.1, not mapped by the IG)');
    expect(v.note).toContain('MCN-008 (IN2-8.1, not mapped by the IG)');
  });

  it('gives the IG verdict to them when the value we lack comes from a PID field the IG maps', () => {
    const v = igVerdict(input('Patient', PID_IDS.filter((id) => id !== 'PSSN123121234'), PID_IDS));
    expect(v.follows).toBe('theirs');
    expect(v.note).toContain('PSSN123121234 (PID-19.1)');
  });

  it('finds neither side following when each lacks a value from a mapped PID field', () => {
    expect(igVerdict(input('Patient', ['1234567', 'DB123', 'PATID567'], ['1234567', '1516', 'PATID1234'])).follows).toBe('neither');
  });

  it('finds us off the IG when we carry a value from an unmapped segment they leave out', () => {
    expect(igVerdict(input('Patient', [...PID_IDS, 'DB123'], PID_IDS)).follows).toBe('theirs');
  });

  it('stays unclear when a value is not in the message (we cannot tell its field)', () => {
    const v = igVerdict(input('Patient', PID_IDS, [...PID_IDS, 'MADE-UP-9']));
    expect(v.follows).toBe('unclear');
    expect(v.note).toContain('MADE-UP-9 (not found in the message)');
  });
});

describe('ORC-4 placer group number', () => {
  it('is not a ServiceRequest identifier in the IG (it maps to requisition)', () => {
    const v = igVerdict(input('ServiceRequest', ['APON-53', 'ORD666555', 'R-991133'], ['APON-53', 'GORD874233', 'ORD666555', 'R-991133'], ORU));
    expect(v.follows).toBe('ours');
    expect(v.note).toContain('GORD874233 (ORC-4.1, not mapped by the IG)');
    expect(v.note).not.toMatch(/ServiceRequest\.identifier.*ORC-4[,;]/);
  });

  it('is a DiagnosticReport identifier in the IG, where OBR-53 is not', () => {
    const v = igVerdict(input('DiagnosticReport', ['APON-53', 'ORD666555', 'R-991133'], ['GORD874233', 'ORD666555', 'R-991133'], ORU));
    expect(v.follows).toBe('theirs');
    expect(v.note).toContain('GORD874233 (ORC-4.1)');
    expect(v.note).toContain('APON-53 (OBR-53.1, not mapped by the IG)');
  });
});

describe('Encounter.status by the IG tables 0003 and 0004', () => {
  const adt = (trigger: string, pv1: string) => parseHl7([`MSH|^~\\&|ADT|HOSP|EHR|HOSP|20240101120000||ADT^${trigger}|1|P|2.5.1`, 'PID|1||MRN1', pv1].join('\r'));
  const status = (source: ReturnType<typeof parseHl7>, ours: string, theirs: string) =>
    igVerdict({ resourceType: 'Encounter', element: 'status', ours: [ours], theirs: [theirs], oursResource: {}, theirsResource: {}, source });

  it('A04 → planned (table 0003), whatever PV1 says', () => {
    expect(status(adt('A04', 'PV1|1|O'), 'planned', 'arrived').follows).toBe('ours');
    expect(status(adt('A04', 'PV1|1|O'), 'arrived', 'planned').follows).toBe('theirs');
  });

  it('A08 falls back to PV1: PV1-45 → finished, else PV1-2 by table 0004', () => {
    expect(status(adt('A08', 'PV1|1|I'), 'in-progress', 'unknown').follows).toBe('ours');
    expect(status(adt('A08', `PV1|1|I${'|'.repeat(43)}20240102`), 'finished', 'in-progress').follows).toBe('ours');
    expect(status(adt('A08', 'PV1|1|P'), 'planned', 'planned').follows).toBe('both');
    expect(status(adt('A08', 'PV1|1|Z'), 'unknown', 'in-progress').follows).toBe('unclear');
  });
});
