import path from 'node:path';
import { fileIo } from './file-io.js';

/**
 * fsync of a directory, shared: a rename is durable only once its directory is synced, and
 * one fsync covers every rename done before it started, so concurrent writers share one
 * (the same idea as the store's group commit).
 */
class DirSync {
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;

  constructor(private readonly dir: string) {}

  get idle(): boolean {
    return !this.running && !this.next;
  }

  /** Resolves after an fsync of the directory that started after this call. */
  sync(): Promise<void> {
    if (!this.running) return (this.running = fileIo.syncDir(this.dir).finally(() => { this.running = undefined; }));
    // One is running but may have started before our rename: wait for the one after it.
    this.next ??= this.running.catch(() => undefined).then(() => {
      this.next = undefined;
      return this.sync();
    });
    return this.next;
  }
}

/**
 * The directories one file destination writes into: each made once (a template may name
 * subdirectories; concurrent first writes share its creation, parents' fsyncs included), and
 * each one's fsync shared by the writes in flight. Bounded: a template with a per-patient or
 * per-day directory names new directories for as long as the engine runs, so only the most
 * recent `maxDirs` finished ones are remembered as made (a forgotten one costs one mkdir of
 * an existing directory, no fsync), and a directory's fsync state is kept only while one is
 * in flight.
 *
 * A directory below `root` is made only after its parent is ensured, through the same map:
 * a sibling made a moment later waits for the parent's own entry to be durable too.
 */
export class Directories {
  private readonly made = new Map<string, { readonly promise: Promise<void>; settled: boolean }>();
  private readonly syncs = new Map<string, DirSync>();
  private readonly root: string;

  constructor(root: string, private readonly maxDirs = 1000) {
    this.root = path.resolve(root);
  }

  /** Directories remembered as made, and fsync states held (tests, metrics). */
  get size(): { made: number; syncing: number } {
    return { made: this.made.size, syncing: this.syncs.size };
  }

  /** Resolves after an fsync of `dir` that started after this call. */
  sync(relative: string): Promise<void> {
    const dir = path.resolve(relative);
    let dirSync = this.syncs.get(dir);
    if (!dirSync) this.syncs.set(dir, (dirSync = new DirSync(dir)));
    const synced = dirSync.sync();
    const forget = (): void => { if (dirSync.idle && this.syncs.get(dir) === dirSync) this.syncs.delete(dir); };
    void synced.then(forget, forget);
    return synced;
  }

  /**
   * Makes `dir` (and its parents) if missing, once, and resolves when its entry is durable;
   * the returned promise is the one to hand to `forget` if the directory turns out to be gone
   * later (ENOENT).
   */
  ensure(relative: string): Promise<void> {
    // Absolute, one key per directory: a relative one would never reach root (nor its ancestors).
    const dir = path.resolve(relative);
    const known = this.made.get(dir);
    if (known) {
      // Most recently used last, so the oldest is the one dropped.
      this.made.delete(dir);
      this.made.set(dir, known);
      return known.promise;
    }
    const entry = { promise: this.make(dir), settled: false };
    this.made.set(dir, entry);
    const settle = (): void => {
      entry.settled = true;
      this.evict();
    };
    // Only this attempt's entry: a newer one (made after an ENOENT) is another's to keep.
    entry.promise.then(settle, () => { this.forget(dir, entry.promise); settle(); });
    return entry.promise;
  }

  /** Drops `dir`'s entry if it is still `making` (the directory was removed since it was made). */
  forget(relative: string, making: Promise<void> | undefined): void {
    const dir = path.resolve(relative);
    if (this.made.get(dir)?.promise === making) this.made.delete(dir);
  }

  /**
   * Drops the least recently used finished entries beyond maxDirs. One still being made is
   * kept: a second mkdir would find the directory and return before its parent's fsync.
   */
  private evict(): void {
    if (this.made.size <= this.maxDirs) return;
    for (const [dir, entry] of this.made) {
      if (this.made.size <= this.maxDirs) return;
      if (entry.settled) this.made.delete(dir);
    }
  }

  private async make(dir: string): Promise<void> {
    const parent = path.dirname(dir);
    const below = path.relative(this.root, dir);
    const underRoot = parent !== dir && below !== '' && !below.startsWith('..') && !path.isAbsolute(below);
    if (underRoot) await this.ensure(parent);
    const created = await fileIo.mkdir(dir);
    // A new directory's entry is durable only once its parent is synced (each level made;
    // below root the levels above were ensured first, so only the parent is left).
    if (created === undefined) return;
    for (let d = dir; ; d = path.dirname(d)) {
      await this.sync(path.dirname(d));
      if (d === created || path.dirname(d) === d) break;
    }
  }
}
