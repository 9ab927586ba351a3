import { createHash } from 'node:crypto';
import { Hl7Message, Hl7ParseError } from '../../engine/hl7/index.js';
import { ConversionError, type ConversionResult, type FhirBundle } from '../types.js';
import { buildBundle } from './bundle.js';
import { Ctx, DEFAULT_OPTIONS, type V2ToFhirOptions } from './context.js';
import { checkTimeZone, v2DateTime } from './datetime.js';
import { SegmentReader } from './fields.js';
import { messageHeader, provenance } from './header.js';
import { chooseMap, walk } from './messages.js';

/*
 * HL7 v2 → FHIR R4 (ADT A01/A02/A03/A04/A08/A11/A13/A28/A31/A34/A40, ORM^O01, ORU^R01),
 * following the HL7 V2-to-FHIR IG where it is clear. Pure and deterministic: the output
 * depends on the message and the options only (no clock, no host time zone, no random ids).
 */

export type { V2ToFhirOptions } from './context.js';
export { DEFAULT_OPTIONS } from './context.js';
export { SUPPORTED_TYPES, chooseMap } from './messages.js';
export { EXT } from './extensions.js';
export { CODE_SYSTEMS, lookupSystem } from './codesystems.js';
export { STATUS_BY_TRIGGER, ENCOUNTER_CLASS } from './encounter.js';
export { uuidV5, resourceId } from './ids.js';

const VALID_BUNDLES: ReadonlySet<string> = new Set(['transaction', 'batch', 'collection', 'message']);

function resolveOptions(options: Partial<V2ToFhirOptions> | undefined): V2ToFhirOptions {
  const o: V2ToFhirOptions = { ...DEFAULT_OPTIONS };
  if (options) {
    for (const k of ['bundle', 'timezone', 'provenance', 'attachOriginal', 'typedOrderSearch'] as const) {
      if (options[k] !== undefined) (o as unknown as Record<string, unknown>)[k] = options[k];
    }
  }
  if (!VALID_BUNDLES.has(o.bundle)) throw new ConversionError(`unknown bundle type ${JSON.stringify(o.bundle)} (transaction, batch, collection, message)`, 'bad-option');
  try {
    checkTimeZone(o.timezone);
  } catch {
    throw new ConversionError(`unknown time zone ${JSON.stringify(o.timezone)}: give an IANA zone such as America/Chicago`, 'bad-option');
  }
  return o;
}

export function v2ToFhir(input: Hl7Message | string | Uint8Array, options?: Partial<V2ToFhirOptions>): ConversionResult<FhirBundle> {
  const opts = resolveOptions(options);
  let msg: Hl7Message;
  try {
    msg = input instanceof Hl7Message ? input : Hl7Message.parse(input);
  } catch (err) {
    if (err instanceof Hl7ParseError) throw new ConversionError(`not an HL7 v2 message: ${err.message}`, 'not-hl7');
    throw err;
  }
  const d = msg.delimiters;
  const readers: SegmentReader[] = [];
  const seen = new Map<string, number>();
  for (let i = 0; i < msg.segments.length; i++) {
    const seg = msg.segments[i]!;
    const occurrence = (seen.get(seg.name) ?? 0) + 1;
    seen.set(seg.name, occurrence);
    readers.push(new SegmentReader(seg, d, i + 1, occurrence));
  }
  const msh = readers[0]!;
  const type = msh.field(9);
  const trigger = type.str(2).toUpperCase();
  const family = chooseMap(type.str(1), trigger, type.str(3));
  const facility = msh.field(4);
  const app = msh.field(3);
  const sender = facility.str(1) || facility.str(2) || app.str(1) || app.str(2) || 'unknown-sender';
  const controlId = msh.text(10).trim();
  // Without MSH-10 the message itself is the key, so two messages from one sender never share ids.
  const messageKey = controlId !== '' ? controlId : `sha1:${createHash('sha1').update(input instanceof Hl7Message ? msg.toString() : input).digest('hex')}`;
  const ctx = new Ctx(msg, opts, sender, controlId, messageKey);
  if (ctx.controlId === '') ctx.warn('missing-required', 'MSH-10 (message control id) is empty: resources without identifiers are keyed by a hash of the message', msh.path(10));

  const header = messageHeader(ctx, msh, trigger);
  walk(ctx, readers.slice(1), family, trigger, header.resource);
  const focus = ctx.produced.filter((e) => FOCUS[family]!.has(e.resource.resourceType)).map((e) => ({ reference: e.fullUrl }));
  if (focus.length > 0) header.resource.focus = focus;
  if (opts.provenance) provenance(ctx, msh, trigger, () => (input instanceof Hl7Message ? msg.toString() : input));
  const timestamp = v2DateTime(msh.str(7), opts.timezone)?.value;
  const bundle = buildBundle(ctx.produced, opts, `${sender}|${ctx.messageKey}`, timestamp && timestamp.length >= 25 ? timestamp : undefined);
  return { result: bundle, warnings: ctx.warnings };
}

/** The resources a MessageHeader points at, per map. */
const FOCUS: Readonly<Record<string, ReadonlySet<string>>> = {
  adt: new Set(['Patient', 'Encounter']),
  merge: new Set(['Patient']),
  orm: new Set(['ServiceRequest']),
  oru: new Set(['DiagnosticReport']),
};
