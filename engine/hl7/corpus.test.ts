import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Hl7Message, buildAck, decodeHl7Bytes, encodeHl7Text, parseHl7, splitBatch, unescapeValue } from './index.js';

const DIR = fileURLToPath(new URL('../../test/fixtures/v2-fhir/', import.meta.url));
const FILES = readdirSync(DIR).filter((f) => f.endsWith('.hl7')).sort();

interface Sample { file: string; bytes: Buffer; text: string; messages: string[] }

const samples: Sample[] = FILES.map((file) => {
  const bytes = readFileSync(DIR + file);
  const { text } = decodeHl7Bytes(bytes);
  return { file, bytes, text, messages: splitBatch(text).messages };
});

/** Lines of a message as [line, terminator] pairs, split the way the parser splits them. */
function lines(text: string): string[] {
  return text.replace(/^\uFEFF/, '').split(/[\r\n]+/).filter((l) => l.trim() !== '');
}

/** A naive reference reader: full split of one segment line, 1-based indexes. */
function reference(line: string, field: string, d: { component: string; repetition: string; subcomponent: string }): string[][][][] {
  const parts = line.split(field);
  const header = /^(MSH|FHS|BHS)$/.test(parts[0]!);
  const fields = header ? [parts[0]!, field, ...parts.slice(1)] : parts;
  return fields.map((f) => f.split(d.repetition || '\0').map((r) => r.split(d.component).map((c) => c.split(d.subcomponent || '\0'))));
}

describe('public corpus (test/fixtures/v2-fhir)', () => {
  it('has the expected files', () => {
    expect(FILES.length).toBeGreaterThanOrEqual(60);
    for (const s of samples) expect(s.messages.length, s.file).toBeGreaterThanOrEqual(1);
  });

  for (const s of samples) {
    describe(s.file, () => {
      it('serializes every unmodified message to exactly its input (text and bytes)', () => {
        const body = s.text.replace(/^\uFEFF/, '');
        const b = splitBatch(s.text);
        if (!b.fileHeader && b.batchHeaders.length === 0) expect(s.messages.join('')).toBe(body);
        const encoding = decodeHl7Bytes(s.bytes).encoding;
        for (const text of s.messages) {
          const m = parseHl7(text);
          expect(m.toString()).toBe(text);
          const bytes = encodeHl7Text(text, encoding);
          const fromBytes = Hl7Message.parse(bytes);
          expect(fromBytes.encoding).toBe(encoding);
          expect(fromBytes.toBytes().equals(bytes)).toBe(true);
          expect(fromBytes.toString()).toBe(text);
        }
        if (s.messages.length === 1) {
          const whole = Hl7Message.parse(s.bytes);
          expect(whole.toBytes().equals(s.bytes)).toBe(true);
          expect(whole.segments.length).toBe(lines(s.text).length);
        }
      });

      it('reads every leaf value like a naive full split would', () => {
        for (const text of s.messages) {
          const m = parseHl7(text);
          const d = m.delimiters;
          const seen = new Map<string, number>();
          for (const line of lines(text)) {
            const name = line.slice(0, 3);
            const occ = (seen.get(name) ?? 0) + 1;
            seen.set(name, occ);
            const ref = reference(line, d.field, d);
            for (let f = 3; f < ref.length; f++) {
              const reps = ref[f]!;
              for (let r = 0; r < reps.length; r++) {
                for (let c = 0; c < reps[r]!.length; c++) {
                  const subs = reps[r]![c]!;
                  for (let sc = 0; sc < subs.length; sc++) {
                    const path = `${name}[${occ}]-${f}[${r + 1}].${c + 1}.${sc + 1}`;
                    const got = m.get(path);
                    const want = unescapeValue(subs[sc]!, d);
                    if (got !== want) expect({ path, got }).toEqual({ path, got: want });
                  }
                }
              }
              if (reps.length > 1) expect(m.repetitions(`${name}[${occ}]-${f}`)).toBe(reps.length);
            }
          }
        }
      });

      it('changes only the touched field on set()', () => {
        for (const text of s.messages) {
          const original = parseHl7(text);
          const segs = original.segments.map((x) => x.encode(original.delimiters.field));
          // One header field and the last field of the last segment.
          const lastIndex = original.segments.length - 1;
          const last = original.segments[lastIndex]!;
          const occ = original.all(last.name).indexOf(last) + 1;
          const targets: [number, string][] = [[0, 'MSH-10'], [lastIndex, `${last.name}[${occ}]-${Math.max(1, last.fieldCount)}.2`]];
          for (const [index, path] of targets) {
            const m = parseHl7(text);
            const value = 'new & value|with^delims~\\x';
            m.set(path, value);
            const out = m.toString();
            const back = parseHl7(out);
            expect(back.get(path)).toBe(value);
            expect(back.segments.length).toBe(segs.length);
            const f = m.delimiters.field;
            const fieldNo = Number(/-(\d+)/.exec(path)![1]);
            const fieldAt = m.segments[index]!.fieldIndex(fieldNo);
            for (let i = 0; i < segs.length; i++) {
              const now = back.segments[i]!.encode(f);
              if (i !== index) {
                expect(now).toBe(segs[i]);
                continue;
              }
              const before = segs[i]!.split(f);
              const after = now.split(f);
              before.forEach((v, k) => { if (k !== fieldAt) expect(after[k]).toBe(v); });
            }
            // Terminators and the prefix are untouched: the output is the input with one field replaced.
            let at = text.length;
            for (const x of original.segments) at -= x.encode(f).length + x.terminator.length; // the prefix
            for (const x of original.segments.slice(0, index)) at += x.encode(f).length + x.terminator.length;
            expect(out).toBe(text.slice(0, at) + m.segments[index]!.encode(f) + text.slice(at + segs[index]!.length));
          }
        }
      });

      it('builds a valid ACK for every message', () => {
        for (const text of s.messages) {
          const m = parseHl7(text);
          const a = parseHl7(buildAck(m, { code: 'AE', error: { code: '207', text: 'test' } }));
          expect(a.getRaw('MSA-2')).toBe(m.getRaw('MSH-10'));
          expect(a.getRaw('MSH-5')).toBe(m.getRaw('MSH-3'));
          expect(a.getRaw('MSH-3')).toBe(m.getRaw('MSH-5'));
          expect(a.getRaw('MSH-12')).toBe(m.getRaw('MSH-12') || '2.5.1');
          expect(a.get('MSH-9.2')).toBe(m.get('MSH-9.2'));
        }
      });
    });
  }
});

describe('corpus specifics', () => {
  const get = (file: string): Hl7Message => Hl7Message.parse(readFileSync(DIR + file));

  it('reads a BOM file', () => {
    const m = get('ms__ADT_A01__ADT01-23.hl7');
    expect(m.segments[0]!.name).toBe('MSH');
    expect(m.version).toBe('2.3');
    expect(m.messageType).toBe('ADT^A01');
  });

  it('reads the doubled escape character of the LinuxForHealth samples', () => {
    const m = get('lfh__ADT_A01__sample_unix.hl7');
    expect(m.get('MSH-2')).toBe('^~\\\\&');
    expect(m.delimiters.escape).toBe('\\');
    expect(m.delimiters.subcomponent).toBe('&');
    expect(m.get('PID-3[2].1')).toBe('1234568965');
  });

  it('reads the v2.7-style truncation character and FT formatting escapes', () => {
    const oru = get('ig__ORU_R01__test_conversions.hl7');
    expect(oru.delimiters.truncation).toBe('#');
    expect(oru.get('MSH-18')).toBe('UNICODE UTF-8');
    const mdm = get('ig__MDM_T02__samples-Message.hl7');
    expect(mdm.get('OBX[2]-5')).toContain('\\.br\\');
  });

  it('reads latin1-declared files as latin1 and round-trips their bytes', () => {
    for (const f of ['ti__ORM_O01__003_AL_ORM_O01_NBS_Fully_Populated_0_initial_message.hl7', 'ti__ORM_O01__005_Oracle_ORM_O01_2_3_non_NBS.hl7']) {
      const bytes = readFileSync(DIR + f);
      const m = Hl7Message.parse(bytes);
      expect(m.encoding).toBe('latin1');
      expect(m.toBytes().equals(bytes)).toBe(true);
    }
    expect(get('ti__ORU_R01__008_ORU_R01_micro_character_encoding.hl7').toString()).toContain('µ');
  });
});
