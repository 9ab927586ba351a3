import { AuthError } from '../outcome.js';
import type { FhirHttp } from '../http.js';

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

/** POSTs a form to the token endpoint and checks the answer; OAuth errors become AuthError. */
export async function postTokenRequest(http: FhirHttp, tokenUrl: string, form: Record<string, string>, extraHeaders: Record<string, string> = {}): Promise<TokenResponse> {
  const { authorization, ...headers } = extraHeaders;
  const res = await http.send({
    method: 'POST',
    url: tokenUrl,
    accept: 'application/json',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    ...(authorization ? { authorization } : {}),
    body: new URLSearchParams(form).toString(),
  });
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
