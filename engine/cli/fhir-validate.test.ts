/*
 * `sluice fhir validate` input handling with a stand-in validator (no JVM): each resource
 * is parsed once, reaches the validator as one line of JSON, and a malformed file gives
 * one clear line naming it and exit 1.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import type { FhirValidator } from '../../transforms/validate/index.js';
import { tempDir } from '../../test/helpers/engine.js';
import { Capture } from '../../test/helpers/streams.js';
import { fhirValidateCommand } from './fhir-validate.js';
import { main } from './main.js';

/** A validator that records what it is given and finds nothing. */
function recorder(): FhirValidator & { seen: (object | string)[] } {
  const seen: (object | string)[] = [];
  return { seen, validate: async (r) => { seen.push(r); return []; }, close: async () => {} };
}

/** Runs the command with the stand-in, counting JSON.parse calls made meanwhile. */
async function validate(files: string[]): Promise<{ code: number; seen: (object | string)[]; parses: number }> {
  const validator = recorder();
  const parse = vi.spyOn(JSON, 'parse');
  try {
    const code = await fhirValidateCommand(files, new Capture(), new Capture(), { validator });
    return { code, seen: validator.seen, parses: parse.mock.calls.length };
  } finally {
    parse.mockRestore();
  }
}

const patient = { resourceType: 'Patient', id: 'p1', name: [{ family: 'Roe' }], extension: [{ url: 'http://x', valueDecimal: 1.5 }] };

describe('sluice fhir validate: reading the input', () => {
  it('parses a pretty-printed file once and hands the validator one line of JSON', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'p.json');
    await writeFile(file, `\uFEFF\n${JSON.stringify(patient, null, 2)}\n`);
    const r = await validate([file]);
    expect(r.code).toBe(0);
    expect(r.parses).toBe(1);
    expect(r.seen).toEqual([JSON.stringify(patient)]);
  });

  it('hands a one-line file and each NDJSON line over as written (decimals keep their digits), one parse each', async () => {
    const dir = await tempDir();
    const one = path.join(dir, 'one.json');
    const line = '{"resourceType":"Observation","status":"final","valueQuantity":{"value":1.50}}';
    await writeFile(one, `${line}\n`);
    const many = path.join(dir, 'many.ndjson');
    await writeFile(many, `${line}\n\n{ "resourceType": "Patient" }\n`);
    const single = await validate([one]);
    expect(single.seen).toEqual([line]);
    expect(single.parses).toBe(1);
    const ndjson = await validate([many]);
    expect(ndjson.seen).toEqual([line, '{ "resourceType": "Patient" }']);
    expect(ndjson.parses).toBe(3); // the whole file (not one document), then each line once
  });

  it('a malformed file: one line naming the file, exit 1, the validator never asked', async () => {
    const dir = await tempDir();
    const broken = path.join(dir, 'broken.json');
    await writeFile(broken, '{"resourceType": "Patient",');
    const badLine = path.join(dir, 'bad.ndjson');
    await writeFile(badLine, '{"resourceType":"Patient"}\n{"resourceType":\n');
    const empty = path.join(dir, 'empty.json');
    await writeFile(empty, ' \n');
    const cases: [string, RegExp][] = [
      [broken, /^sluice: .*broken\.json: not JSON: /],
      [badLine, /^sluice: .*bad\.ndjson:2: not JSON \(neither one JSON document nor NDJSON\): /],
      [empty, /^sluice: .*empty\.json: empty file$/],
      [path.join(dir, 'missing.json'), /^sluice: .*missing\.json: no such file or directory$/],
    ];
    for (const [file, message] of cases) {
      const out = new Capture();
      const err = new Capture();
      expect(await main(['fhir', 'validate', file], { out, err }), file).toBe(1);
      expect(out.text, file).toBe('');
      expect(err.text.trim().split('\n'), file).toHaveLength(1);
      expect(err.text.trim(), file).toMatch(message);
    }
  });
});
