import { describe, expect, it } from 'vitest';
import type { FhirBundle } from '../../transforms/types.js';
import { EXT, v2ToFhir } from '../../transforms/v2-fhir/index.js';
import { hl7, one, resourcesOf } from './v2-fhir-helpers.js';

/* Review findings 1 and 9: deterministic ids must not collide across patients or messages. */

const msh = (type: string, control: string) => `MSH|^~\\&|APP|FAC|RCV|RF|20240102030405||${type}|${control}|P|2.5.1`;

function idsOf(bundle: FhirBundle, type: string): string[] {
  return (bundle.entry ?? []).filter((e) => e.resource?.resourceType === type).map((e) => e.fullUrl ?? '');
}

describe('ids of resources without an identifier of their own', () => {
  const adt = (control: string, mrn: string, value: string) =>
    hl7(msh('ADT^A01', control), `PID|1||${mrn}||Doe^John`, 'PV1|1|I', `OBX|1|NM|8310-5^Body temp^LN||${value}|Cel^^UCUM|||||F`);

  it('an ADT OBX of two patients in two messages gives two Observations', () => {
    const a = idsOf(v2ToFhir(adt('C1', '111', '37.2')).result, 'Observation');
    const b = idsOf(v2ToFhir(adt('C2', '222', '39.9')).result, 'Observation');
    expect(a).toHaveLength(1);
    expect(b).toHaveLength(1);
    expect(a[0]).not.toBe(b[0]);
  });

  it('an ADT OBX of two patients with the same control id (two senders reusing C1) differ too', () => {
    const a = idsOf(v2ToFhir(adt('C1', '111', '37.2')).result, 'Observation');
    const b = idsOf(v2ToFhir(adt('C1', '222', '39.9')).result, 'Observation');
    expect(a[0]).not.toBe(b[0]);
  });

  it('two patients in one message keep their own Observation', () => {
    const msg = hl7(msh('ADT^A01', 'C1'), 'PID|1||111||Doe^John', 'OBX|1|NM|8310-5^Body temp^LN||37.2|Cel^^UCUM|||||F',
      'PID|2||222||Roe^Jane', 'OBX|1|NM|8310-5^Body temp^LN||39.9|Cel^^UCUM|||||F');
    expect(new Set(idsOf(v2ToFhir(msg).result, 'Observation')).size).toBe(2);
  });

  it('a replay of the same message gives the same ids', () => {
    expect(idsOf(v2ToFhir(adt('C1', '111', '37.2')).result, 'Observation')).toEqual(idsOf(v2ToFhir(adt('C1', '111', '37.2')).result, 'Observation'));
  });

  it('an ORU OBX before any OBR is keyed by its patient and message', () => {
    const oru = (control: string, mrn: string) => hl7(msh('ORU^R01', control), `PID|1||${mrn}`, 'OBX|1|NM|X^Y^LN||1|||||F');
    expect(idsOf(v2ToFhir(oru('C1', '111')).result, 'Observation')[0]).not.toBe(idsOf(v2ToFhir(oru('C2', '222')).result, 'Observation')[0]);
  });

  it('a Specimen without identifier and without order differs per patient and message', () => {
    const oru = (control: string, mrn: string) => hl7(msh('ORU^R01', control), `PID|1||${mrn}`, 'SPM|1|||BLD^Blood^HL70487');
    expect(idsOf(v2ToFhir(oru('C1', '111')).result, 'Specimen')[0]).not.toBe(idsOf(v2ToFhir(oru('C2', '222')).result, 'Specimen')[0]);
  });

  it('a Specimen id depends on the namespace of its number (EI-2), not the number alone', () => {
    const oru = (ns: string) => hl7(msh('ORU^R01', 'C1'), 'PID|1||111', `SPM|1|S-1&${ns}||BLD^Blood^HL70487`);
    expect(idsOf(v2ToFhir(oru('LAB-A')).result, 'Specimen')[0]).not.toBe(idsOf(v2ToFhir(oru('LAB-B')).result, 'Specimen')[0]);
  });
});

describe('empty MSH-10 (finding 9)', () => {
  const noControl = (mrn: string, order: string) =>
    hl7(`MSH|^~\\&|APP|FAC|RCV|RF|20240102030405||ORU^R01||P|2.5.1`, `PID|1||${mrn}`, 'OBR|1|||CBC^CBC^LN', `OBX|1|NM|X^Y^LN||${order}|||||F`);

  it('resources keyed by the message fall back to a hash of the message, so two messages do not collide', () => {
    const a = v2ToFhir(noControl('111', '1')).result;
    const b = v2ToFhir(noControl('111', '2')).result;
    for (const type of ['ServiceRequest', 'DiagnosticReport', 'Observation', 'MessageHeader', 'Provenance']) {
      expect(idsOf(a, type)[0], type).not.toBe(idsOf(b, type)[0]);
    }
  });

  it('and the same bytes still give the same ids', () => {
    expect(v2ToFhir(noControl('111', '1')).result).toEqual(v2ToFhir(noControl('111', '1')).result);
  });
});

describe('timestamp offsets beyond ±14:00 (finding 4)', () => {
  it.each(['202401021230+1430', '202401021230-1401', '202401021230+1500', '20240102+1459', '202401021230+0060'])('%s is a bad-timestamp warning, not invalid FHIR', (ts) => {
    const msg = hl7(msh('ORU^R01', 'C1'), 'PID|1||111', 'OBR|1|P1|F1|CBC^CBC^LN', `OBX|1|NM|X^Y^LN||1||||||F|||${ts}`);
    const { result, warnings } = v2ToFhir(msg);
    const obs = resourcesOf(result, 'Observation')[0]!;
    expect(obs.effectiveDateTime).toBeUndefined();
    expect(obs._effectiveDateTime).toEqual({ extension: [{ url: EXT.datetime, valueString: ts }] });
    expect(warnings.map((w) => w.code)).toContain('bad-timestamp');
  });

  it('±14:00 itself is valid', () => {
    const msg = hl7(msh('ORU^R01', 'C1'), 'PID|1||111', 'OBR|1|P1|F1|CBC^CBC^LN', 'OBX|1|NM|X^Y^LN||1||||||F|||202401021230+1400');
    const obs = resourcesOf(v2ToFhir(msg).result, 'Observation')[0]!;
    expect(obs.effectiveDateTime).toBe('2024-01-02T12:30:00+14:00');
  });
});

describe('batch bundles (finding 5)', () => {
  const oru = hl7(msh('ORU^R01', 'C1'), 'PID|1||111^^^HOSP^MR', 'PV1|1|I|||||||||||||||||V-1^^^HOSP^VN', 'ORC|RE|P1|F1', 'OBR|1|P1|F1|CBC^CBC^LN|||20240102', 'OBX|1|NM|X^Y^LN||1||||||F', 'SPM|1|S-1||BLD^Blood^HL70487');

  it('uses plain PUT Type/id and Type/id references that resolve inside the bundle', () => {
    const { result } = v2ToFhir(oru, { bundle: 'batch' });
    const byTypeId = new Set(result.entry!.map((e) => `${e.resource!.resourceType}/${e.resource!.id}`));
    for (const e of result.entry!) {
      expect(e.resource!.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(e.request).toEqual({ method: 'PUT', url: `${e.resource!.resourceType}/${e.resource!.id}` });
    }
    const json = JSON.stringify(result.entry!.map((e) => e.resource));
    expect(json).not.toContain('urn:uuid:');
    const refs = [...json.matchAll(/"reference":"([^"]+)"/g)].map((m) => m[1]!);
    expect(refs.length).toBeGreaterThan(5);
    for (const r of refs) expect(byTypeId, r).toContain(r);
  });

  it('the ids are the same as the transaction fullUrls (one deterministic id per resource)', () => {
    const tx = v2ToFhir(oru).result.entry!.map((e) => e.fullUrl!.slice('urn:uuid:'.length));
    const batch = v2ToFhir(oru, { bundle: 'batch' }).result.entry!.map((e) => e.resource!.id);
    expect(batch).toEqual(tx);
  });

  it('a transaction keeps urn:uuid references and conditional updates', () => {
    const { result } = v2ToFhir(oru);
    expect(result.entry!.find((e) => e.resource!.resourceType === 'Patient')!.request!.url).toMatch(/^Patient\?identifier=/);
    expect(JSON.stringify(result)).toContain('"reference":"urn:uuid:');
  });
});

describe('finding 11: DiagnosticReport identifiers per the IG segment maps', () => {
  // v2.8+ ORU: segments (OBX, PRT, TXA) between the ORC and its OBR, as in ms__ORU_R01__ORU-R01-01.
  const msg = hl7(msh('ORU^R01', 'C1'), 'PID|1||111', 'ORC|NW||986^LAB|PGN-04|CM', 'OBX||ST|X^Y^LN||note||||||F', 'TXA|1|DIS',
    `OBR|1|845439^EHR|986^LAB|625-4^Culture^LN${'|'.repeat(49)}APON-53^4^M11`, 'OBX|1|ST|625-4^Culture^LN||neg||||||F');
  const values = (r: Record<string, any>) => (r.identifier as Array<{ value: string }>).map((i) => i.value).sort(); // eslint-disable-line @typescript-eslint/no-explicit-any
  const only = (type: string) => one(v2ToFhir(msg).result, type);

  it('the OBR takes its ORC across the segments between them: ORC-4 on the DiagnosticReport, typed PGN', () => {
    expect(values(only('DiagnosticReport'))).toEqual(['845439', '986', 'PGN-04']);
  });

  it('OBR-53 goes to the ServiceRequest only; ORC-4 is its requisition; one ServiceRequest for the order', () => {
    const sr = only('ServiceRequest');
    expect(values(sr)).toEqual(['845439', '986', 'APON-53'].sort());
    expect(sr.requisition).toMatchObject({ value: 'PGN-04' });
  });
});

describe('finding 9: Patient identity is PID-3.4 (the assigning authority), not the sending facility', () => {
  const adt = (facility: string, pid3: string) => hl7(`MSH|^~\\&|APP|${facility}|RCV|RF|20240102030405||ADT^A01|C1|P|2.5.1`, `PID|1||${pid3}||Doe^John`);
  const patient = (msg: string) => v2ToFhir(msg).result.entry!.find((e) => e.resource!.resourceType === 'Patient')!;

  it('a bare generic authority (MR) from two facilities is one identifier system: documented, configure HD-2', () => {
    expect(patient(adt('NORTH', '123^^^MR')).request!.url).toBe(patient(adt('SOUTH', '123^^^MR')).request!.url);
    expect(patient(adt('NORTH', '123^^^MR')).fullUrl).toBe(patient(adt('SOUTH', '123^^^MR')).fullUrl);
  });

  it('with each facility\'s universal id in PID-3.4.2 (what a per-channel `set` step adds) they differ', () => {
    const north = patient(adt('NORTH', '123^^^MR&1.2.3.1&ISO'));
    const south = patient(adt('SOUTH', '123^^^MR&1.2.3.2&ISO'));
    expect(north.request!.url).toBe('Patient?identifier=urn%3Aoid%3A1.2.3.1|123');
    expect(south.request!.url).toBe('Patient?identifier=urn%3Aoid%3A1.2.3.2|123');
    expect(north.fullUrl).not.toBe(south.fullUrl);
  });
});
