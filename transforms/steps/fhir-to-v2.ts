import { z } from 'zod';
import type { Content, Envelope } from '../../engine/channel/envelope.js';
import type { Step } from '../../engine/channel/types.js';
import { parseHl7 } from '../../engine/hl7/index.js';
import { registerComponent } from '../../engine/registry.js';
import { fhirToV2 } from '../fhir-v2/index.js';
import { ConversionError, type FhirResource } from '../types.js';

/** The FHIR JSON a message carries, whatever form an earlier stage left it in. */
export function fhirContent(content: Content): FhirResource {
  let value: unknown;
  switch (content.kind) {
    case 'fhir': value = content.resource; break;
    case 'json': value = content.value; break;
    case 'text': value = parseJson(content.text); break;
    case 'bytes': value = parseJson(Buffer.from(content.bytes).toString('utf8')); break;
    case 'hl7v2': throw new ConversionError('expected FHIR JSON, got an HL7 v2 message', 'not-fhir');
  }
  if (value === null || typeof value !== 'object' || typeof (value as { resourceType?: unknown }).resourceType !== 'string') {
    throw new ConversionError('expected a FHIR resource (JSON with a resourceType)', 'not-fhir');
  }
  return value as FhirResource;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    throw new ConversionError(`not JSON: ${(err as Error).message}`, 'not-fhir');
  }
}

const schema = z.strictObject({
  version: z.string().regex(/^2\.\d(\.\d)?$/).default('2.5.1').describe('HL7 version written in MSH-12'),
  sendingApplication: z.string().default('SLUICE').describe('MSH-3 (HD; components with ^)'),
  sendingFacility: z.string().default('').describe('MSH-4'),
  receivingApplication: z.string().default('').describe('MSH-5'),
  receivingFacility: z.string().default('').describe('MSH-6'),
  processingId: z.enum(['P', 'T', 'D']).default('P').describe('MSH-11'),
  adtEvent: z.enum(['A08', 'A28', 'A31']).optional().describe("trigger for a Patient (+ Encounter); default: a MessageHeader's A08/A28/A31, else A08"),
  message: z.enum(['auto', 'ORU', 'ORM', 'ADT']).default('auto').describe('message to build; auto: from a MessageHeader, else from the resources'),
});

registerComponent({
  kind: 'step', name: 'fhirToV2',
  description: 'Convert FHIR R4 JSON to HL7 v2: reports/observations → ORU^R01, service requests → ORM^O01, a patient → ADT.',
  schema,
  docs: [
    'The content must be FHIR JSON (a resource or a Bundle). `message`, else the message type of',
    'a MessageHeader (as `v2ToFhir` writes), else what it holds decides the message: a',
    'DiagnosticReport or Observation gives ORU^R01, a ServiceRequest ORM^O01, a Patient (with its',
    'Encounter, if any) ADT^A08, A28 or A31 (`adtEvent`). References resolve inside the bundle.',
    'Missing or unreadable values become warnings on the message; input with nothing to convert',
    'is an error. Values the v2→FHIR step kept in Sluice extensions (original timestamps, NM text,',
    'coding-system names, OBX-2) are written back as they were.',
  ].join('\n'),
  example: 'fhirToV2: { sendingApplication: SLUICE, receivingApplication: LIS, version: 2.5.1, adtEvent: A31 }',
  create: (o): Step => (env: Envelope) => {
    const { result, warnings } = fhirToV2(fhirContent(env.content), o);
    for (const w of warnings) env.warnings.push({ stage: 'fhirToV2', code: w.code, message: w.message, ...(w.path === undefined ? {} : { path: w.path }) });
    env.content = { kind: 'hl7v2', message: parseHl7(result) };
    return env;
  },
});
