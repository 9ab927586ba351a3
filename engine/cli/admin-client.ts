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
  // The engine file's own certificate is trusted (a self-signed admin certificate works).
  const dispatcher = admin?.tls ? new Agent({ connect: { ca: admin.tls.ca ? [admin.tls.cert, admin.tls.ca] : admin.tls.cert } }) : undefined;
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

/** True for errors that mean "no engine is listening there". */
export function isUnreachable(error: unknown): boolean {
  const code = (error as { code?: string; cause?: { code?: string } }).code ?? (error as { cause?: { code?: string } }).cause?.code;
  return code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH';
}

export function errorText(body: unknown): string {
  if (body && typeof body === 'object' && 'error' in body) return String((body as { error: unknown }).error);
  return typeof body === 'string' ? body : JSON.stringify(body);
}
