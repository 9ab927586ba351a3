import { createHash } from 'node:crypto';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, exportJWK, exportPKCS8, generateKeyPair, jwtVerify, type JWK } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeServer, sendJson } from '../../../test/helpers/fake-server.js';
import { Capture } from '../../../test/helpers/streams.js';
import { createLogger } from '../../log.js';
import { FhirClient } from '../client.js';
import { FhirHttp } from '../http.js';
import { AuthError } from '../outcome.js';
import { BackendServicesGrant, MAX_JTI_LENGTH, createClientAssertion } from './backend.js';
import { AuthorizationCodeGrant, buildAuthorizationRequest, parseAuthorizationResponse, pkceChallenge } from './launch.js';
import { TokenManager, renewalLeadSeconds } from './manager.js';
import { TOKEN_ATTEMPTS } from './token.js';

let server: FakeServer;
let http: FhirHttp;
beforeEach(async () => {
  server = new FakeServer();
  await server.start();
  http = new FhirHttp({ retry: { initialBackoffMs: 10, maxBackoffMs: 50 } });
});
afterEach(async () => {
  await http.close();
  await server.close();
});

const keys = new Map<string, Promise<{ pem: string; jwk: JWK }>>();

/** One key pair per algorithm and kid for the whole file (RSA generation is slow). */
function keyPair(alg: 'RS384' | 'ES384', kid: string): Promise<{ pem: string; jwk: JWK }> {
  const key = `${alg}:${kid}`;
  if (!keys.has(key)) {
    keys.set(key, (async () => {
      const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
      return { pem: await exportPKCS8(privateKey), jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
    })());
  }
  return keys.get(key)!;
}

describe('backend services assertion (SMART rules, verified with jose against the public JWK)', () => {
  for (const alg of ['RS384', 'ES384'] as const) {
    it(`${alg}: header alg/kid/typ, iss = sub = client, aud = token URL, exp ≤ 5 min, unique jti ≤ 151`, async () => {
      const { pem, jwk } = await keyPair(alg, 'k-1');
      const tokenUrl = `${server.url}/oauth2/token`;
      const options = { clientId: 'client-1', tokenUrl, privateKey: pem, kid: 'k-1', alg, scope: 'system/Observation.read' };
      const jwks = createLocalJWKSet({ keys: [jwk] });
      const jtis = new Set<string>();
      for (let i = 0; i < 3; i++) {
        const assertion = await createClientAssertion(options);
        expect(decodeProtectedHeader(assertion)).toEqual({ alg, kid: 'k-1', typ: 'JWT' });
        const { payload } = await jwtVerify(assertion, jwks, { issuer: 'client-1', subject: 'client-1', audience: tokenUrl, algorithms: [alg], maxTokenAge: '5m' });
        expect(payload.exp! - Math.floor(Date.now() / 1000)).toBeLessThanOrEqual(300);
        expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(300);
        expect(payload.jti!.length).toBeLessThanOrEqual(MAX_JTI_LENGTH);
        jtis.add(payload.jti!);
      }
      expect(jtis.size).toBe(3);
    });
  }

  it('posts client_credentials with the assertion and scope, and reads the token', async () => {
    const { pem, jwk } = await keyPair('RS384', 'k-2');
    const tokenUrl = `${server.url}/oauth2/token`;
    const jwks = createLocalJWKSet({ keys: [jwk] });
    server.handler = (req, res) => {
      const form = new URLSearchParams(req.body);
      expect(req.headers['content-type']).toBe('application/x-www-form-urlencoded');
      expect(form.get('grant_type')).toBe('client_credentials');
      expect(form.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
      jwtVerify(form.get('client_assertion')!, jwks, { audience: tokenUrl }).then(
        () => sendJson(res, 200, { access_token: 'tok-1', token_type: 'bearer', expires_in: 3600, scope: form.get('scope') }),
        () => sendJson(res, 400, { error: 'invalid_client' }),
      );
    };
    const grant = new BackendServicesGrant(http, { clientId: 'c', tokenUrl, privateKey: pem, kid: 'k-2', scope: 'system/Patient.read' });
    await expect(grant.obtain()).resolves.toMatchObject({ access_token: 'tok-1', expires_in: 3600, scope: 'system/Patient.read' });
    expect(grant.context()).toBeUndefined();
    server.handler = (_req, res) => sendJson(res, 401, { error: 'invalid_client', error_description: 'unknown kid' });
    await expect(grant.obtain()).rejects.toThrow(/HTTP 401 invalid_client: unknown kid/);
  });

  it('signs a new assertion (new jti) for each retry of a throttled token request', async () => {
    const { pem } = await keyPair('RS384', 'k-2');
    const tokenUrl = `${server.url}/oauth2/token`;
    server.handler = (_req, res, n) => (n < 2 ? sendJson(res, n === 0 ? 503 : 429, {}, { 'retry-after': '0' }) : sendJson(res, 200, { access_token: 'tok', token_type: 'bearer', expires_in: 300 }));
    const grant = new BackendServicesGrant(http, { clientId: 'c', tokenUrl, privateKey: pem, kid: 'k-2', scope: 'system/Patient.read' });
    await expect(grant.obtain()).resolves.toMatchObject({ access_token: 'tok' });
    const jtis = server.requests.map((r) => decodeJwt(new URLSearchParams(r.body).get('client_assertion')!).jti);
    expect(jtis).toHaveLength(3);
    // Epic refuses a jti it has already seen: a resent assertion would fail the retry.
    expect(new Set(jtis).size).toBe(3);
    // Bounded: a token endpoint that keeps refusing fails after TOKEN_ATTEMPTS.
    server.handler = (_req, res) => sendJson(res, 503, {}, { 'retry-after': '0' });
    await expect(grant.obtain()).rejects.toThrow(/HTTP 503/);
    expect(server.requests).toHaveLength(3 + TOKEN_ATTEMPTS);
  });
});

/** A token endpoint issuing tok-1, tok-2, ... with a chosen lifetime, and a FHIR endpoint accepting `valid` tokens. */
function tokenAndFhir(lifetime: () => number, valid: (token: string) => boolean) {
  let issued = 0;
  server.handler = (req, res) => {
    if (req.path === '/token') {
      issued++;
      return setTimeout(() => sendJson(res, 200, { access_token: `tok-${issued}`, token_type: 'Bearer', expires_in: lifetime() }), 20);
    }
    const token = req.headers.authorization?.replace(/^Bearer /, '') ?? '';
    if (!valid(token)) return sendJson(res, 401, {}, { 'www-authenticate': 'Bearer error="invalid_token"' });
    sendJson(res, 200, { resourceType: 'Patient', id: '1' });
  };
  return { issued: () => issued };
}

describe('token manager', () => {
  it('renews 60 s before the expires_in returned, at half-life under 2 minutes', () => {
    expect(renewalLeadSeconds(3600)).toBe(60);
    expect(renewalLeadSeconds(300)).toBe(60);
    expect(renewalLeadSeconds(120)).toBe(60);
    expect(renewalLeadSeconds(60)).toBe(30);
  });

  it('plans from the lifetime actually returned (3600, then 300) on its clock, with one renewal in flight', async () => {
    const { pem } = await keyPair('RS384', 'k');
    let now = Date.parse('2026-11-29T05:00:00Z');
    let lifetime = 3600;
    const counter = tokenAndFhir(() => lifetime, () => true);
    const grant = new BackendServicesGrant(http, { clientId: 'c', tokenUrl: `${server.url}/token`, privateKey: pem, kid: 'k', scope: 'system/Patient.read', clock: () => now });
    const tokens = new TokenManager(grant, { clock: () => now });
    const first = await Promise.all(Array.from({ length: 8 }, () => tokens.token()));
    expect(new Set(first)).toEqual(new Set(['tok-1']));
    now += 3539_000;
    expect(await tokens.token()).toBe('tok-1');
    lifetime = 300;
    now += 1_000;
    const renewed = await Promise.all(Array.from({ length: 8 }, () => tokens.token()));
    expect(new Set(renewed)).toEqual(new Set(['tok-2']));
    now += 239_000;
    expect(await tokens.token()).toBe('tok-2');
    now += 1_000;
    expect(await tokens.token()).toBe('tok-3');
    expect(counter.issued()).toBe(3);
    expect(tokens.counters).toEqual({ obtained: 1, refreshed: 2, reauthenticated: 0 });
  });

  it('answers a 401 with one re-authentication and retry, then a clear error', async () => {
    const { pem } = await keyPair('RS384', 'k');
    let accepted = new Set(['tok-2']);
    tokenAndFhir(() => 3600, (t) => accepted.has(t));
    const grant = new BackendServicesGrant(http, { clientId: 'c', tokenUrl: `${server.url}/token`, privateKey: pem, kid: 'k', scope: 'system/Patient.read' });
    const tokens = new TokenManager(grant);
    const client = new FhirClient({ base: `${server.url}/fhir`, http, tokens });
    const results = await Promise.all(Array.from({ length: 4 }, () => client.read('Patient', '1')));
    expect(results.every((r) => r.id === '1')).toBe(true);
    // Four requests saw the same 401; they shared one re-authentication.
    expect(tokens.counters).toMatchObject({ obtained: 2, reauthenticated: 1 });
    accepted = new Set();
    const err = await client.read('Patient', '1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as AuthError).message).toMatch(/401 Unauthorized after re-authenticating \(Bearer error="invalid_token"\)/);
  });

  it('keeps using a still-valid token while the token endpoint is down, and renews once it is back', async () => {
    const { pem } = await keyPair('RS384', 'k');
    let now = 0;
    let down = false;
    let issued = 0;
    server.handler = (_req, res) => {
      if (down) return sendJson(res, 400, { error: 'temporarily_unavailable' });
      issued++;
      sendJson(res, 200, { access_token: `tok-${issued}`, token_type: 'bearer', expires_in: 300 });
    };
    const grant = new BackendServicesGrant(http, { clientId: 'c', tokenUrl: `${server.url}/token`, privateKey: pem, kid: 'k', scope: 'system/Patient.read' });
    const tokens = new TokenManager(grant, { clock: () => now });
    expect(await tokens.token()).toBe('tok-1');
    down = true;
    now = 241_000;
    expect(await tokens.token()).toBe('tok-1');
    // Within the retry pause no new attempt is made.
    now += 1_000;
    expect(await tokens.token()).toBe('tok-1');
    down = false;
    now += 5_000;
    expect(await tokens.token()).toBe('tok-2');
    down = true;
    // Too close to expiry to keep going on the old token: the failure surfaces.
    now += 300_000 - 4_000;
    await expect(tokens.token()).rejects.toThrow(/temporarily_unavailable/);
  });

  it('never logs a token, even at debug level', async () => {
    const { pem } = await keyPair('RS384', 'k');
    const capture = new Capture();
    const logger = createLogger({ level: 'trace', destination: capture });
    tokenAndFhir(() => 60, () => true);
    const grant = new BackendServicesGrant(http, { clientId: 'c', tokenUrl: `${server.url}/token`, privateKey: pem, kid: 'k', scope: 'system/Patient.read' });
    let now = 0;
    const tokens = new TokenManager(grant, { logger, clock: () => now });
    await tokens.token();
    now += 31_000;
    await tokens.token();
    // Even a careless log call with the token in a well-known field is redacted.
    logger.info({ access_token: 'tok-1', token: 'tok-2', headers: { authorization: 'Bearer tok-2' } }, 'careless');
    expect(capture.text).toContain('fhir token renewed');
    expect(capture.text).not.toMatch(/tok-\d/);
  });
});

describe('authorization code with PKCE (standalone and EHR launch)', () => {
  const base = { authorizeUrl: 'https://ehr.example/oauth2/authorize', clientId: 'app', redirectUri: 'https://app.example/cb', aud: 'https://ehr.example/api/FHIR/R4' };

  it('builds an S256 request with unpredictable state; launch only for EHR launch', () => {
    const a = buildAuthorizationRequest({ ...base, flow: 'standalone', scope: 'patient/*.read launch/patient' });
    const b = buildAuthorizationRequest({ ...base, flow: 'standalone', scope: 'patient/*.read launch/patient' });
    const q = new URL(a.url).searchParams;
    expect(Object.fromEntries(q)).toMatchObject({ response_type: 'code', client_id: 'app', redirect_uri: base.redirectUri, aud: base.aud, code_challenge_method: 'S256', state: a.state });
    expect(q.get('code_challenge')).toBe(createHash('sha256').update(a.codeVerifier).digest('base64url'));
    expect(q.get('code_challenge')).toBe(pkceChallenge(a.codeVerifier));
    expect(q.has('launch')).toBe(false);
    expect(a.state).not.toBe(b.state);
    expect(a.state.length).toBeGreaterThanOrEqual(32);
    expect(a.codeVerifier.length).toBeGreaterThanOrEqual(43);
    const ehr = buildAuthorizationRequest({ ...base, flow: 'ehr-launch', scope: 'launch', launch: 'L1' });
    expect(new URL(ehr.url).searchParams.get('launch')).toBe('L1');
    expect(() => buildAuthorizationRequest({ ...base, flow: 'ehr-launch', scope: 'launch' })).toThrow(AuthError);
    expect(() => buildAuthorizationRequest({ ...base, flow: 'standalone', scope: 'x', launch: 'L1' })).toThrow(AuthError);
  });

  it('checks state on return', () => {
    const p = buildAuthorizationRequest({ ...base, flow: 'standalone', scope: 'patient/*.read' });
    expect(parseAuthorizationResponse(`${base.redirectUri}?code=abc&state=${p.state}`, p)).toBe('abc');
    expect(() => parseAuthorizationResponse(`${base.redirectUri}?code=abc&state=forged`, p)).toThrow(/state does not match/);
    expect(() => parseAuthorizationResponse(`${base.redirectUri}?code=abc`, p)).toThrow(/state does not match/);
    expect(() => parseAuthorizationResponse(`${base.redirectUri}?error=access_denied&state=${p.state}`, p)).toThrow(/access_denied/);
  });

  it('exchanges the code with the verifier, replaces the refresh token when a new one comes back, and hides context a standalone app did not ask for', async () => {
    const forms: URLSearchParams[] = [];
    server.handler = (req, res) => {
      const form = new URLSearchParams(req.body);
      forms.push(form);
      const n = forms.length;
      sendJson(res, 200, { access_token: `a${n}`, token_type: 'bearer', expires_in: 300, patient: 'P1', encounter: 'E1', ...(n !== 2 ? { refresh_token: `r${n}` } : {}) });
    };
    const persisted: string[] = [];
    const grant = new AuthorizationCodeGrant(http, { flow: 'standalone', tokenUrl: `${server.url}/token`, clientId: 'app', redirectUri: base.redirectUri, code: 'C', codeVerifier: 'V', scope: 'patient/*.read offline_access', onRefreshToken: (t) => persisted.push(t) });
    await grant.obtain();
    expect(Object.fromEntries(forms[0]!)).toEqual({ grant_type: 'authorization_code', code: 'C', redirect_uri: base.redirectUri, code_verifier: 'V', client_id: 'app' });
    expect(grant.context()).toBeUndefined();
    await grant.refresh();
    expect(forms[1]!.get('refresh_token')).toBe('r1');
    await grant.refresh();
    // The second refresh returned no new refresh token, so r1 is kept.
    expect(forms[2]!.get('refresh_token')).toBe('r1');
    await grant.refresh();
    expect(forms[3]!.get('refresh_token')).toBe('r3');
    expect(persisted).toEqual(['r1', 'r3', 'r4']);
    const ehr = new AuthorizationCodeGrant(http, { flow: 'ehr-launch', tokenUrl: `${server.url}/token`, clientId: 'app', redirectUri: base.redirectUri, code: 'C2', codeVerifier: 'V2', scope: 'launch patient/*.read' });
    await ehr.obtain();
    expect(ehr.context()).toEqual({ patient: 'P1', encounter: 'E1' });
  });
});
