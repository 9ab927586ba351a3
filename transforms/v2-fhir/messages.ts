import { ConversionError } from '../types.js';
import { allergyFromAl1, conditionFromDg1, coverageFromIn1, procedureFromPr1 } from './clinical.js';
import type { Ctx, Reference } from './context.js';
import type { Json } from './datatypes.js';
import { encounterFromPv1, hasVisit } from './encounter.js';
import type { SegmentReader } from './fields.js';
import { keepSegment } from './header.js';
import { addObservation, annotation } from './observation.js';
import { diagnosticReport, orderKey, serviceRequest, specimenFromSpm } from './orders.js';
import { mergeFromMrg, patientFromPid, relatedPersonFromNk1 } from './patient.js';

/*
 * Message maps. The map is chosen from MSH-9.3 (message structure) when present, else
 * from message code + trigger. Every map is one pass over the segments in order; the
 * segment groups of the v2 abstract message syntax are followed with a little state
 * (current patient, visit, order, observation), so each OBR pairs with its own ORC.
 */

export type MessageFamily = 'adt' | 'merge' | 'orm' | 'oru';

const BY_STRUCTURE: Readonly<Record<string, MessageFamily>> = {
  ADT_A01: 'adt', ADT_A02: 'adt', ADT_A03: 'adt', ADT_A05: 'adt', ADT_A09: 'adt', ADT_A06: 'adt',
  ADT_A30: 'merge', ADT_A39: 'merge',
  ORM_O01: 'orm', ORU_R01: 'oru',
  // Senders (and the v2.8 samples) often put the trigger itself in MSH-9.3.
  ADT_A04: 'adt', ADT_A08: 'adt', ADT_A11: 'adt', ADT_A13: 'adt', ADT_A28: 'adt', ADT_A31: 'adt',
  ADT_A34: 'merge', ADT_A40: 'merge',
};

/** Supported message types (code^trigger) when MSH-9.3 is absent. */
const BY_TYPE: Readonly<Record<string, MessageFamily>> = {
  'ADT^A01': 'adt', 'ADT^A02': 'adt', 'ADT^A03': 'adt', 'ADT^A04': 'adt', 'ADT^A08': 'adt', 'ADT^A11': 'adt',
  'ADT^A13': 'adt', 'ADT^A28': 'adt', 'ADT^A31': 'adt', 'ADT^A34': 'merge', 'ADT^A40': 'merge',
  'ORM^O01': 'orm', 'ORU^R01': 'oru',
};

export const SUPPORTED_TYPES: readonly string[] = Object.keys(BY_TYPE);

export function chooseMap(code: string, trigger: string, structure: string): MessageFamily {
  if (structure !== '') {
    const family = BY_STRUCTURE[structure.toUpperCase()];
    if (family) return family;
    throw new ConversionError(`unsupported message structure ${structure} (MSH-9.3); supported: ${Object.keys(BY_STRUCTURE).join(', ')}`);
  }
  const type = `${code}^${trigger}`.toUpperCase();
  const family = BY_TYPE[type];
  if (family) return family;
  throw new ConversionError(`unsupported message type ${type || '(empty MSH-9)'}; supported: ${SUPPORTED_TYPES.join(', ')}`);
}

interface Order {
  readonly request: Json;
  readonly requestRef: Reference;
  readonly report: Json | undefined;
  readonly key: string;
  /** The order's Observations so far: the group's SPM, which follows them, is their specimen. */
  readonly observations: Json[];
}

/** Walks the segments (after MSH) and adds the resources of one message. */
export function walk(ctx: Ctx, segments: readonly SegmentReader[], family: MessageFamily, trigger: string, header: Json): void {
  let patient: Reference | undefined;
  let encounter: Reference | undefined;
  let pendingOrc: SegmentReader | undefined;
  let order: Order | undefined;
  let specimen: Reference | undefined;
  /** ORCs that became orders of their own, by order key: a later OBR with the same number is that order (v2.8+ ORU puts OBX, PRT, TXA between them). */
  const loneOrcs = new Map<string, SegmentReader>();
  /** Where an NTE goes: the last Observation or order, else it is kept whole. */
  let noteTarget: Json | undefined;

  const addNote = (target: Json, nte: SegmentReader) => {
    const a = annotation(ctx, nte);
    if (!a) return;
    const notes = (target.note as Json[] | undefined) ?? [];
    notes.push(a);
    target.note = notes;
  };

  const startOrder = (orc: SegmentReader | undefined, obr: SegmentReader | undefined) => {
    const sr = serviceRequest(ctx, orc, obr, { patient, encounter });
    let report: Json | undefined;
    if (family === 'oru' && obr) report = diagnosticReport(ctx, orc, obr, { patient, encounter }, sr.ref).resource;
    order = { request: sr.resource, requestRef: sr.ref, report, key: sr.key, observations: [] };
    specimen = undefined;
    noteTarget = sr.resource;
  };
  // An ORC with no OBR after it (e.g. a pharmacy order) is an order of its own.
  const flushOrc = () => {
    if (pendingOrc) {
      startOrder(pendingOrc, undefined);
      if (order) loneOrcs.set(order.key, pendingOrc);
    }
    pendingOrc = undefined;
  };

  const push = (target: Json, field: string, value: unknown) => {
    const list = (target[field] as unknown[] | undefined) ?? [];
    list.push(value);
    target[field] = list;
  };

  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    const next = segments[i + 1];
    switch (seg.name) {
      case 'PID': {
        flushOrc();
        loneOrcs.clear();
        patient = patientFromPid(ctx, seg, next?.name === 'PD1' ? next : undefined);
        ctx.patient ??= patient;
        encounter = undefined;
        order = undefined;
        noteTarget = undefined;
        break;
      }
      case 'PV1': {
        if (!patient) { ctx.warn('missing-required', 'PV1 before any PID: visit skipped', seg.path(1)); break; }
        if (!hasVisit(seg)) break;
        encounter = encounterFromPv1(ctx, seg, next?.name === 'PV2' ? next : undefined, trigger, patient);
        ctx.encounter ??= encounter;
        break;
      }
      case 'NK1': if (patient) relatedPersonFromNk1(ctx, seg, patient); break;
      case 'AL1': if (patient) allergyFromAl1(ctx, seg, patient); break;
      case 'IN1': if (patient) coverageFromIn1(ctx, seg, patient); break;
      case 'DG1': {
        if (!patient) break;
        const condition = conditionFromDg1(ctx, seg, patient, encounter);
        // In an order (ORM), a DG1 is the reason for that order.
        if (order) push(order.request, 'reasonReference', condition);
        break;
      }
      case 'PR1': if (patient) procedureFromPr1(ctx, seg, patient, encounter); break;
      case 'MRG': {
        if (patient) mergeFromMrg(ctx, seg, patient);
        else ctx.warn('missing-required', 'MRG without a PID before it', seg.path(1));
        break;
      }
      case 'ORC': {
        if (family !== 'orm' && family !== 'oru') { keepSegment(header, seg); break; }
        flushOrc();
        pendingOrc = seg;
        noteTarget = undefined;
        break;
      }
      case 'OBR': {
        if (family !== 'orm' && family !== 'oru') { keepSegment(header, seg); break; }
        let orc = pendingOrc;
        pendingOrc = undefined;
        if (!orc && loneOrcs.size > 0) {
          const k = orderKey(ctx, undefined, seg);
          orc = loneOrcs.get(`${k.authority}|${k.key}`);
        }
        startOrder(orc, seg);
        break;
      }
      case 'SPM': {
        flushOrc();
        specimen = specimenFromSpm(ctx, seg, patient, order?.key ?? ctx.noOrderKey(patient));
        if (order?.report) push(order.report, 'specimen', specimen);
        if (order) {
          push(order.request, 'specimen', specimen);
          for (const o of order.observations) o.specimen ??= specimen;
        }
        break;
      }
      case 'OBX': {
        flushOrc();
        const observation = addObservation(ctx, seg, {
          patient, encounter, specimen,
          orderKey: order?.key ?? ctx.noOrderKey(patient),
        });
        const ref = observation.ref;
        noteTarget = observation.resource;
        order?.observations.push(observation.resource);
        if (order?.report) push(order.report, 'result', ref);
        else if (order) push(order.request, 'supportingInfo', ref);
        break;
      }
      case 'NTE': {
        if (noteTarget) addNote(noteTarget, seg);
        else keepSegment(header, seg);
        break;
      }
      default:
        if (seg.name.startsWith('Z')) keepSegment(header, seg);
        break;
    }
  }
  flushOrc();
}
