import type { Logger } from '../../log.js';
import { AuthError } from '../outcome.js';
import type { Grant, LaunchContext, TokenResponse } from './token.js';

/**
 * Keeps one valid access token for a connection. It renews proactively, 60 s before the
 * `expires_in` actually returned (at half-life when the lifetime is under 2 minutes), so a
 * 401 is a fault, not the refresh trigger. Concurrent callers share one renewal in flight.
 * Tokens never reach a log: only lifetimes and counts are logged.
 */

export interface TokenManagerOptions {
  /** ms since epoch; tests speed it up to run hour-long token lifetimes in seconds. */
  readonly clock?: () => number;
  readonly logger?: Logger;
  /** When the server sends no expires_in (default 300 s, SMART's usual lifetime). */
  readonly defaultLifetimeSeconds?: number;
}

export interface TokenCounters {
  /** Tokens from `obtain` (first token, backend renewals, re-authentication). */
  obtained: number;
  /** Renewals before expiry (refresh_token or a new assertion). */
  refreshed: number;
  /** Re-authentications forced by a 401. */
  reauthenticated: number;
}

interface Current {
  readonly token: string;
  /** ms since epoch (manager clock) when the token is renewed. */
  readonly renewAt: number;
  readonly expiresAt: number;
}

/** Seconds before expiry to renew: 60 s, or half the lifetime when it is under 2 minutes. */
/** Pause between renewal attempts while the current token is still valid. */
const RENEWAL_RETRY_MS = 5_000;

export function renewalLeadSeconds(lifetimeSeconds: number): number {
  return lifetimeSeconds < 120 ? lifetimeSeconds / 2 : 60;
}

export class TokenManager {
  readonly counters: TokenCounters = { obtained: 0, refreshed: 0, reauthenticated: 0 };
  private current: Current | undefined;
  private inFlight: Promise<string> | undefined;
  private readonly clock: () => number;

  constructor(private readonly grant: Grant, private readonly options: TokenManagerOptions = {}) {
    this.clock = options.clock ?? Date.now;
  }

  get flow(): Grant['flow'] {
    return this.grant.flow;
  }

  /**
   * A token valid now, renewing first when it is due. If renewal fails while the current
   * token is still valid, that token is used and renewal retried a little later, so a short
   * token-endpoint outage does not fail requests.
   */
  async token(): Promise<string> {
    const current = this.current;
    const now = this.clock();
    if (current && now < current.renewAt) return current.token;
    try {
      return await this.renew(current ? 'refresh' : 'obtain');
    } catch (err) {
      const still = this.current;
      const margin = RENEWAL_RETRY_MS;
      if (!still || this.clock() >= still.expiresAt - margin) throw err;
      this.options.logger?.warn({ flow: this.grant.flow, error: (err as Error).message, expiresInSeconds: Math.round((still.expiresAt - this.clock()) / 1000) }, 'fhir token renewal failed; using the current token until the next try');
      this.current = { ...still, renewAt: Math.min(still.expiresAt - margin, this.clock() + margin) };
      return still.token;
    }
  }

  /**
   * After a 401 with `rejected`: get a new token once (shared by everyone who saw the same
   * 401). If the token was already replaced meanwhile, the new one is returned.
   */
  async reauthenticate(rejected: string): Promise<string> {
    if (this.inFlight) return this.inFlight;
    if (this.current && this.current.token !== rejected) return this.current.token;
    this.counters.reauthenticated++;
    this.current = undefined;
    return this.renew('reauthenticate');
  }

  /** Launch context where the flow has one; always undefined for backend services. */
  context(): LaunchContext | undefined {
    return this.grant.context();
  }

  private renew(kind: 'obtain' | 'refresh' | 'reauthenticate'): Promise<string> {
    this.inFlight ??= this.fetch(kind).finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async fetch(kind: 'obtain' | 'refresh' | 'reauthenticate'): Promise<string> {
    let response: TokenResponse;
    if (kind === 'refresh' && this.grant.refresh && this.grant.flow !== 'backend') {
      response = await this.grant.refresh();
      this.counters.refreshed++;
    } else if (kind === 'reauthenticate' && this.grant.refresh) {
      response = await this.grant.refresh();
    } else {
      response = await this.grant.obtain();
      if (kind === 'refresh') this.counters.refreshed++;
      else this.counters.obtained++;
    }
    const now = this.clock();
    const lifetime = response.expires_in ?? this.options.defaultLifetimeSeconds ?? 300;
    if (!(lifetime > 0)) throw new AuthError(`token response has expires_in ${lifetime}; cannot plan renewal`);
    const renewAt = now + (lifetime - renewalLeadSeconds(lifetime)) * 1000;
    this.current = { token: response.access_token, renewAt, expiresAt: now + lifetime * 1000 };
    this.options.logger?.debug({ flow: this.grant.flow, kind, expiresIn: lifetime, renewInSeconds: Math.round((renewAt - now) / 1000) }, 'fhir token renewed');
    return response.access_token;
  }
}
