import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { HL7_ERROR, ackMode, buildAck, buildNak, formatHl7Timestamp, newControlId, parseHl7, type Hl7Message } from './index.js';

const now = new Date(Date.UTC(2024, 4, 6, 7, 8, 9, 10));
const STAMP = '20240506070809.010+0000';

function message(version = '2.5.1', extra = ''): Hl7Message {
  return parseHl7(`MSH|^~\\&|SENDAPP|SENDFAC|RECVAPP|RECVFAC|20240101120000||ADT^A01^ADT_A01|CTRL-42|P|${version}${extra}\rPID|1||123\r`);
}

describe('buildAck, original mode', () => {
  it('AA: swaps MSH-3..6, echoes the control id, trigger and version', () => {
    const ack = buildAck(message(), { code: 'AA', now });
    const a = parseHl7(ack);
    expect(a.segments.map((s) => s.name)).toEqual(['MSH', 'MSA']);
    expect([a.get('MSH-3'), a.get('MSH-4'), a.get('MSH-5'), a.get('MSH-6')]).toEqual(['RECVAPP', 'RECVFAC', 'SENDAPP', 'SENDFAC']);
    expect(a.get('MSH-7')).toBe(STAMP);
    expect(a.get('MSH-9')).toBe('ACK^A01^ACK');
    expect(a.get('MSH-10')).toMatch(/^[0-9A-Z]{1,20}$/);
    expect(a.get('MSH-10')).not.toBe('CTRL-42');
    expect(a.get('MSH-11')).toBe('P');
    expect(a.get('MSH-12')).toBe('2.5.1');
    expect(a.get('MSA-1')).toBe('AA');
    expect(a.get('MSA-2')).toBe('CTRL-42');
    expect(a.get('MSA-3')).toBe('');
    expect(ack.endsWith('\r')).toBe(true);
    expect(ack).not.toContain('\n');
  });

  it('AE: MSA-3 text and a v2.5+ ERR (location, code, severity, user message)', () => {
    const a = parseHl7(buildAck(message(), { code: 'AE', now, error: { code: HL7_ERROR.requiredFieldMissing, location: 'PID^1^3', text: 'PID-3 is required' } }));
    expect(a.segments.map((s) => s.name)).toEqual(['MSH', 'MSA', 'ERR']);
    expect(a.get('MSA-1')).toBe('AE');
    expect(a.get('MSA-2')).toBe('CTRL-42');
    expect(a.get('MSA-3')).toBe('PID-3 is required');
    expect(a.get('ERR-1')).toBe('');
    expect(a.get('ERR-2')).toBe('PID^1^3');
    expect(a.get('ERR-3.1')).toBe('101');
    expect(a.get('ERR-3.2')).toBe('Required field missing');
    expect(a.get('ERR-3.3')).toBe('HL70357');
    expect(a.get('ERR-4')).toBe('E');
    expect(a.get('ERR-8')).toBe('PID-3 is required');
  });

  it('AR: text alone gives ERR code 207 and the text; a severity is kept', () => {
    let a = parseHl7(buildAck(message(), { code: 'AR', now, text: 'unsupported' }));
    expect(a.get('MSA-1')).toBe('AR');
    expect(a.get('MSA-3')).toBe('unsupported');
    expect(a.get('ERR-3.1')).toBe('207');
    expect(a.get('ERR-3.2')).toBe('Application internal error');
    expect(a.get('ERR-8')).toBe('unsupported');
    a = parseHl7(buildAck(message(), { code: 'AR', error: { code: HL7_ERROR.unsupportedEventCode, text: 'no A01', severity: 'W' } }));
    expect([a.get('ERR-3.1'), a.get('ERR-4'), a.get('MSA-3')]).toEqual(['201', 'W', 'no A01']);
    a = parseHl7(buildAck(message(), { code: 'AE' }));
    expect(a.segments.map((s) => s.name)).toEqual(['MSH', 'MSA']);
  });

  it('v2.3 and v2.4 use the ERR-1 (ELD) layout', () => {
    for (const version of ['2.3', '2.3.1', '2.4', '2.2']) {
      const a = parseHl7(buildAck(message(version), { code: 'AE', now, error: { code: '101', location: 'PID^1^3', text: 'missing & bad' } }));
      expect(a.get('MSH-12')).toBe(version);
      const err = a.segment('ERR')!;
      expect(err.fieldCount).toBe(1);
      expect([a.get('ERR-1.1'), a.get('ERR-1.2'), a.get('ERR-1.3')]).toEqual(['PID', '1', '3']);
      expect([a.get('ERR-1.4.1'), a.get('ERR-1.4.2'), a.get('ERR-1.4.3'), a.get('ERR-1.4.5')]).toEqual(['101', 'Required field missing', 'HL70357', 'missing & bad']);
      expect(a.get('MSA-3')).toBe('missing & bad');
    }
    const v25 = parseHl7(buildAck(message('2.5'), { code: 'AE', error: { code: '101', location: 'PID^1^3', text: 't' } }));
    expect([v25.get('ERR-1'), v25.get('ERR-2.1'), v25.get('ERR-3.1')]).toEqual(['', 'PID', '101']);
  });

  it('escapes delimiters in texts and truncates MSA-3 to 80 characters', () => {
    const text = 'bad | field ^ with & and ~ and \\ ' + 'x'.repeat(100);
    const a = parseHl7(buildAck(message(), { code: 'AE', text }));
    expect(a.get('MSA-3')).toHaveLength(80);
    expect(a.get('MSA-3').startsWith('bad | field ^ with & and ~ and \\ x')).toBe(true);
    expect(a.get('ERR-8')).toBe(text);
  });
});

describe('buildAck, enhanced mode and variants', () => {
  it('CA / CE / CR for an enhanced-mode message', () => {
    const msg = message('2.5.1', '|||AL|NE');
    expect(ackMode(msg)).toBe('enhanced');
    expect(ackMode(message())).toBe('original');
    for (const code of ['CA', 'CE', 'CR'] as const) {
      const a = parseHl7(buildAck(msg, { code, text: code === 'CA' ? undefined : 'rejected' }));
      expect(a.get('MSA-1')).toBe(code);
      expect(a.get('MSA-2')).toBe('CTRL-42');
      expect(a.get('MSH-9')).toBe('ACK^A01^ACK');
      expect(a.segment('ERR') !== undefined).toBe(code !== 'CA');
      if (code !== 'CA') expect(a.get('ERR-8')).toBe('rejected');
    }
  });

  it('uses the message delimiters, including custom ones', () => {
    const msg = parseHl7('MSH$%*!@$SA$SF$RA$RF$20240101$$ORU%R01%ORU_R01$C1$T$2.6\rPID$1\r');
    const ack = buildAck(msg, { code: 'AE', error: { code: '102', location: 'PID^1^7', text: 'a$b%c' } });
    expect(ack.startsWith('MSH$%*!@$RA$RF$SA$SF$')).toBe(true);
    const a = parseHl7(ack);
    expect(a.get('MSH-9')).toBe('ACK%R01%ACK');
    expect([a.get('MSH-11'), a.get('MSH-12'), a.get('MSA-2')]).toEqual(['T', '2.6', 'C1']);
    expect(a.get('ERR-2.3')).toBe('7');
    expect(a.get('ERR-8')).toBe('a$b%c');
  });

  it('falls back to options, or to 2.5.1, for missing header fields and keeps raw values', () => {
    const msg = parseHl7('MSH|^~\\&|APP^1.2&x|FAC|||||ORM^O01|ID\\F\\1|D\r');
    const ack = buildAck(msg, { code: 'AA', application: 'SLUICE', facility: 'HOSP', controlId: 'FIXED1' });
    const a = parseHl7(ack);
    expect([a.get('MSH-3'), a.get('MSH-4'), a.get('MSH-5'), a.get('MSH-6')]).toEqual(['SLUICE', 'HOSP', 'APP^1.2&x', 'FAC']);
    expect(a.get('MSH-10')).toBe('FIXED1');
    expect(a.get('MSH-12')).toBe('2.5.1');
    expect(a.getRaw('MSA-2')).toBe('ID\\F\\1');
    expect(a.get('MSA-2')).toBe('ID|1');
    expect(parseHl7(buildAck(message('2.5.1^USA'), { code: 'AA' })).get('MSH-12')).toBe('2.5.1^USA');
  });

  it('formats timestamps in UTC to the millisecond', () => {
    expect(formatHl7Timestamp(now)).toBe(STAMP);
    expect(formatHl7Timestamp(new Date(Date.UTC(1999, 11, 31, 23, 59, 59, 999)))).toBe('19991231235959.999+0000');
  });
});

describe('control ids', () => {
  it('gives every ACK a unique MSH-10 over 100k ACKs', () => {
    const msg = message();
    const ids = new Set<string>();
    let longest = 0;
    for (let i = 0; i < 100_000; i++) {
      const ack = buildAck(msg, { code: 'AA' });
      const id = ack.slice(0, ack.indexOf('\r')).split('|')[9]!;
      if (id.length > longest) longest = id.length;
      ids.add(id);
    }
    expect(ids.size).toBe(100_000);
    expect(longest).toBeLessThanOrEqual(20);
    expect(ids.has('')).toBe(false);
  });

  it('stays unique with a fixed or backwards clock', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 60_000; i++) ids.add(newControlId(1_700_000_000_000));
    for (let i = 0; i < 1000; i++) ids.add(newControlId(1_600_000_000_000 + i));
    expect(ids.size).toBe(61_000);
    expect([...ids].every((id) => /^[0-9A-Z]{17,20}$/.test(id))).toBe(true);
  });

  it('stays unique across two node processes run one after the other', () => {
    const index = fileURLToPath(new URL('./index.ts', import.meta.url));
    const script = `import { buildAck, parseHl7 } from ${JSON.stringify(index)};
      const m = parseHl7('MSH|^~\\\\&|A|B|C|D|||ADT^A01|1|P|2.5\\r');
      const out = [];
      for (let i = 0; i < 20000; i++) out.push(buildAck(m, { code: 'AA' }).split('|')[9]);
      process.stdout.write(out.join('\\n'));`;
    const run = (): string[] => execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 }).split('\n');
    const first = run();
    const second = run();
    expect(first).toHaveLength(20_000);
    expect(second).toHaveLength(20_000);
    expect(new Set([...first, ...second]).size).toBe(40_000);
  }, 60_000);
});

describe('buildNak', () => {
  it('builds a parsable AR with default delimiters for unparsable input', () => {
    const nak = buildNak({ text: 'message must start with an MSH segment', now, application: 'SLUICE' });
    const a = parseHl7(nak);
    expect(a.delimiters.field).toBe('|');
    expect(a.get('MSH-3')).toBe('SLUICE');
    expect(a.get('MSH-7')).toBe(STAMP);
    expect(a.get('MSH-9')).toBe('ACK');
    expect(a.get('MSH-10')).toMatch(/^[0-9A-Z]{17,20}$/);
    expect(a.get('MSH-12')).toBe('2.5.1');
    expect(a.get('MSA-1')).toBe('AR');
    expect(a.get('MSA-2')).toBe('');
    expect(a.get('MSA-3')).toBe('message must start with an MSH segment');
    expect(a.get('ERR-3.1')).toBe('207');
  });

  it('echoes a salvaged control id (escaped), a code and a version', () => {
    const a = parseHl7(buildNak({ code: 'CE', acknowledgedId: 'X|1', version: '2.3', error: { code: '102', text: 'bad' } }));
    expect(a.get('MSA-1')).toBe('CE');
    expect(a.getRaw('MSA-2')).toBe('X\\F\\1');
    expect(a.get('MSA-2')).toBe('X|1');
    expect(a.get('MSH-12')).toBe('2.3');
    expect(a.get('ERR-1.4.1')).toBe('102');
  });
});
