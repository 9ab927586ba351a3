import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Encryption at rest for the message store.
 *
 * One 32-byte master key (configured as base64 or a Buffer) is never used directly: HKDF-SHA256
 * derives three independent subkeys from it, one for AES-256-GCM, one for the patient blind
 * index and one for the key check stored in the database (so a wrong key is reported at open,
 * not as a pile of authentication failures later).
 *
 * Envelope: version byte (0x01) + 12-byte random IV + ciphertext + 16-byte GCM tag.
 * Each envelope is bound (GCM additional data) to where it is stored, e.g. `messages.raw|<id>`,
 * so a ciphertext copied to another row or column fails authentication like a tampered one.
 */

export const ENVELOPE_VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const OVERHEAD = 1 + IV_BYTES + TAG_BYTES;

/** Authentication failed: the stored bytes were changed, or belong to another key or row. */
export class DecryptionError extends Error {
  constructor(where: string, reason: string) {
    super(`cannot decrypt ${where}: ${reason} (data tampered with or corrupted, or the wrong encryption key)`);
    this.name = 'DecryptionError';
  }
}

/** The configured key does not fit the store (wrong key, missing key, or malformed key). */
export class EncryptionKeyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EncryptionKeyError';
  }
}

const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;

/** Parses a key given as base64 (standard or URL-safe) or as raw bytes; it must be 32 bytes. */
export function parseKey(key: string | Uint8Array): Buffer {
  let bytes: Buffer;
  if (typeof key === 'string') {
    const text = key.trim();
    if (!BASE64.test(text)) throw new EncryptionKeyError('encryptionKey must be 32 bytes given as base64');
    bytes = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  } else {
    bytes = Buffer.from(key);
  }
  if (bytes.length !== 32) {
    throw new EncryptionKeyError(`encryptionKey must be 32 bytes (AES-256), got ${bytes.length}`);
  }
  return bytes;
}

/** A fresh random key as base64, for `sluice` set-up and tests. */
export function generateKey(): string {
  return randomBytes(32).toString('base64');
}

function derive(master: Buffer, purpose: string): Buffer {
  return Buffer.from(hkdfSync('sha256', master, Buffer.alloc(0), `sluice-store/${purpose}`, 32));
}

export class StoreCipher {
  private readonly encKey: Buffer;
  private readonly indexKey: Buffer;
  /** A value that identifies the key without revealing it; stored in the database. */
  readonly keyCheck: string;

  constructor(key: string | Uint8Array) {
    const master = parseKey(key);
    this.encKey = derive(master, 'aes-256-gcm');
    this.indexKey = derive(master, 'blind-index');
    this.keyCheck = 'v1:' + createHmac('sha256', derive(master, 'key-check')).update('sluice key check').digest('base64');
  }

  /** Encrypts `plain` bound to `where` (e.g. `messages.raw|<id>`). */
  seal(plain: Uint8Array, where: string): Buffer {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.encKey, iv);
    cipher.setAAD(Buffer.from(where, 'utf8'));
    const body = Buffer.concat([cipher.update(plain), cipher.final()]);
    return Buffer.concat([Buffer.from([ENVELOPE_VERSION]), iv, body, cipher.getAuthTag()]);
  }

  open(envelope: Uint8Array, where: string): Buffer {
    const data = Buffer.from(envelope.buffer, envelope.byteOffset, envelope.byteLength);
    if (data.length < OVERHEAD) throw new DecryptionError(where, 'envelope too short');
    if (data[0] !== ENVELOPE_VERSION) throw new DecryptionError(where, `unknown envelope version ${data[0]}`);
    const iv = data.subarray(1, 1 + IV_BYTES);
    const tag = data.subarray(data.length - TAG_BYTES);
    const decipher = createDecipheriv('aes-256-gcm', this.encKey, iv);
    decipher.setAAD(Buffer.from(where, 'utf8'));
    decipher.setAuthTag(tag);
    try {
      return Buffer.concat([decipher.update(data.subarray(1 + IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new DecryptionError(where, 'authentication failed');
    }
  }

  /** Text is sealed and stored as base64 (text columns). */
  sealText(plain: string, where: string): string {
    return this.seal(Buffer.from(plain, 'utf8'), where).toString('base64');
  }

  openText(stored: string, where: string): string {
    return this.open(Buffer.from(stored, 'base64'), where).toString('utf8');
  }

  /**
   * Keyed HMAC-SHA256 of a patient identifier ("blind index"): equal ids give equal values,
   * so search by patient still works, but the database holds no plaintext identifier.
   */
  blindIndex(value: string): string {
    return createHmac('sha256', this.indexKey).update(value, 'utf8').digest('base64url');
  }

  /** True when `stored` (a `keyCheck` from the database) was made with this key. */
  matches(stored: string): boolean {
    const a = Buffer.from(stored);
    const b = Buffer.from(this.keyCheck);
    return a.length === b.length && timingSafeEqual(a, b);
  }
}
