import type { Ctx, Reference } from './context.js';
import { codeableConcept, cxIdentifier, eiIdentifier, tableConcept, xcnReference, type Json } from './datatypes.js';
import { originalCodeElement, tagField } from './extensions.js';
import type { SegmentReader } from './fields.js';
import { DATA_ABSENT } from './observation.js';

/* ORC/OBR → ServiceRequest, OBR → DiagnosticReport (ORU), SPM → Specimen. */

const ORDER_STATUS: Readonly<Record<string, string>> = { A: 'active', CA: 'revoked', CM: 'completed', DC: 'revoked', ER: 'entered-in-error', HD: 'on-hold', IP: 'active', RP: 'revoked', SC: 'active' };
const ORDER_CONTROL: Readonly<Record<string, string>> = { NW: 'active', OK: 'active', SC: 'active', XO: 'active', XX: 'active', CA: 'revoked', OC: 'revoked', CR: 'revoked', DC: 'revoked', OD: 'revoked', DR: 'revoked', HD: 'on-hold', OH: 'on-hold', RP: 'revoked', RO: 'active', CM: 'completed', RE: 'completed' };
const PRIORITY: Readonly<Record<string, string>> = { S: 'stat', A: 'asap', R: 'routine', P: 'routine', T: 'urgent', C: 'urgent' };
const REPORT_STATUS: Readonly<Record<string, string>> = { O: 'registered', I: 'registered', S: 'registered', A: 'partial', P: 'preliminary', C: 'corrected', R: 'partial', F: 'final', X: 'cancelled', Y: 'unknown', Z: 'unknown', M: 'amended' };
/** The OBR-25 code a reverse map would write for each status; any other original code is kept in `_status`. */
const REPORT_STATUS_V2: Readonly<Record<string, string>> = { registered: 'I', partial: 'A', preliminary: 'P', final: 'F', corrected: 'C', cancelled: 'X', amended: 'M' };
const V2_0203 = 'http://terminology.hl7.org/CodeSystem/v2-0203';

/** The order's identity: filler number, else placer number (ORC first, then OBR). */
export function orderKey(ctx: Ctx, orc: SegmentReader | undefined, obr: SegmentReader | undefined): { authority: string; key: string; token?: string; type?: 'FILL' | 'PLAC' } {
  const candidates = [[orc?.field(3), 'FILL'], [obr?.field(3), 'FILL'], [orc?.field(2), 'PLAC'], [obr?.field(2), 'PLAC']] as const;
  for (const [c, type] of candidates) {
    if (!c || c.str(1) === '') continue;
    const id = eiIdentifier(c);
    const authority = (id?.system as string | undefined) ?? (c.str(2) || c.str(3) || ctx.sender);
    return { authority, key: c.str(1), token: id?.system ? `${id.system as string}|${c.str(1)}` : undefined, type };
  }
  const seg = obr ?? orc!;
  return { authority: ctx.sender, key: ctx.localKey(seg.index) };
}

const PLACER = { coding: [{ system: V2_0203, code: 'PLAC', display: 'Placer Identifier' }] };
const FILLER = { coding: [{ system: V2_0203, code: 'FILL', display: 'Filler Identifier' }] };
// PGN is newer than the v2-0203 release R4 validators know (not in V2_TABLE_CODES): no system then.
const PLACER_GROUP = tableConcept('PGN', '0203', 'Placer Group Number');

/** ORC-4 placer group number typed PGN (IG ORC map: ServiceRequest.requisition, DiagnosticReport.identifier). */
function placerGroup(orc: SegmentReader | undefined): Json | undefined {
  const id = orc ? eiIdentifier(orc.field(4)) : undefined;
  return id ? { type: PLACER_GROUP, ...id } : undefined;
}

function identifiers(ctx: Ctx, orc: SegmentReader | undefined, obr: SegmentReader | undefined, alternates = true): Json[] {
  const out: Json[] = [];
  const seen = new Set<string>();
  const push = (id: Json | undefined) => {
    if (!id) return;
    // Placer and filler may carry the same number: both are kept, each with its type.
    const k = `${JSON.stringify(id.type)}|${id.system as string}|${id.value as string}`;
    if (seen.has(k)) return;
    seen.add(k);
    out.push(id);
  };
  // IG: ORC-2/ORC-3 only when the OBR has none; a differing ORC number is kept as well,
  // tagged, so the reverse map writes each back to its own segment.
  for (const [n, type] of [[2, PLACER], [3, FILLER]] as const) {
    const fromObr = obr ? eiIdentifier(obr.field(n)) : undefined;
    if (fromObr) push({ type, ...fromObr });
    const fromOrc = orc ? eiIdentifier(orc.field(n)) : undefined;
    if (fromOrc) push(fromObr ? tagField({ type, ...fromOrc }, `ORC-${n}`) : { type, ...fromOrc });
  }
  // Alternate placer order numbers are CX (OBR-53, else ORC-33; IG ORC/OBR maps), typed PLAC.
  // The IG maps them to ServiceRequest only, never to the DiagnosticReport.
  if (!alternates) return out;
  const alternate = obr && obr.reps(53).length > 0 ? obr : orc;
  const n = alternate === obr ? 53 : 33;
  for (const rep of alternate?.reps(n) ?? []) {
    const id = cxIdentifier(ctx, rep, alternate!.path(n));
    if (id) push(tagField({ ...id, type: PLACER }, `${alternate!.name}-${n}`));
  }
  return out;
}

export interface OrderScope {
  readonly patient: Reference | undefined;
  readonly encounter: Reference | undefined;
}

/** ORC (its own, never a previous order's) and/or OBR → ServiceRequest. */
export function serviceRequest(ctx: Ctx, orc: SegmentReader | undefined, obr: SegmentReader | undefined, scope: OrderScope): { ref: Reference; resource: Json; key: string } {
  const sr: Json = { resourceType: 'ServiceRequest' };
  const ids = identifiers(ctx, orc, obr);
  if (ids.length > 0) sr.identifier = ids;
  let status = 'unknown';
  if (orc) status = ORDER_STATUS[orc.str(5).toUpperCase()] ?? ORDER_CONTROL[orc.str(1).toUpperCase()] ?? 'unknown';
  else if (obr) status = 'active';
  sr.status = status;
  sr.intent = 'order';
  const priority = PRIORITY[(obr?.str(5) || obr?.field(27).str(6) || orc?.field(7).str(6) || '').toUpperCase()];
  if (priority) sr.priority = priority;
  if (obr) {
    const code = codeableConcept(ctx, obr.field(4), obr.path(4));
    if (code) sr.code = code;
    else ctx.warn('missing-required', 'OBR-4 (universal service identifier) is empty', obr.path(4));
  }
  if (scope.patient) sr.subject = scope.patient;
  else {
    ctx.warn('missing-required', 'no PID before the order: ServiceRequest.subject is unknown', (obr ?? orc)!.path(1));
    sr.subject = { display: 'unknown' };
  }
  if (scope.encounter) sr.encounter = scope.encounter;
  // ORC-4 placer group number → requisition (IG ORC map).
  const group = placerGroup(orc);
  if (group) sr.requisition = group;
  if (orc) ctx.dateTime(sr, 'authoredOn', orc.str(9), orc.path(9));
  if (!sr.authoredOn && obr) ctx.dateTime(sr, 'authoredOn', obr.str(6), obr.path(6));
  if (obr && obr.str(7) !== '') ctx.dateTime(sr, 'occurrenceDateTime', obr.str(7), obr.path(7));
  const requester = (orc && xcnReference(orc.field(12))) ?? (obr && xcnReference(obr.field(16)));
  if (requester) sr.requester = requester;
  if (obr) {
    const reasons = obr.reps(31).map((r) => codeableConcept(ctx, r, obr.path(31))).filter((c) => c !== undefined);
    if (reasons.length > 0) sr.reasonCode = reasons;
  }
  const k = orderKey(ctx, orc, obr);
  // With typedOrderSearch, both must hold: this system|number, and a FILL (or PLAC) identifier with this number.
  const search = k.token && ctx.options.typedOrderSearch ? `identifier=${k.token}&identifier:of-type=${V2_0203}|${k.type ?? ''}|${k.key}` : k.token ? `identifier=${k.token}` : undefined;
  const ref = ctx.add(sr as { resourceType: string }, k.authority, k.key, search);
  // An order seen twice (same filler number, e.g. an ORC alone, then its OBR) is one
  // resource: the first wins, and what only the later segments say is added to it.
  const first = ctx.resourceOf(ref);
  if (first !== sr) mergeOrder(first, sr);
  return { ref, resource: first, key: `${k.authority}|${k.key}` };
}

/** Adds to `first` the identifiers and elements only `later` has (same order, more segments). */
function mergeOrder(first: Json, later: Json): void {
  const ids = (first.identifier as Json[] | undefined) ?? [];
  const known = new Set(ids.map((i) => `${i.system as string}|${i.value as string}`));
  for (const id of (later.identifier as Json[] | undefined) ?? []) {
    if (!known.has(`${id.system as string}|${id.value as string}`)) ids.push(id);
  }
  if (ids.length > 0) first.identifier = ids;
  for (const [key, value] of Object.entries(later)) if (!(key in first)) first[key] = value;
}

/** OBR in an ORU → DiagnosticReport based on the order's ServiceRequest. */
export function diagnosticReport(ctx: Ctx, orc: SegmentReader | undefined, obr: SegmentReader, scope: OrderScope, basedOn: Reference): { ref: Reference; resource: Json } {
  const dr: Json = { resourceType: 'DiagnosticReport' };
  // Filler and placer numbers (IG OBR map); the ORC's when the OBR has none; no OBR-53/ORC-33.
  const ids = identifiers(ctx, orc, obr, false);
  const group = placerGroup(orc);
  if (group) ids.push(tagField(group, 'ORC-4'));
  if (ids.length > 0) dr.identifier = ids;
  dr.basedOn = [basedOn];
  const statusCode = obr.str(25);
  const status = REPORT_STATUS[statusCode.toUpperCase()];
  if (!status) ctx.warn(statusCode === '' ? 'missing-required' : 'unknown-code', `OBR-25 (result status) ${statusCode === '' ? 'is empty' : `${JSON.stringify(statusCode)} is not in table 0123`}: status set to unknown`, obr.path(25));
  dr.status = status ?? 'unknown';
  if (statusCode !== '' && REPORT_STATUS_V2[dr.status as string] !== statusCode) dr._status = originalCodeElement(statusCode);
  const service = codeableConcept(ctx, obr.field(24), obr.path(24));
  if (service) dr.category = [service];
  dr.code = codeableConcept(ctx, obr.field(4), obr.path(4)) ?? DATA_ABSENT;
  if (scope.patient) dr.subject = scope.patient;
  if (scope.encounter) dr.encounter = scope.encounter;
  ctx.dateTime(dr, 'effectiveDateTime', obr.str(7), obr.path(7));
  // `issued` is an instant: only a timestamp with seconds qualifies.
  const issued = ctx.dateTimeValue(obr.str(22), obr.path(22));
  if (issued && issued.length >= 25) dr.issued = issued;
  const interpreters: Reference[] = [];
  for (const rep of obr.reps(32)) {
    // OBR-32 is NDL: its first component is a CNN held in subcomponents (id & family & given ...).
    const cnn = rep.sub(1);
    const display = [cnn.str(3), cnn.str(2)].filter((x) => x !== '').join(' ');
    if (cnn.str(1) === '' && display === '') continue;
    interpreters.push({ type: 'Practitioner', ...(cnn.str(1) ? { identifier: { value: cnn.str(1) } } : {}), ...(display ? { display } : {}) });
  }
  if (interpreters.length > 0) dr.resultsInterpreter = interpreters;
  const k = orderKey(ctx, orc, obr);
  const ref = ctx.add(dr as { resourceType: string }, k.authority, k.key);
  return { ref, resource: ctx.resourceOf(ref) };
}

/** SPM → Specimen. */
export function specimenFromSpm(ctx: Ctx, spm: SegmentReader, patient: Reference | undefined, orderKeyText: string): Reference {
  const s: Json = { resourceType: 'Specimen' };
  const eip = spm.field(2);
  const ids: Json[] = [];
  const placer = eiIdentifier(eip.sub(1));
  if (placer) ids.push({ type: { coding: [{ system: V2_0203, code: 'PLAC' }] }, ...placer });
  const filler = eiIdentifier(eip.sub(2));
  if (filler) ids.push({ type: { coding: [{ system: V2_0203, code: 'FILL' }] }, ...filler });
  if (ids.length > 0) s.identifier = ids;
  const type = codeableConcept(ctx, spm.field(4), spm.path(4));
  if (type) s.type = type;
  if (patient) s.subject = patient;
  const collection: Json = {};
  const range = spm.field(17);
  if (range.str(2) !== '') {
    const period: Json = {};
    ctx.dateTime(period, 'start', range.str(1), spm.path(17));
    ctx.dateTime(period, 'end', range.str(2), spm.path(17));
    if (Object.keys(period).length > 0) collection.collectedPeriod = period;
  } else ctx.dateTime(collection, 'collectedDateTime', range.str(1), spm.path(17));
  const method = codeableConcept(ctx, spm.field(7), spm.path(7));
  if (method) collection.method = method;
  const site = codeableConcept(ctx, spm.field(8), spm.path(8));
  if (site) collection.bodySite = site;
  if (Object.keys(collection).length > 0) s.collection = collection;
  ctx.dateTime(s, 'receivedTime', spm.str(18), spm.path(18));
  const conditions = spm.reps(24).map((r) => codeableConcept(ctx, r, spm.path(24))).filter((c) => c !== undefined);
  if (conditions.length > 0) s.condition = conditions;
  const description = spm.text(14);
  if (description !== '') s.note = [{ text: description }];
  // A specimen number is unique within its namespace (EI-2..4, i.e. the system), not alone.
  const number = placer ?? filler;
  const key = number ? `${(number.system as string | undefined) ?? ''}|${number.value as string}` : `${orderKeyText}|SPM|${spm.occurrence}`;
  return ctx.add(s as { resourceType: string }, ctx.sender, key);
}
