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

/**
 * The encoding to write a message given as text: latin1 when MSH-18 declares 8859/ISO IR100
 * and every character fits in one byte, else UTF-8. So a message read as text and sent
 * on the wire matches the character set it declares.
 */
export function encodingForText(text: string): Hl7Encoding {
  const declared = charsetOfLine(firstLine(text));
  const latin = declared.includes('8859') || declared.startsWith('ISO IR100');
  return latin && !/[^\u0000-\u00ff]/.test(text) ? 'latin1' : 'utf8';
}

function firstLine(text: string): string {
  const start = text.search(/[^\r\n \t\uFEFF]/);
  if (start < 0) return '';
  const rest = text.slice(start, start + 2048);
  const end = rest.search(/[\r\n]/);
  return end < 0 ? rest : rest.slice(0, end);
}

function charsetOfLine(line: string): string {
  if (!line.startsWith('MSH') || line.length < 4) return '';
  return (line.split(line[3]!)[17] ?? '').toUpperCase();
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
  return charsetOfLine(buf.toString('latin1', start, end));
}
