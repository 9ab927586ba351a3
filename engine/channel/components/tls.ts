import { z } from 'zod';

/** TLS options in config: PEM text, normally from ${file:...}. */
export const serverTlsSchema = z.object({
  cert: z.string().describe('server certificate chain (PEM)'),
  key: z.string().describe('private key (PEM); use ${file:...}'),
  ca: z.string().optional().describe('CA bundle (PEM) for client certificates; enables mutual TLS'),
}).strict();

export const clientTlsSchema = z.object({
  ca: z.string().optional().describe('CA bundle (PEM) to trust for the server'),
  cert: z.string().optional().describe('client certificate (PEM), for mutual TLS'),
  key: z.string().optional().describe('client key (PEM); use ${file:...}'),
  servername: z.string().optional(),
  rejectUnauthorized: z.boolean().default(true),
}).strict();
