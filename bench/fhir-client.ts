/**
 * Figures for docs/BENCHMARKS.md: the F2 and F5 jobs against the Epic simulator, printed as
 * JSON lines. Run: node --import tsx bench/fhir-client.ts
 */
import { exportJWK, exportPKCS8, generateKeyPair } from 'jose';
import { startEpicSim, type EpicSimOptions } from '../engine/sim/index.js';
import { FhirConnection, fhirConnectionSchema, type FhirConnectionRuntime } from '../engine/fhir/connection.js';

async function connect(sim: EpicSimOptions, limits: Record<string, unknown>, runtime: FhirConnectionRuntime) {
  const server = await startEpicSim(sim);
  const { privateKey, publicKey } = await generateKeyPair('RS384', { extractable: true });
  server.registerClient({ clientId: 'bench', jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'k', alg: 'RS384' }] } });
  const options = fhirConnectionSchema.parse({ base: server.fhirBase, auth: { flow: 'backend', clientId: 'bench', privateKey: await exportPKCS8(privateKey), kid: 'k', scope: 'system/Observation.rs' }, limits });
  const connection = new FhirConnection(options, runtime);
  await connection.capabilities();
  await connection.tokens!.token();
  return { server, connection };
}

async function eachPatient(ids: string[], work: (id: string) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (next < ids.length) await work(ids[next++]!);
  }));
}

// F2: 500 patients × 2 category searches on 60 s tokens; the shared clock gains 150 ms per search.
{
  let advanced = 0;
  const clock = () => Date.now() + advanced;
  const { server, connection } = await connect(
    { seed: 2, patients: 500, observationsPerPatient: 2, tokenLifetimeSeconds: 60, clock },
    { concurrency: 4 },
    { clock, http: { onEvent: (e) => { if (e.type === 'request' && e.url.includes('/Observation')) advanced += 150; } } },
  );
  const started = performance.now();
  const simStart = clock();
  let resources = 0;
  await eachPatient(server.patientIds(), async (p) => {
    for (const c of ['laboratory', 'vital-signs']) for await (const _ of connection.search(`Observation?patient=${p}&category=${c}`)) resources++;
  });
  const ms = performance.now() - started;
  console.log(JSON.stringify({ job: 'F2', resources, searches: 1000, realMs: Math.round(ms), searchesPerSecond: Math.round(1000 / (ms / 1000)), simulatedSeconds: Math.round((clock() - simStart) / 1000), tokens: connection.tokens!.counters, sim: { unauthorized: server.counts().unauthorized, byStatus: server.counts().byStatus } }));
  await connection.close();
  await server.close();
}

// F5: a storm of 12 requests, every other one 429 with Retry-After 1 s (seconds, then HTTP-date).
for (const form of ['seconds', 'http-date'] as const) {
  const pending = new Map<number, { at: number; announced: number }>();
  const gaps: Array<{ announcedMs: number; waitedMs: number }> = [];
  let stormSent = -1;
  const ctx = await connect(
    { seed: 5, patients: 40, observationsPerPatient: 2, faults: { retryAfter: form, retryAfterSeconds: 1 } },
    { concurrency: 4, maxAttempts: 8, maxWait: '30s' },
    { http: { onEvent: (e) => {
      if (e.type === 'request' && stormSent >= 0 && ++stormSent === 12) ctx.server.setFaults({ burst429: undefined });
      if (e.type === 'response' && e.status === 429 && e.retryAfter) {
        pending.set(e.id, { at: e.at, announced: /^\d+$/.test(e.retryAfter) ? Number(e.retryAfter) * 1000 : Date.parse(e.retryAfter) - Date.now() });
      } else if (e.type === 'request' && pending.has(e.id)) {
        const p = pending.get(e.id)!;
        pending.delete(e.id);
        gaps.push({ announcedMs: Math.round(p.announced), waitedMs: Math.round(e.at - p.at) });
      }
    } } },
  );
  ctx.server.setFaults({ burst429: { every: 2, length: 1 } });
  stormSent = 0;
  const started = performance.now();
  await eachPatient(ctx.server.patientIds(), async (p) => {
    for await (const _ of ctx.connection.search(`Observation?patient=${p}&category=laboratory,vital-signs`)) void _;
  });
  console.log(JSON.stringify({ job: 'F5', retryAfter: form, realMs: Math.round(performance.now() - started), throttled: ctx.server.counts().throttled, gaps, counters: ctx.connection.http.counters }));
  await ctx.connection.close();
  await ctx.server.close();
}
