import { exportJWK, exportPKCS8, generateKeyPair } from 'jose';
import { startEpicSim, type EpicSim, type EpicSimOptions } from '../../engine/sim/index.js';
import { FhirConnection, fhirConnectionSchema, type FhirConnectionRuntime } from '../../engine/fhir/connection.js';

/** A backend-services client of the simulator: our key pair, its JWKS registered there. */
export interface BackendClient {
  readonly clientId: string;
  readonly kid: string;
  readonly pem: string;
}

export const BACKEND_SCOPE = 'system/Observation.rs system/Patient.rs system/Encounter.rs';

export async function backendClient(sim: EpicSim, clientId = 'sluice-backend', alg: 'RS384' | 'ES384' = 'RS384'): Promise<BackendClient> {
  const kid = `${clientId}-key`;
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  sim.registerClient({ clientId, jwks: { keys: [{ ...(await exportJWK(publicKey)), kid, alg, use: 'sig' }] } });
  return { clientId, kid, pem: await exportPKCS8(privateKey) };
}

/** A simulator with one backend client, and a `fhir` connection to it built from config. */
export async function simWithBackend(options: EpicSimOptions, limits: Record<string, unknown> = {}, runtime: FhirConnectionRuntime = {}): Promise<{ sim: EpicSim; client: BackendClient; connection: FhirConnection }> {
  const sim = await startEpicSim(options);
  const client = await backendClient(sim);
  const config = fhirConnectionSchema.parse({
    base: sim.fhirBase,
    // tokenUrl left out on purpose: discovered from .well-known/smart-configuration.
    auth: { flow: 'backend', clientId: client.clientId, privateKey: client.pem, kid: client.kid, scope: BACKEND_SCOPE },
    limits,
  });
  return { sim, client, connection: new FhirConnection(config, runtime) };
}

/** Runs `work` over `items` with at most `limit` in flight. */
export async function forEachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await work(items[next++]!);
  }));
}
