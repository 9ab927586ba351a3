import { Hl7ParseError, Hl7PathError, parseHl7, unescapeValue, type Hl7Message } from '../hl7/index.js';
import { FIELD_NAMES, SEGMENT_NAMES } from '../hl7/dictionary.js';
import { CliError, describeParseError } from './errors.js';
import { readMessages, type InputMessage } from './input.js';

const USAGE = 'sluice hl7 get FILE PATH... | sluice hl7 inspect FILE';

export async function hl7Command(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const [sub, file, ...rest] = argv;
  if (sub === 'get') {
    if (!file || rest.length === 0) throw new CliError(`expected a FILE and at least one PATH\nusage: ${USAGE}`, 2);
    const messages = await parseAll(file);
    for (const msg of messages) {
      for (const p of rest) {
        try {
          out.write(`${msg.get(p)}\n`);
        } catch (e) {
          if (e instanceof Hl7PathError) throw new CliError(e.message, 2);
          throw e;
        }
      }
    }
    return 0;
  }
  if (sub === 'inspect') {
    if (!file || rest.length > 0) throw new CliError(`expected one FILE\nusage: ${USAGE}`, 2);
    const messages = await parseAll(file);
    messages.forEach((msg, i) => {
      if (messages.length > 1) out.write(`${i > 0 ? '\n' : ''}# message ${i + 1}\n`);
      out.write(inspect(msg));
    });
    return 0;
  }
  throw new CliError(`unknown hl7 command "${sub ?? ''}"\nusage: ${USAGE}`, 2);
}

async function parseAll(file: string): Promise<Hl7Message[]> {
  const inputs = await readMessages(file);
  if (inputs.length === 0) throw new CliError(`${file}: no HL7 messages found`);
  return inputs.map(parseOne);
}

function parseOne(m: InputMessage): Hl7Message {
  try {
    return parseHl7(m.text);
  } catch (e) {
    if (e instanceof Hl7ParseError) throw new CliError(describeParseError(m.source, m.text, e));
    throw e;
  }
}

/** A readable tree: segments, then non-empty fields with their names, then components. */
export function inspect(msg: Hl7Message): string {
  const d = msg.delimiters;
  const lines: string[] = [];
  const occurrences = new Map<string, number>();
  for (const seg of msg.segments) {
    const occ = (occurrences.get(seg.name) ?? 0) + 1;
    occurrences.set(seg.name, occ);
    const segRef = occ > 1 ? `${seg.name}[${occ}]` : seg.name;
    lines.push(`${segRef}${SEGMENT_NAMES[seg.name] ? `  ${SEGMENT_NAMES[seg.name]}` : ''}`);
    const names = FIELD_NAMES[seg.name] ?? [];
    for (let f = 1; f <= seg.fieldCount; f++) {
      const raw = seg.header && f === 1 ? d.field : seg.field(f);
      if (raw === '') continue;
      const label = names[f - 1] ? `  (${names[f - 1]})` : '';
      if (seg.header && f <= 2) { lines.push(`  ${seg.name}-${f}${label}: ${raw}`); continue; }
      const reps = d.repetition ? raw.split(d.repetition) : [raw];
      reps.forEach((rep, r) => {
        const ref = `${seg.name}-${f}${reps.length > 1 ? `[${r + 1}]` : ''}`;
        const comps = rep.split(d.component);
        if (comps.length === 1 && (!d.subcomponent || !rep.includes(d.subcomponent))) {
          lines.push(`  ${ref}${r === 0 ? label : ''}: ${unescapeValue(rep, d)}`);
          return;
        }
        lines.push(`  ${ref}${r === 0 ? label : ''}: ${rep}`);
        comps.forEach((comp, c) => {
          if (comp === '') return;
          const subs = d.subcomponent ? comp.split(d.subcomponent) : [comp];
          if (subs.length === 1) { lines.push(`    .${c + 1}: ${unescapeValue(comp, d)}`); return; }
          lines.push(`    .${c + 1}: ${comp}`);
          subs.forEach((s, k) => { if (s !== '') lines.push(`      .${c + 1}.${k + 1}: ${unescapeValue(s, d)}`); });
        });
      });
    }
  }
  return lines.join('\n') + '\n';
}
