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

/**
 * F2 with a queue: more callers than the concurrency limit, a 429 burst, and tokens that
 * expire while requests wait for a slot. Each request moves the shared clock 5 s, so a
 * token taken when a request was queued (the old behaviour) is long dead when it is sent:
 * the token must be taken at each attempt, after the gate, the pause and the rate limit.
 */
describe('F2: tokens expiring while requests queue behind a 429 burst', () => {
  it('completes every read with zero failures and zero 401s', async () => {
    let advanced = 0;
    const clock = () => Date.now() + advanced;
    const { sim, connection } = await simWithBackend(
      { seed: 3, patients: 2, observationsPerPatient: 1, tokenLifetimeSeconds: 60, clock, faults: { burst429: { every: 10, length: 3 }, retryAfterSeconds: 0 } },
      { concurrency: 1 },
      { clock, http: { onEvent: (e) => { if (e.type === 'request') advanced += 5_000; } } },
    );
    try {
      const patient = sim.patientIds()[0]!;
      const results = await Promise.allSettled(Array.from({ length: 40 }, () => connection.client.read('Patient', patient)));
      expect(results.filter((r) => r.status === 'rejected')).toEqual([]);
      expect(sim.counts().unauthorized).toBe(0);
      expect(connection.client.counters.unauthorized).toBe(0);
      expect(connection.http.counters.throttled).toBeGreaterThan(0);
      // 40+ requests at 5 s each span several 60 s lifetimes: renewed, not re-authenticated.
      expect(connection.tokens!.counters.refreshed).toBeGreaterThan(2);
      expect(connection.tokens!.counters.reauthenticated).toBe(0);
    } finally {
      await connection.close();
      await sim.close();
    }
  });
});
