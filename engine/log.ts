import pino, { type Logger } from 'pino';

/**
 * Field names that may carry PHI or secrets. Sluice code logs ids, counts and peers,
 * never message content; this list is the second line of defence for anything that
 * slips into a log object anyway.
 */
const REDACT_PATHS = [
  'raw', '*.raw', 'message', '*.message.raw', 'content', '*.content', 'body', '*.body', 'payload', '*.payload',
  'patient', '*.patient', 'mrn', '*.mrn', '*.name', 'birthDate', '*.birthDate',
  'authorization', '*.authorization', 'headers.authorization', 'token', '*.token', 'access_token', '*.access_token',
  'refresh_token', '*.refresh_token', 'password', '*.password', 'secret', '*.secret', 'key', '*.privateKey',
  'client_assertion', '*.client_assertion', 'refreshToken', '*.refreshToken', 'clientSecret', '*.clientSecret',
  'accessToken', '*.accessToken',
];

export type { Logger };

export function createLogger(opts: { level?: string; name?: string; destination?: pino.DestinationStream | NodeJS.WritableStream } = {}): Logger {
  const options: pino.LoggerOptions = {
    level: opts.level ?? process.env.SLUICE_LOG_LEVEL ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { name: opts.name ?? 'sluice' },
  };
  return opts.destination ? pino(options, opts.destination as pino.DestinationStream) : pino(options, pino.destination(2));
}

/** A logger that drops everything, for library use and tests that do not look at logs. */
export const silentLogger: Logger = pino({ level: 'silent' });
