import { describe, expect, it } from 'vitest';
import { parseHl7 } from '../../engine/hl7/index.js';
import type { FhirBundle, FhirResource } from '../types.js';
import { compareBundles, elementValues, matchResources, sameDateTime, summarise, wallClock } from './compare.js';

const bundle = (...resources: FhirResource[]): FhirBundle => ({ resourceType: 'Bundle', type: 'collection', entry: resources.map((resource) => ({ resource })) });
const patient = (over: Record<string, unknown> = {}): FhirResource => ({
  resourceType: 'Patient',
  identifier: [{ system: 'urn:oid:1.2.3', value: 'MRN1' }],
  name: [{ family: 'Everyman', given: ['Adam', 'A'] }],
  gender: 'male',
  birthDate: '1980-03-14',
  ...over,
});
const obs = (code: string, status: string, value: number, id: string): FhirResource => ({
  resourceType: 'Observation', id, status,
  code: { coding: [{ system: 'http://loinc.org', code }] },
  valueQuantity: { value, unit: 'g/dL', system: 'http://unitsofmeasure.org', code: 'g/dL' },
});

const ORU = [
  'MSH|^~\\&|LAB|HOSP|EHR|HOSP|20240101120000||ORU^R01|1|P|2.5.1',
  'PID|1||MRN1^^^HOSP^MR||Everyman^Adam^A||19800314|M',
  'OBR|1|||CBC^Blood count|||||||||||||||||||F',
  'OBX|1|NM|718-7^Hemoglobin^LN||13.2|g/dL|||||F',
  'OBX|2|NM|4544-3^Hematocrit^LN||40|%|||||C',
].join('\r');

describe('normalising', () => {
  it('compares date-times by wall clock or by instant, never by offset alone', () => {
    expect(wallClock('2015-02-08T11:34:19+01:10')).toBe('2015-02-08T11:34:19');
    expect(wallClock('2015-02-08T11:34:19.000Z')).toBe('2015-02-08T11:34:19');
    expect(sameDateTime('2015-02-08T11:34:19Z', '2015-02-08T11:34:19+08:00')).toBe(true);
    expect(sameDateTime('2015-02-08T11:34:19+01:10', '2015-02-08T15:54:19+05:30')).toBe(true);
    expect(sameDateTime('2015-02-08T11:34:19Z', '2015-02-08T11:35:19Z')).toBe(false);
  });

  it('reads key elements as normalised sets: identifier values, names, codes, quantities', () => {
    const p = patient({ identifier: [{ value: 'B' }, { value: 'A' }, { value: 'A' }] });
    expect(elementValues(p, 'identifier')).toEqual(['A', 'B']);
    expect(elementValues(p, 'name')).toEqual(['EVERYMAN, ADAM A']);
    expect(elementValues(obs('718-7', 'final', 13.2, 'x'), 'code')).toEqual(['718-7']);
    expect(elementValues(obs('718-7', 'final', 13.20, 'x'), 'value')).toEqual(['13.2 G/DL']);
  });
});

describe('matchResources', () => {
  it('pairs by shared identifiers and key elements, not by order or id', () => {
    const ours = [obs('718-7', 'final', 13.2, 'a'), obs('4544-3', 'final', 40, 'b')];
    const theirs = [obs('4544-3', 'final', 40, 'z'), obs('718-7', 'final', 13.2, 'y')];
    const pairs = matchResources('Observation', ours, theirs);
    expect(pairs.map(([a, b]) => `${a?.['id']}-${b?.['id']}`).sort()).toEqual(['a-y', 'b-z']);
  });

  it('leaves resources with nothing in common unpaired', () => {
    const pairs = matchResources('Observation', [obs('718-7', 'final', 13.2, 'a')], [obs('2345-7', 'final', 90, 'y'), obs('4544-3', 'final', 40, 'z')]);
    expect(pairs).toHaveLength(3);
    expect(pairs.filter(([a, b]) => a && b)).toHaveLength(0);
  });
});

describe('compareBundles', () => {
  it('reports agreement, differences with an IG verdict from the v2 source, and unmatched resources', () => {
    const ours = bundle(patient(), obs('718-7', 'final', 13.2, 'a'), obs('4544-3', 'corrected', 40, 'b'));
    const theirs = bundle(
      patient({ id: 'hash1', gender: 'female', birthDate: '1980-03-14' }),
      obs('718-7', 'final', 13.2, 'y'),
      obs('4544-3', 'final', 40, 'z'),
      { resourceType: 'Observation', id: 'extra', status: 'final', code: { coding: [{ code: 'X' }] } },
    );
    const c = compareBundles(ours, theirs, parseHl7(ORU));
    const p = c.resources.find((r) => r.resourceType === 'Patient')!;
    expect(p.elements.find((e) => e.element === 'birthDate')?.agree).toBe(true);
    const gender = p.elements.find((e) => e.element === 'gender')!;
    expect(gender).toMatchObject({ agree: false, ours: ['male'], theirs: ['female'] });
    expect(gender.verdict).toMatchObject({ follows: 'ours' });
    expect(gender.verdict?.note).toContain('PID-8 "M"');

    const hct = c.resources.find((r) => r.resourceType === 'Observation' && r.label === '4544-3')!;
    const status = hct.elements.find((e) => e.element === 'status')!;
    expect(status.verdict).toMatchObject({ follows: 'ours' });
    expect(status.verdict?.note).toContain('OBX-11 "C"');

    expect(c.counts['Observation']).toEqual({ ours: 2, theirs: 3 });
    expect(summarise(c)).toMatchObject({ matched: 3, onlyOurs: 0, onlyTheirs: 1, differ: 2 });
  });

  it('judges identifier differences by the v2 field the missing value comes from', () => {
    const withSsn = `${ORU.replace('||19800314|M', '||19800314|M|||||||||||SSN9')}`;
    const c = compareBundles(bundle(patient()), bundle(patient({ identifier: [{ value: 'MRN1' }, { value: 'SSN9' }] })), parseHl7(withSsn));
    const id = c.resources[0]!.elements.find((e) => e.element === 'identifier')!;
    expect(id.verdict).toMatchObject({ follows: 'theirs' });
    expect(id.verdict?.note).toContain('we lack SSN9 (PID-19.1)');
  });

  it('leaves an identifier difference unclear without the v2 source to trace it to', () => {
    const c = compareBundles(bundle(patient()), bundle(patient({ identifier: [{ value: 'MRN1' }, { value: 'SSN9' }] })));
    const id = c.resources[0]!.elements.find((e) => e.element === 'identifier')!;
    expect(id.verdict).toMatchObject({ follows: 'unclear' });
    expect(id.verdict?.note).toContain('SSN9 (not found in the message)');
  });
});

describe('empty elements', () => {
  it('ignores an address or name with no content', () => {
    const p = patient({ address: [{ use: 'home' }, { line: ['1 Main St'], city: 'Ann Arbor' }], name: [{ use: 'maiden' }] });
    expect(elementValues(p, 'address')).toEqual(['1 MAIN ST | ANN ARBOR | | |']);
    expect(elementValues(p, 'name')).toEqual([]);
  });
});
