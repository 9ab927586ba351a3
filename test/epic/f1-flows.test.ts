import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keysCommand } from '../../engine/cli/keys.js';
import { AuthorizationCodeGrant, buildAuthorizationRequest, parseAuthorizationResponse, type LaunchFlow } from '../../engine/fhir/auth/launch.js';
import { TokenManager } from '../../engine/fhir/auth/manager.js';
import { FhirClient } from '../../engine/fhir/client.js';
import { RefreshTokenVault } from '../../engine/fhir/auth/vault.js';
import { FhirConnection, fhirConnectionSchema } from '../../engine/fhir/connection.js';
import { FhirHttp } from '../../engine/fhir/http.js';
import { AuthError } from '../../engine/fhir/outcome.js';
import { startEpicSim, type EpicSim } from '../../engine/sim/index.js';
import { Capture } from '../helpers/streams.js';
import { BACKEND_SCOPE } from './setup.js';

/**
 * F1: each SMART flow against the simulator. Backend services get no launch context;
 * standalone gets none unless it asked for a patient picker; EHR launch gets what the EHR
 * put in the launch. Redirects are driven by fetching the authorize URL without following.
 */
const REDIRECT = 'https://app.example/callback';

describe('F1: SMART flows against the simulator', () => {
  let sim: EpicSim;
  let http: FhirHttp;
  // Real time plus an offset the refresh test moves forward (shared by the sim and the client).
  let offset = 0;
  const clock = () => Date.now() + offset;
  const dir = mkdtempSync(join(tmpdir(), 'sluice-f1-'));

  beforeAll(async () => {
    sim = await startEpicSim({ seed: 1, patients: 3, observationsPerPatient: 2, clock });
    sim.registerClient({ clientId: 'app', redirectUris: [REDIRECT] });
    http = new FhirHttp();
  });
  afterAll(async () => {
    await http?.close();
    await sim?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Sends the "user" to the authorize endpoint (auto-approved) and returns where it redirects. */
  async function authorize(flow: LaunchFlow, scope: string, launch?: string): Promise<{ code: string; verifier: string }> {
    const pending = buildAuthorizationRequest({ flow, authorizeUrl: sim.authorizeUrl, clientId: 'app', redirectUri: REDIRECT, scope, aud: sim.fhirBase, ...(launch ? { launch } : {}) });
    const res = await fetch(pending.url, { redirect: 'manual' });
    expect(res.status).toBe(302);
    const location = res.headers.get('location')!;
    expect(location.startsWith(REDIRECT)).toBe(true);
    // A forged state must never be accepted, whatever the server sent.
    expect(() => parseAuthorizationResponse(location.replace(/state=[^&]+/, 'state=forged'), pending)).toThrow(AuthError);
    return { code: parseAuthorizationResponse(location, pending), verifier: pending.codeVerifier };
  }

  function launchClient(flow: LaunchFlow, scope: string, code: { code: string; verifier: string }) {
    const grant = new AuthorizationCodeGrant(http, { flow, tokenUrl: sim.tokenUrl, clientId: 'app', redirectUri: REDIRECT, code: code.code, codeVerifier: code.verifier, scope });
    const tokens = new TokenManager(grant, { clock });
    return { grant, tokens, client: new FhirClient({ base: sim.fhirBase, http, tokens }) };
  }

  it('backend services: a key from `sluice keys generate`, an RS384 assertion, system scopes, no launch context', async () => {
    const out = new Capture();
    const err = new Capture();
    expect(await keysCommand(['generate', '--out', dir, '--kid', 'f1-key'], out, err)).toBe(0);
    const jwks = JSON.parse(out.text) as { keys: Array<Record<string, string>> };
    expect(jwks.keys[0]).toMatchObject({ kty: 'RSA', kid: 'f1-key', alg: 'RS384', use: 'sig' });
    expect(jwks.keys[0]!.d).toBeUndefined();
    const keyFile = join(dir, 'f1-key.pem');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(out.text).not.toContain('PRIVATE KEY');
    sim.registerClient({ clientId: 'backend', jwks: jwks as never });
    const config = fhirConnectionSchema.parse({
      base: sim.fhirBase,
      auth: { flow: 'backend', clientId: 'backend', privateKey: readFileSync(keyFile, 'utf8'), kid: 'f1-key', scope: BACKEND_SCOPE },
    });
    const connection = new FhirConnection(config);
    try {
      const patient = sim.patientIds()[0]!;
      expect((await connection.client.read('Patient', patient)).id).toBe(patient);
      expect(connection.context()).toBeUndefined();
    } finally {
      await connection.close();
    }
  });

  it('standalone without launch/patient gets no launch context; with it, the picked patient', async () => {
    const scope = 'patient/Observation.rs patient/Patient.rs';
    const plain = launchClient('standalone', scope, await authorize('standalone', scope));
    await plain.tokens.token();
    expect(plain.tokens.context()).toBeUndefined();
    const picker = `${scope} launch/patient`;
    const picked = launchClient('standalone', picker, await authorize('standalone', picker));
    await picked.tokens.token();
    const patient = picked.tokens.context()?.patient;
    expect(patient).toBe(sim.patientIds()[0]);
    expect((await picked.client.read('Patient', patient!)).id).toBe(patient);
    expect(picked.tokens.context()?.encounter).toBeUndefined();
  });

  it('EHR launch gets the patient and encounter the EHR launched with', async () => {
    const patient = sim.patientIds()[1]!;
    const launch = sim.createLaunch({ patient, encounter: 'enc-42' });
    const scope = 'launch patient/Patient.rs';
    const ehr = launchClient('ehr-launch', scope, await authorize('ehr-launch', scope, launch));
    await ehr.tokens.token();
    expect(ehr.tokens.context()).toEqual({ patient, encounter: 'enc-42' });
    expect((await ehr.client.read('Patient', patient)).id).toBe(patient);
  });

  it('refreshes before expiry with rotating refresh tokens (offline_access), never on a 401', async () => {
    const scope = 'patient/Patient.rs launch/patient offline_access';
    const app = launchClient('standalone', scope, await authorize('standalone', scope));
    const patient = sim.patientIds()[0]!;
    await app.client.read('Patient', patient);
    const r1 = app.grant.currentRefreshToken();
    expect(r1).toBeTruthy();
    for (let i = 0; i < 3; i++) {
      // 300 s tokens: past the renewal point (240 s) but before expiry.
      offset += 241_000;
      await app.client.read('Patient', patient);
    }
    expect(app.grant.currentRefreshToken()).not.toBe(r1);
    expect(app.tokens.counters).toEqual({ obtained: 1, refreshed: 3, reauthenticated: 0 });
    expect(app.client.counters.unauthorized).toBe(0);
    expect(app.tokens.context()?.patient).toBe(patient);
  });

  it('an unattended standalone connection keeps its rotated refresh token (encrypted, 0600) across restarts', async () => {
    const scope = 'patient/Patient.rs launch/patient offline_access';
    const login = launchClient('standalone', scope, await authorize('standalone', scope));
    await login.tokens.token();
    const stored = login.grant.currentRefreshToken()!;
    const options = fhirConnectionSchema.parse({ base: sim.fhirBase, auth: { flow: 'standalone', clientId: 'app', redirectUri: REDIRECT, scope, refreshToken: stored } });
    const key = Buffer.alloc(32, 7).toString('base64');
    const file = join(dir, 'connections', 'epic.refresh-token');
    const patient = sim.patientIds()[0]!;

    const first = new FhirConnection(options, { clock, vault: new RefreshTokenVault(file, key) });
    await first.client.read('Patient', patient); // spends `stored`: the server rotates it
    await first.close();
    const text = readFileSync(file, 'utf8');
    expect(text.startsWith('sealed:')).toBe(true);
    const rotated = new RefreshTokenVault(file, key).load()!;
    expect(rotated).not.toBe(stored);
    expect(text).not.toContain(rotated);
    expect(statSync(file).mode & 0o777).toBe(0o600);

    // A restart with the same config: the spent token alone is refused, the vault's one works.
    const restarted = new FhirConnection(options, { clock, vault: new RefreshTokenVault(file, key) });
    expect((await restarted.client.read('Patient', patient)).id).toBe(patient);
    await restarted.close();
    const withoutVault = new FhirConnection(options, { clock });
    await expect(withoutVault.client.read('Patient', patient)).rejects.toThrow();
    await withoutVault.close();
    expect(() => new RefreshTokenVault(file).load()).toThrow(/encrypted, but no store.encryptionKey/);
  });
});
