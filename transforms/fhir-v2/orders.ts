import { Resources, type Build } from './context.js';
import { cwe, cx, ei, firstCode, xcn } from './datatypes.js';
import { repeat, type Field } from './encode.js';
import { EXT } from '../v2-fhir/extensions.js';
import { extensionValue, obj, objs, str, type Json } from './json.js';
import { writeObx } from './obx.js';
import { fieldOf, timestamp, writeNotes } from './segments.js';

/*
 * ORC/OBR from ServiceRequest and DiagnosticReport, and the ORU^R01 / ORM^O01 order
 * groups built from them.
 */

/** The identifier typed PLAC (placer) or FILL (filler) in v2-0203, as an EI. */
function typedIdentifier(r: Json | undefined, type: 'PLAC' | 'FILL'): Field {
  // Identifiers from other fields (OBR-53 alternate placer, ORC-4 group) are not the order number.
  const found = objs(r?.identifier).find((i) => firstCode(i.type) === type && fieldOf(i) === undefined);
  return found ? ei(found) : undefined;
}

/** The identifier the forward map took from `field` (an ORC number differing from the OBR's), as an EI. */
function tagged(r: Json | undefined, field: string): Field {
  const found = objs(r?.identifier).find((i) => str(i.value) && fieldOf(i) === field);
  return found ? ei(found) : undefined;
}

/** Identifiers the forward map took from `field` (`hl7v2-field`), as CX repetitions. */
function fromField(r: Json | undefined, field: string): Field {
  const found = objs(r?.identifier).filter((i) => str(i.value) && fieldOf(i) === field);
  return found.length > 0 ? repeat(found.map(cx)) : undefined;
}

/** ORC-4 placer group number: the request's requisition, else the report's PGN identifier. */
function placerGroup(request: Json | undefined, report: Json | undefined): Field {
  const requisition = obj(request?.requisition);
  if (requisition && str(requisition.value)) return ei(requisition);
  return tagged(report, 'ORC-4');
}

/** An untyped identifier stands for the filler order number (a lab's report or result id). */
function fillerOrFirst(r: Json | undefined): Field {
  const typed = typedIdentifier(r, 'FILL');
  if (typed) return typed;
  const untyped = objs(r?.identifier).find((i) => str(i.value) && firstCode(i.type) === undefined);
  return untyped ? ei(untyped) : undefined;
}

/** DiagnosticReport.status → OBR-25 (HL7 table 0123). */
const REPORT_STATUS: Readonly<Record<string, string>> = {
  registered: 'I', partial: 'A', preliminary: 'P', final: 'F', amended: 'C', corrected: 'C', appended: 'C', cancelled: 'X', 'entered-in-error': 'X',
};

/** ServiceRequest.status → ORC-1 order control. */
const ORDER_CONTROL: Readonly<Record<string, string>> = { draft: 'NW', active: 'NW', 'on-hold': 'HD', revoked: 'CA', completed: 'SC', 'entered-in-error': 'CA', unknown: 'NW' };

/** The placer order number: the PLAC identifier, else a request's first identifier. */
function placer(request: Json | undefined): Field {
  const first = objs(request?.identifier).find((i) => str(i.value) && firstCode(i.type) !== 'FILL' && fieldOf(i) === undefined);
  return typedIdentifier(request, 'PLAC') ?? (first ? ei(first) : undefined);
}

function requester(b: Build, request: Json | undefined): Field {
  const ref = obj(request?.requester);
  return ref ? xcn(ref, b.res.resolve(ref, request)) : undefined;
}

function writeOrc(b: Build, control: string, request: Json | undefined, report?: Json): void {
  const fields: Field[] = [];
  fields[0] = control;
  fields[1] = tagged(request, 'ORC-2') ?? placer(request);
  fields[2] = tagged(request, 'ORC-3') ?? typedIdentifier(request, 'FILL');
  fields[3] = placerGroup(request, report);
  fields[32] = fromField(request, 'ORC-33');
  fields[8] = timestamp(b, request, 'authoredOn', request ? Resources.label(request) : 'ServiceRequest');
  fields[11] = requester(b, request);
  b.w.segment('ORC', fields);
}

/** OBR for a report (ORU) or a request (ORM); `observation` stands in for a report when there is none. */
function writeObr(b: Build, report: Json | undefined, request: Json | undefined, observation?: Json): void {
  const source = report ?? observation ?? request ?? {};
  const where = Resources.label(source);
  const code = cwe(obj(source.code) ?? obj(request?.code));
  if (code.value.every((c) => c === '')) b.res.warn('missing-required', 'no code for OBR-4 (universal service id)', `${where}.code`);
  const effectivePeriod = obj(source.effectivePeriod);
  const fields: Field[] = [];
  fields[0] = String(b.w.count('OBR') + 1);
  fields[1] = typedIdentifier(report, 'PLAC') ?? placer(request);
  fields[2] = report || observation ? fillerOrFirst(report ?? observation) : typedIdentifier(request, 'FILL');
  fields[3] = code.value;
  fields[6] = effectivePeriod ? timestamp(b, effectivePeriod, 'start', `${where}.effectivePeriod`) : timestamp(b, source, 'effectiveDateTime', where) ?? timestamp(b, request, 'occurrenceDateTime', where);
  fields[7] = effectivePeriod ? timestamp(b, effectivePeriod, 'end', `${where}.effectivePeriod`) : undefined;
  fields[15] = requester(b, request);
  fields[21] = report ? timestamp(b, report, 'issued', where) : undefined;
  const category = objs(report?.category).map(firstCode).find((c) => c !== undefined);
  fields[23] = category && /^[A-Z]{2,3}$/.test(category) ? category : undefined;
  const status = str(report?.status);
  fields[24] = extensionValue(report?._status, EXT.code) ?? (status ? REPORT_STATUS[status] : undefined);
  fields[30] = repeat(objs(request?.reasonCode).map((r) => cwe(r).value));
  const interpreter = objs(report?.resultsInterpreter)[0];
  fields[31] = interpreter ? xcn(interpreter, b.res.resolve(interpreter, report)) : undefined;
  fields[52] = fromField(report, 'OBR-53') ?? fromField(request, 'OBR-53');
  if (!request && !report && !observation) b.res.warn('missing-required', 'OBR without a report or request', where);
  b.w.segment('OBR', fields);
}

/** One ORU order group: [ORC] OBR [NTE] {OBX [NTE]}; `before` are unlisted observations written first. */
export function writeReport(b: Build, report: Json, before: readonly Json[] = []): void {
  const where = Resources.label(report);
  const request = objs(report.basedOn).map((r) => b.res.resolve(r, report)).find((r) => r?.resourceType === 'ServiceRequest');
  if (request) writeOrc(b, 'RE', request, report);
  writeObr(b, report, request);
  // OBR's NTEs: the order's notes (where the v2 → FHIR map puts them), then the conclusion.
  writeNotes(b, [...objs(request?.note), ...(typeof report.conclusion === 'string' ? [{ text: report.conclusion }] : [])]);
  for (const o of before) writeObx(b, o);
  const results = objs(report.result);
  if (results.length === 0 && before.length === 0) b.res.warn('missing-value', 'DiagnosticReport has no result', `${where}.result`);
  results.forEach((ref, i) => {
    const o = b.res.resolve(ref, report);
    if (!o || o.resourceType !== 'Observation') {
      b.res.warn('unresolved-reference', `result ${JSON.stringify(str(ref.reference) ?? '')} is not an Observation in the input; skipped`, `${where}.result[${i}]`);
      return;
    }
    writeObx(b, o);
  });
}

/** An Observation outside any report gets its own OBR (as Microsoft's converter does). */
export function writeLooseObservation(b: Build, o: Json): void {
  writeObr(b, undefined, undefined, o);
  writeObx(b, o);
}

/** One ORM order group: ORC OBR [NTE] {OBX [NTE]}; OBX from the request's supportingInfo Observations. */
export function writeRequest(b: Build, request: Json, extra: readonly Json[] = []): void {
  const status = str(request.status) ?? 'active';
  writeOrc(b, ORDER_CONTROL[status] ?? 'NW', request);
  writeObr(b, undefined, request);
  writeNotes(b, request.note);
  for (const o of supportingObservations(b, request)) writeObx(b, o);
  for (const o of extra) writeObx(b, o);
}

/** Observations a request lists in supportingInfo (ask-at-order-entry answers, prior results). */
export function supportingObservations(b: Build, request: Json): Json[] {
  return objs(request.supportingInfo).map((ref) => b.res.resolve(ref, request)).filter((o): o is Json => o?.resourceType === 'Observation');
}
