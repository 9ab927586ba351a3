/**
 * The parse and parse-then-read implementations compared in bench/codec.ts. Every reader
 * returns the same `Values` shape, so allocation for the result is identical across them.
 * "Read" = MSH-9.1, MSH-9.2, MSH-10, PID-3.1 (first repetition), PID-5.1, PID-5.2, PID-7,
 * and every OBX-3.1 and OBX-5.
 */
import { Hl7Message as MedplumMessage } from '@medplum/core';
import { Message as NhcMessage } from 'node-hl7-client';
import { parseHl7 } from '../../engine/hl7/index.js';
import type { Expected } from '../fixtures/messages.js';
import { simpleHl7 } from './simple-hl7.js';

export type Values = Expected;

export interface CodecImpl {
  id: string;
  label: string;
  /** Parse only; returns something derived from the result so it cannot be optimised away. */
  parse(text: string): unknown;
  /** Parse, then read the fields listed above. */
  read(text: string): Values;
  /** Known semantic limits worth stating next to the numbers. */
  note?: string;
}

// ---- baseline: bare split --------------------------------------------------

const baseline: CodecImpl = {
  id: 'split',
  label: "baseline: split('\\r') + split('|')",
  note: 'no escape decoding, no validation, no delimiters from MSH-2',
  parse: (text) => text.split('\r').map((s) => s.split('|')),
  read(text) {
    const segs = text.split('\r').map((s) => s.split('|'));
    let msh: string[] | undefined;
    let pid: string[] | undefined;
    const obx3_1: string[] = [];
    const obx5: string[] = [];
    for (const f of segs) {
      const name = f[0];
      if (name === 'OBX') {
        obx3_1.push((f[3] ?? '').split('~')[0]!.split('^')[0]!);
        obx5.push(f[5] ?? '');
      } else if (name === 'MSH') msh ??= f;
      else if (name === 'PID') pid ??= f;
    }
    // MSH-n is index n-1 (MSH-1 is the separator itself); other segments index n.
    const msh9 = (msh?.[8] ?? '').split('^');
    const pid5 = (pid?.[5] ?? '').split('~')[0]!.split('^');
    return {
      msh9_1: msh9[0] ?? '',
      msh9_2: msh9[1] ?? '',
      msh10: msh?.[9] ?? '',
      pid3_1: (pid?.[3] ?? '').split('~')[0]!.split('^')[0]!,
      pid5_1: pid5[0] ?? '',
      pid5_2: pid5[1] ?? '',
      pid7: pid?.[7] ?? '',
      obx3_1,
      obx5,
    };
  },
};

// ---- ours --------------------------------------------------------------------

const ours: CodecImpl = {
  id: 'sluice',
  label: 'sluice parseHl7 + get()',
  parse: (text) => parseHl7(text),
  read(text) {
    const m = parseHl7(text);
    const obx3_1: string[] = [];
    const obx5: string[] = [];
    const n = m.all('OBX').length;
    for (let i = 1; i <= n; i++) {
      obx3_1.push(m.get(`OBX[${i}]-3.1`));
      obx5.push(m.get(`OBX[${i}]-5`));
    }
    return {
      msh9_1: m.get('MSH-9.1'),
      msh9_2: m.get('MSH-9.2'),
      msh10: m.get('MSH-10'),
      pid3_1: m.get('PID-3.1'),
      pid5_1: m.get('PID-5.1'),
      pid5_2: m.get('PID-5.2'),
      pid7: m.get('PID-7'),
      obx3_1,
      obx5,
    };
  },
};

// ---- simple-hl7 ----------------------------------------------------------------

const simpleParser = new simpleHl7.Parser();

const simple: CodecImpl = {
  id: 'simple-hl7',
  label: 'simple-hl7 3.3 Parser',
  parse: (text) => simpleParser.parse(text),
  read(text) {
    const m = simpleParser.parse(text);
    const h = m.header; // header.getField(n) is MSH-(n+2)
    const pid = m.getSegment('PID');
    const obx3_1: string[] = [];
    const obx5: string[] = [];
    for (const s of m.getSegments('OBX')) {
      obx3_1.push(s.getComponent(3, 1));
      obx5.push(s.getField(5));
    }
    return {
      msh9_1: h.getComponent(7, 1),
      msh9_2: h.getComponent(7, 2),
      msh10: h.getField(8),
      pid3_1: pid?.getComponent(3, 1) ?? '',
      pid5_1: pid?.getComponent(5, 1) ?? '',
      pid5_2: pid?.getComponent(5, 2) ?? '',
      pid7: pid?.getField(7) ?? '',
      obx3_1,
      obx5,
    };
  },
};

// ---- @medplum/core ---------------------------------------------------------------

const medplum: CodecImpl = {
  id: 'medplum',
  label: '@medplum/core 4.5 Hl7Message',
  parse: (text) => MedplumMessage.parse(text),
  read(text) {
    const m = MedplumMessage.parse(text);
    const msh = m.getSegment('MSH');
    const pid = m.getSegment('PID');
    const obx3_1: string[] = [];
    const obx5: string[] = [];
    for (const s of m.getAllSegments('OBX')) {
      obx3_1.push(s.getField(3)?.getComponent(1) ?? '');
      obx5.push(s.getField(5)?.toString() ?? '');
    }
    return {
      msh9_1: msh?.getField(9)?.getComponent(1) ?? '',
      msh9_2: msh?.getField(9)?.getComponent(2) ?? '',
      msh10: msh?.getField(10)?.toString() ?? '',
      pid3_1: pid?.getField(3)?.getComponent(1) ?? '',
      pid5_1: pid?.getField(5)?.getComponent(1) ?? '',
      pid5_2: pid?.getField(5)?.getComponent(2) ?? '',
      pid7: pid?.getField(7)?.toString() ?? '',
      obx3_1,
      obx5,
    };
  },
};

// ---- node-hl7-client -------------------------------------------------------------

const nhc: CodecImpl = {
  id: 'node-hl7-client',
  label: 'node-hl7-client 3.2 Message',
  parse: (text) => new NhcMessage({ text }),
  read(text) {
    const m = new NhcMessage({ text });
    const obx3_1: string[] = [];
    const obx5: string[] = [];
    // An absent segment is an EmptyNode whose forEach throws; toArray() is [] there.
    for (const s of m.get('OBX').toArray()) {
      obx3_1.push(s.get('3.1').toString());
      obx5.push(s.get('5').toString());
    }
    return {
      msh9_1: m.get('MSH.9.1').toString(),
      msh9_2: m.get('MSH.9.2').toString(),
      msh10: m.get('MSH.10').toString(),
      pid3_1: m.get('PID.3.1').toString(),
      pid5_1: m.get('PID.5.1').toString(),
      pid5_2: m.get('PID.5.2').toString(),
      pid7: m.get('PID.7').toString(),
      obx3_1,
      obx5,
    };
  },
};

export const CODEC_IMPLS: readonly CodecImpl[] = [baseline, ours, simple, medplum, nhc];

/** Differences between what a reader returned and what is right; empty when all correct. */
export function checkValues(got: Values, want: Expected): string[] {
  const problems: string[] = [];
  const scalar: (keyof Expected)[] = ['msh9_1', 'msh9_2', 'msh10', 'pid3_1', 'pid5_1', 'pid5_2', 'pid7'];
  for (const k of scalar) {
    if (got[k] !== want[k]) problems.push(`${label(k)}: got ${JSON.stringify(got[k])}, want ${JSON.stringify(want[k])}`);
  }
  for (const k of ['obx3_1', 'obx5'] as const) {
    const g = got[k];
    const w = want[k];
    if (g.length !== w.length) { problems.push(`${label(k)}: got ${g.length} values, want ${w.length}`); continue; }
    const bad = w.map((v, i) => i).filter((i) => g[i] !== w[i]);
    if (bad.length > 0) {
      const i = bad[0]!;
      problems.push(`${label(k)}: ${bad.length}/${w.length} wrong, e.g. OBX[${i + 1}] got ${JSON.stringify(g[i])}, want ${JSON.stringify(w[i])}`);
    }
  }
  return problems;
}

function label(k: keyof Expected): string {
  const map: Record<keyof Expected, string> = {
    msh9_1: 'MSH-9.1', msh9_2: 'MSH-9.2', msh10: 'MSH-10', pid3_1: 'PID-3.1', pid5_1: 'PID-5.1', pid5_2: 'PID-5.2', pid7: 'PID-7',
    obx3_1: 'OBX-3.1', obx5: 'OBX-5',
  };
  return map[k];
}
