import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import path from 'node:path';
import { StoreCipher } from '../../store/crypto.js';

/**
 * Keeps the latest refresh token of one connection on disk. Servers rotate refresh tokens
 * (the old one stops working), so the token written in the config is spent after the first
 * refresh; without this, a restart of an unattended standalone/EHR-launch connection fails.
 *
 * The file is mode 0600, replaced atomically (temp file, fsync, rename), and sealed with
 * AES-256-GCM under the engine's encryption key when one is configured.
 */
export class RefreshTokenVault {
  private readonly cipher: StoreCipher | undefined;

  constructor(readonly file: string, encryptionKey?: string | Uint8Array) {
    this.cipher = encryptionKey === undefined ? undefined : new StoreCipher(encryptionKey);
  }

  /** The stored token, or undefined when none was stored. Throws when it cannot be decrypted. */
  load(): string | undefined {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8').trim();
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
    if (text.startsWith('plain:')) return text.slice('plain:'.length);
    if (!text.startsWith('sealed:')) throw new Error(`${this.file}: not a Sluice refresh-token file`);
    if (!this.cipher) throw new Error(`${this.file}: the refresh token is encrypted, but no store.encryptionKey is configured`);
    return this.cipher.openText(text.slice('sealed:'.length), this.where());
  }

  save(token: string): void {
    mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const body = this.cipher ? `sealed:${this.cipher.sealText(token, this.where())}` : `plain:${token}`;
    const tmp = `${this.file}.${process.pid}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, body);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.file);
  }

  /** Binds the ciphertext to this file's name, so one connection's token cannot be swapped in for another's. */
  private where(): string {
    return `refresh-token|${path.basename(this.file)}`;
  }
}
