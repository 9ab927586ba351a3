import { constants } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { zDuration } from '../../duration.js';
import { decodeHl7Bytes, encodeHl7Text, splitBatch } from '../../hl7/index.js';
import { registerComponent } from '../../registry.js';
import type { Intake, Source } from '../types.js';

const schema = z.object({
  dir: z.string().describe('directory to read'),
  suffix: z.string().default('.hl7').describe('only files ending with this are read'),
  pollInterval: zDuration.default(1_000),
  after: z.enum(['move', 'delete']).default('move').describe('what to do with a file once every message in it is stored'),
  moveTo: z.string().optional().describe('default: <dir>/processed'),
  errorDir: z.string().optional().describe('files with rejected messages go here; default: <dir>/error'),
  settle: zDuration.default(1_000).describe('a file is read once it has not changed for this long (a writer still writing it is waited for); writers that pause longer should write under another suffix and rename'),
}).strict();

/** `name` in `dir`, or `stem-1.ext`, `stem-2.ext`, ... when a file of that name is already there. */
async function freeName(dir: string, name: string): Promise<string> {
  const ext = path.extname(name);
  const stem = name.slice(0, name.length - ext.length);
  for (let i = 0; ; i++) {
    const candidate = path.join(dir, i === 0 ? name : `${stem}-${i}${ext}`);
    const exists = await stat(candidate).then(() => true, (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return false;
      throw err;
    });
    if (!exists) return candidate;
  }
}

/** Moves a file into `dir` without replacing an earlier file of the same name, across file systems too. */
async function moveInto(file: string, dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  const target = await freeName(dir, path.basename(file));
  try {
    await rename(file, target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    await copyFile(file, target, constants.COPYFILE_EXCL);
    await rm(file);
  }
}

registerComponent({
  kind: 'source', name: 'file',
  description: 'Reads HL7 v2 files (single messages or batches) from a directory, then moves or deletes them.',
  schema,
  example: 'file: { dir: ./inbox, suffix: .hl7, after: move }',
  create: (o, ctx): Source => {
    let timer: NodeJS.Timeout | undefined;
    let running: Promise<void> | undefined;
    let stopped = true;
    const done = o.moveTo ?? path.join(o.dir, 'processed');
    const failed = o.errorDir ?? path.join(o.dir, 'error');
    /**
     * Files whose messages are all stored but that could not be moved or deleted, by name,
     * with their size and mtime: the next poll retries only the move, it does not take
     * the same messages in again.
     */
    const stored = new Map<string, { fingerprint: string; rejected: number }>();

    async function dispose(file: string, rejected: number): Promise<void> {
      if (rejected > 0) await moveInto(file, failed);
      else if (o.after === 'delete') await rm(file);
      else await moveInto(file, done);
    }

    async function poll(intake: Intake): Promise<void> {
      const names = (await readdir(o.dir).catch(() => [] as string[])).filter((n) => n.endsWith(o.suffix)).sort();
      for (const name of names) {
        if (stopped) return;
        const file = path.join(o.dir, name);
        const info = await stat(file).catch(() => undefined);
        if (!info?.isFile()) continue;
        const fingerprint = `${info.size}:${info.mtimeMs}`;
        const earlier = stored.get(name);
        stored.delete(name);
        if (earlier?.fingerprint === fingerprint) {
          await dispose(file, earlier.rejected).catch((err: unknown) => {
            stored.set(name, earlier);
            ctx.logger.error({ file: name, err: (err as Error).message }, 'file source: cannot move or delete a stored file');
          });
          continue;
        }
        // Still being written (changed within `settle`): the next poll looks again. Reading it
        // now would store a message cut short, and move the rest of the file away unread.
        if (Date.now() - info.mtimeMs < o.settle) continue;
        const bytes = await readFile(file).catch(() => undefined);
        if (!bytes) continue;
        const { text, encoding } = decodeHl7Bytes(bytes);
        let messages: string[];
        try {
          const batch = splitBatch(text);
          for (const warning of batch.warnings) ctx.logger.warn({ file: name, warning }, 'file source: batch envelope does not match its contents');
          messages = batch.messages;
        } catch {
          messages = [text]; // the channel stores it as ERROR with the parse error
        }
        // An empty file, or a batch envelope without messages: stored as ERROR (and the file
        // moved to errorDir) like any input that is not a message, not moved away in silence.
        if (messages.length === 0) messages = [text];
        let rejected = 0;
        let unstored = false;
        for (let i = 0; i < messages.length; i++) {
          const outcome = await intake(encodeHl7Text(messages[i]!, encoding), { kind: 'file', peer: name, sourceId: `${name}#${i + 1}` });
          if (outcome.status === 'error' && !outcome.messageId) { unstored = true; break; }
          if (outcome.status !== 'accepted') rejected++;
        }
        // A file leaves the directory only when all of it is stored; otherwise the next poll retries it.
        if (unstored) continue;
        try {
          await dispose(file, rejected);
        } catch (err) {
          stored.set(name, { fingerprint, rejected });
          ctx.logger.error({ file: name, err: (err as Error).message }, 'file source: cannot move or delete a stored file');
        }
      }
    }

    return {
      describe: () => `file ${o.dir}`,
      async start(intake) {
        await mkdir(o.dir, { recursive: true });
        stopped = false;
        const loop = (): void => {
          running = poll(intake)
            .catch((err: unknown) => ctx.logger.error({ err: (err as Error).message }, 'file source poll failed'))
            .finally(() => { if (!stopped) timer = setTimeout(loop, o.pollInterval); });
        };
        loop();
      },
      async stop() {
        stopped = true;
        clearTimeout(timer);
        await running;
      },
    };
  },
});
