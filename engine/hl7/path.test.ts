import { describe, expect, it } from 'vitest';
import { pathError } from '../../test/helpers/hl7.js';
import { formatPath, parseHl7, parsePath } from './index.js';

const MSH = 'MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20240102030405||ORU^R01^ORU_R01|CTRL1|P|2.5.1';
const PID = 'PID|1||111^^^HOSP&1.2.3&ISO^MR~222^^^STATE&2.16.840&ISO^SS||DOE^JOHN';
const TEXT = [MSH, PID, 'OBR|1', 'OBX|1|NM|A^Alpha||11', 'NTE|1||note', 'OBX|2|NM|B^Beta||22', 'OBX|3|ST|C^Gamma||third'].join('\r') + '\r';

describe('parsePath', () => {
  const cases: [string, object][] = [
    ['PID', { segment: 'PID', occurrence: 1, field: undefined, repetition: undefined, component: undefined, subcomponent: undefined }],
    ['MSH-9.2', { segment: 'MSH', occurrence: 1, field: 9, repetition: undefined, component: 2, subcomponent: undefined }],
    ['PID-3[2].1', { segment: 'PID', occurrence: 1, field: 3, repetition: 2, component: 1, subcomponent: undefined }],
    ['PID-3[2].4.2', { segment: 'PID', occurrence: 1, field: 3, repetition: 2, component: 4, subcomponent: 2 }],
    ['OBX[3]-5', { segment: 'OBX', occurrence: 3, field: 5, repetition: undefined, component: undefined, subcomponent: undefined }],
    ['PID-3-1', { segment: 'PID', occurrence: 1, field: 3, repetition: undefined, component: 1, subcomponent: undefined }],
    ['PID-3-4-2', { segment: 'PID', occurrence: 1, field: 3, repetition: undefined, component: 4, subcomponent: 2 }],
    ['PID.5.1', { segment: 'PID', occurrence: 1, field: 5, repetition: undefined, component: 1, subcomponent: undefined }],
    ['ZX1[12]-3[4]', { segment: 'ZX1', occurrence: 12, field: 3, repetition: 4, component: undefined, subcomponent: undefined }],
    [' PID-3 ', { segment: 'PID', occurrence: 1, field: 3, repetition: undefined, component: undefined, subcomponent: undefined }],
  ];
  for (const [text, expected] of cases) {
    it(`parses ${JSON.stringify(text)}`, () => {
      expect(parsePath(text)).toEqual(expected);
      expect(parsePath(formatPath(parsePath(text)))).toEqual(expected);
    });
  }

  it('formats the canonical form', () => {
    expect(formatPath(parsePath('PID-3-4-2'))).toBe('PID-3.4.2');
    expect(formatPath(parsePath('OBX[1]-5'))).toBe('OBX-5');
    expect(formatPath(parsePath('OBX[2]-5[3].1.2'))).toBe('OBX[2]-5[3].1.2');
  });

  it('throws Hl7PathError for paths outside the grammar', () => {
    const bad = ['', 'pid-3', 'PI-3', 'PIDX-3', '1ID-3', 'PID-', 'PID-x', 'PID-3.', 'PID-3[2', 'PID-3[]', 'PID-3.1.2.3',
      'PID-3[2][3]', 'PID-3.1[2]', 'PID[0]-3', 'PID-0', 'PID-00', 'PID-3[0]', 'PID-3.0', 'PID-3.1.0', 'PID_3', 'PID-3 .1',
      'PID-100000', 'PID-3[100000]', 'OBX[100000]-5', 'PID-3.100000', 'PID-99999999999999999999', 'PID--3', 'PID-3^1'];
    for (const p of bad) {
      const e = pathError(() => parsePath(p));
      expect(e.path).toBe(p);
      expect(e.message).toContain('invalid HL7 path');
    }
    expect(parsePath('PID-99999').field).toBe(99999);
  });
});

describe('get', () => {
  const m = parseHl7(TEXT);

  it('reads header fields, MSH-1 being the field separator and MSH-2 the encoding characters', () => {
    expect(m.get('MSH-1')).toBe('|');
    expect(m.get('MSH-2')).toBe('^~\\&');
    expect(m.get('MSH-3')).toBe('SENDAPP');
    expect(m.get('MSH-9.2')).toBe('R01');
    expect(m.get('MSH-9-3')).toBe('ORU_R01');
    expect(m.get('MSH-10')).toBe('CTRL1');
    expect(m.get('MSH-12.1')).toBe('2.5.1');
  });

  it('reads repetitions, components and subcomponents', () => {
    expect(m.get('PID-3[2].1')).toBe('222');
    expect(m.get('PID-3[2].4.2')).toBe('2.16.840');
    expect(m.get('PID-3.4.2')).toBe('1.2.3');
    expect(m.get('PID-3[1].5')).toBe('MR');
    expect(m.get('PID-3-1')).toBe('111');
    expect(m.get('PID-5.2')).toBe('JOHN');
    expect(m.get('PID-5[1].2')).toBe('JOHN');
    expect(m.get('PID-5[2].2')).toBe('');
    expect(m.get('PID-5.2.1')).toBe('JOHN');
    expect(m.get('PID-5.3')).toBe('');
  });

  it('addresses segment occurrences', () => {
    expect(m.get('OBX-5')).toBe('11');
    expect(m.get('OBX[2]-5')).toBe('22');
    expect(m.get('OBX[3]-5')).toBe('third');
    expect(m.get('OBX[3]-3.2')).toBe('Gamma');
    expect(m.get('OBX[4]-5')).toBe('');
    expect(m.get('OBX[2]')).toBe('OBX|2|NM|B^Beta||22');
  });

  it('returns empty text for anything absent', () => {
    for (const p of ['ZZZ-1', 'PID-99', 'PID-3[9]', 'PID-3[2].9', 'PID-3.4.9', 'EVN-1.1.1']) expect(m.get(p)).toBe('');
  });

  it('accepts a parsed path object and throws Hl7PathError on bad strings', () => {
    expect(m.get(parsePath('PID-3[2].4.2'))).toBe('2.16.840');
    pathError(() => m.get('PID-x'));
    pathError(() => m.getRaw('pid'));
    pathError(() => m.value('PID-0'));
    pathError(() => m.repetitions('PID'));
  });
});

describe('set', () => {
  it('changes only the touched field; every other byte stays as received', () => {
    const text = TEXT.replace(/\r/g, '\r\n');
    const m = parseHl7(text);
    m.set('PID-5.2', 'JANE');
    const out = m.toString();
    expect(out).toBe(text.replace('DOE^JOHN', 'DOE^JANE'));
    const before = text.split('\r\n');
    const after = out.split('\r\n');
    expect(after.length).toBe(before.length);
    for (let i = 0; i < before.length; i++) if (!before[i]!.startsWith('PID')) expect(after[i]).toBe(before[i]);
    const pidBefore = before[1]!.split('|');
    const pidAfter = after[1]!.split('|');
    pidBefore.forEach((f, i) => { if (i !== 5) expect(pidAfter[i]).toBe(f); });
  });

  it('grows fields, repetitions, components and subcomponents', () => {
    const m = parseHl7(`${MSH}\rPID|1\r`);
    m.set('PID-8', 'F');
    expect(m.get('PID')).toBe('PID|1|||||||F');
    m.set('PID-3[3].4.2', '2.16');
    expect(m.getRaw('PID-3')).toBe('~~^^^&2.16');
    m.set('PID-3[1].1', 'A1');
    m.set('PID-3[2]', 'B');
    expect(m.getRaw('PID-3')).toBe('A1~B~^^^&2.16');
    m.set('PID-5.3', 'Q');
    expect(m.getRaw('PID-5')).toBe('^^Q');
    m.set('PID-5.1.2', 'sub');
    expect(m.getRaw('PID-5')).toBe('&sub^^Q');
    const back = parseHl7(m.toString());
    expect([back.get('PID-3[3].4.2'), back.get('PID-3[2]'), back.get('PID-5.1.2'), back.get('PID-8')]).toEqual(['2.16', 'B', 'sub', 'F']);
  });

  it('replaces a whole field, or one repetition, when the path stops there', () => {
    const m = parseHl7(TEXT);
    m.set('PID-3[2]', 'X');
    expect(m.getRaw('PID-3')).toBe('111^^^HOSP&1.2.3&ISO^MR~X');
    m.set('PID-3', 'only');
    expect(m.getRaw('PID-3')).toBe('only');
    m.set('MSH-9.2', 'R03');
    expect(m.get('MSH-9')).toBe('ORU^R03^ORU_R01');
  });

  it('appends missing segments, up to the addressed occurrence', () => {
    const m = parseHl7(TEXT);
    m.set('OBX[5]-5', 'fifth');
    m.set('ZPI-2', 'z');
    const names = m.segments.map((s) => s.name);
    expect(names.slice(-4)).toEqual(['OBX', 'OBX', 'OBX', 'ZPI']);
    expect(m.all('OBX')).toHaveLength(5);
    expect(m.get('OBX[4]')).toBe('OBX');
    expect(m.toString()).toBe(`${TEXT}OBX\rOBX|||||fifth\rZPI||z\r`);
  });

  it('uses the message terminator style for appended segments', () => {
    const lf = parseHl7(`${MSH}\nPID|1\n`);
    lf.set('NTE-3', 'n');
    expect(lf.toString()).toBe(`${MSH}\nPID|1\nNTE|||n\n`);
    const crlf = parseHl7(`${MSH}\r\nPID|1\r\n`);
    crlf.set('NTE-1', '1');
    expect(crlf.toString()).toBe(`${MSH}\r\nPID|1\r\nNTE|1\r\n`);
    const trailing = parseHl7(`${MSH}\r\nPID|1\r\n\t \r\n  `);
    trailing.set('NTE-1', '1');
    expect(trailing.toString()).toBe(`${MSH}\r\nPID|1\r\n\t \r\n  \r\nNTE|1\r\n`);
    expect(parseHl7(trailing.toString()).get('NTE-1')).toBe('1');
    const open = parseHl7(`${MSH}\rPID|1`);
    open.set('NTE-1', '1');
    expect(parseHl7(open.toString()).segments.map((s) => s.name)).toEqual(['MSH', 'PID', 'NTE']);
  });

  it('gives an appended header segment the encoding characters', () => {
    const m = parseHl7(TEXT);
    m.set('MSH[2]-3', 'SECOND');
    expect(m.get('MSH[2]')).toBe('MSH|^~\\&|SECOND');
    expect(parseHl7(m.toString()).get('MSH[2]-3')).toBe('SECOND');
  });

  it('refuses writes that would change the delimiters or have no field', () => {
    const m = parseHl7(TEXT);
    pathError(() => m.set('MSH-1', '#'));
    pathError(() => m.set('MSH-2', '^~\\&#'));
    pathError(() => m.set('MSH[2]-1', '#'));
    pathError(() => m.setRaw('PID', 'x'));
    pathError(() => m.set('pid-1', 'x'));
    pathError(() => m.appendSegment('pid'));
    expect(m.toString()).toBe(TEXT);
  });

  it('refuses writes to a level the message has no separator for', () => {
    const m = parseHl7(`MSH|^|A\rPID|1\r`);
    pathError(() => m.set('PID-3[2]', 'x'));
    pathError(() => m.set('PID-3.1.2', 'x'));
    m.set('PID-3[1].2.1', 'ok');
    expect(m.get('PID')).toBe('PID|1||^ok');
  });

  it('grows to a far occurrence in linear time', () => {
    const m = parseHl7(TEXT);
    const t0 = performance.now();
    m.set('OBX[20000]-1', 'last');
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(m.all('OBX')).toHaveLength(20000);
    expect(m.get('OBX[20000]-1')).toBe('last');
  });

  it('setRaw writes encoded text as structure', () => {
    const m = parseHl7(TEXT);
    m.setRaw('PID-5', 'SMITH^ANN~ALIAS^A');
    expect(m.get('PID-5[2].1')).toBe('ALIAS');
    m.set('PID-5[2].1', 'A^B');
    expect(m.getRaw('PID-5[2].1')).toBe('A\\S\\B');
  });
});
