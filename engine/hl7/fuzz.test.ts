import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Hl7Message, Hl7ParseError, Hl7PathError, decodeHl7Bytes, parsePath, splitBatch, type Hl7Path } from './index.js';

/*
 * Property tests: whatever the input, the codec either parses it or throws Hl7ParseError,
 * quickly; what it parses it gives back exactly; paths only ever throw Hl7PathError; and a
 * write reads back as written without disturbing the rest of the message.
 */

const DIR = fileURLToPath(new URL('../../test/fixtures/v2-fhir/', import.meta.url));
const fixture = (f: string): string => decodeHl7Bytes(readFileSync(DIR + f)).text;

const SEEDS: string[] = [
  fixture('ms__ADT_A01__ADT01-28.hl7'), // BOM, LF
  fixture('lfh__ADT_A01__sample_unix.hl7'), // doubled escape character in MSH-2
  fixture('lfh__ADT_A03__HL7ADTMessageTest.testAdtA03AllSegmentsAndMultipleGroups.hl7'), // mixed CR and LF
  fixture('ig__MDM_T02__samples-Message.hl7'), // CRLF, FT with \.br\
  fixture('ms__ADT_A40__ADT-A40-01.hl7'),
  fixture('ti__ORU_R01__008_ORU_R01_micro_character_encoding.hl7'), // non-ASCII
  'MSH|^~\\&#|A|B|||20240101||ADT^A01|1|P|2.7\rPID|1||1^^^X&Y&Z~2||DOE^J\\T\\K||x\\P\\#\r',
  'MSH$%*!@$APP$FAC$$$20240101$$ORU%R01$42$P$2.5\rOBX$1$FT$X$$a!.br!b!F!c*d%e@f$\n',
  'MSH|^~|A\rPID|1|a^b~c|\r\n',
  'MSH|^~\\&|A\r\nPID|1|""||\r\n\r\nZZ1|x^y&z\r\n',
];

const PIECES = ['|', '^', '~', '\\', '&', '#', '$', '%', '*', '!', '@', '\r', '\n', '\r\n', '\x0b', '\x1c', '\uFEFF', 'MSH',
  'MSH|^~\\&|', 'PID|', 'ZZ1|', '""', ' ', '\t', 'A', '1', 'é', '😀', '\uD800', '\\X0D\\', '\\XC3A9\\', '\\.br\\', '\\F\\', '\\E\\', '\u2028', '\0'];

type Op = { kind: 'insert' | 'delete' | 'replace'; at: number; piece: string; len: number };

const opArb: fc.Arbitrary<Op> = fc.record({
  kind: fc.constantFrom('insert' as const, 'delete' as const, 'replace' as const),
  at: fc.nat(),
  piece: fc.oneof(fc.constantFrom(...PIECES), fc.string({ maxLength: 3, unit: 'binary' })),
  len: fc.integer({ min: 1, max: 8 }),
});

function mutate(text: string, ops: readonly Op[]): string {
  let s = text;
  for (const op of ops) {
    const at = op.at % (s.length + 1);
    if (op.kind === 'insert') s = s.slice(0, at) + op.piece + s.slice(at);
    else if (op.kind === 'delete') s = s.slice(0, at) + s.slice(at + op.len);
    else s = s.slice(0, at) + op.piece + s.slice(at + op.piece.length);
  }
  return s;
}

const mutatedArb = fc.tuple(fc.constantFrom(...SEEDS), fc.array(opArb, { minLength: 1, maxLength: 8 })).map(([s, ops]) => mutate(s, ops));

const CHARS = ['a', 'B', '1', ' ', '.', '-', '|', '^', '~', '\\', '&', '#', '$', '%', '@', '!', '*', 'é', '😀', '"', 'X', 'F', 'H'];
const textArb = (max: number): fc.Arbitrary<string> => fc.array(fc.constantFrom(...CHARS), { maxLength: max }).map((a) => a.join(''));

/** Well-formed-ish messages: random delimiters, segments, fields and terminators. */
const structuredArb = fc.record({
  enc: fc.constantFrom('|^~\\&', '|^~\\&#', '$%*!@', '|^~', '|^', '#^~\\&', '\t^~\\&'),
  segs: fc.array(fc.tuple(fc.constantFrom('PID', 'OBX', 'NTE', 'ZZ1', 'EVN', 'MSH', 'BHS'), fc.array(textArb(12), { maxLength: 8 })), { maxLength: 6 }),
  header: fc.array(textArb(8), { maxLength: 14 }),
  term: fc.constantFrom('\r', '\n', '\r\n', '\n\r', '\r\r'),
  last: fc.constantFrom('', '\r', '\n', '\r\n'),
}).map(({ enc, segs, header, term, last }) => {
  const f = enc[0]!;
  const lines = [`MSH${enc}${f}${header.join(f)}`, ...segs.map(([n, fs]) => [n, ...fs].join(f))];
  return lines.join(term) + last;
});

const inputArb = fc.oneof(
  { weight: 5, arbitrary: mutatedArb },
  { weight: 3, arbitrary: structuredArb },
  { weight: 1, arbitrary: fc.string({ maxLength: 200, unit: 'binary' }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200, unit: 'binary' }).map((s) => 'MSH' + s) },
);

/** Parses `input`: a message, or undefined after an Hl7ParseError; anything else fails the test. */
function tryParse(input: string | Uint8Array): Hl7Message | undefined {
  const t0 = performance.now();
  try {
    return Hl7Message.parse(input);
  } catch (e) {
    if (!(e instanceof Hl7ParseError)) throw new Error(`parse threw ${String(e)} for ${JSON.stringify(input)}`);
    const length = typeof input === 'string' ? input.length : input.length;
    expect(e.position).toBeGreaterThanOrEqual(0);
    expect(e.position).toBeLessThanOrEqual(length + 3);
    expect(e.reason.length).toBeGreaterThan(0);
    return undefined;
  } finally {
    expect(performance.now() - t0).toBeLessThan(500);
  }
}

const pathArb: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.record({
    seg: fc.constantFrom('MSH', 'PID', 'OBX', 'NTE', 'ZZ1', 'EVN', 'BHS', 'PV1', 'QRD'),
    occ: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
    field: fc.option(fc.integer({ min: 1, max: 25 }), { freq: 8, nil: undefined }),
    rep: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
    comp: fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined }),
    sub: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
  }).map(({ seg, occ, field, rep, comp, sub }) => {
    let s = occ === undefined ? seg : `${seg}[${occ}]`;
    if (field === undefined) return s;
    s += `-${field}`;
    if (rep !== undefined) s += `[${rep}]`;
    if (comp !== undefined) s += `.${comp}${sub !== undefined ? `.${sub}` : ''}`;
    return s;
  }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom('PID-3-1', 'MSH-1', 'MSH-2', 'MSH-2.1', 'PID-0', 'PID-3[0]', 'PID-999999', 'pid-3', 'OBX[2]-5.1.1') },
);

function onlyPathErrors(fn: () => unknown): boolean {
  try {
    fn();
    return true;
  } catch (e) {
    if (!(e instanceof Hl7PathError)) throw new Error(`expected only Hl7PathError, got ${String(e)}`);
    return false;
  }
}

/** HL7_FUZZ_SCALE=20 multiplies every run count, for a longer hunt than the default few seconds. */
const SCALE = Math.max(1, Number(process.env.HL7_FUZZ_SCALE) || 1);
const runs = (n: number): number => n * SCALE;
const FUZZ = { numRuns: runs(1500) };

describe('fuzz: parse', () => {
  it('parses or throws Hl7ParseError, and what it parses serializes back exactly', () => {
    let parsed = 0;
    fc.assert(fc.property(inputArb, (input) => {
      const m = tryParse(input);
      if (!m) return;
      parsed++;
      expect(m.toString()).toBe(input);
      expect(m.segments[0]!.name).toBe('MSH');
      if (!/[\uD800-\uDFFF]/.test(input)) {
        const bytes = Buffer.from(input, 'utf8');
        const b = tryParse(bytes);
        expect(b?.toBytes().equals(bytes)).toBe(true);
      }
    }), { numRuns: FUZZ.numRuns });
    // The generators must reach the success path often enough to mean something.
    expect(parsed).toBeGreaterThan(FUZZ.numRuns / 4);
  });

  it('handles arbitrary bytes: Hl7ParseError, or an exact byte round trip', () => {
    const header = Buffer.from('MSH|^~\\&|A|B|||20240101||ADT^A01|1|P|2.5\r', 'latin1');
    const bytesArb = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.uint8Array({ maxLength: 300 }).map((b) => new Uint8Array(Buffer.concat([header, b]))),
      fc.tuple(fc.constantFrom(...SEEDS), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 })).map(([s, edits]) => {
        const b = Buffer.from(s, 'utf8');
        for (const [at, v] of edits) if (b.length) b[at % b.length] = v;
        return new Uint8Array(b);
      }),
    );
    fc.assert(fc.property(bytesArb, (bytes) => {
      const m = tryParse(bytes);
      if (m) expect(m.toBytes().equals(Buffer.from(bytes))).toBe(true);
    }), { numRuns: runs(800) });
  });

  it('splits batches of mutated messages or throws Hl7ParseError', () => {
    const batchArb = fc.tuple(fc.array(mutatedArb, { minLength: 1, maxLength: 3 }), fc.boolean()).map(([ms, wrap]) =>
      wrap ? `FHS|^~\\&\rBHS|^~\\&\r${ms.map((m) => (/[\r\n]$/.test(m) ? m : m + '\r')).join('')}BTS|${ms.length}\rFTS|1\r` : ms.join(''));
    fc.assert(fc.property(batchArb, (text) => {
      const t0 = performance.now();
      try {
        const b = splitBatch(text);
        let from = 0;
        for (const m of b.messages) {
          const at = text.indexOf(m, from);
          expect(at).toBeGreaterThanOrEqual(0);
          from = at + m.length;
          tryParse(m);
        }
      } catch (e) {
        if (!(e instanceof Hl7ParseError)) throw e;
      }
      expect(performance.now() - t0).toBeLessThan(500);
    }), { numRuns: runs(500) });
  });
});

describe('fuzz: paths and writes', () => {
  it('get/getRaw/value/repetitions only throw Hl7PathError', () => {
    fc.assert(fc.property(inputArb, fc.array(pathArb, { minLength: 1, maxLength: 6 }), (input, paths) => {
      const m = tryParse(input);
      if (!m) return;
      for (const p of paths) {
        const ok = onlyPathErrors(() => m.get(p));
        expect(onlyPathErrors(() => m.getRaw(p))).toBe(ok);
        expect(onlyPathErrors(() => m.value(p))).toBe(ok);
        if (ok) expect(() => parsePath(p)).not.toThrow();
        onlyPathErrors(() => m.repetitions(p));
      }
      expect(m.toString()).toBe(input); // reading never changes the message
    }), { numRuns: runs(1000) });
  });

  it('set() then re-parse reads back the value and leaves every other segment as it was', () => {
    const valueArb = textArb(10).chain((v) => fc.constantFrom(v, v + '\r\n' + v, '\x0b' + v + '\x1c', '""', ''));
    let written = 0;
    fc.assert(fc.property(inputArb, pathArb, valueArb, (input, path, value) => {
      const m = tryParse(input);
      if (!m) return;
      let p: Hl7Path;
      try {
        p = parsePath(path);
      } catch {
        return;
      }
      const before = m.segments.map((s) => s.encode(m.delimiters.field) + s.terminator);
      const d = m.delimiters;
      if (!onlyPathErrors(() => m.set(p, value))) {
        expect(m.toString()).toBe(input); // a refused write changes nothing
        return;
      }
      written++;
      const out = m.toString();
      const back = tryParse(out);
      if (!back) throw new Error(`set(${path}) made an unparsable message: ${JSON.stringify(out)}`);
      expect(back.toString()).toBe(out);
      if (d.escape !== '') expect(back.get(p)).toBe(value);
      const touched = m.segments.indexOf(m.segment(p.segment, p.occurrence)!);
      for (let i = 0; i < before.length; i++) {
        if (i === touched) continue;
        const now = back.segments[i]!.encode(d.field) + back.segments[i]!.terminator;
        // Only the former last segment may gain a terminator when segments are appended.
        if (i === before.length - 1 && now !== before[i]) expect(now.startsWith(before[i]!)).toBe(true);
        else expect(now).toBe(before[i]);
      }
    }), { numRuns: runs(1500) });
    expect(written).toBeGreaterThan(300);
  });

  it('set() on a message read from bytes survives toBytes() and a byte re-parse', () => {
    const latin = fc.tuple(fc.constantFrom(...SEEDS), fc.constantFrom('\xe9', '\xff', '\xb5')).map(([s, c]) =>
      Buffer.from(s.replace(/^\uFEFF/, '').replace(/[^\x00-\xff]/g, '?') + `NTE|1||${c}\r`, 'latin1'));
    const bytesArb = fc.oneof(latin, fc.constantFrom(...SEEDS).map((s) => Buffer.from(s, 'utf8')));
    const valueArb = fc.array(fc.constantFrom(...CHARS, '山', '€', 'ß', '\u00a0'), { maxLength: 10 }).map((a) => a.join(''));
    fc.assert(fc.property(bytesArb, pathArb, valueArb, (bytes, path, value) => {
      const m = tryParse(bytes);
      if (!m) return;
      if (!onlyPathErrors(() => m.set(path, value))) return;
      const back = tryParse(m.toBytes());
      expect(back?.encoding).toBe(m.encoding);
      if (m.delimiters.escape !== '') expect(back?.get(path)).toBe(value);
    }), { numRuns: runs(500) });
  });
});
