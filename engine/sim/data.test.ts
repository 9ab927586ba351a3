import { describe, expect, it } from 'vitest';
import { generateData, type FhirResource } from './data.js';

const observations = (rs: FhirResource[]): FhirResource[] => rs.filter((r) => r.resourceType === 'Observation');
type Coding = { system?: string; code?: string };
const codings = (o: FhirResource): Coding[] => (o.code as { coding?: Coding[] }).coding ?? [];
const hasValue = (o: FhirResource): boolean => Object.keys(o).some((k) => k.startsWith('value'));
const categoryCodes = (o: FhirResource): string[] => (o.category as { coding: Coding[] }[]).flatMap((c) => c.coding.map((x) => String(x.code)));

describe('generated data', () => {
  it('is identical for the same seed and different for another seed', () => {
    const a = generateData({ seed: 42, patients: 20, observationsPerPatient: 15, messy: true });
    const b = generateData({ seed: 42, patients: 20, observationsPerPatient: 15, messy: true });
    const c = generateData({ seed: 43, patients: 20, observationsPerPatient: 15, messy: true });
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(JSON.stringify(a)).not.toBe(JSON.stringify(c));
    expect(observations(a)).toHaveLength(300);
    expect(a.filter((r) => r.resourceType === 'Patient')).toHaveLength(20);
    for (const t of ['Encounter', 'Condition', 'DocumentReference']) expect(a.some((r) => r.resourceType === t)).toBe(true);
  });

  it('clean mode: final LOINC-coded Observations with a Quantity', () => {
    const obs = observations(generateData({ seed: 5, patients: 10, observationsPerPatient: 20, messy: false }));
    for (const o of obs) {
      expect(o.status).toBe('final');
      expect(codings(o).some((c) => c.system === 'http://loinc.org')).toBe(true);
      expect(o.valueQuantity).toBeDefined();
    }
  });

  it('messy mode has every anomaly EPIC.md lists, in plausible proportions', () => {
    const obs = observations(generateData({ seed: 5, patients: 20, observationsPerPatient: 20, messy: true }));
    const share = (pred: (o: FhirResource) => boolean): number => obs.filter(pred).length / obs.length;
    const noValue = share((o) => !hasValue(o));
    const localOnly = share((o) => !codings(o).some((c) => c.system === 'http://loinc.org'));
    expect(noValue).toBeGreaterThan(0.1);
    expect(noValue).toBeLessThan(0.35);
    expect(localOnly).toBeGreaterThan(0.45);
    expect(obs.some((o) => codings(o).some((c) => /^urn:oid:1\.2\.840\.114350\.1\.13\.283\.2\.7\.5\.737384\.\d+$/.test(String(c.system))))).toBe(true);
    expect(obs.some((o) => o.valueString === '0')).toBe(true);
    expect(obs.some((o) => typeof o.valueString === 'string' && o.valueString !== '0')).toBe(true);
    expect(obs.some((o) => o.valueCodeableConcept !== undefined && categoryCodes(o).includes('vital-signs'))).toBe(true);
    for (const status of ['amended', 'unknown', 'preliminary', 'final']) expect(obs.some((o) => o.status === status)).toBe(true);
    for (const category of ['smartdata', 'LDA', 'laboratory', 'vital-signs']) expect(obs.some((o) => categoryCodes(o).includes(category))).toBe(true);
  });
});
