import { describe, expect, it } from 'vitest';
import { parseHl7 } from '../hl7/index.js';
import { httpPort, httpSink, startEngine } from '../../test/helpers/engine.js';
import { eventually } from '../../test/helpers/http-sink.js';
import { observationJson } from '../../test/helpers/fhir.js';
import { fhirPatientKey } from './input.js';

const observation = (id: string, patient: string, value: number) => observationJson({ id, patient, value, code: '2345-7', display: 'Glucose', unit: 'mg/dL' });

describe('a channel with dataType fhir', () => {
  it('takes FHIR JSON, keys it by patient, converts it with fhirToV2 and stores bad JSON as ERROR', async () => {
    const { sink, url } = await httpSink();
    const engine = await startEngine({
      source: { http: { port: 0 } }, dataType: 'fhir',
      steps: [{ fhirToV2: {} }],
      destinations: { lis: { http: { url } } },
    });
    const base = `http://127.0.0.1:${httpPort(engine)}/`;
    const ok = await fetch(base, { method: 'POST', body: observation('obs-1', 'p-42', 105) });
    expect(ok.status).toBe(200);
    const id = ok.headers.get('x-sluice-message-id')!;
    await eventually(() => sink.bodies.length === 1, 10_000, 'the ORU at the sink');
    const oru = parseHl7(sink.bodies[0]!);
    expect(oru.messageType).toBe('ORU^R01');
    expect([oru.get('OBX-3.1'), oru.get('OBX-5'), oru.get('OBX-6.1')]).toEqual(['2345-7', '105', 'mg/dL']);
    const stored = (await engine.store.get(id))!;
    expect([stored.messageType, stored.orderingKey, stored.controlId]).toEqual(['Observation', 'Patient/p-42', 'Observation/obs-1']);

    const bad = await fetch(base, { method: 'POST', body: '{"name": "DOE JOHN" x}' });
    expect(bad.status).toBe(422);
    const reason = await bad.text();
    expect(reason).toMatch(/not valid FHIR JSON/);
    expect(reason).not.toContain('DOE'); // the parser's message quotes the input: it must not reach errors
    const noType = await fetch(base, { method: 'POST', body: '{"id": "x"}' });
    expect(noType.status).toBe(422);
    const errors = await engine.store.search({ channel: 'test', status: 'ERROR' });
    expect(errors).toHaveLength(2); // kept, where they can be found and fixed

    // The same resource version again is a duplicate: acknowledged, not processed twice.
    const again = await fetch(base, { method: 'POST', body: observation('obs-1', 'p-42', 105) });
    expect(again.status).toBe(200);
    expect((await engine.store.search({ channel: 'test', status: 'FILTERED' })).length).toBe(1);
    expect(sink.bodies).toHaveLength(1);
  });

  it('keys a resource or Bundle by the patient it is about', () => {
    expect(fhirPatientKey({ resourceType: 'Patient', id: '7' })).toBe('Patient/7');
    expect(fhirPatientKey({ resourceType: 'AllergyIntolerance', patient: { reference: 'Patient/8' } })).toBe('Patient/8');
    expect(fhirPatientKey({ resourceType: 'Bundle', entry: [{ resource: { resourceType: 'Organization' } }, { resource: { resourceType: 'Observation', subject: { reference: 'Patient/9' } } }] })).toBe('Patient/9');
    expect(fhirPatientKey({ resourceType: 'Organization' })).toBeUndefined();
  });
});
