import { tryParseDuration } from '../../config/duration.js';
import { BrokerError, DEFAULT_DATA_DIR, startBroker, stopBroker } from '../kafka/broker.js';
import { defaultBrokers } from '../kafka/connection.js';
import { recordLine, tailTopic } from '../kafka/tail.js';
import { intOption, parse } from './args.js';
import { CliError } from './errors.js';

const USAGE = 'sluice kafka up [--port 9092] [--data DIR] [--controller-port P] [--no-auto-create] [--timeout S] | sluice kafka down [--data DIR] | sluice kafka tail TOPIC [--brokers H:P,...] [--from-beginning] [--count N] [--timeout 10s]';

/** `sluice kafka up|down`: a local single-node Kafka broker for dev and tests. */
export async function kafkaCommand(argv: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    switch (sub) {
      case 'up': return await up(rest, out, err);
      case 'down': return await down(rest, out);
      case 'tail': return await tail(rest, out);
      default:
        throw new CliError(sub === undefined ? `kafka needs up, down or tail\nusage: ${USAGE}` : `unknown kafka command "${sub}"\nusage: ${USAGE}`, 2);
    }
  } catch (e) {
    if (e instanceof BrokerError) throw new CliError(e.message);
    throw e;
  }
}

async function up(argv: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parse(argv, {
    port: { type: 'string' },
    data: { type: 'string' },
    'controller-port': { type: 'string' },
    'no-auto-create': { type: 'boolean' },
    timeout: { type: 'string' },
  }, USAGE);
  if (positionals.length > 0) throw new CliError(`unexpected argument "${positionals[0]}"\nusage: ${USAGE}`, 2);
  const port = values.port === undefined ? undefined : intOption(values.port, 'port');
  if (port !== undefined && (port < 1 || port > 65535)) throw new CliError(`--port must be 1-65535, got ${port}`, 2);
  const controllerPort = values['controller-port'] === undefined ? undefined : intOption(values['controller-port'], 'controller-port');
  const timeoutS = intOption(values.timeout, 'timeout', 90);
  const info = await startBroker({
    port,
    controllerPort,
    dataDir: values.data ?? DEFAULT_DATA_DIR,
    autoCreateTopics: !values['no-auto-create'],
    startTimeoutMs: timeoutS * 1000,
    log: (line) => err.write(`${line}\n`),
  });
  out.write(info.alreadyRunning
    ? `kafka already running on 127.0.0.1:${info.port} (pid ${info.pid})\n`
    : `kafka up on 127.0.0.1:${info.port} (pid ${info.pid})\n`);
  return 0;
}

async function down(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parse(argv, { data: { type: 'string' } }, USAGE);
  if (positionals.length > 0) throw new CliError(`unexpected argument "${positionals[0]}"\nusage: ${USAGE}`, 2);
  const dataDir = values.data ?? DEFAULT_DATA_DIR;
  const pid = await stopBroker(dataDir);
  out.write(pid === undefined ? `kafka not running (${dataDir})\n` : `kafka stopped (pid ${pid})\n`);
  return 0;
}

/** `sluice kafka tail TOPIC`: prints records as JSON lines; exits 1 when --count was not reached in time. */
async function tail(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parse(argv, {
    brokers: { type: 'string' },
    'from-beginning': { type: 'boolean' },
    count: { type: 'string' },
    timeout: { type: 'string' },
  }, USAGE);
  const [topic, extra] = positionals;
  if (topic === undefined) throw new CliError(`kafka tail needs a TOPIC\nusage: ${USAGE}`, 2);
  if (extra !== undefined) throw new CliError(`unexpected argument "${extra}"\nusage: ${USAGE}`, 2);
  const count = values.count === undefined ? undefined : intOption(values.count, 'count');
  const timeoutMs = values.timeout === undefined ? 10_000 : tryParseDuration(values.timeout);
  if (timeoutMs === undefined) throw new CliError(`--timeout must be a duration like 10s, got "${values.timeout}"`, 2);
  const brokers = values.brokers ? values.brokers.split(',').map((b) => b.trim()).filter(Boolean) : defaultBrokers();
  const seen = await tailTopic({
    brokers, topic, fromBeginning: !!values['from-beginning'], count, timeoutMs,
    onRecord: (r) => out.write(`${recordLine(r)}\n`),
  });
  if (count !== undefined && seen < count) throw new CliError(`kafka tail: ${seen} of ${count} records from ${topic} within ${timeoutMs} ms`);
  return 0;
}
