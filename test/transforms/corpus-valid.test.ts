/*
 * Every resource the v2 → FHIR converter produces for every corpus message of a supported
 * type validates against the FHIR R4 base definitions (HAPI FHIR's instance validator,
 * one JVM for the file) with zero errors. Failures name the message, the resource type,
 * the path and the validator's message, so the converter can be fixed from the output.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SUPPORTED_TYPES, v2ToFhir, type V2ToFhirOptions } from '../../transforms/v2-fhir/index.js';
import { supportedCorpus } from '../../transforms/validate/corpus.js';
import { isError, placeInBundle, startFhirValidator, type FhirValidator } from '../../transforms/validate/index.js';
import type { FhirBundle } from '../../transforms/types.js';

const messages = supportedCorpus(SUPPORTED_TYPES);
let validator: FhirValidator;

beforeAll(async () => { validator = await startFhirValidator(); }, 300_000);
afterAll(async () => { await validator?.close(); });

function convert(file: string, options?: Partial<V2ToFhirOptions>): FhirBundle {
  return v2ToFhir(readFileSync(file), options).result;
}

/** Error lines naming the resource type and path inside the Bundle, for a readable failure. */
async function errorsOf(bundle: FhirBundle): Promise<string[]> {
  const issues = await validator.validate(bundle);
  return issues.filter(isError).map((i) => {
    const place = placeInBundle(i.location, bundle);
    return `${place.path}${place.entry !== undefined ? ` (entry ${place.entry})` : ''}: ${i.message}`;
  });
}

describe('v2 → FHIR corpus', () => {
  it('has messages of every supported type to check', () => {
    expect(messages.length).toBeGreaterThanOrEqual(40);
    const types = new Set(messages.map((m) => m.type));
    for (const t of ['ADT^A01', 'ADT^A08', 'ADT^A40', 'ORM^O01', 'ORU^R01']) expect(types, t).toContain(t);
  });

  it('converts every message of a supported type', () => {
    const failures: string[] = [];
    for (const m of messages) {
      try {
        convert(m.file);
      } catch (e) {
        failures.push(`${m.name}: ${(e as Error).message}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it.each(messages.map((m) => [m.name, m.file] as const))('%s: every resource validates with zero errors', async (_name, file) => {
    const bundle = convert(file);
    expect(bundle.entry?.length ?? 0).toBeGreaterThan(0);
    expect(await errorsOf(bundle)).toEqual([]);
  });

  // The other Bundle types and the Provenance options change the envelope (request entries,
  // MessageHeader first, an attachment): one message of each type in each of them.
  const firstOfEachType = [...new Map(messages.map((m) => [m.type, m])).values()];
  const variants: ReadonlyArray<Partial<V2ToFhirOptions>> = [
    { bundle: 'batch' }, { bundle: 'collection' }, { bundle: 'message' }, { provenance: true, attachOriginal: true }, { timezone: 'America/Chicago' },
  ];
  it.each(variants.map((v) => [JSON.stringify(v), v] as const))('with options %s, one message of each type validates with zero errors', async (_label, options) => {
    const failures: string[] = [];
    for (const m of firstOfEachType) {
      const bundle = convert(m.file, options);
      if (options.bundle) expect(bundle.type).toBe(options.bundle);
      for (const e of await errorsOf(bundle)) failures.push(`${m.name}: ${e}`);
    }
    expect(failures).toEqual([]);
  });
});
