import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConversionError } from '../../transforms/types.js';
import { v2ToFhir } from '../../transforms/v2-fhir/index.js';
import { corpusMessages, UNSUPPORTED, validateBundle } from './v2-fhir-helpers.js';

/*
 * Messy input never crashes: any corpus message with random garbage written into random
 * fields (delimiters, escapes, digits, dates, empty and null values, whole segments
 * dropped or repeated) converts, or fails with a ConversionError, nothing else.
 */

const corpus = corpusMessages().filter((m) => !UNSUPPORTED.has(m.name)).map((m) => m.bytes.toString('utf8').replace(/^\uFEFF/, '').split(/\r\n|\r|\n/).filter((l) => l !== ''));

const garbage = fc.oneof(
  fc.string({ unit: fc.constantFrom(...'^~\\&|0123456789.+-<>:/ ABCXYZabc"é\u00b5'.split('')), maxLength: 30 }),
  fc.constantFrom('', '""', '^^^', '~~', '\\', '\\X41\\', '\\.br\\', '99999999999999999999', '20241399', '2024', '-0', '1e400', 'NaN', '<^5^:^', '^^-^', '&&&',
    // Offsets FHIR rejects (beyond ±14:00): must become a bad-timestamp warning, never invalid FHIR.
    '202401021230+1430', '20240102123000-1401', '202401021230+1500', '20240102+1459', '1230+1530'),
  fc.string({ maxLength: 20 }),
);

const mutation = fc.record({
  message: fc.nat({ max: corpus.length - 1 }),
  edits: fc.array(fc.record({ segment: fc.nat(), field: fc.integer({ min: 1, max: 40 }), value: garbage, op: fc.constantFrom('set', 'set', 'set', 'drop', 'repeat') }), { minLength: 1, maxLength: 8 }),
});

function mutate(lines: readonly string[], edits: Array<{ segment: number; field: number; value: string; op: string }>): string {
  const out = [...lines];
  for (const e of edits) {
    // MSH-1/2 hold the delimiters: leave them alone, everything after is fair game.
    const i = e.segment % out.length;
    if (e.op === 'drop' && i > 0) { out.splice(i, 1); continue; }
    if (e.op === 'repeat' && i > 0) { out.splice(i, 0, out[i]!); continue; }
    const fields = out[i]!.split('|');
    const at = i === 0 ? Math.max(2, e.field) : e.field;
    while (fields.length <= at) fields.push('');
    fields[at] = e.value.replaceAll('\r', '').replaceAll('\n', '');
    out[i] = fields.join('|');
  }
  return out.join('\r') + '\r';
}

describe('v2ToFhir on mutated corpus messages', () => {
  it('never throws anything but ConversionError, and stays deterministic', () => {
    let converted = 0;
    fc.assert(
      fc.property(mutation, ({ message, edits }) => {
        const text = mutate(corpus[message]!, edits);
        try {
          const first = v2ToFhir(text, { timezone: 'America/New_York' });
          converted++;
          expect(first.result.entry!.length).toBeGreaterThan(0);
          expect(v2ToFhir(text, { timezone: 'America/New_York' })).toEqual(first);
        } catch (err) {
          if (!(err instanceof ConversionError)) throw err;
        }
      }),
      { numRuns: 400, seed: 20260601 },
    );
    // Most mutations must still convert, or the property says little.
    expect(converted).toBeGreaterThan(250);
  }, 60_000);

  it('still produces valid FHIR R4 (the best valid resource, with warnings)', () => {
    fc.assert(
      fc.property(mutation, ({ message, edits }) => {
        const text = mutate(corpus[message]!, edits);
        let bundle;
        try {
          bundle = v2ToFhir(text).result;
        } catch (err) {
          if (err instanceof ConversionError) return;
          throw err;
        }
        expect(validateBundle(bundle)).toEqual([]);
      }),
      { numRuns: 200, seed: 20260602 },
    );
  }, 60_000);
});
