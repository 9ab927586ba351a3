import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, exportPKCS8, generateKeyPair } from 'jose';
import { parse } from './args.js';
import { CliError } from './errors.js';

const USAGE = 'sluice keys generate [--alg RS384|ES384] [--out DIR] [--kid K]';
const ALGS = ['RS384', 'ES384'] as const;
type Alg = (typeof ALGS)[number];

/**
 * `sluice keys generate`: a key pair for SMART backend services. The private key goes to
 * `DIR/<kid>.pem` (PKCS#8, mode 0600, never printed); the public JWKS goes to stdout, to be
 * published at the JWKS URL registered with Epic.
 */
export async function keysCommand(argv: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub !== 'generate') throw new CliError(sub === undefined ? `keys needs a subcommand\nusage: ${USAGE}` : `unknown keys command "${sub}"\nusage: ${USAGE}`, 2);
  const { values, positionals } = parse(rest, { alg: { type: 'string' }, out: { type: 'string' }, kid: { type: 'string' } }, USAGE);
  if (positionals.length > 0) throw new CliError(`unexpected argument "${positionals[0]}"\nusage: ${USAGE}`, 2);
  const alg = (values.alg ?? 'RS384') as Alg;
  if (!ALGS.includes(alg)) throw new CliError(`--alg must be RS384 or ES384, got "${values.alg}"`, 2);
  const kid = values.kid ?? `sluice-${new Date().toISOString().slice(0, 10)}-${randomBytes(3).toString('hex')}`;
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(kid)) throw new CliError(`--kid must be 1-64 letters, digits, ".", "_" or "-", got "${kid}"`, 2);
  const dir = resolve(values.out ?? '.');
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true, ...(alg === 'RS384' ? { modulusLength: 2048 } : {}) });
  const jwk = await exportJWK(publicKey);
  const publicJwk = { ...jwk, kid, alg, use: 'sig' };
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${kid}.pem`);
  try {
    // `wx`: never overwrite an existing key (it may be the one registered in production).
    writeFileSync(file, await exportPKCS8(privateKey), { mode: 0o600, flag: 'wx' });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new CliError(`${file} already exists; choose another --kid or --out`);
    throw e;
  }
  out.write(`${JSON.stringify({ keys: [publicJwk] }, null, 2)}\n`);
  err.write(`private key: ${file} (mode 0600; reference it as privateKey: "\${file:${file}}")\nkid: ${kid}  thumbprint: ${await calculateJwkThumbprint(jwk)}\npublish the JWKS above at the JWKS URL registered with the server\n`);
  return 0;
}
