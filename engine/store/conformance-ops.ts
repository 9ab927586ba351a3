import { spawn } from 'node:child_process';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { msg, useStore, type StoreHarness } from './conformance-kit.js';
import { MessageNotFoundError } from './rows.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CHILD = path.join(import.meta.dirname, 'durability-child.ts');
const SMALL = Buffer.from('MSH|^~\\&|A|B|C|D|||ADT^A01|X|P|2.5\r');

function count(rows: Record<string, unknown>[]): number {
  return Number(Object.values(rows[0] ?? {})[0]);
}

export function describeStoreOperations(harness: StoreHarness): void {
  const t = useStore(harness);

  describe('group commit', () => {
    it('applies writes issued in one tick in one transaction', async () => {
      const start = t.store.stats();
      const ids = await Promise.all(Array.from({ length: 50 }, (_, i) => t.store.receive(msg({ controlId: `G${i}` }))));
      expect(t.store.stats().transactions - start.transactions).toBe(1);
      expect(t.store.stats().largestBatch).toBe(50);
      expect(new Set(ids).size).toBe(50);

      // Different kinds of bookkeeping in one tick share a transaction too; the intake among
      // them commits first, alone, so its ACK does not wait for the bookkeeping's pages.
      await Promise.all([
        t.store.updateMessage(ids[0]!, { status: 'QUEUED' }, { kind: 'queued' }),
        t.store.setDelivery(ids[1]!, 'fhir', { status: 'QUEUED' }),
        t.store.saveContent(ids[2]!, 'transformed', 'x', 'text/plain'),
        t.store.markForReprocess(ids[3]!),
        t.store.receive(msg()),
      ]);
      expect(t.store.stats().transactions - start.transactions).toBe(3);

      // Writes awaited one after the other each commit on their own.
      for (let i = 0; i < 3; i++) await t.store.receive(msg());
      expect(t.store.stats()).toMatchObject({ transactions: start.transactions + 6, writes: start.writes + 58 });
      expect(count(await t.loc.rows('SELECT count(*) FROM messages'))).toBe(54);
    });

    it('commits each write alone with maxBatch 1', async () => {
      await t.store.close();
      const store = await t.loc.open({ maxBatch: 1 });
      await Promise.all(Array.from({ length: 20 }, () => store.receive(msg())));
      expect(store.stats()).toMatchObject({ transactions: 20, largestBatch: 1 });
    });

    it('rejects only the write that failed on its own; the rest of its batch commits', async () => {
      const id = await t.store.receive(msg());
      const start = t.store.stats().transactions;
      const results = await Promise.allSettled([
        t.store.receive(msg({ controlId: 'ok1' })),
        t.store.updateMessage('01ARZ3NDEKTSV4RRFFQ69G5FAV', { status: 'SENT' }),
        t.store.setDelivery(id, 'fhir', { status: 'SENT' }),
        t.store.receive(msg({ controlId: 'ok2' })),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
      expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(MessageNotFoundError);
      // The two intakes commit first; the bookkeeping's rolled-back attempt is not counted.
      expect(t.store.stats().transactions).toBe(start + 2);
      expect((await t.store.search({})).map((m) => m.controlId).sort()).toEqual(['CTRL1', 'ok1', 'ok2']);
      expect((await t.store.get(id))!.deliveries).toHaveLength(1);
    });

    it('rejects only the receive() the database refuses, also among receives written together', async () => {
      const results = await Promise.allSettled([
        t.store.receive(msg({ controlId: 'ok1' })),
        t.store.receive(msg({ controlId: 'ok2' })),
        t.store.receive(msg({ controlId: 'bad', status: 'BOGUS' as 'ERROR' })),
        t.store.receive(msg({ controlId: 'ok3' })),
        t.store.receive(msg({ controlId: 'not bytes', raw: 'MSH|' as unknown as Uint8Array })),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'rejected']);
      expect(String((results[2] as PromiseRejectedResult).reason)).toMatch(/check/i);
      expect((results[4] as PromiseRejectedResult).reason).toBeInstanceOf(TypeError);
      const stored = (await t.store.search({})).map((m) => m.controlId);
      expect(stored).toEqual(['ok3', 'ok2', 'ok1']);
    });

    it('rejects every write of a failed transaction with the error and stores none of them', async () => {
      await t.store.receive(msg());
      await t.loc.rows('ALTER TABLE messages RENAME TO messages_away');
      const results = await Promise.allSettled([1, 2, 3].map((i) => t.store.receive(msg({ controlId: `lost${i}` }))));
      expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
      const reasons = results.map((r) => (r as PromiseRejectedResult).reason as Error);
      expect(reasons[0]!.message).toMatch(/messages/);
      expect(new Set(reasons).size).toBe(1);
      await t.loc.rows('ALTER TABLE messages_away RENAME TO messages');
      // The store recovers once the database does.
      await t.store.receive(msg({ controlId: 'after' }));
      expect((await t.store.search({})).map((m) => m.controlId).sort()).toEqual(['CTRL1', 'after']);
    });

    it('rejects writes and reads after close', async () => {
      await t.store.close();
      await expect(t.store.receive(msg())).rejects.toThrow(/closed|not open/);
      await expect(t.store.get('x')).rejects.toThrow(/closed|not open/);
    });
  });

  describe('durability', () => {
    it('keeps every message whose receive() resolved before the process was SIGKILLed', async () => {
      await t.store.close();
      const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(t.loc.childOptions())], {
        cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
      child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.split('\n').length > 400 && !child.killed) child.kill('SIGKILL');
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const signal = await exited;
      clearTimeout(timer);
      expect(signal, err).toBe('SIGKILL');
      const lines = out.split('\n').slice(0, -1); // the last line may be cut off
      expect(lines.length, err).toBeGreaterThanOrEqual(400);

      const store = await t.loc.open();
      const stored = new Set((await store.search({ channel: 'durable', limit: 1_000_000 })).map((m) => m.id));
      const missing = lines.filter((line) => !stored.has(line.split(' ')[0]!));
      expect(missing).toEqual([]);
      // Contents too, for a sample and for the last ones printed (the likeliest to be lost).
      for (const line of [...lines.filter((_, i) => i % 25 === 0), ...lines.slice(-10)]) {
        const [id, k] = line.split(' ');
        expect(Buffer.from((await store.get(id!))!.raw).toString()).toContain(`|D${k}|`);
      }
    });
  });

  describe('prune', () => {
    it('deletes old messages and their rows in batches, keeping newer ones', async () => {
      const old = await Promise.all(Array.from({ length: 20 }, (_, i) => t.store.receive(msg({ receivedAt: 1000 + i, status: 'SENT' }))));
      // Old but still owed a delivery: retention must not drop it.
      const owed = await t.store.receive(msg({ receivedAt: 999, status: 'QUEUED' }));
      const keep = await t.store.receive(msg({ receivedAt: 5000 }));
      await Promise.all(old.flatMap((id) => [
        t.store.setDelivery(id, 'd', { status: 'SENT' }, { kind: 'sent' }),
        t.store.saveContent(id, 'transformed', 'x', 'text/plain'),
      ]));
      await t.store.setDelivery(keep, 'd', { status: 'QUEUED' }, { kind: 'queued' });
      await t.store.saveContent(keep, 'raw', 'x', 'text/plain');
      const start = t.store.stats().transactions;
      expect(await t.store.prune(1010, 3)).toBe(10);
      expect(await t.store.prune(5000, 3)).toBe(10);
      expect(await t.store.prune(5000, 3)).toBe(0);
      expect(t.store.stats().transactions).toBe(start); // prune does not go through the write batches
      expect((await t.store.search({})).map((m) => m.id).sort()).toEqual([keep, owed].sort());
      for (const table of ['deliveries', 'contents', 'events']) {
        expect(count(await t.loc.rows(`SELECT count(*) FROM ${table}`)), table).toBe(1);
      }
      expect(await t.store.get(old[0]!)).toBeUndefined();
    });

    it('never blocks intake for long while pruning 20k messages', async () => {
      const OLD = 20_000;
      for (let i = 0; i < OLD; i += 2000) {
        const ids = await Promise.all(Array.from({ length: 2000 }, (_, k) => t.store.receive(msg({ receivedAt: 1000 + i + k, raw: SMALL, status: 'SENT' }))));
        await Promise.all(ids.filter((_, k) => k % 100 === 0).map((id) => t.store.setDelivery(id, 'd', { status: 'SENT' }, { kind: 'sent' })));
      }
      const latencies: number[] = [];
      let pruning = true;
      const intake = (async () => {
        while (pruning) {
          const began = performance.now();
          await t.store.receive(msg({ receivedAt: Date.now(), raw: SMALL }));
          latencies.push(performance.now() - began);
        }
      })();
      const deleted = await t.store.prune(1_000_000, 500);
      pruning = false;
      await intake;
      expect(deleted).toBe(OLD);
      // Intake ran between the batches, not just before or after one long transaction.
      expect(latencies.length).toBeGreaterThanOrEqual(10);
      latencies.sort((a, b) => a - b);
      const p99 = latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))]!;
      expect(p99).toBeLessThan(500);
      expect(count(await t.loc.rows('SELECT count(*) FROM messages'))).toBe(latencies.length);
      expect(count(await t.loc.rows('SELECT count(*) FROM deliveries'))).toBe(0);
    }, 60_000);
  });
}
