import type { Logger } from '../log.js';
import { AuthError, FhirError, outcomeIssues, redactUrl, type OutcomeIssue } from './outcome.js';
import { FhirHttp, errorFromResponse, parseJson, type HttpRequest, type HttpResponse } from './http.js';
import type { TokenManager } from './auth/manager.js';

/**
 * A FHIR R4 client for one server: the HTTP layer plus a token manager. The token goes only
 * to the FHIR base's origin. A 401 causes one re-authentication and one retry, then an
 * AuthError: renewal is proactive, so a 401 means something is wrong and is reported.
 */

export interface Resource {
  readonly resourceType: string;
  readonly id?: string;
  readonly [key: string]: unknown;
}

export interface BundleEntry {
  readonly fullUrl?: string;
  readonly resource?: Resource;
  readonly search?: { readonly mode?: 'match' | 'include' | 'outcome' };
}

export interface Bundle extends Resource {
  readonly resourceType: 'Bundle';
  readonly link?: ReadonlyArray<{ readonly relation: string; readonly url: string }>;
  readonly entry?: readonly BundleEntry[];
}

/** A warning the server put in a search result (Epic: an OperationOutcome entry). */
export interface SearchWarning {
  readonly code: string;
  readonly message: string;
}

export interface FhirClientOptions {
  readonly base: string;
  readonly http: FhirHttp;
  /** Absent for open servers. */
  readonly tokens?: TokenManager;
  readonly logger?: Logger;
  /** Pages one search may follow before it fails (default 10 000): a guard against endless cursors. */
  readonly maxPages?: number;
}

const DEFAULT_MAX_PAGES = 10_000;

export interface ClientCounters {
  unauthorized: number;
  pages: number;
}

export class FhirClient {
  readonly base: string;
  readonly http: FhirHttp;
  readonly tokens: TokenManager | undefined;
  readonly counters: ClientCounters = { unauthorized: 0, pages: 0 };
  private readonly origin: string;
  private readonly maxPages: number;

  constructor(options: FhirClientOptions) {
    this.base = options.base.replace(/\/+$/, '');
    this.origin = new URL(this.base).origin;
    this.http = options.http;
    this.tokens = options.tokens;
    this.maxPages = options.maxPages ?? DEFAULT_MAX_PAGES;
  }

  /** Resolves `Observation?patient=1` or an absolute URL against the base. */
  url(pathOrUrl: string): URL {
    if (/^https?:\/\//i.test(pathOrUrl)) return new URL(pathOrUrl);
    return new URL(`${this.base}/${pathOrUrl.replace(/^\/+/, '')}`);
  }

  /**
   * Sends with the bearer token (same origin only), taken at each attempt so a token never
   * waits in the queue or through retries and expires in flight. A 401 causes one
   * re-authentication and one retry.
   */
  async send(req: HttpRequest): Promise<HttpResponse> {
    const url = new URL(req.url);
    const tokens = this.tokens;
    if (!tokens || url.origin !== this.origin) return this.http.send(req);
    let used: string | undefined;
    const authorize = async () => `Bearer ${(used = await tokens.token())}`;
    const res = await this.http.send({ ...req, authorize });
    if (res.status !== 401 || !used) return res;
    this.counters.unauthorized++;
    await tokens.reauthenticate(used);
    const retried = await this.http.send({ ...req, authorize });
    if (retried.status === 401) {
      const challenge = retried.headers['www-authenticate'];
      throw new AuthError(`${(req.method ?? 'GET').toUpperCase()} ${redactUrl(url)}: 401 Unauthorized after re-authenticating${challenge ? ` (${challenge.slice(0, 200)})` : ''}; check the client's scopes and registration`, 401);
    }
    return retried;
  }

  async json<T = unknown>(req: HttpRequest): Promise<T> {
    const res = await this.send(req);
    if (res.status < 200 || res.status >= 300) throw errorFromResponse(res, req.method ?? 'GET');
    return parseJson<T>(res, req.method ?? 'GET');
  }

  async read<T extends Resource = Resource>(type: string, id: string): Promise<T> {
    return this.json<T>({ url: this.url(`${type}/${encodeURIComponent(id)}`) });
  }

  /** Every page of a search, following `next` links to the end. */
  async *pages(query: string): AsyncGenerator<Bundle> {
    let next: string | undefined = this.url(query).toString();
    const seen = new Set<string>();
    for (let page = 0; next; page++) {
      // A server handing out ever-new cursors would otherwise be followed forever.
      if (page >= this.maxPages) throw new FhirError(0, [], 'GET', redactUrl(next), `search stopped after ${this.maxPages} pages (limits.maxPages); the server keeps sending next links`);
      // A server that hands back a link it already gave would loop forever.
      if (seen.has(next)) throw new FhirError(0, [], 'GET', redactUrl(next), 'paging loop: next link repeats an earlier page');
      seen.add(next);
      const bundle: Bundle = await this.json<Bundle>({ url: next });
      if (bundle.resourceType !== 'Bundle') throw new FhirError(200, [], 'GET', redactUrl(next), `expected a Bundle, got ${String(bundle.resourceType)}`);
      this.counters.pages++;
      yield bundle;
      next = bundle.link?.find((l) => l.relation === 'next')?.url;
    }
  }
}

/** Splits a search page into matches, includes and server warnings (outcome entries). */
export function splitEntries(bundle: Bundle): { matches: Resource[]; included: Resource[]; warnings: SearchWarning[] } {
  const matches: Resource[] = [];
  const included: Resource[] = [];
  const warnings: SearchWarning[] = [];
  for (const entry of bundle.entry ?? []) {
    const r = entry.resource;
    if (!r) continue;
    const mode = entry.search?.mode ?? (r.resourceType === 'OperationOutcome' ? 'outcome' : 'match');
    if (mode === 'outcome' || (r.resourceType === 'OperationOutcome' && mode !== 'include')) {
      warnings.push(...outcomeIssues(r).map(issueWarning));
    } else if (mode === 'include') included.push(r);
    else matches.push(r);
  }
  return { matches, included, warnings };
}

function issueWarning(i: OutcomeIssue): SearchWarning {
  return { code: `server-${i.code}`, message: i.diagnostics ?? i.details ?? i.code };
}
