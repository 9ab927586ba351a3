/**
 * The one error format of the config layer, one error per line:
 *   `<file>:<line>:<col> <dotted.path>: <what was wrong and what was expected>`
 */

export type PathSegment = string | number;
export type ConfigPath = readonly PathSegment[];

export interface ConfigError {
  /** The file as shown to the user (relative to the working directory when inside it). */
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  /** 1-based. */
  readonly column: number;
  readonly path: ConfigPath;
  readonly message: string;
}

/**
 * A problem found before positions are known. `at: 'value'` points at the value of the
 * last key (secrets), otherwise at the key itself; a missing key points at its nearest
 * existing parent.
 */
export interface Problem {
  readonly path: ConfigPath;
  readonly message: string;
  readonly at?: 'key' | 'value';
  /** An unknown key: about the key's name, never hidden behind a problem with its value. */
  readonly unknownKey?: true;
}

const PLAIN_KEY = /^[A-Za-z0-9_-]+$/;

/** `destinations.epic.fhir.connection`, `steps[0].map`, `filter.paths["PID-3.1"]`; `(root)` for the document. */
export function formatPath(path: ConfigPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (PLAIN_KEY.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out || '(root)';
}

/** Messages are one line, whatever a component's schema put in them. */
function oneLine(text: string): string {
  return text.replace(/\s*\r?\n\s*/g, ' ').trim();
}

export function formatError(e: ConfigError): string {
  return `${e.file}:${e.line}:${e.column} ${formatPath(e.path)}: ${oneLine(e.message)}`;
}

export function formatErrors(errors: readonly ConfigError[]): string {
  return errors.map(formatError).join('\n');
}

/** Stable order: by file as first seen, then line, then column. */
export function sortErrors(errors: readonly ConfigError[]): ConfigError[] {
  const fileOrder = new Map<string, number>();
  for (const e of errors) if (!fileOrder.has(e.file)) fileOrder.set(e.file, fileOrder.size);
  return errors
    .map((e, i) => ({ e, i }))
    .sort((a, b) => (fileOrder.get(a.e.file)! - fileOrder.get(b.e.file)!) || a.e.line - b.e.line || a.e.column - b.e.column || a.i - b.i)
    .map(({ e }) => e);
}

export function pathKey(path: ConfigPath): string {
  return JSON.stringify(path);
}

/** Edit distance counting a swap of two neighbours as one edit (`prot` → `port`). */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

/** The closest candidate when it is close enough to be a typo, e.g. `conection` → `connection`. */
export function didYouMean(input: string, candidates: readonly string[]): string | undefined {
  const lower = input.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    if (c === input) continue;
    const d = c.toLowerCase() === lower ? 0 : editDistance(lower, c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  // One edit per three characters; names of one or two characters only match ignoring case.
  const limit = input.length < 3 ? 0 : Math.max(1, Math.floor(input.length / 3));
  return best !== undefined && bestDistance <= limit ? best : undefined;
}

/** `unknown connection "epic-prd" (did you mean "epic-prod"? known: a, epic-prod)`. */
export function unknownName(what: string, name: string, known: readonly string[], knownLabel = 'known'): string {
  const guess = didYouMean(name, known);
  const hint = guess ? `did you mean "${guess}"? ` : '';
  const list = known.length ? `${knownLabel}: ${known.join(', ')}` : `none are ${knownLabel === 'known' ? 'defined' : knownLabel}`;
  return `unknown ${what} "${name}" (${hint}${list})`;
}
