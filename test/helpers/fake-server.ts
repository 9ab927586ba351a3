import http from 'node:http';

/**
 * A real HTTP server on 127.0.0.1 whose answers a test programs, recording every request
 * (arrival time, method, path, headers, body) for assertions.
 */
export interface Recorded {
  readonly at: number;
  readonly method: string;
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

export type Handler = (req: Recorded, res: http.ServerResponse, n: number) => void;

export class FakeServer {
  readonly requests: Recorded[] = [];
  inFlight = 0;
  maxInFlight = 0;
  handler: Handler = (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  private server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rec: Recorded = { at: performance.now(), method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      const n = this.requests.push(rec) - 1;
      this.inFlight++;
      this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
      res.on('close', () => this.inFlight--);
      this.handler(rec, res, n);
    });
  });

  url = '';

  async start(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
    return this.url;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/fhir+json', ...headers }).end(JSON.stringify(body));
}
