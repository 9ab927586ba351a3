import { Hl7ParseError } from '../hl7/index.js';

/** An error the CLI prints as one line and turns into exit code 1 (or `code`). */
export class CliError extends Error {
  constructor(message: string, readonly code = 1) {
    super(message);
  }
}

/** `file:line:column: reason`, from a parse error's character offset. */
export function describeParseError(file: string, text: string, err: Hl7ParseError, offsetBase = 0): string {
  const at = offsetBase + err.position;
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < at && i < text.length; i++) {
    const c = text[i];
    if (c === '\n' || (c === '\r' && text[i + 1] !== '\n')) { line++; lineStart = i + 1; }
  }
  return `${file}:${line}:${at - lineStart + 1}: ${err.reason}`;
}
