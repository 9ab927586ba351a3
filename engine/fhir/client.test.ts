import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeServer, sendJson } from '../../test/helpers/fake-server.js';
import { TokenManager } from './auth/manager.js';
import type { Grant, TokenResponse } from './auth/token.js';
import { FhirClient, splitEntries, type Bundle } from './client.js';
import { FhirHttp } from './http.js';
import { FhirError, redactUrl } from './outcome.js';
import { parseCapabilityStatement } from './capabilities.js';
import { search } from './planner.js';
import { localReference } from './references.js';

let server: FakeServer;
let other: FakeServer;
let http: FhirHttp;
beforeEach(async () => {
  server = new FakeServer();
  other = new FakeServer();
  await server.start();
  await other.start();
  http = new FhirHttp({ retry: { initialBackoffMs: 10, maxBackoffMs: 20 } });
});
afterEach(async () => {
  await http.close();
  await server.close();
  await other.close();
});

/** A grant backed by the fake server's /token endpoint (real HTTP, no key needed). */
function fakeGrant(tokenUrl: string): Grant {
  const post = async (): Promise<TokenResponse> => JSON.parse((await http.request({ method: 'POST', url: tokenUrl, body: '' })).text) as TokenResponse;
  return { flow: 'backend', obtain: post, context: () => undefined } satisfies Grant;
}

function bundle(entries: object[], next?: string): Bundle {
  return { resourceType: 'Bundle', entry: entries as Bundle['entry'], ...(next ? { link: [{ relation: 'next', url: next }] } : {}) };
}

describe('FhirClient paging', () => {
  it('follows next links to the end and sends the token only to the base origin', async () => {
    server.handler = (req, res) => {
      if (req.path === '/token') return sendJson(res, 200, { access_token: 'secret-token', token_type: 'bearer', expires_in: 300 });
      if (req.path.startsWith('/fhir/Observation?patient')) return sendJson(res, 200, bundle([{ resource: { resourceType: 'Observation', id: 'o1' } }], `${server.url}/fhir/Observation?sessionID=abc`));
      sendJson(res, 200, bundle([{ resource: { resourceType: 'Observation', id: 'o2' } }], `${other.url}/elsewhere`));
    };
    other.handler = (_req, res) => sendJson(res, 200, bundle([{ resource: { resourceType: 'Observation', id: 'o3' } }]));
    const client = new FhirClient({ base: `${server.url}/fhir`, http, tokens: new TokenManager(fakeGrant(`${server.url}/token`)) });
    const ids: string[] = [];
    for await (const page of client.pages('Observation?patient=1&code=x')) ids.push(...splitEntries(page).matches.map((r) => r.id!));
    expect(ids).toEqual(['o1', 'o2', 'o3']);
    expect(server.requests.filter((r) => r.path.startsWith('/fhir')).every((r) => r.headers.authorization === 'Bearer secret-token')).toBe(true);
    expect(other.requests[0]!.headers.authorization).toBeUndefined();
  });

  it('stops a paging loop instead of spinning', async () => {
    server.handler = (_req, res) => sendJson(res, 200, bundle([], `${server.url}/fhir/Observation?sessionID=same`));
    const client = new FhirClient({ base: `${server.url}/fhir`, http });
    const pages = async () => {
      for await (const _ of client.pages('Observation?patient=1')) void _;
    };
    await expect(pages()).rejects.toThrow(/paging loop/);
    expect(server.requests).toHaveLength(2);
  });

  it('stops after maxPages when the server keeps handing out new cursors', async () => {
    server.handler = (_req, res, n) => sendJson(res, 200, bundle([], `${server.url}/fhir/Observation?sessionID=c${n}`));
    const client = new FhirClient({ base: `${server.url}/fhir`, http, maxPages: 5 });
    const pages = async () => {
      for await (const _ of client.pages('Observation?patient=1')) void _;
    };
    await expect(pages()).rejects.toThrow(/search stopped after 5 pages \(limits\.maxPages\)/);
    expect(server.requests).toHaveLength(5);
  });

  it('redacts resource ids from URLs but keeps types, operations and the base', () => {
    expect(redactUrl('https://h/api/FHIR/R4/Patient/e63wRTbPfr1p8UW81d8Seiw3?x=1')).toBe('https://h/api/FHIR/R4/Patient/{id}');
    expect(redactUrl('https://h/fhir/Observation/o%2F1/_history/2')).toBe('https://h/fhir/Observation/{id}/_history/{id}');
    expect(redactUrl('https://h/fhir/Patient/123/$everything')).toBe('https://h/fhir/Patient/{id}/$everything');
    expect(redactUrl('https://h/fhir/Patient/123/Observation')).toBe('https://h/fhir/Patient/{id}/Observation');
    expect(redactUrl('https://h/fhir/Observation/_search')).toBe('https://h/fhir/Observation/_search');
  });

  it('keeps server diagnostics out of error messages but on the error', async () => {
    server.handler = (_req, res) => sendJson(res, 404, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found', diagnostics: 'Patient/p-42 not found' }] });
    const client = new FhirClient({ base: `${server.url}/fhir`, http });
    const err = (await client.read('Patient', 'p-42').catch((e: unknown) => e)) as FhirError;
    expect(err).toBeInstanceOf(FhirError);
    expect(err.message).toBe(`GET ${server.url}/fhir/Patient/{id} failed: HTTP 404 (error not-found)`);
    expect(err.issues[0]!.diagnostics).toBe('Patient/p-42 not found');
    expect(err.messageWithServerText()).toMatch(/p-42 not found/);
  });

  it('separates server warnings (OperationOutcome entries) from matches and includes', () => {
    const split = splitEntries(bundle([
      { resource: { resourceType: 'Observation', id: 'o' }, search: { mode: 'match' } },
      { resource: { resourceType: 'Patient', id: 'p' }, search: { mode: 'include' } },
      { resource: { resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'processing', diagnostics: 'No resources found' }] }, search: { mode: 'outcome' } },
    ]));
    expect(split.matches.map((r) => r.id)).toEqual(['o']);
    expect(split.included.map((r) => r.id)).toEqual(['p']);
    expect(split.warnings).toEqual([{ code: 'server-processing', message: 'No resources found' }]);
  });
});

describe('planner include rewriting against a plain server', () => {
  const statement = {
    resourceType: 'CapabilityStatement',
    rest: [{
      mode: 'server',
      resource: [
        { type: 'Observation', interaction: [{ code: 'search-type' }, { code: 'read' }], searchParam: [{ name: 'patient', type: 'reference' }, { name: 'code', type: 'token' }] },
        { type: 'Patient', interaction: [{ code: 'read' }] },
        { type: 'Practitioner', interaction: [{ code: 'read' }, { code: 'search-type' }], searchParam: [{ name: '_id', type: 'token' }] },
      ],
    }],
  };

  it('reads referenced resources once, batches by _id where declared, and skips missing ones with a warning', async () => {
    const caps = parseCapabilityStatement(statement);
    const base = `${server.url}/fhir`;
    server.handler = (req, res) => {
      if (req.path.startsWith('/fhir/Observation?')) {
        expect(req.path).not.toContain('_include');
        return sendJson(res, 200, bundle([
          { resource: { resourceType: 'Observation', id: 'o1', subject: { reference: 'Patient/p1' }, performer: [{ reference: `${base}/Practitioner/d1` }] } },
          { resource: { resourceType: 'Observation', id: 'o2', subject: { reference: 'Patient/p1' }, performer: [{ reference: 'Practitioner/d2' }, { reference: 'https://other.example/Practitioner/x' }] } },
          { resource: { resourceType: 'Observation', id: 'o3', subject: { reference: 'Patient/gone' } } },
        ]));
      }
      if (req.path === '/fhir/Patient/p1') return sendJson(res, 200, { resourceType: 'Patient', id: 'p1' });
      if (req.path.startsWith('/fhir/Practitioner?_id=')) return sendJson(res, 200, bundle([{ resource: { resourceType: 'Practitioner', id: 'd1' } }]));
      if (req.path === '/fhir/Practitioner/d2') return sendJson(res, 200, { resourceType: 'Practitioner', id: 'd2' });
      sendJson(res, 404, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found' }] });
    };
    const client = new FhirClient({ base, http });
    const warnings: string[] = [];
    const items: string[] = [];
    for await (const item of search(client, caps, 'Observation?patient=p1&code=x&_include=Observation:patient&_include=Observation:performer', { onWarning: (w) => warnings.push(w.code) })) {
      items.push(`${item.mode}:${item.resource.resourceType}/${item.resource.id}`);
    }
    expect(items.slice(0, 3)).toEqual(['match:Observation/o1', 'match:Observation/o2', 'match:Observation/o3']);
    expect(new Set(items.slice(3))).toEqual(new Set(['include:Patient/p1', 'include:Practitioner/d1', 'include:Practitioner/d2']));
    expect(warnings.filter((w) => w === 'include-rewritten')).toHaveLength(2);
    expect(warnings).toContain('include-missing');
    expect(warnings).toContain('include-unresolvable');
    const paths = server.requests.map((r) => r.path);
    expect(paths.filter((p) => p === '/fhir/Patient/p1')).toHaveLength(1);
    expect(paths.filter((p) => p.startsWith('/fhir/Practitioner?_id='))).toEqual(['/fhir/Practitioner?_id=d1,d2&_count=2']);
  });

  it('normalises references to Type/id on this server only', () => {
    expect(localReference('Patient/1', 'https://a/fhir')).toBe('Patient/1');
    expect(localReference('https://a/fhir/Patient/1/_history/3', 'https://a/fhir')).toBe('Patient/1');
    expect(localReference('https://b/fhir/Patient/1', 'https://a/fhir')).toBeUndefined();
    expect(localReference('#contained', 'https://a/fhir')).toBeUndefined();
  });

  it('raises a FhirError for a failed search, not a partial result', async () => {
    server.handler = (_req, res) => sendJson(res, 403, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'forbidden' }] });
    const client = new FhirClient({ base: `${server.url}/fhir`, http });
    const run = async () => {
      for await (const _ of search(client, parseCapabilityStatement(statement), 'Observation?patient=1&code=x')) void _;
    };
    await expect(run()).rejects.toBeInstanceOf(FhirError);
  });
});
