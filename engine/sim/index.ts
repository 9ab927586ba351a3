import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { silentLogger } from '../log.js';
import { EPIC_ASSERTION_ALGS } from './assertion.js';
import { Counters } from './counters.js';
import { generateData } from './data.js';
import { FaultInjector } from './faults.js';
import { FhirApi } from './fhir.js';
import { OAuthServer } from './oauth.js';
import { FHIR_PATH, requestListener } from './server.js';
import { MAX_PAGE_SIZE } from './search.js';
import { SimStore } from './store.js';
import { TokenStore } from './tokens.js';
import type { EpicSim, EpicSimOptions, SimClient } from './types.js';

export type { EpicSim, EpicSimOptions, LaunchContext, SimClient, SimCounts, SimFaults } from './types.js';

export { FHIR_PATH };

/** Starts an Epic-like FHIR server with SMART auth on 127.0.0.1 (see docs/SIMULATOR.md). */
export async function startEpicSim(options: EpicSimOptions = {}): Promise<EpicSim> {
  const clock = options.clock ?? Date.now;
  const seed = options.seed ?? 1;
  const logger = options.logger ?? silentLogger;
  const assertionAlgorithms = options.assertionAlgorithms ?? EPIC_ASSERTION_ALGS;
  const counters = new Counters();
  const clients = new Map<string, SimClient>((options.clients ?? []).map((c) => [c.clientId, c]));
  const faults = new FaultInjector(seed, options.faults);
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
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const url = options.publicUrl?.replace(/\/+$/, '') ?? `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const fhirBase = `${url}${FHIR_PATH}`;
  const tokenUrl = `${url}/oauth2/token`;
  const authorizeUrl = `${url}/oauth2/authorize`;
  const tokens = new TokenStore(clock, options.tokenLifetimeSeconds ?? 300);
  const oauth = new OAuthServer({ clock, tokenUrl, fhirBase, clients, tokens, counters, pickPatient: () => store.patientIds()[0], assertionAlgorithms });
  const fhir = new FhirApi({
    fhirBase, tokenUrl, authorizeUrl, clock, store, tokens, counters,
    supportsInclude: options.supportsInclude ?? false,
    // At least 1 (a zero page would never advance), at most Epic's 1000.
    pageSize: Math.min(MAX_PAGE_SIZE, Math.max(1, Math.floor(options.pageSize ?? 100))),
  });

  const sim: EpicSim = {
    port: (server.address() as AddressInfo).port,
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

  server.on('request', requestListener({ sim, oauth, fhir, faults, counters, logger, assertionAlgorithms }));
  return sim;
}
