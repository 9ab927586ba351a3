import { createHash, timingSafeEqual } from 'node:crypto';
import { ADMIN_ROLES, type AdminConfig, type AdminRole } from '../../config/schema.js';

export interface Caller {
  readonly name: string;
  readonly role: AdminRole;
}

const digest = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/**
 * Bearer tokens → callers. Tokens are compared as SHA-256 digests in constant time, every
 * configured token each time, so neither the length nor the position of a match leaks.
 */
export class TokenAuth {
  private readonly entries: readonly { readonly digest: Buffer; readonly caller: Caller }[];

  constructor(tokens: AdminConfig['tokens']) {
    this.entries = tokens.map((t) => ({ digest: digest(t.token), caller: { name: t.name, role: t.role } }));
  }

  /** The caller an `Authorization: Bearer <token>` header names, or undefined. */
  authenticate(header: string | undefined): Caller | undefined {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
    if (!m) return undefined;
    const given = digest(m[1]!);
    let found: Caller | undefined;
    for (const e of this.entries) if (timingSafeEqual(e.digest, given)) found ??= e.caller;
    return found;
  }
}

/** Whether `role` may do what `needed` may (viewer < operator < admin). */
export function allows(role: AdminRole, needed: AdminRole): boolean {
  return ADMIN_ROLES.indexOf(role) >= ADMIN_ROLES.indexOf(needed);
}
