import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/**
 * What a channel was built from: its resolved config and the contents of every file the
 * config names in a `file:` option (a script or a code map step's file), read as those steps
 * read them, relative to the working directory. A reload that finds the same fingerprint
 * leaves the channel running; an edit to a script file alone is a change.
 */
export function channelFingerprint(config: unknown, cwd = process.cwd()): string {
  const files: string[] = [];
  const walk = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === 'object') {
      for (const [key, inner] of Object.entries(value)) {
        if (key === 'file' && typeof inner === 'string') files.push(inner);
        else walk(inner);
      }
    }
  };
  walk(config);
  const hash = createHash('sha256').update(JSON.stringify(config));
  for (const file of files) {
    hash.update(`\0${file}\0`);
    try {
      hash.update(readFileSync(resolve(cwd, file)));
    } catch (error) {
      // A missing file fails the build with its own error; here it only has to differ.
      hash.update(`unreadable: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
  return hash.digest('hex');
}
