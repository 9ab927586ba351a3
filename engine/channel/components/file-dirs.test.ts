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
    const dirs = new Directories(root, 10);
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
    const dirs = new Directories(root, 3); // root itself is one of the three
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
    const dirs = new Directories(root);
    const syncDir = vi.spyOn(fileIo, 'syncDir');
    await Promise.all(Array.from({ length: 8 }, () => dirs.sync(root)));
    expect(syncDir).toHaveBeenCalledTimes(2);
    expect(dirs.size.syncing).toBe(0);
  });

  /** fileIo.syncDir slowed down for `slow`, recording when each fsync ends. */
  function slowSync(slow: string, ms: number, log: string[]): void {
    const real = fileIo.syncDir.bind(fileIo);
    vi.spyOn(fileIo, 'syncDir').mockImplementation(async (dir: string) => {
      if (dir === slow) await new Promise((r) => setTimeout(r, ms));
      await real(dir);
      log.push(`synced ${path.basename(dir)}`);
    });
  }

  it('a sibling made a moment later waits for the shared parent\'s own entry to be durable', async () => {
    const root = await tempDir();
    const dirs = new Directories(root);
    const log: string[] = [];
    slowSync(root, 100, log); // the fsync that makes "p" durable in root
    const x = dirs.ensure(path.join(root, 'p', 'x')).then(() => log.push('x ready'));
    await new Promise((r) => setTimeout(r, 20)); // p exists now; its entry in root is not durable yet
    const y = dirs.ensure(path.join(root, 'p', 'y')).then(() => log.push('y ready'));
    await Promise.all([x, y]);
    expect(log.indexOf(`synced ${path.basename(root)}`)).toBeLessThan(log.indexOf('y ready'));
    expect(log.indexOf(`synced ${path.basename(root)}`)).toBeLessThan(log.indexOf('x ready'));
  });

  it('never drops a directory still being made, even past maxDirs; drops it once made', async () => {
    const root = await tempDir();
    const dirs = new Directories(root, 1);
    const log: string[] = [];
    slowSync(root, 100, log);
    const a = dirs.ensure(path.join(root, 'a')); // made, its parent fsync slow
    await new Promise((r) => setTimeout(r, 20));
    const b = dirs.ensure(path.join(root, 'b')); // past maxDirs while a is still being made
    await new Promise((r) => setTimeout(r, 20));
    expect(dirs.ensure(path.join(root, 'a'))).toBe(a); // the same attempt, not a second mkdir
    await Promise.all([a, b]);
    expect(dirs.size.made).toBe(1);
  });

  it('after forget (ENOENT), ensure answers the new attempt, so a write into the new directory waits for it', async () => {
    const root = await tempDir();
    const dirs = new Directories(root);
    const dir = path.join(root, 'd');
    const old = dirs.ensure(dir);
    await old;
    await rm(dir, { recursive: true });
    dirs.forget(dir, old);
    const log: string[] = [];
    slowSync(root, 100, log);
    const renewed = dirs.ensure(dir);
    expect(renewed).not.toBe(old);
    await new Promise((r) => setTimeout(r, 20));
    expect(dirs.ensure(dir)).toBe(renewed); // what a second writer awaits after its rename
    await renewed;
    expect(log).toContain(`synced ${path.basename(root)}`);
  });

  it('takes directories relative to the working directory as the absolute ones they name', async () => {
    // Below the working directory, so the relative path does not climb through the filesystem root.
    const root = await mkdtemp(path.join(process.cwd(), '.sluice-test-'));
    cleanups.push(() => rm(root, { recursive: true, force: true }));
    const dirs = new Directories(path.parse(root).root);
    const relative = path.relative(process.cwd(), path.join(root, 'a', 'b'));
    expect(relative.startsWith('.sluice-test-')).toBe(true);
    await dirs.ensure(relative);
    await dirs.sync(relative);
    expect((await stat(path.join(root, 'a', 'b'))).isDirectory()).toBe(true);
    expect(dirs.ensure(path.join(root, 'a', 'b'))).toBe(dirs.ensure(relative)); // one entry
  });
});
