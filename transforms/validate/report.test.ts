import { describe, expect, it } from 'vitest';
import { parseHl7 } from '../../engine/hl7/index.js';
import type { FhirBundle } from '../types.js';
import { compareBundles } from './compare.js';
import { conformanceReport, findingsReport, type Row } from './report.js';

const msg = (name: string) => ({ name, file: `/corpus/${name}`, source: name.split('__')[0] ?? '', type: 'ADT^A01' });
const patient = (gender: string): FhirBundle => ({
  resourceType: 'Bundle', type: 'collection',
  entry: [{ resource: { resourceType: 'Patient', identifier: [{ value: 'MRN1' }], gender, birthDate: '1980-03-14' } }],
});
const v2 = parseHl7('MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5.1\rPID|1||MRN1||Everyman^Adam||19800314|M');

const rows: Row[] = [
  {
    m: { ...msg('ms__ADT_A01__one.hl7'), microsoftExpected: '/corpus/ms__ADT_A01__one.expected.json' },
    bundle: patient('male'),
    errors: [{ message: 'ms__ADT_A01__one.hl7', resourceType: 'Patient', path: 'Patient.identifier[0].system', text: 'OIDs must be valid (1.Aux)' }],
    comparison: compareBundles(patient('male'), patient('female'), v2),
  },
  { m: msg('lfh__ADT_A01__two.hl7'), failure: 'unsupported message structure' },
  {
    m: msg('ig__ADT_A01__three.hl7'), bundle: patient('male'),
    errors: [{ message: 'ig__ADT_A01__three.hl7', resourceType: 'Patient', path: 'Patient.identifier[2].system', text: 'OIDs must be valid (9.8.7)' }],
  },
];

describe('conformanceReport', () => {
  it('lists conversion failures, validation counts, agreement and judged differences', () => {
    const text = conformanceReport(rows, undefined);
    expect(text).toContain('3 corpus messages of a supported type; 2 convert, 1 fail.');
    expect(text).toContain('- **lfh__ADT_A01__two.hl7**: unsupported message structure');
    expect(text).toContain('0 of 2 converted messages validate with zero errors.');
    expect(text).toMatch(/\| ms__ADT_A01__one\.hl7 \| 1 \| 1 \| 0 \| 0 \| 2 \| 1 \| 1 \/ 0 \/ 0 \/ 0 \/ 0 \|/);
    expect(text).toContain('Agree: Patient.identifier, Patient.birthDate.');
    expect(text).toMatch(/\| Patient `MRN1` \| gender \| `male` \| `female` \| ours \| PID-8 "M" via IG ConceptMap v2-0001 gives "male" \|/);
    expect(text.endsWith('\n')).toBe(true);
  });

  it('says when the validator could not run instead of reporting zero errors', () => {
    expect(conformanceReport(rows, 'FHIR validation needs Java 17+')).toContain('Not run: FHIR validation needs Java 17+');
  });
});

describe('findingsReport', () => {
  it('groups the same mistake across messages and array indexes', () => {
    const text = findingsReport(rows, undefined);
    expect(text).toContain('## Errors (2 in 2 messages)');
    expect(text).toContain('### Patient `Patient.identifier[].system` (2)');
    expect(text).toContain('- in: ms__ADT_A01__one.hl7, ig__ADT_A01__three.hl7');
    expect(text).toContain('- lfh__ADT_A01__two.hl7: unsupported message structure');
  });
});
