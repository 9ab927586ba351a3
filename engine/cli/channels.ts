import { loadEngineConfig, formatErrors } from '../../config/index.js';
import { adminTarget, callAdmin, errorText, isUnreachable } from './admin-client.js';
import { parse } from './args.js';
import { CliError } from './errors.js';

const USAGE = 'sluice channels list|start|stop|pause|undeploy|reload [NAME] [--config sluice.yaml] [--admin URL]  (token: SLUICE_ADMIN_TOKEN)';
const VERBS = ['list', 'start', 'stop', 'pause', 'undeploy', 'reload'] as const;

/** Controls the channels of a running engine through its admin API. */
export async function channelsCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const [verb, ...rest] = argv;
  if (!VERBS.includes(verb as (typeof VERBS)[number])) throw new CliError(`expected ${VERBS.join(', ')}\nusage: ${USAGE}`, 2);
  const { values, positionals } = parse(rest, { config: { type: 'string', short: 'c' }, admin: { type: 'string' } }, USAGE);
  const named = verb === 'start' || verb === 'stop' || verb === 'pause' || verb === 'undeploy';
  if (named !== (positionals.length === 1)) throw new CliError(named ? `${verb} needs one channel name\nusage: ${USAGE}` : `usage: ${USAGE}`, 2);
  const loaded = loadEngineConfig(values.config);
  if (loaded.errors.length) throw new CliError(formatErrors(loaded.errors));
  const target = adminTarget(loaded.engine, values.admin);
  if (!target) throw new CliError('no admin API: set admin.listen in the engine file, or pass --admin URL', 2);
  const path = verb === 'list' ? '/api/channels' : verb === 'reload' ? '/api/reload' : `/api/channels/${encodeURIComponent(positionals[0]!)}/${verb}`;
  let answer: { status: number; body: unknown };
  try {
    answer = await callAdmin(target, verb === 'list' ? 'GET' : 'POST', path);
  } catch (error) {
    if (isUnreachable(error)) throw new CliError(`no engine answers at ${target.url} (is \`sluice run\` running?)`);
    throw error;
  }
  if (answer.status >= 400) {
    const { errors, failed } = answer.body as { errors?: string[]; failed?: { channel: string; error: string }[] };
    const lines = [...(errors ?? []), ...(failed ?? []).map((f) => `${f.channel}: ${f.error}`)];
    throw new CliError(`${errorText(answer.body)}${lines.length ? `\n${lines.join('\n')}` : ''}`);
  }
  if (verb === 'list') {
    out.write(['NAME', 'STATE', 'BACKLOG', 'SOURCE', 'DESTINATIONS'].join('\t') + '\n');
    for (const c of answer.body as { name: string; state: string; backlog: number; source: string; destinations: string[] }[]) {
      out.write([c.name, c.state, c.backlog, c.source, c.destinations.join(', ')].join('\t') + '\n');
    }
  } else if (verb === 'reload') {
    const r = answer.body as Record<string, string[]>;
    for (const k of ['deployed', 'redeployed', 'undeployed', 'unchanged']) out.write(`${k.padEnd(11)} ${(r[k] ?? []).join(', ') || '-'}\n`);
  } else {
    const c = answer.body as { name: string; state: string };
    out.write(`${c.name}: ${c.state}\n`);
  }
  return 0;
}
