import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { FileIo, FileIoError } from './file-io.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function setup(threads = 2): Promise<{ io: FileIo; dir: string }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-fileio-'));
  const io = new FileIo(threads);
  cleanups.push(() => rm(dir, { recursive: true, force: true }), () => io.close());
  return { io, dir };
}

describe('FileIo (file-writing threads)', () => {
  it('writes, fsyncs and renames: the target holds the text, no temporary file is left', async () => {
    const { io, dir } = await setup();
    await Promise.all(Array.from({ length: 20 }, (_, i) => io.write(path.join(dir, `m${i}.tmp`), path.join(dir, `m${i}.hl7`), `MSH|${i}|é`)));
    await io.syncDir(dir);
    const names = (await readdir(dir)).sort();
    expect(names).toHaveLength(20);
    expect(names.every((n) => n.endsWith('.hl7'))).toBe(true);
    expect(await readFile(path.join(dir, 'm7.hl7'), 'utf8')).toBe('MSH|7|é');
  });

  it('mkdir -p answers the first directory it made, or undefined when it existed', async () => {
    const { io, dir } = await setup();
    expect(await io.mkdir(path.join(dir, 'a', 'b'))).toBe(path.join(dir, 'a'));
    expect(await io.mkdir(path.join(dir, 'a', 'b'))).toBeUndefined();
  });

  it('a failure comes back with its errno code (the destination re-creates a removed directory on ENOENT)', async () => {
    const { io, dir } = await setup();
    const error = await io.write(path.join(dir, 'gone', 'x.tmp'), path.join(dir, 'gone', 'x'), 'x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FileIoError);
    expect((error as FileIoError).code).toBe('ENOENT');
  });

  it('a thread that dies is replaced by the next job', async () => {
    const { io, dir } = await setup(1);
    await io.write(path.join(dir, 'a.tmp'), path.join(dir, 'a'), 'a');
    const lane = (io as unknown as { lanes: { thread?: { worker: Worker } }[] }).lanes[0]!;
    const first = lane.thread!.worker;
    await first.terminate();
    await io.write(path.join(dir, 'b.tmp'), path.join(dir, 'b'), 'b');
    expect(lane.thread?.worker).toBeDefined();
    expect(lane.thread?.worker).not.toBe(first);
    expect(await readFile(path.join(dir, 'b'), 'utf8')).toBe('b');
  });

  it("a job given while the old thread is ending goes to a new thread and is not failed by the old one's exit", async () => {
    const { io, dir } = await setup(1);
    await io.write(path.join(dir, 'a.tmp'), path.join(dir, 'a'), 'a');
    const closing = io.close();
    const during = io.write(path.join(dir, 'b.tmp'), path.join(dir, 'b'), 'b');
    await closing;
    await expect(during).resolves.toBeUndefined();
    expect(await readFile(path.join(dir, 'b'), 'utf8')).toBe('b');
  });
});
