/** A FHIR R4 Observation with a LOINC code and a UCUM quantity, as JSON text (what a topic or an HTTP client carries). */
export function observationJson(o: { id: string; patient: string; value: number; code: string; display: string; unit: string }): string {
  return JSON.stringify({
    resourceType: 'Observation', id: o.id, status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: o.code, display: o.display }] },
    subject: { reference: `Patient/${o.patient}` },
    effectiveDateTime: '2026-11-29T08:30:00Z',
    valueQuantity: { value: o.value, unit: o.unit, system: 'http://unitsofmeasure.org', code: o.unit },
  });
}
