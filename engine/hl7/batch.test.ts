import { describe, expect, it } from 'vitest';
import { Hl7ParseError, buildBatch, parseHl7, splitBatch } from './index.js';
import { parseError } from '../../test/helpers/hl7.js';

const m1 = 'MSH|^~\\&|A|B|C|D|20240101||ADT^A01^ADT_A01|M1|P|2.5.1\rPID|1||111\r';
const m2 = 'MSH|^~\\&|A|B|C|D|20240101||ADT^A08^ADT_A01|M2|P|2.5.1\rPID|1||222\rPV1|1|I\r';
const m3 = 'MSH|^~\\&|A|B|C|D|20240101||ORU^R01|M3|P|2.3\rOBX|1|ST|X||v\r';


describe('buildBatch / splitBatch', () => {
  const now = new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 6));

  it('wraps messages in BHS/BTS with the count and header fields', () => {
    const text = buildBatch([m1, m2], { now, sendingApplication: 'SAPP', sendingFacility: 'SFAC', receivingApplication: 'RAPP', receivingFacility: 'RFAC', controlId: 'B1' });
    expect(text).toBe(`BHS|^~\\&|SAPP|SFAC|RAPP|RFAC|20240102030405.006+0000||||B1\r${m1}${m2}BTS|2\r`);
  });

  it('round-trips a file (FHS/BHS/…/BTS/FTS) back to the same messages', () => {
    const text = buildBatch([m1, m2, m3], { now, file: true, controlId: 'F1' });
    expect(text.startsWith('FHS|^~\\&|')).toBe(true);
    expect(text.endsWith('BTS|3\rFTS|1\r')).toBe(true);
    const b = splitBatch(text);
    expect(b.messages).toEqual([m1, m2, m3]);
    expect(b.fileHeader).toBe('FHS|^~\\&|||||20240102030405.006+0000||||F1');
    expect(b.batchHeaders).toEqual(['BHS|^~\\&|||||20240102030405.006+0000||||F1']);
    expect(b.batchTrailers).toEqual(['BTS|3']);
    expect(b.fileTrailer).toBe('FTS|1');
    expect(b.warnings).toEqual([]);
    expect(b.messages.map((m) => parseHl7(m).controlId)).toEqual(['M1', 'M2', 'M3']);
    // Rebuilding from the split gives the same file.
    expect(buildBatch(b.messages, { now, file: true, controlId: 'F1' })).toBe(text);
  });

  it('terminates messages that lack a final segment terminator', () => {
    const text = buildBatch(['MSH|^~\\&|A\rPID|1', 'MSH|^~\\&|B\nPID|2\n'], { now });
    expect(splitBatch(text).messages).toEqual(['MSH|^~\\&|A\rPID|1\r', 'MSH|^~\\&|B\nPID|2\n']);
  });

  it('drops a BOM or blank lines in front of a message, which would read as junk inside a batch', () => {
    const text = buildBatch([`\uFEFF${m1}`, `\r\n${m2}`], { now, file: true });
    expect(text).not.toContain('\uFEFF');
    const b = splitBatch(text);
    expect(b.messages).toEqual([m1, m2]);
    expect(b.warnings).toEqual([]);
    expect(buildBatch([`\uFEFFMSH$%*!@$A\r`], { now }).startsWith('BHS$%*!@$')).toBe(true);
  });

  it('uses the delimiters of the first message for the envelope', () => {
    const custom = 'MSH$%*!@$A$B\rPID$1$$X%Y\r';
    const text = buildBatch([custom], { now, file: true });
    expect(text.startsWith('FHS$%*!@$')).toBe(true);
    expect(text).toContain('\rBHS$%*!@$');
    expect(text.endsWith('BTS$1\rFTS$1\r')).toBe(true);
    const b = splitBatch(text);
    expect(b.messages).toEqual([custom]);
    expect(b.warnings).toEqual([]);
  });

  it('builds an empty batch', () => {
    const b = splitBatch(buildBatch([], { now }));
    expect(b.messages).toEqual([]);
    expect(b.batchTrailers).toEqual(['BTS|0']);
    expect(b.warnings).toEqual([]);
  });

  it('splits several batches in one file and checks each count', () => {
    const text = `FHS|^~\\&\rBHS|^~\\&\r${m1}${m2}BTS|2\rBHS|^~\\&\r${m3}BTS|1\rFTS|2\r`;
    const b = splitBatch(text);
    expect(b.messages).toEqual([m1, m2, m3]);
    expect(b.batchHeaders).toHaveLength(2);
    expect(b.batchTrailers).toEqual(['BTS|2', 'BTS|1']);
    expect(b.warnings).toEqual([]);
  });
});

describe('splitBatch on loose input', () => {
  it('splits bare concatenated messages, keeping each one exact', () => {
    const crlf = m2.replace(/\r/g, '\r\n');
    const b = splitBatch(m1 + crlf + m3.replace(/\r/g, '\n'));
    expect(b.messages).toEqual([m1, crlf, m3.replace(/\r/g, '\n')]);
    expect(b.messages.join('')).toBe(m1 + crlf + m3.replace(/\r/g, '\n'));
    expect(b.fileHeader).toBeUndefined();
    expect(b.batchHeaders).toEqual([]);
    expect(b.warnings).toEqual([]);
  });

  it('keeps blank lines inside a message and skips them outside', () => {
    const b = splitBatch(`\r\n\r\n${m1}\r\n${m2}\n  \n`);
    expect(b.messages).toEqual([`${m1}\r\n`, `${m2}\n  \n`]);
    expect(splitBatch('').messages).toEqual([]);
    expect(splitBatch('\r\n \r\n').messages).toEqual([]);
  });

  it('drops a leading BOM from the first message', () => {
    const b = splitBatch(`\uFEFF${m1}${m2}`);
    expect(b.messages).toEqual([m1, m2]);
  });

  it('splits BOM-prefixed files concatenated together', () => {
    const text = `\uFEFF${m1}\uFEFF${m2}\r\n\uFEFF${m3}`;
    const b = splitBatch(text);
    expect(b.messages).toEqual([m1, `\uFEFF${m2}\r\n`, `\uFEFF${m3}`]);
    expect(b.messages.map((m) => parseHl7(m).controlId)).toEqual(['M1', 'M2', 'M3']);
    expect(parseHl7(b.messages[1]!).toString()).toBe(b.messages[1]);
    expect(splitBatch(`\uFEFFFHS|^~\\&\r\uFEFFBHS|^~\\&\r${m1}BTS|1\r`).batchHeaders).toEqual(['BHS|^~\\&']);
    expect(() => splitBatch(`${m1}\uFEFF\r`)).not.toThrow();
    expect(() => parseHl7(splitBatch(`${m1}\uFEFFPID|2\r`).messages[0]!)).toThrow(Hl7ParseError);
  });

  it('warns when BTS-1 does not match the messages in the batch', () => {
    const b = splitBatch(`BHS|^~\\&\r${m1}${m2}BTS|3\r`);
    expect(b.messages).toEqual([m1, m2]);
    expect(b.warnings).toHaveLength(1);
    expect(b.warnings[0]).toMatch(/BTS-1 declares 3 messages but the batch holds 2/);
    expect(splitBatch(`BHS|^~\\&\r${m1}BTS|1\rBHS|^~\\&\r${m2}BTS|0\r`).warnings).toEqual(['BTS-1 declares 0 messages but the batch holds 1']);
    expect(splitBatch(`BHS|^~\\&\r${m1}BTS|\r`).warnings).toEqual([]);
    expect(splitBatch(`BHS|^~\\&\r${m1}BTS\r`).warnings).toEqual([]);
  });

  it('treats junk before the first MSH as an Hl7ParseError with its position', () => {
    let e = parseError(() => splitBatch(`garbage\r${m1}`));
    expect(e.position).toBe(0);
    expect(e.segment).toBe(1);
    e = parseError(() => splitBatch(`\r\nPID|1\r${m1}`));
    expect(e.position).toBe(2);
    e = parseError(() => splitBatch(`FHS|^~\\&\rBHS|^~\\&\rEVN|A01\r${m1}`));
    expect(e.position).toBe('FHS|^~\\&\rBHS|^~\\&\r'.length);
    expect(e.segment).toBe(3);
    expect(e.reason).toMatch(/outside any message/);
    e = parseError(() => splitBatch(`${m1}BTS|1\rjunk\r`));
    expect(e.position).toBe(m1.length + 'BTS|1\r'.length);
    expect(() => splitBatch(`\x0b${m1}\x1c\r`)).toThrow(Hl7ParseError);
  });

  it('leaves a bad segment inside a message for the parser to report', () => {
    const b = splitBatch(`${m1}bad line\r${m2}`);
    expect(b.messages).toEqual([`${m1}bad line\r`, m2]);
    const e = parseError(() => parseHl7(b.messages[0]!));
    expect(e.position).toBe(m1.length);
  });
});
