import { describe, expect, it } from 'vitest';
import { parseHl7 } from '../../engine/hl7/index.js';
import { fhirToV2 } from '../../transforms/fhir-v2/index.js';
import type { FhirBundle, FhirResource } from '../../transforms/types.js';
import { EXT, v2ToFhir } from '../../transforms/v2-fhir/index.js';
import { resourcesOf } from './v2-fhir-helpers.js';

/* Review finding 2: an edited FHIR timestamp wins over the kept v2 original on the way back. */

type R = FhirResource & Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const ORU = [
  'MSH|^~\\&|LAB|HOSP|EHR|HOSP|20240301083000||ORU^R01^ORU_R01|C1|P|2.5.1',
  'PID|1||MRN-1^^^HOSP^MR||DOE^JANE||198001021530-0500|F',
  'OBR|1|P1|F1|CBC^CBC^LN|||202403010800',
  'OBX|1|NM|718-7^Hgb^LN||13.5|g/dL^^UCUM|||||F|||202403010815-0500',
].join('\r') + '\r';

function forward(timezone = 'UTC'): FhirBundle {
  return structuredClone(v2ToFhir(ORU, { bundle: 'collection', timezone }).result);
}
function resource(bundle: FhirBundle, type: string): R {
  return resourcesOf<R>(bundle, type)[0]!;
}
function back(bundle: FhirBundle) {
  return parseHl7(fhirToV2(bundle).result);
}

describe('reverse map of edited timestamps', () => {
  it('unedited: the original text (precision, offset) goes back', () => {
    const msg = back(forward());
    expect(msg.get('OBX-14')).toBe('202403010815-0500');
    expect(msg.get('PID-7')).toBe('198001021530-0500');
    expect(msg.get('OBR-7')).toBe('202403010800');
  });

  it('unedited in another zone: a timestamp without offset still goes back as sent', () => {
    expect(back(forward('America/Chicago')).get('OBR-7')).toBe('202403010800');
  });

  it.each([
    { name: 'an edited effectiveDateTime wins over the kept original', type: 'Observation', value: '2024-03-02T09:30:00-05:00', field: 'OBX-14', expected: '20240302093000-0500' },
    { name: 'an edited offset alone is an edit', type: 'Observation', value: '2024-03-01T08:15:00+01:00', field: 'OBX-14', expected: '20240301081500+0100' },
    { name: 'an edited report effectiveDateTime wins', type: 'DiagnosticReport', value: '2024-03-05', field: 'OBR-7', expected: '20240305' },
  ])('$name', ({ type, value, field, expected }) => {
    const bundle = forward();
    resource(bundle, type).effectiveDateTime = value;
    expect(back(bundle).get(field)).toBe(expected);
  });

  it('an edited birthDate wins over the kept birth time text', () => {
    const bundle = forward();
    const patient = resource(bundle, 'Patient');
    patient.birthDate = '1981-05-06';
    // The birthTime extension still says 1980: a stale time is dropped with the stale text.
    expect(back(bundle).get('PID-7')).toBe('19810506');
  });
});

describe('finding 10: TM offsets, typed order search', () => {
  const oru = (obx5: string) => [
    'MSH|^~\\&|LAB|HOSP|EHR|HOSP|20240301083000||ORU^R01^ORU_R01|C1|P|2.5.1',
    'PID|1||MRN-1^^^HOSP^MR',
    'ORC|RE|P1^EHR|F1^LAB',
    'OBR|1|P1^EHR|F1^LAB|CBC^CBC^LN',
    `OBX|1|TM|X^Y^LN||${obx5}||||||F`,
  ].join('\r') + '\r';

  it('a TM with an offset keeps the text in _valueTime and goes back as sent', () => {
    const bundle = v2ToFhir(oru('1230+0530'), { bundle: 'collection' }).result;
    const obs = resource(bundle, 'Observation');
    expect(obs.valueTime).toBe('12:30:00');
    expect(obs._valueTime).toEqual({ extension: [{ url: EXT.datetime, valueString: '1230+0530' }] });
    expect(back(bundle).get('OBX-5')).toBe('1230+0530');
  });

  it('an edited valueTime wins over the kept TM text; a plain hhmmss TM needs no extension', () => {
    const bundle = v2ToFhir(oru('1230+0530'), { bundle: 'collection' }).result;
    resource(bundle, 'Observation').valueTime = '13:45:00';
    expect(back(bundle).get('OBX-5')).toBe('134500');
    expect(resource(v2ToFhir(oru('123000'), { bundle: 'collection' }).result, 'Observation')._valueTime).toBeUndefined();
  });

  it('typedOrderSearch: the ServiceRequest conditional also requires the identifier type', () => {
    const url = (typed: boolean) => v2ToFhir(oru('1230'), { typedOrderSearch: typed }).result.entry!.find((e) => e.resource!.resourceType === 'ServiceRequest')!.request!.url;
    const plain = 'ServiceRequest?identifier=https%3A%2F%2Fsluice.dev%2Ffhir%2Fv2-assigning-authority%2FLAB|F1';
    expect(url(false)).toBe(plain);
    expect(url(true)).toBe(`${plain}&identifier:of-type=http%3A%2F%2Fterminology.hl7.org%2FCodeSystem%2Fv2-0203|FILL|F1`);
  });
});
