import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEpicSim, type EpicSim } from './index.js';
import { requestBackendToken, signAssertion, testClientKey, type TestClientKey } from './testing.js';

let now = Date.now();
const clock = (): number => now;
let sim: EpicSim;
let rsa: TestClientKey;
let ec: TestClientKey;
let otherRsa: TestClientKey;
let jwksServer: http.Server;
const REDIRECT = 'http://127.0.0.1:9/callback';

beforeAll(async () => {
  [rsa, ec, otherRsa] = await Promise.all([testClientKey('RS384'), testClientKey('ES384'), testClientKey('RS384', 'other')]);
  jwksServer = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(rsa.jwks)));
  await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', () => r()));
  sim = await startEpicSim({
    seed: 7, patients: 3, observationsPerPatient: 2, clock,
    clients: [
      { clientId: 'backend', jwks: rsa.jwks },
      { clientId: 'backend-hosted', jwksUrl: `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json` },
      { clientId: 'backend-ec', jwks: ec.jwks },
      { clientId: 'app', redirectUris: [REDIRECT] },
      { clientId: 'confidential-app', redirectUris: [REDIRECT], confidential: true, clientSecret: 's3cret' },
    ],
  });
});
afterAll(async () => {
  await sim.close();
  await new Promise<void>((r) => jwksServer.close(() => r()));
});

const assertion = (over: Parameters<typeof signAssertion>[1] extends infer C ? Partial<C> : never = {}, key = rsa): Promise<string> =>
  signAssertion(key, { clientId: 'backend', tokenUrl: sim.tokenUrl, nowMs: now, ...over });

describe('backend services (client_credentials + RS384 assertion)', () => {
  it('issues a bearer token for a good assertion, with inline or hosted JWKS', async () => {
    for (const clientId of ['backend', 'backend-hosted']) {
      const { status, body } = await requestBackendToken(sim.tokenUrl, await assertion({ clientId }));
      expect(status).toBe(200);
      expect(body).toMatchObject({ token_type: 'bearer', expires_in: 300, scope: 'system/Observation.rs system/Patient.rs' });
      expect(body.refresh_token).toBeUndefined();
      const read = await fetch(`${sim.fhirBase}/Patient/${sim.patientIds()[0]}`, { headers: { authorization: `Bearer ${String(body.access_token)}`, accept: 'application/fhir+json' } });
      expect(read.status).toBe(200);
    }
  });

  it.each([
    ['wrong aud', { aud: 'http://127.0.0.1:1/oauth2/token' }, /aud/],
    ['exp more than 5 minutes ahead', { expInSeconds: 301 }, /5 minutes/],
    ['expired assertion', { expInSeconds: -5 }, /exp/],
    ['jti longer than 151 characters', { jti: 'x'.repeat(152) }, /151/],
    ['unknown client', { clientId: 'nobody' }, /unknown client/],
    ['iss different from sub', { iss: 'backend-hosted' }, /iss|sub/],
  ])('refuses %s', async (_name, over, reason) => {
    const { status, body } = await requestBackendToken(sim.tokenUrl, await assertion(over));
    expect(status).toBe(400);
    expect(body.error).toBe('invalid_client');
    expect(String(body.error_description)).toMatch(reason);
  });

  it('accepts a jti of exactly 151 characters once, then refuses its reuse before exp', async () => {
    const jti = 'j'.repeat(151);
    expect((await requestBackendToken(sim.tokenUrl, await assertion({ jti }))).status).toBe(200);
    const again = await requestBackendToken(sim.tokenUrl, await assertion({ jti }));
    expect(again.status).toBe(400);
    expect(String(again.body.error_description)).toMatch(/jti already used/);
  });

  it('refuses ES384 (RSA only) and a key that is not the registered one', async () => {
    const es = await requestBackendToken(sim.tokenUrl, await assertion({ clientId: 'backend-ec', alg: 'ES384' }, ec));
    expect(es.status).toBe(400);
    expect(String(es.body.error_description)).toMatch(/RSA/);
    const wrongKey = await requestBackendToken(sim.tokenUrl, await signAssertion({ ...otherRsa, kid: rsa.kid }, { clientId: 'backend', tokenUrl: sim.tokenUrl, nowMs: now }));
    expect(wrongKey.status).toBe(400);
    expect(String(wrongKey.body.error_description)).toMatch(/signature/i);
  });

  it('accepts ES384 when configured like the SMART reference servers, and says so in the SMART configuration', async () => {
    const peer = await startEpicSim({ patients: 1, observationsPerPatient: 1, clock, assertionAlgorithms: ['RS384', 'ES384'], clients: [{ clientId: 'backend-ec', jwks: ec.jwks }] });
    try {
      const smart = (await (await fetch(`${peer.fhirBase}/.well-known/smart-configuration`)).json()) as Record<string, unknown>;
      expect(smart.token_endpoint_auth_signing_alg_values_supported).toEqual(['RS384', 'ES384']);
      const es = await requestBackendToken(peer.tokenUrl, await signAssertion(ec, { clientId: 'backend-ec', tokenUrl: peer.tokenUrl, nowMs: now, alg: 'ES384' }));
      expect(es.status).toBe(200);
    } finally {
      await peer.close();
    }
  });

  it('answers 401 with WWW-Authenticate once the token expires (sim clock), and for a made-up token', async () => {
    const { body } = await requestBackendToken(sim.tokenUrl, await assertion());
    const get = (token: string): Promise<Response> => fetch(`${sim.fhirBase}/Patient/${sim.patientIds()[0]}`, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' } });
    expect((await get(String(body.access_token))).status).toBe(200);
    now += 301_000;
    const expired = await get(String(body.access_token));
    expect(expired.status).toBe(401);
    expect(expired.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"');
    expect((await get('made-up')).status).toBe(401);
    // No credentials at all: a challenge without an error code (RFC 6750 3.1).
    const none = await fetch(`${sim.fhirBase}/Patient/${sim.patientIds()[0]}`, { headers: { accept: 'application/fhir+json' } });
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="FHIR"');
  });

  it('grants the intersection with the client\'s configured scopes, and all of them when none are asked for', async () => {
    sim.registerClient({ clientId: 'limited', jwks: rsa.jwks, scopes: ['system/Patient.rs', 'system/Encounter.rs'] });
    const asked = await requestBackendToken(sim.tokenUrl, await assertion({ clientId: 'limited' }), 'system/Patient.rs system/Observation.rs');
    expect(asked.body.scope).toBe('system/Patient.rs');
    const none = await requestBackendToken(sim.tokenUrl, await assertion({ clientId: 'limited' }), '');
    expect(none.body.scope).toBe('system/Patient.rs system/Encounter.rs');
    const outside = await requestBackendToken(sim.tokenUrl, await assertion({ clientId: 'limited' }), 'system/Observation.rs');
    expect(outside).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
  });

  it('enforces scopes per resource type', async () => {
    const { body } = await requestBackendToken(sim.tokenUrl, await assertion(), 'system/Patient.read');
    const auth = { authorization: `Bearer ${String(body.access_token)}`, accept: 'application/fhir+json' };
    const patient = sim.patientIds()[0] ?? '';
    expect((await fetch(`${sim.fhirBase}/Patient/${patient}`, { headers: auth })).status).toBe(200);
    const obs = await fetch(`${sim.fhirBase}/Observation?patient=${patient}&category=laboratory`, { headers: auth });
    expect(obs.status).toBe(403);
    expect(((await obs.json()) as { resourceType: string }).resourceType).toBe('OperationOutcome');
  });
});

const verifier = (): string => randomBytes(32).toString('base64url');
const challengeOf = (v: string): string => createHash('sha256').update(v).digest('base64url');

async function authorize(params: Record<string, string>): Promise<URL> {
  const res = await fetch(`${sim.authorizeUrl}?${new URLSearchParams(params)}`, { redirect: 'manual' });
  expect(res.status).toBe(302);
  return new URL(res.headers.get('location') ?? '');
}

function authParams(v: string, over: Record<string, string> = {}): Record<string, string> {
  return {
    response_type: 'code', client_id: 'app', redirect_uri: REDIRECT, scope: 'patient/Observation.rs launch/patient',
    state: randomBytes(12).toString('hex'), aud: sim.fhirBase, code_challenge: challengeOf(v), code_challenge_method: 'S256', ...over,
  };
}

async function exchange(form: Record<string, string>, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(sim.tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(form) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('authorization code (standalone and EHR launch)', () => {
  it('echoes state, and a standalone launch gets no patient unless it asks for launch/patient', async () => {
    const v1 = verifier();
    const without = authParams(v1, { scope: 'patient/Observation.rs' });
    const back1 = await authorize(without);
    expect(back1.searchParams.get('state')).toBe(without.state);
    const t1 = await exchange({ grant_type: 'authorization_code', code: back1.searchParams.get('code') ?? '', redirect_uri: REDIRECT, client_id: 'app', code_verifier: v1 });
    expect(t1.status).toBe(200);
    expect(t1.body.patient).toBeUndefined();
    expect(t1.body.encounter).toBeUndefined();

    const v2 = verifier();
    const back2 = await authorize(authParams(v2));
    const t2 = await exchange({ grant_type: 'authorization_code', code: back2.searchParams.get('code') ?? '', redirect_uri: REDIRECT, client_id: 'app', code_verifier: v2 });
    expect(t2.body.patient).toBe(sim.patientIds()[0]);
    expect(t2.body.encounter).toBeUndefined();
  });

  it('EHR launch carries the launch context (patient and encounter)', async () => {
    const patient = sim.patientIds()[1] ?? '';
    const launch = sim.createLaunch({ patient, encounter: 'enc-1' });
    const v = verifier();
    const back = await authorize(authParams(v, { launch, scope: 'launch patient/Observation.rs' }));
    const t = await exchange({ grant_type: 'authorization_code', code: back.searchParams.get('code') ?? '', redirect_uri: REDIRECT, client_id: 'app', code_verifier: v });
    expect(t.status).toBe(200);
    expect(t.body).toMatchObject({ patient, encounter: 'enc-1', token_type: 'bearer' });
    // The patient-context token sees its own patient and nobody else.
    const auth = { authorization: `Bearer ${String(t.body.access_token)}`, accept: 'application/fhir+json' };
    expect((await fetch(`${sim.fhirBase}/Observation?patient=${patient}&category=laboratory`, { headers: auth })).status).toBe(200);
    expect((await fetch(`${sim.fhirBase}/Observation?patient=${sim.patientIds()[2]}&category=laboratory`, { headers: auth })).status).toBe(403);
  });

  it('refuses PKCE plain, a missing challenge, an unknown launch, and the scope launch without a launch', async () => {
    const v = verifier();
    const variants: Record<string, string>[] = [{ code_challenge_method: 'plain', code_challenge: v }, { code_challenge: '' }, { launch: 'bogus', scope: 'launch patient/Observation.rs' }, { scope: 'launch patient/Observation.rs' }];
    for (const over of variants) {
      const back = await authorize(authParams(v, over));
      expect(back.searchParams.get('error')).toBe('invalid_request');
      expect(back.searchParams.get('code')).toBeNull();
    }
    // A valid launch token without the launch scope: refused (SMART: EHR launch asks for launch).
    const launch = sim.createLaunch({ patient: sim.patientIds()[0]! });
    const back = await authorize(authParams(v, { launch, scope: 'patient/Observation.rs' }));
    expect(back.searchParams.get('error')).toBe('invalid_scope');
    expect(back.searchParams.get('code')).toBeNull();
  });

  it('refuses a wrong code_verifier, and the code is single use', async () => {
    const v = verifier();
    const code = (await authorize(authParams(v))).searchParams.get('code') ?? '';
    const wrong = await exchange({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: 'app', code_verifier: verifier() });
    expect(wrong).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
    const reuse = await exchange({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: 'app', code_verifier: v });
    expect(reuse.status).toBe(400);
  });

  it('answers an unregistered redirect_uri with 400, not a redirect', async () => {
    const res = await fetch(`${sim.authorizeUrl}?${new URLSearchParams(authParams(verifier(), { redirect_uri: 'http://evil.example/cb' }))}`, { redirect: 'manual' });
    expect(res.status).toBe(400);
  });

  it('gives refresh tokens only with offline_access, and rotates them on refresh', async () => {
    const v0 = verifier();
    const noOffline = await exchange({ grant_type: 'authorization_code', code: (await authorize(authParams(v0))).searchParams.get('code') ?? '', redirect_uri: REDIRECT, client_id: 'app', code_verifier: v0 });
    expect(noOffline.body.refresh_token).toBeUndefined();

    const v = verifier();
    const code = (await authorize(authParams(v, { scope: 'patient/Observation.rs offline_access' }))).searchParams.get('code') ?? '';
    const first = await exchange({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, client_id: 'app', code_verifier: v });
    const refresh1 = String(first.body.refresh_token);
    expect(refresh1.length).toBeGreaterThan(10);
    const before = sim.counts().refreshes;
    const second = await exchange({ grant_type: 'refresh_token', refresh_token: refresh1, client_id: 'app' });
    expect(second.status).toBe(200);
    expect(second.body.refresh_token).toBeDefined();
    expect(second.body.refresh_token).not.toBe(refresh1);
    expect(second.body.access_token).not.toBe(first.body.access_token);
    expect(sim.counts().refreshes).toBe(before + 1);
    // The old refresh token died with the rotation.
    expect((await exchange({ grant_type: 'refresh_token', refresh_token: refresh1, client_id: 'app' })).status).toBe(400);
  });

  it('authenticates confidential clients with Basic auth', async () => {
    const v = verifier();
    const code = (await authorize(authParams(v, { client_id: 'confidential-app' }))).searchParams.get('code') ?? '';
    const form = { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: v };
    // Bad percent-encoding in the credentials is the client's error: 401 invalid_client, not 500.
    const garbled = await exchange({ ...form }, { authorization: `Basic ${Buffer.from('%E0:x').toString('base64')}` });
    expect(garbled).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
    const bad = await exchange({ ...form }, { authorization: `Basic ${Buffer.from('confidential-app:wrong').toString('base64')}` });
    expect(bad.status).toBe(401);
    const code2 = (await authorize(authParams(v, { client_id: 'confidential-app' }))).searchParams.get('code') ?? '';
    const good = await exchange({ ...form, code: code2 }, { authorization: `Basic ${Buffer.from('confidential-app:s3cret').toString('base64')}` });
    expect(good.status).toBe(200);
  });
});
