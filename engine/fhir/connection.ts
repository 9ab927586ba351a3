import path from 'node:path';
import { z } from 'zod';
import { zDuration } from '../duration.js';
import { silentLogger, type Logger } from '../log.js';
import { RefreshTokenVault } from './auth/vault.js';
import { registerComponent } from '../registry.js';
import { BackendServicesGrant } from './auth/backend.js';
import { AuthorizationCodeGrant } from './auth/launch.js';
import { TokenManager } from './auth/manager.js';
import type { Grant, LaunchContext, TokenResponse } from './auth/token.js';
import { fetchCapabilities, fetchSmartConfiguration, type Capabilities } from './capabilities.js';
import { FhirClient, type SearchWarning } from './client.js';
import { FhirHttp, type FhirHttpOptions } from './http.js';
import { search, type SearchItem, type SearchOptions } from './planner.js';

/**
 * The `fhir` connection: one FHIR server with its SMART flow, limits and capabilities,
 * shared by every component that names it. The flow is explicit; asking for launch
 * context in a flow that has none is a config error (so lint reports it), not a surprise
 * in production.
 */

const FLOWS = ['backend', 'standalone', 'ehr-launch'] as const;
const CONTEXTS = ['patient', 'encounter'] as const;

const authSchema = z
  .strictObject({
    flow: z.enum(FLOWS).meta({ description: 'SMART flow: backend (system, JWT assertion), standalone (user launches the app), ehr-launch (launched from the EHR with context).' }),
    clientId: z.string().min(1).meta({ description: 'OAuth client id (Epic: the app\'s client ID).' }),
    scope: z.string().min(1).meta({ description: 'Space-separated scopes, e.g. "system/Observation.read system/Patient.read".' }),
    tokenUrl: z.url().optional().meta({ description: 'Token endpoint; default: from .well-known/smart-configuration.' }),
    privateKey: z.string().min(1).optional().meta({ description: 'backend: PKCS#8 PEM private key, as ${file:...} or ${env:...} (see sluice keys generate).' }),
    kid: z.string().min(1).optional().meta({ description: 'backend: key id of the public key in the published JWKS.' }),
    alg: z.enum(['RS384', 'ES384']).default('RS384').meta({ description: 'backend: assertion signature algorithm (Epic accepts RSA only).' }),
    redirectUri: z.url().optional().meta({ description: 'standalone, ehr-launch: the registered redirect URI.' }),
    clientSecret: z.string().min(1).optional().meta({ description: 'standalone, ehr-launch: for confidential clients, as ${env:...} or ${file:...}.' }),
    refreshToken: z.string().min(1).optional().meta({ description: 'standalone, ehr-launch: refresh token from a completed authorization (needs offline_access), as ${file:...}.' }),
    launchContext: z.array(z.enum(CONTEXTS)).optional().meta({ description: 'Launch context the components read: patient, encounter. Only ehr-launch, or standalone with launch/patient.' }),
  })
  .superRefine((auth, ctx) => {
    const scopes = new Set(auth.scope.split(/\s+/).filter(Boolean));
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    if (auth.flow === 'backend') {
      if (!auth.privateKey) issue(['privateKey'], 'flow backend signs a JWT assertion: privateKey is required, e.g. privateKey: "${file:/run/secrets/epic.pem}"');
      if (!auth.kid) issue(['kid'], 'flow backend: kid is required (the key id in your published JWKS)');
      for (const key of ['redirectUri', 'refreshToken', 'clientSecret'] as const) {
        if (auth[key] !== undefined) issue([key], `flow backend does not use ${key} (it authenticates with a signed JWT assertion)`);
      }
      if (auth.launchContext?.length) issue(['launchContext'], 'flow backend has no launch context (no patient, no encounter); use flow ehr-launch, or standalone with the launch/patient scope');
      for (const s of scopes) {
        if (s === 'launch' || s.startsWith('launch/')) issue(['scope'], `flow backend has no launch context: scope "${s}" is for ehr-launch or standalone`);
        else if (/^(patient|user)\//.test(s) || s === 'offline_access' || s === 'online_access' || s === 'openid' || s === 'fhirUser') {
          issue(['scope'], `flow backend uses system/ scopes; "${s}" belongs to a user-facing flow`);
        }
      }
      return;
    }
    if (!auth.redirectUri) issue(['redirectUri'], `flow ${auth.flow}: redirectUri is required (the one registered with the server)`);
    if (!auth.refreshToken) issue(['refreshToken'], `flow ${auth.flow}: refreshToken is required to run unattended (authorize once with offline_access and store the refresh token as a secret)`);
    if (auth.privateKey !== undefined || auth.kid !== undefined) issue([auth.privateKey !== undefined ? 'privateKey' : 'kid'], `flow ${auth.flow} does not sign assertions; privateKey and kid are for flow backend`);
    if (auth.flow === 'ehr-launch' && !scopes.has('launch')) issue(['scope'], 'flow ehr-launch needs the "launch" scope');
    if (auth.flow === 'standalone') {
      if (scopes.has('launch')) issue(['scope'], 'flow standalone: the "launch" scope is for ehr-launch; a standalone app asks for launch/patient');
      auth.launchContext?.forEach((c, i) => {
        if (!scopes.has(`launch/${c}`)) issue(['launchContext', i], `flow standalone has no ${c} context unless scope includes launch/${c} (a ${c} picker); use flow ehr-launch for context from the EHR`);
      });
    }
  });

const limitsSchema = z
  .strictObject({
    concurrency: z.number().int().min(1).default(4).meta({ description: 'Requests in flight at once on this connection.' }),
    ratePerSecond: z.number().positive().optional().meta({ description: 'Token-bucket rate limit (requests per second); none by default.' }),
    timeout: zDuration.prefault('30s').meta({ description: 'Per request attempt, headers and body.' }),
    maxAttempts: z.number().int().min(1).max(20).default(6).meta({ description: 'Attempts for a request that gets 429/503 or a dropped connection.' }),
    maxWait: zDuration.prefault('2m').meta({ description: 'Total time one request may spend waiting to retry; a longer Retry-After fails the request at once.' }),
    maxPages: z.number().int().min(1).default(10_000).meta({ description: 'Pages one search may follow before it fails (guards against a server that never stops paging).' }),
  })
  .prefault({});

export const fhirConnectionSchema = z.strictObject({
  base: z.url().meta({ description: 'FHIR R4 base URL, e.g. https://fhir.example.org/api/FHIR/R4.' }),
  auth: authSchema.optional().meta({ description: 'SMART authentication; absent for an open server.' }),
  limits: limitsSchema,
});

export type FhirConnectionOptions = z.output<typeof fhirConnectionSchema>;
export type FhirAuthOptions = z.output<typeof authSchema>;

/** Finds the token endpoint in the SMART configuration when the config does not name it. */
class DiscoveringGrant implements Grant {
  private inner: Promise<Grant> | undefined;

  constructor(readonly flow: Grant['flow'], private readonly build: () => Promise<Grant>) {}

  async obtain(): Promise<TokenResponse> {
    return (await this.grant()).obtain();
  }

  async refresh(): Promise<TokenResponse> {
    const g = await this.grant();
    return g.refresh ? g.refresh() : g.obtain();
  }

  context(): LaunchContext | undefined {
    return this.resolved?.context();
  }

  private resolved: Grant | undefined;

  private grant(): Promise<Grant> {
    // A failed discovery is not cached: the next token request tries again.
    this.inner ??= this.build().then(
      (g) => (this.resolved = g),
      (err: unknown) => {
        this.inner = undefined;
        throw err;
      },
    );
    return this.inner;
  }
}

export interface FhirConnectionRuntime {
  readonly logger?: Logger;
  /** Token clock (ms since epoch); tests speed it up. */
  readonly clock?: () => number;
  /** Extra HTTP options (event hooks for tests). */
  readonly http?: Partial<FhirHttpOptions>;
  /** Where rotated refresh tokens are kept across restarts (standalone, ehr-launch). */
  readonly vault?: RefreshTokenVault;
}

/** One FHIR server: a client with its tokens, and its capabilities read once on demand. */
export class FhirConnection {
  readonly client: FhirClient;
  readonly http: FhirHttp;
  readonly tokens: TokenManager | undefined;
  private capabilitiesPromise: Promise<Capabilities> | undefined;

  constructor(readonly options: FhirConnectionOptions, runtime: FhirConnectionRuntime = {}) {
    const base = options.base.replace(/\/+$/, '');
    this.http = new FhirHttp({
      concurrency: options.limits.concurrency,
      ...(options.limits.ratePerSecond ? { ratePerSecond: options.limits.ratePerSecond } : {}),
      timeoutMs: options.limits.timeout,
      retry: { maxAttempts: options.limits.maxAttempts, maxTotalWaitMs: options.limits.maxWait },
      ...(runtime.logger ? { logger: runtime.logger } : {}),
      ...runtime.http,
    });
    const auth = options.auth;
    this.tokens = auth
      ? new TokenManager(new DiscoveringGrant(auth.flow, () => this.buildGrant(auth, runtime.clock, runtime.vault)), { logger: runtime.logger ?? silentLogger, ...(runtime.clock ? { clock: runtime.clock } : {}) })
      : undefined;
    this.client = new FhirClient({ base, http: this.http, maxPages: options.limits.maxPages, ...(this.tokens ? { tokens: this.tokens } : {}) });
  }

  capabilities(): Promise<Capabilities> {
    this.capabilitiesPromise ??= fetchCapabilities(this.http, this.client.base);
    this.capabilitiesPromise.catch(() => (this.capabilitiesPromise = undefined));
    return this.capabilitiesPromise;
  }

  /** A planned search (undeclared includes become reads); warnings go to `onWarning`. */
  async *search(query: string, options: SearchOptions = {}): AsyncGenerator<SearchItem> {
    yield* search(this.client, await this.capabilities(), query, options);
  }

  /** Launch context where the flow has one. */
  context(): LaunchContext | undefined {
    return this.tokens?.context();
  }

  async close(): Promise<void> {
    await this.http.close();
  }

  private async buildGrant(auth: FhirAuthOptions, clock?: () => number, vault?: RefreshTokenVault): Promise<Grant> {
    const tokenUrl = auth.tokenUrl ?? (await fetchSmartConfiguration(this.http, this.client.base, true))?.token_endpoint;
    if (!tokenUrl) throw new Error(`fhir connection ${this.client.base}: no tokenUrl configured and none in .well-known/smart-configuration`);
    if (auth.flow === 'backend') {
      return new BackendServicesGrant(this.http, { clientId: auth.clientId, tokenUrl, privateKey: auth.privateKey!, kid: auth.kid!, alg: auth.alg, scope: auth.scope, ...(clock ? { clock } : {}) });
    }
    return new AuthorizationCodeGrant(this.http, {
      flow: auth.flow,
      tokenUrl,
      clientId: auth.clientId,
      redirectUri: auth.redirectUri!,
      scope: auth.scope,
      // A token rotated by an earlier run is newer than the one written in the config.
      refreshToken: vault?.load() ?? auth.refreshToken!,
      ...(auth.clientSecret ? { clientSecret: auth.clientSecret } : {}),
      ...(vault ? { onRefreshToken: (token: string) => vault.save(token) } : {}),
    });
  }
}

export type { SearchWarning };

registerComponent({
  kind: 'connection',
  name: 'fhir',
  description: 'A FHIR R4 server (e.g. Epic) with its SMART flow, rate limits and capabilities.',
  schema: fhirConnectionSchema,
  docs: [
    'The SMART flow is explicit: `backend` signs an RS384 JWT assertion with `privateKey` (no user, no launch context);',
    '`standalone` and `ehr-launch` use a stored `refreshToken` from an authorization-code (PKCE S256) login.',
    'A config that asks for launch context in a flow without it is rejected.',
    'Tokens are renewed 60 s before the `expires_in` the server returned; 429/503 are retried honouring Retry-After.',
  ].join(' '),
  example: [
    'connections:',
    '  epic-prod:',
    '    fhir:',
    '      base: https://fhir.example.org/api/FHIR/R4',
    '      auth:',
    '        flow: backend',
    '        clientId: 0f6c1e2a-sluice',
    '        privateKey: "${file:/run/secrets/epic.pem}"',
    '        kid: sluice-2026',
    '        scope: system/Observation.read system/Patient.read',
    '      limits: { concurrency: 4, ratePerSecond: 10, timeout: 30s }',
  ].join('\n'),
  create: (options, ctx) => new FhirConnection(options, {
    logger: ctx.logger,
    ...(ctx.connectionName && options.auth && options.auth.flow !== 'backend'
      ? { vault: new RefreshTokenVault(path.join(ctx.dataDir, 'connections', `${ctx.connectionName}.refresh-token`), ctx.encryptionKey) }
      : {}),
  }),
});
