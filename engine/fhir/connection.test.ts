import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lintPaths } from '../../config/index.js';
import '../channel/components/index.js';
import { getComponent } from '../registry.js';
import { silentLogger } from '../log.js';
import { FhirConnection, fhirConnectionSchema } from './connection.js';

const backend = { flow: 'backend', clientId: 'c1', privateKey: 'PEM', kid: 'k1', scope: 'system/Observation.read' };
const standalone = { flow: 'standalone', clientId: 'c1', redirectUri: 'https://app.example/cb', refreshToken: 'r', scope: 'patient/Observation.read offline_access' };

function messages(auth: Record<string, unknown>): string[] {
  const r = fhirConnectionSchema.safeParse({ base: 'https://fhir.example/api/FHIR/R4', auth });
  return r.success ? [] : r.error.issues.map((i) => `${i.path.slice(1).join('.')}: ${i.message}`);
}

describe('fhir connection schema', () => {
  it('accepts each flow written correctly, with limit defaults', () => {
    const r = fhirConnectionSchema.parse({ base: 'https://fhir.example/api/FHIR/R4', auth: backend, limits: { timeout: '10s' } });
    expect(r.auth?.alg).toBe('RS384');
    expect(r.limits).toEqual({ concurrency: 4, timeout: 10_000, maxAttempts: 6, maxWait: 120_000, maxPages: 10_000 });
    expect(messages(standalone)).toEqual([]);
    expect(messages({ ...standalone, scope: 'patient/*.read launch/patient offline_access', launchContext: ['patient'] })).toEqual([]);
    expect(messages({ ...standalone, flow: 'ehr-launch', scope: 'launch patient/*.read', launchContext: ['patient', 'encounter'] })).toEqual([]);
  });

  it('rejects launch context in a flow without it, with a message saying why', () => {
    expect(messages({ ...backend, launchContext: ['patient'] })).toEqual([expect.stringMatching(/^launchContext: flow backend has no launch context/)]);
    expect(messages({ ...backend, scope: 'system/Observation.read launch/patient' })).toEqual([expect.stringMatching(/^scope: flow backend has no launch context/)]);
    expect(messages({ ...standalone, launchContext: ['patient'] })).toEqual([expect.stringMatching(/^launchContext.0: flow standalone has no patient context unless scope includes launch\/patient/)]);
    expect(messages({ ...standalone, scope: 'launch patient/*.read' })).toEqual([expect.stringMatching(/"launch" scope is for ehr-launch/)]);
    expect(messages({ ...standalone, flow: 'ehr-launch' })).toEqual([expect.stringMatching(/ehr-launch needs the "launch" scope/)]);
  });

  it('is registered as the `fhir` connection and creates a FhirConnection', async () => {
    const spec = getComponent('connection', 'fhir')!;
    const options = spec.schema.parse({ base: 'https://fhir.example/api/FHIR/R4/', auth: backend });
    const connection = spec.create(options, { channel: '', dataDir: '/tmp', logger: silentLogger }) as FhirConnection;
    expect(connection).toBeInstanceOf(FhirConnection);
    expect(connection.client.base).toBe('https://fhir.example/api/FHIR/R4');
    expect(connection.context()).toBeUndefined();
    await connection.close();
    await connection.close();
  });

  it('asks for what each flow needs', () => {
    expect(messages({ flow: 'backend', clientId: 'c', scope: 'system/Patient.read' })).toEqual([expect.stringMatching(/^privateKey: .*required/), expect.stringMatching(/^kid: /)]);
    expect(messages({ flow: 'standalone', clientId: 'c', scope: 'patient/Patient.read' })).toEqual([expect.stringMatching(/^redirectUri: /), expect.stringMatching(/^refreshToken: /)]);
    expect(messages({ ...backend, scope: 'patient/Observation.read' })).toEqual([expect.stringMatching(/uses system\/ scopes/)]);
  });
});

describe('sluice lint on a fhir connection', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-fhir-lint-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reports launch context in a backend flow at file:line:col', () => {
    writeFileSync(join(dir, 'key.pem'), 'not really a key\n');
    writeFileSync(join(dir, 'sluice.yaml'), [
      'channels: []',
      'connections:',
      '  epic-prod:',
      '    fhir:',
      '      base: https://fhir.example/api/FHIR/R4',
      '      auth:',
      '        flow: backend',
      '        clientId: c1',
      '        privateKey: "${file:key.pem}"',
      '        kid: k1',
      '        scope: system/Observation.read',
      '        launchContext: [patient]',
      '',
    ].join('\n'));
    const { errors } = lintPaths([join(dir, 'sluice.yaml')], { cwd: dir });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ line: 12, column: 9, path: ['connections', 'epic-prod', 'fhir', 'auth', 'launchContext'] });
    expect(errors[0]!.message).toMatch(/flow backend has no launch context/);
  });
});
