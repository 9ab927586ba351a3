import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { pathKey, type ConfigPath, type Problem } from './errors.js';

/**
 * `${env:NAME}` and `${file:PATH}` in any string value, whole or embedded. `$${...}` is a
 * literal `${...}`. Other `${...}` forms are left alone (scripts may use them).
 */
const REFERENCE = /\$(\$?)\{(env|file):([^}]*)\}/g;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface SubstituteOptions {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** `${file:...}` paths are relative to this (the config file's directory). */
  readonly baseDir: string;
}

export interface Substituted {
  readonly value: unknown;
  readonly problems: Problem[];
  /** Paths (see pathKey) whose value came from a substitution: never print them. */
  readonly secretPaths: Set<string>;
}

export function substitute(value: unknown, opts: SubstituteOptions): Substituted {
  const problems: Problem[] = [];
  const secretPaths = new Set<string>();
  const walk = (v: unknown, path: ConfigPath): unknown => {
    if (typeof v === 'string') return substituteString(v, path);
    if (Array.isArray(v)) return v.map((item, i) => walk(item, [...path, i]));
    if (v !== null && typeof v === 'object') {
      const out: Record<string, unknown> = {};
      for (const [k, item] of Object.entries(v)) out[k] = walk(item, [...path, k]);
      return out;
    }
    return v;
  };
  const substituteString = (text: string, path: ConfigPath): string => {
    if (!text.includes('${')) return text;
    let substituted = false;
    const out = text.replace(REFERENCE, (whole, escape: string, scheme: string, arg: string) => {
      if (escape) return whole.slice(1);
      substituted = true;
      return scheme === 'env' ? readEnv(arg.trim(), path) : readSecretFile(arg.trim(), path);
    });
    if (substituted) secretPaths.add(pathKey(path));
    return out;
  };
  const readEnv = (name: string, path: ConfigPath): string => {
    if (!ENV_NAME.test(name)) {
      problems.push({ path, at: 'value', message: `invalid environment variable name in \${env:${name}} (expected letters, digits and _)` });
      return '';
    }
    const v = opts.env[name];
    if (v === undefined) problems.push({ path, at: 'value', message: `environment variable ${name} is not set (referenced as \${env:${name}})` });
    return v ?? '';
  };
  const readSecretFile = (file: string, path: ConfigPath): string => {
    if (!file) {
      problems.push({ path, at: 'value', message: 'empty path in ${file:...}' });
      return '';
    }
    try {
      // One trailing newline is what editors and `echo` add; it is never part of a secret.
      return readFileSync(isAbsolute(file) ? file : resolve(opts.baseDir, file), 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      problems.push({ path, at: 'value', message: `cannot read secret file "${file}" (${code}) referenced as \${file:${file}}` });
      return '';
    }
  };
  return { value: walk(value, []), problems, secretPaths };
}

const SECRET_SUFFIX = /(password|passwd|passphrase|secret|token|apikey|authorization|credentials?)$/;
const SECRET_NAMES = new Set(['key', 'privatekey', 'encryptionkey', 'signingkey', 'accesskey', 'secretkey', 'secretaccesskey', 'cookie']);

/**
 * Keys whose values are secrets: password, passphrase, *secret (clientSecret), *token
 * (accessToken), *apiKey (X-Api-Key), *authorization (an HTTP header), credentials, cookie,
 * key, privateKey, encryptionKey, ... Not `orderingKey`, `tokenUrl`, `keyFile` (paths and
 * HL7 paths are not secrets).
 */
export function isSecretKey(name: string): boolean {
  const n = name.toLowerCase().replace(/[-_]/g, '');
  return SECRET_SUFFIX.test(n) || SECRET_NAMES.has(n);
}

function hasReference(text: string): boolean {
  for (const m of text.matchAll(REFERENCE)) if (!m[1]) return true;
  return false;
}

/** `scheme://user:password@host` with the password written out. */
const URL_PASSWORD = /^[a-z][a-z0-9+.-]*:\/\/[^/@\s:]*:([^@\s]+)@/i;

const LITERAL_SECRET_MESSAGE = 'secrets must come from ${env:...} or ${file:...}, not a literal value';

/** Literal secrets in the raw (unsubstituted) document, at the position of each value. */
export function findLiteralSecrets(value: unknown): Problem[] {
  const problems: Problem[] = [];
  const walk = (v: unknown, path: ConfigPath): void => {
    if (Array.isArray(v)) {
      v.forEach((item, i) => walk(item, [...path, i]));
      return;
    }
    if (v === null || typeof v !== 'object') return;
    for (const [k, item] of Object.entries(v)) {
      const at = [...path, k];
      if (isSecretKey(k) && ((typeof item === 'string' && item !== '' && !hasReference(item)) || typeof item === 'number')) {
        problems.push({ path: at, at: 'value', message: LITERAL_SECRET_MESSAGE });
      } else if (typeof item === 'string') {
        const password = URL_PASSWORD.exec(item)?.[1];
        if (password !== undefined && !hasReference(password)) {
          problems.push({ path: at, at: 'value', message: 'URL contains a literal password; write it as ${env:...} or ${file:...}, e.g. postgres://user:${env:PG_PASSWORD}@host/db' });
        }
      } else {
        walk(item, at);
      }
    }
  };
  walk(value, []);
  return problems;
}
