/*
 * Compares our v2 → FHIR output with another converter's (Microsoft FHIR-Converter's
 * expected outputs) on key elements, after normalising what cannot agree by design:
 *  - ids and references (theirs are hash-based, ours UUIDv5): resources are matched by
 *    type and identifiers, then by key elements, never by id;
 *  - date-time offsets (Microsoft renders a v2 time without offset in the converting host's
 *    zone): date-times compare on their wall-clock digits;
 *  - code systems and displays: codes compare on the code value; systems are a policy
 *    choice reported on their own, not a mismatch of the element.
 * Each difference then gets a verdict from ig-rules.ts: who follows the HL7 V2-to-FHIR IG.
 */
import type { Hl7Message } from '../../engine/hl7/index.js';
import type { FhirBundle, FhirResource } from '../types.js';
import { igVerdict, type IgVerdict } from './ig-rules.js';

type Json = Record<string, unknown>;

/** The resource types and elements the report looks at. */
const KEY_ELEMENTS: Readonly<Record<string, readonly string[]>> = {
  Patient: ['identifier', 'name', 'birthDate', 'gender', 'address'],
  Encounter: ['identifier', 'class', 'status', 'period.start', 'period.end'],
  Observation: ['code', 'status', 'value'],
  DiagnosticReport: ['identifier', 'code', 'status'],
  ServiceRequest: ['identifier', 'code', 'status', 'intent'],
  AllergyIntolerance: ['code'],
  Condition: ['code'],
  RelatedPerson: ['name'],
  Coverage: ['identifier'],
};

export interface ElementComparison {
  readonly element: string;
  readonly ours: readonly string[];
  readonly theirs: readonly string[];
  readonly agree: boolean;
  /** For a difference: who follows the IG, and why. */
  readonly verdict?: IgVerdict;
}

export interface ResourceComparison {
  readonly resourceType: string;
  /** A readable key: first identifier or code. */
  readonly label: string;
  readonly inOurs: boolean;
  readonly inTheirs: boolean;
  readonly elements: readonly ElementComparison[];
}

export interface BundleComparison {
  /** Per resource type: how many each side produced. */
  readonly counts: Readonly<Record<string, { ours: number; theirs: number }>>;
  readonly resources: readonly ResourceComparison[];
}

const asArray = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v]);
const asObject = (v: unknown): Json => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : {});
const str = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : '');
const norm = (s: string): string => s.trim().replace(/\s+/g, ' ').toUpperCase();
/** A set of normalised values; separators left alone (an empty address is `| | | |`) are no value. */
const uniqueSorted = (values: string[]): string[] => [...new Set(values.filter((v) => v.replace(/[\s|,]/g, '') !== ''))].sort();

const DATE_TIME = /^\d{4}-\d{2}-\d{2}T/;

/**
 * Two date-times agree when their wall clocks do (Microsoft gives a v2 time without offset
 * its host's offset, we give the configured zone) or when they are the same instant (for a
 * v2 time with an offset, Microsoft converts to its host's zone and we keep the offset).
 */
export function sameDateTime(a: string, b: string): boolean {
  if (a === b) return true;
  if (!DATE_TIME.test(a) || !DATE_TIME.test(b)) return false;
  if (wallClock(a) === wallClock(b)) return true;
  const x = Date.parse(a);
  return !Number.isNaN(x) && x === Date.parse(b);
}

function sameValues(element: string, x: readonly string[], y: readonly string[]): boolean {
  if (x.length !== y.length) return false;
  if (element.startsWith('period.')) return x.every((v, i) => sameDateTime(v, y[i] ?? ''));
  return x.every((v, i) => v === y[i]);
}

/** `2015-02-08T11:34:19+01:10` → `2015-02-08T11:34:19`; `2015-02-08T11:34:19.000Z` → `2015-02-08T11:34:19`. */
export function wallClock(dateTime: string): string {
  return dateTime.replace(/(?:Z|[+-]\d{2}:\d{2})$/, '').replace(/\.0+$/, '').replace(/T(\d{2}:\d{2})$/, 'T$1:00');
}

function codes(concept: unknown): string[] {
  const c = asObject(concept);
  return asArray(c['coding']).map((coding) => str(asObject(coding)['code']));
}

function nameText(name: unknown): string {
  const n = asObject(name);
  const given = asArray(n['given']).map(str).join(' ');
  const family = str(n['family']);
  return norm(family || given ? `${family}, ${given}` : str(n['text']));
}

function addressText(address: unknown): string {
  const a = asObject(address);
  return norm([asArray(a['line']).map(str).join(' '), str(a['city']), str(a['state']), str(a['postalCode']), str(a['country'])].join(' | '));
}

function valueText(r: Json): string[] {
  if (r['valueQuantity'] !== undefined) {
    const q = asObject(r['valueQuantity']);
    return [norm(`${Number(str(q['value']))} ${str(q['code']) || str(q['unit'])}`)];
  }
  if (r['valueCodeableConcept'] !== undefined) return codes(r['valueCodeableConcept']).map(norm);
  if (r['valueString'] !== undefined) return [norm(str(r['valueString']))];
  if (r['valueDateTime'] !== undefined) return [wallClock(str(r['valueDateTime']))];
  for (const k of ['valueInteger', 'valueBoolean', 'valueTime']) if (r[k] !== undefined) return [norm(str(r[k]))];
  if (r['valueRange'] !== undefined || r['valueRatio'] !== undefined) return [norm(JSON.stringify(r['valueRange'] ?? r['valueRatio']))];
  return [];
}

/** The normalised values of one key element of a resource (a set, sorted). */
export function elementValues(resource: Json, element: string): string[] {
  switch (element) {
    case 'identifier': return uniqueSorted(asArray(resource['identifier']).map((i) => str(asObject(i)['value'])));
    case 'name': return uniqueSorted(asArray(resource['name']).map(nameText));
    case 'address': return uniqueSorted(asArray(resource['address']).map(addressText));
    case 'birthDate': case 'gender': case 'status': case 'intent': return uniqueSorted([str(resource[element])]);
    case 'class': return uniqueSorted([str(asObject(resource['class'])['code'])]);
    case 'period.start': case 'period.end':
      // Kept as sent: sameValues() compares date-times by wall clock or by instant.
      return uniqueSorted([str(asObject(resource['period'])[element.slice('period.'.length)])]);
    case 'code': return uniqueSorted(codes(resource['code']).map(norm));
    case 'value': return uniqueSorted(valueText(resource));
    default: return [];
  }
}

function label(resource: Json): string {
  const id = elementValues(resource, 'identifier')[0];
  if (id) return id;
  const code = elementValues(resource, 'code')[0];
  if (code) return code;
  return elementValues(resource, 'name')[0] ?? '(no identifier, code or name)';
}

/** Small-vocabulary elements (status, gender...) only break ties: they alone never make a pair. */
const ELEMENT_WEIGHT: Readonly<Record<string, number>> = { code: 3, value: 3, name: 3, status: 0.1, intent: 0.1, gender: 0.1, class: 0.1 };

/** How alike two resources of one type are: shared identifiers count most, then agreeing elements. */
function similarity(resourceType: string, a: Json, b: Json): number {
  let score = 0;
  const ids = new Set(elementValues(a, 'identifier'));
  for (const id of elementValues(b, 'identifier')) if (ids.has(id)) score += 10;
  for (const element of KEY_ELEMENTS[resourceType] ?? []) {
    if (element === 'identifier') continue;
    const x = elementValues(a, element);
    const y = elementValues(b, element);
    if (x.some((v) => y.some((w) => (element.startsWith('period.') ? sameDateTime(v, w) : v === w)))) score += ELEMENT_WEIGHT[element] ?? 1;
  }
  return score;
}

function resourcesOf(bundle: FhirBundle): FhirResource[] {
  return (bundle.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : []));
}

/** Pairs ours and theirs of one type, best similarity first; a pair needs an identifier or a key element in common. */
export function matchResources(resourceType: string, ours: readonly Json[], theirs: readonly Json[]): Array<[Json | undefined, Json | undefined]> {
  const candidates: Array<{ i: number; j: number; score: number }> = [];
  ours.forEach((a, i) => theirs.forEach((b, j) => {
    const score = similarity(resourceType, a, b);
    if (score >= 1 || (ours.length === 1 && theirs.length === 1)) candidates.push({ i, j, score });
  }));
  candidates.sort((x, y) => y.score - x.score || x.i - y.i || x.j - y.j);
  const usedOurs = new Set<number>();
  const usedTheirs = new Set<number>();
  const pairs: Array<[Json | undefined, Json | undefined]> = [];
  for (const c of candidates) {
    if (usedOurs.has(c.i) || usedTheirs.has(c.j)) continue;
    usedOurs.add(c.i);
    usedTheirs.add(c.j);
    pairs.push([ours[c.i], theirs[c.j]]);
  }
  ours.forEach((a, i) => { if (!usedOurs.has(i)) pairs.push([a, undefined]); });
  theirs.forEach((b, j) => { if (!usedTheirs.has(j)) pairs.push([undefined, b]); });
  return pairs;
}

/** Compares two bundles made from the same v2 message (given, so verdicts can read the source). */
export function compareBundles(ours: FhirBundle, theirs: FhirBundle, source?: Hl7Message): BundleComparison {
  const ourResources = resourcesOf(ours);
  const theirResources = resourcesOf(theirs);
  const counts: Record<string, { ours: number; theirs: number }> = {};
  for (const r of ourResources) (counts[r.resourceType] ??= { ours: 0, theirs: 0 }).ours++;
  for (const r of theirResources) (counts[r.resourceType] ??= { ours: 0, theirs: 0 }).theirs++;

  const resources: ResourceComparison[] = [];
  for (const [resourceType, elements] of Object.entries(KEY_ELEMENTS)) {
    const a = ourResources.filter((r) => r.resourceType === resourceType);
    const b = theirResources.filter((r) => r.resourceType === resourceType);
    for (const [mine, other] of matchResources(resourceType, a, b)) {
      const compared: ElementComparison[] = [];
      if (mine && other) {
        for (const element of elements) {
          const x = elementValues(mine, element);
          const y = elementValues(other, element);
          if (x.length === 0 && y.length === 0) continue;
          const agree = sameValues(element, x, y);
          const verdict = agree ? undefined : igVerdict({ resourceType, element, ours: x, theirs: y, oursResource: mine, theirsResource: other, source });
          compared.push({ element, ours: x, theirs: y, agree, ...(verdict ? { verdict } : {}) });
        }
      }
      resources.push({ resourceType, label: label((mine ?? other)!), inOurs: mine !== undefined, inTheirs: other !== undefined, elements: compared });
    }
  }
  return { counts, resources };
}

/** Totals over a comparison: elements that agree and differ, resources only one side has. */
export function summarise(c: BundleComparison): { matched: number; onlyOurs: number; onlyTheirs: number; agree: number; differ: number } {
  let matched = 0, onlyOurs = 0, onlyTheirs = 0, agree = 0, differ = 0;
  for (const r of c.resources) {
    if (r.inOurs && r.inTheirs) matched++;
    else if (r.inOurs) onlyOurs++;
    else onlyTheirs++;
    for (const e of r.elements) if (e.agree) agree++; else differ++;
  }
  return { matched, onlyOurs, onlyTheirs, agree, differ };
}
