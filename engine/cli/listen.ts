import { mkdir, open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { buildAck } from '../hl7/index.js';
import { createLogger } from '../log.js';
import { MllpListener, defaultReply, type MllpHandler } from '../mllp/index.js';
import { intOption, parse } from './args.js';
import { CliError } from './errors.js';
import { untilStopped } from './signals.js';

const USAGE = 'sluice listen --port P [--host 127.0.0.1] [--out DIR] [--max-frame BYTES] [--tls-cert F --tls-key F [--tls-ca F]]';

/** Writes the bytes and fsyncs, so the AA that follows is true. */
async function writeDurably(file: string, bytes: Buffer): Promise<void> {
  const fh = await open(file, 'wx');
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function listenCommand(argv: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream, signal?: AbortSignal): Promise<number> {
  const { values, positionals } = parse(argv, {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    out: { type: 'string' },
    'max-frame': { type: 'string' },
    'max-connections': { type: 'string' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'tls-ca': { type: 'string' },
  }, USAGE);
  if (positionals.length > 0) throw new CliError(`unexpected argument "${positionals[0]}"\nusage: ${USAGE}`, 2);
  const port = intOption(values.port, 'port');
  const outDir = values.out;
  if (outDir) await mkdir(outDir, { recursive: true });
  if (!!values['tls-cert'] !== !!values['tls-key']) throw new CliError('--tls-cert and --tls-key go together', 2);

  let seq = 0;
  const handler: MllpHandler = async (inbound) => {
    if (!inbound.message) {
      out.write(`${new Date(inbound.receivedAt).toISOString()}\t${inbound.peer}\tAR\t${inbound.error?.reason ?? 'unparsable'}\n`);
      return defaultReply(inbound);
    }
    const msg = inbound.message;
    if (outDir) {
      const safeId = msg.controlId.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 64) || 'no-control-id';
      const name = `${inbound.receivedAt}-${String(++seq).padStart(6, '0')}-${safeId}.hl7`;
      await writeDurably(path.join(outDir, name), inbound.raw);
    }
    out.write(`${new Date(inbound.receivedAt).toISOString()}\t${inbound.peer}\tAA\t${msg.messageType}\t${msg.controlId}\n`);
    return buildAck(msg, { code: 'AA' });
  };

  const listener = new MllpListener({
    host: values.host!,
    port,
    handler,
    maxFrameBytes: values['max-frame'] ? intOption(values['max-frame'], 'max-frame') : undefined,
    maxConnections: values['max-connections'] ? intOption(values['max-connections'], 'max-connections') : undefined,
    logger: createLogger({ name: 'sluice-listen', destination: err }),
    tls: values['tls-cert'] ? {
      cert: await readFile(values['tls-cert']),
      key: await readFile(values['tls-key']!),
      ca: values['tls-ca'] ? await readFile(values['tls-ca']) : undefined,
      requestCert: !!values['tls-ca'],
    } : undefined,
  });
  const bound = await listener.start().catch((e: Error) => { throw new CliError(`cannot listen on ${values.host}:${port}: ${e.message}`); });
  out.write(`listening on ${values.host}:${bound}${outDir ? `, writing to ${outDir}` : ''}\n`);

  await untilStopped(signal);
  await listener.close();
  return 0;
}
