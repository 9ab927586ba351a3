import path from 'node:path';
import { z } from 'zod';
import { zDuration } from '../../duration.js';
import { parseRetryAfter } from '../../fhir/retry.js';
import { MllpSender, MllpSendError } from '../../mllp/index.js';
import { registerComponent } from '../../registry.js';
import { contentText, contentType } from '../envelope.js';
import { fillTemplate, templateProblems } from '../template.js';
import { permanent, sent, transient, type Destination } from '../types.js';
import { Directories } from './file-dirs.js';
import { fileIo } from './file-io.js';
import { clientTlsSchema } from './tls.js';

registerComponent({
  kind: 'destination', name: 'mllp',
  description: 'MLLP sender: one persistent connection, waits for each ACK and checks it answers the message sent.',
  schema: z.object({
    host: z.string(),
    port: z.number().int().min(1).max(65535),
    ackTimeout: zDuration.default(30_000),
    connectTimeout: zDuration.default(5_000),
    onAE: z.enum(['retry', 'error']).default('retry').describe('AE/CE: application error at the peer, often temporary'),
    onAR: z.enum(['retry', 'error']).default('error').describe('AR/CR: the peer rejected the message'),
    tls: clientTlsSchema.optional(),
  }).strict(),
  example: 'mllp: { host: lab.example.org, port: 2575 }',
  create: (o, ctx): Destination => {
    // Created on first use and dropped on close: a closed MllpSender refuses every send, and
    // a channel that is stopped and started again keeps its destinations.
    let sender: MllpSender | undefined;
    // One connect attempt per send and no backoff of the sender's own: the queue's policy
    // decides when to retry, and its waits end when the channel stops.
    const connection = (): MllpSender => (sender ??= new MllpSender({
      host: o.host, port: o.port, ackTimeoutMs: o.ackTimeout, connectTimeoutMs: o.connectTimeout, maxConnectAttempts: 1, logger: ctx.logger,
      tls: o.tls, backoff: { initialMs: 0, maxMs: 0 },
    }));
    return {
      async send(env, sendCtx) {
        const text = contentText(env.content);
        // Past the drain time the queue aborts: drop the connection rather than wait for an ACK.
        const onAbort = (): void => { const s = sender; sender = undefined; s?.destroy(); };
        sendCtx.signal.addEventListener('abort', onAbort, { once: true });
        try {
          const ack = await connection().send(text);
          const ackText = ack.raw.toString('utf8');
          if (ack.ok) return sent(ackText, text);
          const rejected = ack.code === 'AR' || ack.code === 'CR';
          const retry = rejected ? o.onAR === 'retry' : o.onAE === 'retry';
          const error = `${ack.code}${ack.text ? `: ${ack.text}` : ''}`;
          return retry ? { ok: false, transient: true, error, response: ackText, sent: text } : permanent(error, ackText, text);
        } catch (err) {
          if (err instanceof MllpSendError) return transient(err.message);
          return permanent(`cannot send: ${(err as Error).message}`);
        } finally {
          sendCtx.signal.removeEventListener('abort', onAbort);
        }
      },
      async close() {
        const s = sender;
        sender = undefined;
        await s?.close();
      },
    };
  },
});

/**
 * One for the process, from the filesystem's root down: two file destinations writing under
 * the same new directory share its creation and its parent's fsync, as two writes of one do.
 */
const dirs = new Directories(path.parse(process.cwd()).root);

/** A placeholder that would always fill with nothing is a config error, not an empty file name part. */
function checkTemplate(template: string, ctx: z.RefinementCtx): void {
  for (const message of templateProblems(template)) ctx.addIssue({ code: 'custom', message });
}

registerComponent({
  kind: 'destination', name: 'file',
  description: 'Writes each message to a file: written to a temporary name and fsynced, renamed, then the directory fsynced, so SENT means on disk. Values from the message fill the name with other characters replaced by _, and never lead outside dir.',
  schema: z.object({
    dir: z.string(),
    name: z.string().superRefine(checkTemplate).default('{id}.hl7').describe('file name template: {id} {channel} {controlId} {messageType} {date} or an HL7 path like {MSH-4}'),
  }).strict(),
  example: "file: { dir: ./out, name: '{date}-{controlId}.hl7' }",
  create: (o): Destination => {
    const root = path.resolve(o.dir);
    return {
      async send(env) {
        const name = fillTemplate(o.name, env, true);
        const target = path.join(o.dir, name);
        // A value from the message must not lead out of `dir` (fillTemplate already turns
        // a `.` or `..` value into underscores; this holds whatever the template is).
        const inside = path.relative(root, path.resolve(target));
        if (inside === '' || inside === '..' || inside.startsWith(`..${path.sep}`) || path.isAbsolute(inside)) return permanent(`file name ${JSON.stringify(name)} leads outside ${o.dir}`);
        // An empty last part (`{MSH-4}/{PID-8}` with no PID-8) would name a directory.
        if (name.endsWith('/') || name.endsWith(path.sep)) return permanent(`file name ${JSON.stringify(name)} ends in a directory separator (an empty placeholder?)`);
        const tmp = `${target}.${process.pid}.tmp`;
        const dir = path.dirname(target);
        let making: Promise<void> | undefined;
        const write = async (): Promise<void> => {
          await (making = dirs.ensure(dir));
          // On a file-writing thread: written, fsynced, then renamed (see file-io.ts). The
          // directory's fsync is shared by the writes in flight: one per file, in the same
          // job, cut the engine's ACK rate at FULL by a fifth (more flushes beside the WAL's).
          await fileIo.write(tmp, target, contentText(env.content));
          // Again: if another write found the directory gone and made it anew meanwhile, the
          // rename went into the new one, whose own entry must be durable first.
          await dirs.ensure(dir);
          await dirs.sync(dir);
        };
        try {
          try {
            await write();
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
            // The directory was removed since: create it again, once. Only the entry this
            // write waited for is dropped: a concurrent writer may have started a new one.
            dirs.forget(dir, making);
            await write();
          }
          return sent(target);
        } catch (err) {
          return transient(`cannot write ${target}: ${(err as Error).message}`);
        }
      },
      close: async () => {},
    };
  },
});

registerComponent({
  kind: 'destination', name: 'http',
  description: 'HTTP sender: POSTs the message; 2xx is sent, 408/429/5xx are retried (honouring Retry-After), other 4xx are errors.',
  schema: z.object({
    url: z.string().url(),
    method: z.enum(['POST', 'PUT']).default('POST'),
    headers: z.record(z.string(), z.string()).default({}),
    timeout: zDuration.default(30_000),
    contentType: z.string().optional().describe('default: by content (HL7 v2, FHIR JSON, ...)'),
  }).strict(),
  example: 'http: { url: https://example.org/inbound, headers: { authorization: "${env:INBOUND_TOKEN}" } }',
  create: (o): Destination => ({
    async send(env, sendCtx) {
      const body = contentText(env.content);
      let res: Response;
      try {
        // Header names are case-insensitive: a configured Content-Type replaces the default
        // instead of being joined to it ("x-application/hl7-v2+er7, application/json").
        const headers = new Headers(o.headers);
        if (!headers.has('content-type')) headers.set('content-type', o.contentType ?? contentType(env.content));
        res = await fetch(o.url, {
          method: o.method, body, redirect: 'manual', headers,
          signal: AbortSignal.any([AbortSignal.timeout(o.timeout), sendCtx.signal]),
        });
      } catch (err) {
        return transient(`HTTP ${o.method} failed: ${(err as Error).message}`);
      }
      const text = await res.text().catch(() => '');
      if (res.ok) return sent(text, body);
      const error = `HTTP ${res.status}`;
      if (res.status === 408 || res.status === 425 || res.status === 429 || res.status >= 500) {
        return { ok: false, transient: true, error, retryAfterMs: parseRetryAfter(res.headers.get('retry-after'), Date.now()), response: text, sent: body };
      }
      return permanent(error, text, body);
    },
    close: async () => {},
  }),
});

/** What the `channel` destination needs from the engine. */
export interface ChannelLookup {
  intakeOf(channel: string): ((raw: Uint8Array, meta: { kind: string; peer?: string; signal?: AbortSignal; reprocess?: boolean }) => Promise<{ status: string; text?: string }>) | undefined;
}

registerComponent({
  kind: 'destination', name: 'channel',
  description: 'Hands the message to another channel of this engine (stored there as a new message).',
  schema: z.object({ channel: z.string() }).strict(),
  example: 'channel: { channel: lab-archive }',
  create: (o, ctx): Destination => ({
    async send(env, sendCtx) {
      const intake = (ctx.engine as ChannelLookup | undefined)?.intakeOf(o.channel);
      if (!intake) return transient(`channel "${o.channel}" is not running`);
      // The signal lets this queue's stop() end a wait for room in a full target channel.
      const outcome = await intake(Buffer.from(contentText(env.content), 'utf8'), { kind: 'channel', peer: ctx.channel, signal: sendCtx.signal, reprocess: env.reprocess });
      if (outcome.status === 'accepted') return sent(outcome.text);
      return outcome.status === 'rejected' ? permanent(`rejected by channel ${o.channel}: ${outcome.text ?? ''}`) : transient(`channel ${o.channel}: ${outcome.text ?? 'error'}`);
    },
    close: async () => {},
  }),
});
