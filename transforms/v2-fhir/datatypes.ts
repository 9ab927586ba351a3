import type { Ctx, Reference } from './context.js';
import { isOid, isUuid, LANGUAGE_3_TO_2, lookupSystem, V2_TABLE, V2_TABLE_CODES } from './codesystems.js';

const BCP47 = /^[a-z]{2}(?:-[A-Z]{2})?$/;
import { EXT, stringExt, tagField } from './extensions.js';
import type { V2Value } from './fields.js';

/*
 * v2 datatypes → FHIR datatypes (V2-to-FHIR IG datatype maps: CWE, CX, XPN, XAD, XTN, XCN,
 * HD, EI). Each takes one repetition and returns undefined when nothing is left.
 */

export type Json = Record<string, unknown>;

/** HD (or the HD inside CX.4 / EI.2-4 as subcomponents) → an identifier system URI. */
export function hdSystem(namespace: string, universalId: string, universalType: string): string | undefined {
  if (universalId !== '') {
    const type = universalType.toUpperCase();
    // An "ISO" id that is not a valid OID is treated like a name (validators reject bad OIDs).
    if ((type === 'ISO' || type === '') && isOid(universalId)) return `urn:oid:${universalId}`;
    if (type === 'UUID' || (type === '' && isUuid(universalId))) return `urn:uuid:${universalId.toLowerCase()}`;
    if (type === 'URI' || type === 'URL') return universalId;
  }
  if (namespace !== '') return localSystem(namespace);
  if (universalId !== '' && !isOid(universalId)) return localSystem(universalId);
  return undefined;
}

/** A Sluice URI for a namespace id that names no global system, so identifiers stay searchable. */
function localSystem(namespace: string): string {
  if (namespace.startsWith('urn:') || namespace.startsWith('http://') || namespace.startsWith('https://')) return namespace;
  if (isOid(namespace)) return `urn:oid:${namespace}`;
  return `https://sluice.dev/fhir/v2-assigning-authority/${encodeURIComponent(namespace)}`;
}

/** One coding from a CWE triplet (code, text, system name) and its version. */
function coding(ctx: Ctx, code: string, display: string, systemName: string, version: string, path: string): Json | undefined {
  if (code === '' && display === '') return undefined;
  const c: Json = {};
  if (systemName !== '') {
    const found = lookupSystem(systemName);
    if (found.kind === 'known') c.system = found.uri;
    else if (found.kind === 'unknown') ctx.warn('unknown-code-system', `unknown coding system ${JSON.stringify(systemName)}: code kept without a system`, path);
    c.extension = [stringExt(EXT.codingSystem, systemName)];
  }
  if (version !== '') c.version = version;
  if (code !== '') c.code = code;
  if (display !== '') c.display = display;
  return c;
}

/** CWE / CE / CNE / CF → CodeableConcept (primary and alternate codings, original text). */
export function codeableConcept(ctx: Ctx, v: V2Value, path: string): Json | undefined {
  if (v.empty) return undefined;
  const codings: Json[] = [];
  const first = coding(ctx, v.str(1), v.str(2), v.str(3), v.str(7), path);
  if (first) codings.push(first);
  const alternate = coding(ctx, v.str(4), v.str(5), v.str(6), v.str(8), path);
  if (alternate) codings.push(alternate);
  const cc: Json = {};
  if (codings.length > 0) cc.coding = codings;
  const text = v.str(9) || (v.str(1) === '' ? v.str(2) : '');
  if (text !== '') cc.text = text;
  return codings.length > 0 || text !== '' ? cc : undefined;
}

/**
 * A bare code from a v2 table (IS/ID) as a CodeableConcept with the table's system; a code
 * outside the table (a local value) keeps its code and the table name, without a system.
 */
export function tableConcept(code: string, table: string, display?: string): Json | undefined {
  if (code === '') return undefined;
  const known = V2_TABLE_CODES[table];
  const c: Json = known && !known.has(code) ? { extension: [stringExt(EXT.codingSystem, `HL7${table}`)], code } : { system: `${V2_TABLE}${table}`, code };
  if (display) c.display = display;
  return { coding: [c] };
}

/** PID-15 / language CWE → a BCP-47 CodeableConcept (the binding is required); other codes become text. */
export function languageConcept(v: V2Value): Json | undefined {
  const code = v.str(1);
  const text = v.str(9) || v.str(2);
  if (code === '') return text ? { text } : undefined;
  const lower = code.toLowerCase();
  const bcp = LANGUAGE_3_TO_2[lower] ?? (BCP47.test(code) ? code : undefined);
  if (!bcp) return { text: text ? `${text} (${code})` : code };
  const c: Json = { system: 'urn:ietf:bcp:47', code: bcp };
  return text ? { coding: [c], text } : { coding: [c] };
}

/** CX → Identifier (IG CX map: CX.1 value, CX.4 system, CX.5 type, CX.7/8 period). */
export function cxIdentifier(ctx: Ctx, v: V2Value, path: string): Json | undefined {
  const value = v.str(1);
  if (value === '') return undefined;
  const id: Json = { extension: [stringExt(EXT.original, v.original())] };
  const hd = v.sub(4);
  const system = hdSystem(hd.str(1), hd.str(2), hd.str(3));
  const type = v.str(5);
  if (type !== '') id.type = tableConcept(type, '0203');
  if (system) id.system = system;
  id.value = value;
  const period: Json = {};
  ctx.dateTime(period, 'start', v.str(7), path);
  ctx.dateTime(period, 'end', v.str(8), path);
  if (Object.keys(period).length > 0) id.period = period;
  if (hd.str(1) !== '') id.assigner = { display: hd.str(1) };
  return id;
}

/** EI (entity id, namespace, universal id, type) → Identifier. */
export function eiIdentifier(v: V2Value, typeCode?: string): Json | undefined {
  const value = v.str(1);
  if (value === '') return undefined;
  // The EI as sent: the reverse map writes it back whole (namespace and universal id both).
  const id: Json = { extension: [stringExt(EXT.original, v.original())] };
  if (typeCode) id.type = tableConcept(typeCode, '0203');
  const system = hdSystem(v.str(2), v.str(3), v.str(4));
  if (system) id.system = system;
  id.value = value;
  return id;
}

/** XPN-7 (table 0200) → name-use, per the IG NameType ConceptMap; the other 0200 codes have no use. */
const NAME_USE: Readonly<Record<string, string>> = { BAD: 'old', D: 'usual', L: 'official', M: 'maiden', MSK: 'anonymous', N: 'nickname', NAV: 'temp', R: 'official', TEMP: 'temp' };
const NAME_TYPES_0200: ReadonlySet<string> = new Set(['A', 'B', 'BAD', 'C', 'D', 'F', 'I', 'K', 'L', 'M', 'MSK', 'N', 'NAV', 'NB', 'NOUSE', 'P', 'R', 'REL', 'S', 'T', 'TEMP', 'U']);

/** XPN → HumanName. */
export function humanName(ctx: Ctx, v: V2Value, path: string): Json | undefined {
  const family = v.sub(1).str(1);
  const given = [v.str(2), v.str(3)].filter((s) => s !== '');
  const name: Json = { extension: [stringExt(EXT.original, v.original())] };
  const use = v.str(7);
  if (use !== '') {
    const mapped = NAME_USE[use];
    if (mapped) name.use = mapped;
    else if (!NAME_TYPES_0200.has(use)) ctx.warn('unknown-code', `name type ${JSON.stringify(use)} is not in HL7 table 0200`, path);
  }
  if (family !== '') name.family = family;
  if (given.length > 0) name.given = given;
  const prefix = v.str(5);
  if (prefix !== '') name.prefix = [prefix];
  const suffix = [v.str(4), v.str(6), v.str(14)].filter((s) => s !== '');
  if (suffix.length > 0) name.suffix = suffix;
  const period: Json = {};
  ctx.dateTime(period, 'start', v.str(12) || v.sub(10).str(1), path);
  ctx.dateTime(period, 'end', v.str(13) || v.sub(10).str(2), path);
  if (Object.keys(period).length > 0) name.period = period;
  return family !== '' || given.length > 0 || prefix !== '' ? name : undefined;
}

/**
 * Every repetition of an XPN field as HumanNames, each followed by its XPN-15 "called by"
 * as a name of its own with use `nickname` (IG XPN map, where the element repeats),
 * tagged `XPN-15` so the reverse map does not write it as one more repetition.
 */
export function humanNames(ctx: Ctx, reps: readonly V2Value[], path: string, field?: string): Json[] {
  const out: Json[] = [];
  for (const rep of reps) {
    const name = humanName(ctx, rep, path);
    if (!name) continue;
    if (field) tagField(name, field);
    out.push(name);
    const calledBy = rep.str(15);
    if (calledBy !== '') out.push(tagField({ use: 'nickname', given: [calledBy] }, 'XPN-15'));
  }
  return out;
}

const ADDRESS_USE: Readonly<Record<string, { use?: string; type?: string }>> = {
  H: { use: 'home' }, P: { use: 'home' }, O: { use: 'work' }, B: { use: 'work' }, C: { use: 'temp' },
  M: { type: 'postal' }, SH: { type: 'postal' }, BA: { use: 'old' }, BDL: { use: 'old' }, V: { use: 'temp' },
};

/**
 * XAD-1 (SAD: street or mailing address & street name & dwelling number) → one address
 * line. Senders split it either way (`1000&Hospital Lane`): the whole line is kept, in
 * the order the parts were sent; repeated parts (SAD-1 already holding the name) once.
 */
function streetLine(sad: V2Value): string {
  const parts: string[] = [];
  for (let i = 1; i <= 3; i++) {
    const p = sad.str(i);
    if (p !== '' && !parts.some((q) => q.includes(p))) parts.push(p);
  }
  return parts.join(' ');
}

/** XAD → Address. */
export function address(ctx: Ctx, v: V2Value, path: string): Json | undefined {
  const a: Json = {};
  const line = [streetLine(v.sub(1)), v.str(2), v.str(19)].filter((s) => s !== '');
  if (line.length > 0) a.line = line;
  if (v.str(3) !== '') a.city = v.str(3);
  if (v.str(9) !== '') a.district = v.str(9);
  if (v.str(4) !== '') a.state = v.str(4);
  if (v.str(5) !== '') a.postalCode = v.str(5);
  if (v.str(6) !== '') a.country = v.str(6);
  if (Object.keys(a).length === 0) return undefined;
  // The XAD as sent: the line joins the SAD parts, the reverse map restores them.
  a.extension = [stringExt(EXT.original, v.original())];
  const type = ADDRESS_USE[v.str(7)];
  if (type?.use) a.use = type.use;
  if (type?.type) a.type = type.type;
  const period: Json = {};
  ctx.dateTime(period, 'start', v.str(13) || v.sub(12).str(1), path);
  ctx.dateTime(period, 'end', v.str(14) || v.sub(12).str(2), path);
  if (Object.keys(period).length > 0) a.period = period;
  return a;
}

const TELECOM_USE: Readonly<Record<string, string>> = { PRN: 'home', ORN: 'home', VHN: 'home', WPN: 'work', ASN: 'work', EMR: 'home', BPN: 'work', PRS: 'mobile' };
const TELECOM_SYSTEM: Readonly<Record<string, string>> = { PH: 'phone', FX: 'fax', CP: 'phone', BP: 'pager', Internet: 'email', 'X.400': 'email', MD: 'other', TDD: 'other', TTY: 'other', SAT: 'phone' };

/** XTN → ContactPoint. */
export function contactPoint(v: V2Value): Json | undefined {
  const equipment = v.str(3);
  const email = v.str(4);
  let value = v.str(12);
  if (value === '') {
    const local = v.str(7);
    if (local !== '') {
      value = [v.str(5) ? `+${v.str(5)}` : '', v.str(6) ? `(${v.str(6)})` : '', local].filter((s) => s !== '').join(' ');
      if (v.str(8) !== '') value += ` ext. ${v.str(8)}`;
    } else value = v.str(1);
  }
  const isEmail = email !== '' && (equipment === 'Internet' || equipment === 'X.400' || v.str(2) === 'NET' || value === '');
  if (isEmail) value = email;
  if (value === '') return undefined;
  const cp: Json = { system: isEmail ? 'email' : (TELECOM_SYSTEM[equipment] ?? 'phone'), value };
  const use = equipment === 'CP' ? 'mobile' : TELECOM_USE[v.str(2)];
  if (use) cp.use = use;
  return cp;
}

/** XCN (person id, name, assigning authority) → a Reference by identifier with a display. */
export function xcnReference(v: V2Value, type = 'Practitioner'): Reference | undefined {
  const id = v.str(1);
  const family = v.sub(2).str(1);
  const display = [v.str(6), v.str(3), v.str(4), family, v.str(5)].filter((s) => s !== '').join(' ');
  if (id === '' && display === '') return undefined;
  const ref: Reference = { type };
  if (id !== '') {
    const hd = v.sub(9);
    const system = hdSystem(hd.str(1), hd.str(2), hd.str(3));
    ref.identifier = system ? { system, value: id } : { value: id };
  }
  if (display !== '') ref.display = display;
  return ref;
}

/** XON (organization name, id) → a Reference by identifier with a display. */
export function xonReference(v: V2Value): Reference | undefined {
  const name = v.str(1);
  const id = v.str(10) || v.str(3);
  if (name === '' && id === '') return undefined;
  const ref: Reference = { type: 'Organization' };
  if (id !== '') {
    const hd = v.sub(6);
    const system = hdSystem(hd.str(1), hd.str(2), hd.str(3));
    ref.identifier = system ? { system, value: id } : { value: id };
  }
  if (name !== '') ref.display = name;
  return ref;
}

