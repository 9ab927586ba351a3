import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
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
}).strict();

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

    async function poll(intake: Intake): Promise<void> {
      const names = (await readdir(o.dir).catch(() => [] as string[])).filter((n) => n.endsWith(o.suffix)).sort();
      for (const name of names) {
        if (stopped) return;
        const file = path.join(o.dir, name);
        const bytes = await readFile(file).catch(() => undefined);
        if (!bytes) continue;
        const { text, encoding } = decodeHl7Bytes(bytes);
        let messages: string[];
        try {
          messages = splitBatch(text).messages;
        } catch {
          messages = [text]; // the channel stores it as ERROR with the parse error
        }
        let rejected = 0;
        let unstored = false;
        for (let i = 0; i < messages.length; i++) {
          const outcome = await intake(encodeHl7Text(messages[i]!, encoding), { kind: 'file', peer: name, sourceId: `${name}#${i + 1}` });
          if (outcome.status === 'error' && !outcome.messageId) { unstored = true; break; }
          if (outcome.status !== 'accepted') rejected++;
        }
        // A file leaves the directory only when all of it is stored; otherwise the next poll retries it.
        if (unstored) continue;
        if (rejected > 0) {
          await mkdir(failed, { recursive: true });
          await rename(file, path.join(failed, name));
        } else if (o.after === 'delete') {
          await rm(file);
        } else {
          await mkdir(done, { recursive: true });
          await rename(file, path.join(done, name));
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
            .catch((err: unknown) => ctx.logger.error({ channel: ctx.channel, err: (err as Error).message }, 'file source poll failed'))
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
