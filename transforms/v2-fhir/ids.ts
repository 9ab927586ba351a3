import { createHash } from 'node:crypto';

/*
 * Deterministic resource ids: UUIDv5 (RFC 9562 §5.5, SHA-1) over
 * "resourceType|authority|identifier". The same input always yields the same ids, so a
 * replayed message updates the resources it created instead of duplicating them.
 */

/** Sluice's UUIDv5 namespace for v2→FHIR ids: uuidv5(RFC 9562 URL namespace, "https://sluice.dev/v2-fhir"). */
export const SLUICE_V2_NAMESPACE = 'ccb77602-94f4-5a24-a530-7198be789640';

const namespaceBytes = uuidBytes(SLUICE_V2_NAMESPACE);

function uuidBytes(uuid: string): Buffer {
  return Buffer.from(uuid.replaceAll('-', ''), 'hex');
}

const HEX: string[] = [];
for (let i = 0; i < 256; i++) HEX.push((i + 0x100).toString(16).slice(1));

/** UUIDv5 of `name` in `namespace` (Sluice's by default). */
export function uuidV5(name: string, namespace: Buffer = namespaceBytes): string {
  const hash = createHash('sha1').update(namespace).update(name, 'utf8').digest();
  hash[6] = (hash[6]! & 0x0f) | 0x50;
  hash[8] = (hash[8]! & 0x3f) | 0x80;
  let out = '';
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) out += '-';
    out += HEX[hash[i]!];
  }
  return out;
}

/** The id of a resource of `type` known by `identifier` within `authority`. */
export function resourceId(type: string, authority: string, identifier: string): string {
  return uuidV5(`${type}|${authority}|${identifier}`);
}

/** Parses a UUID string for use as a namespace. */
export function namespaceOf(uuid: string): Buffer {
  return uuidBytes(uuid);
}
