import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeServer, sendJson } from '../../test/helpers/fake-server.js';
import { FhirHttp } from './http.js';
import { FhirError } from './outcome.js';
import { DEFAULT_RETRY, backoffDelay, parseRetryAfter } from './retry.js';
import { eventually } from '../../test/helpers/http-sink.js';

let server: FakeServer;
let other: FakeServer;
let http: FhirHttp;
const fast = { initialBackoffMs: 20, maxBackoffMs: 100 };

beforeEach(async () => {
  server = new FakeServer();
  other = new FakeServer();
  await server.start();
  await other.start();
});
afterEach(async () => {
  await http?.close();
  await server.close();
  await other.close();
});

describe('FhirHttp', () => {
  it('always asks for application/fhir+json', async () => {
    http = new FhirHttp();
    await http.request({ url: `${server.url}/Patient/1` });
    await http.request({ method: 'POST', url: `${server.url}/Patient`, body: '{}' });
    expect(server.requests.map((r) => r.headers.accept)).toEqual(['application/fhir+json', 'application/fhir+json']);
    expect(server.requests[1]!.headers['content-type']).toBe('application/fhir+json');
  });

  it('honours Retry-After in seconds and as an HTTP-date (measured at the server)', async () => {
    http = new FhirHttp({ retry: fast });
    const announced: number[] = [];
    server.handler = (req, res, n) => {
      if (n === 0) {
        announced.push(1000);
        return sendJson(res, 429, {}, { 'retry-after': '1' });
      }
      if (n === 2) {
        const date = new Date(Date.now() + 1600);
        // The date has whole seconds: the announced wait is what is left of it now.
        announced.push(Math.floor(date.getTime() / 1000) * 1000 - Date.now());
        return sendJson(res, 503, {}, { 'retry-after': date.toUTCString() });
      }
      sendJson(res, 200, { resourceType: 'Patient', id: '1' });
    };
    await http.request({ url: `${server.url}/Patient/1` });
    await http.request({ url: `${server.url}/Patient/1` });
    const [a, b, c, d] = server.requests.map((r) => r.at);
    expect(b! - a!).toBeGreaterThanOrEqual(announced[0]! - 5);
    expect(d! - c!).toBeGreaterThanOrEqual(announced[1]! - 5);
    expect(http.counters).toMatchObject({ requests: 4, retries: 2, throttled: 1, unavailable: 1 });
  });

  it('parses Retry-After forms without NaN', () => {
    const now = Date.parse('Sun, 29 Nov 2026 05:00:00 GMT');
    expect(parseRetryAfter('7', now)).toBe(7000);
    expect(parseRetryAfter('Sun, 29 Nov 2026 05:00:03 GMT', now)).toBe(3000);
    expect(parseRetryAfter('Sun, 29 Nov 2026 04:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter('-1', now)).toBeUndefined();
    expect(parseRetryAfter(' 7 ', now)).toBe(7000);
    expect(parseRetryAfter('', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter('1.5', now)).toBeUndefined();
    expect(parseRetryAfter('12/31/2099', now)).toBeUndefined(); // Date.parse reads it; not an HTTP-date
  });

  it('backs off exponentially, half of each step jittered, capped at maxBackoffMs', () => {
    const policy = { ...DEFAULT_RETRY, initialBackoffMs: 500, maxBackoffMs: 3_000, factor: 2 };
    expect([1, 2, 3, 4, 5].map((r) => backoffDelay(r, policy, () => 0))).toEqual([250, 500, 1_000, 1_500, 1_500]);
    expect([1, 2, 3, 4, 5].map((r) => backoffDelay(r, policy, () => 1))).toEqual([500, 1_000, 2_000, 3_000, 3_000]);
    expect(backoffDelay(1, { ...policy, initialBackoffMs: 3 }, () => 0.5)).toBe(2); // 2.25 rounded
  });

  it('gives up when the announced wait exceeds the total wait budget', async () => {
    http = new FhirHttp({ retry: { ...fast, maxTotalWaitMs: 500 } });
    server.handler = (_req, res) => sendJson(res, 429, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'throttled' }] }, { 'retry-after': '60' });
    const started = performance.now();
    const err = await http.request({ url: `${server.url}/Patient/1` }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FhirError);
    expect((err as FhirError).throttled).toBe(true);
    // No wait at all (not 60 s): the 429 comes back at once.
    expect(performance.now() - started).toBeLessThan(5000);
    expect(http.counters.retries).toBe(0);
  });

  it('backs off exponentially with bounded attempts when there is no Retry-After', async () => {
    http = new FhirHttp({ retry: { ...fast, maxAttempts: 4 } });
    server.handler = (_req, res) => sendJson(res, 503, {});
    const res = await http.send({ url: `${server.url}/x` });
    expect(res.status).toBe(503);
    expect(server.requests).toHaveLength(4);
    const gaps = server.requests.slice(1).map((r, i) => r.at - server.requests[i]!.at);
    // Jittered within [step/2, step] for steps 20, 40, 80 ms.
    expect(gaps[0]).toBeGreaterThanOrEqual(9);
    expect(gaps[2]).toBeGreaterThanOrEqual(39);
  });

  it('turns an OperationOutcome into a typed FhirError without the query string', async () => {
    http = new FhirHttp();
    server.handler = (_req, res) => sendJson(res, 400, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'required', diagnostics: 'code or category is required' }] });
    const err = (await http.request({ url: `${server.url}/Observation?patient=SECRET-MRN` }).catch((e: unknown) => e)) as FhirError;
    expect(err).toBeInstanceOf(FhirError);
    expect(err.status).toBe(400);
    expect(err.issues).toEqual([{ severity: 'error', code: 'required', diagnostics: 'code or category is required' }]);
    expect(err.message).not.toContain('SECRET-MRN');
  });

  it('never forwards Authorization to another origin on redirect', async () => {
    http = new FhirHttp();
    server.handler = (req, res) => {
      if (req.path === '/same') return res.writeHead(307, { location: '/landing' }).end();
      if (req.path === '/away') return res.writeHead(302, { location: `${other.url}/file` }).end();
      sendJson(res, 200, {});
    };
    other.handler = (_req, res) => sendJson(res, 200, {});
    await http.request({ url: `${server.url}/same`, authorization: 'Bearer tok' });
    await http.request({ url: `${server.url}/away`, authorization: 'Bearer tok' });
    expect(server.requests.map((r) => [r.path, r.headers.authorization])).toEqual([['/same', 'Bearer tok'], ['/landing', 'Bearer tok'], ['/away', 'Bearer tok']]);
    expect(other.requests).toHaveLength(1);
    expect(other.requests[0]!.headers.authorization).toBeUndefined();
    expect(http.counters.redirects).toBe(2);
  });

  it('retries dropped connections for GET but not for POST', async () => {
    http = new FhirHttp({ retry: fast });
    server.handler = (_req, res, n) => (n % 2 === 0 ? res.socket?.destroy() : sendJson(res, 200, {}));
    expect((await http.send({ url: `${server.url}/a` })).status).toBe(200);
    expect(http.counters.networkErrors).toBe(1);
    const err = await http.send({ method: 'POST', url: `${server.url}/b`, body: '{}' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FhirError);
    expect((err as FhirError).status).toBe(0);
    expect(server.requests).toHaveLength(3);
  });

  it('times out a stalled body as well as stalled headers', async () => {
    http = new FhirHttp({ timeoutMs: 300, retry: { ...fast, maxAttempts: 2 } });
    server.handler = (req, res) => {
      if (req.path === '/headers') return; // never answers
      res.writeHead(200, { 'content-type': 'application/fhir+json' });
      res.write('{"resourceType":'); // and never finishes
    };
    // Without a body timeout the second send would hang until vitest's test timeout.
    await expect(http.send({ url: `${server.url}/headers` })).rejects.toBeInstanceOf(FhirError);
    await expect(http.send({ url: `${server.url}/body` })).rejects.toBeInstanceOf(FhirError);
    expect(server.requests).toHaveLength(4);
    expect(http.counters.networkErrors).toBe(4);
  });

  it('keeps to the concurrency limit and the rate limit', async () => {
    http = new FhirHttp({ concurrency: 2, ratePerSecond: 20, burst: 1 });
    server.handler = (_req, res) => setTimeout(() => sendJson(res, 200, {}), 30);
    const started = performance.now();
    await Promise.all(Array.from({ length: 10 }, (_, i) => http.request({ url: `${server.url}/r/${i}` })));
    expect(server.maxInFlight).toBeLessThanOrEqual(2);
    // 10 requests at 20/s with a burst of 1: at least 9 intervals of 50 ms.
    expect(performance.now() - started).toBeGreaterThanOrEqual(430);
  });

  it('does not pause the connection for a Retry-After it will not honour', async () => {
    http = new FhirHttp({ retry: { ...fast, maxTotalWaitMs: 500 } });
    server.handler = (_req, res, n) => (n === 0 ? sendJson(res, 429, {}, { 'retry-after': '3600' }) : sendJson(res, 200, {}));
    expect((await http.send({ url: `${server.url}/a` })).status).toBe(429);
    // Before the fix the next request slept the hour out; the test timeout would catch it.
    expect((await http.send({ url: `${server.url}/b` })).status).toBe(200);
    expect(server.requests.map((r) => r.path)).toEqual(['/a', '/b']);
  });

  it('waits out a pause without holding a slot, and lets waiting callers abort or close', async () => {
    http = new FhirHttp({ concurrency: 1, retry: { ...fast, maxTotalWaitMs: 60_000 } });
    server.handler = (_req, res, n) => (n === 0 ? sendJson(res, 429, {}, { 'retry-after': '30' }) : sendJson(res, 200, {}));
    const paused = http.send({ url: `${server.url}/paused` }).catch((e: unknown) => e);
    await eventually(() => server.requests.length === 1);
    const aborter = new AbortController();
    const waiting = http.send({ url: `${server.url}/waiting`, signal: aborter.signal }).catch((e: unknown) => e);
    aborter.abort(new Error('caller gave up'));
    expect(await waiting).toMatchObject({ message: 'caller gave up' });
    await http.close();
    // Closing ends the 30 s pause at once instead of keeping the process alive.
    expect(await paused).toBeInstanceOf(FhirError);
    expect(server.requests).toHaveLength(1);
  });

  it('refuses to carry a body across origins and passes only safe headers there', async () => {
    http = new FhirHttp({ retry: fast });
    server.handler = (req, res) => res.writeHead(307, { location: `${other.url}${req.path}` }).end();
    other.handler = (_req, res) => sendJson(res, 200, {});
    const err = await http.send({ method: 'POST', url: `${server.url}/token`, body: 'refresh_token=secret', headers: { 'content-type': 'application/x-www-form-urlencoded' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FhirError);
    expect((err as Error).message).toMatch(/refused a redirect to another origin/);
    await expect(http.send({ url: `${server.url}/token`, tokenEndpoint: true })).rejects.toThrow(/refused a redirect/);
    expect(other.requests).toHaveLength(0);
    await http.send({ url: `${server.url}/Patient`, authorization: 'Bearer t', headers: { 'x-api-key': 'k', cookie: 'c=1', prefer: 'handling=strict' } });
    expect(other.requests).toHaveLength(1);
    const sent = other.requests[0]!.headers;
    expect(sent).toMatchObject({ accept: 'application/fhir+json', prefer: 'handling=strict' });
    expect(sent).not.toHaveProperty('authorization');
    expect(sent).not.toHaveProperty('x-api-key');
    expect(sent).not.toHaveProperty('cookie');
  });

  it('sends a token-endpoint request once (the grant retries with a new assertion)', async () => {
    http = new FhirHttp({ retry: fast });
    server.handler = (_req, res) => sendJson(res, 503, {}, { 'retry-after': '0' });
    expect((await http.send({ method: 'POST', url: `${server.url}/token`, body: 'x', tokenEndpoint: true })).status).toBe(503);
    expect(server.requests).toHaveLength(1);
  });

  it('takes a fresh authorization for every attempt, after the wait', async () => {
    http = new FhirHttp({ retry: fast });
    server.handler = (_req, res, n) => (n < 2 ? sendJson(res, 429, {}, { 'retry-after': '0' }) : sendJson(res, 200, {}));
    let calls = 0;
    await http.send({ url: `${server.url}/Patient`, authorize: async () => `Bearer t${++calls}` });
    expect(server.requests.map((r) => r.headers.authorization)).toEqual(['Bearer t1', 'Bearer t2', 'Bearer t3']);
  });
});
