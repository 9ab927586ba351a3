import { readFileSync } from 'node:fs';
import vm from 'node:vm';
import { transformSync } from 'esbuild';
import type { Envelope, Warning } from './envelope.js';

/**
 * User scripts (filter expressions, script steps) run in a node:vm context with no
 * require, process or timers, string code generation off, and a CPU timeout per call.
 *
 * No host object ever enters the context: `msg`, `env` and `warn` are objects made
 * inside it, whose methods reach the message through functions captured in a closure
 * and exchange only strings. (A host function in the context would hand out the host's
 * `Function` through `.constructor`, and with it `process`.) This narrows what a script
 * can do; it is still not a security boundary like a separate process, and scripts come
 * from channel config, which only administrators may change.
 */
export interface ScriptSource {
  code?: string;
  file?: string;
  lang?: 'js' | 'ts';
  timeoutMs?: number;
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
  // A null-prototype global: a host object's prototype chain would lead to the host's Function.
  const context = vm.createContext(Object.create(null) as object, { codeGeneration: { strings: false, wasm: false } });
  const bridge = installBridge(context);
  const timeout = src.timeoutMs ?? 1_000;
  return (env, stage) => {
    bridge.bind(env, stage);
    try {
      return script.runInContext(context, { timeout });
    } catch (err) {
      throw new ScriptError(`script failed in ${stage}: ${(err as Error)?.message ?? String(err)}`);
    } finally {
      bridge.unbind();
    }
  };
}

/** Prefix of a host error passed back as a string; the sandbox rethrows it as its own Error. */
const FAILED = '\u0000failed:';

/**
 * Built inside the context, in strict mode. It receives the host's bridge functions once,
 * keeps them in its closure, and defines the globals scripts use. Every value crossing in
 * either direction is a string, number or boolean.
 */
const BOOTSTRAP = `'use strict';
(function (call) {
  const FAILED = ${JSON.stringify(FAILED)};
  const ask = (op, a, b) => {
    const r = call(op, a === undefined ? '' : String(a), b === undefined ? '' : String(b));
    if (typeof r === 'string' && r.startsWith(FAILED)) throw new Error(r.slice(FAILED.length));
    return r;
  };
  const msg = Object.freeze({
    get: (path) => ask('get', path),
    getRaw: (path) => ask('getRaw', path),
    value: (path) => { const v = ask('value', path); return v === '\u0000null' ? null : v === '\u0000undefined' ? undefined : v; },
    set(path, value) { ask('set', path, value); return msg; },
    setRaw(path, value) { ask('setRaw', path, value); return msg; },
    count: (segment) => Number(ask('count', segment)),
    get messageType() { return ask('messageType'); },
    get controlId() { return ask('controlId'); },
    get triggerEvent() { return ask('triggerEvent'); },
    toString: () => ask('text'),
    json: () => JSON.parse(ask('json')),
  });
  const warn = (code, message) => { ask('warn', code, message); };
  Object.defineProperty(globalThis, 'msg', { value: msg, enumerable: true });
  Object.defineProperty(globalThis, 'warn', { value: Object.freeze(warn), enumerable: true });
  return (envJson) => { globalThis.env = Object.freeze(JSON.parse(envJson)); };
})`;

function installBridge(context: vm.Context): { bind(env: Envelope, stage: string): void; unbind(): void } {
  let current: { env: Envelope; stage: string } | undefined;
  const call = (op: string, a: string, b: string): string => {
    if (!current) return `${FAILED}no message is bound`;
    const { env, stage } = current;
    const c = env.content;
    try {
      if (op === 'warn') {
        env.warnings.push({ stage, code: a, message: b } satisfies Warning);
        return '';
      }
      if (op === 'json' || op === 'text') {
        if (c.kind === 'hl7v2') return op === 'text' ? c.message.toString() : JSON.stringify(c.message.toString());
        return op === 'text' ? JSON.stringify(c.kind === 'fhir' ? c.resource : c) : JSON.stringify(c.kind === 'fhir' ? c.resource : c);
      }
      if (c.kind !== 'hl7v2') return `${FAILED}msg.${op} needs HL7 v2 content (this is ${c.kind}); use msg.json()`;
      const m = c.message;
      switch (op) {
        case 'get': return m.get(a);
        case 'getRaw': return m.getRaw(a);
        case 'value': { const v = m.value(a); return v === null ? '\u0000null' : v === undefined ? '\u0000undefined' : v; }
        case 'set': m.set(a, b); return '';
        case 'setRaw': m.setRaw(a, b); return '';
        case 'count': return String(m.all(a).length);
        case 'messageType': return m.messageType;
        case 'controlId': return m.controlId;
        case 'triggerEvent': return m.triggerEvent;
        default: return `${FAILED}unknown operation ${op}`;
      }
    } catch (err) {
      return `${FAILED}${err instanceof Error ? err.message : String(err)}`;
    }
  };
  const setEnv = new vm.Script(BOOTSTRAP).runInContext(context)(call) as (envJson: string) => void;
  return {
    bind(env, stage) {
      current = { env, stage };
      setEnv(JSON.stringify({ id: env.id, channel: env.channel, receivedAt: env.receivedAt, key: env.key ?? '' }));
    },
    unbind() {
      current = undefined;
    },
  };
}
