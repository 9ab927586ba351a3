import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DecryptionError, EncryptionKeyError, StoreCipher, generateKey, parseKey } from './crypto.js';

const KEY = randomBytes(32);
const cipher = new StoreCipher(KEY);
const PLAIN = Buffer.from('PID|1||MRN12345^^^HOSP^MR||DOE^JANE\r');

describe('StoreCipher envelopes', () => {
  it('is version byte + 12-byte IV + ciphertext + 16-byte tag, with a fresh IV each time', () => {
    const a = cipher.seal(PLAIN, 'messages.raw|1');
    const b = cipher.seal(PLAIN, 'messages.raw|1');
    expect(a[0]).toBe(1);
    expect(a.length).toBe(1 + 12 + PLAIN.length + 16);
    expect(a.subarray(1, 13).equals(b.subarray(1, 13))).toBe(false);
    expect(a.includes(Buffer.from('MRN12345'))).toBe(false);
    expect(cipher.open(a, 'messages.raw|1').equals(PLAIN)).toBe(true);
    expect(cipher.open(cipher.seal(new Uint8Array(), 'x'), 'x').length).toBe(0);
  });

  it('detects a change to any part of the envelope', () => {
    const sealed = cipher.seal(PLAIN, 'w');
    for (const index of [0, 1, 12, 13, 13 + PLAIN.length - 1, sealed.length - 1]) {
      const tampered = Buffer.from(sealed);
      tampered[index]! ^= 0x80;
      expect(() => cipher.open(tampered, 'w'), `byte ${index}`).toThrow(DecryptionError);
    }
    expect(() => cipher.open(sealed.subarray(0, 28), 'w')).toThrow(/too short/);
    expect(() => cipher.open(Buffer.concat([sealed, Buffer.from([0])]), 'w')).toThrow(/authentication failed/);
  });

  it('binds an envelope to where it is stored, and to the key', () => {
    const sealed = cipher.seal(PLAIN, 'messages.raw|A');
    expect(() => cipher.open(sealed, 'messages.raw|B')).toThrow(/cannot decrypt messages\.raw\|B/);
    expect(() => new StoreCipher(randomBytes(32)).open(sealed, 'messages.raw|A')).toThrow(DecryptionError);
  });

  it('seals text as base64', () => {
    const stored = cipher.sealText('error about MRN12345', 'e');
    expect(stored).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(cipher.openText(stored, 'e')).toBe('error about MRN12345');
  });
});

describe('blind index and key check', () => {
  it('gives equal values for equal ids, keyed, without the plaintext', () => {
    const other = new StoreCipher(randomBytes(32));
    expect(cipher.blindIndex('MRN12345')).toBe(cipher.blindIndex('MRN12345'));
    expect(cipher.blindIndex('MRN12345')).not.toBe(cipher.blindIndex('MRN12346'));
    expect(cipher.blindIndex('MRN12345')).not.toBe(other.blindIndex('MRN12345'));
    expect(cipher.blindIndex('MRN12345')).not.toContain('MRN');
    // A subkey, not the master key itself.
    expect(cipher.blindIndex('MRN12345')).not.toBe(createHmac('sha256', KEY).update('MRN12345').digest('base64url'));
  });

  it('recognises its own key check and no other', () => {
    expect(cipher.matches(cipher.keyCheck)).toBe(true);
    expect(cipher.matches(new StoreCipher(randomBytes(32)).keyCheck)).toBe(false);
    expect(cipher.matches('none')).toBe(false);
    expect(cipher.keyCheck).not.toContain(KEY.toString('base64'));
  });
});

describe('parseKey', () => {
  it('accepts 32 bytes as base64, URL-safe base64 or a Buffer', () => {
    expect(parseKey(KEY.toString('base64')).equals(KEY)).toBe(true);
    expect(parseKey(KEY.toString('base64url')).equals(KEY)).toBe(true);
    expect(parseKey(` ${KEY.toString('base64')}\n`).equals(KEY)).toBe(true);
    expect(parseKey(KEY).equals(KEY)).toBe(true);
    expect(parseKey(generateKey())).toHaveLength(32);
  });

  it('rejects other lengths and non-base64 text', () => {
    expect(() => parseKey(randomBytes(16))).toThrow(EncryptionKeyError);
    expect(() => parseKey(randomBytes(33).toString('base64'))).toThrow(/32 bytes.*got 33/);
    expect(() => parseKey('correct horse battery staple')).toThrow(/base64/);
    expect(() => parseKey('')).toThrow(EncryptionKeyError);
  });
});
