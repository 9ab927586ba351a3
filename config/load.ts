import { existsSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import type { z } from 'zod';
import { getComponent } from '../engine/registry.js';
import { pathKey, sortErrors, type ConfigError, type ConfigPath, type Problem } from './errors.js';
import { crossCheck, isRecord, type CheckedChannel } from './crossref.js';
import { displayPath, expandChannelPatterns, yamlFilesIn } from './files.js';
import { issuesToProblems, parseWith } from './issues.js';
import { checkScripts } from './scripts.js';
import {
  BUILTIN_QUEUE, channelValidator, engineSchema, mergeQueue,
  type ChannelConfig, type ChannelFile, type DestinationConfig, type EngineConfig, type EngineFile, type QueueConfig, type QueueOverrides,
} from './schema.js';
import { findLiteralSecrets, isSecretKey, substitute } from './secrets.js';
import { readYamlFile, type YamlFile } from './yaml.js';
import type { ComponentRef } from './components.js';

export interface LoadOptions {
  /** Variables for `${env:...}`; default process.env. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Base for relative arguments and for the file names shown in errors; default process.cwd(). */
  readonly cwd?: string;
}

export interface LoadedChannel {
  /** As shown in errors. */
  readonly file: string;
  readonly path: string;
  readonly config: ChannelConfig;
}

export interface LoadResult {
  /** Defaults (with `file` set) when the engine file has errors. */
  readonly engine: EngineConfig;
  /** The channels that validated; files with errors are left out and reported in `errors`. */
  readonly channels: LoadedChannel[];
  readonly errors: ConfigError[];
}

export interface LintResult {
  readonly files: Array<{ readonly file: string; readonly kind: 'engine' | 'channel' }>;
  readonly errors: ConfigError[];
}

export const ENGINE_FILE_NAMES = ['sluice.yaml', 'sluice.yml'];

/** A file read, checked for literal secrets and substituted, not yet validated. */
interface Prepared {
  readonly path: string;
  readonly yaml: YamlFile;
  /** Substituted value; undefined when unreadable or not YAML. */
  readonly raw: unknown;
  readonly isSecret: (path: ConfigPath) => boolean;
  readonly problems: Problem[];
  /** Paths whose secret is already reported (a reference not resolved, a literal secret). */
  readonly unresolved?: ReadonlySet<string>;
}

/** `sections`: only these top-level keys are read (the others, and their secrets, are left alone). */
function prepare(path: string, opts: Required<LoadOptions>, sections?: readonly string[]): Prepared {
  const yaml = readYamlFile(path, displayPath(path, opts.cwd));
  if (yaml.errors.length) return { path, yaml, raw: undefined, isSecret: () => true, problems: [] };
  let original = yaml.value ?? {};
  if (sections && isRecord(original)) original = Object.fromEntries(Object.entries(original).filter(([k]) => sections.includes(k)));
  const problems = findLiteralSecrets(original);
  const sub = substitute(original, { env: opts.env, baseDir: dirname(path) });
  problems.push(...sub.problems);
  // A value whose ${env:...} or ${file:...} could not be read, or a secret written out, is
  // reported as such; what the schema then says of it ("must not be empty") is only noise.
  const unresolved = new Set(problems.map((x) => pathKey(x.path)));
  const isSecret = (p: ConfigPath): boolean => {
    const last = p[p.length - 1];
    return sub.secretPaths.has(pathKey(p)) || (typeof last === 'string' && isSecretKey(last));
  };
  return { path, yaml, raw: sub.value, isSecret, problems, unresolved };
}

function validate<T>(p: Prepared, schema: z.ZodType): T | undefined {
  if (p.raw === undefined) return undefined;
  const r = parseWith(schema, p.raw);
  if (r.success) return r.data as T;
  p.problems.push(...issuesToProblems(r.issues, p.isSecret).filter((x) => x.unknownKey || !p.unresolved?.has(pathKey(x.path))));
  return undefined;
}

function errorsOf(p: Prepared): ConfigError[] {
  return [...p.yaml.errors, ...p.yaml.locate(p.problems)];
}

const ENGINE_DEFAULTS = (): EngineFile => engineSchema().parse({});

function resolveEngine(file: EngineFile, path: string | undefined, cwd: string): EngineConfig {
  const base = path ? dirname(path) : cwd;
  return {
    file: path,
    dataDir: resolve(base, file.dataDir),
    store: file.store,
    channels: file.channels,
    log: file.log,
    connections: file.connections as Record<string, ComponentRef>,
    defaults: { queue: mergeQueue(BUILTIN_QUEUE, file.defaults.queue), queueWritten: file.defaults.queue },
    ...(file.admin ? { admin: file.admin } : {}),
  };
}

/** A destination's queue: built-ins < the component's own defaults < the engine file's defaults.queue < its block. */
export function destinationQueue(component: string, engineWritten: QueueOverrides | undefined, block: QueueOverrides | undefined): QueueConfig {
  const own = getComponent('destination', component)?.queueDefaults;
  return mergeQueue(mergeQueue(mergeQueue(BUILTIN_QUEUE, own), engineWritten), block);
}

function resolveChannel(f: ChannelFile, engine: EngineConfig): ChannelConfig {
  const destinations: Record<string, DestinationConfig> = {};
  for (const [name, d] of Object.entries(f.destinations)) {
    destinations[name] = { name, component: d.component, options: d.options, queue: destinationQueue(d.component, engine.defaults.queueWritten, d.queue) };
  }
  const route = f.route ?? [{ to: Object.keys(destinations), continue: false }];
  return { ...f, route, destinations };
}

interface EngineState {
  readonly prepared: Prepared | undefined;
  readonly config: EngineConfig;
  /** undefined: no engine file, so connection names are unknown. */
  readonly connections: readonly string[] | undefined;
}

function loadEngine(path: string | undefined, opts: Required<LoadOptions>, sections?: readonly string[]): EngineState {
  if (!path) return { prepared: undefined, config: resolveEngine(ENGINE_DEFAULTS(), undefined, opts.cwd), connections: [] };
  const prepared = prepare(path, opts, sections);
  const schema = engineSchema();
  const file = validate<EngineFile>(prepared, schema);
  // An invalid engine file still names its channels, so they are checked too.
  const listed = isRecord(prepared.raw) ? schema.shape.channels.safeParse(prepared.raw.channels) : undefined;
  const fallback = listed?.success ? { ...ENGINE_DEFAULTS(), channels: listed.data } : ENGINE_DEFAULTS();
  const config = resolveEngine(file ?? fallback, path, opts.cwd);
  const rawConnections = isRecord(prepared.raw) ? prepared.raw.connections : undefined;
  // Unknown (not checked) when the engine file could not be read or parsed.
  const connections = file ? Object.keys(file.connections) : isRecord(rawConnections) ? Object.keys(rawConnections) : isRecord(prepared.raw) ? [] : undefined;
  return { prepared, config, connections };
}

/** Channel files named by the engine's `channels:`; entries matching nothing are errors when written in the file. */
function engineChannelFiles(engine: EngineState, cwd: string): string[] {
  const base = engine.config.file ? dirname(engine.config.file) : cwd;
  const { files, unmatched } = expandChannelPatterns(engine.config.channels, base);
  const raw = engine.prepared?.raw;
  if (engine.prepared && isRecord(raw) && raw.channels !== undefined) {
    const listed = Array.isArray(raw.channels);
    for (const u of unmatched) engine.prepared.problems.push({ path: listed ? ['channels', u.index] : ['channels'], at: 'value', message: u.message });
  }
  return files;
}

interface Checked {
  readonly channels: LoadedChannel[];
  readonly errors: ConfigError[];
}

function checkChannels(paths: readonly string[], engine: EngineState, opts: Required<LoadOptions>, channelRefs: boolean): Checked {
  const prepared = paths.map((p) => prepare(p, opts));
  const checked: CheckedChannel[] = prepared.map((p) => ({
    file: p.yaml.file,
    raw: p.raw,
    data: validate<ChannelFile>(p, channelValidator()),
    isSecret: p.isSecret,
    problems: p.problems,
  }));
  crossCheck(checked.filter((c) => c.raw !== undefined), { connections: engine.connections, channelRefs });
  for (const c of checked) if (c.raw !== undefined) checkScripts(c, opts.cwd);
  const errors: ConfigError[] = [];
  const channels: LoadedChannel[] = [];
  prepared.forEach((p, i) => {
    const own = errorsOf(p);
    errors.push(...own);
    const data = checked[i]!.data;
    if (data && own.length === 0) channels.push({ file: p.yaml.file, path: p.path, config: resolveChannel(data, engine.config) });
  });
  return { channels, errors };
}

function withDefaults(options: LoadOptions | undefined): Required<LoadOptions> {
  return { env: options?.env ?? process.env, cwd: options?.cwd ?? process.cwd() };
}

function findEngineFile(dir: string): string | undefined {
  return ENGINE_FILE_NAMES.map((n) => join(dir, n)).find((p) => existsSync(p));
}

/**
 * Loads the engine file (default: sluice.yaml in cwd; defaults when that does not exist)
 * and every channel file it names, validates all of them and checks references between
 * them. All errors of all files are returned; `channels` holds the files that validated.
 */
export function loadConfig(engineFile?: string, options?: LoadOptions): LoadResult {
  const opts = withDefaults(options);
  const path = engineFile !== undefined ? resolve(opts.cwd, engineFile) : findEngineFile(opts.cwd);
  const engine = loadEngine(path, opts);
  const files = engineChannelFiles(engine, opts.cwd);
  const checked = checkChannels(files, engine, opts, true);
  const engineErrors = engine.prepared ? errorsOf(engine.prepared) : [];
  return { engine: engine.config, channels: checked.channels, errors: sortErrors([...engineErrors, ...checked.errors]) };
}

/**
 * Only the engine file (sluice.yaml given or found in cwd), for commands that need its
 * settings but not the channels (`sluice messages`, `sluice channels`): its errors alone,
 * and no channel file read or script compiled.
 */
export function loadEngineConfig(
  engineFile?: string,
  options?: LoadOptions & {
    /**
     * Only these top-level sections (e.g. dataDir and store for reading the store): the rest
     * is neither validated nor substituted, so their secrets need not be at hand.
     */
    readonly sections?: readonly string[];
  },
): { readonly engine: EngineConfig; readonly errors: ConfigError[] } {
  const opts = withDefaults(options);
  const engine = loadEngine(engineFile !== undefined ? resolve(opts.cwd, engineFile) : findEngineFile(opts.cwd), opts, options?.sections);
  return { engine: engine.config, errors: engine.prepared ? sortErrors(errorsOf(engine.prepared)) : [] };
}

/**
 * Loads just these channel files (e.g. for `sluice test`), with the engine file given in
 * `options.engineFile` or sluice.yaml in cwd for connections and queue defaults. Without
 * an engine file, defaults apply and connection names are not checked; `channel`
 * destinations are checked only when several files are loaded together.
 */
export function loadChannelFiles(files: readonly string[], options?: LoadOptions & { readonly engineFile?: string }): LoadResult {
  const opts = withDefaults(options);
  const enginePath = options?.engineFile !== undefined ? resolve(opts.cwd, options.engineFile) : findEngineFile(opts.cwd);
  const engine = enginePath
    ? loadEngine(enginePath, opts)
    : { prepared: undefined, config: resolveEngine(ENGINE_DEFAULTS(), undefined, opts.cwd), connections: undefined };
  const paths = [...new Set(files.map((f) => resolve(opts.cwd, f)))];
  const checked = checkChannels(paths, engine, opts, paths.length > 1);
  return { engine: engine.config, channels: checked.channels, errors: sortErrors(checked.errors) };
}

/** Top-level keys only a channel file has. */
const CHANNEL_KEYS = ['source', 'destinations', 'name', 'steps', 'route', 'filter', 'respondFrom', 'duplicates', 'orderingKey'];

/**
 * A file with `source:` or `destinations:` (or another channel-only key such as `name:`) at
 * the top is a channel; any other mapping is an engine file. Unparseable files go by name.
 */
function classify(path: string): 'engine' | 'channel' {
  const yaml = readYamlFile(path, path);
  if (isRecord(yaml.value)) return CHANNEL_KEYS.some((k) => k in (yaml.value as object)) ? 'channel' : 'engine';
  return ENGINE_FILE_NAMES.includes(basename(path)) ? 'engine' : 'channel';
}

/**
 * `sluice lint [paths]`: files (engine or channel, decided by content) and directories (a
 * directory with sluice.yaml is linted as that engine and its channels; otherwise its YAML
 * files). An engine file brings its channel files along. Without an engine among the paths,
 * sluice.yaml in cwd (if any) supplies the connection names, and its own errors are not reported.
 */
export function lintPaths(paths: readonly string[], options?: LoadOptions): LintResult {
  const opts = withDefaults(options);
  const engines: string[] = [];
  const channels: string[] = [];
  const missing: ConfigError[] = [];
  const add = (list: string[], p: string) => {
    if (!engines.includes(p) && !channels.includes(p)) list.push(p);
  };
  for (const given of paths) {
    const p = resolve(opts.cwd, given);
    let kind: 'file' | 'dir' | undefined;
    try {
      kind = statSync(p).isDirectory() ? 'dir' : 'file';
    } catch {
      missing.push({ file: given, line: 1, column: 1, path: [], message: 'no such file or directory' });
      continue;
    }
    if (kind === 'dir') {
      const engineFile = findEngineFile(p);
      if (engineFile) add(engines, engineFile);
      else for (const f of yamlFilesIn(p)) add(classify(f) === 'engine' ? engines : channels, f);
    } else if (!/\.test\.ya?ml$/i.test(p)) {
      // Channel test files (*.test.yaml) have their own format and are not linted here.
      add(classify(p) === 'engine' ? engines : channels, p);
    }
  }
  const errors: ConfigError[] = [...missing];
  const files: LintResult['files'] = [];
  let engine: EngineState | undefined;
  for (const e of engines) {
    const state = loadEngine(e, opts);
    engine ??= state;
    files.push({ file: state.prepared!.yaml.file, kind: 'engine' });
    for (const f of engineChannelFiles(state, opts.cwd)) if (!channels.includes(f)) channels.push(f);
    errors.push(...errorsOf(state.prepared!));
  }
  if (!engine) {
    const fallback = findEngineFile(opts.cwd);
    engine = fallback ? loadEngine(fallback, opts) : { prepared: undefined, config: resolveEngine(ENGINE_DEFAULTS(), undefined, opts.cwd), connections: undefined };
  }
  // Through an engine file the channel set is the one `run` deploys: check `channel` references
  // as `run` does, even with a single channel. Loose files alone may name channels not given.
  const checked = checkChannels(channels, engine, opts, engines.length > 0 || channels.length > 1);
  for (const c of channels) files.push({ file: displayPath(c, opts.cwd), kind: 'channel' });
  return { files, errors: sortErrors([...errors, ...checked.errors]) };
}
