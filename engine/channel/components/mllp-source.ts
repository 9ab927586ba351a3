import { z } from 'zod';
import { zDuration } from '../../duration.js';
import { buildNak, HL7_ERROR } from '../../hl7/index.js';
import { MllpListener } from '../../mllp/index.js';
import { registerComponent } from '../../registry.js';
import type { Intake, Source } from '../types.js';
import { serverTlsSchema } from './tls.js';

const schema = z.object({
  port: z.number().int().min(0).max(65535),
  host: z.string().default('127.0.0.1').describe('address to bind; 0.0.0.0 only behind a firewall'),
  maxFrameBytes: z.number().int().positive().default(16 * 1024 * 1024),
  maxConnections: z.number().int().positive().default(256),
  idleTimeout: zDuration.default(600_000),
  handlerTimeout: zDuration.default(30_000).describe('a message not stored within this gets AE'),
  tls: serverTlsSchema.optional(),
}).strict();

registerComponent({
  kind: 'source', name: 'mllp',
  description: 'MLLP listener: receives HL7 v2 over TCP (or TLS) and answers each message with an ACK.',
  schema,
  example: 'mllp: { port: 2575, host: 127.0.0.1 }',
  create: (o, ctx): Source => {
    let listener: MllpListener | undefined;
    return {
      describe: () => `mllp ${o.host}:${listener?.port ?? o.port}${o.tls ? ' (tls)' : ''}`,
      async start(intake: Intake) {
        listener = new MllpListener({
          host: o.host, port: o.port, maxFrameBytes: o.maxFrameBytes, maxConnections: o.maxConnections,
          idleTimeoutMs: o.idleTimeout, handlerTimeoutMs: o.handlerTimeout, logger: ctx.logger,
          tls: o.tls ? { cert: o.tls.cert, key: o.tls.key, ca: o.tls.ca, requestCert: !!o.tls.ca } : undefined,
          handler: async (inbound, signal) => {
            // The listener has parsed it already: one parse per message, not two.
            const outcome = await intake(inbound.raw, { kind: 'mllp', peer: inbound.peer, signal, parsed: inbound.message });
            return outcome.ack ?? buildNak({ code: 'AE', error: { code: HL7_ERROR.applicationInternalError, text: outcome.text ?? 'not accepted' } });
          },
        });
        await listener.start();
      },
      async stop() {
        await listener?.close();
        listener = undefined;
      },
      get port() { return listener?.port; },
    } as Source & { readonly port: number | undefined };
  },
});
