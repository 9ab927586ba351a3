import { CODE_SYSTEMS, UCUM, V2_TABLE } from '../v2-fhir/codesystems.js';
import { v2Date as fhirDateOf, v2DateTime as fhirDateTimeOf } from '../v2-fhir/datetime.js';
import { EXT } from '../v2-fhir/extensions.js';
import { DEFAULT_DELIMITERS, unescapeValue } from '../../engine/hl7/index.js';
import type { Composite, Component, Encoded } from './encode.js';
import { extensionValue, obj, objs, str, strs, type Json } from './json.js';

/*
 * FHIR datatypes → v2 datatypes, the reverse of transforms/v2-fhir/datatypes.ts. Where
 * the forward map kept an original v2 value in a Sluice extension (timestamp text,
 * coding-system name, NM text), that value wins, so v2 → FHIR → v2 is lossless.
 */

/** FHIR code-system URI → the v2 (table 0396) name; the first name listed for a URI wins. */
const SYSTEM_NAMES: ReadonlyMap<string, string> = (() => {
  const m = new Map<string, string>();
  for (const [name, uri] of Object.entries(CODE_SYSTEMS)) if (!m.has(uri)) m.set(uri, name);
  return m;
})();

const LOCAL_AUTHORITY = 'https://sluice.dev/fhir/v2-assigning-authority/';

/** The v2 coding-system name for a Coding: the original name if kept, else from its system URI. */
export function systemName(coding: Json): string {
  const original = extensionValue(coding, EXT.codingSystem);
  if (original !== undefined) return original;
  const system = str(coding.system);
  if (system === undefined || system === '') return '';
  const known = SYSTEM_NAMES.get(system);
  if (known) return known;
  if (system.startsWith(V2_TABLE)) return `HL7${system.slice(V2_TABLE.length)}`;
  if (system.startsWith('urn:oid:')) return system.slice('urn:oid:'.length);
  return system;
}

/**
 * The original v2 repetition the forward map kept on an element (`hl7v2-original`), when it
 * still describes the element: `consistent` gets its decoded components (first subcomponent
 * each) and says whether the FHIR value was left as converted. An edit made downstream
 * wins over the original; text that could break the segment is never used.
 */
export function originalRep(element: Json | undefined, consistent: (components: string[]) => boolean): Encoded | undefined {
  const encoded = element ? extensionValue(element, EXT.original) : undefined;
  if (encoded === undefined || /[|~\r\n]/.test(encoded)) return undefined;
  const components = encoded.split('^').map((c) => unescapeValue(c.split('&')[0] ?? '', DEFAULT_DELIMITERS));
  return consistent(components) ? { encoded } : undefined;
}

const DATETIME = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/** FHIR date/dateTime/instant → v2 DTM, keeping the precision and offset written. */
export function v2DateTime(value: string): string | undefined {
  const m = DATETIME.exec(value.trim());
  if (!m) return undefined;
  let out = m[1]! + (m[2] ?? '') + (m[3] ?? '');
  if (m[4] === undefined) return out;
  out += m[4] + m[5]! + (m[6] ?? '') + (m[7] ? m[7].slice(0, 5) : '');
  const zone = m[8];
  if (zone === 'Z') out += '+0000';
  else if (zone) out += zone.slice(0, 3) + zone.slice(4);
  return out;
}

/** FHIR time (`hh:mm:ss`) → v2 TM. */
export function v2Time(value: string): string | undefined {
  const m = /^(\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?$/.exec(value.trim());
  return m ? m[1]! + m[2]! + (m[3] ?? '') + (m[4] ? m[4].slice(0, 5) : '') : undefined;
}

const OFFSET = /(Z|[+-]\d{2}:\d{2})$/;
const HAS_V2_OFFSET = /[+-]\d{4}$/;

/**
 * Whether a kept v2 original still says what the FHIR value says (so it was not edited):
 * its forward conversion equals the value. Without an offset in the text the forward map
 * took one from its `timezone` option, which the reverse map does not know: then only
 * the wall-clock part is compared.
 */
export function originalStillHolds(original: string, value: string | undefined): boolean {
  // An invalid original is kept on a primitive without a value.
  if (value === undefined || value === '') return true;
  if (fhirDateOf(original) === value) return true;
  const forward = fhirDateTimeOf(original, 'UTC')?.value;
  if (forward === undefined) return false;
  if (HAS_V2_OFFSET.test(original.trim())) return forward === value;
  return forward.replace(OFFSET, '') === value.replace(OFFSET, '');
}

/**
 * The v2 timestamp of `parent[key]`: the original text from the `_key` extension when the
 * forward map kept one and the value was not edited since, else converted. `invalid` is
 * set when a value is there but unreadable.
 */
export function timestampOf(parent: Json | undefined, key: string): { text?: string; invalid?: string } {
  if (!parent) return {};
  const original = extensionValue(parent[`_${key}`], EXT.datetime);
  const value = str(parent[key]);
  if (original !== undefined && originalStillHolds(original, value)) return { text: original };
  if (value === undefined || value === '') return {};
  const text = v2DateTime(value);
  return text === undefined ? { invalid: value } : { text };
}

/** CodeableConcept → CWE (9 components): two codings, their versions, the original text. */
export function cwe(cc: Json | undefined): { value: Composite; dropped: number } {
  if (!cc) return { value: [], dropped: 0 };
  const codings = objs(cc.coding);
  const out: Component[] = ['', '', '', '', '', '', '', '', ''];
  codings.slice(0, 2).forEach((c, i) => {
    out[i * 3] = str(c.code) ?? '';
    out[i * 3 + 1] = str(c.display) ?? '';
    out[i * 3 + 2] = systemName(c);
    out[6 + i] = str(c.version) ?? '';
  });
  const text = str(cc.text) ?? '';
  const first = codings[0];
  // The forward map puts CWE.2 into text when there is no CWE.1; do not write it twice.
  const textFromDisplay = first !== undefined && (str(first.code) ?? '') === '' && text === (str(first.display) ?? '');
  // CWE-9 is the original text (IG: CodeableConcept.text), with or without codings.
  if (text !== '' && !textFromDisplay) out[8] = text;
  return { value: out, dropped: Math.max(0, codings.length - 2) };
}

/** The first coding's code of a CodeableConcept (or of a plain Coding). */
export function firstCode(cc: unknown): string | undefined {
  const o = obj(cc);
  if (!o) return undefined;
  const direct = str(o.code);
  if (direct !== undefined) return direct;
  for (const c of objs(o.coding)) {
    const code = str(c.code);
    if (code) return code;
  }
  return undefined;
}

/** HD for an identifier's authority: namespace & universal id & type. */
function authority(identifier: Json): Component {
  const namespace = str(obj(identifier.assigner)?.display) ?? '';
  const system = str(identifier.system) ?? '';
  if (system.startsWith('urn:oid:')) return [namespace, system.slice(8), 'ISO'];
  if (system.startsWith('urn:uuid:')) return [namespace, system.slice(9), 'UUID'];
  if (system.startsWith(LOCAL_AUTHORITY)) return [namespace || decodeURIComponent(system.slice(LOCAL_AUTHORITY.length))];
  if (system !== '') return [namespace, system, 'URI'];
  return [namespace];
}

/** An identifier's original v2 repetition, while its first component is still the identifier's value. */
export function originalIdentifierRep(identifier: Json): Encoded | undefined {
  return originalRep(identifier, (c) => c[0] === (str(identifier.value) ?? ''));
}

/** Identifier → CX (value, authority, type code, effective and expiration dates). */
export function cx(identifier: Json): Composite | Encoded {
  const original = originalIdentifierRep(identifier);
  if (original) return original;
  const period = obj(identifier.period);
  return [
    str(identifier.value) ?? '', '', '', authority(identifier), firstCode(identifier.type) ?? '', '',
    timestampOf(period, 'start').text ?? '', timestampOf(period, 'end').text ?? '',
  ];
}

/** Identifier → EI (entity id, namespace, universal id, type). */
export function ei(identifier: Json): Composite | Encoded {
  const original = originalIdentifierRep(identifier);
  if (original) return original;
  const hd = authority(identifier);
  return [str(identifier.value) ?? '', ...(typeof hd === 'string' || hd === undefined ? [hd] : hd)];
}

const NAME_TYPE: Readonly<Record<string, string>> = { official: 'L', usual: 'D', maiden: 'M', nickname: 'N', anonymous: 'S', temp: 'T', old: 'BAD' };

/** HumanName → XPN. Extra suffixes go to XPN-14 (professional suffix), as the forward map reads them. */
export function xpn(name: Json, version: string): Composite | Encoded {
  const given = strs(name.given);
  const original = originalRep(name, (c) => (c[0] ?? '') === (str(name.family) ?? '') && [c[1], c[2]].filter((x) => x).join(' ') === given.join(' '));
  if (original) return original;
  const suffix = strs(name.suffix);
  const out: Component[] = [
    str(name.family) ?? (given.length === 0 ? str(name.text) : undefined),
    given[0], given.slice(1).join(' '), suffix[0], strs(name.prefix)[0], '', NAME_TYPE[str(name.use) ?? ''] ?? '',
  ];
  const period = obj(name.period);
  const start = timestampOf(period, 'start').text ?? '';
  const end = timestampOf(period, 'end').text ?? '';
  if (atLeast(version, 2, 5)) {
    out[11] = start;
    out[12] = end;
    out[13] = suffix.slice(1).join(' ');
  } else if (start !== '' || end !== '') out[9] = [start, end];
  return out;
}

const ADDRESS_TYPE: Readonly<Record<string, string>> = { home: 'H', work: 'B', temp: 'C', old: 'BA' };

/** Address → XAD. */
export function xad(address: Json): Composite | Encoded {
  const lines = strs(address.line);
  // The XAD as sent (SAD subcomponents, XAD-19...), unless the city or postal code was edited.
  const original = originalRep(address, (c) => (c[2] ?? '') === (str(address.city) ?? '') && (c[4] ?? '') === (str(address.postalCode) ?? ''));
  if (original) return original;
  const type = str(address.type) === 'postal' ? 'M' : ADDRESS_TYPE[str(address.use) ?? ''] ?? '';
  return [lines[0] ?? (lines.length === 0 ? str(address.text) : undefined), lines.slice(1).join(', '), str(address.city), str(address.state), str(address.postalCode), str(address.country), type, '', str(address.district)];
}

const TELECOM_USE: Readonly<Record<string, string>> = { home: 'PRN', work: 'WPN', mobile: 'PRN', temp: 'ORN' };
const TELECOM_EQUIPMENT: Readonly<Record<string, string>> = { phone: 'PH', fax: 'FX', pager: 'BP', email: 'Internet', url: 'Internet', sms: 'CP', other: 'PH' };

/** ContactPoint → XTN: the number in XTN-1 (read by every version), an email in XTN-4. */
export function xtn(cp: Json): Composite {
  const system = str(cp.system) ?? 'phone';
  const value = str(cp.value) ?? '';
  const use = str(cp.use) ?? '';
  const equipment = use === 'mobile' ? 'CP' : TELECOM_EQUIPMENT[system] ?? 'PH';
  if (system === 'email' || system === 'url') return ['', 'NET', equipment, value];
  return [value, TELECOM_USE[use] ?? '', equipment];
}

/** A person reference (resolved Practitioner or just a Reference) → XCN (id, family, given, middle, suffix, prefix). */
export function xcn(reference: Json | undefined, resolved: Json | undefined): Composite | undefined {
  if (!reference && !resolved) return undefined;
  const idOf = (r: Json | undefined): string | undefined => str(objs(r?.identifier)[0]?.value) ?? str(obj(r?.identifier)?.value);
  const id = idOf(resolved) ?? idOf(reference) ?? '';
  const name = objs(resolved?.name)[0];
  if (name) {
    const given = strs(name.given);
    return [id, str(name.family), given[0], given.slice(1).join(' '), strs(name.suffix)[0], strs(name.prefix)[0]];
  }
  const display = str(reference?.display) ?? '';
  if (id === '' && display === '') return undefined;
  return [id, display];
}

/** Quantity units → CWE for OBX-6: UCUM code, human unit, `UCUM`; a bare unit otherwise. */
export function units(q: Json): Composite {
  const code = str(q.code) ?? '';
  const unit = str(q.unit) ?? '';
  const system = str(q.system) ?? '';
  if (code === '' && unit === '') return [];
  if (system === UCUM) return [code || unit, unit !== code ? unit : '', 'UCUM'];
  if (code !== '') return [code, unit !== code ? unit : '', system ? systemName({ system }) : ''];
  return [unit];
}

/** A FHIR decimal as v2 NM text: the original OBX-5 text when kept, else the JSON number as written. */
export function numberText(q: Json): string | undefined {
  const original = extensionValue(q, EXT.numeric);
  if (original !== undefined) return original;
  return typeof q.value === 'number' ? String(q.value) : str(q.value);
}

/** v2 version comparison (`2.5.1` ≥ 2.5). */
export function atLeast(version: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(version);
  if (!m) return true;
  const a = Number(m[1]);
  const b = Number(m[2]);
  return a > major || (a === major && b >= minor);
}
