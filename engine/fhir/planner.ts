import { checkSearch, parseQuery, supportsInteraction, type Capabilities } from './capabilities.js';
import { FhirError } from './outcome.js';
import { splitEntries, type FhirClient, type Resource, type SearchWarning } from './client.js';
import { Semaphore } from '../semaphore.js';
import { referencesFor } from './references.js';

/**
 * The search planner: a search the server cannot do as written is rewritten so callers get
 * the same resources either way. An `_include` the server does not declare is removed from
 * the query and replaced by reads of the referenced resources (deduplicated across pages,
 * bounded concurrency). Included resources are yielded once per search, whichever path.
 */

export interface IncludeSpec {
  readonly source: string;
  readonly param: string;
  readonly target?: string;
  readonly raw: string;
}

export interface SearchPlan {
  readonly type: string;
  /** What is sent to the server. */
  readonly query: string;
  /** Includes done by the client. */
  readonly rewrittenIncludes: readonly IncludeSpec[];
  readonly warnings: readonly SearchWarning[];
}

export interface SearchItem {
  readonly resource: Resource;
  readonly mode: 'match' | 'include';
}

export interface SearchOptions {
  /** Follow `next` links to the end (default true); false stops after the first page. */
  readonly allPages?: boolean;
  /** Reads in flight at once for rewritten includes (default 4; the connection limits too). */
  readonly includeConcurrency?: number;
  readonly onWarning?: (warning: SearchWarning) => void;
}

function parseInclude(value: string): IncludeSpec | undefined {
  const [source, param, target] = value.split(':');
  if (!source || !param) return undefined;
  return { source, param, raw: value, ...(target ? { target } : {}) };
}

export function planSearch(caps: Capabilities, query: string): SearchPlan {
  const parsed = parseQuery(query);
  const resource = caps.resources.get(parsed.type);
  const declared = new Set(resource?.searchInclude ?? []);
  const kept: Array<[string, string]> = [];
  const rewritten: IncludeSpec[] = [];
  for (const [name, value] of parsed.params) {
    const spec = name === '_include' ? parseInclude(value) : undefined;
    if (spec && !declared.has(value) && !declared.has('*')) rewritten.push(spec);
    else kept.push([name, value]);
  }
  const search = new URLSearchParams(kept).toString();
  return {
    type: parsed.type,
    query: search ? `${parsed.type}?${search}` : parsed.type,
    rewrittenIncludes: rewritten,
    warnings: checkSearch(caps, parsed),
  };
}

/** Runs a plan: matches page by page, each followed by the includes not yet yielded. */
export async function* runSearch(client: FhirClient, caps: Capabilities, plan: SearchPlan, options: SearchOptions = {}): AsyncGenerator<SearchItem> {
  const seenIncludes = new Set<string>();
  const gate = new Semaphore(options.includeConcurrency ?? 4);
  for (const w of plan.warnings) options.onWarning?.(w);
  for await (const page of client.pages(plan.query)) {
    const { matches, included, warnings } = splitEntries(page);
    for (const w of warnings) options.onWarning?.(w);
    for (const resource of matches) yield { resource, mode: 'match' };
    for (const resource of included) {
      const key = `${resource.resourceType}/${resource.id ?? ''}`;
      if (seenIncludes.has(key)) continue;
      seenIncludes.add(key);
      yield { resource, mode: 'include' };
    }
    if (plan.rewrittenIncludes.length) {
      const wanted: string[] = [];
      for (const resource of matches) {
        for (const spec of plan.rewrittenIncludes) {
          if (spec.source !== resource.resourceType) continue;
          const refs = await referencesFor(resource, spec.param, spec.target, client.base);
          for (const w of refs.warnings) options.onWarning?.(w);
          for (const ref of refs.references) {
            if (seenIncludes.has(ref)) continue;
            seenIncludes.add(ref);
            wanted.push(ref);
          }
        }
      }
      const read = await fetchReferenced(client, caps, wanted, gate, options.onWarning);
      for (const resource of read) yield { resource, mode: 'include' };
    }
    if (options.allPages === false) return;
  }
}

/** Plans and runs a search against what the server declares. */
export function search(client: FhirClient, caps: Capabilities, query: string, options?: SearchOptions): AsyncGenerator<SearchItem> {
  return runSearch(client, caps, planSearch(caps, query), options);
}

/** Ids per `_id` search; well under URL length limits. */
const ID_BATCH = 50;

/**
 * Reads `Type/id` keys: one `_id` search per type and batch where the server declares it
 * (fewer requests against rate limits), else single reads. A referenced resource the server
 * does not have is left out with a warning, as a server-side `_include` would leave it out.
 */
async function fetchReferenced(client: FhirClient, caps: Capabilities, keys: readonly string[], gate: Semaphore, onWarning?: (w: SearchWarning) => void): Promise<Resource[]> {
  const byType = new Map<string, string[]>();
  for (const key of keys) {
    const [type, id] = key.split('/') as [string, string];
    byType.set(type, [...(byType.get(type) ?? []), id]);
  }
  const limited = async <T>(work: () => Promise<T>): Promise<T> => {
    const release = await gate.acquire();
    try {
      return await work();
    } finally {
      release();
    }
  };
  const readOne = (type: string, id: string) => limited(async () => {
    try {
      return [await client.read(type, id)];
    } catch (err) {
      if (!(err instanceof FhirError) || (err.status !== 404 && err.status !== 410)) throw err;
      onWarning?.({ code: 'include-missing', message: `a referenced ${type} is not on the server; include skipped` });
      return [];
    }
  });
  const tasks: Array<Promise<Resource[]>> = [];
  for (const [type, ids] of byType) {
    const declared = caps.resources.get(type);
    const batchable = supportsInteraction(caps, type, 'search-type') && (declared?.searchParams.has('_id') || caps.commonSearchParams.has('_id'));
    if (!batchable) {
      tasks.push(...ids.map((id) => readOne(type, id)));
      continue;
    }
    for (let i = 0; i < ids.length; i += ID_BATCH) {
      const chunk = ids.slice(i, i + ID_BATCH);
      tasks.push(limited(async () => {
        const found: Resource[] = [];
        for await (const page of client.pages(`${type}?_id=${chunk.map(encodeURIComponent).join(',')}&_count=${chunk.length}`)) found.push(...splitEntries(page).matches);
        return found;
      }).then(async (found) => {
        // Whatever the batch did not return is read one by one (and reported if really missing).
        const got = new Set(found.filter((r) => r.resourceType === type).map((r) => r.id));
        const rest = await Promise.all(chunk.filter((id) => !got.has(id)).map((id) => readOne(type, id)));
        return [...found.filter((r) => r.resourceType === type && chunk.includes(r.id ?? '')), ...rest.flat()];
      }));
    }
  }
  return (await Promise.all(tasks)).flat();
}
