import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Directories } from './file-dirs.js';
import { fileIo } from './file-io.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  while (cleanups.length) await cleanups.pop()!();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-dirs-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe('Directories (a file destination\'s directories)', () => {
  it('remembers only the most recent maxDirs as made, and holds no fsync state once the fsyncs are done', async () => {
    const root = await tempDir();
    const dirs = new Directories(10);
    // A per-patient directory template: a new directory for every message.
    for (let i = 0; i < 40; i++) {
      const dir = path.join(root, `patient-${i}`);
      await dirs.ensure(dir);
      await dirs.sync(dir);
    }
    expect((await readdir(root)).length).toBe(40);
    expect(dirs.size).toEqual({ made: 10, syncing: 0 });
  });

  it('a forgotten directory that still exists costs a mkdir, no parent fsync; one used again stays remembered', async () => {
    const root = await tempDir();
    const dirs = new Directories(2);
    const syncDir = vi.spyOn(fileIo, 'syncDir');
    const a = path.join(root, 'a');
    await dirs.ensure(a);
    expect(syncDir).toHaveBeenCalledTimes(1); // root: the new entry "a" made durable
    await dirs.ensure(path.join(root, 'b'));
    await dirs.ensure(a); // used again: now the most recent
    await dirs.ensure(path.join(root, 'c')); // drops b, the least recently used
    const mkdir = vi.spyOn(fileIo, 'mkdir');
    await dirs.ensure(a);
    expect(mkdir).not.toHaveBeenCalled();
    await dirs.ensure(path.join(root, 'b'));
    expect(mkdir).toHaveBeenCalledTimes(1);
    expect(syncDir).toHaveBeenCalledTimes(3); // a, b, c made once each; b's second mkdir made nothing
    expect((await stat(path.join(root, 'b'))).isDirectory()).toBe(true);
  });

  it('concurrent fsyncs of one directory share: one running, one after it for everyone who came meanwhile', async () => {
    const root = await tempDir();
    const dirs = new Directories();
    const syncDir = vi.spyOn(fileIo, 'syncDir');
    await Promise.all(Array.from({ length: 8 }, () => dirs.sync(root)));
    expect(syncDir).toHaveBeenCalledTimes(2);
    expect(dirs.size.syncing).toBe(0);
  });
});
