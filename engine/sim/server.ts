import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../log.js';
import { smartConfiguration } from './capability.js';
import { handleControl } from './control.js';
import type { Counters } from './counters.js';
import type { FaultInjector } from './faults.js';
import type { FhirApi } from './fhir.js';
import { BadRequest, negotiate, outcome, sendFhir, sendJson } from './http.js';
import type { OAuthServer } from './oauth.js';
import type { EpicSim } from './types.js';

export const FHIR_PATH = '/api/FHIR/R4';

export interface RouterDeps {
  sim: EpicSim;
  oauth: OAuthServer;
  fhir: FhirApi;
  faults: FaultInjector;
  counters: Counters;
  logger: Logger;
  assertionAlgorithms: readonly string[];
}

/** The request listener: routing, faults in front of the FHIR API, and status counting. */
export function requestListener(deps: RouterDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { sim, counters, logger } = deps;
  return (req, res) => {
    const url = new URL(req.url ?? '/', sim.url);
    // Control calls are not traffic: they are left out of the request and status counts.
    const isControl = url.pathname.startsWith('/_sim/');
    if (!isControl) counters.requests++;
    route(deps, req, res, url).then(
      () => { if (!isControl && res.headersSent) counters.status(res.statusCode); },
      (err: unknown) => {
        const status = err instanceof BadRequest ? err.status : 500;
        // Path only: query strings and bodies may carry PHI.
        if (status === 500) logger.error({ err, method: req.method, path: url.pathname }, 'simulator error');
        if (!res.headersSent) sendJson(res, status, { error: status === 500 ? 'internal simulator error' : (err as Error).message });
        else res.destroy();
        if (!isControl) counters.status(status);
      },
    );
  };
}

async function route(deps: RouterDeps, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const { sim, oauth, fhir } = deps;
  const path = url.pathname;
  if (path.startsWith('/_sim/')) {
    await handleControl(req, res, path, sim);
  } else if (path === '/oauth2/token' && req.method === 'POST') {
    await oauth.token(req, res);
  } else if (path === '/oauth2/authorize') {
    await oauth.authorize(req, res, url);
  } else if (path === `${FHIR_PATH}/.well-known/smart-configuration` || path === '/.well-known/smart-configuration') {
    sendJson(res, 200, smartConfiguration(sim.tokenUrl, sim.authorizeUrl, deps.assertionAlgorithms));
  } else if (path === FHIR_PATH || path.startsWith(`${FHIR_PATH}/`)) {
    const rest = path.slice(FHIR_PATH.length);
    // Faults hit the API, never the bootstrap document a client needs to recover.
    if (rest !== '/metadata' && !(await injectFault(deps, req, res, url))) return;
    await fhir.handle(req, res, rest, url);
  } else {
    sendJson(res, 404, { error: 'not found' });
  }
}

/** Applies the configured faults; false when the request was answered (or dropped) here. */
async function injectFault({ faults, counters }: RouterDeps, req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
  const fault = faults.decide();
  const format = negotiate(req.headers.accept, url.searchParams.get('_format'));
  switch (fault.kind) {
    case 'drop':
      counters.dropped++;
      req.socket.destroy();
      return false;
    case 'throttle':
      counters.throttled++;
      sendFhir(res, 429, outcome('throttled', 'Too many requests'), format, { 'retry-after': fault.retryAfter });
      return false;
    case 'unavailable':
      counters.unavailable++;
      sendFhir(res, 503, outcome('transient', 'Service temporarily unavailable'), format, { 'retry-after': fault.retryAfter });
      return false;
    case 'none': {
      const { slowMs } = faults.faults;
      if (slowMs > 0) await new Promise((r) => setTimeout(r, slowMs));
      return true;
    }
  }
}
