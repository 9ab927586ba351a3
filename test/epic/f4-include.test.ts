import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FhirConnection } from '../../engine/fhir/connection.js';
import type { SearchItem } from '../../engine/fhir/planner.js';
import { planSearch } from '../../engine/fhir/planner.js';
import { checkSearch } from '../../engine/fhir/capabilities.js';
import type { EpicSim } from '../../engine/sim/index.js';
import { simWithBackend } from './setup.js';

/**
 * F4: the FHIR spec is not Epic's implementation. The same query against a server that
 * honours `_include` and one that does not (same data) gives the same resources: the
 * planner turns undeclared includes into reads of the referenced resources.
 */
const SIM = { seed: 4, patients: 6, observationsPerPatient: 12, pageSize: 5 };

async function collect(connection: FhirConnection, query: string): Promise<{ items: SearchItem[]; warnings: string[] }> {
  const items: SearchItem[] = [];
  const warnings: string[] = [];
  for await (const item of connection.search(query, { onWarning: (w) => warnings.push(w.code) })) items.push(item);
  return { items, warnings };
}

function byKey(items: SearchItem[]): Map<string, string> {
  return new Map(items.map((i) => [`${i.mode}:${i.resource.resourceType}/${i.resource.id}`, JSON.stringify(i.resource)]));
}

describe('F4: _include with and without server support', () => {
  let withInclude: { sim: EpicSim; connection: FhirConnection };
  let without: { sim: EpicSim; connection: FhirConnection };
  beforeAll(async () => {
    withInclude = await simWithBackend({ ...SIM, supportsInclude: true });
    without = await simWithBackend({ ...SIM, supportsInclude: false });
    // Metadata and the token first, so the request counts below are the searches' own.
    await without.connection.capabilities();
    await without.connection.tokens!.token();
  });
  afterAll(async () => {
    for (const s of [withInclude, without]) {
      await s?.connection.close();
      await s?.sim.close();
    }
  });

  it('returns the same resources either way, each included resource once', async () => {
    const patients = withInclude.sim.patientIds();
    expect(without.sim.patientIds()).toEqual(patients);
    for (const patient of patients.slice(0, 3)) {
      const query = `Observation?patient=${patient}&category=laboratory,vital-signs&_include=Observation:patient&_include=Observation:encounter`;
      const native = await collect(withInclude.connection, query);
      const before = without.connection.http.counters.requests;
      const pagesBefore = without.connection.client.counters.pages;
      const planned = await collect(without.connection, query);
      // Batched: per page of matches at most one `_id` search per included type (each one page).
      const pages = without.connection.client.counters.pages - pagesBefore;
      const requests = without.connection.http.counters.requests - before;
      expect(requests).toBeLessThanOrEqual(pages);
      expect(pages).toBeLessThanOrEqual(3 * 3);
      expect(native.warnings).not.toContain('include-rewritten');
      expect(planned.warnings.filter((w) => w === 'include-rewritten')).toHaveLength(2);
      expect(byKey(planned.items)).toEqual(byKey(native.items));
      const included = planned.items.filter((i) => i.mode === 'include').map((i) => i.resource.resourceType);
      expect(included.filter((t) => t === 'Patient')).toHaveLength(1);
      expect(included.filter((t) => t === 'Encounter').length).toBeGreaterThan(0);
      // 12 matches over pages of 5: paging was followed to the end in both.
      expect(planned.items.filter((i) => i.mode === 'match')).toHaveLength(12);
    }
  });

  it('plans from /metadata: undeclared includes are rewritten, unknown parameters warned about', async () => {
    const caps = await without.connection.capabilities();
    const plan = planSearch(caps, 'Observation?patient=1&category=laboratory&_include=Observation:patient');
    expect(plan.query).toBe('Observation?patient=1&category=laboratory');
    expect(plan.rewrittenIncludes).toEqual([{ source: 'Observation', param: 'patient', raw: 'Observation:patient' }]);
    const nativeCaps = await withInclude.connection.capabilities();
    expect(planSearch(nativeCaps, 'Observation?patient=1&category=laboratory&_include=Observation:patient').rewrittenIncludes).toEqual([]);
    expect(checkSearch(caps, 'Observation?patient=1&category=laboratory&flavour=sweet&subject.name=x').map((w) => w.code)).toEqual(['unknown-param', 'chain-not-supported']);
    expect(checkSearch(caps, 'Observation?_id=1&patient=2').map((w) => w.code)).toEqual(['id-overrides']);
    expect(checkSearch(caps, 'Observation?patient=1&_revinclude=Provenance:target').map((w) => w.code)).toEqual([]);
    expect(checkSearch(caps, 'Observation?patient=1&_revinclude=DocumentReference:subject').map((w) => w.code)).toEqual(['revinclude-not-supported']);
    expect(checkSearch(caps, 'Medication?code=1').map((w) => w.code)).toEqual(['resource-not-supported']);
    expect(caps.resources.get('Encounter')?.interactions.has('create')).toBe(false);
    expect(caps.resources.get('Observation')?.interactions.has('create')).toBe(true);
    expect(caps.smart?.token_endpoint).toBe(without.sim.tokenUrl);
  });
});
