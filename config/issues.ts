import type { z } from 'zod';
import { didYouMean, type ConfigPath, type PathSegment, type Problem } from './errors.js';

type Issue = z.core.$ZodIssue;
type RawIssue = z.core.$ZodRawIssue;

/**
 * Marks a message as "not customised by the schema": our error map only runs when the
 * schema gave no message, so anything that does not start with MARK was written by a
 * schema author and is used as is.
 */
const MARK = '\u0000';

function shapeKeys(inst: unknown): string[] | undefined {
  const def = (inst as { _zod?: { def?: { type?: string; shape?: Record<string, unknown> } } } | undefined)?._zod?.def;
  return def?.type === 'object' && def.shape ? Object.keys(def.shape) : undefined;
}

function errorMap(iss: RawIssue): string {
  if (iss.code === 'unrecognized_keys') return MARK + JSON.stringify(shapeKeys(iss.inst) ?? []);
  return MARK;
}

export type ParseResult<T> = { success: true; data: T } | { success: false; issues: Issue[] };

/** safeParse with our error map and the input kept on each issue (for "got ..." text). */
export function parseWith<S extends z.ZodType>(schema: S, value: unknown): ParseResult<z.output<S>> {
  const r = schema.safeParse(value, { error: errorMap, reportInput: true });
  return r.success ? { success: true, data: r.data } : { success: false, issues: r.error.issues };
}

/** Re-roots issues from a nested parse under `prefix`, for pushing into an outer parse. */
export function forwardIssues(issues: readonly Issue[], prefix: readonly PathSegment[]): RawIssue[] {
  return issues.map((i) => ({ ...i, path: [...prefix, ...i.path], input: i.input }) as RawIssue);
}

function isDefault(message: string): boolean {
  return message.startsWith(MARK);
}

const EXPECTED: Record<string, string> = {
  object: 'a mapping', record: 'a mapping', array: 'a list', tuple: 'a list', string: 'a string', number: 'a number',
  int: 'an integer', boolean: 'true or false', null: 'an empty value', never: 'nothing', undefined: 'nothing',
};

function expectedText(expected: string): string {
  return EXPECTED[expected] ?? expected;
}

function describe(v: unknown): string {
  if (v === null) return 'an empty value';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a number';
  if (typeof v === 'boolean') return 'a boolean';
  return `a ${typeof v}`;
}

function literal(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 57)}...` : v);
  return String(v);
}

/** ` "abc"` / ` 12`, or nothing for secrets and structures. */
function shown(v: unknown, secret: boolean): string {
  if (secret) return '';
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return ` ${literal(v)}`;
  return '';
}

function oneOf(values: readonly unknown[]): string {
  return values.length === 1 ? `expected ${literal(values[0])}` : `expected one of: ${values.map((v) => (typeof v === 'string' ? v : String(v))).join(', ')}`;
}

function invalidValue(values: readonly unknown[], input: unknown, secret: boolean): string {
  const guess = !secret && typeof input === 'string' ? didYouMean(input, values.filter((v): v is string => typeof v === 'string')) : undefined;
  const hint = guess ? `did you mean "${guess}"? ` : '';
  return `invalid value${shown(input, secret)} (${hint}${oneOf(values)})`;
}

function bound(kind: 'small' | 'big', origin: string, limit: number | bigint, inclusive: boolean | undefined): string {
  const n = Number(limit);
  if (origin === 'array' || origin === 'set') {
    const items = (k: number) => `${k} item${k === 1 ? '' : 's'}`;
    return kind === 'small' ? `must have at least ${items(inclusive === false ? n + 1 : n)}` : `must have at most ${items(inclusive === false ? n - 1 : n)}`;
  }
  if (origin === 'string') {
    if (kind === 'small' && n <= 1) return 'must not be empty';
    return `must be ${kind === 'small' ? 'at least' : 'at most'} ${n} characters`;
  }
  const op = kind === 'small' ? (inclusive === false ? '>' : '>=') : inclusive === false ? '<' : '<=';
  return `must be ${op} ${n}`;
}

/** Issues of one union branch that say "this is the wrong shape entirely". */
function rootMismatches(branch: readonly Issue[]): number {
  return branch.filter((i) => i.path.length === 0 && (i.code === 'invalid_type' || i.code === 'invalid_value')).length;
}

function unionProblems(issue: Extract<Issue, { code: 'invalid_union' }>, path: ConfigPath, isSecret: (p: ConfigPath) => boolean): Problem[] {
  const secret = isSecret(path);
  if (issue.errors.length === 0) {
    const options = 'options' in issue && Array.isArray(issue.options) ? issue.options : [];
    return [{ path, message: options.length ? invalidValue(options, issue.input, secret) : isDefault(issue.message) ? 'matches more than one allowed form' : issue.message }];
  }
  const singles = issue.errors.every((b) => b.length === 1 && b[0]!.path.length === 0);
  if (singles) {
    const firsts = issue.errors.map((b) => b[0]!);
    if (firsts.every((i) => i.code === 'invalid_type')) {
      const expected = [...new Set(firsts.map((i) => expectedText((i as { expected: string }).expected)))];
      return [{ path, message: `expected ${expected.join(' or ')}, got ${describe(issue.input)}${shown(issue.input, secret)}` }];
    }
    if (firsts.every((i) => i.code === 'invalid_value')) {
      return [{ path, message: invalidValue(firsts.flatMap((i) => (i as { values: unknown[] }).values), issue.input, secret) }];
    }
  }
  // Report the branch that came closest: fewest whole-value mismatches, then fewest issues.
  const best = [...issue.errors].sort((a, b) => rootMismatches(a) - rootMismatches(b) || a.length - b.length)[0]!;
  return best.flatMap((i) => issueProblems(i, path, isSecret));
}

/** Turns one zod issue into readable problems (unknown keys give one problem per key). */
function issueProblems(issue: Issue, prefix: ConfigPath, isSecret: (p: ConfigPath) => boolean): Problem[] {
  const path = [...prefix, ...(issue.path as PathSegment[])];
  const secret = isSecret(path);
  const custom = !isDefault(issue.message);
  switch (issue.code) {
    case 'invalid_type':
      if (custom) return [{ path, message: issue.message }];
      if (issue.input === undefined) return [{ path, message: `is required (expected ${expectedText(issue.expected)})` }];
      return [{ path, message: `expected ${expectedText(issue.expected)}, got ${describe(issue.input)}${shown(issue.input, secret)}` }];
    case 'unrecognized_keys': {
      const expected: string[] = custom ? [] : (JSON.parse(issue.message.slice(MARK.length)) as string[]);
      return issue.keys.map((key) => {
        const guess = didYouMean(key, expected);
        const hint = guess ? `did you mean "${guess}"? ` : '';
        const list = expected.length ? `expected one of: ${expected.join(', ')}` : 'no keys are allowed here';
        return { path: [...path, key], message: `unknown key "${key}" (${hint}${list})`, unknownKey: true as const };
      });
    }
    case 'invalid_value':
      return [{ path, message: custom ? issue.message : invalidValue(issue.values, issue.input, secret) }];
    case 'invalid_union':
      return custom ? [{ path, message: issue.message }] : unionProblems(issue, path, isSecret);
    case 'invalid_key': {
      const inner = issue.issues.flatMap((i) => issueProblems(i, [], () => false)).map((p) => p.message);
      return [{ path, message: `invalid key: ${inner.join('; ') || issue.message}` }];
    }
    case 'invalid_element': {
      const inner = issue.issues.flatMap((i) => issueProblems(i, path, isSecret));
      return inner.length ? inner : [{ path, message: 'invalid element' }];
    }
    case 'too_small':
      return [{ path, message: custom ? issue.message : bound('small', issue.origin, issue.minimum, issue.inclusive) }];
    case 'too_big':
      return [{ path, message: custom ? issue.message : bound('big', issue.origin, issue.maximum, issue.inclusive) }];
    case 'invalid_format': {
      if (custom) return [{ path, message: issue.message }];
      const f = issue as { format: string; pattern?: string; prefix?: string; suffix?: string; includes?: string };
      const got = shown(issue.input, secret);
      if (f.format === 'regex') return [{ path, message: `invalid value${got} (expected to match ${f.pattern ?? 'the pattern'})` }];
      if (f.format === 'starts_with') return [{ path, message: `must start with "${f.prefix ?? ''}"` }];
      if (f.format === 'ends_with') return [{ path, message: `must end with "${f.suffix ?? ''}"` }];
      if (f.format === 'includes') return [{ path, message: `must contain "${f.includes ?? ''}"` }];
      return [{ path, message: `expected a valid ${f.format}${got ? `, got${got}` : ''}` }];
    }
    case 'not_multiple_of':
      return [{ path, message: custom ? issue.message : `must be a multiple of ${issue.divisor}` }];
    case 'custom':
      return [{ path, message: custom ? issue.message : 'invalid value' }];
  }
}

/** Readable problems for all issues of a parse; `isSecret` paths never show their value. */
export function issuesToProblems(issues: readonly Issue[], isSecret: (p: ConfigPath) => boolean): Problem[] {
  return issues.flatMap((i) => issueProblems(i, [], isSecret));
}
