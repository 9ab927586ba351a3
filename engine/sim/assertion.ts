import { createLocalJWKSet, createRemoteJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { SimClient } from './types.js';

/** Epic takes RSA keys only (RS384 recommended); ES384 is refused (EPIC.md "SMART backend services"). */
export const EPIC_ASSERTION_ALGS = ['RS384', 'RS256', 'RS512'];
const MAX_JTI_LENGTH = 151;
const MAX_EXP_AHEAD_SECONDS = 300;

export type AssertionResult = { ok: true; client: SimClient } | { ok: false; description: string };

/** Verifies backend-services client assertions with Epic's rules, and remembers used `jti`s. */
export class AssertionVerifier {
  /** jti -> its exp (ms): a jti may not come back before then. */
  private readonly usedJti = new Map<string, number>();
  private readonly remoteKeySets = new Map<string, JWTVerifyGetKey>();

  constructor(
    private readonly clock: () => number,
    private readonly tokenUrl: string,
    private readonly clients: ReadonlyMap<string, SimClient>,
    private readonly algorithms: readonly string[] = EPIC_ASSERTION_ALGS,
  ) {}

  async verify(assertion: string): Promise<AssertionResult> {
    let alg: string | undefined;
    let issuer: unknown;
    try {
      alg = decodeProtectedHeader(assertion).alg;
      issuer = decodeJwt(assertion).iss;
    } catch {
      return { ok: false, description: 'client_assertion is not a JWT' };
    }
    if (!alg || !this.algorithms.includes(alg)) return { ok: false, description: `alg ${alg ?? '(none)'} refused: accepted ${this.algorithms.join(', ')} (RSA keys only at Epic)` };
    const client = typeof issuer === 'string' ? this.clients.get(issuer) : undefined;
    if (!client) return { ok: false, description: 'unknown client' };
    const keys = this.keySet(client);
    if (!keys) return { ok: false, description: 'client has no registered JWKS' };

    const now = this.clock();
    let payload;
    try {
      ({ payload } = await jwtVerify(assertion, keys, {
        algorithms: [...this.algorithms],
        issuer: client.clientId,
        subject: client.clientId,
        audience: this.tokenUrl,
        currentDate: new Date(now),
        requiredClaims: ['exp', 'jti'],
      }));
    } catch (err) {
      const reason = err instanceof errors.JOSEError ? `${err.code}: ${err.message}` : 'verification failed';
      return { ok: false, description: `client_assertion refused (${reason})` };
    }
    const exp = payload.exp as number;
    if (exp * 1000 - now > MAX_EXP_AHEAD_SECONDS * 1000) return { ok: false, description: 'exp is more than 5 minutes in the future' };
    const jti = String(payload.jti);
    if (jti.length > MAX_JTI_LENGTH) return { ok: false, description: `jti longer than ${MAX_JTI_LENGTH} characters` };
    this.forgetExpiredJti(now);
    if (this.usedJti.has(jti)) return { ok: false, description: 'jti already used' };
    this.usedJti.set(jti, exp * 1000);
    return { ok: true, client };
  }

  private keySet(client: SimClient): JWTVerifyGetKey | undefined {
    if (client.jwks) return createLocalJWKSet(client.jwks);
    if (!client.jwksUrl) return undefined;
    let remote = this.remoteKeySets.get(client.jwksUrl);
    if (!remote) {
      remote = createRemoteJWKSet(new URL(client.jwksUrl), { timeoutDuration: 5000 });
      this.remoteKeySets.set(client.jwksUrl, remote);
    }
    return remote;
  }

  private forgetExpiredJti(now: number): void {
    for (const [jti, expiresAt] of this.usedJti) if (expiresAt <= now) this.usedJti.delete(jti);
  }
}
