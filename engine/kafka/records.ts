import { contentText, contentType, type Envelope } from '../channel/envelope.js';
import { fillTemplate } from '../channel/template.js';
import { parseHl7, type Hl7Message } from '../hl7/index.js';
import type { KafkaRecord } from './client.js';

export interface RecordOptions {
  readonly topic: string;
  readonly format: 'auto' | 'hl7' | 'fhir';
  readonly perResource: boolean;
  readonly key?: string;
}

const parsedRaw = new WeakMap<Envelope, Hl7Message | null>();

/** The HL7 v2 message of an envelope: its content, else its raw bytes (after v2ToFhir). */
export function hl7Of(env: Envelope): Hl7Message | undefined {
  if (env.content.kind === 'hl7v2') return env.content.message;
  let m = parsedRaw.get(env);
  if (m === undefined) {
    try {
      m = parseHl7(env.raw);
    } catch {
      m = null;
    }
    parsedRaw.set(env, m);
  }
  return m ?? undefined;
}

/**
 * Fills a topic (or key) template. `{resourceType}` is the FHIR resource's type; HL7 paths
 * like `{MSH-9.1}` read the message even after it was converted to FHIR. Characters Kafka
 * does not allow in topic names become `_`.
 */
export function topicOf(template: string, env: Envelope, resourceType?: string): string {
  let t = template;
  if (t.includes('{resourceType}')) t = t.replaceAll('{resourceType}', resourceType ?? (env.content.kind === 'fhir' ? String(env.content.resource.resourceType ?? '') : ''));
  if (!t.includes('{')) return t;
  const msg = env.content.kind === 'hl7v2' ? undefined : hl7Of(env);
  const view: Envelope = msg ? { ...env, content: { kind: 'hl7v2', message: msg } } : env;
  return fillTemplate(t, view, true);
}

function headersOf(env: Envelope, type: string): Record<string, string> {
  const msg = hl7Of(env);
  return {
    'content-type': type,
    'sluice-message-type': msg?.messageType ?? '',
    'sluice-control-id': env.source.controlId ?? '',
    'sluice-channel': env.channel,
    'sluice-source': env.source.peer ? `${env.source.kind}:${env.source.peer}` : env.source.kind,
    'sluice-message-id': env.id,
  };
}

interface BundleLike { resourceType?: unknown; entry?: { resource?: Record<string, unknown> }[] }

/** The records one envelope becomes: one, or one per Bundle entry with `perResource`. */
export function recordsOf(env: Envelope, o: RecordOptions): KafkaRecord[] {
  const key = o.key ? topicOf(o.key, env) : env.key || undefined;
  if (o.format === 'hl7') {
    const msg = hl7Of(env);
    if (!msg) throw new Error('format hl7: the message is not HL7 v2');
    const value = env.content.kind === 'hl7v2' ? msg.toString() : Buffer.from(env.raw).toString('utf8');
    return [{ topic: topicOf(o.topic, env), key, value, headers: headersOf(env, 'x-application/hl7-v2+er7') }];
  }
  if (o.format === 'fhir' && env.content.kind !== 'fhir') throw new Error(`format fhir: the content is ${env.content.kind}, not FHIR (add a v2ToFhir step)`);
  if (env.content.kind === 'fhir' && o.perResource) {
    const bundle = env.content.resource as BundleLike;
    const resources = bundle.resourceType === 'Bundle' ? (bundle.entry ?? []).flatMap((e) => (e.resource ? [e.resource] : [])) : [env.content.resource];
    const headers = headersOf(env, 'application/fhir+json');
    return resources.map((r) => ({ topic: topicOf(o.topic, env, String(r.resourceType ?? '')), key, value: JSON.stringify(r), headers }));
  }
  return [{ topic: topicOf(o.topic, env), key, value: contentText(env.content), headers: headersOf(env, contentType(env.content)) }];
}

/** Kafka's own limit on topic names. */
const MAX_TOPIC_LENGTH = 249;

/**
 * Why a rendered topic name is not a legal Kafka topic name (undefined: it is). Templates
 * fill in message fields, so the name is only known per message: an illegal one is that
 * message's permanent error, not a retry.
 */
export function topicNameProblem(name: string): string | undefined {
  if (name.length === 0) return 'topic name is empty';
  if (name === '.' || name === '..') return `topic name "${name}" is not allowed`;
  if (name.length > MAX_TOPIC_LENGTH) return `topic name is ${name.length} characters long (Kafka allows ${MAX_TOPIC_LENGTH})`;
  const bad = name.match(/[^a-zA-Z0-9._-]/);
  if (bad) return `topic name "${name.slice(0, 80)}" has the character ${JSON.stringify(bad[0])} (Kafka allows a-z A-Z 0-9 . _ -)`;
  return undefined;
}
