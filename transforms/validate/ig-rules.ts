/*
 * Who follows the HL7 V2-to-FHIR IG (https://build.fhir.org/ig/HL7/v2-to-fhir/) when our
 * output and Microsoft's differ on an element. Where the IG has a ConceptMap for the
 * element, the expected FHIR value is computed from the v2 source field and both sides are
 * checked against it; elsewhere the verdict says what the IG asks and leaves it `unclear`.
 * Only the map rows we are sure of are listed; a source code outside them is `unclear`.
 */
import { unescapeValue, type Hl7Message } from '../../engine/hl7/index.js';

export type IgFollower = 'ours' | 'theirs' | 'both' | 'neither' | 'unclear';

export interface IgVerdict {
  readonly follows: IgFollower;
  readonly note: string;
}

export interface VerdictInput {
  readonly resourceType: string;
  readonly element: string;
  readonly ours: readonly string[];
  readonly theirs: readonly string[];
  readonly oursResource: Record<string, unknown>;
  readonly theirsResource: Record<string, unknown>;
  readonly source?: Hl7Message | undefined;
}

/** IG ConceptMap v2-0001 → AdministrativeGender (rows we rely on). */
const GENDER: Readonly<Record<string, string>> = { F: 'female', M: 'male', O: 'other', U: 'unknown' };
/** IG ConceptMap v2-0004 → Encounter class (v3-ActCode). */
const PATIENT_CLASS: Readonly<Record<string, string>> = { E: 'EMER', I: 'IMP', O: 'AMB', P: 'PRENC' };
/** IG ConceptMap table-hl70003-to-encounter-status (its A08 row, `unknown`, leaves the status to PV1). */
const TRIGGER_ENCOUNTER_STATUS: Readonly<Record<string, string>> = {
  A01: 'in-progress', A02: 'in-progress', A03: 'finished', A04: 'planned', A05: 'planned', A11: 'cancelled', A13: 'in-progress',
};
/** IG ConceptMap table-hl70004-to-encounter-status (PV1-2 → Encounter.status). */
const CLASS_ENCOUNTER_STATUS: Readonly<Record<string, string>> = {
  E: 'in-progress', I: 'in-progress', O: 'in-progress', P: 'planned', R: 'in-progress', B: 'in-progress', C: 'in-progress', N: 'in-progress', U: 'unknown',
};

/** The IG's Encounter.status: the trigger (MSH-9.2) where table 0003 decides, else PV1-45 → finished, else PV1-2 by table 0004. */
function encounterStatus(source: Hl7Message): { expected: string | undefined; rule: string } {
  const trigger = source.get('MSH-9.2').toUpperCase();
  const byTrigger = TRIGGER_ENCOUNTER_STATUS[trigger];
  if (byTrigger) return { expected: byTrigger, rule: `MSH-9.2 "${trigger}" via IG ConceptMap table-hl70003-to-encounter-status` };
  const discharged = single(source, 'PV1', 45);
  if (discharged === undefined) return { expected: undefined, rule: 'Encounter.status: no single PV1' };
  if (discharged !== '') return { expected: 'finished', rule: 'PV1-45 (discharge date) valued (IG PV1 map)' };
  const cls = single(source, 'PV1', 2) ?? '';
  return { expected: CLASS_ENCOUNTER_STATUS[cls.toUpperCase()], rule: `MSH-9.2 "${trigger}" not decisive; PV1-2 "${cls}" via IG ConceptMap table-hl70004-to-encounter-status` };
}

/** IG ConceptMap v2-0085 → observation-status. */
const OBSERVATION_STATUS: Readonly<Record<string, string>> = {
  C: 'corrected', D: 'entered-in-error', F: 'final', I: 'registered', P: 'preliminary', R: 'preliminary', S: 'preliminary', W: 'entered-in-error', X: 'cancelled',
};
/** IG ConceptMap v2-0123 → diagnostic-report-status. */
const REPORT_STATUS: Readonly<Record<string, string>> = {
  O: 'registered', I: 'registered', S: 'partial', A: 'partial', P: 'preliminary', C: 'corrected', R: 'partial', F: 'final', X: 'cancelled',
};
/** IG ConceptMap v2-0038 (ORC-5 order status) → request-status. */
const ORDER_STATUS: Readonly<Record<string, string>> = {
  A: 'active', CA: 'revoked', CM: 'completed', DC: 'revoked', ER: 'entered-in-error', HD: 'on-hold', IP: 'active', RP: 'revoked', SC: 'active',
};

function judge(expected: string | undefined, ours: readonly string[], theirs: readonly string[], rule: string): IgVerdict {
  if (expected === undefined) return { follows: 'unclear', note: `${rule}: the source code is not in the map rows we check` };
  const a = ours.includes(expected);
  const b = theirs.includes(expected);
  const follows: IgFollower = a && b ? 'both' : a ? 'ours' : b ? 'theirs' : 'neither';
  return { follows, note: `${rule} gives "${expected}"` };
}

/** The codes of a resource's `code` CodeableConcept, upper-cased like OBX-3.1 is compared. */
function codingCodes(resource: Record<string, unknown>): string[] {
  const code = resource['code'] as { coding?: Array<{ code?: unknown }> } | undefined;
  return (code?.coding ?? []).map((c) => (typeof c.code === 'string' ? c.code.toUpperCase() : '')).filter((c) => c !== '');
}

/** The v2 segments of one name, in order. */
function segments(source: Hl7Message, name: string): number {
  return source.segments.filter((s) => s.name === name).length;
}

/** OBX-11 of the OBX whose OBX-3.1 is one of the codes (the Observation's own OBX). */
function obxStatusFor(source: Hl7Message, codes: readonly string[]): string | undefined {
  const n = segments(source, 'OBX');
  for (let i = 1; i <= n; i++) {
    if (codes.includes(source.get(`OBX[${i}]-3.1`).toUpperCase())) return source.get(`OBX[${i}]-11`);
  }
  return undefined;
}

/** The field of the only segment of a kind, or undefined when there are several (ambiguous). */
function single(source: Hl7Message, segment: string, field: number): string | undefined {
  return segments(source, segment) === 1 ? source.get(`${segment}-${field}`) : undefined;
}

/**
 * The v2 fields the IG's segment maps send to each resource's `identifier` (HL7 v2-to-fhir
 * mappings/segments, E2 sheets). A field may name one component (`ORC-4.2`). Deliberately
 * absent: ORC-4 placer group (ORC-4.1) goes to ServiceRequest.requisition, not identifier;
 * PID-18 goes to Account; PV1-5 to hospitalization.preAdmissionIdentifier; OBR-53 maps to
 * ServiceRequest only; IN1-36 and IN1-49 are not Coverage.identifier. The ADT message maps
 * leave DB1, GT1 and IN2 unmapped, so nothing from them belongs in Patient.identifier.
 */
const IDENTIFIER_FIELDS: Readonly<Record<string, readonly string[]>> = {
  Patient: ['PID-2', 'PID-3', 'PID-4', 'PID-19', 'PID-20'],
  Encounter: ['PV1-19', 'PV1-50'],
  // ORC-4.2 only when ORC-4 is typed EIP (v2.8.2): the filler-assigned group number.
  ServiceRequest: ['ORC-2', 'ORC-3', 'ORC-4.2', 'ORC-33', 'ORC-38', 'OBR-2', 'OBR-3', 'OBR-53'],
  DiagnosticReport: ['ORC-2', 'ORC-3', 'ORC-4', 'OBR-2', 'OBR-3'],
  Coverage: ['IN1-2'],
};

/** Where a value sits in the message: `DB1-3.1` style places, one per occurrence. */
export function locateValue(source: Hl7Message, value: string): string[] {
  const d = source.delimiters;
  const wanted = value.trim().toUpperCase();
  const places = new Set<string>();
  for (const segment of source.segments) {
    // MSH-1/MSH-2 are the delimiters themselves, never a value.
    for (let n = segment.header ? 3 : 1; n <= segment.fieldCount; n++) {
      const components = segment.field(n).split(d.repetition).map((rep) => rep.split(d.component));
      for (const rep of components) {
        rep.forEach((component, c) => {
          const parts = [component, ...component.split(d.subcomponent)];
          if (parts.some((p) => unescapeValue(p, d).trim().toUpperCase() === wanted)) places.add(`${segment.name}-${n}.${c + 1}`);
        });
      }
    }
  }
  return [...places];
}

/** Whether a place (`ORC-4.1`) is one of the fields the IG maps (`ORC-4` or `ORC-4.1`). */
function isMapped(place: string, fields: readonly string[]): boolean {
  const field = place.replace(/\.\d+$/, '');
  return fields.includes(field) || fields.includes(place);
}

type Provenance = 'mapped' | 'unmapped' | 'unknown';

/** Whether a value comes from a field the IG maps to the element, from elsewhere, or from nowhere we can find. */
function provenance(source: Hl7Message | undefined, value: string, fields: readonly string[] | undefined): { kind: Provenance; places: string[] } {
  if (!source || !fields) return { kind: 'unknown', places: [] };
  const places = locateValue(source, value);
  if (places.length === 0) return { kind: 'unknown', places };
  return { kind: places.some((p) => isMapped(p, fields)) ? 'mapped' : 'unmapped', places };
}

/**
 * Identifier sets differ: each value one side lacks is traced to its v2 field. A side
 * misses the IG when it lacks a value from a field the IG maps, or carries one from a
 * field the IG leaves unmapped (DB1, GT1, IN2...: the IG does not put those on the
 * resource, so an extra value there is not an IG requirement). A value we cannot find in
 * the message (reformatted, or no source) makes the verdict `unclear`: we cannot tell
 * which field it came from, so we do not credit either side.
 */
function identifierVerdict(resourceType: string, ours: readonly string[], theirs: readonly string[], source: Hl7Message | undefined): IgVerdict {
  const fields = IDENTIFIER_FIELDS[resourceType];
  const trace = (values: readonly string[]) => values.map((value) => ({ value, ...provenance(source, value, fields) }));
  const weLack = trace(theirs.filter((v) => !ours.includes(v)));
  const theyLack = trace(ours.filter((v) => !theirs.includes(v)));
  const list = (side: string, traced: typeof weLack): string => (traced.length === 0 ? `${side} none` : `${side} ${traced.map((t) =>
    `${t.value} (${t.places.length ? t.places.join('/') : 'not found in the message'}${t.kind === 'unmapped' ? ', not mapped by the IG' : ''})`).join(', ')}`);
  const note = `the IG maps ${fields ? fields.join(', ') : 'fields we have not listed'} to ${resourceType}.identifier; ${list('we lack', weLack)}; ${list('they lack', theyLack)}`;
  const has = (traced: typeof weLack, kind: Provenance) => traced.some((t) => t.kind === kind);
  if (!fields || has(weLack, 'unknown') || has(theyLack, 'unknown')) return { follows: 'unclear', note };
  // A side misses the IG if it lacks a mapped value or carries an unmapped one the other side lacks.
  const oursFollows = !has(weLack, 'mapped') && !has(theyLack, 'unmapped');
  const theirsFollows = !has(theyLack, 'mapped') && !has(weLack, 'unmapped');
  const follows: IgFollower = oursFollows && theirsFollows ? 'both' : oursFollows ? 'ours' : theirsFollows ? 'theirs' : 'neither';
  return { follows, note };
}

const CODE_NOTE = 'codes compare on the code value; the IG keeps the v2 coding (CWE.1-3 → Coding, CWE.4-6 → a second Coding) and adds mapped codes, so a side missing a code lost information';

export function igVerdict(input: VerdictInput): IgVerdict {
  const { resourceType, element, ours, theirs, source } = input;
  const key = `${resourceType}.${element}`;
  switch (key) {
    case 'Patient.gender': {
      const v2 = source ? single(source, 'PID', 8) : undefined;
      return judge(v2 === undefined ? undefined : GENDER[v2.toUpperCase()], ours, theirs, `PID-8 "${v2 ?? '?'}" via IG ConceptMap v2-0001`);
    }
    case 'Encounter.class': {
      const v2 = source ? single(source, 'PV1', 2) : undefined;
      return judge(v2 === undefined ? undefined : PATIENT_CLASS[v2.toUpperCase()], ours, theirs, `PV1-2 "${v2 ?? '?'}" via IG ConceptMap v2-0004 (v3-ActCode)`);
    }
    case 'Observation.status': {
      const v2 = source ? obxStatusFor(source, [...codingCodes(input.oursResource), ...codingCodes(input.theirsResource)]) : undefined;
      return judge(v2 === undefined ? undefined : OBSERVATION_STATUS[v2.toUpperCase()], ours, theirs, `OBX-11 "${v2 ?? '?'}" via IG ConceptMap v2-0085`);
    }
    case 'DiagnosticReport.status': {
      const v2 = source ? single(source, 'OBR', 25) : undefined;
      return judge(v2 === undefined ? undefined : REPORT_STATUS[v2.toUpperCase()], ours, theirs, `OBR-25 "${v2 ?? '?'}" via IG ConceptMap v2-0123`);
    }
    case 'ServiceRequest.status': {
      const v2 = source ? single(source, 'ORC', 5) : undefined;
      if (v2 === '') return { follows: 'unclear', note: 'ORC-5 is empty: the IG then derives status from ORC-1 (order control), which we do not judge' };
      return judge(v2 === undefined ? undefined : ORDER_STATUS[v2.toUpperCase()], ours, theirs, `ORC-5 "${v2 ?? '?'}" via IG ConceptMap v2-0038`);
    }
    case 'Encounter.status': {
      if (!source) return judge(undefined, ours, theirs, 'Encounter.status');
      const { expected, rule } = encounterStatus(source);
      return judge(expected, ours, theirs, rule);
    }
    case 'Encounter.period.start': case 'Encounter.period.end':
      return { follows: 'unclear', note: 'PV1-44/PV1-45 → period.start/end in the IG; offsets are ignored here, so a difference is a value or precision difference' };
    default:
      break;
  }
  if (element === 'identifier') return identifierVerdict(resourceType, ours, theirs, source);
  if (element === 'code') {
    const superset = (a: readonly string[], b: readonly string[]) => b.every((v) => a.includes(v));
    const follows: IgFollower = superset(ours, theirs) ? 'ours' : superset(theirs, ours) ? 'theirs' : 'unclear';
    return { follows, note: CODE_NOTE };
  }
  return { follows: 'unclear', note: 'no IG ConceptMap decides this element; compare the source field by hand' };
}
