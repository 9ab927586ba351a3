import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEpicSim, type EpicSim } from './index.js';
import { backendClient } from './testing.js';
import { parseFaultUpdate } from './faults.js';

let sim: EpicSim;
let token: string;
let url: string;

beforeAll(async () => {
  sim = await startEpicSim({ seed: 3, patients: 2, observationsPerPatient: 3 });
  token = await (await backendClient(sim)).token();
  url = `${sim.fhirBase}/Patient/${sim.patientIds()[0]}`;
});
afterAll(() => sim.close());

const get = (): Promise<Response> => fetch(url, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' } });
const reset = (): void => sim.setFaults({ rate429: 0, rate503: 0, dropRate: 0, slowMs: 0, burst429: undefined, retryAfter: 'seconds', retryAfterSeconds: 1 });

describe('faults on demand', () => {
  it('429 with Retry-After in seconds, and an OperationOutcome with code throttled', async () => {
    reset();
    sim.setFaults({ rate429: 1, retryAfterSeconds: 2 });
    const before = sim.counts().throttled;
    const res = await get();
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('2');
    expect(await res.json()).toMatchObject({ resourceType: 'OperationOutcome', issue: [{ code: 'throttled' }] });
    expect(sim.counts().throttled).toBe(before + 1);
  });

  it('429 with Retry-After as an HTTP-date at least that far ahead', async () => {
    reset();
    sim.setFaults({ rate429: 1, retryAfter: 'http-date', retryAfterSeconds: 3 });
    const sent = Date.now();
    const res = await get();
    const header = res.headers.get('retry-after') ?? '';
    expect(header).toMatch(/^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$/);
    const wait = Date.parse(header) - sent;
    // At least the 3 s asked for; at most 3 s + the round-up to a whole second + slack for a loaded machine.
    expect(wait).toBeGreaterThanOrEqual(3000);
    expect(wait).toBeLessThanOrEqual(6000);
  });

  it('dates an HTTP-date Retry-After by real time even when the sim clock runs ahead', async () => {
    const ahead = await startEpicSim({ seed: 3, patients: 1, observationsPerPatient: 1, clock: () => Date.now() + 3_600_000, faults: { rate429: 1, retryAfter: 'http-date', retryAfterSeconds: 2 } });
    try {
      const res = await fetch(`${ahead.fhirBase}/Patient/x`, { headers: { accept: 'application/fhir+json' } });
      expect(res.status).toBe(429);
      // Clients compare it with their wall clock: an hour ahead would stall them for an hour.
      expect(Date.parse(res.headers.get('retry-after')!) - Date.now()).toBeLessThan(60_000);
    } finally {
      await ahead.close();
    }
  });

  it('refuses a fractional or negative retryAfterSeconds (Retry-After is whole seconds)', () => {
    expect(() => sim.setFaults({ retryAfterSeconds: 0.5 })).toThrow(/whole number of seconds/);
    expect(() => sim.setFaults({ retryAfterSeconds: -1 })).toThrow(/whole number of seconds/);
    expect(() => parseFaultUpdate({ retryAfterSeconds: 1.5 })).toThrow(/whole number of seconds/);
    expect(parseFaultUpdate({ retryAfterSeconds: 0 })).toEqual({ retryAfterSeconds: 0 });
  });

  it('bursts: of every 4 requests the first 2 are throttled', async () => {
    reset();
    sim.setFaults({ burst429: { every: 4, length: 2 } });
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await get()).status);
    expect(statuses).toEqual([429, 429, 200, 200, 429, 429, 200, 200]);
  });

  it('a rate of 0.5 throttles about half of the requests', async () => {
    reset();
    sim.setFaults({ rate429: 0.5 });
    let throttled = 0;
    for (let i = 0; i < 60; i++) if ((await get()).status === 429) throttled++;
    expect(throttled).toBeGreaterThan(15);
    expect(throttled).toBeLessThan(45);
  });

  it('503 with Retry-After', async () => {
    reset();
    sim.setFaults({ rate503: 1 });
    const res = await get();
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(sim.counts().unavailable).toBeGreaterThan(0);
  });

  it('drops the connection without an answer', async () => {
    reset();
    sim.setFaults({ dropRate: 1 });
    await expect(get()).rejects.toThrow();
    // At the socket level: the server closes without writing a byte.
    const { port } = new URL(sim.url);
    const received = await new Promise<string>((resolve, reject) => {
      let data = '';
      const socket = net.connect(Number(port), '127.0.0.1', () => socket.write(`GET ${new URL(url).pathname} HTTP/1.1\r\nHost: x\r\n\r\n`));
      socket.on('data', (d) => (data += d.toString()));
      socket.on('close', () => resolve(data));
      socket.on('error', reject);
    });
    expect(received).toBe('');
    expect(sim.counts().dropped).toBeGreaterThanOrEqual(2);
  });

  it('slows responses down', async () => {
    reset();
    sim.setFaults({ slowMs: 300 });
    const started = Date.now();
    expect((await get()).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('never faults the CapabilityStatement', async () => {
    reset();
    sim.setFaults({ rate429: 1, rate503: 1 });
    expect((await fetch(`${sim.fhirBase}/metadata`, { headers: { accept: 'application/fhir+json' } })).status).toBe(200);
    reset();
  });
});

describe('control endpoint', () => {
  const control = (path: string, init: RequestInit = {}): Promise<Response> => fetch(`${sim.url}/_sim/${path}`, init);

  it('reads and changes faults, guarded by X-Sim-Control', async () => {
    reset();
    const body = JSON.stringify({ rate429: 1, retryAfter: 'http-date' });
    expect((await control('faults', { method: 'POST', body, headers: { 'content-type': 'application/json' } })).status).toBe(403);
    const changed = await control('faults', { method: 'POST', body, headers: { 'content-type': 'application/json', 'x-sim-control': '1' } });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await (await control('faults')).json()).toMatchObject({ rate429: 1, retryAfter: 'http-date' });
    expect((await get()).status).toBe(429);
    const refused = await control('faults', { method: 'POST', body: JSON.stringify({ rate429: 2 }), headers: { 'x-sim-control': '1' } });
    expect(refused.status).toBe(400);
    reset();
  });

  it('reports counts: patients, resources by type, statuses, tokens', async () => {
    const counts = (await (await control('counts')).json()) as ReturnType<EpicSim['counts']>;
    expect(counts.patients).toBe(2);
    expect(counts.resources.Observation).toBe(6);
    expect(counts.resources.Patient).toBe(2);
    expect(counts.tokensIssued).toBeGreaterThanOrEqual(1);
    expect(counts.byStatus['200']).toBeGreaterThan(0);
    expect(counts.byStatus['429']).toBe(counts.throttled);
  });

  it('mints EHR launch tokens and registers clients over HTTP', async () => {
    const patient = sim.patientIds()[0];
    const launched = (await (await control('launch', { method: 'POST', body: JSON.stringify({ patient }), headers: { 'x-sim-control': '1' } })).json()) as { launch: string; iss: string };
    expect(launched.iss).toBe(sim.fhirBase);
    expect(launched.launch.length).toBeGreaterThan(10);
    const registered = await control('clients', { method: 'POST', body: JSON.stringify({ clientId: 'late', redirectUris: ['http://127.0.0.1:9/cb'] }), headers: { 'x-sim-control': '1' } });
    expect(registered.status).toBe(201);
    const authorize = await fetch(`${sim.authorizeUrl}?client_id=late&redirect_uri=${encodeURIComponent('http://127.0.0.1:9/cb')}&response_type=code`, { redirect: 'manual' });
    expect(authorize.status).toBe(302);
  });
});
