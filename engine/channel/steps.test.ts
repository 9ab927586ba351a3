import { describe, expect, it } from 'vitest';
import { adt } from '../../test/helpers/channel.js';
import { httpSink, messageOf, mllpPort, mllpSender, startEngine, untilStatus } from '../../test/helpers/engine.js';
import { parseHl7, type Hl7Message } from '../hl7/index.js';
import type { MessageDetail, MessageStatus } from '../store/types.js';

/**
 * Runs `messages` through a channel with these steps: MLLP in, HTTP out, respondFrom
 * delivered (so each ACK comes back after the steps and the delivery).
 */
async function through(steps: Record<string, unknown>[], ...messages: string[]) {
  const { sink, url } = await httpSink();
  const engine = await startEngine({ source: { mllp: { port: 0 } }, respondFrom: 'delivered', steps, destinations: { out: { http: { url } } } });
  const sender = mllpSender(mllpPort(engine));
  const acks = [];
  for (const m of messages) acks.push(await sender.send(m));
  const final = async (controlId: string, status: MessageStatus): Promise<MessageDetail> => untilStatus(engine.store, (await messageOf(engine.store, controlId)).id, status);
  const delivered = (): Hl7Message[] => sink.bodies.map((b) => parseHl7(b));
  return { engine, acks, final, delivered, sink };
}

/** The warning count the 'transformed' event records ("to out; 2 warning(s)"); no event means none. */
function warnings(detail: MessageDetail): number {
  const e = detail.events.find((x) => x.kind === 'transformed');
  return e ? Number(/(\d+) warning/.exec(e.detail ?? '')?.[1]) : 0;
}

describe('copy, delete, set', () => {
  it('copies a value, empties another and sets a third, in order', async () => {
    const { acks, delivered, final } = await through(
      [{ copy: { from: 'PID-3[1].1', to: 'PID-2.1' } }, { delete: { path: 'PID-8' } }, { set: { path: 'MSH-5', value: 'A&B' } }, { copy: { from: 'MSH-5', to: 'MSH-6' } }, { copy: { from: 'PID-5', to: 'PID-9' } }],
      adt('C1', 'MRN-77'),
    );
    expect(acks[0]!.code).toBe('AA');
    const [m] = delivered();
    expect(m!.get('PID-2.1')).toBe('MRN-77');
    expect(m!.get('PID-3.1')).toBe('MRN-77');
    expect(m!.get('PID-8')).toBe('');
    expect(m!.get('PID-7')).toBe('19800101');
    expect(m!.get('MSH-5')).toBe('A&B'); // escaped on write, decoded on read
    expect(m!.getRaw('MSH-6')).toBe(m!.getRaw('MSH-5')); // copied encoded, not double-escaped
    expect([m!.get('PID-9.1'), m!.get('PID-9.2')]).toEqual(['DOE', 'JANE']); // components stay components
    const detail = await final('C1', 'SENT');
    // Without warnings the route is in the delivery rows, not in a 'transformed' event.
    expect(detail.events.map((e) => e.kind)).not.toContain('transformed');
    expect(detail.deliveries.map((d) => d.destination)).toEqual(['out']);
  });
});

describe('map', () => {
  const table = { I: 'IMP', O: 'AMB' };

  it('maps in place, or to another path leaving the source alone', async () => {
    const { delivered } = await through([{ map: { path: 'PV1-2', table, to: 'PV1-18' } }, { map: { path: 'PV1-2', table } }], adt('M1', 'MRN1'));
    expect(delivered()[0]!.get('PV1-18')).toBe('IMP');
    expect(delivered()[0]!.get('PV1-2')).toBe('IMP');
  });

  it('uses the default for a value not in the table', async () => {
    const { delivered, final } = await through([{ map: { path: 'PV1-2', table, default: 'UNK', unmapped: 'error' } }], adt('M2', 'MRN1').replace('PV1|1|I|', 'PV1|1|X|'));
    expect(delivered()[0]!.get('PV1-2')).toBe('UNK');
    expect(warnings(await final('M2', 'SENT'))).toBe(0);
  });

  it('does not take a code from the prototype chain as mapped', async () => {
    const { delivered } = await through([{ map: { path: 'PV1-2', table, default: 'UNK' } }], adt('M3', 'MRN1').replace('PV1|1|I|', 'PV1|1|constructor|'));
    expect(delivered()[0]!.get('PV1-2')).toBe('UNK');
  });

  it('unmapped: keep leaves the value, warn leaves it with a warning', async () => {
    const odd = (id: string): string => adt(id, 'MRN1').replace('PV1|1|I|', 'PV1|1|Z|');
    const keep = await through([{ map: { path: 'PV1-2', table, unmapped: 'keep' } }], odd('K1'));
    expect(keep.delivered()[0]!.get('PV1-2')).toBe('Z');
    expect(warnings(await keep.final('K1', 'SENT'))).toBe(0);
    const warn = await through([{ map: { path: 'PV1-2', table, unmapped: 'warn' } }, { map: { path: 'PV1-4', table, unmapped: 'warn' } }], odd('W1'));
    expect(warn.delivered()[0]!.get('PV1-2')).toBe('Z');
    expect(warnings(await warn.final('W1', 'SENT'))).toBe(1); // PV1-4 is empty: nothing to warn about
  });

  it('unmapped: filter drops the message as FILTERED; mapped ones still go', async () => {
    const { delivered, final, acks } = await through([{ map: { path: 'PV1-2', table, unmapped: 'filter' } }], adt('F1', 'MRN1').replace('PV1|1|I|', 'PV1|1|Z|'), adt('F2', 'MRN2'));
    expect(acks.map((a) => a.code)).toEqual(['AA', 'AA']);
    const f1 = await final('F1', 'FILTERED');
    expect(f1.events.find((e) => e.kind === 'filtered')!.detail).toBe('step map#1');
    expect(f1.deliveries).toEqual([]);
    expect(delivered().map((m) => m.controlId)).toEqual(['F2']);
  });

  it('unmapped: error makes the message ERROR with the reason, and answers AE', async () => {
    const { delivered, final, acks } = await through([{ map: { path: 'PV1-2', table, unmapped: 'error' } }], adt('E1', 'MRN1').replace('PV1|1|I|', 'PV1|1|Z|'));
    expect(acks[0]!.code).toBe('AE');
    const detail = await final('E1', 'ERROR');
    expect(detail.error).toBe('transform failed: map: no mapping for the value at PV1-2');
    expect(delivered()).toEqual([]);
  });
});

describe('script', () => {
  it('JavaScript edits the message; return false filters it', async () => {
    const code = "if (msg.get('PV1-2') === 'O') return false;\nmsg.set('PV1-3.1', 'WARD-' + msg.get('PV1-3.1'));";
    const { delivered, final } = await through([{ script: { code } }], adt('J1', 'MRN1'), adt('J2', 'MRN2').replace('PV1|1|I|', 'PV1|1|O|'));
    expect(delivered().map((m) => m.get('PV1-3.1'))).toEqual(['WARD-WARD']);
    expect((await final('J2', 'FILTERED')).events.find((e) => e.kind === 'filtered')!.detail).toBe('step script#1');
    await final('J1', 'SENT');
  });

  it('TypeScript compiles and runs', async () => {
    const code = 'const ward: string = msg.get("PV1-3.1") as string;\nconst up = (s: string): string => s.toLowerCase();\nmsg.set("PV1-3.1", up(ward));';
    const { delivered } = await through([{ script: { code, lang: 'ts' } }], adt('T1', 'MRN1'));
    expect(delivered()[0]!.get('PV1-3.1')).toBe('ward');
  });

  it('warn() is counted in the transformed event', async () => {
    const code = "warn('w1', 'first'); warn('w2', 'second');";
    const { final } = await through([{ script: { code } }, { script: { code: "warn('w3', 'third')" } }], adt('W1', 'MRN1'));
    const detail = await final('W1', 'SENT');
    expect(warnings(detail)).toBe(3);
    expect(detail.events.find((e) => e.kind === 'transformed')!.detail).toBe('to out; 3 warning(s)');
  });

  it('a throwing script makes the message ERROR with the error text', async () => {
    const { final, acks, delivered } = await through([{ script: { code: "throw new Error('no ward for ' + msg.controlId)" } }], adt('X1', 'MRN1'));
    expect(acks[0]!.code).toBe('AE');
    const detail = await final('X1', 'ERROR');
    expect(detail.error).toBe('transform failed: script failed in script: no ward for X1');
    expect(detail.events.find((e) => e.kind === 'error')!.detail).toContain('no ward for X1');
    expect(delivered()).toEqual([]);
  });

  it('an endless loop times out, the message is ERROR, and the next message still goes through', async () => {
    const code = "if (msg.controlId === 'L1') { for (;;) {} }";
    const started = Date.now();
    const { final, delivered, acks } = await through([{ script: { code, timeout: 50 } }], adt('L1', 'MRN1'), adt('L2', 'MRN2'));
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(acks.map((a) => a.code)).toEqual(['AE', 'AA']);
    expect((await final('L1', 'ERROR')).error).toMatch(/timed out after 50ms/);
    expect(delivered().map((m) => m.controlId)).toEqual(['L2']);
  });

  it('cannot see process, require or the host global, nor build code from strings', async () => {
    const probe = "msg.set('PV1-19', [typeof process, typeof require, typeof globalThis.process, typeof setTimeout].join('-'));";
    const { delivered } = await through([{ script: { code: probe } }], adt('P1', 'MRN1'));
    expect(delivered()[0]!.get('PV1-19')).toBe('undefined-undefined-undefined-undefined');
    const viaGlobal = await through([{ script: { code: "this.constructor.constructor('return process')()" } }], adt('P2', 'MRN1'));
    expect((await viaGlobal.final('P2', 'ERROR')).error).toContain('Code generation from strings disallowed');
  });

  // No host object enters the script context (engine/channel/script.ts), so the
  // constructor chain of msg/warn/env stays inside the sandbox.
  it('cannot reach process through the host objects it is given', async () => {
    const escape = "const P = msg.constructor.constructor('return process')(); msg.set('PV1-19', String(P.pid));";
    const { acks, delivered } = await through([{ script: { code: escape } }], adt('P3', 'MRN1'));
    expect(delivered().map((m) => m.get('PV1-19'))).toEqual([]);
    expect(acks[0]!.code).toBe('AE');
  });
});

describe('script sandbox: other ways out', () => {
  for (const [what, code] of [
    ['warn.constructor', "warn.constructor('return process')()"],
    ['msg.get.constructor', "msg.get.constructor('return process')()"],
    ['env.constructor', "env.constructor.constructor('return process')()"],
    ['an error from the host', "try { msg.get('not a path') } catch (e) { e.constructor.constructor('return process')() }"],
  ] as const) {
    it(`blocks ${what}`, async () => {
      const { acks, delivered } = await through([{ script: { code } }], adt(`S-${what.length}`, 'MRN1'));
      expect(delivered()).toEqual([]);
      expect(acks[0]!.code).toBe('AE');
    });
  }
});
