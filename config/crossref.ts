import { unknownName, type ConfigPath, type PathSegment, type Problem } from './errors.js';
import type { ChannelFile } from './schema.js';

/**
 * Checks that need more than one part of a file, or more than one file. They read the
 * substituted YAML value defensively (so a file with schema errors is still checked) and
 * use validated options where they exist (defaults such as a default port).
 */
export interface CheckedChannel {
  /** The file as shown in errors. */
  readonly file: string;
  /** The substituted YAML value. */
  readonly raw: unknown;
  /** The validated file, when it validated. */
  readonly data: ChannelFile | undefined;
  /** Paths whose values must not be printed. */
  readonly isSecret: (path: ConfigPath) => boolean;
  /** Problems are appended here. */
  readonly problems: Problem[];
}

export interface CrossCheckOptions {
  /** Names in the engine's `connections`; undefined skips the check (no engine file known). */
  readonly connections: readonly string[] | undefined;
  /** Check `channel` destinations against the channel names (when several channels are checked together). */
  readonly channelRefs: boolean;
}

/** The destination type whose `channel` option names another channel. */
export const CHANNEL_DESTINATION = 'channel';
/** Any component option with this name refers to a key of the engine's `connections`. */
export const CONNECTION_OPTION = 'connection';

/** A plain object (not null, not an array). */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** `v[key]` when v is a plain object. */
export function field(v: unknown, key: string): unknown {
  return isRecord(v) ? v[key] : undefined;
}

/** Each component block of a raw channel: [path to the block's options, options]. */
function componentBlocks(raw: unknown): Array<[PathSegment[], unknown]> {
  const out: Array<[PathSegment[], unknown]> = [];
  const source = field(raw, 'source');
  if (isRecord(source)) for (const [k, v] of Object.entries(source)) out.push([['source', k], v]);
  const steps = field(raw, 'steps');
  if (Array.isArray(steps)) steps.forEach((s, i) => isRecord(s) && Object.entries(s).forEach(([k, v]) => out.push([['steps', i, k], v])));
  const dests = field(raw, 'destinations');
  if (isRecord(dests)) {
    for (const [d, entry] of Object.entries(dests)) {
      if (isRecord(entry)) for (const [k, v] of Object.entries(entry)) if (k !== 'queue') out.push([['destinations', d, k], v]);
    }
  }
  return out;
}

function checkRoutes(ch: CheckedChannel): void {
  const route = field(ch.raw, 'route');
  const dests = field(ch.raw, 'destinations');
  if (!Array.isArray(route) || !isRecord(dests)) return;
  const known = Object.keys(dests);
  route.forEach((rule, i) => {
    const to = field(rule, 'to');
    const targets: Array<[PathSegment[], unknown]> = typeof to === 'string' ? [[['route', i, 'to'], to]] : Array.isArray(to) ? to.map((t, j) => [['route', i, 'to', j], t]) : [];
    for (const [path, name] of targets) {
      if (typeof name === 'string' && !known.includes(name)) ch.problems.push({ path, at: 'value', message: unknownName('destination', name, known) });
    }
  });
}

function checkConnections(ch: CheckedChannel, connections: readonly string[]): void {
  const walk = (v: unknown, path: PathSegment[]): void => {
    if (Array.isArray(v)) return v.forEach((item, i) => walk(item, [...path, i]));
    if (!isRecord(v)) return;
    for (const [k, item] of Object.entries(v)) {
      const at = [...path, k];
      if (k === CONNECTION_OPTION && typeof item === 'string') {
        if (!connections.includes(item)) {
          ch.problems.push({
            path: at,
            message: ch.isSecret(at) ? `unknown connection (from a secret reference; known: ${connections.join(', ') || 'none'})` : unknownName('connection', item, connections),
          });
        }
      } else {
        walk(item, at);
      }
    }
  };
  for (const [path, options] of componentBlocks(ch.raw)) walk(options, path);
}

function channelName(ch: CheckedChannel): string | undefined {
  const name = ch.data?.name ?? field(ch.raw, 'name');
  return typeof name === 'string' ? name : undefined;
}

function checkChannelRefs(channels: readonly CheckedChannel[]): void {
  const names = [...new Set(channels.map(channelName).filter((n): n is string => n !== undefined))];
  for (const ch of channels) {
    const dests = field(ch.raw, 'destinations');
    if (!isRecord(dests)) continue;
    for (const [d, entry] of Object.entries(dests)) {
      const target = field(field(entry, CHANNEL_DESTINATION), 'channel');
      if (typeof target !== 'string') continue;
      const path = ['destinations', d, CHANNEL_DESTINATION, 'channel'];
      if (!names.includes(target)) ch.problems.push({ path, at: 'value', message: unknownName('channel', target, names) });
      else if (target === channelName(ch)) ch.problems.push({ path, at: 'value', message: `channel "${target}" sends to itself` });
    }
  }
}

function checkDuplicateNames(channels: readonly CheckedChannel[]): void {
  const seen = new Map<string, CheckedChannel>();
  for (const ch of channels) {
    const name = channelName(ch);
    if (name === undefined) continue;
    const first = seen.get(name);
    if (first) ch.problems.push({ path: ['name'], at: 'value', message: `duplicate channel name "${name}" (also in ${first.file})` });
    else seen.set(name, ch);
  }
}

interface Listener {
  readonly ch: CheckedChannel;
  readonly path: PathSegment[];
  readonly port: number;
  readonly host: string | undefined;
}

const WILDCARD = new Set(['', '0.0.0.0', '::', '*']);

function listenerOf(ch: CheckedChannel): Listener | undefined {
  if (ch.data?.enabled === false || field(ch.raw, 'enabled') === false) return undefined;
  const source = field(ch.raw, 'source');
  if (!isRecord(source)) return undefined;
  const component = ch.data?.source.component ?? Object.keys(source)[0];
  if (component === undefined) return undefined;
  const options = ch.data?.source.options ?? source[component];
  const port = field(options, 'port');
  const host = field(options, 'host');
  // Port 0: the system picks a free port for each listener, so two never clash.
  if (typeof port !== 'number' || port === 0) return undefined;
  return { ch, path: ['source', component, 'port'], port, host: typeof host === 'string' ? host : undefined };
}

/** Two enabled sources listening on the same port, on the same host or where either listens on all hosts. */
function checkPorts(channels: readonly CheckedChannel[]): void {
  const listeners: Listener[] = [];
  for (const ch of channels) {
    const l = listenerOf(ch);
    if (!l) continue;
    const clash = listeners.find((o) => o.port === l.port && (o.host === l.host || WILDCARD.has(o.host ?? '') || WILDCARD.has(l.host ?? '')));
    if (clash) {
      const other = channelName(clash.ch);
      const where = l.host ? `${l.host}:${l.port}` : `port ${l.port}`;
      l.ch.problems.push({ path: l.path, message: `${where} is already used by ${other ? `channel "${other}"` : 'another channel'} (${clash.ch.file})` });
    }
    listeners.push(l);
  }
}

export function crossCheck(channels: readonly CheckedChannel[], opts: CrossCheckOptions): void {
  for (const ch of channels) {
    checkRoutes(ch);
    if (opts.connections) checkConnections(ch, opts.connections);
  }
  if (opts.channelRefs) checkChannelRefs(channels);
  checkDuplicateNames(channels);
  checkPorts(channels);
}
