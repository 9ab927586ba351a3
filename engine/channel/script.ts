import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
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
  /** Read relative to the working directory (`cwd`), as the engine runs. */
  file?: string;
  lang?: 'js' | 'ts';
  timeoutMs?: number;
  /** The working directory a relative `file` is read from; default process.cwd(). */
  cwd?: string;
}

export class ScriptError extends Error {
  override readonly name = 'ScriptError';
  /** The message without the leading "script ", e.g. `does not compile: Unexpected token ')'`. */
  readonly reason: string;
  constructor(reason: string) {
    super(`script ${reason}`);
    this.reason = reason;
  }
}

export type CompiledScript = (env: Envelope, stage: string) => unknown;

function readSource(src: ScriptSource): string {
  if (src.code !== undefined) return src.code;
  if (!src.file) return '';
  const cwd = src.cwd ?? process.cwd();
  try {
    return readFileSync(resolve(cwd, src.file), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ScriptError(`file not found: ${src.file} (relative to the working directory ${cwd})`);
    throw new ScriptError(`file cannot be read: ${src.file}: ${(err as Error).message}`);
  }
}

/** ` (line 3 of the script)`; nothing for one-line scripts or when the line is not known. */
function where(line: number | undefined, code: string, src: ScriptSource): string {
  const lines = code.split('\n').length;
  if (line === undefined || (lines === 1 && !src.file)) return '';
  return ` (line ${Math.min(Math.max(line, 1), lines)} of ${src.file ?? 'the script'})`;
}

/** The line of a V8 SyntaxError in the compiled text: the stack starts with `<filename>:<line>`. */
function v8Line(err: unknown): number | undefined {
  const first = (err as Error)?.stack?.split('\n', 1)[0] ?? '';
  const m = /:(\d+)$/.exec(first);
  return m ? Number(m[1]) : undefined;
}

/**
 * Reads and compiles a script without running it: what {@link compileScript} does before
 * it makes the sandbox. Throws a ScriptError when the file is missing, the script is empty
 * or it does not compile; `sluice lint` reports the same errors through it.
 */
export function parseScript(src: ScriptSource, mode: 'expression' | 'statements'): vm.Script {
  const code = readSource(src);
  if (!code.trim()) throw new ScriptError('is empty (expected JavaScript or TypeScript code)');
  const lang = src.lang ?? (src.file?.endsWith('.ts') ? 'ts' : 'js');
  // Wrap first, so statements may `return` (TypeScript rejects a top-level return).
  // `offset` turns a line of the wrapped text into a line of the script as written.
  const lead = /^\s*/.exec(code)![0].split('\n').length - 1;
  // The newline before ')' keeps a trailing // comment from swallowing it.
  let body = mode === 'expression' ? `(${code.trim().replace(/;\s*$/, '')}\n);` : `(function () {\n${code}\n})();`;
  const offset = mode === 'expression' ? lead : -1;
  if (lang === 'ts') {
    try {
      body = transformSync(body, { loader: 'ts', target: 'es2022' }).code;
    } catch (err) {
      const first = (err as { errors?: { text: string; location?: { line: number } | null }[] }).errors?.[0];
      const line = first?.location ? first.location.line + offset : undefined;
      throw new ScriptError(`does not compile as TypeScript: ${first?.text ?? (err as Error).message.split('\n')[0]}${where(line, code, src)}`);
    }
  }
  try {
    return new vm.Script(body, { filename: src.file ?? 'script' });
  } catch (err) {
    // Lines of esbuild's output are not the script's own.
    const line = lang === 'js' ? (v8Line(err) ?? NaN) + offset : NaN;
    throw new ScriptError(`does not compile: ${(err as Error).message}${where(Number.isNaN(line) ? undefined : line, code, src)}`);
  }
}

/** Why a script would not compile, as {@link compileScript} would say it; undefined when it compiles. */
export function scriptProblem(src: ScriptSource, mode: 'expression' | 'statements'): string | undefined {
  try {
    parseScript(src, mode);
    return undefined;
  } catch (err) {
    if (err instanceof ScriptError) return err.reason;
    throw err;
  }
}

/** Compiles a script once; each call runs it with `msg`, `env` and `warn` bound. */
export function compileScript(src: ScriptSource, mode: 'expression' | 'statements'): CompiledScript {
  const script = parseScript(src, mode);
  // A null-prototype global: a host object's prototype chain would lead to the host's Function.
  const context = vm.createContext(Object.create(null) as object, { codeGeneration: { strings: false, wasm: false } });
  const bridge = installBridge(context);
  const timeout = src.timeoutMs ?? 1_000;
  return (env, stage) => {
    bridge.bind(env, stage);
    try {
      return script.runInContext(context, { timeout });
    } catch (err) {
      throw new ScriptError(`failed in ${stage}: ${(err as Error)?.message ?? String(err)}`);
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
