import type { IncomingMessage, ServerResponse } from 'node:http';

/** Largest request body accepted; the simulator is a test server, not a data sink. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

export type FhirFormat = 'json' | 'xml';

/**
 * Epic answers XML unless JSON is asked for explicitly (EPIC.md "Response format").
 * `*∕*` (what fetch sends by default) therefore gets XML too; `_format=json` also works.
 */
export function negotiate(accept: string | undefined, formatParam: string | null): FhirFormat {
  if (formatParam) return /json/i.test(formatParam) ? 'json' : 'xml';
  return accept && /json/i.test(accept) ? 'json' : 'xml';
}

export interface OperationOutcome {
  resourceType: 'OperationOutcome';
  issue: { severity: string; code: string; diagnostics: string }[];
}

export function outcome(code: string, diagnostics: string, severity = 'error'): OperationOutcome {
  return { resourceType: 'OperationOutcome', issue: [{ severity, code, diagnostics }] };
}

export function sendFhir(res: ServerResponse, status: number, body: object, format: FhirFormat, headers: Record<string, string> = {}): void {
  const text = format === 'json' ? JSON.stringify(body) : toXml(body);
  res.writeHead(status, {
    'content-type': format === 'json' ? 'application/fhir+json; charset=utf-8' : 'application/fhir+xml; charset=utf-8',
    ...headers,
  });
  res.end(text);
}

/** Plain JSON (OAuth endpoints, the control API): deliberately not a FHIR media type. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}

/** A request the client got wrong in a way that is not FHIR-specific (bad encoding, too large). */
export class BadRequest extends Error {
  constructor(message: string, readonly status = 400) {
    super(message);
  }
}

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new BadRequest('request body too large', 413);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const escapeXml = (s: string): string =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * A FHIR-XML-shaped rendering of a JSON resource: primitives become `value` attributes and
 * nested resources are wrapped in their type element. Enough to look like Epic's XML
 * (and to break a client that forgot `Accept`), not a full FHIR XML serializer.
 */
function toXml(resource: object): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n${resourceXml(resource as Record<string, unknown>, ' xmlns="http://hl7.org/fhir"')}`;
}

function resourceXml(resource: Record<string, unknown>, ns = ''): string {
  const type = typeof resource.resourceType === 'string' ? resource.resourceType : 'Resource';
  return `<${type}${ns}>${Object.entries(resource).filter(([k]) => k !== 'resourceType').map(([k, v]) => elementXml(k, v)).join('')}</${type}>`;
}

function elementXml(name: string, value: unknown): string {
  if (Array.isArray(value)) return value.map((v) => elementXml(name, v)).join('');
  if (value === null || value === undefined) return '';
  if (typeof value !== 'object') return `<${name} value="${escapeXml(String(value))}"/>`;
  const obj = value as Record<string, unknown>;
  if (typeof obj.resourceType === 'string') return `<${name}>${resourceXml(obj)}</${name}>`;
  return `<${name}>${Object.entries(obj).map(([k, v]) => elementXml(k, v)).join('')}</${name}>`;
}
