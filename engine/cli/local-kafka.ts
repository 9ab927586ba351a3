import path from 'node:path';
import type { ChannelConfig, EngineConfig } from '../../config/schema.js';
import { BrokerError, checkJava, portAccepts, startBroker, stopBroker } from '../kafka/broker.js';

const LOCAL_PORT = 9092;

/** True when a channel uses a Kafka component that would fall back to the local broker. */
export function needsLocalBroker(engine: EngineConfig, channels: readonly ChannelConfig[]): boolean {
  if (process.env.SLUICE_KAFKA_BROKERS) return false;
  if (Object.values(engine.connections).some((c) => c.component === 'kafka')) return false;
  const inline = (options: unknown): boolean => typeof options === 'object' && options !== null && 'brokers' in options && (options as { brokers?: unknown }).brokers !== undefined;
  return channels.some((c) => c.enabled && (
    (c.source.component === 'kafka' && !inline(c.source.options)) ||
    Object.values(c.destinations).some((d) => d.component === 'kafka' && !inline(d.options))
  ));
}

/**
 * `sluice run --local-kafka` (the README's run command): when channels use Kafka with no
 * brokers configured, make sure a broker answers on 127.0.0.1:9092 — one already running,
 * or a single-node one started from Maven Central under `<dataDir>/kafka` when Java is
 * present. Without Java the engine still runs; Kafka deliveries queue until a broker is
 * reachable. Returns how to stop what was started.
 */
export async function ensureLocalKafka(engine: EngineConfig, channels: readonly ChannelConfig[], out: NodeJS.WritableStream, port = LOCAL_PORT): Promise<() => Promise<void>> {
  const nothing = async (): Promise<void> => {};
  if (!needsLocalBroker(engine, channels)) return nothing;
  if (await portAccepts(port)) {
    out.write(`kafka: using the broker on 127.0.0.1:${port}\n`);
    return nothing;
  }
  try {
    await checkJava();
  } catch (e) {
    out.write(`kafka: no broker on 127.0.0.1:${port} and ${(e as Error).message}; Kafka deliveries will queue until one is reachable (or set SLUICE_KAFKA_BROKERS)\n`);
    return nothing;
  }
  const dataDir = path.join(engine.dataDir, 'kafka');
  out.write(`kafka: starting a local broker on 127.0.0.1:${port} (data in ${dataDir}; the first start downloads Kafka with Maven)\n`);
  try {
    const info = await startBroker({ port: port, dataDir, log: (line) => out.write(`kafka: ${line}\n`) });
    if (info.alreadyRunning) return nothing;
    return async () => { await stopBroker(dataDir); };
  } catch (e) {
    if (!(e instanceof BrokerError)) throw e;
    out.write(`kafka: the local broker did not start (${e.message}); Kafka deliveries will queue until one is reachable\n`);
    return nothing;
  }
}
