import { AuthError, FhirError } from '../outcome.js';
import type { FhirHttp, HttpResponse } from '../http.js';
import { sleep } from '../../sleep.js';
import { parseRetryAfter } from '../retry.js';

/** What a token endpoint answers (RFC 6749 5.1 plus SMART's launch context fields). */
export interface TokenResponse {
  readonly access_token: string;
  readonly token_type: string;
  /** Seconds; Epic has sent 300 and 3600, SMART's examples 300. */
  readonly expires_in?: number;
  readonly scope?: string;
  readonly refresh_token?: string;
  readonly id_token?: string;
  readonly patient?: string;
  readonly encounter?: string;
  readonly [extra: string]: unknown;
}

/** Launch context, present only in flows that have one (EHR launch; standalone with launch/patient). */
export interface LaunchContext {
  readonly patient?: string;
  readonly encounter?: string;
}

/**
 * A way to get tokens: `obtain` gets a fresh one (a new assertion, or the code exchange),
 * `refresh` renews it (refresh_token; backend services have none and obtain again).
 */
export interface Grant {
  readonly flow: 'backend' | 'standalone' | 'ehr-launch';
  obtain(): Promise<TokenResponse>;
  refresh?(): Promise<TokenResponse>;
  /** Launch context from the latest token response, where the flow has one. */
  context(): LaunchContext | undefined;
}

/** Token requests: attempts in all, and the longest Retry-After worth waiting for. */
export const TOKEN_ATTEMPTS = 3;
const TOKEN_MAX_WAIT_MS = 10_000;

/**
 * Wait before token retry number `retry` (1-based) when no Retry-After says otherwise:
 * 500 ms doubling, without jitter (unlike backoffDelay in ../retry.ts).
 */
function tokenBackoff(retry: number): number {
  return 500 * 2 ** (retry - 1);
}

/**
 * POSTs a form to the token endpoint and checks the answer; OAuth errors become AuthError.
 * 429/503 are retried here, not in the HTTP layer, so that a form built by a function (a
 * client assertion) is built again for every attempt: Epic refuses a `jti` it has seen, and
 * an old assertion may be past its `exp`. A dropped connection is retried only then too: a
 * refresh_token the server may have rotated meanwhile is not sent twice.
 */
export async function postTokenRequest(http: FhirHttp, tokenUrl: string, form: Record<string, string> | (() => Promise<Record<string, string>>), extraHeaders: Record<string, string> = {}): Promise<TokenResponse> {
  const { authorization, ...headers } = extraHeaders;
  const fresh = typeof form === 'function';
  let res: HttpResponse | undefined;
  for (let attempt = 1; ; attempt++) {
    try {
      res = await http.send({
        method: 'POST',
        url: tokenUrl,
        accept: 'application/json',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        ...(authorization ? { authorization } : {}),
        tokenEndpoint: true,
        body: new URLSearchParams(fresh ? await form() : form).toString(),
      });
    } catch (err) {
      if (!fresh || attempt >= TOKEN_ATTEMPTS || !(err instanceof FhirError) || err.status !== 0) throw err;
      await sleep(tokenBackoff(attempt), http.closedSignal);
      continue;
    }
    if ((res.status !== 429 && res.status !== 503) || attempt >= TOKEN_ATTEMPTS) break;
    const wait = parseRetryAfter(res.headers['retry-after'], Date.now()) ?? tokenBackoff(attempt);
    if (wait > TOKEN_MAX_WAIT_MS) break;
    await sleep(wait, http.closedSignal);
  }
  let body: Record<string, unknown> | undefined;
  try {
    body = JSON.parse(res.text) as Record<string, unknown>;
  } catch {
    body = undefined;
  }
  if (res.status !== 200 || !body) {
    const error = typeof body?.error === 'string' ? body.error : undefined;
    const description = typeof body?.error_description === 'string' ? `: ${body.error_description}` : '';
    throw new AuthError(`token request to ${new URL(tokenUrl).origin}${new URL(tokenUrl).pathname} failed: HTTP ${res.status}${error ? ` ${error}${description}` : ''}`, res.status, error);
  }
  if (typeof body.access_token !== 'string' || !body.access_token) throw new AuthError('token response has no access_token');
  if (typeof body.token_type !== 'string' || body.token_type.toLowerCase() !== 'bearer') {
    throw new AuthError(`token response has token_type ${JSON.stringify(body.token_type)}, expected bearer`);
  }
  const expires = typeof body.expires_in === 'string' ? Number(body.expires_in) : body.expires_in;
  return { ...body, expires_in: typeof expires === 'number' && Number.isFinite(expires) ? expires : undefined } as TokenResponse;
}
