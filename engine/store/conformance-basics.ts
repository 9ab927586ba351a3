import { beforeEach, describe, expect, it } from 'vitest';
import { msg, useStore, BINARY, type StoreHarness } from './conformance-kit.js';
import { MessageNotFoundError } from './rows.js';
import type { NewMessage } from './types.js';

export function describeBasics(harness: StoreHarness): void {
  const t = useStore(harness);

  describe('receive and get', () => {
    it('round-trips every field and the raw bytes exactly', async () => {
      const id = await t.store.receive(msg());
      expect(id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
      const got = await t.store.get(id);
      expect(got).toMatchObject({
        id, channel: 'adt', receivedAt: 1_700_000_000_000, status: 'RECEIVED', sourceKind: 'mllp', peer: '10.0.0.7:40001',
        controlId: 'CTRL1', sender: 'LAB^HOSP', messageType: 'ORU^R01', orderingKey: 'MRN12345', reprocessCount: 0,
        deliveries: [], contents: [], events: [],
      });
      expect(Buffer.from(got!.raw).equals(BINARY)).toBe(true);
      expect(got!.updatedAt).toBeGreaterThan(0);
      expect(got).not.toHaveProperty('duplicateOf');
      expect(got).not.toHaveProperty('error');
    });

    it('stores optional fields as absent, and ids increase in call order', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push(await t.store.receive({ channel: 'x', receivedAt: 1, sourceKind: 'file', raw: new Uint8Array() }));
      expect([...ids].sort()).toEqual(ids);
      const got = await t.store.get(ids[0]!);
      expect(got).toMatchObject({ channel: 'x', status: 'RECEIVED' });
      for (const key of ['peer', 'controlId', 'sender', 'messageType', 'orderingKey']) expect(got).not.toHaveProperty(key);
      expect(got!.raw.length).toBe(0);
      expect(await t.store.get('01ARZ3NDEKTSV4RRFFQ69G5FAV')).toBeUndefined();
    });

    it('keeps an initial status and error; a duplicate defaults to FILTERED', async () => {
      const bad = await t.store.receive(msg({ status: 'ERROR', error: 'MSH missing' }));
      expect(await t.store.get(bad)).toMatchObject({ status: 'ERROR', error: 'MSH missing' });
      const dup = await t.store.receive(msg({ duplicateOf: bad }));
      expect(await t.store.get(dup)).toMatchObject({ status: 'FILTERED', duplicateOf: bad });
    });

    it('finds duplicates by channel, sender and control id within the window', async () => {
      const first = await t.store.receive(msg({ receivedAt: 1000 }));
      await t.store.receive(msg({ receivedAt: 1000, controlId: 'OTHER' }));
      expect(await t.store.findDuplicate('adt', 'LAB^HOSP', 'CTRL1', 1000)).toBe(first);
      expect(await t.store.findDuplicate('adt', 'LAB^HOSP', 'CTRL1', 1001)).toBeUndefined();
      expect(await t.store.findDuplicate('lab', 'LAB^HOSP', 'CTRL1', 0)).toBeUndefined();
      expect(await t.store.findDuplicate('adt', 'OTHER^FAC', 'CTRL1', 0)).toBeUndefined();
      expect(await t.store.findDuplicate('adt', 'LAB^HOSP', 'NONE', 0)).toBeUndefined();
      // A later duplicate inside the window points at the original, even when that is older.
      await t.store.receive(msg({ receivedAt: 5000, duplicateOf: first }));
      expect(await t.store.findDuplicate('adt', 'LAB^HOSP', 'CTRL1', 4000)).toBe(first);
      // Two originals (the first was answered AE and resent): the newer one.
      const second = await t.store.receive(msg({ receivedAt: 6000 }));
      expect(await t.store.findDuplicate('adt', 'LAB^HOSP', 'CTRL1', 0)).toBe(second);
    });
  });

  describe('updates', () => {
    it('patches a message, keeps what the patch leaves out and records the event', async () => {
      const id = await t.store.receive(msg());
      const before = Date.now();
      await t.store.updateMessage(id, { status: 'ERROR', error: 'boom', messageType: 'ADT^A08', orderingKey: 'K2' },
        { kind: 'error', detail: 'transform threw' });
      let got = await t.store.get(id);
      expect(got).toMatchObject({ status: 'ERROR', error: 'boom', messageType: 'ADT^A08', orderingKey: 'K2', controlId: 'CTRL1' });
      expect(got!.updatedAt).toBeGreaterThanOrEqual(before);
      expect(got!.events).toEqual([{ at: expect.any(Number), kind: 'error', detail: 'transform threw' }]);
      expect(got!.events[0]!.at).toBeGreaterThanOrEqual(before);
      await t.store.updateMessage(id, { status: 'TRANSFORMED' });
      expect(await t.store.get(id)).toMatchObject({ status: 'TRANSFORMED', error: 'boom' });
      await t.store.updateMessage(id, { error: null, patientId: 'MRN999' });
      got = await t.store.get(id);
      expect(got).not.toHaveProperty('error');
      expect((await t.store.search({ patientId: 'MRN999' })).map((m) => m.id)).toEqual([id]);
      expect(await t.store.search({ patientId: 'MRN12345' })).toEqual([]);
    });

    it('rejects writes naming an unknown message', async () => {
      const missing = '01ARZ3NDEKTSV4RRFFQ69G5FAV';
      await expect(t.store.updateMessage(missing, { status: 'SENT' })).rejects.toBeInstanceOf(MessageNotFoundError);
      await expect(t.store.saveContent(missing, 'raw', 'x', 'text/plain')).rejects.toBeInstanceOf(MessageNotFoundError);
      await expect(t.store.setDelivery(missing, 'd', { status: 'QUEUED' })).rejects.toBeInstanceOf(MessageNotFoundError);
      await expect(t.store.markForReprocess(missing)).rejects.toBeInstanceOf(MessageNotFoundError);
    });

    it('saves contents per stage and destination; saving again replaces', async () => {
      const id = await t.store.receive(msg());
      await t.store.saveContent(id, 'transformed', '{"resourceType":"Bundle"}', 'application/fhir+json');
      await t.store.saveContent(id, 'encoded', Buffer.from([0, 1, 2, 255]), 'application/octet-stream', 'fhir');
      await t.store.saveContent(id, 'encoded', 'for kafka', 'text/plain', 'kafka');
      await t.store.saveContent(id, 'transformed', '{"resourceType":"Patient"}', 'application/json');
      const contents = (await t.store.get(id))!.contents;
      expect(contents).toHaveLength(3);
      const find = (stage: string, dest: string) => contents.find((c) => c.stage === stage && c.destination === dest);
      expect(find('transformed', '')).toMatchObject({ contentType: 'application/json' });
      expect(Buffer.from(find('transformed', '')!.content).toString()).toBe('{"resourceType":"Patient"}');
      expect([...find('encoded', 'fhir')!.content]).toEqual([0, 1, 2, 255]);
      expect(Buffer.from(find('encoded', 'kafka')!.content).toString()).toBe('for kafka');
      expect(find('encoded', 'kafka')!.createdAt).toBeGreaterThan(0);
    });

    it('creates and updates deliveries, keeping fields an update leaves out', async () => {
      const id = await t.store.receive(msg());
      await t.store.setDelivery(id, 'fhir', { status: 'QUEUED', attempts: 1, nextAttemptAt: 5000, error: 'timeout' },
        { kind: 'attempt', detail: 'HTTP 503' });
      await t.store.setDelivery(id, 'kafka', { status: 'PENDING' });
      let got = await t.store.get(id);
      expect(got!.deliveries).toEqual([
        { messageId: id, destination: 'fhir', status: 'QUEUED', attempts: 1, nextAttemptAt: 5000, error: 'timeout', updatedAt: expect.any(Number) },
        { messageId: id, destination: 'kafka', status: 'PENDING', attempts: 0, updatedAt: expect.any(Number) },
      ]);
      expect(got!.events).toEqual([{ at: expect.any(Number), kind: 'attempt', destination: 'fhir', detail: 'HTTP 503' }]);
      await t.store.setDelivery(id, 'fhir', { status: 'QUEUED' });
      expect((await t.store.get(id))!.deliveries[0]).toMatchObject({ attempts: 1, nextAttemptAt: 5000, error: 'timeout' });
      await t.store.setDelivery(id, 'fhir', { status: 'SENT', attempts: 2, nextAttemptAt: null, error: null }, { kind: 'sent', destination: 'other' });
      got = await t.store.get(id);
      expect(got!.deliveries[0]).toEqual({ messageId: id, destination: 'fhir', status: 'SENT', attempts: 2, updatedAt: expect.any(Number) });
      expect(got!.events.map((e) => [e.kind, e.destination])).toEqual([['attempt', 'fhir'], ['sent', 'other']]);
    });

    it('marks for reprocess: same id and history, deliveries cleared, RECEIVED, count + 1', async () => {
      const id = await t.store.receive(msg());
      await t.store.saveContent(id, 'transformed', 'T', 'text/plain');
      await t.store.setDelivery(id, 'fhir', { status: 'ERROR', attempts: 3, error: 'rejected' }, { kind: 'failed' });
      await t.store.updateMessage(id, { status: 'ERROR', error: 'rejected' });
      await t.store.markForReprocess(id, 'fixed mapping');
      await t.store.markForReprocess(id);
      const got = await t.store.get(id);
      expect(got).toMatchObject({ id, status: 'RECEIVED', reprocessCount: 2, deliveries: [] });
      expect(got).not.toHaveProperty('error');
      expect(got!.contents.map((c) => c.stage)).toEqual(['transformed']);
      expect(got!.events.map((e) => [e.kind, e.detail])).toEqual([['failed', undefined], ['reprocess', 'fixed mapping'], ['reprocess', undefined]]);
      expect((await t.store.pending('adt')).map((p) => p.message.id)).toEqual([id]);
    });

    it('keeps each run\'s contents: a reprocess adds its own beside the first run\'s, saving again replaces only within a run', async () => {
      const id = await t.store.receive(msg());
      await t.store.saveContent(id, 'transformed', 'first', 'text/plain');
      await t.store.saveContent(id, 'sent', 'to A, first', 'text/plain', 'a');
      await t.store.markForReprocess(id, 'fixed mapping');
      await t.store.saveContent(id, 'transformed', 'second, draft', 'text/plain');
      await t.store.saveContent(id, 'transformed', 'second', 'text/plain');
      await t.store.saveContent(id, 'sent', 'to A, second', 'text/plain', 'a');
      const contents = (await t.store.get(id))!.contents;
      expect(contents.map((c) => [c.run, c.stage, c.destination, Buffer.from(c.content).toString()])).toEqual([
        [0, 'transformed', '', 'first'], [0, 'sent', 'a', 'to A, first'],
        [1, 'transformed', '', 'second'], [1, 'sent', 'a', 'to A, second'],
      ]);
    });

    it('lists pending work of a channel oldest first, with deliveries', async () => {
      const ids: string[] = [];
      for (const status of ['RECEIVED', 'SENT', 'TRANSFORMED', 'FILTERED', 'QUEUED', 'ERROR'] as const) {
        ids.push(await t.store.receive(msg({ status, controlId: status })));
      }
      await t.store.receive(msg({ channel: 'lab' }));
      await t.store.setDelivery(ids[4]!, 'b', { status: 'QUEUED', nextAttemptAt: 10 });
      await t.store.setDelivery(ids[4]!, 'a', { status: 'SENT' });
      await t.store.setDelivery(ids[1]!, 'a', { status: 'SENT' });
      const pending = await t.store.pending('adt');
      expect(pending.map((p) => p.message.controlId)).toEqual(['RECEIVED', 'TRANSFORMED', 'QUEUED']);
      expect(pending[0]!.deliveries).toEqual([]);
      expect(pending[2]!.deliveries.map((d) => [d.destination, d.status])).toEqual([['a', 'SENT'], ['b', 'QUEUED']]);
      expect(await t.store.pending('none')).toEqual([]);
    });

    it('reopens with everything in place', async () => {
      const id = await t.store.receive(msg());
      await t.store.setDelivery(id, 'd', { status: 'QUEUED' });
      await t.store.close();
      const again = await t.loc.open();
      await again.init();
      expect(await again.get(id)).toMatchObject({ id, deliveries: [{ destination: 'd' }] });
    });

    it('records its schema version, and refuses a store from a newer version instead of writing into it', async () => {
      expect(await t.loc.rows("SELECT value FROM meta WHERE key = 'schema_version'")).toEqual([{ value: '2' }]);
      await t.store.close();
      await t.loc.rows("UPDATE meta SET value = '3' WHERE key = 'schema_version'");
      await expect(t.loc.open()).rejects.toThrow(/schema version 3.*this Sluice knows up to 2/);
    });
  });
}

export function describeSearch(harness: StoreHarness): void {
  const t = useStore(harness);
  const ids: Record<string, string> = {};

  beforeEach(async () => {
    const rows: [string, NewMessage][] = [
      ['a1', msg({ channel: 'adt', receivedAt: 1000, controlId: 'A1', patientId: 'P1', messageType: 'ADT^A01' })],
      ['a2', msg({ channel: 'adt', receivedAt: 2000, controlId: 'A2', patientId: 'P2', messageType: 'ADT^A08', status: 'ERROR' })],
      ['l1', msg({ channel: 'lab', receivedAt: 3000, controlId: 'L1', patientId: 'P1', messageType: 'ORU^R01' })],
      ['l2', msg({ channel: 'lab', receivedAt: 4000, controlId: 'A1', patientId: undefined, messageType: 'ORU^R01', status: 'SENT' })],
    ];
    // Sequential, so ids follow the order above.
    for (const [name, m] of rows) ids[name] = await t.store.receive(m);
  });

  const names = (list: { id: string }[]) => list.map((m) => Object.keys(ids).find((k) => ids[k] === m.id));

  describe('filters', () => {
    it('returns everything newest first without a filter', async () => {
      expect(names(await t.store.search({}))).toEqual(['l2', 'l1', 'a2', 'a1']);
    });

    it('filters by each field', async () => {
      expect(names(await t.store.search({ channel: 'adt' }))).toEqual(['a2', 'a1']);
      expect(names(await t.store.search({ status: 'ERROR' }))).toEqual(['a2']);
      expect(names(await t.store.search({ status: 'RECEIVED' }))).toEqual(['l1', 'a1']);
      expect(names(await t.store.search({ since: 2000 }))).toEqual(['l2', 'l1', 'a2']);
      expect(names(await t.store.search({ until: 2000 }))).toEqual(['a2', 'a1']);
      expect(names(await t.store.search({ since: 2000, until: 3000 }))).toEqual(['l1', 'a2']);
      expect(names(await t.store.search({ controlId: 'A1' }))).toEqual(['l2', 'a1']);
      expect(names(await t.store.search({ patientId: 'P1' }))).toEqual(['l1', 'a1']);
      expect(names(await t.store.search({ patientId: 'P3' }))).toEqual([]);
      expect(names(await t.store.search({ messageType: 'ORU^R01' }))).toEqual(['l2', 'l1']);
      expect(names(await t.store.search({ channel: 'lab', controlId: 'A1', messageType: 'ORU^R01', status: 'SENT' }))).toEqual(['l2']);
      expect(names(await t.store.search({ channel: 'lab', status: 'ERROR' }))).toEqual([]);
    });

    it('returns summaries without raw content', async () => {
      const [first] = await t.store.search({ controlId: 'A2' });
      expect(first).toMatchObject({ id: ids.a2, channel: 'adt', status: 'ERROR', receivedAt: 2000, orderingKey: 'MRN12345' });
      expect(first).not.toHaveProperty('raw');
    });

    it('limits (default 100) and pages with before', async () => {
      await Promise.all(Array.from({ length: 110 }, (_, i) => t.store.receive(msg({ channel: 'bulk', controlId: `B${i}` }))));
      expect(await t.store.search({ channel: 'bulk' })).toHaveLength(100);
      expect(await t.store.search({ channel: 'bulk', limit: 7 })).toHaveLength(7);
      const seen: string[] = [];
      let before: string | undefined;
      for (;;) {
        const page = await t.store.search({ channel: 'bulk', limit: 25, before });
        if (page.length === 0) break;
        seen.push(...page.map((m) => m.id));
        before = page[page.length - 1]!.id;
      }
      expect(seen).toHaveLength(110);
      expect(new Set(seen).size).toBe(110);
      expect(seen).toEqual([...seen].sort().reverse());
      expect(names(await t.store.search({ before: ids.l1 }))).toEqual(['a2', 'a1']);
    });
  });
}
