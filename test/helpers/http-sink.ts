import http from 'node:http';

/** A real HTTP server that records POSTed bodies and answers with a programmable status. */
export class HttpSink {
  readonly bodies: string[] = [];
  /** Decides the status for each request (default 200). */
  respond: (body: string, n: number) => { status: number; headers?: Record<string, string> } = () => ({ status: 200 });
  private server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const { status, headers } = this.respond(body, this.requests++);
      if (status >= 200 && status < 300) this.bodies.push(body);
      res.writeHead(status, headers).end(status < 300 ? 'ok' : 'nope');
    });
  });
  requests = 0;

  async start(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    return `http://127.0.0.1:${(this.server.address() as { port: number }).port}/in`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** Polls until `check` is true (bounded), for asynchronous delivery. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}
