import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adt } from '../helpers/channel.js';
import { eventually } from '../helpers/http-sink.js';
import { tempDir } from '../helpers/engine.js';
import { KafkaConnection } from '../../engine/kafka/connection.js';
import { openStore } from '../../engine/store/index.js';
import type { MessageStore } from '../../engine/store/types.js';
import { committedOffset, deleteTestTopics, requireBroker, TEST_BROKERS, uniqueTopic } from './helpers.js';

/*
 * The engine consuming a topic (a Kafka source channel, in a child process) is SIGKILLed
 * twice mid-batch and restarted: every record ends up stored (re-delivered ones are
 * recognised as duplicates by control id, and counted).
 */
const ROOT = path.resolve(import.meta.dirname, '../..');
const RECORDS = 2000;
const KILL_AT = [500, 1200];

const children = new Set<ChildProcess>();
afterAll(() => { for (const c of children) c.kill('SIGKILL'); });
beforeAll(() => requireBroker());
afterAll(() => deleteTestTopics());

function startEngine(dataDir: string, topic: string, groupId: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test/kafka/fixtures/kafka-engine.ts'), dataDir, TEST_BROKERS.join(','), topic, groupId], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('engine did not start')), 30_000);
    child.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('ready')) { clearTimeout(timer); resolve(child); } });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`engine exited early (${code})`)); });
  });
}

/** Distinct control ids stored so far, and how many stored rows were duplicates. */
async function progress(store: MessageStore): Promise<{ distinct: number; rows: number }> {
  const rows = await store.search({ channel: 'kin', limit: RECORDS * 3 });
  return { distinct: new Set(rows.map((r) => r.controlId)).size, rows: rows.length };
}

describe('Kafka source consumer killed mid-batch', () => {
  it(`stores all ${RECORDS} records across ${KILL_AT.length} SIGKILLs`, async () => {
    const topic = uniqueTopic('crash');
    const groupId = uniqueTopic('sluice.crash');
    const conn = new KafkaConnection({ brokers: TEST_BROKERS });
    try {
      await conn.ensureTopics([topic], 3, 1);
      const records = Array.from({ length: RECORDS }, (_, i) => ({ topic, key: `P${i % 50}`, value: adt(`C${i}`, `P${i % 50}`) }));
      for (let i = 0; i < RECORDS; i += 500) await conn.producer.send(records.slice(i, i + 500));
    } finally {
      await conn.close();
    }

    const dataDir = await tempDir('sluice-kafka-crash-');
    let engine = await startEngine(dataDir, topic, groupId);
    const store = await openStore({ dataDir });
    const committed = async (): Promise<bigint> => {
      let sum = 0n;
      for (const p of [0, 1, 2]) sum += (await committedOffset(groupId, topic, p)) ?? 0n;
      return sum;
    };
    try {
      for (const target of KILL_AT) {
        await eventually(async () => (await progress(store)).distinct >= target, 40_000, `${target} stored before the kill`);
        engine.kill('SIGKILL');
        await new Promise((r) => engine.once('exit', r));
        // The kill really fell mid-stream: the group had not committed everything, nor had
        // the engine stored everything (else the test would pass without testing anything).
        const atKill = { committed: await committed(), stored: (await progress(store)).distinct };
        process.stdout.write(`consumer crash: killed at ${atKill.stored} stored, committed offsets ${atKill.committed}\n`);
        expect(atKill.committed).toBeLessThan(BigInt(RECORDS));
        expect(atKill.stored).toBeLessThan(RECORDS);
        engine = await startEngine(dataDir, topic, groupId);
      }
      await eventually(async () => (await progress(store)).distinct === RECORDS, 60_000, `all ${RECORDS} records stored`);
      const rows = await store.search({ channel: 'kin', limit: RECORDS * 3 });
      const ids = new Set(rows.map((r) => r.controlId));
      expect(Array.from({ length: RECORDS }, (_, i) => `C${i}`).filter((id) => !ids.has(id))).toEqual([]);
      const duplicates = rows.filter((r) => r.error === 'duplicate').length;
      process.stdout.write(`consumer crash: ${rows.length} rows, ${RECORDS} distinct records stored after ${KILL_AT.length} SIGKILLs; ${duplicates} re-delivered record(s) recognised as duplicates\n`);
      expect(rows.length - duplicates).toBe(RECORDS);
      // And the group's offsets reach the end of every partition (nothing left to re-deliver).
      await eventually(async () => (await committed()) === BigInt(RECORDS), 10_000, 'all offsets committed');
    } finally {
      engine.kill('SIGTERM');
      await store.close();
    }
  }, 120_000);
});
