import { FakeServer } from './fake-server.js';

/**
 * A real HTTP server that records POSTed bodies and answers with a programmable status:
 * a {@link FakeServer} whose handler asks `respond` for the status.
 */
export class HttpSink {
  readonly bodies: string[] = [];
  /** Decides the status for each request (default 200). */
  respond: (body: string, n: number) => { status: number; headers?: Record<string, string> } = () => ({ status: 200 });
  private readonly server = new FakeServer();

  constructor() {
    this.server.handler = ({ body }, res, n) => {
      const { status, headers } = this.respond(body, n);
      if (status >= 200 && status < 300) this.bodies.push(body);
      res.writeHead(status, headers).end(status < 300 ? 'ok' : 'nope');
    };
  }

  /** How many requests have arrived (successful or not). */
  get requests(): number {
    return this.server.requests.length;
  }

  async start(): Promise<string> {
    return `${await this.server.start()}/in`;
  }

  close(): Promise<void> {
    return this.server.close();
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
