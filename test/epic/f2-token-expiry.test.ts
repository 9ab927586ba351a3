import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EpicSim } from '../../engine/sim/index.js';
import type { FhirConnection } from '../../engine/fhir/connection.js';
import { forEachLimited, simWithBackend } from './setup.js';

/**
 * F2: a 500-patient job outlives its tokens. The simulator and the client share a sped-up
 * clock: real time plus a fixed step for every FHIR search sent, so the 1000 searches span
 * several token lifetimes on any machine, however fast or loaded. The token manager must
 * renew before expiry: zero failed requests, several renewals, and no 401 at all (renewal
 * is proactive, never 401-driven). Both lifetimes Epic is known to send are covered: 60 s
 * (renewed at half-life) and 300 s (renewed 60 s before expiry).
 */
const CASES = [
  { lifetime: 60, stepMs: 150, renewEverySeconds: 30 },
  { lifetime: 300, stepMs: 750, renewEverySeconds: 240 },
];

for (const { lifetime, stepMs, renewEverySeconds } of CASES) {
  describe(`F2: ${lifetime} s tokens expiring mid-run`, () => {
    let sim: EpicSim;
    let connection: FhirConnection;
    let advanced = 0;
    const clock = () => Date.now() + advanced;

    beforeAll(async () => {
      ({ sim, connection } = await simWithBackend(
        { seed: 2, patients: 500, observationsPerPatient: 2, tokenLifetimeSeconds: lifetime, clock },
        { concurrency: 4 },
        { clock, http: { onEvent: (e) => { if (e.type === 'request' && e.url.includes('/Observation')) advanced += stepMs; } } },
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
      expect(simulatedSeconds).toBeGreaterThanOrEqual(2.5 * lifetime);
      expect(tokens.refreshed).toBeGreaterThan(1);
      // At most one renewal per renewal interval: renewing is planned, not done per request.
      expect(tokens.refreshed).toBeLessThanOrEqual(Math.ceil(simulatedSeconds / renewEverySeconds) + 1);
      expect(counts.tokensIssued).toBe(tokens.obtained + tokens.refreshed);
    });
  });
}
