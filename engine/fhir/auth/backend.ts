import { randomUUID } from 'node:crypto';
import { SignJWT, importPKCS8, type CryptoKey } from 'jose';
import type { FhirHttp } from '../http.js';
import { postTokenRequest, type Grant, type TokenResponse } from './token.js';

/** SMART Backend Services: a signed JWT assertion exchanged for a token; no refresh tokens. */

export type AssertionAlg = 'RS384' | 'ES384';

export interface BackendServicesOptions {
  readonly clientId: string;
  readonly tokenUrl: string;
  /** PKCS#8 PEM (what `sluice keys generate` writes) or an imported key. */
  readonly privateKey: string | CryptoKey;
  readonly kid: string;
  readonly alg?: AssertionAlg;
  readonly scope: string;
  /** Assertion lifetime; SMART and Epic allow at most 5 minutes (default 4). */
  readonly assertionLifetimeSeconds?: number;
  /** ms since epoch, for `iat`/`exp`. */
  readonly clock?: () => number;
}

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Epic: `jti` at most 151 characters. */
export const MAX_JTI_LENGTH = 151;

async function loadPrivateKey(key: string | CryptoKey, alg: AssertionAlg): Promise<CryptoKey> {
  return typeof key === 'string' ? importPKCS8(key, alg) : key;
}

/** Header alg/kid/typ; iss = sub = client id, aud = token URL, exp ≤ 5 min, a fresh jti. */
export async function createClientAssertion(options: BackendServicesOptions, key?: CryptoKey): Promise<string> {
  const alg = options.alg ?? 'RS384';
  const lifetime = Math.min(300, options.assertionLifetimeSeconds ?? 240);
  const now = Math.floor((options.clock ?? Date.now)() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg, kid: options.kid, typ: 'JWT' })
    .setIssuer(options.clientId)
    .setSubject(options.clientId)
    .setAudience(options.tokenUrl)
    .setIssuedAt(now)
    .setExpirationTime(now + lifetime)
    .setJti(randomUUID())
    .sign(key ?? (await loadPrivateKey(options.privateKey, alg)));
}

export class BackendServicesGrant implements Grant {
  readonly flow = 'backend' as const;
  private key: CryptoKey | undefined;

  constructor(private readonly http: FhirHttp, private readonly options: BackendServicesOptions) {}

  async obtain(): Promise<TokenResponse> {
    this.key ??= await loadPrivateKey(this.options.privateKey, this.options.alg ?? 'RS384');
    const key = this.key;
    // A new assertion (new jti, new exp) for every attempt, retries included.
    return postTokenRequest(this.http, this.options.tokenUrl, async () => ({
      grant_type: 'client_credentials',
      scope: this.options.scope,
      client_assertion_type: ASSERTION_TYPE,
      client_assertion: await createClientAssertion(this.options, key),
    }));
  }

  /** Backend services have no launch context, by definition. */
  context(): undefined {
    return undefined;
  }
}
