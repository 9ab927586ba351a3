import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { adt } from '../../test/helpers/channel.js';
import { FAST_QUEUE, httpPort, httpSink, messageOf, sleep, startEngine, tempDir, text, untilStatus } from '../../test/helpers/engine.js';
import { eventually } from '../../test/helpers/http-sink.js';
import { parseHl7 } from '../hl7/index.js';

const batch = (...ids: string[]): string =>
  ['FHS|^~\\&|ADT|HOSP|||20240101120000', 'BHS|^~\\&|ADT|HOSP|||20240101120000', ...ids.map((id) => adt(id, `MRN-${id}`).replace(/\r$/, '')), `BTS|${ids.length}`, 'FTS|1'].join('\r') + '\r';

const controlIds = (bodies: string[]): string[] => bodies.map((b) => parseHl7(b).controlId).sort();

async function hl7Files(dir: string): Promise<string[]> {
  return existsSync(dir) ? (await readdir(dir)).filter((n) => n.endsWith('.hl7')).sort() : [];
}

describe('file source', () => {
  it('reads single messages and a batch file, delivers every message and moves the files to processed/', async () => {
    const inbox = await tempDir('sluice-inbox-');
    const { sink, url } = await httpSink();
    await writeFile(path.join(inbox, 'a.hl7'), adt('S1', 'MRN1'));
    await writeFile(path.join(inbox, 'b.hl7'), adt('S2', 'MRN2').replace(/\r/g, '\r\n'));
    await writeFile(path.join(inbox, 'c.hl7'), batch('B1', 'B2', 'B3'));
    await writeFile(path.join(inbox, 'ignored.txt'), adt('T1', 'MRN9'));
    const engine = await startEngine({ source: { file: { dir: inbox, pollInterval: 30 } }, destinations: { out: { http: { url } } } });

    await eventually(() => sink.bodies.length === 5, 5_000, 'five deliveries');
    expect(controlIds(sink.bodies)).toEqual(['B1', 'B2', 'B3', 'S1', 'S2']);
    await eventually(async () => (await hl7Files(inbox)).length === 0, 5_000, 'inbox emptied');
    expect(await hl7Files(path.join(inbox, 'processed'))).toEqual(['a.hl7', 'b.hl7', 'c.hl7']);
    expect(await readFile(path.join(inbox, 'processed', 'c.hl7'), 'utf8')).toBe(batch('B1', 'B2', 'B3'));
    expect(existsSync(path.join(inbox, 'ignored.txt'))).toBe(true); // wrong suffix: left alone
    expect(existsSync(path.join(inbox, 'error'))).toBe(false);

    const b2 = await messageOf(engine.store, 'B2');
    expect(b2).toMatchObject({ sourceKind: 'file', peer: 'c.hl7', messageType: 'ADT^A01' });
    await untilStatus(engine.store, b2.id, 'SENT');
    expect(text((await engine.store.get(b2.id))!.raw)).toContain('PID|1||MRN-B2^^^HOSP^MR');
  });

  it('after: delete removes each file once its messages are stored', async () => {
    const inbox = await tempDir('sluice-inbox-');
    const { sink, url } = await httpSink();
    await writeFile(path.join(inbox, 'one.hl7'), adt('DEL1', 'MRN1'));
    await writeFile(path.join(inbox, 'two.hl7'), batch('DEL2', 'DEL3'));
    await startEngine({ source: { file: { dir: inbox, pollInterval: 30, after: 'delete' } }, destinations: { out: { http: { url } } } });
    await eventually(() => sink.bodies.length === 3, 5_000, 'three deliveries');
    await eventually(async () => (await readdir(inbox)).length === 0, 5_000, 'files deleted');
    expect(existsSync(path.join(inbox, 'processed'))).toBe(false);
  });

  it('moves a file with an unparsable message to error/, stores that message as ERROR and still delivers the good one', async () => {
    const inbox = await tempDir('sluice-inbox-');
    const { sink, url } = await httpSink();
    const bad = 'MSH|^~\\&|ADT|HOSP|||20240101||ADT^A01|BAD1|P|2.5.1\rGARBAGE LINE\r';
    await writeFile(path.join(inbox, 'mixed.hl7'), adt('GOOD1', 'MRN1') + bad);
    await writeFile(path.join(inbox, 'junk.hl7'), 'this is not HL7 at all\n');
    const engine = await startEngine({ source: { file: { dir: inbox, pollInterval: 30 } }, destinations: { out: { http: { url } } } });

    await eventually(async () => (await hl7Files(path.join(inbox, 'error'))).length === 2, 5_000, 'files in error/');
    expect(await hl7Files(path.join(inbox, 'error'))).toEqual(['junk.hl7', 'mixed.hl7']);
    expect(await hl7Files(path.join(inbox, 'processed'))).toEqual([]);
    await eventually(() => sink.bodies.length === 1, 5_000, 'the good message delivered');
    expect(parseHl7(sink.bodies[0]!).controlId).toBe('GOOD1');

    const errors = await engine.store.search({ channel: 'test', status: 'ERROR' });
    expect(errors).toHaveLength(2);
    const raws = await Promise.all(errors.map(async (m) => ({ m, raw: text((await engine.store.get(m.id))!.raw) })));
    const badOne = raws.find((r) => r.raw.includes('GARBAGE LINE'))!;
    expect(badOne.raw).toBe(bad);
    expect(badOne.m.error).toContain('not a valid HL7 v2 message');
    expect(badOne.m.controlId).toBe('mixed.hl7#2'); // unparsable: the source's own id
    expect(raws.find((r) => r.raw.includes('not HL7 at all'))).toBeDefined();
    await sleep(100);
    expect(sink.bodies).toHaveLength(1);
  });

  it('loses nothing while the destination is down: files leave once stored, messages are delivered when it returns', async () => {
    const inbox = await tempDir('sluice-inbox-');
    const { sink, url } = await httpSink();
    let down = true;
    sink.respond = () => ({ status: down ? 503 : 200 });
    await writeFile(path.join(inbox, 'q1.hl7'), adt('Q1', 'MRN1'));
    await writeFile(path.join(inbox, 'q2.hl7'), batch('Q2', 'Q3'));
    const engine = await startEngine({ source: { file: { dir: inbox, pollInterval: 30 } }, destinations: { out: { http: { url }, queue: FAST_QUEUE } } });

    await eventually(async () => (await engine.store.search({ channel: 'test', status: 'QUEUED' })).length === 3, 5_000, 'three QUEUED');
    await eventually(async () => (await hl7Files(path.join(inbox, 'processed'))).length === 2, 5_000, 'files processed');
    expect(sink.requests).toBeGreaterThanOrEqual(3);
    expect(sink.bodies).toHaveLength(0);

    down = false;
    await eventually(() => sink.bodies.length === 3, 5_000, 'deliveries after recovery');
    expect(controlIds(sink.bodies)).toEqual(['Q1', 'Q2', 'Q3']);
    for (const id of ['Q1', 'Q2', 'Q3']) await untilStatus(engine.store, (await messageOf(engine.store, id)).id, 'SENT');
  });

  it('keeps an earlier processed file when a new file of the same name arrives', async () => {
    const inbox = await tempDir('sluice-inbox-');
    const { sink, url } = await httpSink();
    await startEngine({ source: { file: { dir: inbox, pollInterval: 20 } }, destinations: { out: { http: { url } } } });
    await writeFile(path.join(inbox, 'adt.hl7'), adt('N1', 'MRN1'));
    await eventually(async () => (await hl7Files(path.join(inbox, 'processed'))).length === 1, 5_000, 'first file processed');
    await writeFile(path.join(inbox, 'adt.hl7'), adt('N2', 'MRN2'));
    await eventually(async () => (await hl7Files(path.join(inbox, 'processed'))).length === 2, 5_000, 'second file processed');
    const kept = await Promise.all((await hl7Files(path.join(inbox, 'processed'))).map((n) => readFile(path.join(inbox, 'processed', n), 'utf8')));
    expect(kept.map((t) => parseHl7(t).controlId).sort()).toEqual(['N1', 'N2']);
    await eventually(() => sink.bodies.length === 2, 5_000, 'both delivered');
  });

  it.skipIf(!existsSync('/dev/shm'))('moves files to a directory on another file system', async () => {
    const inbox = await tempDir('sluice-inbox-');
    const elsewhere = await mkdtemp('/dev/shm/sluice-processed-');
    try {
      const { sink, url } = await httpSink();
      const engine = await startEngine({ source: { file: { dir: inbox, pollInterval: 20, moveTo: elsewhere } }, destinations: { out: { http: { url } } } });
      await writeFile(path.join(inbox, 'x.hl7'), adt('X1', 'MRN1'));
      await eventually(async () => (await hl7Files(elsewhere)).length === 1 && (await hl7Files(inbox)).length === 0, 5_000, 'file moved across file systems');
      expect(await readFile(path.join(elsewhere, 'x.hl7'), 'utf8')).toBe(adt('X1', 'MRN1'));
      await sleep(100);
      expect(await engine.store.search({ channel: 'test', controlId: 'X1' })).toHaveLength(1);
      expect(sink.bodies).toHaveLength(1);
    } finally {
      await rm(elsewhere, { recursive: true, force: true });
    }
  });

  it('waits for a file still being written (settle) instead of storing it cut short', async () => {
    const inbox = await tempDir('sluice-inbox-');
    const { sink, url } = await httpSink();
    const engine = await startEngine({ source: { file: { dir: inbox, pollInterval: 20, settle: 400 } }, destinations: { out: { http: { url } } } });
    const whole = adt('HALF1', 'MRN1');
    const cut = whole.indexOf('PID|') + 10;
    await writeFile(path.join(inbox, 'slow.hl7'), whole.slice(0, cut));
    await sleep(150); // several polls see it, each within settle of its last write
    await writeFile(path.join(inbox, 'slow.hl7'), whole.slice(cut), { flag: 'a' });
    await eventually(() => sink.bodies.length === 1, 5_000, 'one delivery');
    const m = await messageOf(engine.store, 'HALF1');
    expect(text((await engine.store.get(m.id))!.raw)).toBe(whole);
    expect(await hl7Files(path.join(inbox, 'processed'))).toEqual(['slow.hl7']);
  });

  it('an empty file, or a batch envelope holding no message, is stored as ERROR and moved to error/, not dropped in silence', async () => {
    const inbox = await tempDir('sluice-inbox-');
    const { url } = await httpSink();
    await writeFile(path.join(inbox, 'empty.hl7'), '');
    await writeFile(path.join(inbox, 'envelope.hl7'), 'FHS|^~\\&|LAB\rBHS|^~\\&|LAB\rBTS|0\rFTS|1\r');
    const engine = await startEngine({ source: { file: { dir: inbox, pollInterval: 20, settle: 0 } }, destinations: { out: { http: { url } } } });
    await eventually(async () => (await hl7Files(path.join(inbox, 'error'))).length === 2, 5_000, 'both in error/');
    const stored = await engine.store.search({ status: 'ERROR' });
    expect(stored.map((m) => m.peer).sort()).toEqual(['empty.hl7', 'envelope.hl7']);
    expect(stored.every((m) => /not a valid HL7 v2 message/.test(m.error ?? ''))).toBe(true);
  });

  it('takes a file in once even when it cannot be moved away afterwards', async () => {
    const inbox = await tempDir('sluice-inbox-');
    const notADir = path.join(inbox, 'blocker');
    await writeFile(notADir, 'a file where the processed directory should be');
    const { sink, url } = await httpSink();
    const engine = await startEngine({
      source: { file: { dir: inbox, pollInterval: 20, moveTo: path.join(notADir, 'processed') } },
      duplicates: { enabled: false, window: 0 },
      destinations: { out: { http: { url } } },
    });
    await writeFile(path.join(inbox, 'stuck.hl7'), adt('ST1', 'MRN1'));
    await eventually(() => sink.bodies.length === 1, 5_000, 'delivered once');
    await sleep(250); // a dozen polls
    expect(await engine.store.search({ channel: 'test', controlId: 'ST1' })).toHaveLength(1);
    expect(sink.bodies).toHaveLength(1);
    expect(await hl7Files(inbox)).toEqual(['stuck.hl7']);
  });

  it('leaves a file in place while its messages cannot be stored', async () => {
    const inbox = await tempDir('sluice-inbox-');
    const { url } = await httpSink();
    const engine = await startEngine({ source: { file: { dir: inbox, pollInterval: 20 } }, destinations: { out: { http: { url } } } });
    await engine.store.close();
    await writeFile(path.join(inbox, 'keep.hl7'), adt('K1', 'MRN1'));
    await sleep(200); // several polls
    expect(await hl7Files(inbox)).toEqual(['keep.hl7']);
    expect(existsSync(path.join(inbox, 'error'))).toBe(false);
    expect(existsSync(path.join(inbox, 'processed'))).toBe(false);
  });
});

describe('http source', () => {
  async function httpChannel(opts: Record<string, unknown> = {}) {
    const { sink, url } = await httpSink();
    const engine = await startEngine({ source: { http: { port: 0, path: '/hl7', ...opts } }, destinations: { out: { http: { url } } } });
    return { engine, sink, base: `http://127.0.0.1:${httpPort(engine)}` };
  }

  it('POST stores the message and answers 200 with an AA ACK and the message id', async () => {
    const { engine, sink, base } = await httpChannel();
    const res = await fetch(`${base}/hl7`, { method: 'POST', body: adt('H1', 'MRN1'), headers: { 'content-type': 'x-application/hl7-v2+er7' } });
    expect(res.status).toBe(200);
    const ack = parseHl7(await res.text());
    expect(ack.get('MSA-1')).toBe('AA');
    expect(ack.get('MSA-2')).toBe('H1');
    const id = res.headers.get('x-sluice-message-id');
    expect(id).toBeTruthy();
    const stored = await engine.store.get(id!);
    expect(stored).toMatchObject({ controlId: 'H1', sourceKind: 'http' });
    expect(stored!.peer).toMatch(/^(::ffff:)?127\.0\.0\.1:\d+$/);
    await untilStatus(engine.store, id!, 'SENT');
    expect(sink.bodies).toHaveLength(1);
  });

  it('answers garbage with 422 and an AR, and stores it as ERROR', async () => {
    const { engine, sink, base } = await httpChannel();
    const res = await fetch(`${base}/hl7`, { method: 'POST', body: 'hello, not hl7' });
    expect(res.status).toBe(422);
    expect(await res.text()).toContain('MSA|AR');
    const id = res.headers.get('x-sluice-message-id')!;
    expect(await engine.store.get(id)).toMatchObject({ status: 'ERROR' });
    expect(text((await engine.store.get(id))!.raw)).toBe('hello, not hl7');
    expect(sink.requests).toBe(0);
  });

  it('404 on another path, 405 for GET', async () => {
    const { engine, base } = await httpChannel();
    const wrong = await fetch(`${base}/other`, { method: 'POST', body: adt('H2', 'MRN1') });
    expect(wrong.status).toBe(404);
    const get = await fetch(`${base}/hl7`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect(await engine.store.search({ channel: 'test' })).toHaveLength(0);
  });

  it('answers 413 to a body over maxBodyBytes, stores nothing, and keeps serving', async () => {
    const { engine, base } = await httpChannel({ maxBodyBytes: 1_000 });
    for (const size of [2_000, 200_000]) {
      const res = await fetch(`${base}/hl7`, { method: 'POST', body: adt('BIG', 'MRN1', 'X'.repeat(size)) });
      expect(res.status).toBe(413);
      await res.text();
    }
    expect(await engine.store.search({ channel: 'test' })).toHaveLength(0);
    const ok = await fetch(`${base}/hl7`, { method: 'POST', body: adt('SMALL', 'MRN1') });
    expect(ok.status).toBe(200);
  });

  it('answers 503 with an AE when the store cannot take the message', async () => {
    const { engine, base } = await httpChannel();
    await engine.store.close();
    const res = await fetch(`${base}/hl7`, { method: 'POST', body: adt('H3', 'MRN1') });
    expect(res.status).toBe(503);
    expect(res.headers.get('x-sluice-message-id')).toBeNull();
    const ack = parseHl7(await res.text());
    expect(ack.get('MSA-1')).toBe('AE');
    expect(ack.get('MSA-2')).toBe('H3');
  });
});
