import http from 'node:http';
import { z } from 'zod';
import { registerComponent } from '../../registry.js';
import type { Intake, Source } from '../types.js';

const schema = z.object({
  port: z.number().int().min(0).max(65535),
  host: z.string().default('127.0.0.1'),
  path: z.string().default('/').describe('URL path that accepts POSTed messages'),
  maxBodyBytes: z.number().int().positive().default(16 * 1024 * 1024),
  maxConnections: z.number().int().positive().default(256).describe('connections at once; more are closed at once (bounds the requests that wait while the channel backlog is full)'),
}).strict();

registerComponent({
  kind: 'source', name: 'http',
  description: 'HTTP listener: POST an HL7 v2 message; 200 with the ACK when stored, 422 when rejected, 503 when it could not be stored.',
  schema,
  example: 'http: { port: 8081, path: /hl7 }',
  create: (o, ctx): Source => {
    let server: http.Server | undefined;
    /** Set by stop(): answers close their connection, so keep-alive clients cannot hold close() open. */
    let stopping: http.Server | undefined;
    const handle = (intake: Intake) => (req: http.IncomingMessage, res: http.ServerResponse): void => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname !== o.path) { res.writeHead(404).end(); return; }
      if (req.method !== 'POST') { res.writeHead(405, { allow: 'POST' }).end(); return; }
      const chunks: Buffer[] = [];
      let size = 0;
      let tooLarge = false;
      req.on('data', (c: Buffer) => {
        if (tooLarge) return;
        size += c.length;
        if (size <= o.maxBodyBytes) { chunks.push(c); return; }
        // Answer at once and close the connection afterwards. Destroying the request here
        // would reset the socket before the 413 goes out: the client would only see a reset.
        // The rest of the upload is read and dropped; a client that keeps sending after the
        // answer is cut off shortly after.
        tooLarge = true;
        chunks.length = 0;
        res.writeHead(413, { connection: 'close', 'content-type': 'text/plain' }).end(`body larger than ${o.maxBodyBytes} bytes\n`);
        res.once('finish', () => { setTimeout(() => req.socket.destroy(), 1_000).unref(); });
      });
      req.on('end', () => {
        if (tooLarge) return;
        intake(Buffer.concat(chunks), { kind: 'http', peer: `${req.socket.remoteAddress}:${req.socket.remotePort}` }).then((outcome) => {
          const code = outcome.status === 'accepted' ? 200 : outcome.status === 'rejected' ? 422 : 503;
          if (stopping) {
            res.setHeader('connection', 'close');
            res.once('finish', () => stopping?.closeIdleConnections());
          }
          res.writeHead(code, { 'content-type': outcome.ack ? 'x-application/hl7-v2+er7' : 'text/plain; charset=utf-8', ...(outcome.messageId ? { 'x-sluice-message-id': outcome.messageId } : {}) });
          res.end(outcome.ack ?? outcome.text ?? '');
        }, (err: unknown) => {
          ctx.logger.error({ err: (err as Error).message }, 'http intake failed');
          res.writeHead(503).end('not stored');
        });
      });
    };
    return {
      describe: () => `http ${o.host}:${(server?.address() as { port?: number } | null)?.port ?? o.port}${o.path}`,
      async start(intake) {
        const s = http.createServer(handle(intake));
        s.maxConnections = o.maxConnections;
        server = s;
        await new Promise<void>((resolve, reject) => { s.once('error', reject); s.listen(o.port, o.host, () => resolve()); });
      },
      async stop() {
        const s = server;
        server = undefined;
        stopping = s;
        if (s) await new Promise<void>((resolve) => { s.close(() => resolve()); s.closeIdleConnections(); });
        stopping = undefined;
      },
    };
  },
});
