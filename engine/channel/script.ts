import { readFileSync } from 'node:fs';
import vm from 'node:vm';
import { transformSync } from 'esbuild';
import type { Envelope, Warning } from './envelope.js';

/**
 * User scripts (filter expressions, script steps) run in a node:vm context with no
 * require, process or timers, and a CPU timeout per call. node:vm is not a security
 * boundary: scripts come from channel config, which only administrators may change.
 */
export interface ScriptSource {
  code?: string;
  file?: string;
  lang?: 'js' | 'ts';
  timeoutMs?: number;
}

export interface ScriptGlobals {
  /** The message being processed (an Hl7Message when the content is HL7 v2). */
  msg: unknown;
  env: { id: string; channel: string; receivedAt: number; key?: string };
  warn: (code: string, message: string) => void;
}

export class ScriptError extends Error {
  override readonly name = 'ScriptError';
}

export type CompiledScript = (env: Envelope, stage: string) => unknown;

/** Compiles a script once; each call runs it with `msg`, `env` and `warn` bound. */
export function compileScript(src: ScriptSource, mode: 'expression' | 'statements'): CompiledScript {
  const code = src.code ?? (src.file ? readFileSync(src.file, 'utf8') : '');
  if (!code.trim()) throw new ScriptError('script is empty');
  const lang = src.lang ?? (src.file?.endsWith('.ts') ? 'ts' : 'js');
  // Wrap first, so statements may `return` (TypeScript rejects a top-level return).
  let body = mode === 'expression' ? `(${code.trim().replace(/;\s*$/, '')});` : `(function () {\n${code}\n})();`;
  if (lang === 'ts') {
    try {
      body = transformSync(body, { loader: 'ts', target: 'es2022' }).code;
    } catch (err) {
      throw new ScriptError(`TypeScript did not compile: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  let script: vm.Script;
  try {
    script = new vm.Script(body, { filename: src.file ?? 'script' });
  } catch (err) {
    throw new ScriptError(`script does not parse: ${(err as Error).message}`);
  }
  const context = vm.createContext(Object.create(null) as object, { codeGeneration: { strings: false, wasm: false } });
  const timeout = src.timeoutMs ?? 1_000;
  return (env, stage) => {
    const globals: ScriptGlobals = {
      msg: env.content.kind === 'hl7v2' ? env.content.message : env.content.kind === 'fhir' ? env.content.resource : env.content,
      env: { id: env.id, channel: env.channel, receivedAt: env.receivedAt, key: env.key },
      warn: (code, message) => { env.warnings.push({ stage, code: String(code), message: String(message) } satisfies Warning); },
    };
    Object.assign(context, globals);
    try {
      return script.runInContext(context, { timeout });
    } catch (err) {
      throw new ScriptError(`script failed in ${stage}: ${(err as Error).message}`);
    }
  };
}
