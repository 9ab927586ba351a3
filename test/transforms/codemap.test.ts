import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Envelope } from '../../engine/channel/envelope.js';
import { parseHl7 } from '../../engine/hl7/index.js';
import { silentLogger } from '../../engine/log.js';
import { applyCodeMap, CodeMapError, codeMapFrom, loadCodeMap, loadCodeMaps, UnmappedCounter } from '../../transforms/codemap/index.js';
import { createCodeMapStep, type CodeMapStep } from '../../transforms/steps/codemap.js';
import '../../transforms/steps/v2-to-fhir.js';
import { httpSink, messageOf, mllpPort, mllpSender, startEngine, tempDir, untilStatus } from '../helpers/engine.js';
import { eventually } from '../helpers/http-sink.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const LAB_YAML = path.join(ROOT, 'channels/codemaps/lab-local-to-loinc.yaml');
const VITALS_JSON = path.join(ROOT, 'channels/codemaps/vitals-local-to-snomed.conceptmap.json');
const EPIC_LAB = 'urn:oid:1.2.840.114350.1.13.283.2.7.5.737384.149';
const EPIC_VITALS = 'urn:oid:1.2.840.114350.1.13.283.2.7.4.698084.10';
const LOINC = 'http://loinc.org';

type Json = Record<string, unknown>;

function obs(id: string, system: string, code: string, extra: Json = {}): Json {
  return { resourceType: 'Observation', id, status: 'final', code: { coding: [{ system, code, display: `local ${code}` }] }, ...extra };
}

function bundleOf(...resources: Json[]): Json {
  return { resourceType: 'Bundle', type: 'collection', entry: resources.map((resource) => ({ resource })) };
}

function envelope(resource: Json): Envelope {
  return { id: 'E1', channel: 'c', receivedAt: 0, source: { kind: 'test' }, raw: new Uint8Array(), content: { kind: 'fhir', resource }, warnings: [], stages: [] };
}

const codings = (o: Json): Json[] => (o.code as { coding: Json[] }).coding;

describe('loading code maps', () => {
  it('reads the YAML table shipped in channels/codemaps', () => {
    const map = loadCodeMap(LAB_YAML);
    expect(map.size).toBe(8);
    expect(map.lookup(EPIC_LAB, 'TRIG')).toEqual([{ system: LOINC, code: '2571-8', display: 'Triglyceride [Mass/volume] in Serum or Plasma' }]);
    expect(map.lookup(EPIC_LAB, 'NOPE')).toBeUndefined();
    expect(map.covers(EPIC_LAB)).toBe(true);
  });

  it('reads an R4 ConceptMap, skipping unmatched targets', () => {
    const map = loadCodeMap(VITALS_JSON);
    expect(map.lookup(EPIC_VITALS, '1')).toEqual([{ system: 'http://snomed.info/sct', code: '33586001', display: 'Sitting position' }]);
    expect(map.lookup(EPIC_VITALS, '9')).toBeUndefined();
    expect(map.size).toBe(3);
  });

  it('accepts short entries and several tables in one file', () => {
    const map = codeMapFrom({ maps: [{ source: 'urn:a', target: LOINC, map: { X: '1-1', N: 1234 } }, { source: 'urn:b', target: LOINC, map: { Y: { code: '2-2' } } }] });
    expect(map.lookup('urn:a', 'X')).toEqual([{ system: LOINC, code: '1-1' }]);
    expect(map.lookup('urn:a', 'N')).toEqual([{ system: LOINC, code: '1234' }]);
    expect(map.lookup('urn:b', 'Y')).toEqual([{ system: LOINC, code: '2-2' }]);
    expect(loadCodeMaps([LAB_YAML, VITALS_JSON]).sourceSystems.sort()).toEqual([EPIC_VITALS, EPIC_LAB].sort());
  });

  it('names the file and the problem for bad input', async () => {
    const dir = await tempDir();
    const bad = path.join(dir, 'bad.yaml');
    await writeFile(bad, 'source: urn:a\nmap: { X: { display: no code } }\n');
    expect(() => loadCodeMap(bad)).toThrow(CodeMapError);
    expect(() => loadCodeMap(bad)).toThrow(new RegExp(`^${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not a code map table`));
    expect(() => loadCodeMap(path.join(dir, 'missing.yaml'))).toThrow(/missing\.yaml: no such file/);
    expect(() => codeMapFrom({ resourceType: 'ConceptMap', group: [{ source: 'urn:a', element: [] }] }, 'cm.json')).toThrow(/cm\.json: ConceptMap group for urn:a has no target system/);
    const broken = path.join(dir, 'broken.json');
    await writeFile(broken, '{ "resourceType": ');
    expect(() => loadCodeMap(broken)).toThrow(/broken\.json: cannot parse/);
  });
});

describe('applyCodeMap', () => {
  const map = loadCodeMaps([LAB_YAML, VITALS_JSON]);

  it('adds the mapped coding after the original, in every CodeableConcept of a bundle', () => {
    const a = obs('a', EPIC_LAB, 'TRIG');
    const b = obs('b', EPIC_LAB, 'UNKNOWN1');
    const c = obs('c', EPIC_VITALS, '2', { valueCodeableConcept: { coding: [{ system: EPIC_VITALS, code: '3' }] } });
    const d = obs('d', LOINC, '2345-7'); // not a mapped system: neither mapped nor unmapped
    const result = applyCodeMap(bundleOf(a, b, c, d), map);
    expect(result.mapped).toBe(3);
    expect(codings(a)).toEqual([{ system: EPIC_LAB, code: 'TRIG', display: 'local TRIG' }, { system: LOINC, code: '2571-8', display: 'Triglyceride [Mass/volume] in Serum or Plasma' }]);
    expect(codings(c).map((x) => x.code)).toEqual(['2', '10904000']);
    expect(((c.valueCodeableConcept as Json).coding as Json[]).map((x) => x.code)).toEqual(['3', '102538003']);
    expect(codings(d)).toHaveLength(1);
    expect(result.unmapped).toEqual([{ system: EPIC_LAB, code: 'UNKNOWN1', path: 'Observation/b.code' }]);
  });

  it('does not add a coding twice when applied again', () => {
    const a = obs('a', EPIC_LAB, 'GLU');
    applyCodeMap(a, map);
    const again = applyCodeMap(a, map);
    expect(again.mapped).toBe(0);
    expect(codings(a)).toHaveLength(2);
  });

  it('counts unmapped codes per (system, code), most frequent first', () => {
    const counter = new UnmappedCounter();
    counter.record(applyCodeMap(bundleOf(obs('1', EPIC_LAB, 'Z1'), obs('2', EPIC_LAB, 'Z2'), obs('3', EPIC_LAB, 'Z2')), map));
    counter.record(applyCodeMap(obs('4', EPIC_LAB, 'Z2'), map));
    expect(counter.list()).toEqual([{ system: EPIC_LAB, code: 'Z2', count: 3 }, { system: EPIC_LAB, code: 'Z1', count: 1 }]);
  });

  it('caps the distinct codes it remembers and counts the rest as overflow', () => {
    const counter = new UnmappedCounter(2);
    counter.record(applyCodeMap(bundleOf(obs('1', EPIC_LAB, 'A1'), obs('2', EPIC_LAB, 'A2'), obs('3', EPIC_LAB, 'A3'), obs('4', EPIC_LAB, 'A1'), obs('5', EPIC_LAB, 'A4')), map));
    expect(counter.list().map((c) => `${c.code}:${c.count}`)).toEqual(['A1:2', 'A2:1']);
    expect(counter.overflow).toBe(2);
  });
});

describe('codemap step', () => {
  const ctx = { channel: 'c', logger: silentLogger };

  it('warn: adds codings, puts one warning per unmapped code on the message, keeps stats', async () => {
    const step = createCodeMapStep([LAB_YAML], 'warn');
    const env = await step(envelope(bundleOf(obs('1', EPIC_LAB, 'HGB'), obs('2', EPIC_LAB, 'XX'), obs('3', EPIC_LAB, 'YY'), obs('4', EPIC_LAB, 'XX'))), ctx) as Envelope;
    expect(env.warnings).toEqual([
      { stage: 'codemap', code: 'unmapped-code', message: `no mapping for ${EPIC_LAB}|XX (2 times)`, path: 'Observation/2.code' },
      { stage: 'codemap', code: 'unmapped-code', message: `no mapping for ${EPIC_LAB}|YY`, path: 'Observation/3.code' },
    ]);
    await step(envelope(obs('5', EPIC_LAB, 'XX')), ctx);
    expect(step.stats()).toEqual({ mapped: 1, unmapped: [{ system: EPIC_LAB, code: 'XX', count: 3 }, { system: EPIC_LAB, code: 'YY', count: 1 }], overflow: 0, unusedSources: [] });
  });

  it('keep: counts without warnings; error: fails the message naming the code', async () => {
    const keep = createCodeMapStep([LAB_YAML], 'keep');
    const env = await keep(envelope(obs('1', EPIC_LAB, 'XX')), ctx) as Envelope;
    expect(env.warnings).toEqual([]);
    expect(keep.stats().unmapped).toHaveLength(1);
    const strict = createCodeMapStep([LAB_YAML], 'error');
    expect(() => strict(envelope(obs('1', EPIC_LAB, 'XX')), ctx)).toThrow(`codemap: 1 unmapped code(s): ${EPIC_LAB}|XX`);
  });

  it('rejects HL7 v2 content without a path, and a path that is not a field', () => {
    const step = createCodeMapStep([LAB_YAML], 'warn');
    const env: Envelope = { ...envelope({}), content: { kind: 'hl7v2', message: parseHl7('MSH|^~\\&|A\r') } };
    expect(() => step(env, ctx)).toThrow('codemap: HL7 v2 content needs `path` (e.g. OBX-3); or put the step after v2ToFhir');
    expect(() => createCodeMapStep([LAB_YAML], 'warn', 'OBX-3.1')).toThrow(/give a segment and a CWE field/);
    expect(() => step({ ...envelope({}), content: { kind: 'text', text: 'hello' } }, ctx)).toThrow(/not JSON/);
  });

  it('path: maps a CWE in every segment of HL7 v2 content into its alternate components', async () => {
    const step = createCodeMapStep([LAB_YAML], 'warn', 'OBX-3');
    const oid = EPIC_LAB.slice('urn:oid:'.length);
    const message = parseHl7([
      'MSH|^~\\&|A|B|C|D|20240101||ORU^R01|1|P|2.5.1',
      `OBX|1|NM|K^Potassium^${oid}||4.1`,
      `OBX|2|NM|NA^Sodium^${oid}^999^Sender alt^L||140`,
      `OBX|3|NM|ZZ^Unknown^${oid}||1`,
      'OBX|4|NM|2345-7^Glucose^LN||90',
    ].join('\r'));
    const env = await step({ ...envelope({}), content: { kind: 'hl7v2', message } }, ctx) as Envelope;
    expect([message.get('OBX[1]-3.1'), message.get('OBX[1]-3.4'), message.get('OBX[1]-3.5'), message.get('OBX[1]-3.6')]).toEqual(['K', '2823-3', 'Potassium [Moles/volume] in Serum or Plasma', 'LN']);
    expect(message.get('OBX[2]-3.4')).toBe('999'); // the sender's own alternate code is kept
    expect(message.get('OBX[4]-3.4')).toBe('');
    expect(env.warnings.map((w) => w.path)).toEqual(['OBX[3]-3[1]']);
    expect(step.stats()).toEqual({ mapped: 1, unmapped: [{ system: EPIC_LAB, code: 'ZZ', count: 1 }], overflow: 0, unusedSources: [] });
  });
});

describe('in a channel: MLLP → v2ToFhir → codemap → fhirToV2 → HTTP', () => {
  it('delivers HL7 whose OBX-3 carries the LOINC code as the alternate coding, and counts unmapped codes', async () => {
    const { sink, url } = await httpSink();
    const engine = await startEngine({
      source: { mllp: { port: 0 } },
      steps: [{ v2ToFhir: { bundle: 'collection', provenance: false } }, { codemap: { file: LAB_YAML, unmapped: 'warn' } }, { fhirToV2: { sendingApplication: 'SLUICE', receivingApplication: 'LIS' } }],
      destinations: { out: { http: { url } } },
    });
    const oid = EPIC_LAB.slice('urn:oid:'.length);
    const oru = [
      'MSH|^~\\&|EPIC|HOSP|SLUICE|X|20240101120000||ORU^R01^ORU_R01|CM1|P|2.5.1',
      'PID|1||MRN-5^^^HOSP^MR||DOE^JANE||19800101|F',
      'OBR|1|P1|F1|24331-1^Lipid panel^LN|||20240101110000',
      `OBX|1|NM|TRIG^Triglycerides^${oid}||150|mg/dL^^UCUM||N|||F|||20240101110000`,
      `OBX|2|NM|ZZZ^Local only^${oid}||1|||||||F`,
    ].join('\r') + '\r';
    const ack = await mllpSender(mllpPort(engine)).send(oru);
    expect(ack.code).toBe('AA');
    await eventually(() => sink.bodies.length === 1, 5_000, 'the converted message at the sink');
    const out = parseHl7(sink.bodies[0]!);
    expect([out.get('MSH-3'), out.get('MSH-5'), out.get('MSH-9')]).toEqual(['SLUICE', 'LIS', 'ORU^R01^ORU_R01']);
    expect([out.get('OBX[1]-3.1'), out.get('OBX[1]-3.3'), out.get('OBX[1]-3.4'), out.get('OBX[1]-3.6')]).toEqual(['TRIG', oid, '2571-8', 'LN']);
    expect(out.get('OBX[2]-3.4')).toBe('');
    const step = engine.channel('test')!.def.steps.find((s) => s.name.startsWith('codemap'))!.step as CodeMapStep;
    expect(step.stats()).toEqual({ mapped: 1, unmapped: [{ system: EPIC_LAB, code: 'ZZZ', count: 1 }], overflow: 0, unusedSources: [] });
  });

  it('fhirToV2 on HL7 content sends the message to ERROR with the reason, nothing delivered', async () => {
    const { sink, url } = await httpSink();
    const engine = await startEngine({ source: { mllp: { port: 0 } }, steps: [{ fhirToV2: {} }], destinations: { out: { http: { url } } } });
    const ack = await mllpSender(mllpPort(engine)).send('MSH|^~\\&|A|B|C|D|20240101||ADT^A08|E1|P|2.5.1\rPID|1||M1\r');
    expect(ack.code).toBe('AA'); // respondFrom: received — the message is stored before the steps run
    const detail = await untilStatus(engine.store, (await messageOf(engine.store, 'E1')).id, 'ERROR');
    expect(detail.error).toContain('expected FHIR JSON, got an HL7 v2 message');
    expect(sink.bodies).toHaveLength(0);
  });
});
