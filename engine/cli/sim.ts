import { readFile } from 'node:fs/promises';
import { createLogger } from '../log.js';
import { startEpicSim, type SimClient, type SimFaults } from '../sim/index.js';
import { intOption, parse } from './args.js';
import { CliError } from './errors.js';
import { untilStopped } from './signals.js';

const USAGE = `sluice sim epic [--port 8040] [--host 127.0.0.1] [--public-url URL] [--seed N] [--patients N] [--observations N] [--token-lifetime S]
    [--messy] [--include] [--page-size N]
    [--client-id ID [--jwks FILE | --jwks-url URL] [--redirect-uri URI ...] [--scope S ...]]
    [--rate429 F] [--burst429 EVERY:LENGTH] [--retry-after seconds|http-date] [--retry-after-seconds N]
    [--rate503 F] [--slow MS] [--drop F]`;

function fraction(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new CliError(`--${name} must be a fraction between 0 and 1, got "${value}"`, 2);
  return n;
}

/** `sluice sim epic`: runs the Epic simulator until SIGINT/SIGTERM, printing its URLs and a ready line. */
export async function simCommand(argv: string[], out: NodeJS.WritableStream, signal?: AbortSignal): Promise<number> {
  const { values, positionals } = parse(argv, {
    port: { type: 'string' },
    host: { type: 'string' },
    'public-url': { type: 'string' },
    seed: { type: 'string' },
    patients: { type: 'string' },
    observations: { type: 'string' },
    'token-lifetime': { type: 'string' },
    messy: { type: 'boolean' },
    include: { type: 'boolean' },
    'page-size': { type: 'string' },
    'client-id': { type: 'string' },
    jwks: { type: 'string' },
    'jwks-url': { type: 'string' },
    'redirect-uri': { type: 'string', multiple: true },
    scope: { type: 'string', multiple: true },
    rate429: { type: 'string' },
    burst429: { type: 'string' },
    'retry-after': { type: 'string' },
    'retry-after-seconds': { type: 'string' },
    rate503: { type: 'string' },
    slow: { type: 'string' },
    drop: { type: 'string' },
  }, USAGE);
  const [flavour, ...extra] = positionals;
  if (flavour !== 'epic' || extra.length > 0) throw new CliError(`usage: ${USAGE}`, 2);

  const faults: Partial<SimFaults> = {};
  const rate429 = fraction(values.rate429, 'rate429');
  if (rate429 !== undefined) faults.rate429 = rate429;
  const rate503 = fraction(values.rate503, 'rate503');
  if (rate503 !== undefined) faults.rate503 = rate503;
  const drop = fraction(values.drop, 'drop');
  if (drop !== undefined) faults.dropRate = drop;
  if (values.slow !== undefined) faults.slowMs = intOption(values.slow, 'slow');
  if (values['retry-after-seconds'] !== undefined) faults.retryAfterSeconds = intOption(values['retry-after-seconds'], 'retry-after-seconds');
  if (values['retry-after'] !== undefined) {
    if (values['retry-after'] !== 'seconds' && values['retry-after'] !== 'http-date') throw new CliError('--retry-after must be seconds or http-date', 2);
    faults.retryAfter = values['retry-after'];
  }
  if (values.burst429 !== undefined) {
    const match = /^(\d+):(\d+)$/.exec(values.burst429);
    if (!match) throw new CliError('--burst429 must be EVERY:LENGTH, e.g. 10:5', 2);
    faults.burst429 = { every: Number(match[1]), length: Number(match[2]) };
  }

  const clients: SimClient[] = [];
  if (values['client-id'] || values.jwks || values['jwks-url'] || values['redirect-uri']) {
    const client: SimClient = { clientId: values['client-id'] ?? 'sluice-sim' };
    if (values.jwks) {
      try {
        client.jwks = JSON.parse(await readFile(values.jwks, 'utf8')) as SimClient['jwks'];
      } catch (e) {
        throw new CliError(`--jwks ${values.jwks}: ${(e as Error).message}`, 2);
      }
    }
    if (values['jwks-url']) client.jwksUrl = values['jwks-url'];
    if (values['redirect-uri']) client.redirectUris = values['redirect-uri'];
    if (values.scope) client.scopes = values.scope;
    clients.push(client);
  }

  const seed = intOption(values.seed, 'seed', 1);
  const patients = intOption(values.patients, 'patients', 10);
  const sim = await startEpicSim({
    port: intOption(values.port, 'port', 8040),
    ...(values.host ? { host: values.host } : {}),
    ...(values['public-url'] ? { publicUrl: values['public-url'] } : {}),
    seed,
    patients,
    observationsPerPatient: intOption(values.observations, 'observations', 20),
    tokenLifetimeSeconds: intOption(values['token-lifetime'], 'token-lifetime', 300),
    messy: values.messy ?? false,
    supportsInclude: values.include ?? false,
    pageSize: intOption(values['page-size'], 'page-size', 100),
    clients,
    faults,
    logger: createLogger({ name: 'sluice-sim' }),
  }).catch((e: NodeJS.ErrnoException) => {
    throw new CliError(e.code === 'EADDRINUSE' ? `port ${values.port ?? 8040} is in use (try --port 0)` : e.message, 1);
  });
  out.write(
    `Epic simulator: seed ${seed}, ${patients} patients, ${values.messy ? 'messy' : 'clean'} data, ` +
      `${clients.length ? `client ${clients.map((c) => c.clientId).join(', ')}` : 'no clients yet (POST /_sim/clients)'}\n` +
      `  FHIR base     ${sim.fhirBase}\n` +
      `  metadata      ${sim.fhirBase}/metadata\n` +
      `  SMART config  ${sim.fhirBase}/.well-known/smart-configuration\n` +
      `  token         ${sim.tokenUrl}\n` +
      `  authorize     ${sim.authorizeUrl}\n` +
      `  control       ${sim.url}/_sim/counts, /_sim/faults, /_sim/launch, /_sim/clients (POST needs X-Sim-Control: 1)\n` +
      `ready ${sim.url}\n`,
  );
  await untilStopped(signal);
  await sim.close();
  out.write('stopped\n');
  return 0;
}
