import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FhirConnection } from '../../engine/fhir/connection.js';
import type { HttpEvent } from '../../engine/fhir/http.js';
import type { EpicSim } from '../../engine/sim/index.js';
import { forEachLimited, simWithBackend } from './setup.js';

/** Requests in the storm; every other one is refused. */
const STRETCH = 12;

/**
 * F5: a 429 storm. For a stretch, every other FHIR request is refused with 429 and a
 * Retry-After (in seconds, then as an HTTP-date). The job must finish with every resource,
 * and every retry must come at least the announced delay after its 429, measured here from
 * the raw header and the times of the client's own attempts.
 */
interface Gap {
  readonly announcedMs: number;
  readonly waitedMs: number;
}

function gapRecorder() {
  const pending = new Map<number, { at: number; announcedMs: number }>();
  const gaps: Gap[] = [];
  let storm: { sent: number; end: () => void } | undefined;
  const onEvent = (e: HttpEvent) => {
    if (e.type === 'request' && storm && ++storm.sent === STRETCH) storm.end();
    if (e.type === 'response' && e.status === 429 && e.retryAfter) {
      // Parsed independently of the client: whole seconds, or an HTTP-date against the wall clock now.
      const announcedMs = /^\d+$/.test(e.retryAfter) ? Number(e.retryAfter) * 1000 : Date.parse(e.retryAfter) - Date.now();
      expect(Number.isNaN(announcedMs)).toBe(false);
      pending.set(e.id, { at: e.at, announcedMs });
    } else if (e.type === 'request' && pending.has(e.id)) {
      const p = pending.get(e.id)!;
      pending.delete(e.id);
      gaps.push({ announcedMs: p.announcedMs, waitedMs: e.at - p.at });
    }
  };
  /** Ends the storm (`end`) once STRETCH more requests have been sent. */
  const startStorm = (end: () => void) => (storm = { sent: 0, end });
  return { gaps, onEvent, startStorm, unanswered: () => pending.size };
}

describe('F5: 429 storm', () => {
  for (const form of ['seconds', 'http-date'] as const) {
    describe(`Retry-After as ${form}`, () => {
      let sim: EpicSim;
      let connection: FhirConnection;
      const recorder = gapRecorder();
      beforeAll(async () => {
        ({ sim, connection } = await simWithBackend(
          { seed: 5, patients: 40, observationsPerPatient: 2, faults: { retryAfter: form, retryAfterSeconds: 1 } },
          { concurrency: 4, maxAttempts: 8, maxWait: '30s' },
          { http: { onEvent: recorder.onEvent } },
        ));
      });
      afterAll(async () => {
        await connection?.close();
        await sim?.close();
      });

      it('finishes the job and honours every Retry-After', async () => {
        // Token and metadata first, so the storm hits the data requests.
        await connection.capabilities();
        await connection.tokens!.token();
        sim.setFaults({ burst429: { every: 2, length: 1 } });
        recorder.startStorm(() => sim.setFaults({ burst429: undefined }));
        const ids = new Set<string>();
        await forEachLimited(sim.patientIds(), 4, async (patient) => {
          for await (const { resource } of connection.search(`Observation?patient=${patient}&category=laboratory,vital-signs`)) ids.add(resource.id!);
        });
        expect(ids.size).toBe(sim.counts().resources.Observation);
        const counts = sim.counts();
        // Half of the stretch was refused (the storm ends on our 12th send; a few may not have arrived yet).
        expect(counts.throttled).toBeGreaterThanOrEqual(STRETCH / 2 - 2);
        expect(counts.throttled).toBeLessThanOrEqual(STRETCH / 2 + 2);
        expect(connection.http.counters.throttled).toBe(counts.throttled);
        expect(recorder.gaps).toHaveLength(counts.throttled);
        expect(recorder.unanswered()).toBe(0);
        for (const gap of recorder.gaps) expect(gap.waitedMs).toBeGreaterThanOrEqual(gap.announcedMs - 1);
        if (form === 'seconds') expect(recorder.gaps.every((g) => g.announcedMs === 1000)).toBe(true);
        else expect(recorder.gaps.every((g) => g.announcedMs > 0 && g.announcedMs <= 2000)).toBe(true);
      });
    });
  }
});
