import { isUtf8 } from 'node:buffer';
import type { Delimiters } from './delimiters.js';

/*
 * HL7 v2 escape sequences (v2.5 §2.7). Delimiter escapes are decoded on read and
 * encoded on write. Formatting (\.br\, \H\, \N\ ...), character-set (\Cxxyy\, \Mxxyyzz\)
 * and local (\Z..\) escapes are kept verbatim so FT text survives a read/write cycle.
 */

/** Escapes kept as they are: they carry formatting or charset meaning, not data. */
function isKeptEscape(body: string): boolean {
  if (body === 'H' || body === 'N') return true;
  const c = body[0];
  return c === '.' || c === 'C' || c === 'M' || c === 'Z';
}

/** True when a kept escape's body holds no delimiter: only then can it be written back as it is. */
function isPlainBody(body: string, d: Delimiters): boolean {
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === d.field || c === d.component || c === d.repetition || c === d.subcomponent || c === d.truncation || c === '\r' || c === '\n') return false;
  }
  return true;
}

function decodeHex(hex: string): string | undefined {
  if (hex.length === 0 || hex.length % 2 !== 0 || !/^[0-9A-Fa-f]+$/.test(hex)) return undefined;
  const bytes = Buffer.from(hex, 'hex');
  // Multi-byte hex escapes are usually UTF-8; otherwise one byte is one (latin1) character.
  return isUtf8(bytes) ? bytes.toString('utf8') : bytes.toString('latin1');
}

/** Decodes delimiter and hex escapes in one leaf value. */
export function unescapeValue(value: string, d: Delimiters): string {
  const esc = d.escape;
  if (esc === '' || value.indexOf(esc) < 0) return value;
  let out = '';
  let i = 0;
  const n = value.length;
  while (i < n) {
    const start = value.indexOf(esc, i);
    if (start < 0) break;
    const end = value.indexOf(esc, start + 1);
    if (end < 0) break; // an unterminated escape is data
    out += value.slice(i, start);
    const body = value.slice(start + 1, end);
    let decoded: string | undefined;
    switch (body) {
      case 'F': decoded = d.field; break;
      case 'S': decoded = d.component; break;
      // Without that delimiter in the message the escape means nothing: keep it as written.
      case 'T': decoded = d.subcomponent || undefined; break;
      case 'R': decoded = d.repetition || undefined; break;
      case 'E': decoded = esc; break;
      case 'P': decoded = d.truncation || undefined; break;
      default:
        if (body[0] === 'X') decoded = decodeHex(body.slice(1));
    }
    if (decoded === undefined) {
      // Unknown or kept escape: leave it exactly as written.
      out += value.slice(start, end + 1);
    } else {
      out += decoded;
    }
    i = end + 1;
  }
  return out + value.slice(i);
}

/** Encodes delimiter characters in a leaf value; kept escapes already in the value stay intact. */
export function escapeValue(value: string, d: Delimiters): string {
  const esc = d.escape;
  let needs = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === d.field || c === d.component || c === d.repetition || c === esc || c === d.subcomponent || (d.truncation !== '' && c === d.truncation) || c === '\r' || c === '\n' || c === '\x0b' || c === '\x1c') {
      needs = true;
      break;
    }
  }
  if (!needs) return value;
  if (esc === '') {
    // Without an escape character the delimiters cannot be represented; drop them rather than corrupt structure.
    let out = '';
    for (const c of value) if (c !== d.field && c !== d.component && c !== d.repetition && c !== d.subcomponent && c !== d.truncation && c !== '\r' && c !== '\n' && c !== '\x0b' && c !== '\x1c') out += c;
    return out;
  }
  let out = '';
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c === esc) {
      // Keep an already-present formatting escape like \.br\ or \H\.
      const end = value.indexOf(esc, i + 1);
      if (end > i + 1 && isKeptEscape(value.slice(i + 1, end)) && isPlainBody(value.slice(i + 1, end), d)) {
        out += value.slice(i, end + 1);
        i = end;
        continue;
      }
      out += `${esc}E${esc}`;
    } else if (c === d.field) out += `${esc}F${esc}`;
    else if (c === d.component) out += `${esc}S${esc}`;
    else if (c === d.subcomponent) out += `${esc}T${esc}`;
    else if (c === d.repetition) out += `${esc}R${esc}`;
    else if (d.truncation !== '' && c === d.truncation) out += `${esc}P${esc}`;
    else if (c === '\r') out += `${esc}X0D${esc}`;
    else if (c === '\n') out += `${esc}X0A${esc}`;
    // MLLP framing bytes: a raw 0x0B or 0x1C in a value could cut the frame short.
    else if (c === '\x0b') out += `${esc}X0B${esc}`;
    else if (c === '\x1c') out += `${esc}X1C${esc}`;
    else out += c;
  }
  return out;
}
