import { readFile } from 'node:fs/promises';
import { encodeHl7Text, parseHl7, Hl7ParseError } from '../hl7/index.js';
import { MllpSender, MllpSendError } from '../mllp/index.js';
import { intOption, parse } from './args.js';
import { CliError, describeParseError } from './errors.js';
import { readMessages } from './input.js';

const USAGE = 'sluice send --host H --port P [--tls [--ca F] [--cert F --key F] [--insecure]] [--timeout MS] FILE|DIR|-';

export async function sendCommand(argv: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const { values, positionals } = parse(argv, {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    tls: { type: 'boolean', default: false },
    ca: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    insecure: { type: 'boolean', default: false },
    timeout: { type: 'string' },
    quiet: { type: 'boolean', short: 'q', default: false },
  }, USAGE);
  if (positionals.length !== 1) throw new CliError(`expected one FILE, DIR or -\nusage: ${USAGE}`, 2);
  const port = intOption(values.port, 'port');
  const messages = await readMessages(positionals[0]!);
  if (messages.length === 0) throw new CliError(`${positionals[0]}: no HL7 messages found`);

  const useTls = values.tls || !!values.ca || !!values.cert;
  const sender = new MllpSender({
    host: values.host!,
    port,
    ackTimeoutMs: intOption(values.timeout, 'timeout', 30_000),
    tls: useTls ? {
      ca: values.ca ? await readFile(values.ca) : undefined,
      cert: values.cert ? await readFile(values.cert) : undefined,
      key: values.key ? await readFile(values.key) : undefined,
      rejectUnauthorized: !values.insecure,
    } : undefined,
  });

  const counts = new Map<string, number>();
  let failed = 0;
  const total = messages.length;
  const showProgress = total >= 50;
  let lastProgress = Date.now();
  try {
    for (let i = 0; i < total; i++) {
      const m = messages[i]!;
      const where = total > 1 || m.index > 1 ? `${m.source}#${m.index}` : m.source;
      try {
        parseHl7(m.text);
      } catch (e) {
        if (!(e instanceof Hl7ParseError)) throw e;
        err.write(`${describeParseError(m.source, m.text, e)} (message ${m.index}, not sent)\n`);
        failed++;
        continue;
      }
      try {
        const ack = await sender.send(encodeHl7Text(m.text, m.encoding));
        counts.set(ack.code, (counts.get(ack.code) ?? 0) + 1);
        if (!ack.ok) failed++;
        if (!values.quiet || !ack.ok) out.write(`${where}\t${ack.code}\t${ack.controlId}${ack.text ? `\t${ack.text}` : ''}\n`);
      } catch (e) {
        if (!(e instanceof MllpSendError)) throw e;
        failed++;
        counts.set('no ACK', (counts.get('no ACK') ?? 0) + 1);
        out.write(`${where}\tNO-ACK\t\t${e.message}\n`);
        if (e.reason === 'connect') {
          // Nothing else can get through; count the rest as not sent.
          const rest = total - i - 1;
          if (rest > 0) { failed += rest; counts.set('not sent', rest); }
          break;
        }
      }
      if (showProgress && Date.now() - lastProgress > 1000) {
        lastProgress = Date.now();
        err.write(`sent ${i + 1}/${total}\n`);
      }
    }
  } finally {
    await sender.close();
  }
  const summary = [...counts].map(([k, v]) => `${k} ${v}`).join(', ');
  err.write(`${total} message${total === 1 ? '' : 's'}: ${summary || 'none sent'}\n`);
  return failed > 0 ? 1 : 0;
}
