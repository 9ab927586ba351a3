/**
 * A local single-node Apache Kafka broker (KRaft, broker + controller in one JVM) for dev and tests.
 *
 * The broker jars come from Maven Central through `mvn` (a generated pom, `dependency:build-classpath`),
 * so nothing but Java 17+ and Maven is needed. The resolved classpath is cached in the cache dir
 * (default `.cache/kafka`), so only the first start pays for resolution.
 *
 * Everything about one broker lives in its data dir: server.properties, log4j2.properties,
 * broker.json (pid and ports), server.log (the broker's log), kafka.out (JVM stdout/stderr),
 * and logs/ (the Kafka log dir). The broker binds 127.0.0.1 only.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';

/** The newest Kafka 4.x that resolved from Maven Central when this was written. */
export const KAFKA_VERSION = '4.4.0';
/** log4j2's slf4j 1.7 binding, so the broker (slf4j 1.7) writes its log through log4j2 (a Kafka dependency). */
const LOG4J_SLF4J_VERSION = '2.25.5';

const HOST = '127.0.0.1';
const STARTED = /Kafka Server started/;

export class BrokerError extends Error {}

export interface BrokerOptions {
  /** Client (PLAINTEXT) port; default 9092. */
  port?: number;
  /** KRaft controller port; default port+1 when free, else any free port. */
  controllerPort?: number;
  /** Default `.cache/kafka/data`. */
  dataDir?: string;
  /** Where the generated pom and the resolved classpath are cached; default `.cache/kafka`. */
  cacheDir?: string;
  kafkaVersion?: string;
  /** auto.create.topics.enable; default true. */
  autoCreateTopics?: boolean;
  /** Bound on waiting for the broker to start; default 90 s. */
  startTimeoutMs?: number;
  /** Bound on Maven resolution; default 10 min. */
  resolveTimeoutMs?: number;
  /** Progress lines (resolution, formatting). */
  log?: (line: string) => void;
}

export interface BrokerInfo {
  port: number;
  controllerPort: number;
  pid: number;
  dataDir: string;
  /** True when a broker was already running on this data dir and nothing was started. */
  alreadyRunning: boolean;
}

interface BrokerState {
  pid: number;
  port: number;
  controllerPort: number;
  kafkaVersion: string;
  startedAt: string;
}

export const DEFAULT_CACHE_DIR = path.join('.cache', 'kafka');
export const DEFAULT_DATA_DIR = path.join(DEFAULT_CACHE_DIR, 'data');

const STATE_FILE = 'broker.json';

// ---------------------------------------------------------------------------------------------
// processes

interface RunResult { code: number | null; output: string }

/** Runs a command to completion, output captured; ENOENT becomes `missing`. */
function run(cmd: string, args: string[], opts: { cwd?: string; timeoutMs?: number; missing: string }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const add = (b: Buffer) => {
      output += b.toString('utf8');
      if (output.length > 200_000) output = output.slice(-100_000);
    };
    child.stdout.on('data', add);
    child.stderr.on('data', add);
    const timer = opts.timeoutMs ? setTimeout(() => {
      output += `\n(timed out after ${Math.round(opts.timeoutMs! / 1000)} s)`;
      child.kill('SIGKILL');
    }, opts.timeoutMs) : undefined;
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (timer) clearTimeout(timer);
      reject(e.code === 'ENOENT' ? new BrokerError(opts.missing) : e);
    });
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

function tail(text: string, lines = 25): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

function javaCommand(): string {
  const home = process.env.JAVA_HOME;
  if (home) {
    const candidate = path.join(home, 'bin', process.platform === 'win32' ? 'java.exe' : 'java');
    if (existsSync(candidate)) return candidate;
  }
  return 'java';
}

/** Checks that Java 17+ is on PATH (or JAVA_HOME); returns the java command. */
export async function checkJava(): Promise<string> {
  const java = javaCommand();
  const r = await run(java, ['-version'], { missing: 'Java not found: the Kafka broker needs Java 17 or newer on PATH (or JAVA_HOME)' });
  if (r.code !== 0) throw new BrokerError(`"${java} -version" failed:\n${tail(r.output)}`);
  const m = /version "(\d+)(?:\.(\d+))?/.exec(r.output);
  if (m) {
    const major = m[1] === '1' ? Number(m[2]) : Number(m[1]);
    if (major < 17) throw new BrokerError(`Kafka ${KAFKA_VERSION} needs Java 17 or newer; found Java ${major} (${java})`);
  }
  return java;
}

function readProc(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie (exited, not yet reaped by its parent) still answers signal 0.
  const statText = readProc(`/proc/${pid}/stat`);
  if (statText !== undefined) {
    const state = statText.charAt(statText.lastIndexOf(')') + 2);
    if (state === 'Z' || state === 'X') return false;
  }
  return true;
}

/** Whether pid is a Kafka broker (when /proc can tell; otherwise trusts the pid file). */
function isKafkaProcess(pid: number): boolean {
  const cmdline = readProc(`/proc/${pid}/cmdline`);
  if (cmdline === undefined) return alive(pid);
  return cmdline.split('\0').includes('kafka.Kafka');
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// network

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function portAccepts(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Whether 127.0.0.1:port can be bound right now. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: HOST, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** A port the OS says is free on 127.0.0.1 now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ host: HOST, port: 0 }, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// resolution

function pom(kafkaVersion: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<!-- Generated by engine/kafka/broker.ts: resolves the Kafka broker and its runtime dependencies. -->
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.sluice</groupId>
  <artifactId>sluice-kafka-broker</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>${kafkaVersion}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>${LOG4J_SLF4J_VERSION}</version>
      <scope>runtime</scope>
    </dependency>
  </dependencies>
</project>
`;
}

async function cachedClasspath(file: string): Promise<string | undefined> {
  let text: string;
  try {
    text = (await readFile(file, 'utf8')).trim();
  } catch {
    return undefined;
  }
  const jars = text.split(path.delimiter).filter(Boolean);
  if (jars.length === 0 || !jars.every((j) => existsSync(j))) return undefined;
  return jars.join(path.delimiter);
}

/**
 * The broker's classpath: kafka_2.13 and its runtime dependencies, resolved into the local Maven
 * repository by `mvn`. Cached in `cacheDir/classpath-<version>.txt`; re-resolved if a jar went missing.
 */
export async function resolveKafkaClasspath(opts: Pick<BrokerOptions, 'cacheDir' | 'kafkaVersion' | 'resolveTimeoutMs' | 'log'> = {}): Promise<string> {
  const version = opts.kafkaVersion ?? KAFKA_VERSION;
  const cacheDir = path.resolve(opts.cacheDir ?? DEFAULT_CACHE_DIR);
  const cpFile = path.join(cacheDir, `classpath-${version}.txt`);
  const cached = await cachedClasspath(cpFile);
  if (cached) return cached;

  const workDir = path.join(cacheDir, `resolve-${version}`);
  await mkdir(workDir, { recursive: true });
  await writeFile(path.join(workDir, 'pom.xml'), pom(version));
  const tmpOut = path.join(workDir, `classpath.${process.pid}.${randomBytes(4).toString('hex')}.txt`);
  opts.log?.(`resolving Kafka ${version} and its dependencies with Maven (first run only)...`);
  const r = await run('mvn', ['-B', '-q', '-Dstyle.color=never', '-f', path.join(workDir, 'pom.xml'), 'dependency:build-classpath', `-Dmdep.outputFile=${tmpOut}`], {
    cwd: workDir,
    timeoutMs: opts.resolveTimeoutMs ?? 600_000,
    missing: 'Maven (mvn) not found: it is needed once to download the Kafka broker jars; install Maven 3.8+ and put mvn on PATH',
  });
  if (r.code !== 0 || !existsSync(tmpOut)) {
    await rm(tmpOut, { force: true });
    throw new BrokerError(`could not resolve org.apache.kafka:kafka_2.13:${version} with Maven (exit ${r.code}):\n${tail(r.output)}`);
  }
  await rename(tmpOut, cpFile); // atomic: a concurrent resolver sees a whole file or none
  const cp = await cachedClasspath(cpFile);
  if (!cp) throw new BrokerError(`Maven resolved org.apache.kafka:kafka_2.13:${version} but its classpath lists missing jars (${cpFile})`);
  return cp;
}

// ---------------------------------------------------------------------------------------------
// broker state

async function readState(dataDir: string): Promise<BrokerState | undefined> {
  try {
    const s = JSON.parse(await readFile(path.join(dataDir, STATE_FILE), 'utf8')) as BrokerState;
    return Number.isInteger(s.pid) && Number.isInteger(s.port) ? s : undefined;
  } catch {
    return undefined;
  }
}

/** The broker running on this data dir, if any. */
export async function brokerStatus(dataDir = DEFAULT_DATA_DIR): Promise<BrokerState | undefined> {
  const dir = path.resolve(dataDir);
  const s = await readState(dir);
  return s && alive(s.pid) && isKafkaProcess(s.pid) ? s : undefined;
}

function serverProperties(o: { dataDir: string; port: number; controllerPort: number; autoCreateTopics: boolean }): string {
  return [
    '# Generated by engine/kafka/broker.ts on each start; edits are overwritten.',
    'process.roles=broker,controller',
    'node.id=1',
    `controller.quorum.voters=1@${HOST}:${o.controllerPort}`,
    `listeners=PLAINTEXT://${HOST}:${o.port},CONTROLLER://${HOST}:${o.controllerPort}`,
    `advertised.listeners=PLAINTEXT://${HOST}:${o.port}`,
    'controller.listener.names=CONTROLLER',
    'inter.broker.listener.name=PLAINTEXT',
    'listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT',
    `log.dirs=${path.join(o.dataDir, 'logs')}`,
    'num.partitions=3',
    'offsets.topic.replication.factor=1',
    'transaction.state.log.replication.factor=1',
    'transaction.state.log.min.isr=1',
    'share.coordinator.state.topic.replication.factor=1',
    'share.coordinator.state.topic.min.isr=1',
    'group.initial.rebalance.delay.ms=0',
    `auto.create.topics.enable=${o.autoCreateTopics}`,
    '',
  ].join('\n');
}

const LOG4J2 = `# Generated by engine/kafka/broker.ts
status = error
appender.file.type = File
appender.file.name = file
appender.file.fileName = \${sys:kafka.logs.dir}/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = info
logger.apache.name = org.apache.kafka
logger.apache.level = info
`;

async function readTail(file: string, lines = 25): Promise<string> {
  try {
    return tail(await readFile(file, 'utf8'), lines);
  } catch {
    return '';
  }
}

async function logsTail(dataDir: string): Promise<string> {
  const out = await readTail(path.join(dataDir, 'kafka.out'), 15);
  const log = await readTail(path.join(dataDir, 'server.log'), 25);
  return [out && `--- ${path.join(dataDir, 'kafka.out')}\n${out}`, log && `--- ${path.join(dataDir, 'server.log')}\n${log}`].filter(Boolean).join('\n');
}

async function logSaysStarted(dataDir: string): Promise<boolean> {
  try {
    return STARTED.test(await readFile(path.join(dataDir, 'server.log'), 'utf8'));
  } catch {
    return false;
  }
}

/** Polls until the port accepts connections and server.log says the broker started. */
async function waitReady(dataDir: string, port: number, pid: number, timeoutMs: number, exited: () => string | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const exit = exited();
    if (exit !== undefined || !alive(pid)) {
      throw new BrokerError(`Kafka broker exited during start-up (${exit ?? 'process gone'}):\n${await logsTail(dataDir)}`);
    }
    if ((await logSaysStarted(dataDir)) && (await portAccepts(port))) return;
    if (Date.now() > deadline) {
      throw new BrokerError(`Kafka broker did not start within ${Math.round(timeoutMs / 1000)} s (pid ${pid}):\n${await logsTail(dataDir)}`);
    }
    await sleep(250);
  }
}

// ---------------------------------------------------------------------------------------------
// start / stop

/**
 * Starts a broker on the data dir (formatting its storage the first time) and resolves once it accepts
 * connections and has logged that it started. If one is already running on the data dir, returns it
 * (alreadyRunning: true) — an error if it runs on a different port than the one asked for.
 */
export async function startBroker(opts: BrokerOptions = {}): Promise<BrokerInfo> {
  const dataDir = path.resolve(opts.dataDir ?? DEFAULT_DATA_DIR);
  const timeoutMs = opts.startTimeoutMs ?? 90_000;

  const running = await brokerStatus(dataDir);
  if (running) {
    if (opts.port !== undefined && opts.port !== running.port) {
      throw new BrokerError(`a Kafka broker is already running on ${dataDir} on port ${running.port} (pid ${running.pid}), not ${opts.port}; stop it first (sluice kafka down --data ${dataDir})`);
    }
    await waitReady(dataDir, running.port, running.pid, timeoutMs, () => undefined);
    return { port: running.port, controllerPort: running.controllerPort, pid: running.pid, dataDir, alreadyRunning: true };
  }

  const port = opts.port ?? 9092;
  if (!(await portFree(port))) {
    throw new BrokerError(`port ${port} on ${HOST} is already in use (another Kafka? choose one with --port)`);
  }
  let controllerPort = opts.controllerPort;
  if (controllerPort === undefined) {
    controllerPort = port + 1 <= 65535 && (await portFree(port + 1)) ? port + 1 : await freePort();
  } else if (controllerPort === port || !(await portFree(controllerPort))) {
    throw new BrokerError(`controller port ${controllerPort} on ${HOST} is already in use`);
  }

  const java = await checkJava();
  const kafkaVersion = opts.kafkaVersion ?? KAFKA_VERSION;
  const classpath = await resolveKafkaClasspath({ ...opts, kafkaVersion });

  await mkdir(path.join(dataDir, 'logs'), { recursive: true });
  const propsFile = path.join(dataDir, 'server.properties');
  await writeFile(propsFile, serverProperties({ dataDir, port, controllerPort, autoCreateTopics: opts.autoCreateTopics ?? true }));
  const log4jFile = path.join(dataDir, 'log4j2.properties');
  await writeFile(log4jFile, LOG4J2);

  if (!existsSync(path.join(dataDir, 'logs', 'meta.properties'))) {
    opts.log?.(`formatting Kafka storage in ${path.join(dataDir, 'logs')}`);
    const fmt = await run(java, ['-cp', classpath, 'kafka.tools.StorageTool', 'format', '--ignore-formatted', '-t', clusterId(), '-c', propsFile], {
      timeoutMs: 120_000,
      missing: 'Java not found',
    });
    if (fmt.code !== 0) throw new BrokerError(`formatting Kafka storage failed (exit ${fmt.code}):\n${tail(fmt.output)}`);
  }

  // A fresh log per start, so "started" is this start's and the previous one is kept for a look.
  const serverLog = path.join(dataDir, 'server.log');
  if (existsSync(serverLog)) await rename(serverLog, `${serverLog}.prev`);
  const outFd = openSync(path.join(dataDir, 'kafka.out'), 'w');
  let exitNote: string | undefined;
  let child;
  try {
    child = spawn(java, [
      '-Xms128m', '-Xmx512m',
      '-XX:+ExitOnOutOfMemoryError',
      '-Djava.awt.headless=true',
      `-Dkafka.logs.dir=${dataDir}`,
      `-Dlog4j2.configurationFile=${log4jFile}`,
      '-cp', classpath,
      'kafka.Kafka', propsFile,
    ], { cwd: dataDir, detached: true, stdio: ['ignore', outFd, outFd] });
  } finally {
    closeSync(outFd);
  }
  const pid = await new Promise<number>((resolve, reject) => {
    child.once('spawn', () => resolve(child.pid!));
    child.once('error', (e) => reject(new BrokerError(`could not start java: ${e.message}`)));
  });
  child.once('exit', (code, signal) => { exitNote = signal ? `signal ${signal}` : `exit code ${code}`; });
  child.unref();

  const state: BrokerState = { pid, port, controllerPort, kafkaVersion, startedAt: new Date().toISOString() };
  await writeFile(path.join(dataDir, STATE_FILE), JSON.stringify(state, null, 2) + '\n');
  await writeFile(path.join(dataDir, 'kafka.pid'), `${pid}\n`);

  try {
    await waitReady(dataDir, port, pid, timeoutMs, () => exitNote);
  } catch (e) {
    if (alive(pid)) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    await removeState(dataDir);
    throw e;
  }
  return { port, controllerPort, pid, dataDir, alreadyRunning: false };
}

/** A KRaft cluster id: 16 random bytes, base64url without padding (what `random-uuid` prints). */
function clusterId(): string {
  return randomBytes(16).toString('base64url');
}

async function removeState(dataDir: string): Promise<void> {
  await rm(path.join(dataDir, STATE_FILE), { force: true });
  await rm(path.join(dataDir, 'kafka.pid'), { force: true });
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
  return true;
}

/**
 * Stops the broker running on the data dir: SIGTERM (a controlled shutdown, bounded by termTimeoutMs),
 * then SIGKILL. Returns the pid it stopped, or undefined when nothing was running (a no-op).
 */
export async function stopBroker(dataDir = DEFAULT_DATA_DIR, opts: { termTimeoutMs?: number } = {}): Promise<number | undefined> {
  const dir = path.resolve(dataDir);
  const state = await readState(dir);
  if (!state) return undefined;
  if (!alive(state.pid) || !isKafkaProcess(state.pid)) {
    await removeState(dir);
    return undefined;
  }
  try { process.kill(state.pid, 'SIGTERM'); } catch { /* already gone */ }
  if (!(await waitGone(state.pid, opts.termTimeoutMs ?? 30_000))) {
    try { process.kill(state.pid, 'SIGKILL'); } catch { /* already gone */ }
    if (!(await waitGone(state.pid, 10_000))) throw new BrokerError(`Kafka broker (pid ${state.pid}) did not exit after SIGKILL`);
  }
  await removeState(dir);
  return state.pid;
}
