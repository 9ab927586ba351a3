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
const OBR_FIELDS = [4];
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
function compareField(file: string, a: Hl7Message, b: Hl7Message, seg: string, field: number): string[] {
  const diffs: string[] = [];
  const reps = Math.max(a.repetitions(`${seg}-${field}`), b.repetitions(`${seg}-${field}`));
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
    for (const f of PID_FIELDS) diffs.push(...compareField(file, original, back, 'PID', f));
    for (let i = 1; i <= Math.min(count(original, 'OBR'), count(back, 'OBR')); i++) {
      for (const f of OBR_FIELDS) diffs.push(...compareField(file, original, back, `OBR[${i}]`, f));
    }
    for (let i = 1; i <= Math.min(count(original, 'OBX'), count(back, 'OBX')); i++) {
      for (const f of OBX_FIELDS) diffs.push(...compareField(file, original, back, `OBX[${i}]`, f));
    }
    expect(diffs).toEqual([]);
  });
});
