/*
 * `sluice fhir validate FILE...|-`: validates FHIR R4 JSON (a resource, a Bundle, or NDJSON
 * with one resource a line) with HAPI FHIR's instance validator and prints one line per
 * issue, `severity location: message`. Exit 1 when any error, 0 otherwise, 2 on misuse.
 */
import { CliError } from './errors.js';
import { parse } from './args.js';
import { readInput } from './input.js';
import { formatIssue, isError, startFhirValidator, FhirValidatorUnavailableError, type FhirValidator, type ValidationIssue } from '../../transforms/validate/index.js';

const USAGE = 'sluice fhir validate [--all] FILE...|-   (FHIR JSON resource, Bundle or NDJSON; --all also prints information)';

/** One resource to validate, as one line of JSON, and how to name it in the output. */
interface Item { readonly label: string; readonly json: string }

/**
 * A whole-file JSON value is one resource; otherwise each non-blank line is one (NDJSON).
 * Each resource is parsed here once: a pretty-printed file is re-serialised from that parse
 * to the one line the validator reads, so the validator need not parse it again; a line
 * (or a one-line file) goes as it is.
 */
function splitFhirInput(file: string, text: string): Item[] {
  const trimmed = text.replace(/^\uFEFF/, '').trim();
  if (trimmed === '') throw new CliError(`${file}: empty file`);
  let whole: unknown;
  try {
    whole = JSON.parse(trimmed);
  } catch (wholeError) {
    const lines = trimmed.split(/\r?\n/);
    if (lines.length === 1) throw new CliError(`${file}: not JSON: ${(wholeError as Error).message}`);
    const items: Item[] = [];
    lines.forEach((line, i) => {
      if (line.trim() === '') return;
      try {
        JSON.parse(line);
      } catch (e) {
        throw new CliError(`${file}:${i + 1}: not JSON (neither one JSON document nor NDJSON): ${(e as Error).message}`);
      }
      items.push({ label: `${file}:${i + 1}`, json: line });
    });
    return items;
  }
  return [{ label: file, json: /[\r\n]/.test(trimmed) ? JSON.stringify(whole) : trimmed }];
}

export async function fhirValidateCommand(
  args: string[],
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
  deps: { validator?: FhirValidator } = {},
): Promise<number> {
  const { values, positionals } = parse(args, { all: { type: 'boolean' } }, USAGE);
  if (positionals.length === 0) throw new CliError(`expected at least one FILE\nusage: ${USAGE}`, 2);
  const items: Item[] = [];
  for (const file of positionals) {
    const { name, bytes } = await readInput(file);
    items.push(...splitFhirInput(name, bytes.toString('utf8')));
  }

  let validator = deps.validator;
  if (!validator) {
    try {
      validator = await startFhirValidator();
    } catch (e) {
      if (e instanceof FhirValidatorUnavailableError) throw new CliError(e.message);
      throw e;
    }
  }
  const counts = { error: 0, warning: 0, information: 0 };
  try {
    // All requests go out at once; the validator answers them in order.
    const answers = await Promise.all(items.map((item) => validator.validate(item.json).then(
      (issues) => ({ issues }),
      (e: unknown) => ({ failure: (e as Error).message }),
    )));
    answers.forEach((answer, i) => {
      const label = items[i]?.label ?? '';
      const prefix = items.length > 1 ? `${label}: ` : '';
      if ('failure' in answer) {
        counts.error++;
        out.write(`${prefix}error: ${answer.failure}\n`);
        return;
      }
      for (const issue of answer.issues) {
        count(counts, issue);
        if (issue.severity === 'information' && !values.all) continue;
        out.write(`${prefix}${formatIssue(issue)}\n`);
      }
    });
  } finally {
    if (!deps.validator) await validator.close();
  }
  err.write(`${items.length} resource${items.length === 1 ? '' : 's'}: ${counts.error} error(s), ${counts.warning} warning(s), ${counts.information} information\n`);
  return counts.error > 0 ? 1 : 0;
}

function count(counts: { error: number; warning: number; information: number }, issue: ValidationIssue): void {
  if (isError(issue)) counts.error++;
  else if (issue.severity === 'warning') counts.warning++;
  else counts.information++;
}
