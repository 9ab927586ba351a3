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

function isOperationOutcome(body: unknown): boolean {
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

/**
 * One line per issue, for error messages. Server text (diagnostics, details) is left out
 * unless asked for: servers echo ids and search values into it (Epic: "No patient with id
 * ..."). Callers find it on `FhirError.issues`.
 */
function describeIssues(issues: readonly OutcomeIssue[], withServerText = false): string {
  return issues.map((i) => {
    const text = withServerText ? (i.diagnostics ?? i.details) : undefined;
    return `${i.severity} ${i.code}${text ? `: ${text}` : ''}`;
  }).join('; ');
}

/** `METHOD url failed: HTTP status (issues)`, the issues with their server text when `withServerText`. */
function failureMessage(method: string, url: string, status: number, issues: readonly OutcomeIssue[], detail: string | undefined, withServerText = false): string {
  const outcome = issues.length ? ` (${describeIssues(issues, withServerText)})` : detail ? ` (${detail})` : '';
  return `${method} ${url} failed: ${status === 0 ? 'no response' : `HTTP ${status}`}${outcome}`;
}

/** A failed FHIR interaction. `url` is redacted: no query, no resource ids (see redactUrl). */
export class FhirError extends Error {
  override readonly name = 'FhirError';
  constructor(
    readonly status: number,
    readonly issues: readonly OutcomeIssue[],
    readonly method: string,
    readonly url: string,
    detail?: string,
  ) {
    super(failureMessage(method, url, status, issues, detail));
  }

  /**
   * The message with the server's diagnostics: for a person who ran the request themselves
   * (the CLI), never for logs, as servers echo ids and search values into them.
   */
  messageWithServerText(): string {
    if (!this.issues.some((i) => i.diagnostics ?? i.details)) return this.message;
    // There are issues here, so the constructor's `detail` (used only without them) is not needed.
    return failureMessage(this.method, this.url, this.status, this.issues, undefined, true);
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

/** A FHIR resource type in a path (`Patient`, `DocumentReference`; not `FHIR` or `R4`). */
const RESOURCE_TYPE = /^[A-Z][a-z][A-Za-z]*$/;

/**
 * The URL without query, fragment or resource ids, safe to put in messages and logs:
 * `.../Patient/e63wRTbPfr1p8UW81d8Seiw3/_history/2` becomes `.../Patient/{id}/_history/{id}`.
 * Operations (`$everything`) and compartments (`Patient/{id}/Observation`) stay readable.
 */
export function redactUrl(url: string | URL): string {
  try {
    const u = new URL(url);
    const segments = u.pathname.split('/');
    for (let i = 1; i < segments.length; i++) {
      const previous = decodeSegment(segments[i - 1]!);
      const segment = segments[i]!;
      if (!segment || segment.startsWith('$') || segment.startsWith('_')) continue;
      if (RESOURCE_TYPE.test(previous) || previous === '_history') segments[i] = '{id}';
    }
    return `${u.origin}${segments.join('/')}`;
  } catch {
    return '(invalid url)';
  }
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
