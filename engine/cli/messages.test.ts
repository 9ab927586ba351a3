import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { adt } from '../../test/helpers/channel.js';
import { tempDir } from '../../test/helpers/engine.js';
import { Capture } from '../../test/helpers/streams.js';
import { openStore } from '../store/index.js';
import { main } from './main.js';

const MIN = 60_000;
const ROOT = path.resolve(import.meta.dirname, '../..');
let config: string;
let dataDir: string;
let ids: Record<'c1' | 'c2' | 'c3', string>;

/** A sluice.yaml in a temp dir and a store holding three messages of two channels. */
beforeEach(async () => {
  const dir = await tempDir('sluice-cli-');
  config = path.join(dir, 'sluice.yaml');
  dataDir = path.join(dir, 'data');
  await mkdir(dataDir);
  await writeFile(config, 'dataDir: ./data\n');
  const store = await openStore({ dataDir });
  try {
    const now = Date.now();
    const base = { sourceKind: 'mllp', peer: '127.0.0.1:4000', sender: 'ADT^HOSP', messageType: 'ADT^A01' };
    const c1 = await store.receive({ ...base, channel: 'adt', receivedAt: now - 10 * MIN, controlId: 'C1', patientId: 'MRN1', raw: Buffer.from(adt('C1', 'MRN1')) });
    await store.saveContent(c1, 'transformed', adt('C1', 'MRN1').replace('|RCV|', '|ARCHIVE|'), 'x-application/hl7-v2+er7');
    await store.updateMessage(c1, { status: 'TRANSFORMED' }, { kind: 'transformed', detail: 'to out' });
    await store.saveContent(c1, 'response', 'MSH|^~\\&|ACK\rMSA|AA|C1\r', 'text/plain', 'out');
    await store.setDelivery(c1, 'out', { status: 'SENT', attempts: 2 }, { kind: 'sent', destination: 'out', detail: 'attempt 2' });
    await store.updateMessage(c1, { status: 'SENT' }, { kind: 'completed', detail: 'SENT' });
    const c2 = await store.receive({ ...base, channel: 'adt', receivedAt: now - 3 * 60 * MIN, controlId: 'C2', patientId: 'MRN2', raw: Buffer.from(adt('C2', 'MRN2')) });
    await store.updateMessage(c2, { status: 'ERROR', error: 'transform failed: boom' }, { kind: 'error', detail: 'transform failed: boom' });
    const c3 = await store.receive({ ...base, channel: 'lab', receivedAt: now - 2 * 24 * 60 * MIN, controlId: 'C3', patientId: 'MRN1', raw: Buffer.from(adt('C3', 'MRN1')) });
    ids = { c1, c2, c3 };
  } finally {
    await store.close();
  }
});

async function sluice(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const out = new Capture();
  const err = new Capture();
  const [action, ...rest] = args;
  const code = await main(['messages', action!, '--config', config, ...rest], { out, err });
  return { code, out: out.text, err: err.text };
}

/** Control ids of the rows `messages list` printed (header skipped). */
async function listed(...filters: string[]): Promise<string[]> {
  const r = await sluice('list', ...filters);
  expect(r.code).toBe(0);
  const [header, ...rows] = r.out.trimEnd().split('\n');
  expect(header).toBe('ID\tRECEIVED\tCHANNEL\tSTATUS\tTYPE\tCONTROL ID');
  return rows.filter(Boolean).map((row) => row.split('\t')[5]!).sort();
}

/** Stores `count` messages of one channel and status; their ids, oldest first. */
async function seed(count: number, fields: { channel: string; status: 'ERROR' | 'SENT' }): Promise<string[]> {
  const store = await openStore({ dataDir });
  try {
    const now = Date.now();
    const ids: string[] = [];
    // One at a time so ids (ULIDs) follow the order of the list; received_at is recent for all.
    for (let i = 0; i < count; i++) {
      ids.push(await store.receive({ ...fields, sourceKind: 'mllp', receivedAt: now - (count - i), controlId: `B${i}`, raw: Buffer.from(adt(`B${i}`, 'MRN9')) }));
    }
    return ids;
  } finally {
    await store.close();
  }
}

/** Status and reprocess count of each message, read in one store session. */
async function summaries(ids: string[]): Promise<Map<string, { status: string; reprocessCount: number }>> {
  const store = await openStore({ dataDir });
  try {
    const result = new Map<string, { status: string; reprocessCount: number }>();
    for (const id of ids) {
      const m = (await store.get(id))!;
      result.set(id, { status: m.status, reprocessCount: m.reprocessCount });
    }
    return result;
  } finally {
    await store.close();
  }
}

async function stored(id: string) {
  const store = await openStore({ dataDir });
  try {
    return (await store.get(id))!;
  } finally {
    await store.close();
  }
}

describe('sluice messages list', () => {
  it('lists every message with id, time, channel, status, type and control id', async () => {
    const r = await sluice('list');
    expect(r.code).toBe(0);
    const rows = r.out.trimEnd().split('\n').slice(1).map((l) => l.split('\t'));
    expect(rows).toHaveLength(3);
    const c1 = rows.find((row) => row[0] === ids.c1)!;
    expect(c1.slice(2)).toEqual(['adt', 'SENT', 'ADT^A01', 'C1']);
    expect(Date.now() - Date.parse(c1[1]!)).toBeGreaterThanOrEqual(10 * MIN - 1_000);
  });

  it('filters by channel, status, control id, patient and limit', async () => {
    expect(await listed('--channel', 'adt')).toEqual(['C1', 'C2']);
    expect(await listed('--channel', 'lab')).toEqual(['C3']);
    expect(await listed('--status', 'error')).toEqual(['C2']);
    expect(await listed('--status', 'RECEIVED')).toEqual(['C3']);
    expect(await listed('--control-id', 'C3')).toEqual(['C3']);
    expect(await listed('--patient', 'MRN1')).toEqual(['C1', 'C3']);
    expect(await listed('--patient', 'MRN1', '--channel', 'adt')).toEqual(['C1']);
    expect(await listed('--control-id', 'NOPE')).toEqual([]);
    expect(await listed('--limit', '1')).toHaveLength(1);
  });

  it('--since takes a duration or an ISO date', async () => {
    expect(await listed('--since', '1h')).toEqual(['C1']);
    expect(await listed('--since', '4h')).toEqual(['C1', 'C2']);
    expect(await listed('--since', new Date(Date.now() - 24 * 60 * MIN).toISOString())).toEqual(['C1', 'C2']);
    expect(await listed('--since', '2000-01-01')).toEqual(['C1', 'C2', 'C3']);
    const bad = await sluice('list', '--since', 'yesterday-ish');
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--since: expected a duration like 2h or an ISO date');
  });

  it('rejects an unknown status or action with exit 2', async () => {
    const r = await sluice('list', '--status', 'LOST');
    expect(r.code).toBe(2);
    expect(r.err).toContain('--status: expected one of RECEIVED, FILTERED, TRANSFORMED, QUEUED, SENT, ERROR');
    expect((await sluice('purge')).code).toBe(2);
  });
});

describe('sluice messages: what reading the store needs', () => {
  it('list and show need only the store settings: an admin block whose token is not at hand does not stop them; reprocess still reads it', async () => {
    await writeFile(config, 'dataDir: ./data\nadmin:\n  listen: 127.0.0.1:8765\n  tokens:\n    - { name: ops, role: operator, token: "${env:SLUICE_TEST_UNSET_ADMIN_TOKEN}" }\n');
    delete process.env.SLUICE_TEST_UNSET_ADMIN_TOKEN;
    const r = await sluice('list');
    expect(r.code).toBe(0);
    expect(r.out.trim().split('\n')).toHaveLength(4); // header + 3
    expect((await sluice('show', ids.c1)).code).toBe(0);
    const reprocess = await sluice('reprocess', ids.c1);
    expect(reprocess.code).toBe(1);
    expect(reprocess.err).toMatch(/SLUICE_TEST_UNSET_ADMIN_TOKEN is not set/);
  });

  it('show without ids or a filter is refused rather than printing every message', async () => {
    const r = await sluice('show');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/show needs message ids or a filter/);
    expect(r.out).toBe('');
  });

  it('a reader that goes away (| head) ends the command quietly', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'engine/cli/run.ts'), 'messages', 'list', '--config', config], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy(); // before the command writes its first line
    let err = '';
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(err).not.toMatch(/EPIPE|Error/);
    expect(code).toBe(0);
  });
});

describe('sluice messages show', () => {
  it('prints the message, its deliveries, events, raw text and stored contents', async () => {
    const r = await sluice('show', ids.c1);
    expect(r.code).toBe(0);
    expect(r.out).toContain(`id          ${ids.c1}\n`);
    expect(r.out).toContain('channel     adt\nstatus      SENT\n');
    expect(r.out).toMatch(/received {4}\S+Z from mllp 127\.0\.0\.1:4000\n/);
    expect(r.out).toContain('type        ADT^A01\ncontrol id  C1\nreprocessed 0\n');
    expect(r.out).toContain('delivery    out: SENT, 2 attempt(s)\n');
    for (const e of ['transformed to out', 'sent [out] attempt 2', 'completed SENT']) expect(r.out).toMatch(new RegExp(`event {7}\\S+Z ${e.replace(/[[\]]/g, '\\$&')}\n`));
    expect(r.out).toContain(`--- raw\n${adt('C1', 'MRN1').replace(/\r/g, '\n')}`);
    expect(r.out).toContain('--- transformed x-application/hl7-v2+er7\nMSH|^~\\&|ADT|HOSP|ARCHIVE|');
    expect(r.out).toContain('--- response (out) text/plain\nMSH|^~\\&|ACK\nMSA|AA|C1\n');
    expect(r.out).not.toContain('\r');
  });

  it('labels the contents of each reprocess run, after the first run\'s', async () => {
    const store = await openStore({ dataDir });
    try {
      await store.markForReprocess(ids.c1, 'fixed mapping');
      await store.saveContent(ids.c1, 'transformed', 'MSH|^~\\&|ADT|HOSP|ARCHIVE2|', 'x-application/hl7-v2+er7');
    } finally {
      await store.close();
    }
    const r = await sluice('show', ids.c1);
    expect(r.out).toContain('reprocessed 1\n');
    const first = r.out.indexOf('--- transformed x-application/hl7-v2+er7\nMSH|^~\\&|ADT|HOSP|ARCHIVE|');
    const second = r.out.indexOf('--- run 1: transformed x-application/hl7-v2+er7\nMSH|^~\\&|ADT|HOSP|ARCHIVE2|');
    expect(first).toBeGreaterThan(0);
    expect(second).toBeGreaterThan(first);
  });

  it('shows the error of a failed message', async () => {
    const r = await sluice('show', ids.c2);
    expect(r.out).toContain('status      ERROR (transform failed: boom)\n');
    expect(r.out).toContain('event ');
  });

  it('exits 1 for an unknown id, still printing the known ones', async () => {
    const r = await sluice('show', '01UNKNOWNUNKNOWNUNKNOWN000', ids.c3);
    expect(r.code).toBe(1);
    expect(r.out).toContain('01UNKNOWNUNKNOWNUNKNOWN000: not found\n');
    expect(r.out).toContain('control id  C3\n');
  });

  it('shows the messages a filter selects', async () => {
    const r = await sluice('show', '--channel', 'lab');
    expect(r.code).toBe(0);
    expect(r.out.match(/^id {10}/gm)).toHaveLength(1);
    expect(r.out).toContain(`id          ${ids.c3}\n`);
  });
});

describe('sluice messages reprocess', () => {
  it('marks a message RECEIVED, bumps reprocessCount, clears deliveries and records why', async () => {
    const r = await sluice('reprocess', ids.c1);
    expect(r.code).toBe(0);
    expect(r.out).toBe('1 message(s) marked for reprocessing; the engine picks them up when their channel (re)starts\n');
    const m = await stored(ids.c1);
    expect(m).toMatchObject({ status: 'RECEIVED', reprocessCount: 1, deliveries: [] });
    expect(m.events.at(-1)).toMatchObject({ kind: 'reprocess', detail: 'reprocess requested from the command line' });
    expect((await stored(ids.c2)).reprocessCount).toBe(0);
    // Now RECEIVED, waiting for its channel: in progress, so not marked again.
    const again = await sluice('reprocess', ids.c1);
    expect(again.code).toBe(1);
    expect(again.out).toContain(`${ids.c1}: refused: still in progress (RECEIVED)`);
    expect((await stored(ids.c1)).reprocessCount).toBe(1);
  });

  it('refuses an unfinished message (QUEUED: a running engine may be retrying it) and leaves its deliveries alone', async () => {
    const store = await openStore({ dataDir });
    try {
      await store.setDelivery(ids.c1, 'out', { status: 'QUEUED', attempts: 3 });
      await store.updateMessage(ids.c1, { status: 'QUEUED' });
    } finally {
      await store.close();
    }
    const r = await sluice('reprocess', ids.c1);
    expect(r.code).toBe(1);
    expect(r.out).toContain(`${ids.c1}: refused: still in progress (QUEUED)`);
    expect(await stored(ids.c1)).toMatchObject({ status: 'QUEUED', reprocessCount: 0, deliveries: [{ destination: 'out', status: 'QUEUED', attempts: 3 }] });
  });

  it('reprocesses what a filter selects, and nothing else', async () => {
    const r = await sluice('reprocess', '--status', 'ERROR');
    expect(r.out).toMatch(/^1 message\(s\) marked/);
    expect(await stored(ids.c2)).toMatchObject({ status: 'RECEIVED', reprocessCount: 1 });
    expect(await stored(ids.c1)).toMatchObject({ status: 'SENT', reprocessCount: 0 });
  });

  // The store's search returns 100 rows by default; a filter must still reach every match.
  it('reprocesses every match of a filter, not only the first 100', async () => {
    const bulk = await seed(150, { channel: 'bulk', status: 'ERROR' });
    const [sent] = await seed(1, { channel: 'bulk', status: 'SENT' });
    const r = await sluice('reprocess', '--channel', 'bulk', '--status', 'ERROR');
    expect(r.code).toBe(0);
    expect(r.out).toBe('150 message(s) marked for reprocessing; the engine picks them up when their channel (re)starts\n');
    const after = await summaries([...bulk, sent!, ids.c2]);
    for (const id of bulk) expect(after.get(id), id).toEqual({ status: 'RECEIVED', reprocessCount: 1 });
    expect(after.get(sent!)).toEqual({ status: 'SENT', reprocessCount: 0 });
    expect(after.get(ids.c2)).toEqual({ status: 'ERROR', reprocessCount: 0 }); // ERROR, but another channel
  });

  it('caps a filtered reprocess at --limit when given, newest first', async () => {
    const bulk = await seed(150, { channel: 'bulk', status: 'ERROR' });
    const r = await sluice('reprocess', '--channel', 'bulk', '--limit', '120');
    expect(r.out).toMatch(/^120 message\(s\) marked/);
    const after = await summaries(bulk);
    expect(bulk.filter((id) => after.get(id)!.reprocessCount === 1)).toEqual(bulk.slice(30));
  });

  it('accepts --since alone as a reprocess filter', async () => {
    const r = await sluice('reprocess', '--since', '1h');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^1 message\(s\) marked/);
    expect((await stored(ids.c1)).reprocessCount).toBe(1);
    expect((await stored(ids.c2)).reprocessCount).toBe(0);
    expect((await stored(ids.c3)).reprocessCount).toBe(0);
  });

  it('refuses to reprocess everything without ids or a filter', async () => {
    const r = await sluice('reprocess');
    expect(r.code).toBe(2);
    expect(r.err).toContain('reprocess needs message ids or a filter');
    expect((await stored(ids.c1)).reprocessCount).toBe(0);
  });

  // An unknown id is reported and skipped; the others are still marked.
  it('exits 1 for an unknown id and still marks the known ones', async () => {
    const r = await sluice('reprocess', '01UNKNOWNUNKNOWNUNKNOWN000', ids.c1);
    expect(r.code).toBe(1);
    expect(r.out + r.err).toContain('01UNKNOWNUNKNOWNUNKNOWN000');
    expect((await stored(ids.c1)).reprocessCount).toBe(1);
  });
});
