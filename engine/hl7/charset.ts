import { isUtf8 } from 'node:buffer';

/** How the bytes of a message were turned into text, so they can be turned back exactly. */
export type Hl7Encoding = 'utf8' | 'latin1';

/**
 * Decodes message bytes losslessly. MSH-18 `8859/...` or `ISO IR100` means latin1; otherwise valid UTF-8
 * (which includes plain ASCII) is read as UTF-8, and anything else as latin1, which maps
 * every byte to one character and so always round-trips.
 */
export function decodeHl7Bytes(bytes: Uint8Array): { text: string; encoding: Hl7Encoding } {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const declared = declaredCharset(buf);
  const latin = declared.includes('8859') || declared.startsWith('ISO IR100');
  if (!latin && isUtf8(buf)) return { text: buf.toString('utf8'), encoding: 'utf8' };
  return { text: buf.toString('latin1'), encoding: 'latin1' };
}

export function encodeHl7Text(text: string, encoding: Hl7Encoding): Buffer {
  return Buffer.from(text, encoding);
}

/** MSH-18 of the first segment, read from the raw header line (ASCII-compatible in every HL7 charset). */
function declaredCharset(buf: Buffer): string {
  let start = 0;
  if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) return 'UNICODE UTF-8';
  while (start < buf.length && (buf[start] === 0x0d || buf[start] === 0x0a || buf[start] === 0x20 || buf[start] === 0x09)) start++;
  let end = start;
  const limit = Math.min(buf.length, start + 2048);
  while (end < limit && buf[end] !== 0x0d && buf[end] !== 0x0a) end++;
  const line = buf.toString('latin1', start, end);
  if (!line.startsWith('MSH') || line.length < 4) return '';
  return (line.split(line[3]!)[17] ?? '').toUpperCase();
}
