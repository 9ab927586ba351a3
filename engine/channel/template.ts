import { parsePath } from '../hl7/path.js';
import type { Envelope } from './envelope.js';

const PLACEHOLDER = /\{([^{}]+)\}/g;

/** The named placeholders {@link fillTemplate} knows; any other name is read as an HL7 path. */
export const TEMPLATE_FIELDS = ['id', 'channel', 'controlId', 'messageType', 'date', 'receivedAt'] as const;
type TemplateField = (typeof TEMPLATE_FIELDS)[number];

function isField(name: string): name is TemplateField {
  return (TEMPLATE_FIELDS as readonly string[]).includes(name);
}

/**
 * Fills `{id}`, `{channel}`, `{controlId}`, `{messageType}`, `{date}` (YYYYMMDD, UTC),
 * `{receivedAt}` and any HL7 path (`{MSH-4}`, `{PID-3.1}`) from the envelope. With
 * `safe`, values are cut down to characters fit for a file name.
 */
export function fillTemplate(template: string, env: Envelope, safe = false): string {
  return template.replace(PLACEHOLDER, (_, name: string) => {
    let v: string;
    if (isField(name)) {
      switch (name) {
        case 'id': v = env.id; break;
        case 'channel': v = env.channel; break;
        case 'controlId': v = env.source.controlId ?? ''; break;
        case 'receivedAt': v = String(env.receivedAt); break;
        case 'date': v = new Date(env.receivedAt).toISOString().slice(0, 10).replace(/-/g, ''); break;
        case 'messageType': v = env.content.kind === 'hl7v2' ? env.content.message.messageType : ''; break;
      }
    } else {
      v = env.content.kind === 'hl7v2' ? safeGet(env, name) : '';
    }
    if (!safe) return v;
    const cut = v.replace(/[^A-Za-z0-9._-]/g, '_');
    // `.` and `..` would name a directory when the template puts a `/` around the placeholder.
    return cut === '.' || cut === '..' ? cut.replace(/\./g, '_') : cut;
  });
}

function safeGet(env: Envelope, path: string): string {
  try {
    return env.content.kind === 'hl7v2' ? env.content.message.get(path) : '';
  } catch {
    return '';
  }
}

/** Three characters that start a segment name: a placeholder like this is meant as an HL7 path. */
const LOOKS_LIKE_PATH = /^\s*[A-Z][A-Z0-9]{2}(?![a-z])/;

/**
 * What is wrong with a template, one message per placeholder that {@link fillTemplate} would
 * fill with nothing whatever the message: a name that is neither one of
 * {@link TEMPLATE_FIELDS} nor an HL7 path the
 * engine's path parser accepts. Empty when the template is fine.
 */
export function templateProblems(template: string): string[] {
  const problems: string[] = [];
  const known = TEMPLATE_FIELDS.map((n) => `{${n}}`).join(' ');
  for (const m of template.matchAll(PLACEHOLDER)) {
    const name = m[1]!;
    if (isField(name)) continue;
    try {
      parsePath(name);
    } catch (err) {
      problems.push(LOOKS_LIKE_PATH.test(name)
        ? `placeholder {${name}}: ${(err as Error).message}`
        : `unknown placeholder {${name}} (known: ${known} or an HL7 path like {MSH-4})`);
    }
  }
  return problems;
}
