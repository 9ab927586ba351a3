import { describe, expect, it } from 'vitest';
import type { Envelope } from '../../engine/channel/envelope.js';
import { createLogger } from '../../engine/log.js';
import { applyCodeMap, codeMapFrom, SourceUsage } from '../../transforms/codemap/index.js';
import { createCodeMapStep } from '../../transforms/steps/codemap.js';
import { v2ToFhir } from '../../transforms/v2-fhir/index.js';
import { eventually } from '../helpers/http-sink.js';
import { Capture } from '../helpers/streams.js';
import { tempDir } from '../helpers/engine.js';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';

/* Review findings 6 (local v2 coding-system names, unused tables) and 7 (per-channel summary log). */

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const EPIC_LAB = 'urn:oid:1.2.840.114350.1.13.283.2.7.5.737384.149';
const LOINC = 'http://loinc.org';
const ORU = [
  'MSH|^~\\&|APP|FAC|RCV|RF|20240102030405||ORU^R01|C10|P|2.5.1',
  'PID|1||1^^^FAC',
  'OBR|1||F9^LAB|P^Panel^L',
  'OBX|1|NM|TRIG^Trig^1.2.840.114350.1.13.283.2.7.5.737384.149||1|mg||||||F',
  'OBX|2|NM|HDL^Hdl^99EPIC||1|mg||||||F',
  'OBX|3|NM|LDL^Ldl^99EPIC||1|mg||||||F',
].join('\r') + '\r';

const MAP = codeMapFrom({
  maps: [
    { source: EPIC_LAB, target: LOINC, map: { TRIG: '2571-8' } },
    { source: '99EPIC', target: LOINC, map: { HDL: '2085-9' } },
    { source: '99NEVER', target: LOINC, map: { X: '1-8' } },
  ],
});

function observations(bundle: Json): Json[] {
  return bundle.entry.map((e: Json) => e.resource).filter((r: Json) => r.resourceType === 'Observation');
}

describe('code maps on converted FHIR content: local v2 coding-system names (finding 6)', () => {
  it('a table `source: 99EPIC` maps codings that carry the name in hl7v2-coding-system (no system)', () => {
    const bundle = v2ToFhir(ORU).result as Json;
    const result = applyCodeMap(bundle, MAP);
    const [trig, hdl, ldl] = observations(bundle);
    expect(trig!.code.coding.map((c: Json) => c.code)).toEqual(['TRIG', '2571-8']);
    expect(hdl!.code.coding[0].system).toBeUndefined();
    expect(hdl!.code.coding[1]).toEqual({ system: LOINC, code: '2085-9' });
    expect(ldl!.code.coding).toHaveLength(1);
    expect(result.unmapped.map((u) => `${u.system}|${u.code}`)).toEqual(['99EPIC|LDL']);
    expect([...result.sources].sort()).toEqual(['99EPIC', EPIC_LAB].sort());
  });

  it('SourceUsage names the tables no coding of a run was in', () => {
    const usage = new SourceUsage(MAP);
    usage.record(applyCodeMap(v2ToFhir(ORU).result, MAP));
    expect(usage.unused()).toEqual(['99NEVER']);
    expect(usage.warnings()).toEqual([{ code: 'codemap-source-unused', message: expect.stringContaining('source system 99NEVER') }]);
  });
});

describe('codemap step summary log (finding 7)', () => {
  function envelope(resource: Json): Envelope {
    return { id: 'E1', channel: 'lab', receivedAt: 0, source: { kind: 'test' }, raw: new Uint8Array(), content: { kind: 'fhir', resource }, warnings: [], stages: [] };
  }
  const lines = (c: Capture): Json[] => c.text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Json);

  it('logs system|code → count per channel at info, at most once per interval and only when it changed', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'map.yaml');
    await writeFile(file, `maps:\n  - source: 99EPIC\n    target: ${LOINC}\n    map: { HDL: 2085-9 }\n  - source: 99NEVER\n    target: ${LOINC}\n    map: { X: 1-8 }\n`);
    const capture = new Capture();
    const ctx = { channel: 'lab', logger: createLogger({ destination: capture, level: 'info' }) };
    const step = createCodeMapStep([file], 'keep', undefined, 300);
    await step(envelope(v2ToFhir(ORU).result as Json), ctx);
    // The first message logs at once.
    expect(lines(capture)).toHaveLength(1);
    expect(lines(capture)[0]).toMatchObject({ level: 30, channel: 'lab', msg: 'codemap: unmapped codes so far', unmapped: { '99EPIC|LDL': 1 }, unusedSources: ['99NEVER'], mapped: 1 });
    // Within the interval: counted, not logged yet; logged once when the interval ends.
    await step(envelope(v2ToFhir(ORU).result as Json), ctx);
    await step(envelope(v2ToFhir(ORU).result as Json), ctx);
    expect(lines(capture)).toHaveLength(1);
    await eventually(() => lines(capture).length === 2, 3000, 'second summary');
    expect(lines(capture)[1]).toMatchObject({ unmapped: { '99EPIC|LDL': 3 } });
    // No change: nothing more is logged.
    const fullyMapped = { resourceType: 'Observation', status: 'final', code: { coding: [{ code: 'HDL', extension: [{ url: 'https://sluice.dev/fhir/StructureDefinition/hl7v2-coding-system', valueString: '99EPIC' }] }] } };
    await step(envelope(fullyMapped), ctx);
    await new Promise((r) => setTimeout(r, 500));
    expect(lines(capture)).toHaveLength(2);
    // No PHI: the patient's data is nowhere in the log.
    expect(capture.text).not.toContain('"reference"');
    expect(step.stats().unusedSources).toEqual(['99NEVER']);
  });
});

describe('ConceptMap equivalence and group.unmapped (finding 8)', () => {
  const SRC = 'urn:local';
  const conceptMap = (unmapped?: Json) => ({
    resourceType: 'ConceptMap',
    group: [{
      source: SRC, target: LOINC,
      element: [
        { code: 'EQ', target: [{ code: '1-1', equivalence: 'equivalent' }] },
        { code: 'NOEQ', target: [{ code: '1-2' }] },
        { code: 'WIDE', target: [{ code: '2-1', equivalence: 'wider' }] },
        { code: 'NARROW', target: [{ code: '3-1', equivalence: 'narrower' }] },
        { code: 'INEXACT', target: [{ code: '4-1', equivalence: 'inexact' }] },
        { code: 'NONE', target: [{ code: '5-1', equivalence: 'unmatched' }] },
      ],
      ...(unmapped ? { unmapped } : {}),
    }],
  });
  const mapped = (policy?: 'exact-only' | 'safe' | 'any') => {
    const map = codeMapFrom(conceptMap(), 'cm.json', policy ? { equivalence: policy } : {});
    return ['EQ', 'NOEQ', 'WIDE', 'NARROW', 'INEXACT', 'NONE'].filter((c) => map.lookup(SRC, c) !== undefined);
  };

  it('default (safe): equivalent, no equivalence, wider; never narrower/inexact/unmatched', () => {
    expect(mapped()).toEqual(['EQ', 'NOEQ', 'WIDE']);
    expect(mapped('safe')).toEqual(['EQ', 'NOEQ', 'WIDE']);
  });

  it('exact-only and any', () => {
    expect(mapped('exact-only')).toEqual(['EQ', 'NOEQ']);
    expect(mapped('any')).toEqual(['EQ', 'NOEQ', 'WIDE', 'NARROW', 'INEXACT']);
  });

  it('group.unmapped provided: an unlisted code maps to itself in the target system; a listed one wins', () => {
    const map = codeMapFrom(conceptMap({ mode: 'provided' }));
    expect(map.lookup(SRC, '9999-9')).toEqual([{ system: LOINC, code: '9999-9' }]);
    expect(map.lookup(SRC, 'EQ')).toEqual([{ system: LOINC, code: '1-1' }]);
    const obs: Json = { resourceType: 'Observation', code: { coding: [{ system: SRC, code: '9999-9' }] } };
    expect(applyCodeMap(obs, map)).toMatchObject({ mapped: 1, unmapped: [] });
  });

  it('group.unmapped fixed: every unlisted code maps to the one code; other modes are refused', () => {
    const map = codeMapFrom(conceptMap({ mode: 'fixed', code: 'LA4489-6', display: 'Unknown' }));
    expect(map.lookup(SRC, 'ANY')).toEqual([{ system: LOINC, code: 'LA4489-6', display: 'Unknown' }]);
    expect(() => codeMapFrom(conceptMap({ mode: 'fixed' }), 'x.json')).toThrow(/fixed needs a code/);
    expect(() => codeMapFrom(conceptMap({ mode: 'other-map', url: 'http://x' }), 'x.json')).toThrow(/not supported/);
  });
});
