import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EpicSim } from '../../engine/sim/index.js';
import type { FhirConnection } from '../../engine/fhir/connection.js';
import { forEachLimited, simWithBackend } from './setup.js';

/**
 * F2: a 500-patient job outlives its tokens. Tokens last 60 s on a sped-up clock shared by
 * the simulator and the client: real time plus 150 ms for every FHIR request sent, so the
 * 1000 searches span about 150 simulated seconds on any machine, however fast or loaded.
 * The token manager must renew before expiry: zero failed requests, several renewals, and
 * no 401 at all (renewal is proactive, never 401-driven).
 */
const STEP_MS = 150;
describe('F2: token expiry mid-run', () => {
  let sim: EpicSim;
  let connection: FhirConnection;
  let advanced = 0;
  const clock = () => Date.now() + advanced;

  beforeAll(async () => {
    ({ sim, connection } = await simWithBackend(
      { seed: 2, patients: 500, observationsPerPatient: 2, tokenLifetimeSeconds: 60, clock },
      { concurrency: 4 },
      { clock, http: { onEvent: (e) => { if (e.type === 'request' && e.url.includes('/Observation')) advanced += STEP_MS; } } },
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
        for (const category of ['laboratory', 'vital-signs']) {
          for await (const { resource } of connection.search(`Observation?patient=${patient}&category=${category}`)) seen.add(resource.id!);
        }
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
    expect(simulatedSeconds).toBeGreaterThanOrEqual(150);
    expect(tokens.refreshed).toBeGreaterThan(1);
    // Renewal at half-life of a 60 s token: at most one per 30 simulated seconds (not per request).
    expect(tokens.refreshed).toBeLessThanOrEqual(Math.ceil(simulatedSeconds / 30) + 1);
    expect(counts.tokensIssued).toBe(tokens.obtained + tokens.refreshed);
  });
});
