import { z } from 'zod';
import { parsePath } from '../engine/hl7/path.js';
import { parseKey } from '../engine/store/crypto.js';
import { componentRef, componentWith, type ComponentRef, type SchemaMode } from './components.js';
import { durationSchema } from './duration.js';

/** The key's shape, checked at lint as the store checks it at start (the message never shows the key). */
function checkEncryptionKey(key: string, ctx: z.RefinementCtx): void {
  try {
    parseKey(key);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
  }
}

/*
 * The zod schemas of the engine file and of channel files. The same builders give the
 * validating schema (mode 'validate': component blocks are looked up in the registry at
 * parse time) and the JSON Schema source (mode 'json': one union branch per registered
 * component). Outputs are the "file" shapes; load.ts resolves them into EngineConfig and
 * ChannelConfig (absolute paths, merged queue defaults, default route).
 */

const NAME_PATTERN = /^[a-z0-9-]+$/;
const NAME_HINT = 'expected lowercase letters, digits and "-", e.g. adt-in';
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const QUEUE_MODES = ['never', 'on-failure', 'always'] as const;
export const RESPOND_FROM = ['received', 'processed', 'delivered'] as const;
/** Each role may do what the roles before it may. */
export const ADMIN_ROLES = ['viewer', 'operator', 'admin'] as const;
export type AdminRole = (typeof ADMIN_ROLES)[number];
const DATA_TYPES = ['hl7v2', 'fhir'] as const;

export type LogLevel = (typeof LOG_LEVELS)[number];
export type QueueMode = (typeof QUEUE_MODES)[number];
export type RespondFrom = (typeof RESPOND_FROM)[number];

/** Durations are milliseconds in every output type. */
export interface BackoffConfig {
  readonly initial: number;
  readonly max: number;
  readonly factor: number;
}

export interface QueueConfig {
  readonly mode: QueueMode;
  readonly maxAttempts: number;
  readonly backoff: BackoffConfig;
  readonly concurrency: number;
}

/** A queue block as written: every field optional, merged over the engine's defaults.queue. */
export interface QueueOverrides {
  readonly mode?: QueueMode;
  readonly maxAttempts?: number;
  readonly backoff?: Partial<BackoffConfig>;
  readonly concurrency?: number;
}

export const BUILTIN_QUEUE: QueueConfig = Object.freeze({
  mode: 'on-failure',
  maxAttempts: 5,
  backoff: Object.freeze({ initial: 1_000, max: 300_000, factor: 2 }),
  concurrency: 1,
});

export function mergeQueue(base: QueueConfig, over: QueueOverrides | undefined): QueueConfig {
  if (!over) return base;
  return {
    mode: over.mode ?? base.mode,
    maxAttempts: over.maxAttempts ?? base.maxAttempts,
    backoff: { ...base.backoff, ...Object.fromEntries(Object.entries(over.backoff ?? {}).filter(([, v]) => v !== undefined)) },
    concurrency: over.concurrency ?? base.concurrency,
  };
}

/** Message selection shared by `filter` and a route's `when`; every part must match. */
export interface FilterConfig {
  /** `ADT^A01`, `ADT^*`, `ORU`. */
  readonly messageType?: string[];
  /** HL7 path → accepted values. */
  readonly paths?: Record<string, string[]>;
  readonly script?: string;
}

export interface RouteRule {
  readonly when?: FilterConfig;
  readonly to: string[];
  /** Keep evaluating later rules after this one matched. */
  readonly continue: boolean;
}

export interface DestinationConfig extends ComponentRef {
  /** The key under `destinations:`. */
  readonly name: string;
  readonly queue: QueueConfig;
}

export interface ChannelConfig {
  readonly name: string;
  readonly description?: string;
  readonly enabled: boolean;
  readonly source: ComponentRef;
  readonly respondFrom: RespondFrom;
  /** What the source delivers: HL7 v2 (default) or FHIR R4 JSON. */
  readonly dataType: (typeof DATA_TYPES)[number];
  readonly duplicates: { readonly enabled: boolean; readonly window: number };
  /** Messages in processing or waiting for delivery at most; intake waits while there are this many. */
  readonly maxBacklog: number;
  readonly orderingKey: string;
  readonly filter?: FilterConfig;
  readonly steps: ComponentRef[];
  /** Never empty: a file without `route:` gets one rule sending to every destination. */
  readonly route: RouteRule[];
  /** In file order. */
  readonly destinations: Record<string, DestinationConfig>;
}

export interface EngineConfig {
  /** Absolute path of the engine file; undefined when running on defaults. */
  readonly file: string | undefined;
  /** Absolute; relative paths are resolved against the engine file's directory. */
  readonly dataDir: string;
  readonly store: { readonly url?: string; readonly encryptionKey?: string; readonly retention?: number };
  /** As written (files, directories or globs relative to the engine file). */
  readonly channels: string[];
  readonly log: { readonly level: LogLevel };
  /** Name → the registered connection type and its validated options. */
  readonly connections: Record<string, ComponentRef>;
  /** `queue`: built-ins merged with the engine file's; `queueWritten`: what the file itself set. */
  readonly defaults: { readonly queue: QueueConfig; readonly queueWritten?: QueueOverrides };
  /** The admin HTTP API; absent: none runs. */
  readonly admin?: AdminConfig;
}

export interface AdminConfig {
  /** host:port. */
  readonly listen: string;
  readonly tls?: { readonly cert: string; readonly key: string; readonly ca?: string };
  readonly tokens: readonly { readonly name: string; readonly role: AdminRole; readonly token: string }[];
  /** Failed authentications from one address, within `window` ms, before it is refused for a while (default 10 in 60 s). */
  readonly lockout?: { readonly failures: number; readonly window: number };
}

const HL7_PATH_HINT = 'expected an HL7 path like PID-3.1 or PID-3[1].1';

function hl7Path() {
  return z.string({ error: HL7_PATH_HINT }).superRefine((s, ctx) => {
    try {
      parsePath(s);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `${(err as Error).message}` });
    }
  });
}

function oneOrMany<T extends z.ZodType>(item: T) {
  return z.union([item, z.array(item)]).transform((v) => (Array.isArray(v) ? v : [v]) as z.output<T>[]);
}

const MESSAGE_TYPE = /^(?:\*|[A-Z0-9]{3})(?:\^(?:\*|[A-Z0-9]{2,3}))?(?:\^[A-Z0-9_]+)?$/;

function filterSchema() {
  return z
    .strictObject({
      messageType: oneOrMany(z.string().regex(MESSAGE_TYPE, { error: 'expected a message type like ADT^A01, ADT^* or ORU' }))
        .optional()
        .meta({ description: 'MSH-9 patterns, e.g. [ADT^A01, ADT^*]; * matches any part.' }),
      paths: z
        .record(hl7Path(), oneOrMany(z.union([z.string(), z.number()]).transform(String)))
        .optional()
        .meta({ description: 'HL7 path → accepted values, e.g. { "PV1-2": [I, E] }.' }),
      script: z.string().min(1).optional().meta({ description: 'Expression that must be true.' }),
    })
    .meta({ description: 'Every part given must match.' });
}

function queueSchema() {
  const int = (min: number) => z.number().int().min(min);
  return z
    .strictObject({
      mode: z.enum(QUEUE_MODES).optional().meta({ description: 'never: deliver inline; on-failure (default): queue after a failed attempt; always: queue everything.' }),
      maxAttempts: int(1).optional().meta({ description: 'Attempts before the message is ERROR (default 5).' }),
      backoff: z
        .strictObject({
          initial: durationSchema().optional().meta({ description: 'First retry delay (default 1s).' }),
          max: durationSchema().optional().meta({ description: 'Longest retry delay (default 5m).' }),
          factor: z.number().min(1).optional().meta({ description: 'Multiplier per attempt (default 2).' }),
        })
        .optional(),
      concurrency: int(1).optional().meta({ description: 'Deliveries in flight at once across ordering keys (default 1; Kafka destinations 256, as their records share produce requests). One key\'s messages still go one at a time, in order. Set in the engine file\'s defaults.queue, it applies to every destination kind, Kafka included.' }),
    })
    .meta({ description: 'Queueing and retries; fields left out come from the engine defaults.queue.' });
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\])$/;

/** The host (brackets of an IPv6 address kept) and port of a validated `host:port`. */
export function splitListen(listen: string): { readonly host: string; readonly port: number } {
  const at = listen.lastIndexOf(':');
  return { host: listen.slice(0, at), port: Number(listen.slice(at + 1)) };
}

/** host:port, the host a name, an IPv4 address or a bracketed IPv6 address. */
function listenSchema() {
  return z.string().regex(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, { error: 'expected host:port, e.g. 127.0.0.1:8765' });
}

function adminSchema() {
  return z
    .strictObject({
      listen: listenSchema().meta({ description: 'host:port of the admin HTTP API, e.g. 127.0.0.1:8765. An address other than loopback needs tls.' }),
      tls: z
        .strictObject({
          cert: z.string().min(1).meta({ description: 'Server certificate chain (PEM), e.g. ${file:/etc/sluice/admin.crt}.' }),
          key: z.string().min(1).meta({ description: 'Private key (PEM); must be ${file:...} or ${env:...}.' }),
          ca: z.string().min(1).optional().meta({ description: 'CA bundle (PEM): clients must then present a certificate it signed (mutual TLS).' }),
        })
        .optional()
        .meta({ description: 'HTTPS for the admin API; required on any address other than loopback.' }),
      tokens: z
        .array(
          z.strictObject({
            name: z.string().regex(NAME_PATTERN, { error: NAME_HINT }).meta({ description: 'Who uses this token; written to the audit log.' }),
            role: z.enum(ADMIN_ROLES).meta({ description: 'viewer: list channels; operator: also start, stop, pause and reprocess; admin: also reload channel files and undeploy.' }),
            token: z.string().min(32, { error: 'at least 32 characters (e.g. `openssl rand -hex 32`)' }).meta({ description: 'Bearer token; must be ${env:...} or ${file:...}.' }),
          }),
        )
        .min(1)
        .refine((ts) => new Set(ts.map((t) => t.name)).size === ts.length, { error: 'token names must be unique' })
        .meta({ description: 'Who may call the API: a name, a role and a bearer token each (send `Authorization: Bearer <token>`; the CLI reads it from SLUICE_ADMIN_TOKEN).' }),
      lockout: z
        .strictObject({
          failures: z.number().int().min(1).default(10).meta({ description: 'Failed authentications (no or a wrong token) from one address within the window (default 10).' }),
          window: durationSchema().default(60_000).meta({ description: 'The window (default 1m).' }),
        })
        .default({ failures: 10, window: 60_000 })
        .meta({ description: 'After this many failed authentications from one address within the window, its requests get 429 (with Retry-After), unchecked and audited, until the oldest failure leaves the window.' }),
    })
    .superRefine((a, ctx) => {
      const { host } = splitListen(a.listen);
      if (!a.tls && !LOOPBACK.test(host)) {
        ctx.addIssue({ code: 'custom', path: ['listen'], message: `${host} is not a loopback address: set admin.tls, or tokens would cross the network in clear` });
      }
    })
    .meta({ description: 'The admin HTTP API (channels: list, start, stop, pause, reload; messages: reprocess), with bearer tokens per role and an audit log (audit.jsonl in dataDir).' });
}

export function engineSchema(mode: SchemaMode = 'validate') {
  return z
    .strictObject({
      dataDir: z.string().min(1).default('./data').meta({ description: 'Data directory, relative to this file.' }),
      store: z
        .strictObject({
          url: z.string().min(1).optional().meta({ description: 'Message store URL (postgres://... or sqlite path); default: SQLite in dataDir.' }),
          encryptionKey: z.string().min(1).superRefine(checkEncryptionKey).optional().meta({ description: 'Key for content at rest: 32 bytes as base64 (e.g. `openssl rand -base64 32`); must be ${env:...} or ${file:...}.' }),
          retention: durationSchema().optional().meta({ description: 'How long messages are kept, e.g. 30d.' }),
        })
        .prefault({}),
      channels: oneOrMany(z.string().min(1))
        .prefault(['channels'])
        .meta({ description: 'Channel files, directories or globs, relative to this file (default: channels).' }),
      log: z.strictObject({ level: z.enum(LOG_LEVELS).default('info') }).prefault({}),
      connections: z
        .record(z.string().regex(NAME_PATTERN, { error: NAME_HINT }), componentRef('connection', mode))
        .default({})
        .meta({ description: 'Named connections (`<name>: { <type>: <options> }`, e.g. `epic-prod: { fhir: {...} }`) that component options refer to with `connection: <name>`; each is created once and shared by every channel.' }),
      defaults: z.strictObject({ queue: queueSchema().optional() }).prefault({}),
      admin: adminSchema().optional(),
    })
    .meta({ title: 'Sluice engine file (sluice.yaml)' });
}

export type EngineFile = z.output<ReturnType<typeof engineSchema>>;

export function channelSchema(mode: SchemaMode) {
  const filter = filterSchema();
  return z
    .strictObject({
      name: z.string().regex(NAME_PATTERN, { error: NAME_HINT }).meta({ description: 'Channel name: lowercase letters, digits and -.' }),
      description: z.string().optional(),
      enabled: z.boolean().default(true),
      source: componentRef('source', mode).meta({ description: 'Exactly one registered source.' }),
      respondFrom: z.enum(RESPOND_FROM).default('received').meta({ description: 'When the ACK is sent: on receipt, after steps, or after delivery.' }),
      dataType: z.enum(DATA_TYPES).default('hl7v2').meta({ description: 'What the source delivers: hl7v2 (default) or fhir (R4 JSON, a resource or Bundle; ordered by its patient reference, duplicates detected by the source id such as a Kafka offset).' }),
      duplicates: z
        .strictObject({
          window: durationSchema().prefault('24h').meta({ description: 'How long a message id is remembered (default 24h).' }),
          enabled: z.boolean().default(true),
        })
        .prefault({}),
      maxBacklog: z.number().int().positive().default(10_000).meta({ description: "Messages in processing or waiting for delivery (e.g. a destination that is down) at most. At this many, new messages wait before they are stored, so senders are held back by their ACKs instead of filling the engine's memory; an MLLP message that waits past the source's handlerTimeout gets AE. Default 10000." }),
      orderingKey: hl7Path().default('PID-3.1').meta({ description: 'HL7 path whose value keeps messages in order (default PID-3.1).' }),
      filter: filter.optional(),
      steps: z.array(componentRef('step', mode)).default([]).meta({ description: 'Steps in order, each exactly one registered step.' }),
      route: z
        .array(
          z.strictObject({
            when: filter.optional(),
            to: oneOrMany(z.string().min(1)).pipe(z.array(z.string()).min(1)),
            continue: z.boolean().default(false),
          }),
        )
        .optional()
        .meta({ description: 'Rules in order; default: every destination.' }),
      destinations: z
        .record(
          z.string().regex(NAME_PATTERN, { error: NAME_HINT }),
          componentWith('destination', mode, { queue: queueSchema().optional() }),
        )
        .refine((d) => Object.keys(d).length > 0, { error: 'at least one destination is required' })
        .meta({ minProperties: 1, description: 'Destination name → exactly one registered destination type and an optional queue.' }),
    })
    .meta({ title: 'Sluice channel file' });
}

/** What a channel file validates to before defaults from the engine are applied. */
export interface ChannelFile extends Omit<ChannelConfig, 'route' | 'destinations'> {
  readonly route?: RouteRule[];
  readonly destinations: Record<string, ComponentRef & { readonly queue?: QueueOverrides }>;
}

let validating: ReturnType<typeof channelSchema> | undefined;
/** The validating channel schema (registry lookups happen at parse time, so one instance serves). */
export function channelValidator(): ReturnType<typeof channelSchema> {
  validating ??= channelSchema('validate');
  return validating;
}
