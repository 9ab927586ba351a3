import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { randomUUID } from 'node:crypto';

/** A backend-services client key: the private key signs assertions, the JWKS is registered. */
export interface TestClientKey {
  privateKey: CryptoKey;
  jwks: { keys: JWK[] };
  kid: string;
}

export async function testClientKey(alg: 'RS384' | 'ES384' = 'RS384', kid = `k-${alg}`): Promise<TestClientKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { privateKey, jwks: { keys: [jwk] }, kid };
}

/** Signs a SMART backend-services client assertion; `overrides` bends one rule for a test. */
export async function signAssertion(
  key: TestClientKey,
  claims: { clientId: string; tokenUrl: string; nowMs?: number; expInSeconds?: number; jti?: string; alg?: string; iss?: string; aud?: string },
): Promise<string> {
  const now = Math.floor((claims.nowMs ?? Date.now()) / 1000);
  return new SignJWT({ jti: claims.jti ?? randomUUID() })
    .setProtectedHeader({ alg: claims.alg ?? 'RS384', kid: key.kid, typ: 'JWT' })
    .setIssuer(claims.iss ?? claims.clientId)
    .setSubject(claims.clientId)
    .setAudience(claims.aud ?? claims.tokenUrl)
    .setExpirationTime(now + (claims.expInSeconds ?? 240))
    .sign(key.privateKey);
}

/** POSTs a backend-services token request; returns status and parsed JSON. */
export async function requestBackendToken(tokenUrl: string, assertion: string, scope = 'system/Observation.rs system/Patient.rs'): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(tokenUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      scope,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Registers a backend client with a fresh RS384 key on `sim` and returns a token getter. */
export async function backendClient(sim: { tokenUrl: string; registerClient(c: { clientId: string; jwks: { keys: JWK[] } }): void }, clientId = 'test-backend', clock: () => number = Date.now) {
  const key = await testClientKey('RS384');
  sim.registerClient({ clientId, jwks: key.jwks });
  return {
    key,
    async token(scope = 'system/*.read system/*.write'): Promise<string> {
      const { status, body } = await requestBackendToken(sim.tokenUrl, await signAssertion(key, { clientId, tokenUrl: sim.tokenUrl, nowMs: clock() }), scope);
      if (status !== 200) throw new Error(`token request failed: ${status} ${JSON.stringify(body)}`);
      return String(body.access_token);
    },
  };
}
