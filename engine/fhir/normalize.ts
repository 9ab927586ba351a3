/**
 * A tolerant reader for production Observations. Real Epic data arrives without values,
 * with site OIDs instead of LOINC, numbers as valueString, vitals as valueCodeableConcept
 * and statuses other than `final`. Each of these yields a reading plus a coded warning,
 * never an exception; the original resource is left untouched.
 */

const LOINC_SYSTEM = 'http://loinc.org';
const HL7_CATEGORY_SYSTEM = 'http://terminology.hl7.org/CodeSystem/observation-category';

export type ObservationWarningCode =
  | 'missing-value'
  | 'no-loinc'
  | 'missing-code'
  | 'numeric-string'
  | 'coded-vital'
  | 'coded-numeric'
  | 'unusual-status'
  | 'local-category'
  | 'missing-subject';

export interface ObservationWarning {
  readonly code: ObservationWarningCode;
  /** Names fields and codes, never values: warnings end up in logs and on envelopes. */
  readonly message: string;
}

export interface Coding {
  readonly system?: string;
  readonly code?: string;
  readonly display?: string;
}

/** What downstream steps read, whatever shape the source used. */
export interface ObservationReading {
  readonly id?: string;
  readonly status?: string;
  readonly patient?: string;
  readonly effective?: string;
  /** The LOINC code when one is present; `codings` keeps every original coding. */
  readonly loinc?: string;
  readonly codings: readonly Coding[];
  readonly categories: readonly string[];
  readonly value?: number;
  readonly unit?: string;
  /** Textual value when there is no number. */
  readonly text?: string;
  readonly warnings: readonly ObservationWarning[];
}

type Json = Record<string, unknown>;

function isRecord(v: unknown): v is Json {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function codings(concept: unknown): Coding[] {
  if (!isRecord(concept) || !Array.isArray(concept.coding)) return [];
  return concept.coding.filter(isRecord).map((c) => ({
    ...(typeof c.system === 'string' ? { system: c.system } : {}),
    ...(typeof c.code === 'string' ? { code: c.code } : {}),
    ...(typeof c.display === 'string' ? { display: c.display } : {}),
  }));
}

const NUMBER = /^\s*([<>]=?)?\s*(-?\d+(?:\.\d+)?)\s*(.*?)\s*$/;
const VITAL_LOINC = new Set(['8867-4', '8310-5', '9279-1', '59408-5', '8480-6', '8462-4', '29463-7', '8302-2', '39156-5', '85354-9']);

export function normalizeObservation(resource: unknown): ObservationReading {
  const warnings: ObservationWarning[] = [];
  const warn = (code: ObservationWarningCode, message: string) => warnings.push({ code, message });
  const obs = isRecord(resource) ? resource : {};
  const id = typeof obs.id === 'string' ? obs.id : undefined;

  const status = typeof obs.status === 'string' ? obs.status : undefined;
  if (status !== 'final') warn('unusual-status', `status is ${status ?? 'missing'}, not final`);

  const codeList = codings(obs.code);
  const loinc = codeList.find((c) => c.system === LOINC_SYSTEM && c.code)?.code;
  if (codeList.length === 0) warn('missing-code', 'code has no coding');
  else if (!loinc) warn('no-loinc', `code has no LOINC coding, only ${[...new Set(codeList.map((c) => c.system ?? 'no system'))].join(', ')}`);

  const categoryCodings = (Array.isArray(obs.category) ? obs.category : []).flatMap(codings);
  const categories = categoryCodings.map((c) => c.code).filter((c): c is string => typeof c === 'string');
  const local = categoryCodings.filter((c) => c.system !== HL7_CATEGORY_SYSTEM);
  if (local.length) warn('local-category', `category outside the HL7 code system: ${local.map((c) => c.code ?? '?').join(', ')}`);
  const vital = categories.includes('vital-signs') || (loinc !== undefined && VITAL_LOINC.has(loinc));

  const subject = isRecord(obs.subject) ? obs.subject.reference : undefined;
  const patient = typeof subject === 'string' && subject.startsWith('Patient/') ? subject.slice('Patient/'.length) : undefined;
  if (!patient) warn('missing-subject', 'subject is not a Patient reference');

  const reading = readValue(obs, vital, warn);
  const effective = typeof obs.effectiveDateTime === 'string' ? obs.effectiveDateTime : isRecord(obs.effectivePeriod) && typeof obs.effectivePeriod.start === 'string' ? obs.effectivePeriod.start : undefined;
  return {
    ...(id ? { id } : {}),
    ...(status ? { status } : {}),
    ...(patient ? { patient } : {}),
    ...(effective ? { effective } : {}),
    ...(loinc ? { loinc } : {}),
    codings: codeList,
    categories,
    ...reading,
    warnings,
  };
}

function readValue(obs: Json, vital: boolean, warn: (code: ObservationWarningCode, message: string) => void): { value?: number; unit?: string; text?: string } {
  const q = obs.valueQuantity;
  if (isRecord(q) && typeof q.value === 'number') {
    const unit = typeof q.unit === 'string' ? q.unit : typeof q.code === 'string' ? q.code : undefined;
    return { value: q.value, ...(unit ? { unit } : {}) };
  }
  if (typeof obs.valueString === 'string') {
    const m = NUMBER.exec(obs.valueString);
    if (m && !m[1]) {
      warn('numeric-string', 'numeric result sent as valueString');
      return { value: Number(m[2]), ...(m[3] ? { unit: m[3] } : {}) };
    }
    return { text: obs.valueString };
  }
  const cc = obs.valueCodeableConcept;
  if (isRecord(cc)) {
    const text = typeof cc.text === 'string' ? cc.text : codings(cc)[0]?.display;
    const m = text ? NUMBER.exec(text) : null;
    if (vital) warn('coded-vital', 'vital sign sent as valueCodeableConcept');
    if (m && !m[1]) {
      // A number in the concept's text is a numeric result, whatever the category says.
      if (!vital) warn('coded-numeric', 'numeric result sent as valueCodeableConcept');
      return { value: Number(m[2]), ...(m[3] ? { unit: m[3] } : {}) };
    }
    return text ? { text } : {};
  }
  for (const key of ['valueInteger', 'valueDecimal'] as const) if (typeof obs[key] === 'number') return { value: obs[key] as number };
  for (const key of ['valueBoolean', 'valueDateTime', 'valueTime', 'valuePeriod', 'valueRange', 'valueRatio', 'valueSampledData'] as const) {
    if (obs[key] !== undefined) return { text: typeof obs[key] === 'string' ? (obs[key] as string) : JSON.stringify(obs[key]) };
  }
  // A value may legitimately be absent with a reason, or carried by components.
  if (isRecord(obs.dataAbsentReason) || (Array.isArray(obs.component) && obs.component.length > 0)) return {};
  warn('missing-value', 'no value[x], dataAbsentReason or component');
  return {};
}

/** Counts warnings by code, for job summaries and tests. */
export function countWarnings(readings: Iterable<ObservationReading>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of readings) for (const w of r.warnings) counts[w.code] = (counts[w.code] ?? 0) + 1;
  return counts;
}
