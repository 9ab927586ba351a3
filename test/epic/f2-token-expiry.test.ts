import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EpicSim } from '../../engine/sim/index.js';
import type { FhirConnection } from '../../engine/fhir/connection.js';
import { fastClock, forEachLimited, simWithBackend } from './setup.js';

/**
 * F2: a 500-patient job outlives its tokens. Tokens last 60 s on a clock running 200× fast
 * (both the simulator's and the client's), so the job spans many token lifetimes. The token
 * manager must renew before expiry: zero failed requests, several renewals, and no 401 at all.
 */
describe('F2: token expiry mid-run', () => {
  let sim: EpicSim;
  let connection: FhirConnection;
  const clock = fastClock(200);

  beforeAll(async () => {
    ({ sim, connection } = await simWithBackend(
      { seed: 2, patients: 500, observationsPerPatient: 2, tokenLifetimeSeconds: 60, clock },
      { concurrency: 4 },
      { clock },
    ));
  });
  afterAll(async () => {
    await connection?.close();
    await sim?.close();
  });

  it('fetches every Observation of 500 patients with zero failed requests and proactive renewals only', async () => {
    const patients = sim.patientIds();
    expect(patients).toHaveLength(500);
    const seen = new Set<string>();
    const failures: unknown[] = [];
    const started = clock();
    await forEachLimited(patients, 4, async (patient) => {
      try {
        for await (const { resource } of connection.search(`Observation?patient=${patient}&category=laboratory,vital-signs`)) seen.add(resource.id!);
      } catch (err) {
        failures.push(err);
      }
    });
    const simulatedSeconds = (clock() - started) / 1000;
    expect(failures).toEqual([]);
    expect(seen.size).toBe(sim.counts().resources.Observation);
    const counts = sim.counts();
    // Every status the simulator sent was a success; not one 401.
    expect(counts.unauthorized).toBe(0);
    expect(Object.keys(counts.byStatus).filter((s) => s !== '200')).toEqual([]);
    expect(connection.client.counters.unauthorized).toBe(0);
    const tokens = connection.tokens!.counters;
    expect(tokens.reauthenticated).toBe(0);
    expect(tokens.refreshed).toBeGreaterThan(1);
    // Renewal at half-life of a 60 s token: about one per 30 simulated seconds.
    expect(tokens.refreshed).toBeGreaterThanOrEqual(Math.floor(simulatedSeconds / 30) - 1);
    expect(counts.tokensIssued).toBe(tokens.obtained + tokens.refreshed);
  });
});
