import type { Envelope } from './envelope.js';

const PLACEHOLDER = /\{([^{}]+)\}/g;

/**
 * Fills `{id}`, `{channel}`, `{controlId}`, `{messageType}`, `{date}` (YYYYMMDD, UTC),
 * `{receivedAt}` and any HL7 path (`{MSH-4}`, `{PID-3.1}`) from the envelope. With
 * `safe`, values are cut down to characters fit for a file name.
 */
export function fillTemplate(template: string, env: Envelope, safe = false): string {
  return template.replace(PLACEHOLDER, (_, name: string) => {
    let v: string;
    switch (name) {
      case 'id': v = env.id; break;
      case 'channel': v = env.channel; break;
      case 'controlId': v = env.source.controlId ?? ''; break;
      case 'receivedAt': v = String(env.receivedAt); break;
      case 'date': v = new Date(env.receivedAt).toISOString().slice(0, 10).replace(/-/g, ''); break;
      case 'messageType': v = env.content.kind === 'hl7v2' ? env.content.message.messageType : ''; break;
      default:
        v = env.content.kind === 'hl7v2' ? safeGet(env, name) : '';
    }
    return safe ? v.replace(/[^A-Za-z0-9._-]/g, '_') : v;
  });
}

function safeGet(env: Envelope, path: string): string {
  try {
    return env.content.kind === 'hl7v2' ? env.content.message.get(path) : '';
  } catch {
    return '';
  }
}
