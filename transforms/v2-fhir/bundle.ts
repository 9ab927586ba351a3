import type { FhirBundle } from '../types.js';
import type { Produced, V2ToFhirOptions } from './context.js';
import { resourceId } from './ids.js';

/*
 * Bundle assembly. A transaction (the default) writes each resource with a conditional
 * update on its business identifier (`PUT Patient?identifier=system|value`), or with a
 * plain `PUT Type/id` on its deterministic id when it has none, so a replayed message
 * updates what it created instead of duplicating it. A batch is not resolved as a whole by
 * a server (no `urn:uuid` references between entries, no conditional ids to substitute):
 * there every entry is a plain `PUT Type/id` and references name `Type/id` directly.
 */

type Entry = NonNullable<FhirBundle['entry']>[number];

/**
 * `identifier=system|value` (`&`-joined parameters) with each part URL-encoded; the bars
 * stay as separators. An `:of-type` token has three parts (type system|type code|value).
 */
function encodeQuery(query: string): string {
  return query.split('&').map((param) => {
    const eq = param.indexOf('=');
    const name = param.slice(0, eq);
    const token = param.slice(eq + 1);
    if (name.endsWith(':of-type')) {
      const [system = '', code = '', ...value] = token.split('|');
      return `${name}=${encodeURIComponent(system)}|${encodeURIComponent(code)}|${encodeURIComponent(value.join('|'))}`;
    }
    const bar = token.lastIndexOf('|');
    if (bar < 0) return `${name}=${encodeURIComponent(token)}`;
    return `${name}=${encodeURIComponent(token.slice(0, bar))}|${encodeURIComponent(token.slice(bar + 1))}`;
  }).join('&');
}

export function buildBundle(produced: readonly Produced[], options: V2ToFhirOptions, bundleKey: string, timestamp: string | undefined): FhirBundle {
  const type = options.bundle;
  const withRequest = type === 'transaction' || type === 'batch';
  if (type === 'batch') resolveReferences(produced);
  const entries: Entry[] = [];
  for (const p of produced) {
    const resource = p.resource;
    if (!withRequest) {
      entries.push({ fullUrl: p.fullUrl, resource });
      continue;
    }
    if (p.conditional !== undefined && type === 'transaction') {
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

/** Rewrites every `urn:uuid:` reference to the entry it names as `Type/id` (in place). */
function resolveReferences(produced: readonly Produced[]): void {
  const byFullUrl = new Map<string, string>();
  for (const p of produced) byFullUrl.set(p.fullUrl, `${p.resource.resourceType}/${p.resource.id ?? ''}`);
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) {
      for (const v of value) visit(v);
      return;
    }
    if (value === null || typeof value !== 'object') return;
    const o = value as Record<string, unknown>;
    for (const [k, v] of Object.entries(o)) {
      if (k === 'reference' && typeof v === 'string') {
        const resolved = byFullUrl.get(v);
        if (resolved !== undefined) o[k] = resolved;
      } else visit(v);
    }
  };
  for (const p of produced) visit(p.resource);
}
