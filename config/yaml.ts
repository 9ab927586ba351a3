import { readFileSync } from 'node:fs';
import { isAlias, isMap, isNode, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { ConfigError, ConfigPath, Problem } from './errors.js';

export interface Position {
  /** 1-based. */
  readonly line: number;
  /** 1-based. */
  readonly column: number;
}

/** A parsed YAML file: its plain value and a map from paths back to line:column. */
export interface YamlFile {
  /** The file as shown in errors. */
  readonly file: string;
  /** `undefined` when the file could not be read or has syntax errors. */
  readonly value: unknown;
  /** Read and syntax errors, in the common error format. */
  readonly errors: ConfigError[];
  /**
   * Where a path is in the file. `at: 'key'` (default) gives the key of the last map entry,
   * `'value'` its value; list items give the item. A path that does not exist gives its
   * nearest existing parent, so a missing key points at the map that lacks it.
   */
  positionOf(path: ConfigPath, at?: 'key' | 'value'): Position;
  /** Problems with positions, in the common error format. */
  locate(problems: readonly Problem[]): ConfigError[];
}

const START: Position = { line: 1, column: 1 };

function nodeStart(node: unknown): number | undefined {
  return isNode(node) && node.range ? node.range[0] : undefined;
}

function resolveAlias(node: unknown, doc: Document): unknown {
  // An alias's position is where the alias is written; its content is the anchored node.
  return isAlias(node) ? node.resolve(doc) : node;
}

function findOffset(doc: Document, path: ConfigPath, at: 'key' | 'value'): number | undefined {
  let node: unknown = doc.contents;
  let best = nodeStart(node);
  for (let i = 0; i < path.length; i++) {
    const seg = path[i]!;
    const last = i === path.length - 1;
    const target = resolveAlias(node, doc);
    if (isMap(target)) {
      const pair = target.items.find((p) => isPair(p) && keyText(p.key) === String(seg));
      if (!pair) return best;
      best = nodeStart(pair.key) ?? best;
      // `key:` with nothing after it has an empty scalar as value; its position is the key's.
      const value = pair.value as Node | null;
      if (last && at === 'value' && value && !(isScalar(value) && value.value === null)) best = nodeStart(value) ?? best;
      node = value;
    } else if (isSeq(target) && typeof seg === 'number') {
      const item = target.items[seg];
      if (item === undefined) return best;
      best = nodeStart(item) ?? best;
      node = item;
    } else {
      return best;
    }
  }
  return best;
}

function keyText(key: unknown): string | undefined {
  if (isScalar(key)) return String(key.value);
  return undefined;
}

/** Parses YAML text. Syntax errors come back as ConfigErrors and leave `value` undefined. */
export function parseYaml(text: string, file: string): YamlFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const toPosition = (offset: number | undefined): Position => {
    if (offset === undefined) return START;
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  const errors: ConfigError[] = [...doc.errors, ...doc.warnings].map((e) => {
    const pos = toPosition(e.pos[0]);
    return { file, line: pos.line, column: pos.column, path: [], message: `YAML syntax: ${e.message}` };
  });
  let value: unknown;
  if (errors.length === 0) {
    try {
      value = doc.toJS({ maxAliasCount: 1000 });
    } catch (err) {
      errors.push({ file, ...START, path: [], message: `YAML: ${(err as Error).message}` });
    }
  }
  const positionOf = (path: ConfigPath, at: 'key' | 'value' = 'key'): Position => toPosition(findOffset(doc, path, at));
  const locate = (problems: readonly Problem[]): ConfigError[] =>
    problems.map((p) => {
      const pos = positionOf(p.path, p.at);
      return { file, line: pos.line, column: pos.column, path: p.path, message: p.message };
    });
  return { file, value, errors, positionOf, locate };
}

/** Reads and parses a file; an unreadable file is one error at 1:1. */
export function readYamlFile(absolutePath: string, displayPath: string): YamlFile {
  let text: string;
  try {
    text = readFileSync(absolutePath, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'is a directory' : `cannot read file (${code ?? (err as Error).message})`;
    const failed = parseYaml('', displayPath);
    return { ...failed, value: undefined, errors: [{ file: displayPath, ...START, path: [], message: reason }] };
  }
  return parseYaml(text, displayPath);
}
