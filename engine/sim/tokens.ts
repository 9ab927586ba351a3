import { randomBytes } from 'node:crypto';
import type { LaunchContext } from './types.js';

/** What an access token stands for. */
export interface Grant extends LaunchContext {
  clientId: string;
  scopes: string[];
}

interface AccessToken extends Grant {
  expiresAt: number;
}

export interface AuthorizationCode extends Grant {
  redirectUri: string;
  codeChallenge: string;
  expiresAt: number;
}

export interface TokenResponse extends LaunchContext {
  access_token: string;
  token_type: 'bearer';
  expires_in: number;
  scope: string;
  refresh_token?: string;
  need_patient_banner?: boolean;
}

/** Authorization codes live briefly, as in Epic; launch tokens a little longer. */
const CODE_LIFETIME_MS = 60_000;
const LAUNCH_LIFETIME_MS = 10 * 60_000;
/** Expired codes and launches are swept at most this often (a sweep walks both maps). */
const PRUNE_EVERY_MS = 10_000;

const opaque = (): string => randomBytes(24).toString('base64url');

/**
 * Every credential the server hands out: access and refresh tokens, authorization codes and
 * EHR launch tokens. Opaque random strings mapped to grants; time comes from the sim clock.
 */
export class TokenStore {
  private readonly access = new Map<string, AccessToken>();
  private readonly refresh = new Map<string, Grant>();
  private readonly codes = new Map<string, AuthorizationCode>();
  private readonly launches = new Map<string, LaunchContext & { expiresAt: number }>();

  private nextPruneAt = 0;

  constructor(private readonly clock: () => number, private readonly lifetimeSeconds: number) {}

  /** Issues an access token; a refresh token only when offline/online access was granted. */
  issue(grant: Grant, extra: Partial<TokenResponse> = {}): TokenResponse {
    this.purgeExpired();
    const accessToken = opaque();
    this.access.set(accessToken, { ...grant, expiresAt: this.clock() + this.lifetimeSeconds * 1000 });
    const response: TokenResponse = { access_token: accessToken, token_type: 'bearer', expires_in: this.lifetimeSeconds, scope: grant.scopes.join(' '), ...extra };
    if (grant.patient) response.patient = grant.patient;
    if (grant.encounter) response.encounter = grant.encounter;
    if (grant.scopes.includes('offline_access') || grant.scopes.includes('online_access')) {
      const refreshToken = opaque();
      this.refresh.set(refreshToken, grant);
      response.refresh_token = refreshToken;
    }
    return response;
  }

  /** The grant behind a bearer token, 'expired', or undefined when unknown. */
  check(token: string): Grant | 'expired' | undefined {
    const found = this.access.get(token);
    if (!found) return undefined;
    return found.expiresAt <= this.clock() ? 'expired' : found;
  }

  /** Single-use refresh: the old refresh token dies and the response carries a new one (rotation). */
  useRefreshToken(token: string, clientId: string): Grant | undefined {
    const grant = this.refresh.get(token);
    if (!grant || grant.clientId !== clientId) return undefined;
    this.refresh.delete(token);
    return grant;
  }

  createCode(code: Omit<AuthorizationCode, 'expiresAt'>): string {
    this.pruneShortLived();
    const value = opaque();
    this.codes.set(value, { ...code, expiresAt: this.clock() + CODE_LIFETIME_MS });
    return value;
  }

  /** Codes are single use: a second exchange fails even if the first one failed. */
  takeCode(value: string): AuthorizationCode | undefined {
    const code = this.codes.get(value);
    this.codes.delete(value);
    return code && code.expiresAt > this.clock() ? code : undefined;
  }

  createLaunch(context: LaunchContext): string {
    this.pruneShortLived();
    const value = opaque();
    this.launches.set(value, { ...context, expiresAt: this.clock() + LAUNCH_LIFETIME_MS });
    return value;
  }

  launch(value: string): LaunchContext | undefined {
    const found = this.launches.get(value);
    if (!found || found.expiresAt <= this.clock()) return undefined;
    const { expiresAt: _expiresAt, ...context } = found;
    return context;
  }

  /** Codes and launch tokens held (tests check that expired ones are let go). */
  pending(): { codes: number; launches: number } {
    return { codes: this.codes.size, launches: this.launches.size };
  }

  /** Unused codes and launches would otherwise pile up for the life of the server. */
  private pruneShortLived(): void {
    const now = this.clock();
    if (now < this.nextPruneAt) return;
    this.nextPruneAt = now + PRUNE_EVERY_MS;
    for (const [value, c] of this.codes) if (c.expiresAt <= now) this.codes.delete(value);
    for (const [value, l] of this.launches) if (l.expiresAt <= now) this.launches.delete(value);
  }

  private purgeExpired(): void {
    if (this.access.size < 10_000) return;
    const now = this.clock();
    for (const [token, t] of this.access) if (t.expiresAt <= now) this.access.delete(token);
  }
}
