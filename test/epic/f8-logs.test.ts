import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FhirConnection } from '../../engine/fhir/connection.js';
import { createLogger } from '../../engine/log.js';
import type { EpicSim } from '../../engine/sim/index.js';
import { Capture } from '../helpers/streams.js';
import { forEachLimited, simWithBackend, type BackendClient } from './setup.js';

/**
 * F8 (client part): with trace logging, throttling, dropped connections and failed searches,
 * the logs and error messages carry neither tokens, nor the private key, nor patient ids.
 */
describe('F8: no tokens or PHI in FHIR client logs', () => {
  let sim: EpicSim;
  let connection: FhirConnection;
  let client: BackendClient;
  const capture = new Capture();

  beforeAll(async () => {
    const logger = createLogger({ level: 'trace', destination: capture });
    ({ sim, connection, client } = await simWithBackend(
      { seed: 8, patients: 12, observationsPerPatient: 3, tokenLifetimeSeconds: 300, faults: { rate429: 0.2, dropRate: 0.1, retryAfterSeconds: 0 } },
      { concurrency: 3, maxAttempts: 12 },
      { logger },
    ));
  });
  afterAll(async () => {
    await connection?.close();
    await sim?.close();
  });

  it('logs retries and renewals by path only', async () => {
    const patients = sim.patientIds();
    const tokens = new Set<string>();
    const errors: string[] = [];
    await forEachLimited(patients, 3, async (patient) => {
      tokens.add(await connection.tokens!.token());
      for await (const item of connection.search(`Observation?patient=${patient}&category=laboratory,vital-signs`)) expect(item.resource.resourceType).toBe('Observation');
      // Epic refuses Observation searches without code or category: the error names no patient.
      await connection.search(`Observation?patient=${patient}`).next().catch((e: Error) => errors.push(e.message));
      // Reads put the id in the path: retries logged at warn and errors must not show it.
      expect((await connection.client.read('Patient', patient)).id).toBe(patient);
      await connection.client.read('Patient', `${patient}-gone`).catch((e: Error) => errors.push(e.message));
    });
    expect(errors).toHaveLength(2 * patients.length);
    expect(errors.filter((e) => /Patient\/\{id\} failed: HTTP 404/.test(e))).toHaveLength(patients.length);
    expect(capture.text).toMatch(/fhir request retried/);
    expect(capture.text).toMatch(/fhir token renewed/);
    const haystack = `${capture.text}\n${errors.join('\n')}`;
    for (const token of tokens) expect(haystack).not.toContain(token);
    for (const patient of patients) expect(haystack).not.toContain(patient);
    expect(haystack).not.toContain(client.pem.split('\n')[1]!);
    expect(haystack).not.toMatch(/Bearer [A-Za-z0-9]/);
  });
});
