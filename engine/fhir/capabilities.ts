import type { FhirHttp } from './http.js';
import type { SearchWarning } from './client.js';

/**
 * What one server allows, per resource: interactions, search parameters, _include and
 * _revinclude, read from `GET /metadata`, plus the SMART configuration. The planner and the
 * write router decide from this model, never from what the FHIR spec says in general.
 */

export interface ResourceCapability {
  readonly type: string;
  /** read, vread, search-type, create, update, patch, delete, history-instance, ... */
  readonly interactions: ReadonlySet<string>;
  /** Declared search parameter name → type (token, reference, date, ...). */
  readonly searchParams: ReadonlyMap<string, string>;
  readonly searchInclude: readonly string[];
  readonly searchRevInclude: readonly string[];
  readonly conditionalCreate: boolean;
  readonly conditionalUpdate: boolean;
  readonly conditionalDelete: boolean;
}

export interface SmartConfiguration {
  readonly authorization_endpoint?: string;
  readonly token_endpoint?: string;
  readonly capabilities?: readonly string[];
  readonly code_challenge_methods_supported?: readonly string[];
  readonly grant_types_supported?: readonly string[];
  readonly scopes_supported?: readonly string[];
  readonly [extra: string]: unknown;
}

export interface Capabilities {
  readonly fhirVersion?: string;
  readonly resources: ReadonlyMap<string, ResourceCapability>;
  /** Search parameters declared for every resource (rest.searchParam). */
  readonly commonSearchParams: ReadonlyMap<string, string>;
  readonly smart?: SmartConfiguration;
}

type Json = Record<string, unknown>;

function isRecord(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function records(v: unknown): Json[] {
  return Array.isArray(v) ? v.filter(isRecord) : [];
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : [];
}

function params(v: unknown): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of records(v)) if (typeof p.name === 'string') out.set(p.name, typeof p.type === 'string' ? p.type : 'unknown');
  return out;
}

/** Reads the server (`mode: server`) part of a CapabilityStatement. */
export function parseCapabilityStatement(statement: unknown, smart?: SmartConfiguration): Capabilities {
  if (!isRecord(statement) || statement.resourceType !== 'CapabilityStatement') throw new Error('expected a CapabilityStatement');
  const rest = records(statement.rest).find((r) => r.mode === 'server') ?? records(statement.rest)[0];
  const resources = new Map<string, ResourceCapability>();
  for (const r of records(rest?.resource)) {
    if (typeof r.type !== 'string') continue;
    resources.set(r.type, {
      type: r.type,
      interactions: new Set(records(r.interaction).map((i) => i.code).filter((c): c is string => typeof c === 'string')),
      searchParams: params(r.searchParam),
      searchInclude: strings(r.searchInclude),
      searchRevInclude: strings(r.searchRevInclude),
      conditionalCreate: r.conditionalCreate === true,
      conditionalUpdate: r.conditionalUpdate === true,
      conditionalDelete: typeof r.conditionalDelete === 'string' && r.conditionalDelete !== 'not-supported',
    });
  }
  return {
    ...(typeof statement.fhirVersion === 'string' ? { fhirVersion: statement.fhirVersion } : {}),
    resources,
    commonSearchParams: params(rest?.searchParam),
    ...(smart ? { smart } : {}),
  };
}

export function supportsInteraction(caps: Capabilities, type: string, interaction: string): boolean {
  return caps.resources.get(type)?.interactions.has(interaction) ?? false;
}

/**
 * `GET {base}/.well-known/smart-configuration`; undefined when the server has none.
 * `ungated` when discovering the token endpoint for a request that already holds a slot.
 */
export async function fetchSmartConfiguration(http: FhirHttp, base: string, ungated = false): Promise<SmartConfiguration | undefined> {
  const res = await http.send({ url: `${base.replace(/\/+$/, '')}/.well-known/smart-configuration`, accept: 'application/json', ungated });
  if (res.status === 404) return undefined;
  if (res.status !== 200) throw new Error(`GET .well-known/smart-configuration: HTTP ${res.status}`);
  const body: unknown = JSON.parse(res.text);
  if (!isRecord(body)) throw new Error('.well-known/smart-configuration is not a JSON object');
  return body as SmartConfiguration;
}

/** `/metadata` (public on Epic, so no token) and the SMART configuration, into one model. */
export async function fetchCapabilities(http: FhirHttp, base: string): Promise<Capabilities> {
  const root = base.replace(/\/+$/, '');
  const [statement, smart] = await Promise.all([http.json({ url: `${root}/metadata` }), fetchSmartConfiguration(http, root)]);
  return parseCapabilityStatement(statement, smart);
}

/** Result parameters every server handles (or the planner does for it). */
const RESULT_PARAMS = new Set(['_count', '_sort', '_elements', '_summary', '_total', '_format', '_include', '_revinclude', '_contained', '_containedType']);

export interface ParsedQuery {
  readonly type: string;
  readonly params: ReadonlyArray<readonly [string, string]>;
}

/** `Observation?patient=1&category=vital-signs` (a leading base URL is ignored). */
export function parseQuery(query: string): ParsedQuery {
  const q = query.indexOf('?');
  const path = (q < 0 ? query : query.slice(0, q)).replace(/\/+$/, '');
  const type = path.slice(path.lastIndexOf('/') + 1);
  if (!/^[A-Z][A-Za-z]+$/.test(type)) throw new Error(`expected a search like Observation?patient=123, got "${query}"`);
  return { type, params: q < 0 ? [] : [...new URLSearchParams(query.slice(q + 1))] };
}

/**
 * Warnings for a search this server cannot do as written: a resource or search it does
 * not declare, undeclared (silently ignored) parameters, chains, includes the planner will
 * rewrite, `_id` that makes Epic drop everything else. For lint and for the planner.
 */
export function checkSearch(caps: Capabilities, query: string | ParsedQuery): SearchWarning[] {
  const { type, params: list } = typeof query === 'string' ? parseQuery(query) : query;
  const resource = caps.resources.get(type);
  if (!resource) return [{ code: 'resource-not-supported', message: `the server does not declare ${type}` }];
  const warnings: SearchWarning[] = [];
  if (!resource.interactions.has('search-type')) warnings.push({ code: 'search-not-supported', message: `the server does not allow searching ${type}` });
  const names = list.map(([name]) => name);
  for (const [name, value] of list) {
    const base = name.split(':')[0]!;
    if (base.includes('.')) {
      warnings.push({ code: 'chain-not-supported', message: `${type}: chained parameter "${name}" is not advertised by the server` });
    } else if (name === '_include') {
      if (!resource.searchInclude.includes(value) && !resource.searchInclude.includes('*')) {
        warnings.push({ code: 'include-rewritten', message: `${type}: the server does not declare _include=${value}; the referenced resources are read separately` });
      }
    } else if (name === '_revinclude') {
      if (!resource.searchRevInclude.includes(value) && !resource.searchRevInclude.includes('*')) {
        warnings.push({ code: 'revinclude-not-supported', message: `${type}: the server does not declare _revinclude=${value} (declared: ${resource.searchRevInclude.join(', ') || 'none'})` });
      }
    } else if (!RESULT_PARAMS.has(base) && !resource.searchParams.has(base) && !caps.commonSearchParams.has(base)) {
      warnings.push({ code: 'unknown-param', message: `${type}: search parameter "${base}" is not declared by the server and may be silently ignored (declared: ${[...resource.searchParams.keys()].join(', ') || 'none'})` });
    }
  }
  if (names.includes('_id') && names.some((n) => n !== '_id' && !RESULT_PARAMS.has(n.split(':')[0]!))) {
    warnings.push({ code: 'id-overrides', message: `${type}: with _id the server may ignore every other parameter` });
  }
  return warnings;
}
