import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEpicSim, type EpicSim } from './index.js';
import { backendClient } from './testing.js';

type Json = Record<string, unknown> & { resourceType?: string };
type Bundle = { resourceType: 'Bundle'; total: number; link: { relation: string; url: string }[]; entry?: { resource: Json; search: { mode: string } }[] };

let sim: EpicSim;
let token: string;
let patient: string;

beforeAll(async () => {
  sim = await startEpicSim({ seed: 11, patients: 4, observationsPerPatient: 30, pageSize: 7 });
  token = await (await backendClient(sim)).token();
  patient = sim.patientIds()[0] ?? '';
});
afterAll(() => sim.close());

const json = { accept: 'application/fhir+json' };
async function get(path: string, headers: Record<string, string> = json): Promise<{ status: number; body: Json; res: Response }> {
  const res = await fetch(path.startsWith('http') ? path : `${sim.fhirBase}/${path}`, { headers: { authorization: `Bearer ${token}`, ...headers } });
  const text = await res.text();
  return { status: res.status, body: /json/.test(res.headers.get('content-type') ?? '') ? (JSON.parse(text) as Json) : { text }, res };
}
const matches = (b: Json): Json[] => ((b as unknown as Bundle).entry ?? []).filter((e) => e.search.mode === 'match').map((e) => e.resource);

describe('discovery', () => {
  it('serves SMART configuration and a production-like CapabilityStatement without a token', async () => {
    const smart = (await (await fetch(`${sim.fhirBase}/.well-known/smart-configuration`)).json()) as Json;
    expect(smart).toMatchObject({ token_endpoint: sim.tokenUrl, authorization_endpoint: sim.authorizeUrl, code_challenge_methods_supported: ['S256'] });
    const res = await fetch(`${sim.fhirBase}/metadata`, { headers: json });
    expect(res.status).toBe(200);
    const cs = (await res.json()) as { rest: { resource: { type: string; interaction: { code: string }[]; searchRevInclude?: string[]; searchInclude?: string[]; conditionalCreate: boolean; searchParam: { name: string }[] }[] }[] };
    const byType = new Map(cs.rest[0]?.resource.map((r) => [r.type, r]));
    const interactions = (t: string): string[] => byType.get(t)?.interaction.map((i) => i.code).sort() ?? [];
    expect(interactions('Observation')).toEqual(['create', 'read', 'search-type', 'update']);
    expect(interactions('DocumentReference')).toEqual(['create', 'read', 'search-type', 'update']);
    for (const t of ['AllergyIntolerance', 'Condition', 'Patient']) expect(interactions(t)).toEqual(['create', 'read', 'search-type']);
    expect(interactions('Encounter')).toEqual(['read', 'search-type']);
    for (const r of byType.values()) {
      expect(r.conditionalCreate).toBe(false);
      expect(r.interaction.some((i) => i.code === 'delete')).toBe(false);
      expect(r.searchInclude).toBeUndefined();
      for (const p of r.searchParam) expect(p.name).not.toContain('.');
      if (r.searchRevInclude) expect(r.searchRevInclude).toEqual(['Provenance:target']);
    }
    expect(byType.get('Observation')?.searchParam.map((p) => p.name)).toEqual(expect.arrayContaining(['patient', 'code', 'category', 'date']));
  });

  it('answers XML when Accept is missing or XML, JSON only when asked', async () => {
    for (const headers of [{}, { accept: 'application/xml' }, { accept: '*/*' }] as Record<string, string>[]) {
      const res = await fetch(`${sim.fhirBase}/Patient/${patient}`, { headers: { authorization: `Bearer ${token}`, ...headers } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/xml/);
      const text = await res.text();
      expect(text).toMatch(/^<\?xml/);
      expect(() => JSON.parse(text)).toThrow();
    }
    const { body } = await get(`Patient/${patient}`);
    expect(body.resourceType).toBe('Patient');
  });
});

describe('Epic search quirks', () => {
  it('requires patient plus code or category on Observation search', async () => {
    for (const q of ['Observation?category=laboratory', `Observation?patient=${patient}`, `Observation?patient=${patient}&status=final`]) {
      const { status, body } = await get(q);
      expect(status).toBe(400);
      expect(body.resourceType).toBe('OperationOutcome');
    }
    expect((await get(`Observation?patient=${patient}&category=vital-signs`)).status).toBe(200);
    expect((await get(`Observation?subject=Patient/${patient}&code=http://loinc.org|2345-7`)).status).toBe(200);
  });

  it('lets _id override every other parameter', async () => {
    const all = await get(`Observation?patient=${patient}&category=laboratory,vital-signs&_count=1`);
    const one = matches(all.body)[0];
    const other = sim.patientIds()[1];
    const { status, body } = await get(`Observation?_id=${String(one?.id)}&patient=${other}&category=nonsense`);
    expect(status).toBe(200);
    expect(matches(body).map((r) => r.id)).toEqual([one?.id]);
  });

  it('ignores unknown and chained parameters silently', async () => {
    const base = await get(`Observation?patient=${patient}&category=laboratory&_count=1000`);
    const noisy = await get(`Observation?patient=${patient}&category=laboratory&_count=1000&made-up=1&subject.name=Nobody&_elements=id`);
    expect(noisy.status).toBe(200);
    expect(matches(noisy.body).map((r) => r.id)).toEqual(matches(base.body).map((r) => r.id));
    expect(matches(base.body).length).toBeGreaterThan(0);
  });

  it('answers an empty search with a Bundle holding an OperationOutcome entry (mode outcome)', async () => {
    const { status, body } = await get(`Observation?patient=${patient}&code=http://loinc.org|0000-0`);
    expect(status).toBe(200);
    const bundle = body as unknown as Bundle;
    expect(bundle.total).toBe(0);
    expect(bundle.entry).toHaveLength(1);
    expect(bundle.entry?.[0]?.search.mode).toBe('outcome');
    expect(bundle.entry?.[0]?.resource.resourceType).toBe('OperationOutcome');
  });

  it('pages by opaque sessionID next links to the end, every match once', async () => {
    let next: string | undefined = `Observation?patient=${patient}&category=laboratory,vital-signs`;
    const ids: string[] = [];
    let pages = 0;
    let total = 0;
    while (next && pages < 20) {
      const { status, body } = await get(next);
      expect(status).toBe(200);
      const bundle = body as unknown as Bundle;
      total = bundle.total;
      ids.push(...matches(body).map((r) => String(r.id)));
      next = bundle.link.find((l) => l.relation === 'next')?.url;
      if (next) expect(new URL(next).searchParams.get('sessionID')).toMatch(/^[A-Za-z0-9_-]{16,}$/);
      pages++;
    }
    expect(total).toBe(30);
    expect(ids).toHaveLength(30);
    expect(new Set(ids).size).toBe(30);
    expect(pages).toBe(5); // pageSize 7
    expect((await get('Observation?sessionID=not-a-cursor')).status).toBe(400);
  });

  it('ties a sessionID cursor to the client that started the search', async () => {
    const { body } = await get(`Observation?patient=${patient}&category=laboratory,vital-signs`);
    const next = (body as unknown as Bundle).link.find((l) => l.relation === 'next')!.url;
    const stranger = await (await backendClient(sim, 'another-backend')).token('system/Observation.rs');
    const res = await fetch(next, { headers: { authorization: `Bearer ${stranger}`, ...json } });
    expect(res.status).toBe(400);
    expect((await get(next)).status).toBe(200);
  });

  it('ignores _include by default (no included entries)', async () => {
    const { body } = await get(`Observation?patient=${patient}&category=laboratory&_include=Observation:patient`);
    expect((body as unknown as Bundle).entry?.some((e) => e.search.mode === 'include')).toBe(false);
  });

  it('requires the patient on other clinical searches, and refuses an empty Patient search', async () => {
    expect((await get('Condition')).status).toBe(400);
    expect((await get('Patient')).status).toBe(400);
    const { body } = await get(`Condition?patient=${patient}`);
    expect(matches(body).length).toBeGreaterThan(0);
    expect((await get('Patient?family=Nobody-Has-This-Name')).status).toBe(200);
  });
});

describe('writes follow the capability statement', () => {
  const send = (method: string, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(`${sim.fhirBase}/${path}`, { method, headers: { authorization: `Bearer ${token}`, ...json, 'content-type': 'application/fhir+json', ...headers }, body: JSON.stringify(body) });
  const observation = (): Json => ({ resourceType: 'Observation', status: 'final', subject: { reference: `Patient/${patient}` }, code: { text: 'x' }, category: [{ coding: [{ code: 'laboratory' }] }] });

  it('creates and updates an Observation', async () => {
    const created = await send('POST', 'Observation', observation());
    expect(created.status).toBe(201);
    expect(created.headers.get('location')).toMatch(/\/Observation\/[^/]+\/_history\/1$/);
    const saved = (await created.json()) as Json;
    const updated = await send('PUT', `Observation/${String(saved.id)}`, { ...saved, status: 'amended' });
    expect(updated.status).toBe(200);
    const read = await get(`Observation/${String(saved.id)}`);
    expect(read.body.status).toBe('amended');
    expect((read.body.meta as { versionId: string }).versionId).toBe('2');
  });

  it('records a Provenance for each write, returned by _revinclude=Provenance:target only', async () => {
    const saved = (await (await send('POST', 'Observation', observation())).json()) as Json;
    const query = `Observation?patient=${patient}&category=laboratory&_count=1000`;
    const withRev = (await get(`${query}&_revinclude=Provenance:target`)).body as unknown as Bundle;
    const provenance = (withRev.entry ?? []).filter((e) => e.resource.resourceType === 'Provenance');
    expect(provenance.length).toBeGreaterThanOrEqual(1);
    expect(provenance.every((e) => e.search.mode === 'include')).toBe(true);
    expect(JSON.stringify(provenance.map((e) => e.resource.target))).toContain(`Observation/${String(saved.id)}`);
    const without = (await get(query)).body as unknown as Bundle;
    expect((without.entry ?? []).some((e) => e.resource.resourceType === 'Provenance')).toBe(false);
  });

  it('refuses what Epic refuses with 405 and an OperationOutcome', async () => {
    const encounter = { resourceType: 'Encounter', status: 'finished', subject: { reference: `Patient/${patient}` } };
    const cases: [string, string, unknown][] = [
      ['POST', 'Encounter', encounter],
      ['PUT', `Condition/${String(matches((await get(`Condition?patient=${patient}`)).body)[0]?.id)}`, { resourceType: 'Condition' }],
      ['DELETE', `Patient/${patient}`, undefined],
      ['PUT', `Observation?patient=${patient}`, observation()],
    ];
    for (const [method, path, body] of cases) {
      const res = await send(method, path, body);
      expect([method, path, res.status]).toEqual([method, path, 405]);
      expect(((await res.json()) as Json).resourceType).toBe('OperationOutcome');
    }
    const conditional = await send('POST', 'Observation', observation(), { 'if-none-exist': 'identifier=x|1' });
    expect(conditional.status).toBe(412);
  });
});

describe('code search and _include support', () => {
  it('a code search returns exactly the Observations carrying that code', async () => {
    const all = matches((await get(`Observation?patient=${patient}&category=laboratory,vital-signs&_count=1000`)).body);
    const glucose = all.filter((o) => JSON.stringify(o.code).includes('"2345-7"')).map((o) => o.id).sort();
    const found = matches((await get(`Observation?patient=${patient}&code=http://loinc.org|2345-7&_count=1000`)).body).map((o) => o.id).sort();
    expect(glucose.length).toBeGreaterThan(0);
    expect(found).toEqual(glucose);
  });

  it('with supportsInclude, advertises searchInclude and returns included Patients and Encounters once', async () => {
    const withInclude = await startEpicSim({ seed: 11, patients: 2, observationsPerPatient: 10, supportsInclude: true });
    try {
      const t = await (await backendClient(withInclude)).token();
      const headers = { authorization: `Bearer ${t}`, ...json };
      const cs = (await (await fetch(`${withInclude.fhirBase}/metadata`, { headers })).json()) as { rest: { resource: { type: string; searchInclude?: string[] }[] }[] };
      expect(cs.rest[0]?.resource.find((r) => r.type === 'Observation')?.searchInclude).toContain('Observation:patient');
      const p = withInclude.patientIds()[0];
      const res = await fetch(`${withInclude.fhirBase}/Observation?patient=${p}&category=laboratory,vital-signs&_include=Observation:patient&_include=Observation:encounter`, { headers });
      const bundle = (await res.json()) as Bundle;
      const included = (bundle.entry ?? []).filter((e) => e.search.mode === 'include').map((e) => `${String(e.resource.resourceType)}/${String(e.resource.id)}`);
      expect(included).toContain(`Patient/${p}`);
      expect(included.some((r) => r.startsWith('Encounter/'))).toBe(true);
      expect(new Set(included).size).toBe(included.length);
    } finally {
      await withInclude.close();
    }
  });
});

describe('determinism and robustness', () => {
  it('two messy simulators with the same seed serve identical data', async () => {
    const [a, b] = await Promise.all([1, 2].map(() => startEpicSim({ seed: 99, patients: 2, observationsPerPatient: 12, messy: true })));
    try {
      const bodies: string[] = [];
      for (const s of [a, b]) {
        if (!s) throw new Error('no sim');
        const t = await (await backendClient(s)).token();
        const p = s.patientIds()[1];
        const res = await fetch(`${s.fhirBase}/Observation?patient=${p}&category=laboratory,vital-signs,smartdata,LDA`, { headers: { authorization: `Bearer ${t}`, ...json } });
        const bundle = (await res.json()) as Bundle;
        bodies.push(JSON.stringify(bundle.entry?.map((e) => e.resource)));
      }
      expect(a?.patientIds()).toEqual(b?.patientIds());
      expect(bodies[0]).toBe(bodies[1]);
      expect(JSON.parse(bodies[0] ?? '[]')).toHaveLength(12);
    } finally {
      await Promise.all([a?.close(), b?.close()]);
    }
  });

  it('answers malformed input with 400, not a crash', async () => {
    expect((await get('Observation/%E0%A4%A')).status).toBe(400);
    const res = await fetch(`${sim.fhirBase}/Observation`, { method: 'POST', headers: { authorization: `Bearer ${token}`, ...json, 'content-type': 'application/fhir+json' }, body: '{not json' });
    expect(res.status).toBe(400);
    expect(sim.counts().byStatus['500']).toBeUndefined();
  });
});
