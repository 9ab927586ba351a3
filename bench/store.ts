/**
 * receive() throughput of the message store: 8 concurrent writers (each awaits its receive()
 * before the next, as MLLP connections do), group commit vs one transaction per message.
 *
 *   node --import tsx bench/store.ts [--seconds 3] [--writers 8] [--pg postgres://...] [--no-pg]
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { generateKey } from '../engine/store/crypto.js';
import { PostgresStore } from '../engine/store/postgres.js';
import { SqliteStore } from '../engine/store/sqlite.js';
import type { MessageStore, NewMessage, StoreStats } from '../engine/store/types.js';
import { dropSchema, PG_URL } from '../test/helpers/pg.js';
import { percentile } from './lib/stats.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    writers: { type: 'string', default: '8' },
    pg: { type: 'string', default: PG_URL },
    'no-pg': { type: 'boolean', default: false },
  },
});
const SECONDS = Number(args.seconds);
const WRITERS = Number(args.writers);

// A typical ADT^A01, about 1 KB.
const RAW = Buffer.from([
  'MSH|^~\\&|EPIC|HOSP|SLUICE|HOSP|20240101120000||ADT^A01^ADT_A01|CTRL|P|2.5.1',
  'EVN|A01|20240101120000',
  'PID|1||MRN12345^^^HOSP^MR~999-99-9999^^^SSA^SS||DOE^JANE^Q||19800101|F|||1 MAIN ST^^SPRINGFIELD^IL^62701||(217)555-0100',
  'PV1|1|I|4W^401^A^HOSP||||1234^SMITH^JOHN^^^DR|||MED||||ADM|||1234^SMITH^JOHN^^^DR|IN||||||||||||||||||||||||20240101120000',
  ...Array.from({ length: 6 }, (_, i) => `OBX|${i + 1}|NM|8867-4^Heart rate^LN||${60 + i}|/min|60-100|N|||F|||20240101120000`),
  'AL1|1|DA|70618^Penicillin^RXNORM|SV|Hives',
].join('\r') + '\r');

function message(n: number): NewMessage {
  return {
    channel: 'bench', receivedAt: Date.now(), sourceKind: 'mllp', peer: '10.0.0.1:40000', controlId: `C${n}`,
    sender: 'EPIC^HOSP', messageType: 'ADT^A01', patientId: `MRN${n % 1000}`, orderingKey: `MRN${n % 1000}`, raw: RAW,
  };
}

interface Result { label: string; messages: number; perSecond: number; p50: number; p99: number; stats: StoreStats }

type BenchStore = MessageStore & { stats(): StoreStats };

function sum(stores: BenchStore[]): StoreStats {
  const all = stores.map((s) => s.stats());
  return {
    transactions: all.reduce((a, s) => a + s.transactions, 0), durableTransactions: all.reduce((a, s) => a + s.durableTransactions, 0), failedTransactions: all.reduce((a, s) => a + s.failedTransactions, 0),
    writes: all.reduce((a, s) => a + s.writes, 0), largestBatch: Math.max(...all.map((s) => s.largestBatch)),
  };
}

/** Writer i uses stores[i % stores.length] (several stores = several connections committing independently). */
async function measure(label: string, stores: BenchStore[]): Promise<Result> {
  for (const store of stores) await store.init();
  // Warm up (page cache, connections, prepared statements).
  for (const store of stores) await Promise.all(Array.from({ length: 50 }, (_, i) => store.receive(message(i))));
  const before = sum(stores);
  const latencies: number[] = [];
  let n = 0;
  const deadline = performance.now() + SECONDS * 1000;
  const began = performance.now();
  await Promise.all(Array.from({ length: WRITERS }, async (_, w) => {
    const store = stores[w % stores.length]!;
    while (performance.now() < deadline) {
      const t0 = performance.now();
      await store.receive(message(n++));
      latencies.push(performance.now() - t0);
    }
  }));
  const elapsed = (performance.now() - began) / 1000;
  const after = sum(stores);
  for (const store of stores) await store.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number) => percentile(latencies, q) ?? 0;
  return {
    label, messages: latencies.length, perSecond: latencies.length / elapsed, p50: at(0.5), p99: at(0.99),
    stats: { ...after, transactions: after.transactions - before.transactions, writes: after.writes - before.writes },
  };
}

const results: Result[] = [];
const key = generateKey();

for (const synchronous of ['FULL', 'NORMAL'] as const) {
  for (const [mode, maxBatch] of [['group commit', 1000], ['1 tx/message', 1]] as const) {
    for (const encrypted of [false, true]) {
      if (encrypted && (synchronous !== 'FULL')) continue;
      const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-bench-'));
      const store = new SqliteStore({ dataDir: dir, synchronous, maxBatch, encryptionKey: encrypted ? key : undefined });
      results.push(await measure(`sqlite ${synchronous}, ${mode}${encrypted ? ', encrypted' : ''}`, [store]));
      await rm(dir, { recursive: true, force: true });
    }
  }
}

if (!args['no-pg']) {
  const modes = [['group commit', 1000, 1], ['1 tx/message', 1, 1], [`1 tx/message on ${WRITERS} connections`, 1, WRITERS]] as const;
  for (const [mode, maxBatch, connections] of modes) {
    for (const encrypted of [false, true]) {
      if (encrypted && connections > 1) continue;
      const schema = `sluice_bench_${randomBytes(4).toString('hex')}`;
      const stores = Array.from({ length: connections }, () =>
        new PostgresStore({ url: args.pg, schema, maxBatch, poolSize: 2, encryptionKey: encrypted ? key : undefined }));
      try {
        results.push(await measure(`postgres, ${mode}${encrypted ? ', encrypted' : ''}`, stores));
      } finally {
        await dropSchema(schema, args.pg);
      }
    }
  }
}

console.log(`receive() with ${WRITERS} concurrent writers, ${SECONDS} s each, ${RAW.length}-byte messages, ${os.cpus().length} CPUs`);
console.log('| store | msg/s | p50 ms | p99 ms | msgs per tx |');
console.log('| --- | ---: | ---: | ---: | ---: |');
for (const r of results) {
  const perTx = r.stats.transactions ? (r.stats.writes / r.stats.transactions).toFixed(1) : '-';
  console.log(`| ${r.label} | ${Math.round(r.perSecond)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${perTx} |`);
}
