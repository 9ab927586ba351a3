import { z } from 'zod';
import type { Envelope } from '../../engine/channel/envelope.js';
import type { Step } from '../../engine/channel/types.js';
import { registerComponent } from '../../engine/registry.js';
import { v2ToFhir, type V2ToFhirOptions } from '../v2-fhir/index.js';
import { checkTimeZone } from '../v2-fhir/datetime.js';

/*
 * The `v2ToFhir` channel step: HL7 v2 content becomes a FHIR Bundle. Conversion warnings
 * go on the envelope (stage `v2ToFhir`); an unsupported message type throws, which sends
 * the message to ERROR with the converter's explanation.
 */

const STAGE = 'v2ToFhir';

const timezone = z.string().refine((zone) => {
  try {
    checkTimeZone(zone);
    return true;
  } catch {
    return false;
  }
}, { message: 'unknown time zone: give an IANA zone such as America/Chicago' });

const v2ToFhirStepSchema = z.object({
  bundle: z.enum(['transaction', 'batch', 'collection', 'message']).default('transaction').describe('Bundle type; a transaction uses conditional updates on identifiers'),
  timezone: timezone.default('UTC').describe('IANA zone for v2 timestamps without an offset (never the host zone)'),
  provenance: z.boolean().default(true).describe('add a Provenance for the converted resources'),
  attachOriginal: z.boolean().default(false).describe('attach the original v2 message (DocumentReference referenced by the Provenance)'),
  typedOrderSearch: z.boolean().default(false).describe('ServiceRequest conditional updates also search identifier:of-type (FILL/PLAC), so a placer number equal to a filler number in one namespace never matches; needs a server that supports :of-type'),
}).strict();

function createV2ToFhirStep(options: V2ToFhirOptions): Step {
  return (env: Envelope) => {
    if (env.content.kind !== 'hl7v2') {
      env.warnings.push({ stage: STAGE, code: 'not-hl7', message: `${STAGE} applies to HL7 v2 content, got ${env.content.kind}` });
      return env;
    }
    const { result, warnings } = v2ToFhir(env.content.message, options);
    for (const w of warnings) env.warnings.push(w.path === undefined ? { stage: STAGE, code: w.code, message: w.message } : { stage: STAGE, code: w.code, message: w.message, path: w.path });
    env.content = { kind: 'fhir', resource: result };
    env.stages.push({ stage: STAGE, at: Date.now(), summary: `${result.type} Bundle, ${result.entry?.length ?? 0} resources, ${warnings.length} warning(s)` });
    return env;
  };
}

registerComponent({
  kind: 'step',
  name: 'v2ToFhir',
  description: 'Convert HL7 v2 (ADT, ORM^O01, ORU^R01) to a FHIR R4 Bundle, following the HL7 V2-to-FHIR IG.',
  schema: v2ToFhirStepSchema,
  docs: [
    'Supported: ADT A01, A02, A03, A04, A08, A11, A13, A28, A31, A34, A40; ORM^O01; ORU^R01 (map chosen from MSH-9.3, else code and trigger).',
    'Other types send the message to ERROR. Ids are UUIDv5 over identifiers, so replays update instead of duplicating.',
    'Warnings (non-numeric NM, unknown code systems, missing required fields) are recorded on the message. See docs/TRANSFORMS.md for the maps.',
  ].join('\n'),
  example: 'v2ToFhir: { bundle: transaction, timezone: America/Chicago }',
  create: (o) => createV2ToFhirStep(o),
});
