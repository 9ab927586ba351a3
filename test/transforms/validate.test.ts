/*
 * The FHIR validator wrapper against the real HAPI FHIR instance validator (one JVM for
 * the file), and `sluice fhir validate` through fhirValidateCommand.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fhirValidateCommand } from '../../engine/cli/fhir-validate.js';
import { FhirValidatorUnavailableError, isError, startFhirValidator, type FhirValidator, type ValidationIssue } from '../../transforms/validate/index.js';

const validPatient = {
  resourceType: 'Patient',
  identifier: [{ system: 'urn:oid:2.16.840.1.113883.19.5', value: '12345' }],
  name: [{ family: 'Everyman', given: ['Adam'] }],
  gender: 'male',
  birthDate: '1980-03-14',
};
const badGenderPatient = { ...validPatient, gender: 'yes' };
const observationWithoutStatus = {
  resourceType: 'Observation',
  code: { coding: [{ system: 'http://loinc.org', code: '718-7', display: 'Hemoglobin' }] },
  valueQuantity: { value: 13.2, unit: 'g/dL', system: 'http://unitsofmeasure.org', code: 'g/dL' },
};
const validObservation = { ...observationWithoutStatus, status: 'final' };

const errors = (issues: ValidationIssue[]) => issues.filter(isError);

function capture(): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (c: Buffer) => { text += c.toString(); });
  return { stream, text: () => text };
}

let validator: FhirValidator;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-fhir-validate-'));
  validator = await startFhirValidator();
}, 300_000);

afterAll(async () => {
  await validator?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('startFhirValidator (HAPI FHIR instance validator, R4)', () => {
  it('accepts a valid Patient and a valid LOINC-coded Observation with no error', async () => {
    expect(errors(await validator.validate(validPatient))).toEqual([]);
    const obsIssues = await validator.validate(validObservation);
    expect(errors(obsIssues)).toEqual([]);
    // LOINC is not loaded offline: HAPI's "cannot validate" becomes information, marked as downgraded.
    const loinc = obsIssues.find((i) => i.message.includes('http://loinc.org'));
    expect(loinc).toMatchObject({ severity: 'information', downgradeRule: 'unknown-code-system' });
  });

  it('reports gender "yes" as an error at Patient.gender', async () => {
    const found = errors(await validator.validate(badGenderPatient));
    expect(found.length).toBeGreaterThan(0);
    expect(found.every((i) => i.location === 'Patient.gender')).toBe(true);
    expect(found.some((i) => i.message.includes("'yes'"))).toBe(true);
  });

  it('reports an Observation without status as an error naming Observation.status', async () => {
    const found = errors(await validator.validate(observationWithoutStatus));
    expect(found).toHaveLength(1);
    expect(found[0]?.message).toContain('Observation.status');
  });

  it('validates the resources inside a Bundle and locates the issue in its entry', async () => {
    const bundle = {
      resourceType: 'Bundle',
      type: 'collection',
      entry: [
        { fullUrl: 'urn:uuid:2d4c0f4e-6d8a-4c55-8f57-2b7c2a1e9a01', resource: validPatient },
        { fullUrl: 'urn:uuid:2d4c0f4e-6d8a-4c55-8f57-2b7c2a1e9a02', resource: observationWithoutStatus },
      ],
    };
    const found = errors(await validator.validate(bundle));
    expect(found).toHaveLength(1);
    expect(found[0]?.location).toMatch(/^Bundle\.entry\[1\]/);
  });

  it('answers many pipelined requests in order', async () => {
    const inputs = Array.from({ length: 24 }, (_, i) => (i % 3 === 0 ? badGenderPatient : i % 3 === 1 ? validPatient : observationWithoutStatus));
    const answers = await Promise.all(inputs.map((r) => validator.validate(r)));
    answers.forEach((issues, i) => {
      const locations = errors(issues).map((x) => x.location);
      if (i % 3 === 0) expect(locations).toContain('Patient.gender');
      else if (i % 3 === 1) expect(locations).toEqual([]);
      else expect(errors(issues)[0]?.message).toContain('Observation.status');
    });
  });

  it('rejects text that is not a FHIR resource and keeps working', async () => {
    await expect(validator.validate('this is not json')).rejects.toThrow(/could not read|not JSON/);
    expect(errors(await validator.validate(validPatient))).toEqual([]);
  });

  it('says clearly that Java is missing when it is not on PATH', async () => {
    const saved = process.env.PATH;
    process.env.PATH = path.join(dir, 'no-such-bin');
    try {
      const attempt = startFhirValidator();
      await expect(attempt).rejects.toBeInstanceOf(FhirValidatorUnavailableError);
      await expect(attempt).rejects.toThrow(/Java 17\+/);
    } finally {
      process.env.PATH = saved;
    }
  });
});

describe('sluice fhir validate (fhirValidateCommand)', () => {
  it('prints "severity location: message" and exits 1 for an invalid resource (own JVM)', async () => {
    const file = path.join(dir, 'bad-patient.json');
    writeFileSync(file, JSON.stringify(badGenderPatient, null, 2));
    const out = capture();
    const err = capture();
    const code = await fhirValidateCommand([file], out.stream, err.stream);
    expect(code).toBe(1);
    expect(out.text()).toMatch(/^error Patient\.gender: .*'yes'/m);
    expect(err.text()).toMatch(/1 resource: [1-9]\d* error\(s\)/);
  }, 120_000);

  it('exits 0 for a valid Bundle and hides information unless --all', async () => {
    const file = path.join(dir, 'ok.json');
    writeFileSync(file, JSON.stringify({ resourceType: 'Bundle', type: 'collection', entry: [{ fullUrl: 'urn:uuid:2d4c0f4e-6d8a-4c55-8f57-2b7c2a1e9a03', resource: validObservation }] }));
    const quiet = capture();
    expect(await fhirValidateCommand([file], quiet.stream, capture().stream, { validator })).toBe(0);
    expect(quiet.text()).not.toMatch(/^information /m);
    const all = capture();
    expect(await fhirValidateCommand(['--all', file], all.stream, capture().stream, { validator })).toBe(0);
    expect(all.text()).toMatch(/^information .*loinc/m);
  });

  it('validates NDJSON line by line and names the line of each issue', async () => {
    const file = path.join(dir, 'mixed.ndjson');
    writeFileSync(file, [validPatient, observationWithoutStatus, badGenderPatient].map((r) => JSON.stringify(r)).join('\n') + '\n');
    const out = capture();
    const err = capture();
    expect(await fhirValidateCommand([file], out.stream, err.stream, { validator })).toBe(1);
    const errorLines = out.text().split('\n').filter((l) => / error /.test(l) || /: error /.test(l));
    expect(errorLines.some((l) => l.startsWith(`${file}:2: error Observation`))).toBe(true);
    expect(errorLines.some((l) => l.startsWith(`${file}:3: error Patient.gender`))).toBe(true);
    expect(errorLines.some((l) => l.startsWith(`${file}:1:`))).toBe(false);
    expect(err.text()).toContain('3 resources');
  });

  it('exits 2 without a FILE and 1 for a file that is not JSON', async () => {
    await expect(fhirValidateCommand([], capture().stream, capture().stream, { validator })).rejects.toMatchObject({ code: 2 });
    const file = path.join(dir, 'junk.txt');
    writeFileSync(file, 'MSH|^~\\&|not fhir');
    await expect(fhirValidateCommand([file], capture().stream, capture().stream, { validator })).rejects.toThrow(/not JSON/);
  });
});
