/**
 * Kafka benchmarks against a real broker (default 127.0.0.1:19092, or SLUICE_KAFKA_BROKERS).
 *
 *   node --import tsx bench/kafka.ts            # both parts
 *   node --import tsx bench/kafka.ts clients    # kafkajs vs @platformatic/kafka: produce, consume, rebalance, broker restart
 *   node --import tsx bench/kafka.ts pipeline   # MLLP → store → v2ToFhir → Kafka, 8 connections; our destination vs the bare client
 *   node --import tsx bench/kafka.ts dest       # our destination vs the bare client only, BENCH_KAFKA_REPEAT (3) rounds, medians
 *
 * The broker-restart part starts its own broker (Java + Maven needed) on a free port.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Admin, Consumer, Producer, ProduceAcks } from '@platformatic/kafka';
import { Kafka, logLevel } from 'kafkajs';
import { channelConfig, tempEngineConfig } from '../test/helpers/channel.js';
import { Engine } from '../engine/engine.js';
import { silentLogger } from '../engine/log.js';
import { MllpSender } from '../engine/mllp/index.js';
import { freePort, portAccepts, startBroker, stopBroker } from '../engine/kafka/broker.js';
import { createAdmin } from '../engine/kafka/client.js';
import { defaultBrokers } from '../engine/kafka/connection.js';
import { tailTopic } from '../engine/kafka/tail.js';
import { getComponent } from '../engine/registry.js';
import type { Destination } from '../engine/channel/types.js';
import type { Envelope } from '../engine/channel/envelope.js';
import { parseHl7 } from '../engine/hl7/index.js';
import { recordsOf } from '../engine/kafka/records.js';
import { adtA01 } from './fixtures/messages.js';
import { fmtInt } from './lib/stats.js';

const BROKERS = process.env.SLUICE_KAFKA_BROKERS ? defaultBrokers() : ['127.0.0.1:19092'];
const N = Number(process.env.BENCH_KAFKA_RECORDS ?? 20_000);
const VALUE = adtA01('CTRL').text;
const log = (s: string): void => { process.stderr.write(`${s}\n`); };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Topics this run created on the shared broker: deleted at the end, so runs do not pile up partition dirs. */
const created: string[] = [];
const topicName = (p: string): string => {
  const name = `bench.${p}.${Date.now().toString(36)}`;
  created.push(name);
  return name;
};

/** Deletes the topics created so far; each once, so a caller and its caller may both call it. */
async function deleteBenchTopics(): Promise<void> {
  const names = created.splice(0);
  if (names.length === 0) return;
  const admin = createAdmin({ brokers: BROKERS, clientId: 'bench-cleanup', requestTimeoutMs: 5000 });
  try {
    const existing = new Set(await admin.listTopics());
    const ours = names.filter((t) => existing.has(t));
    if (ours.length > 0) await admin.deleteTopics(ours);
  } catch (err) {
    log(`could not delete the benchmark topics: ${(err as Error).message}`);
  } finally {
    await admin.close().catch(() => undefined);
  }
}
const perSec = (n: number, ms: number): number => n / (ms / 1000);

/** The two libraries behind one tiny shape, for the comparison only. */
interface Rival {
  name: string;
  create(brokers: string[], topic: string, partitions: number): Promise<void>;
  /** Idempotent, acks=all; resolves after the broker acknowledged. */
  produce(brokers: string[], topic: string, batches: number, batchSize: number): Promise<number>;
  /** A group member; `onRecord` per record; returns a stop function. */
  member(brokers: string[], topic: string, groupId: string, onRecord: () => void): Promise<() => Promise<void>>;
}

const records = (topic: string, n: number, from = 0) => Array.from({ length: n }, (_, i) => ({ topic, key: `P${(from + i) % 50}`, value: VALUE }));

const platformatic: Rival = {
  name: '@platformatic/kafka 1.35',
  async create(brokers, topic, partitions) {
    const admin = new Admin({ clientId: 'bench', bootstrapBrokers: brokers });
    await admin.createTopics({ topics: [topic], partitions, replicas: 1 });
    await admin.close();
  },
  async produce(brokers, topic, batches, batchSize) {
    const p = new Producer({ clientId: 'bench', bootstrapBrokers: brokers, idempotent: true, acks: ProduceAcks.ALL, retries: 20, retryDelay: 250 });
    const t = performance.now();
    for (let b = 0; b < batches; b++) {
      await p.send({ messages: records(topic, batchSize, b * batchSize).map((r) => ({ topic: r.topic, key: Buffer.from(r.key), value: Buffer.from(r.value) })) });
    }
    const ms = performance.now() - t;
    await p.close();
    return ms;
  },
  async member(brokers, topic, groupId, onRecord) {
    const c = new Consumer({ clientId: 'bench', groupId, bootstrapBrokers: brokers, sessionTimeout: 10_000, heartbeatInterval: 1000, autocommit: false, retries: 20, retryDelay: 500 });
    const stream = await c.consume({ topics: [topic], mode: 'earliest', autocommit: false });
    stream.on('data', () => onRecord());
    stream.on('error', () => undefined);
    return async () => { await new Promise<void>((r) => { stream.close(() => r()); }); await new Promise<void>((r) => { c.close(true, () => r()); }); };
  },
};

const kafkajs: Rival = {
  name: 'kafkajs 2.2.4',
  async create(brokers, topic, partitions) {
    const admin = new Kafka({ clientId: 'bench', brokers, logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: partitions }], waitForLeaders: true });
    await admin.disconnect();
  },
  async produce(brokers, topic, batches, batchSize) {
    const p = new Kafka({ clientId: 'bench', brokers, logLevel: logLevel.NOTHING, retry: { retries: 20 } }).producer({ idempotent: true, maxInFlightRequests: 1 });
    await p.connect();
    const t = performance.now();
    for (let b = 0; b < batches; b++) await p.send({ topic, acks: -1, messages: records(topic, batchSize, b * batchSize).map(({ key, value }) => ({ key, value })) });
    const ms = performance.now() - t;
    await p.disconnect();
    return ms;
  },
  async member(brokers, topic, groupId, onRecord) {
    const c = new Kafka({ clientId: 'bench', brokers, logLevel: logLevel.NOTHING, retry: { retries: 20 } }).consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 1000 });
    await c.connect();
    await c.subscribe({ topic, fromBeginning: true });
    await c.run({ autoCommit: false, eachBatch: async ({ batch }) => { for (let i = 0; i < batch.messages.length; i++) onRecord(); } });
    return () => c.disconnect();
  },
};

async function until(cond: () => boolean, timeoutMs: number): Promise<number> {
  const t = performance.now();
  while (!cond()) {
    if (performance.now() - t > timeoutMs) return NaN;
    await sleep(20);
  }
  return performance.now() - t;
}

/** Produce and consume throughput; rebalance: how long until a joining second member gets records. */
async function compareOnBroker(rival: Rival): Promise<Record<string, number>> {
  const topic = topicName('cmp');
  await rival.create(BROKERS, topic, 6);
  const batched = perSec(N, await rival.produce(BROKERS, topic, N / 500, 500));
  const single = perSec(500, await rival.produce(BROKERS, topic, 500, 1));
  const total = N + 500;
  let got = 0;
  const t = performance.now();
  const stopA = await rival.member(BROKERS, topic, `${topic}.g`, () => { got++; });
  await until(() => got >= total, 60_000);
  const consume = perSec(total, performance.now() - t);
  await stopA();

  // Rebalance: member A consumes a steady trickle; B joins; time until B receives records.
  const group = `${topic}.rb`;
  let a = 0;
  let b = 0;
  const stopA2 = await rival.member(BROKERS, topic, group, () => { a++; });
  await until(() => a >= total, 60_000);
  let producing = true;
  const trickle = (async () => { while (producing) { await rival.produce(BROKERS, topic, 1, 30); await sleep(50); } })();
  const joinedAt = performance.now();
  const stopB = await rival.member(BROKERS, topic, group, () => { b++; });
  await until(() => b > 0, 60_000);
  const rebalance = b > 0 ? performance.now() - joinedAt : NaN;
  producing = false;
  await trickle;
  await Promise.all([stopA2(), stopB()]);
  return { batched, single, consume, rebalanceMs: rebalance };
}

/** Broker restart: after the broker is back, how long until a produce succeeds and the consumer sees it. */
async function restartRecovery(rival: Rival): Promise<{ produceMs: number; consumeMs: number }> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'sluice-bench-kafka-'));
  const port = await freePort();
  const brokers = [`127.0.0.1:${port}`];
  try {
    await startBroker({ port, dataDir, startTimeoutMs: 90_000 });
    const topic = topicName('restart');
    await rival.create(brokers, topic, 3);
    let got = 0;
    const stop = await rival.member(brokers, topic, `${topic}.g`, () => { got++; });
    await rival.produce(brokers, topic, 1, 10);
    await until(() => got >= 10, 30_000);
    await stopBroker(dataDir);
    await startBroker({ port, dataDir, startTimeoutMs: 90_000 });
    const t = performance.now();
    let produceMs = NaN;
    for (let i = 0; i < 60 && Number.isNaN(produceMs); i++) {
      try {
        await rival.produce(brokers, topic, 1, 10);
        produceMs = performance.now() - t;
      } catch {
        await sleep(500);
      }
    }
    const consumeMs = (await until(() => got >= 20, 60_000)) + produceMs;
    await stop().catch(() => undefined);
    return { produceMs, consumeMs };
  } finally {
    await stopBroker(dataDir).catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
  }
}

export async function runClientComparison(): Promise<string> {
  const rows: string[] = ['| client | produce, batches of 500 (rec/s) | produce, 1 record per request (rec/s) | consume (rec/s) | rebalance: 2nd member gets records after (ms) | broker restart: produce ok after (ms) | consumer sees new records after (ms) |', '|---|---|---|---|---|---|---|'];
  for (const rival of [platformatic, kafkajs]) {
    log(`clients: ${rival.name} on ${BROKERS.join(',')}…`);
    const r = await compareOnBroker(rival);
    log(`clients: ${rival.name} broker restart…`);
    const rr = await restartRecovery(rival).catch((err: unknown) => { log(`restart failed: ${(err as Error).message}`); return { produceMs: NaN, consumeMs: NaN }; });
    rows.push(`| ${rival.name} | ${fmtInt(r.batched!)} | ${fmtInt(r.single!)} | ${fmtInt(r.consume!)} | ${fmtInt(r.rebalanceMs!)} | ${fmtInt(rr.produceMs)} | ${fmtInt(rr.consumeMs)} |`);
  }
  return [`${N.toLocaleString('en-US')} records of ${VALUE.length} bytes, 6 partitions, idempotent producer, acks=all; Node ${process.version}.`, '', ...rows].join('\n');
}

function envelope(i: number): Envelope {
  const raw = Buffer.from(VALUE.replace('CTRL', `B${i}`));
  return { id: `bench-${i}`, channel: 'bench', receivedAt: Date.now(), source: { kind: 'mllp', controlId: `B${i}` }, raw, content: { kind: 'hl7v2', message: parseHl7(raw) }, key: `P${i % 50}`, warnings: [], stages: [] };
}

/** Records each side sends before the clock starts: connections, producer ids, metadata and the JIT warm on both sides alike. */
const WARM = 2000;

/**
 * The bare library's best: one idempotent producer, sequential batches of 500 (one request in
 * flight). Without `sameAs`: key and value only, as in the target. With it: exactly
 * the records our destination sends for those envelopes (its six headers; their buffers are
 * built before the clock, which favours the bare client).
 */
async function bareProduce(topic: string, sameAs?: readonly Envelope[], size = 500): Promise<number> {
  const p = new Producer({ clientId: 'bench', bootstrapBrokers: BROKERS, idempotent: true, acks: ProduceAcks.ALL, retries: 20, retryDelay: 250 });
  const ours = sameAs?.map((env) => recordsOf(env, { topic, format: 'auto', perResource: false })[0]!);
  const headers = ours?.map((r) => new Map(Object.entries(r.headers ?? {}).map(([k, v]) => [Buffer.from(k), Buffer.from(v)])));
  const batch = (from: number, n: number) => (ours
    ? ours.slice(from, from + n).map((r, i) => ({ topic, key: Buffer.from(r.key!), value: Buffer.from(r.value), headers: headers![from + i] }))
    : records(topic, n, from).map((r) => ({ topic: r.topic, key: Buffer.from(r.key), value: Buffer.from(r.value) })));
  for (let i = 0; i < WARM; i += size) await p.send({ messages: batch(i, Math.min(size, WARM - i)) });
  const t = performance.now();
  for (let i = 0; i < N; i += size) await p.send({ messages: batch(WARM + i, Math.min(size, N - i)) });
  const ms = performance.now() - t;
  await p.close();
  return perSec(N, ms);
}

interface VsBare {
  ours: number;
  /** The yardstick: key + value, batches of 500. */
  bare: number;
  /** Our records, batches of 500. */
  bareSame: number;
  /** Our records in requests no larger than ours: `inFlight` deliveries make at most that many records per request. */
  bareSameSize: number;
}

/** Our destination (`inFlight` deliveries at once, keys P0…P49, each delivery one record) vs the bare library's best (batches of 500). */
async function destinationVsBare(inFlight: number): Promise<VsBare> {
  const topic = topicName('dest');
  await platformatic.create(BROKERS, topic, 6);
  const envs = Array.from({ length: WARM + N }, (_, i) => envelope(i));
  const bare = await bareProduce(topic);
  const bareSame = await bareProduce(topic, envs);
  const bareSameSize = inFlight >= 500 ? bareSame : await bareProduce(topic, envs, inFlight);
  const spec = getComponent('destination', 'kafka')!;
  const dest = spec.create(spec.schema.parse({ topic, brokers: BROKERS }), { channel: 'bench', dataDir: os.tmpdir(), logger: silentLogger }) as Destination;
  const ctx = { channel: 'bench', destination: 'out', attempt: 1, logger: silentLogger, signal: new AbortController().signal };
  const run = async (from: number, to: number): Promise<void> => {
    let next = from;
    await Promise.all(Array.from({ length: inFlight }, async () => {
      for (let i = next++; i < to; i = next++) {
        const r = await dest.send(envs[i]!, ctx);
        if (!r.ok) throw new Error(r.error);
      }
    }));
  };
  await run(0, WARM);
  const t = performance.now();
  await run(WARM, WARM + N);
  const ours = perSec(N, performance.now() - t);
  await dest.close();
  return { ours, bare, bareSame, bareSameSize };
}

/** MLLP → store → v2ToFhir → Kafka; ACK rate and ACK → record-on-topic latency. */
async function pipeline(messages: number): Promise<{ rate: number; p50: number; p99: number }> {
  const topic = topicName('pipe');
  const config = await tempEngineConfig();
  const engine = await Engine.open(config, silentLogger);
  const channel = engine.deploy(channelConfig({
    name: 'bench', source: { mllp: { port: 0 } }, duplicates: { enabled: false, window: 0 },
    steps: [{ v2ToFhir: { provenance: false } }],
    destinations: { out: { kafka: { topic, brokers: BROKERS, partitions: 6 }, queue: { concurrency: 64 } } },
  }));
  await channel.start();
  const port = (channel.def.source as unknown as { port: number }).port;
  const ackedAt = new Map<string, number>();
  const latencies: number[] = [];
  const reading = tailTopic({
    brokers: BROKERS, topic, fromBeginning: true, count: messages, timeoutMs: 180_000,
    onRecord: (r) => { const at = ackedAt.get(r.headers['sluice-control-id'] ?? ''); if (at !== undefined) latencies.push(performance.now() - at); },
  });
  let next = 0;
  const t = performance.now();
  await Promise.all(Array.from({ length: 8 }, async () => {
    const sender = new MllpSender({ host: '127.0.0.1', port, ackTimeoutMs: 30_000 });
    for (let i = next++; i < messages; i = next++) {
      const id = `E${i}`;
      const ack = await sender.send(VALUE.replace('CTRL', id).replace('4523178', `P${i % 50}`));
      ackedAt.set(id, performance.now());
      if (ack.code !== 'AA') throw new Error(`${id}: ${ack.code}`);
    }
    await sender.close();
  }));
  const rate = perSec(messages, performance.now() - t);
  await reading;
  await engine.stop();
  await rm(config.dataDir, { recursive: true, force: true });
  const s = latencies.sort((a, b) => a - b);
  return { rate, p50: s[Math.floor(s.length * 0.5)] ?? NaN, p99: s[Math.floor(s.length * 0.99)] ?? NaN };
}

const pct = (a: number, b: number): string => `${Math.round((a / b) * 100)}%`;

export async function runPipelineBench(): Promise<string> {
  log('pipeline: our destination vs the bare client…');
  const narrow = await destinationVsBare(64);
  const wide = await destinationVsBare(512);
  const messages = Number(process.env.BENCH_KAFKA_MESSAGES ?? 4000);
  log(`pipeline: MLLP → store → v2ToFhir → Kafka, ${messages} messages over 8 connections…`);
  const p = await pipeline(messages);
  const rows = (inFlight: number, r: VsBare): string[] => [
    `| bare @platformatic/kafka producer, batches of 500, key + value (rec/s) | ${fmtInt(r.bare)} |`,
    `| bare producer, batches of 500, our records (6 headers) (rec/s) | ${fmtInt(r.bareSame)} |`,
    ...(inFlight < 500 ? [`| bare producer, batches of ${inFlight}, our records (rec/s) | ${fmtInt(r.bareSameSize)} |`] : []),
    `| our kafka destination, ${inFlight} deliveries in flight (rec/s) | ${fmtInt(r.ours)} (${pct(r.ours, r.bare)} of bare, ${pct(r.ours, r.bareSame)} of bare with our records, ${pct(r.ours, r.bareSameSize)} of that in requests of ${Math.min(inFlight, 500)}) |`,
  ];
  return [
    `Broker ${BROKERS.join(',')}; Node ${process.version}. Both sides send ${WARM} records before the clock.`, '',
    '| measure | result |', '|---|---|',
    `| MLLP → store → v2ToFhir → Kafka (acks=all), 8 connections: ACKed msgs/s | ${fmtInt(p.rate)} |`,
    `| ACK → record on the topic (consumer receipt), p50 / p99 ms | ${fmtInt(p.p50)} / ${fmtInt(p.p99)} |`,
    ...rows(64, narrow), ...rows(512, wide),
  ].join('\n');
}

/** Destination vs bare only, repeated: each round's ratios and the medians per in-flight count. */
export async function runDestinationRounds(rounds: number): Promise<string> {
  const rows = [
    '| deliveries in flight | bare, key + value (rec/s) | bare, our records (rec/s) | bare, our records, requests ≤ in flight (rec/s) | ours (rec/s) | ours / bare per round | median | ours / bare with our records, median | ours / bare with our records and request size, median |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  for (const inFlight of [64, 512]) {
    const rs: VsBare[] = [];
    for (let i = 0; i < rounds; i++) {
      const r = await destinationVsBare(inFlight);
      rs.push(r);
      log(`dest: ${inFlight} in flight, round ${i + 1}: ours ${fmtInt(r.ours)}, bare ${fmtInt(r.bare)}, bare with our records ${fmtInt(r.bareSame)}, same request size ${fmtInt(r.bareSameSize)}`);
    }
    const a = rs.map((r) => r.ours / r.bare);
    const b = rs.map((r) => r.ours / r.bareSame);
    const c = rs.map((r) => r.ours / r.bareSameSize);
    const list = (xs: number[]): string => xs.map((x) => `${Math.round(x * 100)}%`).join(' ');
    const m = (xs: number[]): string => `${Math.round(med(xs) * 100)}%`;
    rows.push(`| ${inFlight} | ${fmtInt(med(rs.map((r) => r.bare)))} | ${fmtInt(med(rs.map((r) => r.bareSame)))} | ${fmtInt(med(rs.map((r) => r.bareSameSize)))} | ${fmtInt(med(rs.map((r) => r.ours)))} | ${list(a)} | ${m(a)} | ${m(b)} | ${m(c)} |`);
  }
  return [`${N.toLocaleString('en-US')} records of ${VALUE.length} bytes, 6 partitions, ${rounds} rounds; Node ${process.version}. Both sides send ${WARM} records before the clock.`, '', ...rows].join('\n');
}

/** Both parts as Markdown, for bench/run.ts; skipped (with a note) when no broker answers. */
export async function runKafkaBench(): Promise<string> {
  const port = Number(BROKERS[0]!.split(':')[1]);
  if (!(await portAccepts(port))) return `## Kafka\n\nskipped: no broker on ${BROKERS[0]} (sluice kafka up --port ${port} --data .cache/kafka/ci)\n`;
  try {
    return ['## Kafka clients', '', await runClientComparison(), '', '## Kafka pipeline', '', await runPipelineBench(), ''].join('\n');
  } finally {
    await deleteBenchTopics();
  }
}

async function main(): Promise<void> {
  const part = process.argv[2];
  if (part !== undefined && part !== 'clients' && part !== 'pipeline' && part !== 'dest') throw new Error(`unknown part ${part} (clients | pipeline | dest)`);
  const out: string[] = [];
  if (part === 'dest') out.push('## Kafka destination vs bare client', '', await runDestinationRounds(Number(process.env.BENCH_KAFKA_REPEAT ?? 3)), '');
  if (part === undefined || part === 'clients') out.push('## Kafka clients', '', await runClientComparison(), '');
  if (part === undefined || part === 'pipeline') out.push('## Kafka pipeline', '', await runPipelineBench(), '');
  process.stdout.write(out.join('\n'));
  await deleteBenchTopics();
  // Library sockets may linger; the report is out.
  process.exit(0);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    process.stderr.write(`kafka benchmark failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  });
}

