import { describe, expect, it } from 'vitest';
import { Hl7Message, parseHl7, readDelimiters } from './index.js';
import { parseError } from '../../test/helpers/hl7.js';

const MSH = 'MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20240102030405||ADT^A01^ADT_A01|CTRL123|P|2.5.1';
const PID = 'PID|1||111^^^HOSP^MR~222^^^STATE&2.16.840&ISO^SS||DOE^JOHN^Q||19700101|M';


describe('delimiters', () => {
  it('reads the standard delimiters from MSH-1 and MSH-2', () => {
    const m = parseHl7(`${MSH}\r${PID}\r`);
    expect(m.delimiters).toEqual({ field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&', truncation: '' });
    expect(m.get('MSH-1')).toBe('|');
    expect(m.get('MSH-2')).toBe('^~\\&');
  });

  it('reads custom delimiters (field $, encoding %*!@) and navigates with them', () => {
    const text = 'MSH$%*!@$APP$FAC$$$20240101$$ORU%R01%ORU_R01$42$P$2.5\rPID$1$$A%B%C*D%E@F%G$$X!F!Y!S!Z\r';
    const m = parseHl7(text);
    expect(m.delimiters).toEqual({ field: '$', component: '%', repetition: '*', escape: '!', subcomponent: '@', truncation: '' });
    expect(m.get('MSH-1')).toBe('$');
    expect(m.get('MSH-2')).toBe('%*!@');
    expect(m.get('MSH-9.2')).toBe('R01');
    expect(m.messageType).toBe('ORU^R01');
    expect(m.controlId).toBe('42');
    expect(m.get('PID-3[1].2')).toBe('B');
    expect(m.get('PID-3[2].2.2')).toBe('F');
    expect(m.repetitions('PID-3')).toBe(2);
    // !F! and !S! are this message's field and component separators.
    expect(m.get('PID-5')).toBe('X$Y%Z');
    // '|', '^', '\' and '&' are plain data here.
    m.set('PID-6', 'a|b^c\\d&e$f%g@h!i');
    expect(m.getRaw('PID-6')).toBe('a|b^c\\d&e!F!f!S!g!T!h!E!i');
    expect(parseHl7(m.toString()).get('PID-6')).toBe('a|b^c\\d&e$f%g@h!i');
    expect(parseHl7(text).toString()).toBe(text);
  });

  it('reads the v2.7 truncation character as the fifth encoding character', () => {
    const m = parseHl7('MSH|^~\\&#|A|B|||20240101||ADT^A01|1|P|2.7\rPID|1|a\\P\\b|LONGVAL#\r');
    expect(m.delimiters.truncation).toBe('#');
    expect(m.get('MSH-2')).toBe('^~\\&#');
    expect(m.get('PID-2')).toBe('a#b');
    expect(m.get('PID-3')).toBe('LONGVAL#');
    m.set('PID-4', 'x#y');
    expect(m.getRaw('PID-4')).toBe('x\\P\\y');
  });

  it('accepts fewer than four encoding characters', () => {
    const m = parseHl7('MSH|^~|A\rPID|1|x\\F\\y|a^b~c\r');
    expect(m.delimiters).toMatchObject({ component: '^', repetition: '~', escape: '', subcomponent: '' });
    expect(m.get('PID-2')).toBe('x\\F\\y'); // no escape character declared: backslash is data
    expect(m.get('PID-3[2]')).toBe('c');
  });

  it('reads a doubled escape character (MSH|^~\\\\&) once and keeps MSH-2 verbatim', () => {
    const text = 'MSH|^~\\\\&|A|B\rPID|1||X&Y^Z\\F\\\r';
    const m = parseHl7(text);
    expect(m.delimiters).toMatchObject({ component: '^', repetition: '~', escape: '\\', subcomponent: '&', truncation: '' });
    expect(m.get('MSH-2')).toBe('^~\\\\&');
    expect(m.get('PID-3.1.2')).toBe('Y');
    expect(m.get('PID-3.2')).toBe('Z|');
    expect(m.toString()).toBe(text);
  });

  it('rejects bad MSH-1 / MSH-2 with the offset of the bad character', () => {
    expect(parseError(() => parseHl7('MSHA^~\\&|')).position).toBe(3);
    expect(parseError(() => parseHl7('\r\nMSH ^~\\&')).position).toBe(5);
    expect(parseError(() => parseHl7('MSH||A')).position).toBe(4);
    const repeated = parseError(() => parseHl7('MSH|^~^&|A'));
    expect(repeated.position).toBe(6);
    expect(repeated.reason).toMatch(/repeated/);
    expect(parseError(() => parseHl7('MSH|^~\\&#*|A')).reason).toMatch(/1 to 5/);
    expect(parseError(() => parseHl7('MSH|^1\\&|A')).position).toBe(5);
    expect(() => readDelimiters('BHS|^~\\&|')).not.toThrow();
  });
});

describe('segments and terminators', () => {
  const segs = [MSH, 'EVN|A01|20240101', PID, 'PV1|1|I', 'ZPD|custom^value|x'];

  for (const [name, sep] of [['CR', '\r'], ['LF', '\n'], ['CRLF', '\r\n']] as const) {
    it(`splits ${name}-terminated segments and round-trips`, () => {
      const text = segs.join(sep) + sep;
      const m = parseHl7(text);
      expect(m.segments.map((s) => s.name)).toEqual(['MSH', 'EVN', 'PID', 'PV1', 'ZPD']);
      expect(m.segments.map((s) => s.terminator)).toEqual(Array(5).fill(sep));
      expect(m.get('PV1-2')).toBe('I');
      expect(m.toString()).toBe(text);
    });
  }

  it('handles CR, LF and CRLF mixed in one message, blank lines included', () => {
    const text = `${segs[0]}\r${segs[1]}\n${segs[2]}\r\n\r\n${segs[3]}\n \n${segs[4]}`;
    const m = parseHl7(text);
    expect(m.segments.map((s) => s.name)).toEqual(['MSH', 'EVN', 'PID', 'PV1', 'ZPD']);
    expect(m.get('PID-5.2')).toBe('JOHN');
    expect(m.get('ZPD-1.2')).toBe('value');
    expect(m.segments[4]!.terminator).toBe('');
    expect(m.toString()).toBe(text);
  });

  it('keeps a leading BOM and leading blank lines out of the first segment but in the output', () => {
    const text = `\uFEFF\r\n${MSH}\n${PID}\n`;
    const m = parseHl7(text);
    expect(m.segments[0]!.name).toBe('MSH');
    expect(m.get('MSH-3')).toBe('SENDAPP');
    expect(m.toString()).toBe(text);
  });

  it('keeps trailing delimiters and trailing whitespace', () => {
    const text = `${MSH}|||\rPID|1||X^^^||DOE^^~^|||\rNTE|1||text  \r  \r`;
    const m = parseHl7(text);
    expect(m.segment('PID')!.fieldCount).toBe(8);
    expect(m.get('PID-8')).toBe('');
    expect(m.get('PID-3')).toBe('X^^^');
    expect(m.get('PID-3.4')).toBe('');
    expect(m.repetitions('PID-5')).toBe(2);
    expect(m.get('NTE-3')).toBe('text  ');
    expect(m.segment('MSH')!.fieldCount).toBe(15);
    expect(m.toString()).toBe(text);
  });

  it('accepts Z-segments, digits in names, and a segment without fields', () => {
    const m = parseHl7(`${MSH}\rZPI|1|a^b\rZ01|x\rPD1\rPID|1\r`);
    expect(m.segments.map((s) => s.name)).toEqual(['MSH', 'ZPI', 'Z01', 'PD1', 'PID']);
    expect(m.get('ZPI-2.2')).toBe('b');
    expect(m.get('Z01-1')).toBe('x');
    expect(m.get('PD1-1')).toBe('');
    expect(m.get('PD1')).toBe('PD1');
  });

  it('indexes repeated segments by occurrence', () => {
    const m = parseHl7(`${MSH}\rOBX|1|NM|A||1\rNTE|1\rOBX|2|NM|B||2\rOBX|3|ST|C||three\r`);
    expect(m.all('OBX').map((s) => s.field(1))).toEqual(['1', '2', '3']);
    expect(m.segment('OBX', 3)!.field(5)).toBe('three');
    expect(m.segment('OBX', 4)).toBeUndefined();
    expect(m.all('ZZZ')).toEqual([]);
  });

  it('rejects a non-segment line with its offset and segment number', () => {
    const text = `${MSH}\rPID|1\rpid|2\r`;
    const e = parseError(() => parseHl7(text));
    expect(e.position).toBe(text.indexOf('pid'));
    expect(e.segment).toBe(3);
    const indented = `${MSH}\n  PID|1\n`;
    expect(parseError(() => parseHl7(indented)).position).toBe(MSH.length + 1);
    const framed = `${MSH}\rPID|1\r\x1c\r`;
    expect(parseError(() => parseHl7(framed)).position).toBe(framed.indexOf('\x1c'));
    const noSep = `${MSH}\rPIDX|1\r`;
    expect(parseError(() => parseHl7(noSep)).position).toBe(MSH.length + 1);
  });

  it('rejects input that does not start with MSH', () => {
    const empty = parseError(() => parseHl7(''));
    expect(empty.reason).toBe('empty message');
    expect(empty.position).toBe(0);
    expect(parseError(() => parseHl7('\r\n \r')).position).toBe(4);
    expect(parseError(() => parseHl7('PID|1\r')).position).toBe(0);
    expect(parseError(() => parseHl7('\uFEFFEVN|1')).position).toBe(1);
    expect(parseError(() => parseHl7('\x0bMSH|^~\\&|A\r\x1c\r')).position).toBe(0);
    expect(parseError(() => parseHl7('MSH')).reason).toMatch(/too short/);
    expect(parseError(() => parseHl7(null as unknown as string)).position).toBe(0);
    expect(parseError(() => parseHl7(42 as unknown as string)).reason).toMatch(/string or bytes/);
  });
});

describe('values', () => {
  const text = `${MSH}\r${PID}\rPV1|1|""||""^^""|\r`;
  const m = parseHl7(text);

  it('distinguishes the explicit null "" from an empty or absent value', () => {
    expect(m.get('PV1-2')).toBe('""');
    expect(m.value('PV1-2')).toBeNull();
    expect(m.value('PV1-3')).toBeUndefined();
    expect(m.value('PV1-4.1')).toBeNull();
    expect(m.value('PV1-4.2')).toBeUndefined();
    expect(m.value('PV1-40')).toBeUndefined();
    expect(m.value('ZZZ-1')).toBeUndefined();
    expect(m.value('PID-8')).toBe('M');
  });

  it('returns encoded text for a value with deeper structure, decoded text for a leaf', () => {
    expect(m.get('MSH-9')).toBe('ADT^A01^ADT_A01');
    expect(m.get('PID-3')).toBe('111^^^HOSP^MR~222^^^STATE&2.16.840&ISO^SS');
    expect(m.get('PID-3[2]')).toBe('222^^^STATE&2.16.840&ISO^SS');
    expect(m.get('PID-3[2].4')).toBe('STATE&2.16.840&ISO');
    expect(m.get('PID-3[2].4.3')).toBe('ISO');
    expect(m.get('PID-3.1')).toBe('111');
    expect(m.get('PID-3[3].1')).toBe('');
    expect(m.get('PID-5.1.1')).toBe('DOE');
    expect(m.get('PID-5.1.2')).toBe('');
    expect(m.get('PID')).toBe(PID);
    expect(m.repetitions('PID-3')).toBe(2);
    expect(m.repetitions('PID-2')).toBe(0);
    expect(m.repetitions('MSH-1')).toBe(1);
  });

  it('exposes header conveniences', () => {
    expect([m.messageCode, m.triggerEvent, m.messageStructure, m.messageType, m.controlId, m.version])
      .toEqual(['ADT', 'A01', 'ADT_A01', 'ADT^A01', 'CTRL123', '2.5.1']);
    expect(parseHl7('MSH|^~\\&|||||||ACK|1|P|2.3').messageType).toBe('ACK');
  });
});

describe('bytes and charsets', () => {
  const latinLine = 'PID|1||||M\xfcller^J\xfcrgen||||||Stra\xdfe 1';

  it('round-trips latin1 declared in MSH-18 (8859/1) byte for byte', () => {
    const bytes = Buffer.from(`MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5|||||DE|8859/1\r${latinLine}\r`, 'latin1');
    const m = Hl7Message.parse(bytes);
    expect(m.encoding).toBe('latin1');
    expect(m.get('PID-5.1')).toBe('Müller');
    expect(m.toBytes().equals(bytes)).toBe(true);
    m.set('PID-5.2', 'Jörg');
    const out = m.toBytes();
    expect(out.includes(Buffer.from('J\xf6rg', 'latin1'))).toBe(true);
    expect(Hl7Message.parse(out).get('PID-5.2')).toBe('Jörg');
  });

  it('writes characters latin1 cannot hold as UTF-8 hex escapes, so toBytes() loses nothing', () => {
    const bytes = Buffer.from(`MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5|||||DE|8859/1\r${latinLine}\r`, 'latin1');
    const m = Hl7Message.parse(bytes);
    m.set('PID-5.1', 'Müller 山田 😀 €');
    expect(m.getRaw('PID-5.1')).toBe('Müller \\XE5B1B1\\\\XE794B0\\ \\XF09F9880\\ \\XE282AC\\');
    const back = Hl7Message.parse(m.toBytes());
    expect(back.encoding).toBe('latin1');
    expect(back.get('PID-5.1')).toBe('Müller 山田 😀 €');
    // A UTF-8 message keeps them as they are.
    const utf8 = parseHl7(`MSH|^~\\&|A\rPID|1\r`);
    utf8.set('PID-5', '山田');
    expect(Hl7Message.parse(utf8.toBytes()).get('PID-5')).toBe('山田');
    expect(utf8.getRaw('PID-5')).toBe('山田');
  });

  it('reads bytes that are not valid UTF-8 as latin1, without a declaration', () => {
    const bytes = Buffer.from(`MSH|^~\\&|A\r${latinLine}\r`, 'latin1');
    const m = Hl7Message.parse(bytes);
    expect(m.encoding).toBe('latin1');
    expect(m.get('PID-11')).toBe('Straße 1');
    expect(m.toBytes().equals(bytes)).toBe(true);
  });

  it('reads latin1 bytes declared as ISO IR100 as latin1, even when they happen to be valid UTF-8', () => {
    const bytes = Buffer.from('MSH|^~\\&|A||||||ADT^A01|1|P|2.5||||||ISO IR100\rPID|1||\xc3\xa9\r', 'latin1');
    const m = Hl7Message.parse(bytes);
    expect(m.encoding).toBe('latin1');
    expect(m.get('PID-3')).toBe('Ã©');
    expect(m.toBytes().equals(bytes)).toBe(true);
  });

  it('round-trips UTF-8 (with BOM, astral characters and combining marks) byte for byte', () => {
    const text = '\uFEFFMSH|^~\\&|A||||||ADT^A01|1|P|2.5||||||UNICODE UTF-8\rPID|1||||山田^太郎||||||e\u0301 😀\r';
    const bytes = Buffer.from(text, 'utf8');
    const m = Hl7Message.parse(new Uint8Array(bytes));
    expect(m.encoding).toBe('utf8');
    expect(m.get('PID-5.1')).toBe('山田');
    expect(m.get('PID-11')).toBe('e\u0301 😀');
    expect(m.toString()).toBe(text);
    expect(m.toBytes().equals(bytes)).toBe(true);
  });

  it('keeps a UTF-8 BOM in front of latin1 bytes', () => {
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(`MSH|^~\\&|A\r${latinLine}\r`, 'latin1')]);
    const m = Hl7Message.parse(bytes);
    expect(m.encoding).toBe('latin1');
    expect(m.get('MSH-3')).toBe('A');
    expect(m.get('PID-5.1')).toBe('Müller');
    expect(m.toBytes().equals(bytes)).toBe(true);
  });

  it('reports parse errors from bytes like from text', () => {
    expect(parseError(() => Hl7Message.parse(Buffer.from('\r\nXYZ|1'))).position).toBe(2);
    expect(parseError(() => Hl7Message.parse(new Uint8Array(0))).reason).toBe('empty message');
  });
});

describe('text input and its declared character set', () => {
  it('a text message declaring 8859/1 serializes to latin1 bytes', () => {
    const text = 'MSH|^~\\&|A|B|C|D|20240101||ADT^A08|1|P|2.5||||||8859/1\rPID|1||1||MÜLLER^JOSÉ\r';
    const msg = Hl7Message.parse(text);
    expect(msg.encoding).toBe('latin1');
    expect(msg.toBytes().equals(Buffer.from(text, 'latin1'))).toBe(true);
  });

  it('a text message without MSH-18 (or with characters beyond latin1) stays UTF-8', () => {
    expect(Hl7Message.parse('MSH|^~\\&|A\rPID|1||1||MÜLLER\r').encoding).toBe('utf8');
    expect(Hl7Message.parse('MSH|^~\\&|A|B|C|D|1||ADT^A08|1|P|2.5||||||8859/1\rPID|1||1||李\r').encoding).toBe('utf8');
  });
});
