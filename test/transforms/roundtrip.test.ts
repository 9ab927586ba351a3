import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseHl7, type Hl7Message } from '../../engine/hl7/index.js';
import { fhirToV2 } from '../../transforms/fhir-v2/index.js';
import { v2ToFhir } from '../../transforms/v2-fhir/index.js';

/*
 * v2 → FHIR → v2 over every ORU^R01 in the corpus: the fields the issue names must come
 * back with the same decoded values, repetition by repetition and component by component.
 * A failure lists file, field and both values, so the side that lost the value is clear.
 */

const CORPUS = path.resolve(import.meta.dirname, '../fixtures/v2-fhir');
const FILES = readdirSync(CORPUS).filter((f) => f.includes('ORU_R01') && f.endsWith('.hl7')).sort();

const PID_FIELDS = [3, 5, 7, 8];
/** Kept through the lossless extensions (`hl7v2-field`, `hl7v2-original`), where the original has them. */
const PID_EXTRA_FIELDS = [2, 4, 19];
const OBR_FIELDS = [4];
const ORDER_ID_FIELDS = [2, 3];
const OBX_FIELDS = [2, 3, 5, 6, 11, 14];

/** Decoded components of one repetition, trailing empties dropped. */
function components(msg: Hl7Message, seg: string, field: number, rep: number): string[] {
  const raw = msg.getRaw(`${seg}-${field}[${rep}]`);
  const count = raw === '' ? 0 : raw.split(msg.delimiters.component).length;
  const out: string[] = [];
  for (let c = 1; c <= count; c++) out.push(msg.get(`${seg}-${field}[${rep}].${c}`));
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  return out;
}

/** Every difference between the same field of two segments, one line each. */
function compareField(file: string, a: Hl7Message, b: Hl7Message, seg: string, field: number, maxReps = Infinity): string[] {
  const diffs: string[] = [];
  const reps = Math.min(maxReps, Math.max(a.repetitions(`${seg}-${field}`), b.repetitions(`${seg}-${field}`)));
  for (let r = 1; r <= reps; r++) {
    const x = components(a, seg, field, r);
    const y = components(b, seg, field, r);
    const n = Math.max(x.length, y.length);
    for (let c = 1; c <= n; c++) {
      const want = x[c - 1] ?? '';
      const got = y[c - 1] ?? '';
      if (want !== got) diffs.push(`${file} ${seg}-${field}[${r}].${c}: original ${JSON.stringify(want)}, round trip ${JSON.stringify(got)}`);
    }
  }
  return diffs;
}

function roundTrip(text: string): { original: Hl7Message; back: Hl7Message } {
  const original = parseHl7(text);
  const fhir = v2ToFhir(original).result;
  const back = parseHl7(fhirToV2(fhir, { version: original.version || '2.5.1', now: new Date(0), controlId: 'RT' }).result);
  return { original: parseHl7(text), back };
}

describe('round trip v2 → FHIR → v2 (ORU^R01 corpus)', () => {
  it('covers the corpus', () => {
    expect(FILES.length).toBeGreaterThanOrEqual(10);
  });

  it.each(FILES)('%s keeps PID-3/5/7/8, OBR-4, OBX-2/3/5/6/11/14', (file) => {
    const { original, back } = roundTrip(readFileSync(path.join(CORPUS, file), 'utf8'));
    const diffs: string[] = [];
    const count = (m: Hl7Message, s: string) => m.all(s).length;
    for (const s of ['PID', 'OBR', 'OBX']) {
      if (count(original, s) !== count(back, s)) diffs.push(`${file} ${s}: ${count(original, s)} segment(s) in the original, ${count(back, s)} after the round trip`);
    }
    for (const f of [...PID_FIELDS, ...PID_EXTRA_FIELDS]) diffs.push(...compareField(file, original, back, 'PID', f));
    for (let i = 1; i <= Math.min(count(original, 'OBR'), count(back, 'OBR')); i++) {
      for (const f of OBR_FIELDS) diffs.push(...compareField(file, original, back, `OBR[${i}]`, f));
      // OBR-2/OBR-3 do not repeat in v2; a sender's extra repetitions are not kept (first only).
      for (const f of ORDER_ID_FIELDS) diffs.push(...compareField(file, original, back, `OBR[${i}]`, f, 1));
    }
    for (let i = 1; i <= Math.min(count(original, 'OBX'), count(back, 'OBX')); i++) {
      for (const f of OBX_FIELDS) diffs.push(...compareField(file, original, back, `OBX[${i}]`, f));
    }
    expect(diffs).toEqual([]);
  });
});

/*
 * ADT and ORM: the identifiers the IG maps beyond PID-3 (PID-2, PID-4, PID-19), the visit
 * numbers (PV1-19, PV1-50) and the placer/filler order numbers come back where present.
 */
const ADT_ORM = readdirSync(CORPUS).filter((f) => /__(ADT_A0[1-8]|ADT_A1[13]|ADT_A2[8]|ADT_A31|ORM_O01)__/.test(f) && f.endsWith('.hl7')).sort();

/** Fields the original has a value in; a test over only empty fields could not fail. */
function present(msg: Hl7Message, seg: string, fields: readonly number[]): number[] {
  return fields.filter((f) => msg.getRaw(`${seg}-${f}`).trim() !== '');
}

describe('round trip v2 → FHIR → v2 (ADT and ORM corpus): identifiers', () => {
  it('covers ADT and ORM files that carry those fields', () => {
    const withExtras = ADT_ORM.map((f) => parseHl7(readFileSync(path.join(CORPUS, f), 'utf8')))
      .filter((m) => m.all('PID').length > 0 && present(m, 'PID', [2, 4, 19]).length > 0);
    expect(ADT_ORM.length).toBeGreaterThanOrEqual(15);
    expect(withExtras.length).toBeGreaterThanOrEqual(5);
  });

  it.each(ADT_ORM)('%s keeps PID-2/3/4/9/19/20, PV1-19/50, ORC-2/3, OBR-2/3', (file) => {
    const { original, back } = roundTrip(readFileSync(path.join(CORPUS, file), 'utf8'));
    const diffs: string[] = [];
    if (original.all('PID').length > 0) {
      for (const f of present(original, 'PID', [2, 3, 4, 9, 19, 20])) diffs.push(...compareField(file, original, back, 'PID', f));
    }
    // The reverse map writes the first visit only (one Encounter per message).
    if (original.all('PV1').length > 0 && original.getRaw('PV1-19') !== '') {
      for (const f of present(original, 'PV1', [19, 50])) diffs.push(...compareField(file, original, back, 'PV1', f));
    }
    const orders = Math.min(original.all('OBR').length, back.all('OBR').length);
    // An ORM order without OBR gets one on the way back (ORM^O01 as receivers expect it).
    if (original.all('OBR').length > 0 && original.all('OBR').length !== back.all('OBR').length) diffs.push(`${file} OBR: ${original.all('OBR').length} in the original, ${back.all('OBR').length} after the round trip`);
    for (let i = 1; i <= orders; i++) {
      for (const f of present(original, `OBR[${i}]`, ORDER_ID_FIELDS)) diffs.push(...compareField(file, original, back, `OBR[${i}]`, f, 1));
    }
    // ORC pairs with its OBR: compared where both messages have the same order groups.
    if (original.all('ORC').length === back.all('ORC').length && original.all('OBR').length > 0) {
      for (let i = 1; i <= original.all('ORC').length; i++) {
        for (const f of present(original, `ORC[${i}]`, ORDER_ID_FIELDS)) diffs.push(...compareField(file, original, back, `ORC[${i}]`, f, 1));
      }
    }
    expect(diffs).toEqual([]);
  });
});
