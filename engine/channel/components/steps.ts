import { z } from 'zod';
import { zDuration } from '../../duration.js';
import { parsePath } from '../../hl7/path.js';
import { registerComponent } from '../../registry.js';
import { FILTERED, type Envelope } from '../envelope.js';
import { compileScript } from '../script.js';
import type { Step } from '../types.js';

/**
 * An option holding an HL7 path, checked with the parser the message uses at run time, so
 * a path that would fail every message is a config error (at load, lint and deploy).
 */
function hl7Path() {
  return z.string().superRefine((path, ctx) => {
    try {
      parsePath(path);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message });
    }
  });
}

/** Steps that edit HL7 v2 content need it; other content passes through with a warning. */
function withHl7(stage: string, edit: (msg: import('../../hl7/index.js').Hl7Message, env: Envelope) => void): Step {
  return (env) => {
    if (env.content.kind !== 'hl7v2') {
      env.warnings.push({ stage, code: 'not-hl7', message: `${stage} applies to HL7 v2 content, got ${env.content.kind}` });
      return env;
    }
    edit(env.content.message, env);
    return env;
  };
}

registerComponent({
  kind: 'step', name: 'set',
  description: 'Set an HL7 path to a fixed value (escaped for the message).',
  schema: z.object({ path: hl7Path(), value: z.string() }).strict(),
  example: 'set: { path: MSH-5, value: LAB }',
  create: (o): Step => {
    // Paths are parsed once here, not for every message (the schema has checked them).
    const path = parsePath(o.path);
    return withHl7('set', (msg) => { msg.set(path, o.value); });
  },
});

registerComponent({
  kind: 'step', name: 'copy',
  description: 'Copy the encoded value at one HL7 path to another.',
  schema: z.object({ from: hl7Path(), to: hl7Path() }).strict(),
  example: 'copy: { from: PID-3[1].1, to: PID-2.1 }',
  create: (o): Step => {
    const [from, to] = [parsePath(o.from), parsePath(o.to)];
    return withHl7('copy', (msg) => { msg.setRaw(to, msg.getRaw(from)); });
  },
});

registerComponent({
  kind: 'step', name: 'delete',
  description: 'Empty the value at an HL7 path.',
  schema: z.object({ path: hl7Path() }).strict(),
  example: 'delete: { path: PID-19 }',
  create: (o): Step => {
    const path = parsePath(o.path);
    return withHl7('delete', (msg) => { msg.setRaw(path, ''); });
  },
});

registerComponent({
  kind: 'step', name: 'map',
  description: 'Map the value at an HL7 path through a table (e.g. local codes to standard ones).',
  schema: z.object({
    path: hl7Path(),
    table: z.record(z.string(), z.string()),
    to: hl7Path().optional().describe('write the mapped value here instead of in place'),
    default: z.string().optional().describe('value for codes not in the table'),
    unmapped: z.enum(['keep', 'warn', 'filter', 'error']).default('warn').describe('what to do with a code not in the table (when no default)'),
  }).strict(),
  example: 'map: { path: PV1-2, table: { I: IMP, O: AMB, E: EMER }, unmapped: warn }',
  create: (o): Step => {
    const [path, to] = [parsePath(o.path), parsePath(o.to ?? o.path)];
    return (env) => {
      if (env.content.kind !== 'hl7v2') return env;
      const msg = env.content.message;
      const code = msg.get(path);
      const mapped = Object.hasOwn(o.table, code) ? o.table[code] : o.default;
      if (mapped === undefined) {
        if (o.unmapped === 'filter') return FILTERED;
        if (o.unmapped === 'error') throw new Error(`map: no mapping for the value at ${o.path}`);
        if (o.unmapped === 'warn' && code !== '') env.warnings.push({ stage: 'map', code: 'unmapped', message: `no mapping for the value at ${o.path}`, path: o.path });
        return env;
      }
      msg.set(to, mapped);
      return env;
    };
  },
});

registerComponent({
  kind: 'step', name: 'script',
  description: 'Run JavaScript or TypeScript with `msg` (the HL7 message), `env` and `warn(code, text)`; return false to filter the message out.',
  schema: z.object({
    code: z.string().optional(),
    file: z.string().optional(),
    lang: z.enum(['js', 'ts']).optional(),
    timeout: zDuration.optional().describe('CPU time limit per message (default 1s)'),
  }).strict().refine((o) => !!o.code !== !!o.file, { message: 'give exactly one of code or file' }),
  example: "script: { code: \"if (msg.get('PV1-2') === 'P') return false; msg.set('PV1-3.1', 'WARD-' + msg.get('PV1-3.1'))\" }",
  create: (o): Step => {
    const run = compileScript({ code: o.code, file: o.file, lang: o.lang, timeoutMs: o.timeout }, 'statements');
    return (env) => (run(env, 'script') === false ? FILTERED : env);
  },
});
