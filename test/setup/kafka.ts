/**
 * Vitest global setup: makes sure a Kafka broker listens on 127.0.0.1:19092 (the one
 * scripts/services-up.sh starts in CI) before the Kafka tests run. Runs that select only
 * non-Kafka test files skip it, so they do not pay for a JVM.
 *
 * Several vitest processes may share the broker (helpers run side by side). Each one that
 * uses it leaves a file named after its pid in `<data>/users/`; a broker started here is
 * marked with `<data>/started-by-setup`. A teardown stops the broker only when that mark
 * is there and no other live process is registered, so the last run out stops it, and a
 * broker started by services-up.sh (no mark) is never stopped here. Dead pids' files (a
 * killed run) are ignored and cleaned up.
 */
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { portAccepts, startBroker, stopBroker } from '../../engine/kafka/broker.js';
import { alive } from '../../engine/kafka/process.js';

export const TEST_KAFKA_PORT = 19092;
const DATA_DIR = path.resolve(import.meta.dirname, '../../.cache/kafka/ci');
const USERS_DIR = path.join(DATA_DIR, 'users');
const STARTED_MARK = path.join(DATA_DIR, 'started-by-setup');

function wantsKafka(argv: readonly string[]): boolean {
  const i = argv.findIndex((a) => a === 'run' || a === 'watch');
  const filters = argv.slice(i + 1).filter((a) => !a.startsWith('-'));
  return filters.length === 0 || filters.some((f) => /kafka|^test\/?$|^\.?\/?$/.test(f));
}

/** Other live processes registered as users; removes the files of dead ones. */
async function otherUsers(): Promise<number[]> {
  const live: number[] = [];
  for (const name of await readdir(USERS_DIR).catch(() => [] as string[])) {
    const pid = Number(name);
    if (pid === process.pid) continue;
    if (Number.isInteger(pid) && alive(pid)) live.push(pid);
    else await rm(path.join(USERS_DIR, name), { force: true });
  }
  return live;
}

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  if (!wantsKafka(process.argv.slice(2))) return undefined;
  await mkdir(USERS_DIR, { recursive: true });
  const me = path.join(USERS_DIR, String(process.pid));
  await writeFile(me, '');
  const teardown = async (): Promise<void> => {
    await rm(me, { force: true });
    if (!existsSync(STARTED_MARK) || (await otherUsers()).length > 0) return;
    await rm(STARTED_MARK, { force: true });
    await stopBroker(DATA_DIR);
  };
  if (await portAccepts(TEST_KAFKA_PORT)) return teardown;
  try {
    const info = await startBroker({ port: TEST_KAFKA_PORT, dataDir: DATA_DIR, startTimeoutMs: 120_000, log: (line) => process.stderr.write(`[kafka setup] ${line}\n`) });
    if (!info.alreadyRunning) await writeFile(STARTED_MARK, `${process.pid}\n`);
    return teardown;
  } catch (err) {
    // The Kafka tests then fail with their own "no broker" message; the rest of the suite runs.
    process.stderr.write(`[kafka setup] could not start Kafka on 127.0.0.1:${TEST_KAFKA_PORT}: ${(err as Error).message}\n`);
    await rm(me, { force: true });
    return undefined;
  }
}
