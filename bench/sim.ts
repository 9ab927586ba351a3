/**
 * Simulator measurements: start-up, search latency over HTTP, and why the store is sharded
 * (medplum's MemoryRepository searching one unsharded repository).
 * Run: node --import tsx bench/sim.ts [patients=500] [observationsPerPatient=20]
 */
import { parseSearchRequest } from '@medplum/core';
import { MemoryRepository } from '@medplum/fhir-router';
import { generateData } from '../engine/sim/data.js';
import { startEpicSim } from '../engine/sim/index.js';
import { SimStore } from '../engine/sim/store.js';
import { backendClient } from '../engine/sim/testing.js';

/** Medplum's resource type, taken from the repository so @medplum/fhirtypes need not be imported. */
type Resource = Parameters<MemoryRepository['createResource']>[0];

const patients = Number(process.argv[2] ?? 500);
const perPatient = Number(process.argv[3] ?? 20);

async function timed<T>(what: string, fn: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await fn();
  console.log(`${what}: ${(performance.now() - started).toFixed(0)} ms`);
  return result;
}

new SimStore(); // loads and indexes the R4 definitions once, outside the timings below
const sim = await timed(`start (${patients} patients x ${perPatient} Observations, messy)`, () =>
  startEpicSim({ patients, observationsPerPatient: perPatient, messy: true }));
const token = await (await backendClient(sim)).token();
const headers = { authorization: `Bearer ${token}`, accept: 'application/fhir+json' };
const ids = sim.patientIds();
for (const query of ['category=laboratory,vital-signs', 'code=http://loinc.org|2345-7']) {
  await timed(`${ids.length} searches Observation?patient=…&${query} over HTTP`, async () => {
    for (const id of ids) await (await fetch(`${sim.fhirBase}/Observation?patient=${id}&${query}`, { headers })).json();
  });
}
await sim.close();

// The alternative: one MemoryRepository holding everything, searched with `patient`.
const sample = generateData({ seed: 1, patients, observationsPerPatient: perPatient, messy: true });
const repo = new MemoryRepository();
for (const r of sample) await repo.createResource(r as unknown as Resource);
const first = sample.find((r) => r.resourceType === 'Patient')?.id ?? '';
const observations = sample.filter((r) => r.resourceType === 'Observation').length;
for (const query of [`patient=${first}&category=laboratory`, `subject=Patient/${first}&category=laboratory`]) {
  await timed(`unsharded MemoryRepository (${observations} Observations) Observation?${query}`, () =>
    repo.search(parseSearchRequest(`Observation?${query}`)));
}
