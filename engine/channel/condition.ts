import type { FilterConfig } from '../../config/schema.js';
import type { Envelope } from './envelope.js';
import { compileScript } from './script.js';

/** A condition shared by `filter:` and route `when:`; every given part must hold. */
export type ConditionConfig = FilterConfig;

/** Matches `ADT^A01` against a pattern such as `ADT^*` or `*^A01`. */
function messageTypeMatches(type: string, pattern: string): boolean {
  const [code = '', trigger = ''] = type.split('^');
  const [pc = '*', pt = '*'] = pattern.split('^');
  return (pc === '*' || pc === code) && (pt === '*' || pt === trigger);
}

function messageTypeOf(env: Envelope): string {
  return env.content.kind === 'hl7v2' ? env.content.message.messageType : '';
}

export function compileCondition(c: ConditionConfig, stage: string): (env: Envelope) => boolean {
  const checks: ((env: Envelope) => boolean)[] = [];
  if (c.messageType) {
    const patterns = c.messageType;
    checks.push((env) => { const t = messageTypeOf(env); return patterns.some((p) => messageTypeMatches(t, p)); });
  }
  if (c.paths) {
    const entries = Object.entries(c.paths).map(([path, v]) => [path, Array.isArray(v) ? v : [v]] as const);
    checks.push((env) => env.content.kind === 'hl7v2' && entries.every(([path, allowed]) => allowed.includes((env.content as { message: { get(p: string): string } }).message.get(path))));
  }
  if (c.script) {
    const run = compileScript({ code: c.script }, 'expression');
    checks.push((env) => !!run(env, stage));
  }
  return (env) => checks.every((check) => check(env));
}
