/*
 * Sluice extension URLs. Each keeps a v2 detail the FHIR form would lose, so the reverse
 * map (FHIR → v2) can restore the original. Documented in docs/TRANSFORMS.md.
 */
const BASE = 'https://sluice.dev/fhir/StructureDefinition/';

export const EXT = Object.freeze({
  /** On a date/dateTime primitive's `_field`: the original v2 DTM/TS text (precision, offset). */
  datetime: `${BASE}hl7v2-datetime`,
  /** On valueQuantity (and SN quantities): the original OBX-5 text of an NM value (leading/trailing zeros). */
  numeric: `${BASE}hl7v2-nm`,
  /** On a Coding: the original CWE.3 coding-system name (`LN`, `L`, `99ZZZ`). */
  codingSystem: `${BASE}hl7v2-coding-system`,
  /** On a Coding that replaced a sender's code it cannot carry (e.g. Encounter.class): the original v2 code. */
  code: `${BASE}hl7v2-code`,
  /**
   * On an Identifier (from CX), HumanName (from XPN) or Attachment (from ED/RP): the v2
   * repetition it came from, encoded with the standard delimiters `^~\\&`.
   */
  original: `${BASE}hl7v2-original`,
  /**
   * On an Identifier or HumanName from a field other than the element's main one (`PID-2`,
   * `PID-4`, `PID-9`, `PV1-50`, `ORC-4`, `OBR-53`): the field it came from, so the reverse
   * map writes it back there rather than into PID-3 / PID-5 / PV1-19 / OBR-2.
   */
  field: `${BASE}hl7v2-field`,
  /** On Observation: the original OBX-6 (units), encoded with the standard delimiters. */
  units: `${BASE}hl7v2-units`,
  /** On Observation: the original OBX-2 value type (`ST`, `TX`, `FT`, `NM`, ...). */
  valueType: `${BASE}hl7v2-value-type`,
  /** On Provenance (or MessageHeader): one raw Z-segment (or segment not mapped), as text. */
  segment: `${BASE}hl7v2-segment`,
  /** On MessageHeader: MSH-12 version id. */
  version: `${BASE}hl7v2-version`,
  /** On MessageHeader: MSH-10 message control id. */
  controlId: `${BASE}hl7v2-control-id`,
  /** On MessageHeader: MSH-9 message type as sent (`ADT^A01^ADT_A01`). */
  messageType: `${BASE}hl7v2-message-type`,
});

export interface Extension {
  url: string;
  valueString?: string;
  valueDateTime?: string;
  valueCode?: string;
}

export function stringExt(url: string, value: string): Extension {
  return { url, valueString: value };
}

/** `{ extension: [original v2 code] }` for a `_status` companion, when the FHIR code does not say which v2 code it was. */
export function originalCodeElement(code: string): { extension: Extension[] } {
  return { extension: [{ url: EXT.code, valueString: code }] };
}

/** `{ extension: [original timestamp] }` for a primitive's `_field` companion. */
export function originalTimeElement(text: string): { extension: Extension[] } {
  return { extension: [{ url: EXT.datetime, valueString: text }] };
}

/** Marks an element (Identifier, HumanName) with the v2 field it came from. */
export function tagField<T extends Record<string, unknown>>(element: T, field: string): T {
  const el = element as Record<string, unknown>;
  const list = (el.extension as Extension[] | undefined) ?? [];
  list.push(stringExt(EXT.field, field));
  el.extension = list;
  return element;
}
