import type { FhirBundle } from '../types.js';
import type { Produced, V2ToFhirOptions } from './context.js';
import { resourceId } from './ids.js';

/*
 * Bundle assembly. A transaction (the default) writes each resource with a conditional
 * update on its business identifier (`PUT Patient?identifier=system|value`), or with a
 * plain `PUT Type/id` on its deterministic id when it has none, so a replayed message
 * updates what it created instead of duplicating it.
 */

type Entry = NonNullable<FhirBundle['entry']>[number];

/** `identifier=system|value` with each part URL-encoded (the bar stays as the separator). */
function encodeQuery(query: string): string {
  const eq = query.indexOf('=');
  const name = query.slice(0, eq);
  const token = query.slice(eq + 1);
  const bar = token.lastIndexOf('|');
  if (bar < 0) return `${name}=${encodeURIComponent(token)}`;
  return `${name}=${encodeURIComponent(token.slice(0, bar))}|${encodeURIComponent(token.slice(bar + 1))}`;
}

export function buildBundle(produced: readonly Produced[], options: V2ToFhirOptions, bundleKey: string, timestamp: string | undefined): FhirBundle {
  const type = options.bundle;
  const withRequest = type === 'transaction' || type === 'batch';
  const entries: Entry[] = [];
  for (const p of produced) {
    const resource = p.resource;
    if (!withRequest) {
      entries.push({ fullUrl: p.fullUrl, resource });
      continue;
    }
    if (p.conditional !== undefined) {
      // A conditional update must not carry an id: the server's own id for the match wins.
      const { id: _omit, ...body } = resource;
      entries.push({ fullUrl: p.fullUrl, resource: body as typeof resource, request: { method: 'PUT', url: `${resource.resourceType}?${encodeQuery(p.conditional)}` } });
    } else {
      entries.push({ fullUrl: p.fullUrl, resource, request: { method: 'PUT', url: `${resource.resourceType}/${resource.id ?? ''}` } });
    }
  }
  const bundle: FhirBundle = { resourceType: 'Bundle', id: resourceId('Bundle', bundleKey, type), type };
  if (type === 'message' || type === 'collection') {
    if (timestamp) bundle.timestamp = timestamp;
  }
  bundle.entry = entries;
  return bundle;
}
