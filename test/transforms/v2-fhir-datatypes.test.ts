import { describe, expect, it } from 'vitest';
import { parseHl7 } from '../../engine/hl7/index.js';
import { Ctx, DEFAULT_OPTIONS } from '../../transforms/v2-fhir/context.js';
import { address, codeableConcept, contactPoint, cxIdentifier, humanName, xcnReference } from '../../transforms/v2-fhir/datatypes.js';
import { v2Date, v2DateTime, v2TimeOfDay } from '../../transforms/v2-fhir/datetime.js';
import { EXT } from '../../transforms/v2-fhir/extensions.js';
import { SegmentReader } from '../../transforms/v2-fhir/fields.js';
import { namespaceOf, SLUICE_V2_NAMESPACE, uuidV5 } from '../../transforms/v2-fhir/ids.js';

/** A context and the first repetition of `ZZZ-1` holding `value`, to test one datatype map. */
function fieldOf(value: string, timezone = 'UTC') {
  const msg = parseHl7(`MSH|^~\\&|A|F|||20240101||ADT^A01|1|P|2.5\rZZZ|${value}\r`);
  const ctx = new Ctx(msg, { ...DEFAULT_OPTIONS, timezone }, 'F', '1');
  const seg = new SegmentReader(msg.segments[1]!, msg.delimiters, 2, 1);
  return { ctx, seg, v: seg.field(1) };
}

describe('TS/DTM', () => {
  it('keeps the precision it is given, down to the day', () => {
    expect(v2DateTime('2024', 'UTC')).toEqual({ value: '2024', lossy: false });
    expect(v2DateTime('202403', 'UTC')).toEqual({ value: '2024-03', lossy: false });
    expect(v2DateTime('20240315', 'UTC')).toEqual({ value: '2024-03-15', lossy: false });
  });

  it('pads a time to seconds and takes the offset from the text, else from the zone option', () => {
    expect(v2DateTime('202403151230', 'UTC')?.value).toBe('2024-03-15T12:30:00+00:00');
    expect(v2DateTime('20240315123045.1234-0500', 'Asia/Tokyo')?.value).toBe('2024-03-15T12:30:45.1234-05:00');
    expect(v2DateTime('20240315123045', 'America/New_York')?.value).toBe('2024-03-15T12:30:45-04:00'); // EDT
    expect(v2DateTime('20240115123045', 'America/New_York')?.value).toBe('2024-01-15T12:30:45-05:00'); // EST
    expect(v2DateTime('2024011512', 'Asia/Kolkata')?.value).toBe('2024-01-15T12:00:00+05:30');
    expect(v2DateTime('198808181126+0215', 'UTC')?.value).toBe('1988-08-18T11:26:00+02:15');
  });

  it('rejects what is not a timestamp', () => {
    for (const bad of ['', 'abc', '2024-01-01', '20241301', '20240230', '202401011260', '2024010112+2500', '20240101 1200']) {
      expect(v2DateTime(bad, 'UTC'), bad).toBeUndefined();
    }
  });

  it('DT and TM', () => {
    expect(v2Date('20240315093000')).toBe('2024-03-15');
    expect(v2Date('2024031')).toBeUndefined();
    expect(v2TimeOfDay('0930')).toBe('09:30:00');
    expect(v2TimeOfDay('093015.5+0100')).toBe('09:30:15.5');
    expect(v2TimeOfDay('2561')).toBeUndefined();
  });

  it('puts the original text on the _field element when detail would be lost', () => {
    const { ctx } = fieldOf('');
    const target: Record<string, unknown> = {};
    ctx.dateTime(target, 'effectiveDateTime', '202403151230', 'OBX-14');
    expect(target).toEqual({ effectiveDateTime: '2024-03-15T12:30:00+00:00', _effectiveDateTime: { extension: [{ url: EXT.datetime, valueString: '202403151230' }] } });
    ctx.dateTime(target, 'issued', 'garbage', 'OBR-22');
    expect(target.issued).toBeUndefined();
    expect(ctx.warnings).toEqual([{ code: 'bad-timestamp', message: expect.stringContaining('garbage'), path: 'OBR-22' }]);
  });
});

describe('ids', () => {
  it('are RFC 9562 UUIDv5 (checked against the RFC example) and stable', () => {
    // RFC 9562 appendix A.4: UUIDv5 of "www.example.com" in the DNS namespace.
    expect(uuidV5('www.example.com', namespaceOf('6ba7b810-9dad-11d1-80b4-00c04fd430c8'))).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
    // Sluice's namespace is itself derived, not invented: uuidv5(URL namespace, our URL).
    expect(uuidV5('https://sluice.dev/v2-fhir', namespaceOf('6ba7b811-9dad-11d1-80b4-00c04fd430c8'))).toBe(SLUICE_V2_NAMESPACE);
    expect(uuidV5('x')).toBe(uuidV5('x'));
    expect(uuidV5('x')).not.toBe(uuidV5('y'));
  });
});

describe('CWE', () => {
  it('maps known systems, keeps the original system name and alternate coding', () => {
    const { ctx, seg, v } = fieldOf('2345-7^Glucose^LN^GLU^Glucose local^99LAB^2.68^^Glucose [Mass/volume]');
    expect(codeableConcept(ctx, v, seg.path(1))).toEqual({
      coding: [
        { system: 'http://loinc.org', extension: [{ url: EXT.codingSystem, valueString: 'LN' }], version: '2.68', code: '2345-7', display: 'Glucose' },
        { extension: [{ url: EXT.codingSystem, valueString: '99LAB' }], code: 'GLU', display: 'Glucose local' },
      ],
      text: 'Glucose [Mass/volume]',
    });
    expect(ctx.warnings).toEqual([]);
  });

  it('keeps the code of an unknown system, with a warning', () => {
    const { ctx, seg, v } = fieldOf('X1^Thing^WEIRDSYS');
    expect(codeableConcept(ctx, v, seg.path(1))).toEqual({ coding: [{ extension: [{ url: EXT.codingSystem, valueString: 'WEIRDSYS' }], code: 'X1', display: 'Thing' }] });
    expect(ctx.warnings).toEqual([{ code: 'unknown-code-system', message: expect.stringContaining('WEIRDSYS'), path: 'ZZZ-1' }]);
  });

  it('understands HL7 tables and OIDs', () => {
    const a = fieldOf('F^Female^HL70001');
    expect(codeableConcept(a.ctx, a.v, '')?.coding).toMatchObject([{ system: 'http://terminology.hl7.org/CodeSystem/v2-0001', code: 'F' }]);
    const b = fieldOf('1^One^2.16.840.1.113883.6.1');
    expect(codeableConcept(b.ctx, b.v, '')?.coding).toMatchObject([{ system: 'urn:oid:2.16.840.1.113883.6.1' }]);
  });
});

describe('CX, XPN, XAD, XTN, XCN', () => {
  it('keeps the original repetition in the standard delimiters whatever the message declared', () => {
    const msg = parseHl7('MSH#$%@!#A#F###20240101##ADT$A01#1#P#2.5\rPID#1##123$$$HOSP!1.2.3!ISO$MR%456##DOE$JANE\r');
    const ctx = new Ctx(msg, DEFAULT_OPTIONS, 'F', '1');
    const pid = new SegmentReader(msg.segments[1]!, msg.delimiters, 2, 1);
    expect(pid.reps(3).map((r) => cxIdentifier(ctx, r, '')?.extension)).toEqual([
      [{ url: EXT.original, valueString: '123^^^HOSP&1.2.3&ISO^MR' }],
      [{ url: EXT.original, valueString: '456' }],
    ]);
    expect(cxIdentifier(ctx, pid.field(3), '')).toMatchObject({ system: 'urn:oid:1.2.3', value: '123' });
  });

  it('CX with an ISO assigning authority, type and period', () => {
    const { ctx, v } = fieldOf('12345^^^HOSP&2.16.840.1.1&ISO^MR^^20200101^20251231');
    expect(cxIdentifier(ctx, v, '')).toEqual({
      extension: [{ url: EXT.original, valueString: '12345^^^HOSP&2.16.840.1.1&ISO^MR^^20200101^20251231' }],
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] },
      system: 'urn:oid:2.16.840.1.1', value: '12345', period: { start: '2020-01-01', end: '2025-12-31' }, assigner: { display: 'HOSP' },
    });
  });

  it('XPN with use, prefix, suffixes and escapes', () => {
    const { ctx, v } = fieldOf('O\\T\\BRIEN&&&&^MARY^ANNE^JR^DR^PHD^L');
    expect(humanName(ctx, v, '')).toEqual({ extension: [{ url: EXT.original, valueString: 'O\\T\\BRIEN&&&&^MARY^ANNE^JR^DR^PHD^L' }], use: 'official', family: 'O&BRIEN', given: ['MARY', 'ANNE'], prefix: ['DR'], suffix: ['JR', 'PHD'] });
  });

  it('XAD and XTN', () => {
    const a = fieldOf('1 Main St^Apt 2^Springfield^IL^62701^USA^H^^Sangamon');
    expect(address(a.ctx, a.v, '')).toEqual({ extension: [{ url: EXT.original, valueString: '1 Main St^Apt 2^Springfield^IL^62701^USA^H^^Sangamon' }], line: ['1 Main St', 'Apt 2'], city: 'Springfield', district: 'Sangamon', state: 'IL', postalCode: '62701', country: 'USA', use: 'home' });
    expect(contactPoint(fieldOf('^WPN^PH^^1^555^1234567^89').v)).toEqual({ system: 'phone', value: '+1 (555) 1234567 ext. 89', use: 'work' });
    expect(contactPoint(fieldOf('^NET^Internet^jane@example.org').v)).toEqual({ system: 'email', value: 'jane@example.org' });
    expect(contactPoint(fieldOf('(555)555-1212').v)).toEqual({ system: 'phone', value: '(555)555-1212' });
  });

  it('XCN → a reference by identifier with a display', () => {
    expect(xcnReference(fieldOf('1234^WELBY^MARCUS^^^DR^^^NPI&2.16.840.1.113883.4.6&ISO').v)).toEqual({
      type: 'Practitioner', identifier: { system: 'urn:oid:2.16.840.1.113883.4.6', value: '1234' }, display: 'DR MARCUS WELBY',
    });
  });
});
