/**
 * SMART scopes, v1 (`patient/Observation.read`) and v2 (`system/Observation.rs`) syntax.
 * Enforced at resource-type and action level, as Epic does.
 */
export type FhirAction = 'read' | 'search' | 'create' | 'update';

const V2_LETTER: Record<FhirAction, string> = { read: 'r', search: 's', create: 'c', update: 'u' };

function permits(permission: string, action: FhirAction): boolean {
  if (permission === '*') return true;
  if (permission === 'read') return action === 'read' || action === 'search';
  if (permission === 'write') return action === 'create' || action === 'update';
  // v2: letters in the order c r u d s, optionally followed by ?query (not enforced).
  const letters = permission.split('?')[0] ?? '';
  return /^c?r?u?d?s?$/.test(letters) && letters.includes(V2_LETTER[action]);
}

export interface ResourceScope {
  level: 'patient' | 'user' | 'system';
  resourceType: string;
  permission: string;
}

function parseResourceScope(scope: string): ResourceScope | undefined {
  const match = /^(patient|user|system)\/([A-Za-z]+|\*)\.(.+)$/.exec(scope);
  if (!match) return undefined;
  return { level: match[1] as ResourceScope['level'], resourceType: match[2] as string, permission: match[3] as string };
}

/** The scopes that grant `action` on `resourceType` (empty = forbidden). */
export function grantingScopes(scopes: readonly string[], resourceType: string, action: FhirAction): ResourceScope[] {
  return scopes
    .map(parseResourceScope)
    .filter((s): s is ResourceScope => s !== undefined && (s.resourceType === '*' || s.resourceType === resourceType) && permits(s.permission, action));
}

export function splitScopes(scope: string | null | undefined): string[] {
  return (scope ?? '').split(/\s+/).filter((s) => s.length > 0);
}
