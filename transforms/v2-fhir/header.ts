import type { Ctx, Reference } from './context.js';
import { hdSystem, type Json } from './datatypes.js';
import { EXT, stringExt, type Extension } from './extensions.js';
import type { SegmentReader } from './fields.js';

/* MSH → MessageHeader; the Provenance of the conversion (IG: source message and transformation). */

const EVENT_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v2-0003';

/** An endpoint URI for an application named by an HD (MSH-3/5): its OID or UUID, else a Sluice URN. */
function endpointOf(hd: { ns: string; id: string; type: string }): string {
  const system = hdSystem('', hd.id, hd.type);
  if (system) return system;
  return `urn:sluice:hl7v2:application:${encodeURIComponent(hd.ns || 'unknown')}`;
}

function hdParts(msh: SegmentReader, n: number): { ns: string; id: string; type: string } {
  const f = msh.field(n);
  return { ns: f.str(1), id: f.str(2), type: f.str(3) };
}

export function messageHeader(ctx: Ctx, msh: SegmentReader, trigger: string): { ref: Reference; resource: Json } {
  const mh: Json = { resourceType: 'MessageHeader' };
  const ext: Extension[] = [];
  // FHIR strings cannot be empty: only values that are there become extensions.
  for (const [url, value] of [[EXT.messageType, msh.text(9)], [EXT.controlId, ctx.controlId], [EXT.version, msh.str(12)]] as const) {
    if (value.trim() !== '') ext.push(stringExt(url, value));
  }
  if (ext.length > 0) mh.extension = ext;
  mh.eventCoding = trigger !== '' ? { system: EVENT_SYSTEM, code: trigger } : { system: EVENT_SYSTEM, code: 'UNK' };
  const dest = hdParts(msh, 5);
  const destFacility = hdParts(msh, 6);
  if (dest.ns !== '' || dest.id !== '' || destFacility.ns !== '') {
    const d: Json = { endpoint: endpointOf(dest) };
    if (dest.ns !== '') d.name = dest.ns;
    if (destFacility.ns !== '' || destFacility.id !== '') d.receiver = { type: 'Organization', display: destFacility.ns || destFacility.id };
    mh.destination = [d];
  }
  const facility = hdParts(msh, 4);
  if (facility.ns !== '' || facility.id !== '') mh.sender = { type: 'Organization', display: facility.ns || facility.id };
  const app = hdParts(msh, 3);
  const source: Json = { endpoint: endpointOf(app) };
  if (app.ns !== '') source.name = app.ns;
  mh.source = source;
  const ref = ctx.add(mh as { resourceType: string }, ctx.sender, `MSH|${ctx.messageKey}`);
  return { ref, resource: mh };
}

/** `recorded` is an instant: MSH-7 completed to seconds with an offset, or a fixed epoch with a warning. */
function recordedTime(ctx: Ctx, msh: SegmentReader): string {
  const t = ctx.dateTimeValue(msh.str(7), msh.path(7));
  if (t && t.length >= 25) return t;
  if (t && t.length === 10) return `${t}T00:00:00Z`;
  ctx.warn('missing-required', 'MSH-7 (message date/time) is missing or too coarse: Provenance.recorded set to the epoch', msh.path(7));
  return '1970-01-01T00:00:00Z';
}

/** The message exactly as received: bytes as they came (any charset), text as UTF-8. */
function originalBytes(raw: string | Uint8Array): Buffer {
  return typeof raw === 'string' ? Buffer.from(raw, 'utf8') : Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
}

/** The Provenance of the converted resources: the v2 message as source, Sluice as the assembler. */
export function provenance(ctx: Ctx, msh: SegmentReader, trigger: string, raw: () => string | Uint8Array): void {
  const targets: Reference[] = ctx.produced.map((e) => ({ reference: e.fullUrl }));
  const facility = hdParts(msh, 4);
  const app = hdParts(msh, 3);
  const entity: Json = { role: 'source', what: { display: `HL7 v2 message ${msh.text(9)} ${ctx.controlId}`.trim() } };
  if (ctx.options.attachOriginal) {
    const doc: Json = {
      resourceType: 'DocumentReference',
      status: 'current',
      type: { text: 'HL7 v2 message' },
      content: [{ attachment: { contentType: 'x-application/hl7-v2+er7', data: originalBytes(raw()).toString('base64') } }],
    };
    if (ctx.controlId !== '') doc.masterIdentifier = { value: ctx.controlId };
    entity.what = { ...ctx.add(doc as { resourceType: string }, ctx.sender, `original|${ctx.messageKey}`), display: (entity.what as Json).display };
  }
  const p: Json = {
    resourceType: 'Provenance',
    target: targets.length > 0 ? targets : [{ display: 'nothing converted' }],
    recorded: recordedTime(ctx, msh),
    activity: { coding: [{ system: EVENT_SYSTEM, code: trigger || 'UNK' }] },
    agent: [
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'author' }] },
        // The sending application at its facility (MSH-3 and MSH-4).
        who: { display: [app.ns || app.id, facility.ns || facility.id].filter((x) => x !== '').join(' at ') || 'unknown sender' },
      },
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type', code: 'assembler' }] },
        who: { display: 'Sluice v2-to-FHIR converter' },
      },
    ],
    entity: [entity],
  };
  ctx.add(p as { resourceType: string }, ctx.sender, `Provenance|${ctx.messageKey}`);
}

/** Z-segments (and segments the map does not place) kept whole on the MessageHeader. */
export function keepSegment(mh: Json, seg: SegmentReader): void {
  const list = (mh.extension as Extension[] | undefined) ?? [];
  list.push(stringExt(EXT.segment, seg.segment.encode(seg.d.field)));
  mh.extension = list;
}
