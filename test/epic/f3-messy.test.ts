import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Resource } from '../../engine/fhir/client.js';
import type { FhirConnection } from '../../engine/fhir/connection.js';
import { countWarnings, normalizeObservation, type ObservationReading } from '../../engine/fhir/normalize.js';
import type { EpicSim } from '../../engine/sim/index.js';
import { forEachLimited, simWithBackend } from './setup.js';

/**
 * F3: production data is messy. Reading every Observation of the simulator's messy mode
 * must not crash, and every anomaly must come out as a counted warning: the counts are
 * checked against an independent tally of the raw resources.
 */
const CATEGORIES = 'laboratory,vital-signs,smartdata,LDA';

function hasValue(o: Resource): boolean {
  return Object.keys(o).some((k) => k.startsWith('value'));
}

describe('F3: messy production data', () => {
  let sim: EpicSim;
  let connection: FhirConnection;
  beforeAll(async () => {
    ({ sim, connection } = await simWithBackend({ seed: 3, patients: 25, observationsPerPatient: 20, messy: true }));
  });
  afterAll(async () => {
    await connection?.close();
    await sim?.close();
  });

  it('reads every Observation without a crash and counts every anomaly', async () => {
    const raw: Resource[] = [];
    const serverWarnings: string[] = [];
    await forEachLimited(sim.patientIds(), 4, async (patient) => {
      for await (const { resource } of connection.search(`Observation?patient=${patient}&category=${CATEGORIES}`, { onWarning: (w) => serverWarnings.push(w.code) })) raw.push(resource);
    });
    expect(raw).toHaveLength(sim.counts().resources.Observation!);
    const readings: ObservationReading[] = raw.map(normalizeObservation);
    const counts = countWarnings(readings);

    // Independent tally of the anomalies in the raw data.
    const lacksLoinc = (o: Resource) => !((o.code as { coding?: Array<{ system?: string }> }).coding ?? []).some((c) => c.system === 'http://loinc.org');
    const isVital = (o: Resource) => JSON.stringify(o.category).includes('"vital-signs"') || ['8867-4', '8310-5', '9279-1', '59408-5'].some((c) => JSON.stringify(o.code).includes(`"${c}"`));
    const expected = {
      'missing-value': raw.filter((o) => !hasValue(o)).length,
      'no-loinc': raw.filter(lacksLoinc).length,
      'numeric-string': raw.filter((o) => typeof o.valueString === 'string' && /^-?\d+(\.\d+)?$/.test(o.valueString)).length,
      'coded-vital': raw.filter((o) => o.valueCodeableConcept !== undefined && isVital(o)).length,
      'unusual-status': raw.filter((o) => o.status !== 'final').length,
      'local-category': raw.filter((o) => JSON.stringify(o.category).includes('open.epic.com')).length,
    };
    for (const [code, n] of Object.entries(expected)) {
      expect(n, `the messy data has ${code}`).toBeGreaterThan(0);
      expect(counts[code] ?? 0, code).toBe(n);
    }
    const codedText = (o: Resource) => (o.valueCodeableConcept as { text?: string } | undefined)?.text ?? '';
    expect(counts['coded-numeric'] ?? 0).toBe(raw.filter((o) => o.valueCodeableConcept !== undefined && !isVital(o) && /^\d/.test(codedText(o))).length);
    expect(counts['missing-subject']).toBeUndefined();
    // Tolerant reading: numbers are recovered from valueString and coded vitals.
    expect(readings.filter((r) => r.value !== undefined).length).toBe(raw.filter(hasValue).length);
    // Local codes are kept as they came (a code map turns them into LOINC later).
    expect(readings.filter((r) => !r.loinc).every((r) => r.codings.some((c) => c.system?.startsWith('urn:oid:')))).toBe(true);
    expect(serverWarnings.filter((c) => c !== 'server-processing')).toEqual([]);
  });

  it('never throws on shapes that are not Observations at all', () => {
    for (const junk of [null, 42, 'x', [], {}, { resourceType: 'Observation', code: 'glucose', valueQuantity: { value: 'high' }, category: {} }]) {
      const r = normalizeObservation(junk);
      expect(r.warnings.map((w) => w.code)).toEqual(expect.arrayContaining(['unusual-status', 'missing-subject']));
    }
  });
});
