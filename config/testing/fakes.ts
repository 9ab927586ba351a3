import { z } from 'zod';
import { registerComponent } from '../../engine/registry.js';

/**
 * Fake components for the config tests: a listening source, a destination with a
 * `connection` option and a secret, a `channel` destination and two steps.
 */
export function registerFakes(): void {
  registerComponent({
    kind: 'source',
    name: 'fake',
    description: 'A fake listening source.',
    schema: z.strictObject({
      port: z.number().int().min(0).max(65535).meta({ description: 'TCP port.' }),
      host: z.string().optional().meta({ description: 'Interface to listen on.' }),
    }),
    docs: 'Listens on nothing; for tests.',
    example: 'source:\n  fake: { port: 2575 }',
    create: () => ({}),
  });
  registerComponent({
    kind: 'source',
    name: 'poll',
    description: 'A fake polling source.',
    schema: z.strictObject({ every: z.string().default('1m') }),
    create: () => ({}),
  });
  registerComponent({
    kind: 'destination',
    name: 'sink',
    description: 'A fake destination using a named connection.',
    schema: z.strictObject({
      connection: z.string().optional().meta({ description: 'Name of a connection in sluice.yaml.' }),
      path: z.string().optional(),
      token: z.string().optional(),
      retry: z.strictObject({ times: z.number().int().default(1) }).optional(),
    }),
    example: 'destinations:\n  out:\n    sink: { connection: epic-prod }',
    create: () => ({}),
  });
  registerComponent({
    kind: 'connection',
    name: 'api',
    description: 'A fake named connection to an HTTP API.',
    schema: z.strictObject({
      base: z.string().optional(),
      url: z.string().optional(),
      tokenUrl: z.string().optional(),
      clientSecret: z.string().optional(),
      auth: z.record(z.string(), z.unknown()).optional(),
    }),
    create: (o) => ({ ...o }),
  });
  registerComponent({
    kind: 'destination',
    name: 'channel',
    description: 'Hands the message to another channel.',
    schema: z.strictObject({ channel: z.string() }),
    create: () => ({}),
  });
  registerComponent({
    kind: 'step',
    name: 'upper',
    description: 'Upper-cases a field.',
    schema: z.strictObject({ field: z.string().default('PID-5'), mode: z.enum(['upper', 'lower']).default('upper') }),
    create: () => ({}),
  });
  registerComponent({
    kind: 'step',
    name: 'noop',
    description: 'Does nothing.',
    schema: z.strictObject({}),
    create: () => ({}),
  });
}
