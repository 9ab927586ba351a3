import { describe, expect, it } from 'vitest';
import { startEpicSim } from './index.js';

describe('simulator behind a container name', () => {
  it('advertises publicUrl in its URLs and SMART configuration while listening on the given host', async () => {
    const sim = await startEpicSim({ patients: 1, observationsPerPatient: 1, host: '127.0.0.1', publicUrl: 'http://epic-sim:8040/' });
    try {
      expect([sim.url, sim.fhirBase, sim.tokenUrl]).toEqual(['http://epic-sim:8040', 'http://epic-sim:8040/api/FHIR/R4', 'http://epic-sim:8040/oauth2/token']);
      const res = await fetch(`http://127.0.0.1:${sim.port}/api/FHIR/R4/.well-known/smart-configuration`, { headers: { accept: 'application/json' } });
      expect(res.status).toBe(200);
      const config = (await res.json()) as { token_endpoint: string; authorization_endpoint: string };
      expect(config.token_endpoint).toBe('http://epic-sim:8040/oauth2/token');
      expect(config.authorization_endpoint).toBe('http://epic-sim:8040/oauth2/authorize');
    } finally {
      await sim.close();
    }
  });
});
