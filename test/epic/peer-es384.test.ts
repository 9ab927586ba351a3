import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FhirConnection, fhirConnectionSchema } from '../../engine/fhir/connection.js';
import { FhirHttp } from '../../engine/fhir/http.js';
import { AuthError } from '../../engine/fhir/outcome.js';
import { startEpicSim, type EpicSim } from '../../engine/sim/index.js';
import { backendClient } from './setup.js';

/**
 * Peer check: Sluice's own ES384 assertion (BackendServicesGrant, not a test signer) against
 * the SMART reference servers' rules (RS384 or ES384, jti, exp ≤ 5 min), and refused with a
 * clear error by the Epic-default simulator (RSA only).
 */
describe('peer check: ES384 backend services assertion', () => {
  let sim: EpicSim | undefined;
  let connection: FhirConnection | undefined;
  afterEach(async () => {
    await connection?.close();
    await sim?.close();
  });

  async function connect(assertionAlgorithms?: string[]): Promise<{ sim: EpicSim; connection: FhirConnection }> {
    sim = await startEpicSim({ seed: 5, patients: 1, observationsPerPatient: 1, ...(assertionAlgorithms ? { assertionAlgorithms } : {}) });
    const client = await backendClient(sim, 'sluice-es', 'ES384');
    connection = new FhirConnection(fhirConnectionSchema.parse({
      base: sim.fhirBase,
      auth: { flow: 'backend', clientId: client.clientId, privateKey: client.pem, kid: client.kid, alg: 'ES384', scope: 'system/Patient.rs' },
    }));
    return { sim, connection };
  }

  it('authenticates against the SMART reference-server rules (RS384 and ES384 accepted)', async () => {
    const { sim, connection } = await connect(['RS384', 'ES384']);
    const patient = sim.patientIds()[0]!;
    expect((await connection.client.read('Patient', patient)).id).toBe(patient);
    expect(sim.counts().tokensIssued).toBe(1);
    expect(connection.tokens!.counters.obtained).toBe(1);
  });

  it('is refused by the Epic-default simulator with an error naming the algorithm', async () => {
    const { sim, connection } = await connect();
    const err = await connection.client.read('Patient', sim.patientIds()[0]!).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthError);
    expect((err as AuthError).oauthError).toBe('invalid_client');
    expect((err as Error).message).toMatch(/alg ES384 refused: accepted RS384/);
    expect(sim.counts().tokensIssued).toBe(0);
  });
});

describe('keep-alive', () => {
  it('reuses one connection for sequential requests', async () => {
    let sockets = 0;
    const server = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/fhir+json' }).end('{"resourceType":"Patient"}'));
    server.on('connection', () => sockets++);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const fhir = new FhirHttp();
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/Patient/1`;
      for (let i = 0; i < 12; i++) expect((await fhir.send({ url })).status).toBe(200);
      expect(fhir.counters.requests).toBe(12);
      // A new TCP (and, in production, TLS) handshake per request would show as 12 sockets.
      // undici opens a second one for the second request (the first is released a tick
      // late; plain undici does the same) and then reuses both.
      expect(sockets).toBeLessThanOrEqual(2);
    } finally {
      await fhir.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
