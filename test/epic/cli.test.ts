import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../engine/cli/main.js';
import { startEpicSim, type EpicSim } from '../../engine/sim/index.js';
import { Capture } from '../helpers/streams.js';
import { BACKEND_SCOPE, backendClient } from './setup.js';

/** `sluice fhir search` and `sluice keys generate` through the CLI entry point. */
describe('sluice fhir search', () => {
  let sim: EpicSim;
  let config: string;
  const dir = mkdtempSync(join(tmpdir(), 'sluice-fhir-cli-'));

  beforeAll(async () => {
    sim = await startEpicSim({ seed: 7, patients: 2, observationsPerPatient: 12, pageSize: 5 });
    const client = await backendClient(sim, 'cli');
    writeFileSync(join(dir, 'epic.pem'), client.pem, { mode: 0o600 });
    config = join(dir, 'sluice.yaml');
    writeFileSync(config, [
      'channels: []',
      'connections:',
      '  epic-sim:',
      '    fhir:',
      `      base: ${sim.fhirBase}`,
      '      auth:',
      '        flow: backend',
      `        clientId: ${client.clientId}`,
      '        privateKey: "${file:epic.pem}"',
      `        kid: ${client.kid}`,
      `        scope: ${BACKEND_SCOPE}`,
      '      limits: { concurrency: 2, ratePerSecond: 50, timeout: 10s }',
      '',
    ].join('\n'));
  });
  afterAll(async () => {
    await sim?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
    const out = new Capture();
    const err = new Capture();
    const code = await main(argv, { out, err });
    return { code, out: out.text, err: err.text };
  }

  it('prints every page as NDJSON with --all, the first page without, warnings on stderr', async () => {
    const patient = sim.patientIds()[0]!;
    const query = `Observation?patient=${patient}&category=laboratory,vital-signs&flavour=x`;
    const all = await run('fhir', 'search', '--config', config, '--connection', 'epic-sim', query, '--all');
    expect(all.code).toBe(0);
    const lines = all.out.trim().split('\n').map((l) => JSON.parse(l) as { resourceType: string; subject: { reference: string } });
    expect(lines).toHaveLength(12);
    expect(lines.every((r) => r.resourceType === 'Observation' && r.subject.reference === `Patient/${patient}`)).toBe(true);
    expect(all.err).toMatch(/warning: unknown-param: Observation: search parameter "flavour" is not declared/);
    expect(all.err).toMatch(/12 resource\(s\)/);
    const first = await run('fhir', 'search', '--config', config, '--connection', 'epic-sim', query);
    expect(first.out.trim().split('\n')).toHaveLength(5);
  });

  it('reports an unknown connection, a bad query and a server refusal as one-line errors', async () => {
    const unknown = await run('fhir', 'search', '--config', config, '--connection', 'epic-prd', 'Patient?family=Smith');
    expect(unknown).toMatchObject({ code: 1, err: expect.stringMatching(/unknown connection "epic-prd" \(known: epic-sim\)/) });
    const broken = join(dir, 'broken.yaml');
    writeFileSync(broken, ['channels: []', 'connections:', '  epic-sim:', '    fhir:', `      base: ${sim.fhirBase}`, '      auth: { flow: backend, clientId: c, scope: system/Patient.rs, launchContext: [patient] }', ''].join('\n'));
    const invalid = await run('fhir', 'search', '--config', broken, '--connection', 'epic-sim', 'Patient?family=Smith');
    expect(invalid.code).toBe(1);
    expect(invalid.err).toMatch(/connection "epic-sim" is not usable/);
    expect(invalid.err).toMatch(/broken\.yaml:6:\d+ .*flow backend has no launch context/);
    const bad = await run('fhir', 'search', '--config', config, '--connection', 'epic-sim', 'not a search');
    expect(bad.code).toBe(2);
    // Epic refuses an Observation search without patient: a FhirError with the server's outcome.
    const refused = await run('fhir', 'search', '--config', config, '--connection', 'epic-sim', 'Observation?category=laboratory&flavour=x');
    expect(refused.code).toBe(1);
    // checkSearch's warnings come before the search runs, so they show even when it fails.
    expect(refused.err).toMatch(/^warning: unknown-param: Observation: search parameter "flavour" is not declared[^\n]*\n(.|\n)*HTTP 400/);
    expect(refused.err).toMatch(/HTTP 400 \(error invalid: .*requires the patient/);
    expect(refused.err).not.toMatch(/Bearer|access_token/);
  });
});

describe('sluice keys generate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-keys-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes an ES384 key and refuses to overwrite it', async () => {
    const out = new Capture();
    const err = new Capture();
    expect(await main(['keys', 'generate', '--alg', 'ES384', '--out', dir, '--kid', 'ec-1'], { out, err })).toBe(0);
    expect(JSON.parse(out.text)).toMatchObject({ keys: [{ kty: 'EC', crv: 'P-384', kid: 'ec-1', alg: 'ES384', use: 'sig' }] });
    const again = new Capture();
    expect(await main(['keys', 'generate', '--alg', 'ES384', '--out', dir, '--kid', 'ec-1'], { out: new Capture(), err: again })).toBe(1);
    expect(again.text).toMatch(/already exists/);
    const badAlg = new Capture();
    expect(await main(['keys', 'generate', '--alg', 'HS256'], { out: new Capture(), err: badAlg })).toBe(2);
  });
});
