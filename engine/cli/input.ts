import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { decodeHl7Bytes, splitBatch, Hl7ParseError, type Hl7Encoding } from '../hl7/index.js';
import { CliError, describeParseError } from './errors.js';

/** One message read from a file, with where it came from for error lines. */
export interface InputMessage {
  readonly source: string;
  /** 1-based index of the message within its file. */
  readonly index: number;
  readonly text: string;
  readonly encoding: Hl7Encoding;
  /** Character offset of the message in its file, for error positions. */
  readonly offset: number;
}

const HL7_EXTENSIONS = new Set(['.hl7', '.txt', '.msg', '.er7', '']);

/** Reads FILE, every HL7 file in DIR (sorted), or stdin for `-`, splitting batches. */
export async function readMessages(target: string): Promise<InputMessage[]> {
  const files: { name: string; bytes: Buffer }[] = [];
  if (target === '-') {
    files.push(await readInput('-'));
  } else {
    const info = await stat(target).catch(() => { throw new CliError(`${target}: no such file or directory`); });
    if (info.isDirectory()) {
      const names = (await readdir(target)).filter((n) => HL7_EXTENSIONS.has(path.extname(n).toLowerCase())).sort();
      for (const n of names) {
        const full = path.join(target, n);
        if ((await stat(full)).isFile()) files.push({ name: full, bytes: await readFile(full) });
      }
    } else {
      files.push({ name: target, bytes: await readFile(target) });
    }
  }
  const out: InputMessage[] = [];
  for (const f of files) {
    const { text, encoding } = decodeHl7Bytes(f.bytes);
    let offset = 0;
    splitMessages(f.name, text).forEach((m, i) => {
      offset = text.indexOf(m, offset);
      out.push({ source: f.name, index: i + 1, text: m, encoding, offset: Math.max(offset, 0) });
    });
  }
  return out;
}

/** One input, whole: FILE's bytes, or stdin's for `-` (named `<stdin>` for error lines). */
export async function readInput(target: string, stdin: AsyncIterable<Buffer | string> = process.stdin): Promise<{ name: string; bytes: Buffer }> {
  if (target === '-') {
    const chunks: Buffer[] = [];
    for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    return { name: '<stdin>', bytes: Buffer.concat(chunks) };
  }
  try {
    return { name: target, bytes: await readFile(target) };
  } catch (e) {
    throw new CliError(`${target}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`);
  }
}

/** The messages of `text` (one, several, or an FHS/BHS batch's); a parse error becomes `name:line:column: reason`. */
export function splitMessages(name: string, text: string): string[] {
  try {
    return splitBatch(text).messages;
  } catch (err) {
    if (err instanceof Hl7ParseError) throw new CliError(describeParseError(name, text, err));
    throw err;
  }
}
