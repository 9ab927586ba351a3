import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { allows, capabilityStatement, RESOURCE_RULES, type Interaction } from './capability.js';
import type { Counters } from './counters.js';
import type { FhirResource } from './data.js';
import { BadRequest, negotiate, outcome, readBody, sendFhir, type FhirFormat } from './http.js';
import { grantingScopes, type FhirAction } from './scopes.js';
import { EpicSearch, ownerOf } from './search.js';
import type { SimStore } from './store.js';
import type { Grant, TokenStore } from './tokens.js';

export interface FhirApiDeps {
  fhirBase: string;
  tokenUrl: string;
  authorizeUrl: string;
  supportsInclude: boolean;
  pageSize: number;
  clock: () => number;
  store: SimStore;
  tokens: TokenStore;
  counters: Counters;
}

/** Stands for "no patient" when a patient-level token has no patient context: it matches nothing. */
const NO_PATIENT = '\u0000none';

type Reply = { status: number; body: object; headers?: Record<string, string> };
const reply = (status: number, body: object, headers?: Record<string, string>): Reply => ({ status, body, headers });

/** The FHIR R4 endpoint under `/api/FHIR/R4`: bearer auth, scopes, Epic's write limits and search. */
export class FhirApi {
  private readonly search: EpicSearch;

  constructor(private readonly deps: FhirApiDeps) {
    this.search = new EpicSearch(deps.store, { fhirBase: deps.fhirBase, supportsInclude: deps.supportsInclude, pageSize: deps.pageSize });
  }

  /** `path` is what follows the FHIR base, e.g. "/Observation/123". */
  async handle(req: IncomingMessage, res: ServerResponse, path: string, url: URL): Promise<number> {
    const format = negotiate(req.headers.accept, url.searchParams.get('_format'));
    const result = await this.route(req, path, url, format).catch((err: unknown): Reply => {
      if (err instanceof BadRequest) return reply(err.status, outcome('invalid', err.message));
      if (err instanceof URIError) return reply(400, outcome('invalid', 'malformed URL encoding'));
      throw err;
    });
    sendFhir(res, result.status, result.body, format, result.headers);
    return result.status;
  }

  private async route(req: IncomingMessage, path: string, url: URL, format: FhirFormat): Promise<Reply> {
    const segments = path.split('/').filter((s) => s.length > 0).map(decodeURIComponent);
    const method = req.method ?? 'GET';
    const { deps } = this;
    if (segments[0] === 'metadata' && segments.length === 1 && method === 'GET') {
      return reply(200, capabilityStatement(deps.fhirBase, deps.tokenUrl, deps.authorizeUrl, deps.supportsInclude));
    }
    const [resourceType, id, extra] = segments;
    if (!resourceType || extra !== undefined) return reply(404, outcome('not-found', 'unknown endpoint'));

    const grant = this.authenticate(req);
    if (grant === 'missing') return reply(401, outcome('login', 'no access token'), { 'www-authenticate': 'Bearer realm="FHIR"' });
    if (!grant) return reply(401, outcome('login', 'invalid or expired access token'), { 'www-authenticate': 'Bearer error="invalid_token"' });
    // Epic answers XML unless asked for JSON; a client that forgot Accept gets XML it cannot parse.
    if (format === 'xml' && method !== 'GET') return reply(406, outcome('not-supported', 'send Accept: application/fhir+json'));
    if (!RESOURCE_RULES[resourceType]) return reply(404, outcome('not-supported', `resource type ${resourceType} is not supported`));

    if (method === 'GET' && id === undefined) return this.searchAs(grant, resourceType, url.searchParams);
    if (method === 'POST' && id === '_search') {
      const form = new URLSearchParams(await readBody(req));
      for (const [k, v] of url.searchParams) form.append(k, v);
      return this.searchAs(grant, resourceType, form);
    }
    if (method === 'GET' && id !== undefined) return this.read(grant, resourceType, id);
    if (method === 'POST' && id === undefined) return this.write(req, grant, resourceType, undefined);
    if (method === 'PUT' && id !== undefined) return this.write(req, grant, resourceType, id);
    if (method === 'PUT') return reply(405, outcome('not-supported', 'conditional update is not supported'));
    if (method === 'DELETE') return reply(405, outcome('not-supported', 'delete is not supported'));
    return reply(405, outcome('not-supported', `${method} is not supported`));
  }

  /**
   * The grant of the bearer token; 'missing' without credentials, where RFC 6750 3.1 says
   * the challenge carries no error code; undefined for an invalid or expired token.
   */
  private authenticate(req: IncomingMessage): Grant | 'missing' | undefined {
    const header = req.headers.authorization;
    if (!header) {
      this.deps.counters.unauthorized++;
      return 'missing';
    }
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    const found = match?.[1] ? this.deps.tokens.check(match[1]) : undefined;
    if (!found || found === 'expired') {
      this.deps.counters.unauthorized++;
      return undefined;
    }
    return found;
  }

  /**
   * Whether the grant allows the action, and the patient it is limited to: a token whose only
   * granting scopes are patient-level sees just its launch patient.
   */
  private permission(grant: Grant, resourceType: string, action: FhirAction): { ok: boolean; patient?: string } {
    const scopes = grantingScopes(grant.scopes, resourceType, action);
    if (scopes.length === 0) return { ok: false };
    const patientOnly = scopes.every((s) => s.level === 'patient');
    return { ok: true, patient: patientOnly ? grant.patient ?? NO_PATIENT : undefined };
  }

  private forbidden(resourceType: string, action: string): Reply {
    return reply(403, outcome('forbidden', `the token has no scope to ${action} ${resourceType}`));
  }

  private refuse(resourceType: string, interaction: Interaction): Reply {
    return reply(405, outcome('not-supported', `${interaction} is not allowed on ${resourceType} (see /metadata)`));
  }

  /** Epic records who wrote what; `_revinclude=Provenance:target` returns it. */
  private async recordProvenance(target: FhirResource, grant: Grant, patientId: string | undefined): Promise<void> {
    const version = (target.meta as { versionId?: string } | undefined)?.versionId ?? '1';
    const recorded = new Date(this.deps.clock()).toISOString();
    await this.deps.store.put({
      resourceType: 'Provenance',
      id: `e${randomBytes(17).toString('base64url').replace(/[-_]/g, 'x')}`,
      meta: { versionId: '1', lastUpdated: recorded },
      target: [{ reference: `${target.resourceType}/${target.id}/_history/${version}` }, { reference: `${target.resourceType}/${target.id}` }],
      recorded,
      agent: [{ who: { display: grant.clientId } }],
    }, patientId ?? '');
  }

  private async searchAs(grant: Grant, resourceType: string, params: URLSearchParams): Promise<Reply> {
    if (!allows(resourceType, 'search-type')) return this.refuse(resourceType, 'search-type');
    const permission = this.permission(grant, resourceType, 'search');
    if (!permission.ok) return this.forbidden(resourceType, 'search');
    return this.search.search(resourceType, params, permission.patient, grant.clientId);
  }

  private async read(grant: Grant, resourceType: string, id: string): Promise<Reply> {
    const permission = this.permission(grant, resourceType, 'read');
    if (!permission.ok) return this.forbidden(resourceType, 'read');
    const resource = await this.deps.store.read(resourceType, id);
    if (!resource) return reply(404, outcome('not-found', `${resourceType}/${id} not found`));
    if (permission.patient !== undefined && ownerOf(resource) !== permission.patient) return this.forbidden(resourceType, 'read');
    return reply(200, resource);
  }

  /** Create (id undefined) or update. No conditional writes, no update-as-create. */
  private async write(req: IncomingMessage, grant: Grant, resourceType: string, id: string | undefined): Promise<Reply> {
    const interaction: Interaction = id === undefined ? 'create' : 'update';
    if (!allows(resourceType, interaction)) return this.refuse(resourceType, interaction);
    if (req.headers['if-none-exist'] || req.headers['if-match']) return reply(412, outcome('not-supported', 'conditional writes are not supported'));
    const permission = this.permission(grant, resourceType, interaction);
    if (!permission.ok) return this.forbidden(resourceType, interaction);

    let resource: FhirResource;
    try {
      resource = JSON.parse(await readBody(req)) as FhirResource;
    } catch {
      return reply(400, outcome('structure', 'the body is not JSON'));
    }
    if (typeof resource !== 'object' || resource === null || resource.resourceType !== resourceType) {
      return reply(400, outcome('invalid', `the body must be a ${resourceType}`));
    }
    const { store } = this.deps;
    let version = 1;
    if (id !== undefined) {
      const existing = await store.read(resourceType, id);
      if (!existing) return reply(404, outcome('not-found', `${resourceType}/${id} not found (update cannot create)`));
      if (resource.id !== id) return reply(400, outcome('invalid', 'the body id must match the URL'));
      if (ownerOf(existing) !== ownerOf({ ...resource, id })) return reply(400, outcome('invalid', 'the patient of a resource cannot change'));
      version = Number((existing.meta as { versionId?: string } | undefined)?.versionId ?? '1') + 1;
    }
    const owner = resourceType === 'Patient' ? undefined : ownerOf(resource);
    if (resourceType !== 'Patient' && (!owner || !store.has('Patient', owner))) {
      return reply(422, outcome('invalid', 'the resource must reference a known Patient'));
    }
    if (permission.patient !== undefined && owner !== permission.patient) return this.forbidden(resourceType, interaction);
    const saved = await store.put({
      ...resource,
      id: id ?? `e${randomBytes(17).toString('base64url').replace(/[-_]/g, 'x')}`,
      meta: { versionId: String(version), lastUpdated: new Date(this.deps.clock()).toISOString() },
    });
    await this.recordProvenance(saved, grant, owner);
    const location = `${this.deps.fhirBase}/${resourceType}/${saved.id}/_history/${version}`;
    const minimal = /return=minimal/.test(String(req.headers.prefer ?? ''));
    return reply(id === undefined ? 201 : 200, minimal ? {} : saved, { location, etag: `W/"${version}"` });
  }
}
