/**
 * Vitest global setup: makes sure a Kafka broker listens on 127.0.0.1:19092 (the one
 * scripts/services-up.sh starts in CI) before the Kafka tests run. A broker this setup
 * started is stopped by its teardown; one that was already running is left alone.
 * Runs that select only non-Kafka test files skip it, so they do not pay for a JVM.
 */
import path from 'node:path';
import { portAccepts, startBroker, stopBroker } from '../../engine/kafka/broker.js';

export const TEST_KAFKA_PORT = 19092;
const DATA_DIR = path.resolve(import.meta.dirname, '../../.cache/kafka/ci');

function wantsKafka(argv: readonly string[]): boolean {
  const i = argv.findIndex((a) => a === 'run' || a === 'watch');
  const filters = argv.slice(i + 1).filter((a) => !a.startsWith('-'));
  return filters.length === 0 || filters.some((f) => /kafka|^test\/?$|^\.?\/?$/.test(f));
}

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  if (!wantsKafka(process.argv.slice(2))) return undefined;
  if (await portAccepts(TEST_KAFKA_PORT)) return undefined;
  try {
    const info = await startBroker({ port: TEST_KAFKA_PORT, dataDir: DATA_DIR, startTimeoutMs: 120_000, log: (line) => process.stderr.write(`[kafka setup] ${line}\n`) });
    if (info.alreadyRunning) return undefined;
    return async () => { await stopBroker(DATA_DIR); };
  } catch (err) {
    // The Kafka tests then fail with their own "no broker" message; the rest of the suite runs.
    process.stderr.write(`[kafka setup] could not start Kafka on 127.0.0.1:${TEST_KAFKA_PORT}: ${(err as Error).message}\n`);
    return undefined;
  }
}
