import { CliError } from './errors.js';
import { hl7Command } from './hl7.js';
import { kafkaCommand } from './kafka.js';
import { listenCommand } from './listen.js';
import { sendCommand } from './send.js';
import { lintCommand, listCommand, runCommand, schemaCommand } from './engine-commands.js';
import { messagesCommand } from './messages.js';
import { channelsCommand } from './channels.js';
import { testCommand } from './test-command.js';
import { keysCommand } from './keys.js';
import { fhirCommand } from './fhir.js';

const HELP = `sluice — HL7 v2 / FHIR interface engine

usage:
  sluice run [--config sluice.yaml]                      run the engine with its channels
  sluice lint [PATH...]                                  validate engine and channel files
  sluice test [PATH...]                                  run channel tests (*.test.yaml)
  sluice messages list|show|reprocess [filters] [ID...]  browse the message store (reprocess goes through a running engine's admin API)
  sluice channels list|start|stop|pause|undeploy|reload [NAME]  control a running engine's channels (admin API; token in SLUICE_ADMIN_TOKEN)
  sluice schema [--engine] [--docs DIR]                  JSON Schema for editors; reference docs
  sluice list                                            registered sources, steps, destinations
  sluice send --host H --port P [--tls ...] FILE|DIR|-   send messages over MLLP, print each ACK
  sluice listen --port P [--host H] [--out DIR]          receive over MLLP, ACK, store to DIR
  sluice hl7 get FILE PATH...                            print decoded values (e.g. PID-5.1 MSH-9.2)
  sluice hl7 inspect FILE                                print a readable tree of a message
  sluice convert FILE|- [--to fhir|hl7] [--bundle T] [--timezone TZ] [--codemap FILE]  HL7 v2 <-> FHIR R4; warnings on stderr
  sluice kafka up|down [--port 9092] [--data DIR]        local single-node Kafka broker for dev and tests
  sluice kafka tail TOPIC [--from-beginning] [--count N] print Kafka records (key, headers, value) as JSON lines
  sluice keys generate [--alg RS384|ES384] [--out DIR] [--kid K]  SMART backend key pair; prints the public JWKS
  sluice fhir search --config FILE --connection NAME 'Observation?patient=…' [--all]  search, print NDJSON
  sluice fhir validate [--all] FILE...|-                 validate FHIR R4 JSON/NDJSON with HAPI FHIR (needs Java)
  sluice sim epic [--port 8040] [--seed N] [--patients N] [--messy] [--rate429 F] …  Epic-like FHIR + SMART simulator
`;

/** Runs the CLI; resolves with the process exit code. Errors become one line on stderr. */
export async function main(argv: string[], io: { out?: NodeJS.WritableStream; err?: NodeJS.WritableStream; signal?: AbortSignal } = {}): Promise<number> {
  const out = io.out ?? process.stdout;
  const err = io.err ?? process.stderr;
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'send': return await sendCommand(rest, out, err);
      case 'listen': return await listenCommand(rest, out, err, io.signal);
      case 'hl7': return await hl7Command(rest, out);
      case 'run': return await runCommand(rest, out, err, io.signal);
      case 'lint': return lintCommand(rest, out, err);
      case 'test': return await testCommand(rest, out, err);
      case 'messages': return await messagesCommand(rest, out);
      case 'channels': return await channelsCommand(rest, out);
      case 'schema': return await schemaCommand(rest, out);
      case 'list': return listCommand(out);
      case 'kafka': return await kafkaCommand(rest, out, err);
      case 'convert': return await (await import('./convert.js')).convertCommand(rest, out, err); // lazy: loads the converters
      case 'keys': return await keysCommand(rest, out, err);
      case 'fhir': return await fhirCommand(rest, out, err);
      case 'sim': return await (await import('./sim.js')).simCommand(rest, out, io.signal); // lazy: loads FHIR definitions
      case undefined: case 'help': case '--help': case '-h':
        out.write(HELP);
        return command === undefined ? 2 : 0;
      default:
        throw new CliError(`unknown command "${command}"\n${HELP}`, 2);
    }
  } catch (e) {
    if (e instanceof CliError) {
      err.write(`sluice: ${e.message}\n`);
      return e.code;
    }
    throw e;
  }
}
