import { describe, expect, it } from 'vitest';
import { parseHl7 } from '../../engine/hl7/index.js';
import type { Envelope } from '../../engine/channel/envelope.js';
import { silentLogger } from '../../engine/log.js';
import { getComponent } from '../../engine/registry.js';
import '../../engine/channel/components/index.js';
import { httpSink, messageOf, mllpPort, mllpSender, startEngine, untilStatus } from '../helpers/engine.js';
import type { FhirBundle } from '../../transforms/types.js';

const ORU = 'MSH|^~\\&|LAB|HOSP|EHR|HOSP|20240301083000||ORU^R01^ORU_R01|C-77|P|2.5.1\r' +
  'PID|1||MRN-1^^^HOSP&1.2.3&ISO^MR||DOE^JANE||19800101|F\r' +
  'OBR|1|PL-1|FI-1^LAB|2345-7^Glucose^LN|||20240301080000|||||||||||||||20240301083000||CH|F\r' +
  'OBX|1|NM|2345-7^Glucose^LN||high|mg/dL^mg/dL^UCUM|70-99|H|||F\r';

function envelopeOf(text: string): Envelope {
  return {
    id: 'm1', channel: 'c', receivedAt: 0, source: { kind: 'test' }, raw: Buffer.from(text),
    content: { kind: 'hl7v2', message: parseHl7(text) }, warnings: [], stages: [],
  };
}

describe('v2ToFhir step', () => {
  const spec = getComponent('step', 'v2ToFhir')!;

  it('is registered with a strict schema and defaults', () => {
    expect(spec.description).toMatch(/FHIR R4 Bundle/);
    expect(spec.schema.parse({})).toEqual({ bundle: 'transaction', timezone: 'UTC', provenance: true, attachOriginal: false, typedOrderSearch: false });
    expect(() => spec.schema.parse({ timezone: 'Mars/Olympus' })).toThrow(/time zone/);
    expect(() => spec.schema.parse({ bundel: 'batch' })).toThrow();
  });

  it('replaces the content with a Bundle, records warnings under its stage and a stage summary', async () => {
    const step = spec.create(spec.schema.parse({ bundle: 'collection', timezone: 'America/Chicago' }), { channel: 'c', dataDir: '/tmp', logger: silentLogger }) as (e: Envelope, ctx: unknown) => Envelope;
    const env = await step(envelopeOf(ORU), { channel: 'c', logger: silentLogger });
    expect(env.content.kind).toBe('fhir');
    const bundle = (env.content as unknown as { resource: FhirBundle }).resource;
    expect(bundle.type).toBe('collection');
    const obs = bundle.entry!.map((e) => e.resource!).find((r) => r.resourceType === 'Observation')!;
    expect(obs.valueString).toBe('high');
    const report = bundle.entry!.map((e) => e.resource!).find((r) => r.resourceType === 'DiagnosticReport')!;
    // 08:00 in Chicago on 1 March 2024 is CST, UTC-6.
    expect(report.effectiveDateTime).toBe('2024-03-01T08:00:00-06:00');
    expect(env.warnings).toContainEqual({ stage: 'v2ToFhir', code: 'nm-not-numeric', message: expect.any(String), path: 'OBX-5' });
    expect(env.stages.at(-1)).toMatchObject({ stage: 'v2ToFhir', summary: expect.stringMatching(/collection Bundle, \d+ resources, 1 warning/) });
  });

  it('runs in a channel: MLLP in, the Bundle delivered over HTTP; an unsupported type goes to ERROR', async () => {
    const { sink, url } = await httpSink();
    const engine = await startEngine({ source: { mllp: { port: 0 } }, respondFrom: 'delivered', steps: [{ v2ToFhir: { timezone: 'Europe/Paris' } }], destinations: { out: { http: { url } } } });
    const sender = mllpSender(mllpPort(engine));
    const ack = await sender.send(ORU);
    expect(ack.code).toBe('AA');
    expect(sink.bodies).toHaveLength(1);
    const bundle = JSON.parse(sink.bodies[0]!) as FhirBundle;
    expect(bundle.type).toBe('transaction');
    const patientEntry = bundle.entry!.find((e) => e.resource!.resourceType === 'Patient')!;
    expect(patientEntry.request).toEqual({ method: 'PUT', url: 'Patient?identifier=urn%3Aoid%3A1.2.3|MRN-1' });
    const detail = await untilStatus(engine.store, (await messageOf(engine.store, 'C-77')).id, 'SENT');
    expect(detail.events.some((e) => e.kind === 'transformed' && /1 warning/.test(e.detail ?? ''))).toBe(true);

    const mdm = 'MSH|^~\\&|DOC|HOSP|EHR|HOSP|20240301083000||MDM^T02^MDM_T02|C-78|P|2.5.1\rPID|1||MRN-1^^^HOSP^MR\r';
    const nak = await sender.send(mdm);
    expect(nak.code).not.toBe('AA');
    const failed = await untilStatus(engine.store, (await messageOf(engine.store, 'C-78')).id, 'ERROR');
    expect(failed.error).toMatch(/unsupported message structure MDM_T02/);
    expect(sink.bodies).toHaveLength(1);
  }, 20_000);
});
