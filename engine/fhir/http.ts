import { setMaxListeners } from 'node:events';
import { Agent, request as undiciRequest, type Dispatcher } from 'undici';
import type { Logger } from '../log.js';
import { FhirError, outcomeIssues, redactUrl } from './outcome.js';
import { sleep } from '../sleep.js';
import { Semaphore } from '../semaphore.js';
import { TokenBucket } from './limits.js';
import { DEFAULT_RETRY, backoffDelay, isIdempotent, isNetworkError, isRetryableStatus, parseRetryAfter, type RetryPolicy } from './retry.js';

/**
 * The HTTP layer of the FHIR client, on undici with a keep-alive pool. It owns everything
 * about talking to one server politely and safely: concurrency and rate limits, a timeout on
 * every attempt (headers and body), retries of 429/503 honouring Retry-After, retries of
 * dropped connections for idempotent requests, redirects followed by hand so Authorization
 * never reaches another origin, and `Accept: application/fhir+json` on every request.
 * Authentication (which token, what a 401 means) is the caller's concern.
 */

export interface FhirHttpOptions {
  /** Requests in flight at once on this connection (default 4). */
  readonly concurrency?: number;
  /** Token-bucket rate limit; unlimited when absent. */
  readonly ratePerSecond?: number;
  readonly burst?: number;
  /** Per attempt, covering headers and the whole body (default 30 s). */
  readonly timeoutMs?: number;
  readonly retry?: Partial<RetryPolicy>;
  readonly maxRedirects?: number;
  readonly userAgent?: string;
  /** Wall clock (ms since epoch) for HTTP-date Retry-After values; default Date.now. */
  readonly now?: () => number;
  readonly random?: () => number;
  /** Retries are logged at warn with the URL's path only (queries may carry patient ids). */
  readonly logger?: Logger;
  /** Observes every attempt, response and retry (tests measure Retry-After gaps with it). */
  readonly onEvent?: (event: HttpEvent) => void;
}

/** `id` is the same for every attempt of one request (`at` is performance.now()). */
export type HttpEvent =
  | { readonly type: 'request'; readonly id: number; readonly method: string; readonly url: string; readonly attempt: number; readonly at: number }
  | { readonly type: 'response'; readonly id: number; readonly method: string; readonly url: string; readonly status: number; readonly retryAfter?: string; readonly at: number }
  | { readonly type: 'retry'; readonly id: number; readonly method: string; readonly url: string; readonly reason: 'status' | 'network'; readonly status?: number; readonly delayMs: number; readonly attempt: number };

export interface HttpRequest {
  readonly method?: string;
  readonly url: string | URL;
  /** An `authorization` key here is dropped: credentials go in `authorization` below. */
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  /** Default `application/fhir+json`; the token endpoint asks for `application/json`. */
  readonly accept?: string;
  /** Sent only to the origin of `url`; dropped when a redirect leaves it. */
  readonly authorization?: string;
  /**
   * Called for every attempt, after the concurrency gate, any Retry-After pause and the rate
   * limit, right before sending: a bearer token taken earlier could expire while queued.
   * Same origin only, like `authorization` (which it overrides).
   */
  readonly authorize?: () => Promise<string>;
  /**
   * A token-endpoint request: one attempt (the grant retries with a fresh assertion), outside
   * the concurrency gate (it is made while a FHIR request holds a slot), and never redirected
   * to another origin.
   */
  readonly tokenEndpoint?: boolean;
  /**
   * Outside the concurrency gate, the pause and the rate limit (retries still apply): for
   * authentication requests made while a FHIR request holds a slot, which would deadlock.
   */
  readonly ungated?: boolean;
  readonly signal?: AbortSignal;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** The URL that answered (after redirects). */
  readonly url: string;
  readonly text: string;
}

export interface HttpCounters {
  /** Attempts sent, retries and redirects included. */
  requests: number;
  retries: number;
  throttled: number;
  unavailable: number;
  networkErrors: number;
  redirects: number;
  /** Total milliseconds spent waiting before retries. */
  waitedMs: number;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** The only headers that follow a redirect to another origin (no cookies, no credentials, no custom ones). */
const CROSS_ORIGIN_HEADERS = new Set(['accept', 'accept-language', 'prefer', 'user-agent']);
const FHIR_JSON = 'application/fhir+json';

export class FhirHttp {
  readonly counters: HttpCounters = { requests: 0, retries: 0, throttled: 0, unavailable: 0, networkErrors: 0, redirects: 0, waitedMs: 0 };
  private readonly dispatcher: Agent;
  private readonly gate: Semaphore;
  private readonly bucket: TokenBucket | undefined;
  private readonly retry: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  /** A Retry-After pauses the whole connection, not just the request that got it. */
  private pausedUntil = 0;
  private closing: Promise<void> | undefined;
  /** Aborted by close(), so nobody stays asleep on a pause or a backoff after it. */
  private readonly closed = new AbortController();
  private nextId = 0;

  constructor(private readonly options: FhirHttpOptions = {}) {
    const concurrency = options.concurrency ?? 4;
    this.gate = new Semaphore(concurrency);
    this.bucket = options.ratePerSecond ? new TokenBucket(options.ratePerSecond, options.burst) : undefined;
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.now = options.now ?? Date.now;
    // Every waiting request listens on it: as many listeners as queued requests is expected.
    setMaxListeners(0, this.closed.signal);
    this.dispatcher = new Agent({ connections: concurrency, keepAliveTimeout: 30_000, headersTimeout: this.timeoutMs, bodyTimeout: this.timeoutMs });
  }

  /**
   * Sends with retries and redirects; resolves with the final response whatever its status.
   * Rejects with FhirError (status 0) when the connection kept failing.
   */
  async send(req: HttpRequest): Promise<HttpResponse> {
    const method = (req.method ?? 'GET').toUpperCase();
    let url = new URL(req.url);
    const origin = url.origin;
    let body = req.body;
    let currentMethod = method;
    for (let hop = 0; ; hop++) {
      const sameOrigin = url.origin === origin;
      const res = await this.sendWithRetries({
        ...req,
        method: currentMethod,
        url,
        body,
        headers: sameOrigin ? req.headers : crossOriginHeaders(req.headers),
        authorization: sameOrigin ? req.authorization : undefined,
        authorize: sameOrigin ? req.authorize : undefined,
      });
      const location = res.headers.location;
      if (!REDIRECTS.has(res.status) || !location) return res;
      if (hop >= (this.options.maxRedirects ?? 5)) throw new FhirError(res.status, [], method, redactUrl(url), 'too many redirects');
      const target = new URL(location, url);
      // A body (a token request's client_assertion or refresh_token, a resource) never crosses origins.
      if (target.origin !== origin && (req.body !== undefined || req.tokenEndpoint)) {
        throw new FhirError(res.status, [], method, redactUrl(url), `refused a redirect to another origin (${target.origin}) for a request with a body or credentials`);
      }
      this.counters.redirects++;
      url = target;
      if (res.status === 303 || ((res.status === 301 || res.status === 302) && currentMethod === 'POST')) {
        currentMethod = 'GET';
        body = undefined;
      }
    }
  }

  /** `send`, then a FhirError (with the OperationOutcome's issues) for any non-2xx status. */
  async request(req: HttpRequest): Promise<HttpResponse> {
    const res = await this.send(req);
    if (res.status >= 200 && res.status < 300) return res;
    throw errorFromResponse(res, req.method ?? 'GET');
  }

  async json<T = unknown>(req: HttpRequest): Promise<T> {
    const res = await this.request(req);
    return parseJson<T>(res, req.method ?? 'GET');
  }

  /** Aborts when close() is called, so a caller's own waits (token retries) end with it. */
  get closedSignal(): AbortSignal {
    return this.closed.signal;
  }

  /** Idempotent: a connection shared by several users may be closed by each. */
  async close(): Promise<void> {
    this.closed.abort(new FhirError(0, [], 'GET', '(closed)', 'connection closed'));
    this.closing ??= this.dispatcher.close();
    await this.closing;
  }

  private async sendWithRetries(req: HttpRequest & { method: string; url: URL }): Promise<HttpResponse> {
    const id = ++this.nextId;
    const signal = req.signal ? AbortSignal.any([req.signal, this.closed.signal]) : this.closed.signal;
    const maxAttempts = req.tokenEndpoint ? 1 : this.retry.maxAttempts;
    let waited = 0;
    for (let attempt = 1; ; attempt++) {
      let delay: number;
      let reason: 'status' | 'network';
      let status: number | undefined;
      try {
        const res = await this.attempt(req, attempt, id, signal);
        if (!isRetryableStatus(res.status, req.method)) return res;
        if (res.status === 429) this.counters.throttled++;
        if (res.status === 503) this.counters.unavailable++;
        const retryAfter = parseRetryAfter(res.headers['retry-after'], this.now());
        delay = retryAfter ?? backoffDelay(attempt, this.retry, this.options.random);
        reason = 'status';
        status = res.status;
        if (attempt >= maxAttempts || waited + delay > this.retry.maxTotalWaitMs) return res;
        // Only a Retry-After we will honour pauses the connection, and the budget bounds it.
        if (retryAfter !== undefined) this.pausedUntil = Math.max(this.pausedUntil, performance.now() + retryAfter);
      } catch (err) {
        if (signal.aborted || !isNetworkError(err)) throw err;
        this.counters.networkErrors++;
        const failure = new FhirError(0, [], req.method, redactUrl(req.url), describeNetworkError(err));
        if (!isIdempotent(req.method)) throw failure;
        delay = backoffDelay(attempt, this.retry, this.options.random);
        reason = 'network';
        if (attempt >= maxAttempts || waited + delay > this.retry.maxTotalWaitMs) throw failure;
      }
      this.counters.retries++;
      this.options.logger?.warn({ method: req.method, url: redactUrl(req.url), reason, status, attempt, delayMs: delay }, 'fhir request retried');
      this.options.onEvent?.({ type: 'retry', id, method: req.method, url: redactUrl(req.url), reason, ...(status ? { status } : {}), delayMs: delay, attempt });
      waited += delay;
      this.counters.waitedMs += delay;
      await sleep(delay, signal);
    }
  }

  /**
   * A concurrency slot, taken only once any connection-wide pause is over: a caller waiting
   * out a Retry-After must not hold a slot meanwhile. Both waits end when `signal` aborts.
   */
  private async slot(signal: AbortSignal): Promise<() => void> {
    for (;;) {
      const pause = this.pausedUntil - performance.now();
      if (pause > 0) await sleep(pause, signal);
      const release = await this.gate.acquire(signal);
      // Another response may have paused the connection while we queued.
      if (this.pausedUntil <= performance.now()) return release;
      release();
    }
  }

  /** One attempt under the concurrency gate and the rate limit (token requests bypass both). */
  private async attempt(req: HttpRequest & { method: string; url: URL }, attempt: number, id: number, signal: AbortSignal): Promise<HttpResponse> {
    const ungated = req.tokenEndpoint || req.ungated;
    const release = ungated ? () => {} : await this.slot(signal);
    try {
      if (!ungated) await this.bucket?.take();
      const headers: Record<string, string> = {
        ...lowerKeys(req.headers),
        accept: req.accept ?? FHIR_JSON,
        'user-agent': this.options.userAgent ?? 'sluice',
      };
      delete headers.authorization;
      const authorization = req.authorize ? await req.authorize() : req.authorization;
      if (authorization) headers.authorization = authorization;
      if (req.body !== undefined && !headers['content-type']) headers['content-type'] = FHIR_JSON;
      this.counters.requests++;
      const url = req.url.toString();
      this.options.onEvent?.({ type: 'request', id, method: req.method, url: redactUrl(url), attempt, at: performance.now() });
      const timeout = AbortSignal.timeout(this.timeoutMs);
      const res = await undiciRequest(url, {
        method: req.method as Dispatcher.HttpMethod,
        headers,
        body: req.body,
        dispatcher: this.dispatcher,
        signal: AbortSignal.any([signal, timeout]),
      });
      // Reading the body stays under the same timeout signal as the headers.
      const text = await res.body.text();
      const flat = flattenHeaders(res.headers);
      this.options.onEvent?.({ type: 'response', id, method: req.method, url: redactUrl(url), status: res.statusCode, ...(flat['retry-after'] ? { retryAfter: flat['retry-after'] } : {}), at: performance.now() });
      return { status: res.statusCode, headers: flat, url, text };
    } finally {
      release();
    }
  }
}

function crossOriginHeaders(headers: Readonly<Record<string, string>> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(lowerKeys(headers)).filter(([k]) => CROSS_ORIGIN_HEADERS.has(k)));
}

function lowerKeys(headers: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers ?? {})) out[k.toLowerCase()] = v;
  return out;
}

function flattenHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

function describeNetworkError(err: unknown): string {
  const e = err as { code?: string; name?: string; message?: string };
  return e.code ?? e.name ?? 'connection failed';
}

export function parseJson<T>(res: HttpResponse, method: string): T {
  try {
    return JSON.parse(res.text) as T;
  } catch {
    throw new FhirError(res.status, [], method, redactUrl(res.url), `response is not JSON (content-type ${res.headers['content-type'] ?? 'none'})`);
  }
}

export function errorFromResponse(res: HttpResponse, method: string): FhirError {
  let body: unknown;
  try {
    body = JSON.parse(res.text);
  } catch {
    body = undefined;
  }
  return new FhirError(res.status, outcomeIssues(body), method.toUpperCase(), redactUrl(res.url));
}
