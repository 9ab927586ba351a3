import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, sendJson } from './http.js';
import type { EpicSim, JSONWebKeySet, LaunchContext, SimClient, SimFaults } from './types.js';

/**
 * The test-control API under `/_sim/` — outside the FHIR base, plain `application/json`
 * (never a FHIR media type) and refused unless the caller sends `X-Sim-Control: 1` on writes,
 * so no FHIR client can hit it by accident.
 */
export async function handleControl(req: IncomingMessage, res: ServerResponse, path: string, sim: EpicSim): Promise<number> {
  const method = req.method ?? 'GET';
  try {
    if (method === 'POST' && req.headers['x-sim-control'] !== '1') {
      return send(res, 403, { error: 'control writes need the header X-Sim-Control: 1' });
    }
    if (path === '/_sim/faults' && method === 'GET') return send(res, 200, sim.faults());
    if (path === '/_sim/faults' && method === 'POST') {
      // setFaults validates (FaultInjector.set): a bad update throws, answered 400 below.
      sim.setFaults(JSON.parse(await readBody(req)) as Partial<SimFaults>);
      return send(res, 200, sim.faults());
    }
    if (path === '/_sim/counts' && method === 'GET') return send(res, 200, sim.counts());
    if (path === '/_sim/patients' && method === 'GET') return send(res, 200, sim.patientIds());
    if (path === '/_sim/launch' && method === 'POST') {
      const body = JSON.parse((await readBody(req)) || '{}') as LaunchContext;
      const context: LaunchContext = {};
      if (typeof body.patient === 'string') context.patient = body.patient;
      if (typeof body.encounter === 'string') context.encounter = body.encounter;
      return send(res, 200, { launch: sim.createLaunch(context), iss: sim.fhirBase });
    }
    if (path === '/_sim/clients' && method === 'POST') {
      sim.registerClient(parseClient(JSON.parse(await readBody(req))));
      return send(res, 201, { registered: true });
    }
    return send(res, 404, { error: `unknown control endpoint ${method} ${path}` });
  } catch (err) {
    return send(res, 400, { error: (err as Error).message });
  }
}

function send(res: ServerResponse, status: number, body: unknown): number {
  sendJson(res, status, body);
  return status;
}

function parseClient(input: unknown): SimClient {
  const c = input as Partial<SimClient> | null;
  if (!c || typeof c.clientId !== 'string' || c.clientId.length === 0) throw new Error('clientId is required');
  const strings = (v: unknown, name: string): string[] | undefined => {
    if (v === undefined) return undefined;
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string')) throw new Error(`${name} must be a list of strings`);
    return v as string[];
  };
  const client: SimClient = { clientId: c.clientId };
  if (c.jwks !== undefined) {
    if (!Array.isArray((c.jwks as JSONWebKeySet | undefined)?.keys)) throw new Error('jwks must be {"keys": [...]}');
    client.jwks = c.jwks;
  }
  if (typeof c.jwksUrl === 'string') client.jwksUrl = c.jwksUrl;
  const redirectUris = strings(c.redirectUris, 'redirectUris');
  if (redirectUris) client.redirectUris = redirectUris;
  const scopes = strings(c.scopes, 'scopes');
  if (scopes) client.scopes = scopes;
  if (typeof c.confidential === 'boolean') client.confidential = c.confidential;
  if (typeof c.clientSecret === 'string') client.clientSecret = c.clientSecret;
  return client;
}
