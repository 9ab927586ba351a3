import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseHl7 } from '../../engine/hl7/index.js';
import { fhirToV2 } from '../../transforms/fhir-v2/index.js';
import { v2ToFhir } from '../../transforms/v2-fhir/index.js';

/*
 * Every corpus message our v2 → FHIR map supports comes back from FHIR as the same kind of
 * message with the same orders and observations: nothing in the corpus fails to convert back.
 */

const CORPUS = path.resolve(import.meta.dirname, '../fixtures/v2-fhir');
const FILES = readdirSync(CORPUS).filter((f) => f.endsWith('.hl7') && !f.includes('FHIR2V2')).sort();

describe('v2 → FHIR → v2 over the whole corpus', () => {
  it('covers ADT, ORM and ORU messages', () => {
    const kinds = new Set(FILES.map((f) => f.split('__')[1]!.slice(0, 3)));
    expect([...kinds].filter((k) => ['ADT', 'ORM', 'ORU'].includes(k)).sort()).toEqual(['ADT', 'ORM', 'ORU']);
  });

  it.each(FILES)('%s', (file) => {
    const text = readFileSync(path.join(CORPUS, file), 'utf8');
    const original = parseHl7(text.replace(/^\uFEFF/, ''));
    if (!['ADT', 'ORM', 'ORU'].includes(original.messageCode)) {
      expect(() => v2ToFhir(text)).toThrow(/unsupported/);
      return;
    }
    const back = parseHl7(fhirToV2(v2ToFhir(text).result, { version: original.version || '2.5.1' }).result);
    const code = original.messageCode;
    expect(back.messageCode, 'MSH-9.1').toBe(code);
    if (['A08', 'A28', 'A31', 'O01', 'R01'].includes(original.triggerEvent)) expect(back.triggerEvent, 'MSH-9.2').toBe(original.triggerEvent);
    // PID-2 and PID-4 go back to their own fields (hl7v2-field), PID-3 to PID-3.
    for (const f of ['PID-2.1', 'PID-3[1].1', 'PID-4.1']) expect(back.get(f), f).toBe(original.get(f));
    if (code !== 'ADT') expect(back.all('OBR').length, 'OBR count').toBe(Math.max(original.all('OBR').length, 1));
    // A merge (A34/A40) names several patients; the ADT we write is about the first.
    if (!['A34', 'A40'].includes(original.triggerEvent)) expect(back.all('OBX').length, 'OBX count').toBe(original.all('OBX').length);
  });
});
