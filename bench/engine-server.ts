/**
 * The end-to-end engine for bench/engine.ts, in its own process: one channel, MLLP in
 * (respondFrom: received) → one set step → file destination, SQLite store in a temp dir.
 * argv[2] sets SQLite's synchronous mode (FULL, the default, or NORMAL), or PG for the PostgreSQL store.
 * BENCH_VARIANT=intake filters every message right after intake (diagnosis: intake alone).
 * BENCH_E2E_OUT_ROOT=<dir> puts the file destination's directory there instead of the temp
 * dir (creating a file costs 0.04 to 1.5 ms of CPU depending on the directory on these VMs).
 * BENCH_E2E_STATS=1 prints the store's group-commit counts to stderr when it stops.
 * Prints `PORT <n>` when listening; on the stdin line `count` prints `COUNT <files delivered>`;
 * stops when stdin ends.
 */
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { channelConfig, tempEngineConfig } from '../test/helpers/channel.js';
import { dropSchema, PG_URL } from '../test/helpers/pg.js';
import { Engine } from '../engine/engine.js';
import { silentLogger } from '../engine/log.js';
import { PostgresStore, SqliteStore } from '../engine/store/index.js';

const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-bench-e2e-'));
const outRoot = process.env.BENCH_E2E_OUT_ROOT;
if (outRoot) await mkdir(outRoot, { recursive: true });
const outDir = outRoot ? await mkdtemp(path.join(outRoot, 'sluice-bench-out-')) : path.join(dir, 'out');
// argv[2]: FULL (default, fsync per commit) or NORMAL (no fsync per commit; survives a process crash, not power loss).
// argv[2] PG: the PostgreSQL store (SLUICE_TEST_PG_URL or the local test database), in a schema of its own.
const synchronous = process.argv[2] === 'NORMAL' ? 'NORMAL' : 'FULL';
const pgSchema = `sluice_bench_${process.pid}`;
const store = process.argv[2] === 'PG' ? new PostgresStore({ url: PG_URL, schema: pgSchema }) : new SqliteStore({ dataDir: dir, synchronous });
await store.init();
const engine = await Engine.open({ ...(await tempEngineConfig()), dataDir: dir }, silentLogger, store);
const channel = engine.deploy(channelConfig({
  name: 'bench',
  source: { mllp: { port: 0 } },
  respondFrom: 'received',
  steps: [{ set: { path: 'MSH-5', value: 'ARCHIVE' } }],
  ...(process.env.BENCH_VARIANT === 'intake' ? { filter: { messageType: ['ZZZ'] } } : {}),
  destinations: { out: { file: { dir: outDir, name: '{id}.hl7' }, queue: { concurrency: 4 } } },
}));
await channel.start();
process.stdout.write(`PORT ${(channel.def.source as unknown as { port: number }).port}\n`);
const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (line.trim() !== 'count') return;
  // Still working: no directory listing yet (listing thousands of files on every poll would
  // count against the engine's CPU in bench/engine-cpu.ts).
  if (channel.backlog() > 0) { process.stdout.write('COUNT 0\n'); return; }
  void readdir(outDir).then((f) => f.length, () => 0).then((n) => process.stdout.write(`COUNT ${n}\n`));
});
async function dropPgSchema(): Promise<void> {
  if (process.argv[2] === 'PG') await dropSchema(pgSchema);
}

rl.on('close', () => {
  if (process.env.BENCH_E2E_STATS) process.stderr.write(`STATS ${JSON.stringify(store.stats())}\n`);
  void engine.stop().then(dropPgSchema).finally(() => Promise.all([rm(dir, { recursive: true, force: true }), rm(outDir, { recursive: true, force: true })]).finally(() => process.exit(0)));
});
