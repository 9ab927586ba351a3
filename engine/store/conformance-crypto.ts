import { describe, expect, it } from 'vitest';
import { msg, useStore, type StoreHarness, type StoreLocation, type TestStore } from './conformance-kit.js';
import { DecryptionError, EncryptionKeyError, generateKey } from './crypto.js';

const KEY = generateKey();
const MRN = 'MRN8675309';
const NAME = 'QUIXOTE^DULCINEA';
const RAW = Buffer.from(`MSH|^~\\&|LAB|HOSP|SLUICE|HOSP|20240101120000||ADT^A01|C77|P|2.5\rPID|1||${MRN}^^^HOSP^MR||${NAME}\r`);

/** Writes PHI into every place a message can hold it. */
async function writePhi(store: TestStore): Promise<string> {
  const id = await store.receive(msg({ raw: RAW, patientId: MRN, orderingKey: MRN, error: `bad PID-3 ${MRN}`, status: 'ERROR' }));
  await store.saveContent(id, 'transformed', JSON.stringify({ resourceType: 'Patient', identifier: [{ value: MRN }], name: NAME }), 'application/fhir+json');
  await store.saveContent(id, 'response', `MSA|AE|C77|unknown patient ${MRN}`, 'x-application/hl7-v2+er7', 'fhir');
  await store.setDelivery(id, 'fhir', { status: 'ERROR', attempts: 1, error: `422 for ${MRN}` }, { kind: 'failed', detail: `patient ${MRN} rejected` });
  await store.updateMessage(id, { status: 'ERROR' }, { kind: 'error', detail: NAME });
  return id;
}

function contains(haystack: Buffer, needle: string): boolean {
  return haystack.includes(Buffer.from(needle, 'utf8'));
}

async function expectOpenFails(loc: StoreLocation, key: string | Buffer | undefined, pattern: RegExp): Promise<void> {
  const attempt = loc.open(key === undefined ? {} : { encryptionKey: key });
  await expect(attempt).rejects.toBeInstanceOf(EncryptionKeyError);
  await expect(attempt).rejects.toThrow(pattern);
}

export function describeEncryption(harness: StoreHarness): void {
  describe('with a key', () => {
    const t = useStore(harness, { encryptionKey: KEY });

    it('round-trips every encrypted field and still searches by patient', async () => {
      const id = await writePhi(t.store);
      const other = await t.store.receive(msg({ patientId: 'SOMEONE-ELSE' }));
      const got = await t.store.get(id);
      expect(Buffer.from(got!.raw).equals(RAW)).toBe(true);
      expect(got).toMatchObject({ orderingKey: MRN, error: `bad PID-3 ${MRN}` });
      expect(got!.deliveries[0]).toMatchObject({ error: `422 for ${MRN}` });
      expect(got!.events.map((e) => e.detail)).toEqual([`patient ${MRN} rejected`, NAME]);
      expect(got!.contents.map((c) => Buffer.from(c.content).toString())).toEqual([
        expect.stringContaining(MRN), `MSA|AE|C77|unknown patient ${MRN}`,
      ]);
      expect((await t.store.search({ patientId: MRN })).map((m) => m.id)).toEqual([id]);
      expect((await t.store.search({ patientId: 'SOMEONE-ELSE' })).map((m) => m.id)).toEqual([other]);
      expect((await t.store.pending('adt')).map((p) => p.message.orderingKey)).toEqual(['MRN12345']);
    });

    it('keeps no plaintext patient data in the database, only a keyed blind index', async () => {
      const id = await writePhi(t.store);
      await t.store.receive(msg({ raw: RAW, patientId: MRN }));
      for (const when of ['while open', 'after close']) {
        const bytes = await t.loc.dump();
        expect(bytes.length, when).toBeGreaterThan(RAW.length);
        expect(contains(bytes, MRN), `MRN ${when}`).toBe(false);
        expect(contains(bytes, 'QUIXOTE'), `name ${when}`).toBe(false);
        expect(contains(bytes, 'MSH|^~'), `raw message ${when}`).toBe(false);
        await t.store.close();
      }
      const keys = (await t.loc.rows('SELECT patient_key FROM messages')).map((r) => r.patient_key);
      expect(keys[0]).toBe(keys[1]);
      expect(keys[0]).toMatch(/^[A-Za-z0-9_-]{43}$/);
      // Envelope: version 1, 12-byte IV, ciphertext as long as the plaintext, 16-byte tag.
      const [row] = await t.loc.rows('SELECT raw FROM messages WHERE id = ?', [id]);
      const raw = row!.raw as Buffer;
      expect(raw[0]).toBe(1);
      expect(raw.length).toBe(1 + 12 + RAW.length + 16);
    });

    it('reports tampered or moved ciphertext clearly', async () => {
      const a = await t.store.receive(msg({ raw: RAW }));
      const b = await t.store.receive(msg({ raw: Buffer.from('MSH|other') }));
      await t.store.saveContent(b, 'transformed', 'content', 'text/plain');
      const [row] = await t.loc.rows('SELECT raw FROM messages WHERE id = ?', [a]);
      const tampered = Buffer.from(row!.raw as Buffer);
      tampered[20]! ^= 0x01;
      await t.loc.rows('UPDATE messages SET raw = ? WHERE id = ?', [tampered, a]);
      await expect(t.store.get(a)).rejects.toBeInstanceOf(DecryptionError);
      await expect(t.store.get(a)).rejects.toThrow(/messages\.raw.*tampered/);
      // A valid ciphertext copied onto another message fails too: envelopes are bound to their row.
      await t.loc.rows('UPDATE messages SET raw = (SELECT raw FROM messages WHERE id = ?) WHERE id = ?', [b, a]);
      await expect(t.store.get(a)).rejects.toThrow(/authentication failed/);
      await t.loc.rows("UPDATE contents SET content = ? WHERE message_id = ?", [Buffer.from([1, 2, 3]), b]);
      await expect(t.store.get(b)).rejects.toThrow(/contents\.content.*too short/);
      await t.loc.rows("UPDATE messages SET error = ? WHERE id = ?", [Buffer.alloc(40, 2).toString('base64'), b]);
      await expect(t.store.search({})).rejects.toBeInstanceOf(DecryptionError);
    });

    it('refuses to open with a wrong or a missing key', async () => {
      await t.store.receive(msg());
      await t.store.close();
      await expectOpenFails(t.loc, generateKey(), /does not match/);
      await expectOpenFails(t.loc, undefined, /encryptionKey is required/);
      // The right key as raw bytes works.
      const store = await t.loc.open({ encryptionKey: Buffer.from(KEY, 'base64') });
      expect(await store.search({})).toHaveLength(1);
    });
  });

  describe('without a key', () => {
    const t = useStore(harness);

    it('stores plaintext (the control for the checks above)', async () => {
      await writePhi(t.store);
      const bytes = await t.loc.dump();
      expect(contains(bytes, MRN)).toBe(true);
      expect(contains(bytes, 'QUIXOTE')).toBe(true);
      expect((await t.loc.rows('SELECT patient_key FROM messages'))[0]!.patient_key).toBe(MRN);
    });

    it('refuses to add a key to a store created without one, and malformed keys', async () => {
      await t.store.close();
      await expectOpenFails(t.loc, KEY, /created without encryption/);
      await expectOpenFails(t.loc, 'not base64!', /base64/);
      await expectOpenFails(t.loc, Buffer.alloc(16).toString('base64'), /32 bytes/);
    });
  });
}
