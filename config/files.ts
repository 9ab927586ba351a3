import { readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';

/** YAML files, minus channel test files (`*.test.yaml`), which have their own format. */
function isChannelFileName(name: string): boolean {
  return /\.ya?ml$/i.test(name) && !/\.test\.ya?ml$/i.test(name);
}

/** The path as shown in errors: relative to `cwd` when inside it, absolute otherwise. */
export function displayPath(absolute: string, cwd: string): string {
  const rel = relative(cwd, absolute);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel.split(sep).join('/') : absolute;
}

function kindOf(path: string): 'file' | 'dir' | undefined {
  try {
    const st = statSync(path);
    return st.isDirectory() ? 'dir' : st.isFile() ? 'file' : undefined;
  } catch {
    return undefined;
  }
}

/** YAML files directly in a directory (not recursive), sorted by name. */
export function yamlFilesIn(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter(isChannelFileName).sort().map((n) => join(dir, n)).filter((p) => kindOf(p) === 'file');
}

const GLOB_CHARS = /[*?[{]/;

function segmentRegex(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '{') {
      const end = glob.indexOf('}', i);
      if (end < 0) re += '\\{';
      else {
        re += `(?:${glob.slice(i + 1, end).split(',').map((s) => s.replace(/[.+^$()|\\]/g, '\\$&').replace(/\*/g, '[^/]*')).join('|')})`;
        i = end;
      }
    } else if (c === '[') {
      const end = glob.indexOf(']', i);
      if (end < 0) re += '\\[';
      else {
        re += `[${glob.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += c.replace(/[.+^$()|\\\]]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

function entries(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

/** Matches `*`, `?`, `[abc]`, `{a,b}` within a segment and `**` across directories. Dot entries are skipped. */
function walkGlob(dir: string, segments: readonly string[], out: string[]): void {
  const [seg, ...rest] = segments;
  if (seg === undefined) return;
  if (seg === '**') {
    walkGlob(dir, rest, out);
    for (const name of entries(dir)) {
      const p = join(dir, name);
      if (!name.startsWith('.') && kindOf(p) === 'dir') walkGlob(p, segments, out);
    }
    return;
  }
  if (!GLOB_CHARS.test(seg)) {
    const p = join(dir, seg);
    if (rest.length === 0) {
      if (kindOf(p) === 'file') out.push(p);
    } else if (kindOf(p) === 'dir') walkGlob(p, rest, out);
    return;
  }
  const re = segmentRegex(seg);
  for (const name of entries(dir)) {
    if (name.startsWith('.') || !re.test(name)) continue;
    const p = join(dir, name);
    if (rest.length === 0) {
      if (kindOf(p) === 'file' && isChannelFileName(name)) out.push(p);
    } else if (kindOf(p) === 'dir') walkGlob(p, rest, out);
  }
}

export interface Expanded {
  /** Absolute paths, in pattern order, without repeats. */
  readonly files: string[];
  /** Patterns (by index) that matched nothing. */
  readonly unmatched: Array<{ readonly index: number; readonly message: string }>;
}

/**
 * Channel files from `channels:` entries: a file, a directory (its *.yaml / *.yml, not
 * recursive) or a glob, relative to `baseDir`. `*.test.yaml` is skipped in directories and globs.
 */
export function expandChannelPatterns(patterns: readonly string[], baseDir: string): Expanded {
  const files: string[] = [];
  const unmatched: Array<{ index: number; message: string }> = [];
  patterns.forEach((pattern, index) => {
    const found: string[] = [];
    const normalized = pattern.replace(/\\/g, '/');
    if (GLOB_CHARS.test(normalized)) {
      const absolute = resolve(baseDir, normalized).split(sep).join('/');
      const parts = absolute.split('/');
      const first = parts.findIndex((p) => GLOB_CHARS.test(p));
      walkGlob(parts.slice(0, first).join('/') || '/', parts.slice(first), found);
      if (found.length === 0) unmatched.push({ index, message: `no channel files match "${pattern}"` });
    } else {
      const absolute = resolve(baseDir, normalized);
      const kind = kindOf(absolute);
      if (kind === 'dir') found.push(...yamlFilesIn(absolute));
      else if (kind === 'file') found.push(absolute);
      else unmatched.push({ index, message: `no such file or directory "${pattern}"` });
    }
    for (const f of found) if (!files.includes(f)) files.push(f);
  });
  return { files, unmatched };
}
