import { BrokerError, DEFAULT_DATA_DIR, startBroker, stopBroker } from '../kafka/broker.js';
import { intOption, parse } from './args.js';
import { CliError } from './errors.js';

const USAGE = 'sluice kafka up [--port 9092] [--data DIR] [--controller-port P] [--no-auto-create] [--timeout S] | sluice kafka down [--data DIR]';

/** `sluice kafka up|down`: a local single-node Kafka broker for dev and tests. */
export async function kafkaCommand(argv: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const [sub, ...rest] = argv;
  try {
    switch (sub) {
      case 'up': return await up(rest, out, err);
      case 'down': return await down(rest, out);
      default:
        throw new CliError(sub === undefined ? `kafka needs up or down\nusage: ${USAGE}` : `unknown kafka command "${sub}"\nusage: ${USAGE}`, 2);
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
