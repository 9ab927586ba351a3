import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import type { EngineConfig } from '../../config/schema.js';
import { CliError } from './errors.js';

/** Where the running engine's admin API is and how to call it. */
export interface AdminTarget {
  readonly url: string;
  readonly token: string;
  readonly dispatcher?: Agent;
}

/**
 * The admin API of the engine this config describes: --admin URL or the engine file's
 * admin.listen; the token from SLUICE_ADMIN_TOKEN (never a flag: it would show in `ps`).
 * undefined when neither names an admin API.
 */
export function adminTarget(engine: EngineConfig, url: string | undefined, env: NodeJS.ProcessEnv = process.env): AdminTarget | undefined {
  const admin = engine.admin;
  const base = url ?? (admin ? `${admin.tls ? 'https' : 'http'}://${admin.listen}` : undefined);
  if (!base) return undefined;
  const token = env.SLUICE_ADMIN_TOKEN;
  if (!token) throw new CliError('set SLUICE_ADMIN_TOKEN to a token from the engine file\'s admin.tokens', 2);
  // Trusted: SLUICE_ADMIN_CA (PEM file) or the engine file's own server certificate (a
  // self-signed one works). With mutual TLS, the client certificate and key come from
  // SLUICE_ADMIN_CERT and SLUICE_ADMIN_KEY (PEM files).
  const read = (name: string): string | undefined => {
    const file = env[name];
    if (!file) return undefined;
    try {
      return readFileSync(file, 'utf8');
    } catch (error) {
      throw new CliError(`${name}: cannot read ${file}: ${(error as Error).message}`, 2);
    }
  };
  const https = admin?.tls !== undefined || base.startsWith('https:');
  const ca = read('SLUICE_ADMIN_CA') ?? admin?.tls?.cert;
  const cert = read('SLUICE_ADMIN_CERT');
  const key = read('SLUICE_ADMIN_KEY');
  const dispatcher = https ? new Agent({ connect: { ...(ca ? { ca } : {}), ...(cert && key ? { cert, key } : {}) } }) : undefined;
  return { url: base.replace(/\/$/, ''), token, dispatcher };
}

/** Calls the admin API; resolves with the status and JSON body. Rejects when the engine is unreachable. */
export async function callAdmin(target: AdminTarget, method: 'GET' | 'POST', path: string): Promise<{ status: number; body: unknown }> {
  const res = await request(`${target.url}${path}`, {
    method, headers: { authorization: `Bearer ${target.token}` }, dispatcher: target.dispatcher,
    headersTimeout: 120_000, bodyTimeout: 120_000,
  });
  const text = await res.body.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch { /* not JSON: shown as text */ }
  return { status: res.statusCode, body };
}

/**
 * True when nothing listens at the address (connection refused): no engine runs. Not for a
 * name that does not resolve or an unreachable host: the engine may well be running.
 */
export function isUnreachable(error: unknown): boolean {
  const code = (error as { code?: string; cause?: { code?: string } }).code ?? (error as { cause?: { code?: string } }).cause?.code;
  return code === 'ECONNREFUSED';
}

export function errorText(body: unknown): string {
  if (body && typeof body === 'object' && 'error' in body) return String((body as { error: unknown }).error);
  return typeof body === 'string' ? body : JSON.stringify(body);
}
