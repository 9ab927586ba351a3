/**
 * FHIR errors as values: an OperationOutcome (or an OAuth error body) turned into a typed
 * error with the HTTP status and the issues, so callers branch on codes, not on text.
 */

export interface OutcomeIssue {
  readonly severity: string;
  readonly code: string;
  readonly diagnostics?: string;
  readonly details?: string;
  readonly expression?: readonly string[];
}

interface RawIssue {
  severity?: unknown;
  code?: unknown;
  diagnostics?: unknown;
  details?: { text?: unknown; coding?: Array<{ code?: unknown; display?: unknown }> };
  expression?: unknown;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function isOperationOutcome(body: unknown): boolean {
  return isRecord(body) && body.resourceType === 'OperationOutcome';
}

/** The issues of an OperationOutcome; [] for anything else. */
export function outcomeIssues(body: unknown): OutcomeIssue[] {
  if (!isOperationOutcome(body)) return [];
  const issues = (body as { issue?: unknown }).issue;
  if (!Array.isArray(issues)) return [];
  return issues.filter(isRecord).map((raw) => {
    const i = raw as RawIssue;
    const details = typeof i.details?.text === 'string'
      ? i.details.text
      : i.details?.coding?.map((c) => (typeof c.display === 'string' ? c.display : String(c.code ?? ''))).join('; ') || undefined;
    return {
      severity: typeof i.severity === 'string' ? i.severity : 'error',
      code: typeof i.code === 'string' ? i.code : 'unknown',
      ...(typeof i.diagnostics === 'string' ? { diagnostics: i.diagnostics } : {}),
      ...(details ? { details } : {}),
      ...(Array.isArray(i.expression) ? { expression: i.expression.filter((e): e is string => typeof e === 'string') } : {}),
    };
  });
}

/** One line per issue, for error messages (diagnostics carry server text, never our data). */
export function describeIssues(issues: readonly OutcomeIssue[]): string {
  return issues.map((i) => `${i.severity} ${i.code}${i.diagnostics ? `: ${i.diagnostics}` : i.details ? `: ${i.details}` : ''}`).join('; ');
}

/** A failed FHIR interaction. `url` has no query string (queries may carry patient ids). */
export class FhirError extends Error {
  override readonly name = 'FhirError';
  constructor(
    readonly status: number,
    readonly issues: readonly OutcomeIssue[],
    readonly method: string,
    readonly url: string,
    detail?: string,
  ) {
    super(`${method} ${url} failed: ${status === 0 ? 'no response' : `HTTP ${status}`}${issues.length ? ` (${describeIssues(issues)})` : detail ? ` (${detail})` : ''}`);
  }

  /** The server asked us to slow down: 429, or Cerner's OperationOutcome code `throttled`. */
  get throttled(): boolean {
    return this.status === 429 || this.issues.some((i) => i.code === 'throttled');
  }
}

/** Authentication or authorization failed: OAuth error responses, a second 401, a bad state. */
export class AuthError extends Error {
  override readonly name = 'AuthError';
  constructor(message: string, readonly status?: number, readonly oauthError?: string) {
    super(message);
  }
}

/** The URL without query or fragment, safe to put in messages and logs. */
export function redactUrl(url: string | URL): string {
  try {
    const u = new URL(url);
    return `${u.origin}${u.pathname}`;
  } catch {
    return '(invalid url)';
  }
}
