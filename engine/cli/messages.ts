import { loadEngineConfig, formatErrors, parseDuration } from '../../config/index.js';
import { MessageNotFoundError, openStore } from '../store/index.js';
import { PENDING_STATUSES } from '../store/rows.js';
import type { MessageFilter, MessageStatus, MessageStore } from '../store/types.js';
import type { EngineConfig } from '../../config/schema.js';
import { adminTarget, callAdmin, errorText, isUnreachable, type AdminTarget } from './admin-client.js';
import { intOption, parse } from './args.js';
import { CliError } from './errors.js';

const USAGE = 'sluice messages list|show|reprocess [--config F] [--channel C] [--status S] [--since 1h|ISO] [--control-id ID] [--patient ID] [--limit N] [--admin URL] [ID...]';
const STATUSES: readonly MessageStatus[] = ['RECEIVED', 'FILTERED', 'TRANSFORMED', 'QUEUED', 'SENT', 'ERROR'];

function since(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  try {
    return Date.now() - parseDuration(value);
  } catch {
    const t = Date.parse(value);
    if (Number.isNaN(t)) throw new CliError(`--since: expected a duration like 2h or an ISO date, got "${value}"`, 2);
    return t;
  }
}

export async function messagesCommand(argv: string[], out: NodeJS.WritableStream): Promise<number> {
  const [action, ...rest] = argv;
  if (action !== 'list' && action !== 'show' && action !== 'reprocess') throw new CliError(`expected list, show or reprocess\nusage: ${USAGE}`, 2);
  const { values, positionals } = parse(rest, {
    config: { type: 'string', short: 'c' }, channel: { type: 'string' }, status: { type: 'string' }, since: { type: 'string' },
    'control-id': { type: 'string' }, patient: { type: 'string' }, limit: { type: 'string' }, admin: { type: 'string' },
  }, USAGE);
  const status = values.status?.toUpperCase() as MessageStatus | undefined;
  if (status && !STATUSES.includes(status)) throw new CliError(`--status: expected one of ${STATUSES.join(', ')}`, 2);
  // Reading the store needs its settings only, not the secrets of the rest (admin tokens,
  // connections); reprocess also needs the admin API's address.
  const sections = action === 'reprocess' ? undefined : ['dataDir', 'store'];
  const loaded = loadEngineConfig(values.config, { sections });
  if (loaded.errors.length) throw new CliError(formatErrors(loaded.errors));
  const limit = values.limit === undefined ? undefined : intOption(values.limit, 'limit');
  const filter: MessageFilter = {
    channel: values.channel, status, since: since(values.since), controlId: values['control-id'], patientId: values.patient,
  };
  // show prints message content (PHI): a bare `sluice messages show` must not print a hundred.
  if (action !== 'list' && !positionals.length && !hasFilter(filter)) {
    throw new CliError(`${action} needs message ids or a filter (--channel, --status, --since, --control-id, --patient)`, 2);
  }
  const store = await openStore({ url: loaded.engine.store.url, dataDir: loaded.engine.dataDir, encryptionKey: loaded.engine.store.encryptionKey });
  try {
    if (action === 'reprocess') {
      const via = reprocessVia(loaded.engine, values.admin, out);
      // Every match, not just the first page of them: --limit caps the count only when given.
      // A filter's matches come with their status; ids given by hand are looked up one by one.
      const pages = positionals.length ? [positionals.map((id) => ({ id }))] : matches(store, filter, limit ?? Infinity);
      const counts = { engine: 0, marked: 0, refused: 0, missing: 0 };
      for await (const ids of pages) {
        // One page's marks are submitted together, so the store commits them as one group.
        const results = await Promise.allSettled(ids.map((m) => reprocessOne(store, via, m, out)));
        results.forEach((r, i) => {
          if (r.status === 'fulfilled') { counts[r.value]++; return; }
          if (!(r.reason instanceof MessageNotFoundError)) throw r.reason;
          out.write(`${ids[i]!.id}: not found\n`);
          counts.missing++;
        });
      }
      if (via.target) out.write(`${counts.engine} message(s) reprocessed by the running engine\n`);
      if (counts.marked || !via.target) out.write(`${counts.marked} message(s) marked for reprocessing; the engine picks them up when their channel (re)starts\n`);
      if (counts.refused) out.write(`${counts.refused} message(s) refused by the running engine\n`);
      return counts.missing || counts.refused ? 1 : 0;
    }
    const ids = positionals.length ? positionals : (await store.search({ ...filter, limit: limit ?? 100 })).map((m) => m.id);
    if (action === 'list') return await list(store, ids, out);
    return await show(store, ids, out);
  } finally {
    await store.close();
  }
}

/** A message to reprocess: its status when a search already read it. */
interface Match {
  readonly id: string;
  readonly status?: MessageStatus;
}

interface Via {
  /** The running engine's admin API, when one is configured and answers. */
  target?: AdminTarget;
}

/** Reprocess through the running engine when the engine file has an admin API and a token is set. */
function reprocessVia(engine: EngineConfig, url: string | undefined, out: NodeJS.WritableStream): Via {
  if (!engine.admin && !url) return {};
  if (!process.env.SLUICE_ADMIN_TOKEN) {
    out.write('note: SLUICE_ADMIN_TOKEN is not set, so the running engine is not asked; messages are only marked\n');
    return {};
  }
  return { target: adminTarget(engine, url) };
}

/**
 * One message: the running engine reprocesses it now (it refuses one still in progress, or
 * in a stopped channel, and says why); when no engine answers at all, it is marked in the
 * store for the channel's next start.
 */
async function reprocessOne(store: MessageStore, via: Via, match: Match, out: NodeJS.WritableStream): Promise<'engine' | 'marked' | 'refused'> {
  const { id } = match;
  if (via.target) {
    try {
      const { status, body } = await callAdmin(via.target, 'POST', `/api/messages/${encodeURIComponent(id)}/reprocess`);
      if (status === 200) return 'engine';
      if (status === 404) throw new MessageNotFoundError(id);
      out.write(`${id}: refused: ${errorText(body)}\n`);
      return 'refused';
    } catch (error) {
      if (!isUnreachable(error)) throw error;
      via.target = undefined; // no engine runs: mark the rest in the store
    }
  }
  // As the engine does: an unfinished message may still be retrying in a running engine's
  // memory; marking it would clear its deliveries (a SENT one included) and send it again.
  const status = match.status ?? (await store.get(id))?.status;
  if (!status) throw new MessageNotFoundError(id);
  if (PENDING_STATUSES.includes(status)) {
    out.write(`${id}: refused: still in progress (${status}); only finished messages (SENT, ERROR, FILTERED) are reprocessed\n`);
    return 'refused';
  }
  await store.markForReprocess(id, 'reprocess requested from the command line');
  return 'marked';
}

function hasFilter(f: MessageFilter): boolean {
  return f.channel !== undefined || f.status !== undefined || f.since !== undefined || f.controlId !== undefined || f.patientId !== undefined;
}

/** Matches fetched and marked per round: bounded memory, one group commit per page. */
const PAGE = 100;

/**
 * Every message matching `filter` (at most `limit`), newest first, a page at a time.
 * Paging is by id (`before`), so marking a page (which changes its status) cannot shift the
 * next one, and messages received after the first page are not included.
 */
async function* matches(store: MessageStore, filter: MessageFilter, limit: number): AsyncGenerator<Match[]> {
  let before: string | undefined;
  let left = limit;
  while (left > 0) {
    const size = Math.min(PAGE, left);
    const page = await store.search({ ...filter, before, limit: size });
    if (page.length) yield page.map((m) => ({ id: m.id, status: m.status }));
    if (page.length < size) return;
    left -= page.length;
    before = page[page.length - 1]!.id;
  }
}

async function list(store: MessageStore, ids: string[], out: NodeJS.WritableStream): Promise<number> {
  out.write(['ID', 'RECEIVED', 'CHANNEL', 'STATUS', 'TYPE', 'CONTROL ID'].join('\t') + '\n');
  for (const id of ids) {
    const m = await store.get(id);
    if (!m) continue;
    out.write([m.id, new Date(m.receivedAt).toISOString(), m.channel, m.status, m.messageType ?? '', m.controlId ?? ''].join('\t') + '\n');
  }
  return 0;
}

async function show(store: MessageStore, ids: string[], out: NodeJS.WritableStream): Promise<number> {
  let missing = 0;
  for (const id of ids) {
    const m = await store.get(id);
    if (!m) { out.write(`${id}: not found\n`); missing++; continue; }
    out.write(`id          ${m.id}\nchannel     ${m.channel}\nstatus      ${m.status}${m.error ? ` (${m.error})` : ''}\nreceived    ${new Date(m.receivedAt).toISOString()} from ${m.sourceKind}${m.peer ? ` ${m.peer}` : ''}\n`);
    out.write(`type        ${m.messageType ?? ''}\ncontrol id  ${m.controlId ?? ''}\nreprocessed ${m.reprocessCount}\n`);
    for (const d of m.deliveries) out.write(`delivery    ${d.destination}: ${d.status}, ${d.attempts} attempt(s)${d.error ? ` — ${d.error}` : ''}\n`);
    for (const e of m.events) out.write(`event       ${new Date(e.at).toISOString()} ${e.kind}${e.destination ? ` [${e.destination}]` : ''}${e.detail ? ` ${e.detail}` : ''}\n`);
    out.write(`--- raw\n${Buffer.from(m.raw).toString('utf8').replace(/\r\n?/g, '\n')}\n`);
    // A reprocessed message keeps each run's contents; the first run's carry no label.
    for (const c of m.contents) out.write(`--- ${c.run > 0 ? `run ${c.run}: ` : ''}${c.stage}${c.destination ? ` (${c.destination})` : ''} ${c.contentType}\n${Buffer.from(c.content).toString('utf8').replace(/\r\n?/g, '\n')}\n`);
    out.write('\n');
  }
  return missing ? 1 : 0;
}
