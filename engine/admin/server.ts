import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { splitListen, type AdminConfig, type AdminRole } from '../../config/schema.js';
import { ChannelStateError, type Engine, type ReloadResult } from '../engine.js';
import type { Logger } from '../log.js';
import { MessageNotFoundError } from '../store/index.js';
import { AuditLog, type AuditEntry } from './audit.js';
import { allows, TokenAuth, type Caller } from './auth.js';
import { AuthFailureLimiter } from './limiter.js';

/** What a reload found in the channel files: errors (nothing was changed) or the result. */
export type ReloadOutcome = { readonly errors: string[] } | { readonly result: ReloadResult };

export interface AdminServerOptions {
  readonly engine: Engine;
  readonly config: AdminConfig;
  readonly logger: Logger;
  /** Reads the channel files again and applies them (engine.reload), or reports their errors. */
  readonly reload: () => Promise<ReloadOutcome>;
  /** Default: audit.jsonl in the engine's data directory. */
  readonly auditFile?: string;
}

/** An answer with its status; thrown by a handler to answer early. */
class Reply {
  constructor(readonly status: number, readonly body: unknown) {}
}

interface Route {
  readonly method: 'GET' | 'POST';
  readonly pattern: RegExp;
  readonly role: AdminRole;
  readonly action: string;
  readonly handle: (m: RegExpExecArray, caller: Caller) => Promise<unknown>;
}

/**
 * The admin HTTP API: channel control and reprocess on the running engine, behind bearer
 * tokens with roles, every request written to the audit log. Answers are JSON; message
 * content never appears in them or in the audit log.
 */
export class AdminServer {
  private readonly server: http.Server;
  private readonly auth: TokenAuth;
  private readonly limiter: AuthFailureLimiter;
  readonly audit: AuditLog;
  private readonly routes: readonly Route[];

  constructor(private readonly options: AdminServerOptions) {
    const { engine, config } = options;
    this.auth = new TokenAuth(config.tokens);
    this.limiter = new AuthFailureLimiter(config.lockout?.failures ?? 10, config.lockout?.window ?? 60_000);
    this.audit = new AuditLog(options.auditFile ?? path.join(engine.config.dataDir, 'audit.jsonl'));
    const channel = (name: string) => {
      const c = engine.channel(decodeURIComponent(name));
      if (!c) throw new Reply(404, { error: `no channel named "${decodeURIComponent(name)}"` });
      return c;
    };
    this.routes = [
      {
        method: 'GET', pattern: /^\/api\/channels$/, role: 'viewer', action: 'channel.list',
        handle: async () => engine.list().map((c) => ({
          name: c.name, state: c.state, backlog: c.backlog(), source: c.def.source.describe(), destinations: c.def.destinations.map((d) => d.name),
        })),
      },
      ...(['start', 'stop', 'pause'] as const).map((verb): Route => ({
        method: 'POST', pattern: new RegExp(`^/api/channels/([^/]+)/${verb}$`), role: 'operator', action: `channel.${verb}`,
        handle: async (m) => {
          const c = channel(m[1]!);
          await c[verb]();
          return { name: c.name, state: c.state };
        },
      })),
      {
        method: 'POST', pattern: /^\/api\/channels\/([^/]+)\/undeploy$/, role: 'admin', action: 'channel.undeploy',
        handle: async (m) => {
          const c = channel(m[1]!);
          await engine.undeploy(c.name);
          return { name: c.name, state: 'undeployed' };
        },
      },
      {
        method: 'POST', pattern: /^\/api\/reload$/, role: 'admin', action: 'channels.reload',
        handle: async () => {
          const outcome = await options.reload();
          if ('errors' in outcome) throw new Reply(400, { error: 'the channel files have errors; nothing was changed', errors: outcome.errors });
          if (outcome.result.failed.length) throw new Reply(500, { error: 'some channels could not be deployed', ...outcome.result });
          return outcome.result;
        },
      },
      {
        method: 'POST', pattern: /^\/api\/messages\/([0-9A-Za-z]+)\/reprocess$/, role: 'operator', action: 'message.reprocess',
        handle: async (m, caller) => {
          await engine.reprocess(m[1]!, `reprocess requested by ${caller.name} (admin API)`);
          return { id: m[1], reprocessed: true };
        },
      },
    ];
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
      // Nothing a client sends may end the process: any failure here is a 500 for that request.
      this.serve(req, res).catch((error: unknown) => {
        this.options.logger.error({ err: (error as Error).message }, 'admin request failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'internal error' }));
      });
    };
    this.server = config.tls
      ? https.createServer({ cert: config.tls.cert, key: config.tls.key, ...(config.tls.ca ? { ca: config.tls.ca, requestCert: true, rejectUnauthorized: true } : {}) }, handler)
      : http.createServer(handler);
    this.server.headersTimeout = 10_000;
    this.server.requestTimeout = 60_000;
    this.server.maxHeadersCount = 50;
  }

  private changing: Promise<unknown> = Promise.resolve();

  /** Runs `work` after every change requested before it has finished. */
  private serialised<T>(work: () => Promise<T>): Promise<T> {
    const run = this.changing.then(work, work);
    this.changing = run.catch(() => undefined);
    return run;
  }

  /** Listens on config.listen; resolves with the port (useful with port 0). */
  start(): Promise<number> {
    const { host, port } = splitListen(this.options.config.listen);
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host.replace(/^\[(.*)\]$/, '$1'), () => {
        this.server.off('error', reject);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  /** Stops listening; a change in progress (a reload, say) finishes first, before the engine stops. */
  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
    await this.changing;
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const peer = req.socket.remoteAddress;
    const answer = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
    };
    let url: URL;
    let target: string | undefined;
    try {
      url = new URL(req.url ?? '/', 'http://admin');
      target = /^\/api\/(?:channels|messages)\/([^/]+)\//.exec(url.pathname)?.[1];
      if (target !== undefined) target = decodeURIComponent(target);
    } catch {
      req.resume();
      return answer(400, { error: 'malformed request path' });
    }
    // No request here has a body: refuse one rather than read it.
    if (Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding']) {
      req.resume();
      return answer(413, { error: 'requests to the admin API have no body' });
    }
    if (url.pathname === '/health' && req.method === 'GET') return answer(200, { status: 'ok' });
    const matching = this.routes.filter((r) => r.pattern.test(url.pathname));
    if (matching.length === 0) return answer(404, { error: `no such endpoint: ${url.pathname}` });
    const route = matching.find((r) => r.method === req.method);
    if (!route) {
      res.setHeader('allow', [...new Set(matching.map((r) => r.method))].join(', '));
      return answer(405, { error: `${req.method} is not allowed here` });
    }
    const match = route.pattern.exec(url.pathname)!;
    const from = peer ?? '-';
    const wait = this.limiter.blockedFor(from);
    // Past the lockout, the token is not even looked at.
    const caller = wait > 0 ? undefined : this.auth.authenticate(req.headers.authorization);
    const audit = (outcome: AuditEntry['outcome'], detail?: string) =>
      this.audit.record({ actor: caller?.name ?? '-', role: caller?.role, action: route.action, target, outcome, peer, detail });
    try {
      if (wait > 0) {
        await audit('denied', `locked out: ${this.limiter.maxFailures} failed authentications from this address within ${this.limiter.windowMs} ms`);
        res.setHeader('retry-after', String(Math.max(1, Math.ceil(wait / 1000))));
        return answer(429, { error: 'too many failed authentications from this address; try again later' });
      }
      if (!caller) {
        this.limiter.failed(from);
        await audit('denied', 'no valid token');
        res.setHeader('www-authenticate', 'Bearer realm="sluice-admin"');
        return answer(401, { error: 'a valid bearer token is required' });
      }
      if (!allows(caller.role, route.role)) {
        await audit('denied', `role ${caller.role} may not; needs ${route.role}`);
        return answer(403, { error: `${route.action} needs the ${route.role} role (you are ${caller.role})` });
      }
      // Recorded before it is done: an action the audit log cannot hold is not done at all.
      await audit('requested');
    } catch (error) {
      this.options.logger.error({ err: (error as Error).message, action: route.action }, 'admin audit log write failed');
      return answer(503, { error: 'audit log unavailable' });
    }
    let body: unknown;
    let status = 200;
    try {
      // One change at a time: two reloads (or a stop during a reload) must not interleave.
      body = route.method === 'GET' ? await route.handle(match, caller) : await this.serialised(() => route.handle(match, caller));
    } catch (error) {
      if (error instanceof Reply) ({ status, body } = error);
      else if (error instanceof MessageNotFoundError) [status, body] = [404, { error: error.message }];
      else if (error instanceof ChannelStateError) [status, body] = [409, { error: error.message }];
      else [status, body] = [500, { error: (error as Error).message }];
    }
    await audit(status < 400 ? 'ok' : 'failed', status < 400 ? undefined : `HTTP ${status}`).catch((error: unknown) => {
      this.options.logger.error({ err: (error as Error).message, action: route.action }, 'admin audit log write failed');
    });
    if (route.method === 'POST') this.options.logger.info({ actor: caller.name, action: route.action, target, status }, 'admin request');
    answer(status, body);
  }
}
