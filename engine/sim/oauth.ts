import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AssertionVerifier } from './assertion.js';
import type { Counters } from './counters.js';
import { readBody, sendJson } from './http.js';
import { splitScopes } from './scopes.js';
import type { TokenStore } from './tokens.js';
import type { LaunchContext, SimClient } from './types.js';

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export interface OAuthDeps {
  clock: () => number;
  tokenUrl: string;
  fhirBase: string;
  clients: Map<string, SimClient>;
  tokens: TokenStore;
  counters: Counters;
  /** The patient a standalone `launch/patient` request gets (the sim auto-approves its picker). */
  pickPatient: () => string | undefined;
  /** JWS algorithms accepted on client assertions. */
  assertionAlgorithms: readonly string[];
}

type OAuthError = { status: number; error: string; description: string };
const fail = (error: string, description: string, status = 400): OAuthError => ({ status, error, description });

/** Scopes the client asked for and may have; Epic grants the intersection. */
function grantedScopes(client: SimClient, requested: string[]): string[] {
  return client.scopes ? requested.filter((s) => client.scopes?.includes(s)) : requested;
}

function s256(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The token endpoint and the auto-approving authorize endpoint. */
export class OAuthServer {
  private readonly assertions: AssertionVerifier;

  constructor(private readonly deps: OAuthDeps) {
    this.assertions = new AssertionVerifier(deps.clock, deps.tokenUrl, deps.clients, deps.assertionAlgorithms);
  }

  async token(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const form = new URLSearchParams(await readBody(req));
    const result = await this.grant(form, req.headers.authorization);
    if ('error' in result) {
      sendJson(res, result.status, { error: result.error, error_description: result.description });
      return;
    }
    this.deps.counters.tokensIssued++;
    sendJson(res, 200, result, { pragma: 'no-cache' });
  }

  private async grant(form: URLSearchParams, authorization: string | undefined): Promise<OAuthError | object> {
    const { tokens } = this.deps;
    switch (form.get('grant_type')) {
      case 'client_credentials': {
        if (form.get('client_assertion_type') !== JWT_BEARER) return fail('invalid_request', `client_assertion_type must be ${JWT_BEARER}`);
        const assertion = form.get('client_assertion');
        if (!assertion) return fail('invalid_request', 'client_assertion missing');
        const verified = await this.assertions.verify(assertion);
        if (!verified.ok) return fail('invalid_client', verified.description);
        // Like Epic, a client with configured scopes that asks for none gets all of them.
        const requested = splitScopes(form.get('scope'));
        const scopes = (requested.length === 0 ? verified.client.scopes ?? [] : grantedScopes(verified.client, requested)).filter((s) => s.startsWith('system/'));
        if (scopes.length === 0) return fail('invalid_scope', 'no system/ scope requested or allowed');
        // Only system/ scopes: backend services get no refresh token and sign a new assertion instead.
        return tokens.issue({ clientId: verified.client.clientId, scopes });
      }
      case 'authorization_code': {
        const client = this.authenticateClient(form, authorization);
        if ('error' in client) return client;
        const code = tokens.takeCode(form.get('code') ?? '');
        if (!code || code.clientId !== client.clientId) return fail('invalid_grant', 'unknown, used or expired code');
        if (form.get('redirect_uri') !== code.redirectUri) return fail('invalid_grant', 'redirect_uri does not match the authorization request');
        const verifier = form.get('code_verifier');
        if (!verifier || !sameSecret(s256(verifier), code.codeChallenge)) return fail('invalid_grant', 'code_verifier does not match code_challenge (S256)');
        const { redirectUri: _r, codeChallenge: _c, expiresAt: _e, ...grant } = code;
        return tokens.issue(grant, grant.patient ? { need_patient_banner: false } : {});
      }
      case 'refresh_token': {
        const client = this.authenticateClient(form, authorization);
        if ('error' in client) return client;
        const grant = tokens.useRefreshToken(form.get('refresh_token') ?? '', client.clientId);
        if (!grant) return fail('invalid_grant', 'unknown or already used refresh token');
        this.deps.counters.refreshes++;
        return tokens.issue(grant);
      }
      default:
        return fail('unsupported_grant_type', 'grant_type must be client_credentials, authorization_code or refresh_token');
    }
  }

  /** Public clients name themselves; confidential ones prove it with Basic auth or client_secret. */
  private authenticateClient(form: URLSearchParams, authorization: string | undefined): SimClient | OAuthError {
    let clientId = form.get('client_id');
    let secret = form.get('client_secret');
    if (authorization?.startsWith('Basic ')) {
      const decoded = Buffer.from(authorization.slice(6), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) return fail('invalid_client', 'malformed Basic credentials', 401);
      try {
        clientId = decodeURIComponent(decoded.slice(0, colon));
        secret = decodeURIComponent(decoded.slice(colon + 1));
      } catch {
        // RFC 6749 2.3.1 form-encodes both parts: a bad %-sequence is the client's error, not ours.
        return fail('invalid_client', 'malformed Basic credentials (bad percent-encoding)', 401);
      }
    }
    const client = clientId ? this.deps.clients.get(clientId) : undefined;
    if (!client) return fail('invalid_client', 'unknown client', 401);
    if (client.confidential && !(secret && client.clientSecret && sameSecret(secret, client.clientSecret))) {
      return fail('invalid_client', 'client authentication failed', 401);
    }
    return client;
  }

  /** Auto-approves (no login page) and redirects back with `code` and the echoed `state`. */
  async authorize(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const params = req.method === 'POST' ? new URLSearchParams(await readBody(req)) : url.searchParams;
    const client = this.deps.clients.get(params.get('client_id') ?? '');
    const redirectUri = params.get('redirect_uri') ?? '';
    // Without a trusted redirect URI there is nowhere safe to send an error: answer here.
    if (!client) return sendJson(res, 400, { error: 'invalid_client', error_description: 'unknown client' });
    if (!client.redirectUris?.includes(redirectUri)) return sendJson(res, 400, { error: 'invalid_request', error_description: 'redirect_uri not registered' });

    const state = params.get('state');
    const back = (values: Record<string, string>): void => {
      const target = new URL(redirectUri);
      for (const [k, v] of Object.entries(values)) target.searchParams.set(k, v);
      if (state !== null) target.searchParams.set('state', state);
      res.writeHead(302, { location: target.toString(), 'cache-control': 'no-store' }).end();
    };
    const refuse = (error: string, description: string): void => back({ error, error_description: description });

    if (params.get('response_type') !== 'code') return refuse('unsupported_response_type', 'response_type must be code');
    if (!state) return refuse('invalid_request', 'state is required');
    if (params.get('aud') !== this.deps.fhirBase) return refuse('invalid_request', `aud must be the FHIR base ${this.deps.fhirBase}`);
    const challenge = params.get('code_challenge');
    if (params.get('code_challenge_method') !== 'S256' || !challenge) return refuse('invalid_request', 'PKCE with code_challenge_method=S256 is required (plain is not allowed)');

    const requested = splitScopes(params.get('scope'));
    let context: LaunchContext = {};
    const launch = params.get('launch');
    if (launch !== null) {
      // SMART: an EHR launch asks for the `launch` scope; Epic refuses the parameter without it.
      if (!requested.includes('launch')) return refuse('invalid_scope', 'a launch parameter requires the launch scope');
      // EHR launch: the context comes only from the launch token the EHR minted.
      const found = this.deps.tokens.launch(launch);
      if (!found) return refuse('invalid_request', 'unknown or expired launch');
      context = found;
    } else if (requested.includes('launch')) {
      return refuse('invalid_request', 'scope launch requires a launch parameter (EHR launch)');
    } else if (requested.includes('launch/patient')) {
      // Standalone with a patient picker: the simulated user picks the first patient.
      const patient = this.deps.pickPatient();
      if (patient) context = { patient };
    }
    const code = this.deps.tokens.createCode({
      clientId: client.clientId,
      scopes: grantedScopes(client, requested),
      redirectUri,
      codeChallenge: challenge,
      ...context,
    });
    back({ code });
  }
}
