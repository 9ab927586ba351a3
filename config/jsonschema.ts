import { z } from 'zod';
import { channelSchema, engineSchema } from './schema.js';

export type JsonSchema = Record<string, unknown>;

const JSON_SCHEMA_DIALECT = 'https://json-schema.org/draft/2020-12/schema';

/** The input side of a zod schema (what is written in YAML) as draft 2020-12. */
export function toJsonSchema(schema: z.ZodType): JsonSchema {
  return z.toJSONSchema(schema, { target: 'draft-2020-12', io: 'input', unrepresentable: 'any' }) as JsonSchema;
}

/**
 * JSON Schemas for editors (e.g. `# yaml-language-server: $schema=...`), generated from the
 * same zod schemas as validation, with one branch per registered component. Built on each
 * call, so components registered later are included. Cross-file rules (route targets,
 * connections, secrets) are only checked by `sluice lint`.
 */
export function jsonSchema(): { channel: JsonSchema; engine: JsonSchema } {
  return {
    channel: { ...toJsonSchema(channelSchema('json')), $schema: JSON_SCHEMA_DIALECT },
    engine: { ...toJsonSchema(engineSchema('json')), $schema: JSON_SCHEMA_DIALECT },
  };
}
