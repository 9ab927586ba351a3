import { describe, expect, it } from 'vitest';
import { applyDowngrades, formatIssue, isError, placeInBundle, type ValidationIssue } from './issues.js';

const issue = (severity: ValidationIssue['severity'], message: string): ValidationIssue => ({ severity, location: 'Observation.code', message });

describe('applyDowngrades', () => {
  it('turns "cannot validate offline" messages into information and says which rule', () => {
    const [a, b, c] = applyDowngrades([
      issue('warning', "CodeSystem is unknown and can't be validated: http://loinc.org for 'http://loinc.org#718-7'"),
      issue('error', "A definition for CodeSystem 'urn:oid:1.2.3.4' could not be found, so the code cannot be validated"),
      issue('error', 'Unable to validate code without using server because: no terminology server'),
    ]);
    expect(a).toMatchObject({ severity: 'information', downgradedFrom: 'warning', downgradeRule: 'unknown-code-system' });
    expect(b).toMatchObject({ severity: 'information', downgradedFrom: 'error', downgradeRule: 'unknown-code-system' });
    expect(c).toMatchObject({ severity: 'information', downgradedFrom: 'error', downgradeRule: 'terminology-unavailable' });
  });

  it('keeps real errors: a wrong code in a known code system, a missing element, a bad UCUM unit', () => {
    const kept = [
      issue('error', "Unknown code 'http://hl7.org/fhir/administrative-gender#yes'"),
      issue('error', "The value provided ('yes') was not found in the value set 'AdministrativeGender' (http://hl7.org/fhir/ValueSet/administrative-gender|4.0.1), and a code is required from this value set  (error message = Unknown code 'http://hl7.org/fhir/administrative-gender#yes'; Unknown code 'http://hl7.org/fhir/administrative-gender#yes' for in-memory expansion of ValueSet 'http://hl7.org/fhir/ValueSet/administrative-gender')"),
      issue('error', 'Observation.status: minimum required = 1, but only found 0'),
      issue('error', "Error processing unit 'notaunit': The unit 'notaunit' is unknown' at position 0"),
      issue('error', "The value provided ('X') was not found in the value set 'V' (error message = CodeSystem is unknown and can't be validated: urn:oid:1.2.3)"),
    ];
    expect(applyDowngrades(kept)).toEqual(kept);
    expect(applyDowngrades(kept).every(isError)).toBe(true);
  });

  it('formats one line per issue', () => {
    expect(formatIssue(issue('error', 'boom'))).toBe('error Observation.code: boom');
  });
});

describe('placeInBundle', () => {
  it('names the entry, resource type and the path inside the resource', () => {
    expect(placeInBundle('Bundle.entry[3].resource/*Patient/abc*/.gender')).toEqual({ entry: 3, resourceType: 'Patient', path: 'Patient.gender' });
    expect(placeInBundle('Bundle.entry[0].resource/*Encounter/null*/')).toEqual({ entry: 0, resourceType: 'Encounter', path: 'Encounter' });
    expect(placeInBundle('Bundle.entry[1].resource', { entry: [{}, { resource: { resourceType: 'Observation' } }] }))
      .toEqual({ entry: 1, resourceType: 'Observation', path: 'Observation' });
    expect(placeInBundle('Patient.gender')).toEqual({ path: 'Patient.gender' });
  });
});
