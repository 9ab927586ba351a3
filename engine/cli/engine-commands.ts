import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { formatErrors, generateReferenceDocs, jsonSchema, lintPaths, loadConfig } from '../../config/index.js';
import '../channel/components/index.js';
import { splitListen, type AdminConfig } from '../../config/schema.js';
import { AdminServer } from '../admin/server.js';
import { Engine } from '../engine.js';
import { createLogger, type Logger } from '../log.js';
import { listComponents } from '../registry.js';
import { parse } from './args.js';
import { ensureLocalKafka } from './local-kafka.js';
import { CliError } from './errors.js';
import { untilStopped } from './signals.js';

export async function runCommand(argv: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream, signal?: AbortSignal): Promise<number> {
  const { values } = parse(argv, { config: { type: 'string', short: 'c' }, 'local-kafka': { type: 'boolean' } }, 'sluice run [--config sluice.yaml] [--local-kafka]');
  const loaded = loadConfig(values.config);
  if (loaded.errors.length) {
    err.write(formatErrors(loaded.errors) + '\n');
    return 1;
  }
  const logger = createLogger({ level: loaded.engine.log.level, destination: err });
  const channels = loaded.channels.map((c) => c.config);
  const stopKafka = values['local-kafka'] ? await ensureLocalKafka(loaded.engine, channels, out) : async () => {};
  const engine = await Engine.open(loaded.engine, logger).catch(async (e: Error) => { await stopKafka(); throw new CliError(`cannot open the message store: ${e.message}`); });
  try {
    await engine.startAll(channels);
  } catch (e) {
    await engine.stop().catch(() => {});
    await stopKafka();
    throw new CliError(`cannot start channels: ${(e as Error).message}`);
  }
  out.write(`sluice running: store ${loaded.engine.store.url ? 'postgresql' : `sqlite in ${loaded.engine.dataDir}`}\n`);
  for (const c of engine.list()) out.write(`  ${c.name}: ${c.def.source.describe()} → ${c.def.destinations.map((d) => d.name).join(', ')}\n`);
  const admin = loaded.engine.admin ? await startAdmin(engine, loaded.engine.admin, values.config, logger, out) : undefined;
  await untilStopped(signal);
  out.write('stopping: draining in-flight messages\n');
  await admin?.stop();
  await engine.stop();
  await stopKafka();
  return 0;
}

/** The admin API; a reload reads the channel files again (the engine file's other settings need a restart). */
async function startAdmin(engine: Engine, config: AdminConfig, configFile: string | undefined, logger: Logger, out: NodeJS.WritableStream): Promise<AdminServer> {
  const admin = new AdminServer({
    engine, config, logger: logger.child({ component: 'admin' }),
    reload: async () => {
      const again = loadConfig(configFile);
      if (again.errors.length) return { errors: formatErrors(again.errors).split('\n') };
      return { result: await engine.reload(again.channels.map((c) => c.config)) };
    },
  });
  try {
    const port = await admin.start();
    out.write(`admin API on ${config.tls ? 'https' : 'http'}://${splitListen(config.listen).host}:${port} (audit log ${admin.audit.file})\n`);
    return admin;
  } catch (e) {
    await engine.stop().catch(() => {});
    throw new CliError(`cannot start the admin API on ${config.listen}: ${(e as Error).message}`);
  }
}

export function lintCommand(argv: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream): number {
  const { positionals } = parse(argv, {}, 'sluice lint [PATH...]');
  const targets = positionals.length ? positionals : ['.'];
  const result = lintPaths(targets);
  if (result.errors.length) {
    err.write(formatErrors(result.errors) + '\n');
    const failing = new Set(result.errors.map((e) => e.file)).size;
    err.write(`${result.errors.length} error${result.errors.length === 1 ? '' : 's'} in ${failing} of ${result.files.length} file(s)\n`);
    return 1;
  }
  out.write(`ok: ${result.files.length} file(s) (${result.files.map((f) => f.file).join(', ')})\n`);
  return 0;
}

export async function schemaCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const { values } = parse(argv, { engine: { type: 'boolean', default: false }, docs: { type: 'string' } }, 'sluice schema [--engine] [--docs DIR]');
  if (values.docs) {
    const docs = generateReferenceDocs();
    await mkdir(values.docs, { recursive: true });
    for (const [name, text] of Object.entries(docs)) await writeFile(path.join(values.docs, name), text);
    out.write(`wrote ${Object.keys(docs).length} file(s) to ${values.docs}\n`);
    return 0;
  }
  const schemas = jsonSchema();
  out.write(JSON.stringify(values.engine ? schemas.engine : schemas.channel, null, 2) + '\n');
  return 0;
}

export function listCommand(out: NodeJS.WritableStream): number {
  for (const kind of ['source', 'step', 'destination', 'connection'] as const) {
    out.write(`${kind}s:\n`);
    for (const c of listComponents(kind)) out.write(`  ${c.name.padEnd(10)} ${c.description}\n`);
  }
  return 0;
}
