import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { smartConfiguration } from './capability.js';
import { handleControl } from './control.js';
import { Counters } from './counters.js';
import { generateData } from './data.js';
import { FaultInjector } from './faults.js';
import { FhirApi } from './fhir.js';
import { silentLogger } from '../log.js';
import { BadRequest, negotiate, outcome, sendFhir, sendJson } from './http.js';
import { OAuthServer } from './oauth.js';
import { SimStore } from './store.js';
import { TokenStore } from './tokens.js';
import type { EpicSim, EpicSimOptions, SimClient } from './types.js';

export type { EpicSim, EpicSimOptions, LaunchContext, SimClient, SimCounts, SimFaults } from './types.js';

export const FHIR_PATH = '/api/FHIR/R4';

/** Starts an Epic-like FHIR server with SMART auth on 127.0.0.1 (see docs/SIMULATOR.md). */
export async function startEpicSim(options: EpicSimOptions = {}): Promise<EpicSim> {
  const clock = options.clock ?? Date.now;
  const seed = options.seed ?? 1;
  const logger = options.logger ?? silentLogger;
  const counters = new Counters();
  const clients = new Map<string, SimClient>((options.clients ?? []).map((c) => [c.clientId, c]));
  const faults = new FaultInjector(seed, options.faults, clock);
  const store = new SimStore();
  for (const resource of generateData({
    seed,
    patients: options.patients ?? 10,
    observationsPerPatient: options.observationsPerPatient ?? 20,
    messy: options.messy ?? false,
  })) await store.put(resource);

  const server = http.createServer();
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const fhirBase = `${url}${FHIR_PATH}`;
  const tokenUrl = `${url}/oauth2/token`;
  const authorizeUrl = `${url}/oauth2/authorize`;
  const tokens = new TokenStore(clock, options.tokenLifetimeSeconds ?? 300);
  const oauth = new OAuthServer({ clock, tokenUrl, fhirBase, clients, tokens, counters, pickPatient: () => store.patientIds()[0] });
  const fhir = new FhirApi({
    fhirBase, tokenUrl, authorizeUrl, clock, store, tokens, counters,
    supportsInclude: options.supportsInclude ?? false,
    pageSize: options.pageSize ?? 100,
  });

  const sim: EpicSim = {
    url, fhirBase, tokenUrl, authorizeUrl,
    registerClient: (c) => void clients.set(c.clientId, c),
    setFaults: (f) => faults.set(f),
    faults: () => faults.faults,
    counts: () => counters.snapshot(store.resourceCounts(), store.patientIds().length),
    patientIds: () => store.patientIds(),
    createLaunch: (context = {}) => tokens.createLaunch(context),
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };

  const route = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<unknown> => {
    const reqUrl = new URL(req.url ?? '/', url);
    const path = reqUrl.pathname;
    if (path.startsWith('/_sim/')) return handleControl(req, res, path, sim);
    if (path === '/oauth2/token' && req.method === 'POST') return void (await oauth.token(req, res));
    if (path === '/oauth2/authorize') return void (await oauth.authorize(req, res, reqUrl));
    if (path === `${FHIR_PATH}/.well-known/smart-configuration` || path === '/.well-known/smart-configuration') {
      sendJson(res, 200, smartConfiguration(tokenUrl, authorizeUrl));
      return 200;
    }
    if (path === FHIR_PATH || path.startsWith(`${FHIR_PATH}/`)) {
      const rest = path.slice(FHIR_PATH.length);
      // Faults hit the API, never the bootstrap documents a client needs to recover.
      if (rest !== '/metadata') {
        const fault = faults.decide();
        if (fault.kind === 'drop') {
          counters.dropped++;
          req.socket.destroy();
          return undefined;
        }
        const format = negotiate(req.headers.accept, reqUrl.searchParams.get('_format'));
        if (fault.kind === 'throttle') {
          counters.throttled++;
          sendFhir(res, 429, outcome('throttled', 'Too many requests'), format, { 'retry-after': fault.retryAfter });
          return 429;
        }
        if (fault.kind === 'unavailable') {
          counters.unavailable++;
          sendFhir(res, 503, outcome('transient', 'Service temporarily unavailable'), format, { 'retry-after': fault.retryAfter });
          return 503;
        }
        const slowMs = faults.faults.slowMs;
        if (slowMs > 0) await new Promise((r) => setTimeout(r, slowMs));
      }
      return fhir.handle(req, res, rest, reqUrl);
    }
    sendJson(res, 404, { error: 'not found' });
    return 404;
  };

  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    // Control calls are not traffic: they are left out of the request and status counts.
    const isControl = (req.url ?? '').startsWith('/_sim/');
    if (!isControl) counters.requests++;
    route(req, res).then(
      () => { if (!isControl && res.headersSent) counters.status(res.statusCode); },
      (err: unknown) => {
        const status = err instanceof BadRequest ? err.status : 500;
        if (status === 500) logger.error({ err, method: req.method, path: new URL(req.url ?? '/', url).pathname }, 'simulator error');
        if (!res.headersSent) sendJson(res, status, { error: status === 500 ? 'internal simulator error' : (err as Error).message });
        else res.destroy();
        if (!isControl) counters.status(status);
      },
    );
  });
  return sim;
}
