import { scriptProblem, type ScriptSource } from '../engine/channel/script.js';
import { field, isRecord, type CheckedChannel } from './crossref.js';
import type { PathSegment } from './errors.js';

/** The step whose `code` or `file` is a script (engine/channel/components/steps.ts). */
export const SCRIPT_STEP = 'script';

function check(ch: CheckedChannel, path: PathSegment[], src: ScriptSource, mode: 'expression' | 'statements'): void {
  const problem = scriptProblem(src, mode);
  if (problem === undefined) return;
  // A script from ${env:...} or ${file:...} is not quoted, not even by the compiler's message.
  const message = ch.isSecret(path) ? `${problem.split(':')[0]} (details not shown: the value comes from a secret reference)` : problem;
  ch.problems.push({ path, message });
}

/**
 * Compiles every script of a channel with the engine's own compiler, as the engine does when
 * the channel starts: the `filter` and route `when` expressions and the `script` steps, whose
 * `file` is read relative to the working directory `cwd` (as at run time). A script that would
 * keep the channel from starting is an error at its key.
 *
 * Reads the substituted YAML defensively, so a file with other errors is still checked; a
 * script block with schema errors of its own (both `code` and `file`, an unknown `lang`) is
 * left to those.
 */
export function checkScripts(ch: CheckedChannel, cwd: string): void {
  const expression = (path: PathSegment[], code: unknown): void => {
    if (typeof code === 'string' && code !== '') check(ch, path, { code }, 'expression');
  };
  expression(['filter', 'script'], field(field(ch.raw, 'filter'), 'script'));
  const route = field(ch.raw, 'route');
  if (Array.isArray(route)) route.forEach((rule, i) => expression(['route', i, 'when', 'script'], field(field(rule, 'when'), 'script')));
  const steps = field(ch.raw, 'steps');
  if (!Array.isArray(steps)) return;
  steps.forEach((step, i) => {
    const options = field(step, SCRIPT_STEP);
    if (!isRecord(options)) return;
    const { code, file, lang } = options;
    const hasCode = typeof code === 'string' && code !== '';
    const hasFile = typeof file === 'string' && file !== '';
    if (hasCode === hasFile || (code !== undefined && typeof code !== 'string') || (file !== undefined && typeof file !== 'string')) return;
    if (lang !== undefined && lang !== 'js' && lang !== 'ts') return;
    const path: PathSegment[] = ['steps', i, SCRIPT_STEP, hasCode ? 'code' : 'file'];
    check(ch, path, hasCode ? { code: code as string, lang } : { file: file as string, lang, cwd }, 'statements');
  });
}
