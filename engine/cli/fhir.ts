import { formatErrors, loadConfig } from '../../config/index.js';
import '../channel/components/index.js';
import { createLogger } from '../log.js';
import { FhirConnection, type FhirConnectionOptions } from '../fhir/connection.js';
import { AuthError, FhirError } from '../fhir/outcome.js';
import { parse } from './args.js';
import { CliError } from './errors.js';

const USAGE = "sluice fhir search --config FILE --connection NAME 'Observation?patient=…&category=…' [--all]\n       sluice fhir validate FILE";

/** `sluice fhir search`: a planned search through a configured connection, as NDJSON; `sluice fhir validate FILE`. */
export async function fhirCommand(argv: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const [sub, ...rest] = argv;
  // The validator needs Java; load it only for `validate`.
  if (sub === 'validate') return (await import('./fhir-validate.js')).fhirValidateCommand(rest, out, err);
  if (sub !== 'search') throw new CliError(sub === undefined ? `fhir needs a subcommand\nusage: ${USAGE}` : `unknown fhir command "${sub}"\nusage: ${USAGE}`, 2);
  const { values, positionals } = parse(rest, { config: { type: 'string' }, connection: { type: 'string' }, all: { type: 'boolean' } }, USAGE);
  if (positionals.length !== 1) throw new CliError(`expected one search, e.g. 'Observation?patient=123&category=laboratory'\nusage: ${USAGE}`, 2);
  if (!values.connection) throw new CliError(`--connection is required\nusage: ${USAGE}`, 2);
  const connection = openConnection(values.config, values.connection);
  let written = 0;
  let warnings = 0;
  try {
    const items = connection.search(positionals[0]!, {
      allPages: values.all === true,
      onWarning: (w) => {
        warnings++;
        err.write(`warning: ${w.code}: ${w.message}\n`);
      },
    });
    for await (const item of items) {
      const line = `${JSON.stringify(item.resource)}\n`;
      // Respect back-pressure so `| head` and large searches stay in bounded memory.
      if (!out.write(line)) await new Promise((r) => out.once('drain', r));
      written++;
    }
  } catch (e) {
    // The user ran this search: the server's own words help them, and go to their terminal only.
    if (e instanceof FhirError) throw new CliError(e.messageWithServerText());
    if (e instanceof AuthError) throw new CliError(e.message);
    if (e instanceof Error && /expected a search like/.test(e.message)) throw new CliError(e.message, 2);
    throw e;
  } finally {
    await connection.close();
  }
  err.write(`${written} resource(s)${warnings ? `, ${warnings} warning(s)` : ''}\n`);
  return 0;
}

function openConnection(configFile: string | undefined, name: string): FhirConnection {
  const { engine, errors } = loadConfig(configFile);
  const ref = engine.connections[name];
  if (!ref) {
    // An invalid connection is left out of the config: its errors say why.
    if (errors.length) throw new CliError(`connection "${name}" is not usable; config errors:\n${formatErrors(errors)}`);
    const known = Object.keys(engine.connections);
    throw new CliError(`unknown connection "${name}" (${known.length ? `known: ${known.join(', ')}` : 'no connections declared'})`);
  }
  if (ref.component !== 'fhir') throw new CliError(`connection "${name}" is a ${ref.component} connection, not fhir`);
  // Log to stderr at warn so stdout stays pure NDJSON; tokens are never logged at any level.
  return new FhirConnection(ref.options as FhirConnectionOptions, { logger: createLogger({ level: process.env.SLUICE_LOG_LEVEL ?? 'warn' }) });
}
