import { createHash, randomBytes } from 'node:crypto';
import { AuthError } from '../outcome.js';
import type { FhirHttp } from '../http.js';
import { postTokenRequest, type Grant, type LaunchContext, type TokenResponse } from './token.js';

/**
 * SMART standalone and EHR launch: the authorization code flow with PKCE S256 (never
 * `plain`), an unpredictable `state` checked on return, `aud` = the FHIR base, `launch`
 * only for EHR launch. Refresh tokens replace the stored one whenever a new one comes back.
 */

export type LaunchFlow = 'standalone' | 'ehr-launch';

export interface AuthorizationRequestOptions {
  readonly flow: LaunchFlow;
  readonly authorizeUrl: string;
  readonly clientId: string;
  readonly redirectUri: string;
  readonly scope: string;
  /** The FHIR base URL the token is for. */
  readonly aud: string;
  /** The opaque `launch` value the EHR passed to the app; EHR launch only. */
  readonly launch?: string;
}

/** What to keep between sending the user away and their return. */
export interface PendingAuthorization {
  readonly url: string;
  readonly state: string;
  readonly codeVerifier: string;
  readonly redirectUri: string;
  readonly flow: LaunchFlow;
  readonly scope: string;
}

function base64url(bytes: Buffer): string {
  return bytes.toString('base64url');
}

export function pkceChallenge(verifier: string): string {
  return base64url(createHash('sha256').update(verifier).digest());
}

export function buildAuthorizationRequest(options: AuthorizationRequestOptions): PendingAuthorization {
  if (options.flow === 'ehr-launch' && !options.launch) throw new AuthError('EHR launch needs the launch parameter the EHR sent');
  if (options.flow === 'standalone' && options.launch) throw new AuthError('standalone launch has no launch parameter (that is EHR launch)');
  // 32 random bytes → 43 characters: within RFC 7636's 43–128, and unguessable.
  const codeVerifier = base64url(randomBytes(32));
  const state = base64url(randomBytes(24));
  const url = new URL(options.authorizeUrl);
  const params: Record<string, string> = {
    response_type: 'code',
    client_id: options.clientId,
    redirect_uri: options.redirectUri,
    scope: options.scope,
    state,
    aud: options.aud,
    code_challenge: pkceChallenge(codeVerifier),
    code_challenge_method: 'S256',
  };
  if (options.launch) params.launch = options.launch;
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return { url: url.toString(), state, codeVerifier, redirectUri: options.redirectUri, flow: options.flow, scope: options.scope };
}

/** Reads the code from the redirect back to us; a missing or different `state` is refused. */
export function parseAuthorizationResponse(redirectedTo: string, pending: PendingAuthorization): string {
  const url = new URL(redirectedTo);
  const params = url.searchParams;
  const state = params.get('state');
  if (state !== pending.state) throw new AuthError('authorization response state does not match the request (possible CSRF); refusing the code');
  const error = params.get('error');
  if (error) throw new AuthError(`authorization refused: ${error}${params.get('error_description') ? `: ${params.get('error_description')}` : ''}`, undefined, error);
  const code = params.get('code');
  if (!code) throw new AuthError('authorization response has no code');
  return code;
}

export interface AuthorizationCodeOptions {
  readonly flow: LaunchFlow;
  readonly tokenUrl: string;
  readonly clientId: string;
  /** Confidential clients authenticate with HTTP Basic; public clients send client_id only. */
  readonly clientSecret?: string;
  readonly redirectUri: string;
  /** From a completed authorization (code + verifier), or a stored refresh token, or both. */
  readonly code?: string;
  readonly codeVerifier?: string;
  readonly refreshToken?: string;
  /** The scopes asked for: a standalone app sees a patient only if it asked for launch/patient. */
  readonly scope: string;
  /**
   * Called with each new refresh token (servers rotate them: the old one stops working), so
   * the caller can persist it for the next run. It is a secret: store it encrypted, never log it.
   */
  readonly onRefreshToken?: (refreshToken: string) => void;
}

export class AuthorizationCodeGrant implements Grant {
  readonly flow: LaunchFlow;
  private code: string | undefined;
  private refreshToken: string | undefined;
  private launch: LaunchContext | undefined;

  constructor(private readonly http: FhirHttp, private readonly options: AuthorizationCodeOptions) {
    this.flow = options.flow;
    this.code = options.code;
    this.refreshToken = options.refreshToken;
    if (!this.code && !this.refreshToken) throw new AuthError(`${options.flow}: needs an authorization code or a refresh token`);
  }

  /** The code is single-use: the first call exchanges it, later ones refresh. */
  async obtain(): Promise<TokenResponse> {
    if (!this.code) return this.refresh();
    const code = this.code;
    this.code = undefined;
    const form: Record<string, string> = { grant_type: 'authorization_code', code, redirect_uri: this.options.redirectUri };
    if (this.options.codeVerifier) form.code_verifier = this.options.codeVerifier;
    return this.keep(await postTokenRequest(this.http, this.options.tokenUrl, this.withClient(form), this.basicAuth()));
  }

  async refresh(): Promise<TokenResponse> {
    if (!this.refreshToken) throw new AuthError(`${this.flow}: the token expired and there is no refresh token (ask for offline_access or online_access); the user must authorize again`);
    const form = { grant_type: 'refresh_token', refresh_token: this.refreshToken };
    return this.keep(await postTokenRequest(this.http, this.options.tokenUrl, this.withClient(form), this.basicAuth()));
  }

  context(): LaunchContext | undefined {
    return this.launch;
  }

  /** The current refresh token, to store for the next run (a secret: never log it). */
  currentRefreshToken(): string | undefined {
    return this.refreshToken;
  }

  private keep(token: TokenResponse): TokenResponse {
    if (token.refresh_token && token.refresh_token !== this.refreshToken) {
      this.refreshToken = token.refresh_token;
      this.options.onRefreshToken?.(token.refresh_token);
    }
    const scopes = new Set(this.options.scope.split(/\s+/));
    // Standalone apps have a patient only if they asked for a picker; EHR launch gets what the EHR gives.
    const patient = this.flow === 'ehr-launch' || scopes.has('launch/patient') ? token.patient : undefined;
    const encounter = this.flow === 'ehr-launch' || scopes.has('launch/encounter') ? token.encounter : undefined;
    // A refresh response may leave the context out; the context of the launch stays.
    if (patient !== undefined || encounter !== undefined) {
      this.launch = { ...(patient !== undefined ? { patient } : {}), ...(encounter !== undefined ? { encounter } : {}) };
    }
    return token;
  }

  private withClient(form: Record<string, string>): Record<string, string> {
    return this.options.clientSecret ? form : { ...form, client_id: this.options.clientId };
  }

  private basicAuth(): Record<string, string> {
    if (!this.options.clientSecret) return {};
    const basic = Buffer.from(`${encodeURIComponent(this.options.clientId)}:${encodeURIComponent(this.options.clientSecret)}`).toString('base64');
    return { authorization: `Basic ${basic}` };
  }
}
