import { decodeHl7Bytes } from '../hl7/index.js';
import { applyCodeMap, CodeMapError, loadCodeMaps, SourceUsage, type CodeMap } from '../../transforms/codemap/index.js';
import { fhirToV2 } from '../../transforms/fhir-v2/index.js';
import { ConversionError, type ConversionWarning, type FhirResource } from '../../transforms/types.js';
import { v2ToFhir } from '../../transforms/v2-fhir/index.js';
import { parse } from './args.js';
import { CliError } from './errors.js';
import { readInput, splitMessages } from './input.js';

const USAGE = 'sluice convert FILE|- [--to fhir|hl7] [--bundle transaction|batch|collection|message] [--timezone TZ] [--codemap FILE]... [--event A08|A28|A31] [--raw]';

/**
 * `sluice convert`: HL7 v2 → FHIR R4 or FHIR → HL7 v2, for one file (or stdin). The
 * result goes to stdout, warnings to stderr (one per line: code, path, text), so the
 * output can be piped while the warnings stay visible.
 */
export async function convertCommand(argv: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream, stdin: AsyncIterable<Buffer | string> = process.stdin): Promise<number> {
  const { values, positionals } = parse(argv, {
    to: { type: 'string' },
    bundle: { type: 'string' },
    timezone: { type: 'string' },
    codemap: { type: 'string', multiple: true },
    event: { type: 'string' },
    raw: { type: 'boolean', default: false },
  }, USAGE);
  if (positionals.length !== 1) throw new CliError(`give one input file (or - for stdin)\nusage: ${USAGE}`, 2);
  const file = positionals[0]!;
  if (values.to !== undefined && values.to !== 'fhir' && values.to !== 'hl7') throw new CliError(`--to must be fhir or hl7, got "${values.to}"`, 2);
  if (values.event !== undefined && !['A08', 'A28', 'A31'].includes(values.event)) throw new CliError(`--event must be A08, A28 or A31, got "${values.event}"`, 2);
  const bundle = values.bundle;
  if (bundle !== undefined && !['transaction', 'batch', 'collection', 'message'].includes(bundle)) throw new CliError(`--bundle must be transaction, batch, collection or message, got "${bundle}"`, 2);

  let codeMap: CodeMap | undefined;
  try {
    codeMap = values.codemap ? loadCodeMaps(values.codemap) : undefined;
  } catch (e) {
    if (e instanceof CodeMapError) throw new CliError(e.message);
    throw e;
  }

  const mapping = codeMap ? { map: codeMap, usage: new SourceUsage(codeMap) } : undefined;
  const { name, bytes } = await readInput(file, stdin);
  const { text } = decodeHl7Bytes(bytes);
  const body = text.replace(/^\uFEFF/, '').trimStart();
  const kind = body.startsWith('{') ? 'json' : /^(MSH|FHS|BHS)/.test(body) ? 'hl7' : undefined;
  if (!kind) throw new CliError(`${name}: neither an HL7 v2 message (starting with MSH) nor FHIR JSON`);
  const to = values.to ?? (kind === 'hl7' ? 'fhir' : 'hl7');
  if ((to === 'fhir') !== (kind === 'hl7')) throw new CliError(`${name}: --to ${to} needs ${to === 'fhir' ? 'HL7 v2' : 'FHIR JSON'} input, got ${kind === 'hl7' ? 'HL7 v2' : 'JSON'}`);

  try {
    if (to === 'fhir') {
      const messages = splitMessages(name, body);
      if (messages.length === 0) throw new CliError(`${name}: no HL7 message in the file`);
      const results = messages.map((m, i) => {
        const { result, warnings } = v2ToFhir(m, { bundle: bundle as 'transaction' | undefined, timezone: values.timezone });
        report(err, warnings, messages.length > 1 ? `message ${i + 1}: ` : '');
        if (mapping) mapCodes(result, mapping, err);
        return result;
      });
      out.write(JSON.stringify(results.length === 1 ? results[0] : results, null, 2) + '\n');
    } else {
      const input = parseJson(body, name);
      if (mapping) mapCodes(input, mapping, err);
      const { result, warnings } = fhirToV2(input, { adtEvent: values.event as 'A08' | undefined });
      report(err, warnings, '');
      out.write(values.raw ? result : result.replace(/\r/g, '\n'));
    }
  } catch (e) {
    if (e instanceof ConversionError) throw new CliError(`${name}: cannot convert: ${e.message}`);
    throw e;
  }
  // Once per table, after every message of the file: a source no coding was in is likely misnamed.
  if (mapping) report(err, mapping.usage.warnings(), '');
  return 0;
}

function parseJson(text: string, name: string): FhirResource {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new CliError(`${name}: not valid JSON: ${(e as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || typeof (value as { resourceType?: unknown }).resourceType !== 'string') {
    throw new CliError(`${name}: cannot convert: JSON without a resourceType is not a FHIR resource`);
  }
  return value as FhirResource;
}

function mapCodes(resource: unknown, { map, usage }: { map: CodeMap; usage: SourceUsage }, err: NodeJS.WritableStream): void {
  const result = applyCodeMap(resource, map);
  usage.record(result);
  const { unmapped } = result;
  report(err, unmapped.map((u) => ({ code: 'unmapped-code', message: `no mapping for ${u.system}|${u.code}`, path: u.path })), '');
}

function report(err: NodeJS.WritableStream, warnings: readonly ConversionWarning[], prefix: string): void {
  for (const w of warnings) err.write(`warning: ${prefix}${w.code}${w.path ? ` ${w.path}` : ''}: ${w.message}\n`);
}
