import { randomBytes } from 'node:crypto';
import { RESOURCE_RULES } from './capability.js';
import type { FhirResource } from './data.js';
import { outcome } from './http.js';
import { patientOf, type SimStore } from './store.js';

/** Epic pages run up to 1000 entries (EPIC.md "Paging"). */
export const MAX_PAGE_SIZE = 1000;
/** Paging sessions kept; the oldest is forgotten first (its next link then gets a 400). */
const MAX_SESSIONS = 2000;

export interface SearchResult {
  status: number;
  body: object;
}

interface PagingSession {
  resourceType: string;
  matches: FhirResource[];
  pageSize: number;
  includes: string[];
  /** `_revinclude=Provenance:target` asked for (the one revinclude Epic declares). */
  provenance: boolean;
  /** The client whose token started the search; only it may follow the cursors. */
  clientId: string;
}

/** Which field of a resource an `_include` parameter follows. */
const INCLUDE_FIELDS: Record<string, string[]> = { patient: ['subject', 'patient'], subject: ['subject'], encounter: ['encounter'] };

const bad = (diagnostics: string): SearchResult => ({ status: 400, body: outcome('invalid', diagnostics) });

/**
 * Epic's search rules in front of medplum's matching: `_id` wins over everything, clinical
 * searches need the patient (Observation also `code` or `category`), undeclared parameters are
 * silently dropped, empty results carry an OperationOutcome entry, and paging uses opaque
 * `sessionID` cursors (EPIC.md "Search quirks", "Paging").
 */
export class EpicSearch {
  /** Cursor -> the session and the offset of the page it points to. */
  private readonly cursors = new Map<string, { session: PagingSession; offset: number }>();

  constructor(
    private readonly store: SimStore,
    private readonly options: { fhirBase: string; supportsInclude: boolean; pageSize: number },
  ) {}

  /**
   * `restrictToPatient`: a patient-context token may only search its own patient. `clientId`
   * owns the paging session: another client's token cannot page through its results.
   */
  async search(resourceType: string, params: URLSearchParams, restrictToPatient: string | undefined, clientId: string): Promise<SearchResult> {
    const cursor = params.get('sessionID');
    if (cursor !== null) {
      const found = this.cursors.get(cursor);
      if (!found || found.session.resourceType !== resourceType || found.session.clientId !== clientId) return bad('sessionID is unknown or expired');
      return { status: 200, body: await this.page(found.session, found.offset) };
    }
    const rules = RESOURCE_RULES[resourceType];
    if (!rules) return { status: 404, body: outcome('not-supported', `${resourceType} is not supported`) };

    const countParam = Number(params.get('_count'));
    const pageSize = Number.isInteger(countParam) && countParam > 0 ? Math.min(countParam, MAX_PAGE_SIZE) : this.options.pageSize;
    const includes = this.options.supportsInclude ? params.getAll('_include').filter((i) => rules.includes?.includes(i)) : [];

    const ids = params.get('_id');
    let matches: FhirResource[];
    if (ids !== null) {
      // Epic: `_id` makes every other parameter be ignored.
      matches = [];
      for (const id of ids.split(',')) {
        const found = await this.store.read(resourceType, id.trim());
        if (found) matches.push(found);
      }
      if (restrictToPatient) matches = matches.filter((r) => ownerOf(r) === restrictToPatient);
    } else {
      const declared = [...params].filter(([name]) => {
        const base = name.split(':')[0] ?? name;
        return base in rules.searchParams && base !== '_id';
      });
      const patientValues = declared.filter(([n]) => n === 'patient' || n === 'subject').map(([, v]) => v.replace(/^Patient\//, ''));
      const patient = patientValues[0];
      if (rules.requiresPatient && patient === undefined) return bad(`${resourceType} search requires the patient parameter`);
      if (resourceType === 'Observation' && !declared.some(([n]) => n.startsWith('code') || n.startsWith('category'))) {
        return bad('Observation search requires patient and code or category');
      }
      if (resourceType === 'Patient' && declared.length === 0) return bad('Patient search requires at least one supported parameter');
      if (restrictToPatient && patient !== restrictToPatient && resourceType !== 'Patient') {
        return { status: 403, body: outcome('forbidden', 'the token is limited to another patient') };
      }
      const rest = declared.filter(([n]) => n !== 'patient' && n !== 'subject');
      matches = patientValues.some((v) => v !== patient) ? [] : await this.store.search(resourceType, patient, rest);
      if (resourceType === 'Patient' && restrictToPatient) matches = matches.filter((r) => r.id === restrictToPatient);
    }
    const provenance = params.getAll('_revinclude').includes('Provenance:target');
    return { status: 200, body: await this.page({ resourceType, matches, pageSize, includes, provenance, clientId }, 0) };
  }

  private async page(session: PagingSession, offset: number): Promise<object> {
    const { fhirBase } = this.options;
    const slice = session.matches.slice(offset, offset + session.pageSize);
    const entry: object[] = slice.map((resource) => ({
      fullUrl: `${fhirBase}/${resource.resourceType}/${resource.id}`,
      resource,
      search: { mode: 'match' },
    }));
    const extra = await this.included(slice, session.includes);
    if (session.provenance) extra.push(...(await this.provenanceOf(slice)));
    for (const resource of extra) {
      entry.push({ fullUrl: `${fhirBase}/${resource.resourceType}/${resource.id}`, resource, search: { mode: 'include' } });
    }
    if (session.matches.length === 0) {
      entry.push({ resource: outcome('processing', 'No resources found matching the search.', 'information'), search: { mode: 'outcome' } });
    }
    const link = [{ relation: 'self', url: `${fhirBase}/${session.resourceType}` }];
    const nextOffset = offset + session.pageSize;
    if (nextOffset < session.matches.length) {
      link.push({ relation: 'next', url: `${fhirBase}/${session.resourceType}?sessionID=${this.cursorFor(session, nextOffset)}` });
    }
    return { resourceType: 'Bundle', type: 'searchset', total: session.matches.length, link, entry };
  }

  private cursorFor(session: PagingSession, offset: number): string {
    const cursor = randomBytes(18).toString('base64url');
    this.cursors.set(cursor, { session, offset });
    if (this.cursors.size > MAX_SESSIONS) {
      const oldest = this.cursors.keys().next().value;
      if (oldest !== undefined) this.cursors.delete(oldest);
    }
    return cursor;
  }

  /** Provenance is filed with the patient of its target (Patients' own in the shared store). */
  private async provenanceOf(resources: FhirResource[]): Promise<FhirResource[]> {
    const targetsByShard = new Map<string | undefined, string[]>();
    for (const r of resources) {
      const shard = r.resourceType === 'Patient' ? undefined : ownerOf(r);
      targetsByShard.set(shard, [...(targetsByShard.get(shard) ?? []), `${r.resourceType}/${r.id}`]);
    }
    const out: FhirResource[] = [];
    for (const [shard, targets] of targetsByShard) out.push(...(await this.store.search('Provenance', shard, [['target', targets.join(',')]])));
    return out;
  }

  private async included(matches: FhirResource[], includes: string[]): Promise<FhirResource[]> {
    const seen = new Set<string>();
    const out: FhirResource[] = [];
    for (const include of includes) {
      const fields = INCLUDE_FIELDS[include.split(':')[1] ?? ''] ?? [];
      for (const resource of matches) {
        for (const field of fields) {
          const ref = (resource[field] as { reference?: unknown } | undefined)?.reference;
          if (typeof ref !== 'string' || seen.has(ref)) continue;
          seen.add(ref);
          const [type, id] = ref.split('/');
          const target = type && id ? await this.store.read(type, id) : undefined;
          if (target) out.push(target);
        }
      }
    }
    return out;
  }
}

/** The patient a resource belongs to (a Patient belongs to itself). */
export function ownerOf(resource: FhirResource): string | undefined {
  return resource.resourceType === 'Patient' ? resource.id : patientOf(resource);
}
