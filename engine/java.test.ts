import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { mavenBuild, stopJava } from './java.js';

const dirs: string[] = [];
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }); });

/** A project dir with a pom and a source, both dated `srcTime` (seconds). */
function project(srcTime = 1_000): { dir: string; pom: string; source: string; target: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sluice-java-'));
  dirs.push(dir);
  const pom = path.join(dir, 'pom.xml');
  const source = path.join(dir, 'Main.java');
  for (const f of [pom, source]) { writeFileSync(f, ''); utimesSync(f, srcTime, srcTime); }
  return { dir, pom, source, target: path.join(dir, 'target') };
}

function touch(file: string, time: number): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, '');
  utimesSync(file, time, time);
}

describe('mavenBuild', () => {
  it('runs from classes/ then every jar of lib/', () => {
    const b = mavenBuild({ buildDir: '/b', jar: 'x-1.jar', libMarker: 'dep-', sources: [] });
    expect(b.stamp).toBe(path.join('/b', 'x-1.jar'));
    expect(b.lib).toBe(path.join('/b', 'lib'));
    expect(b.classpath).toBe([path.join('/b', 'classes'), path.join('/b', 'lib', '*')].join(path.delimiter));
  });

  it('is fresh only with the jar, lib/ holding the marker jar, and no source newer than the jar', () => {
    const p = project(1_000);
    const b = mavenBuild({ buildDir: p.target, jar: 'x-1.jar', libMarker: 'dep-', sources: [p.pom, p.source] });
    expect(b.isFresh()).toBe(false); // nothing built
    touch(b.stamp, 2_000);
    expect(b.isFresh()).toBe(false); // no lib/
    touch(path.join(b.lib, 'other-1.jar'), 2_000);
    expect(b.isFresh()).toBe(false); // lib/ without the marker (copy cut short)
    touch(path.join(b.lib, 'dep-1.jar'), 2_000);
    expect(b.isFresh()).toBe(true);
    utimesSync(p.source, 2_000, 2_000);
    expect(b.isFresh()).toBe(true); // as old as the build still counts
    utimesSync(p.source, 3_000, 3_000);
    expect(b.isFresh()).toBe(false); // source edited after the build
    touch(b.stamp, 3_000);
    utimesSync(p.pom, 4_000, 4_000);
    expect(b.isFresh()).toBe(false); // pom edited after the build
  });
});

describe('stopJava', () => {
  it('ends stdin and waits for the child to exit', async () => {
    const child = spawn(process.execPath, ['-e', 'process.stdin.resume(); process.stdin.on("end", () => process.exit(0))'], { stdio: ['pipe', 'pipe', 'pipe'] });
    await stopJava(child);
    expect(child.exitCode).toBe(0);
    await stopJava(child); // already gone: returns at once
  });

  it('kills a child that ignores the end of stdin after the grace time', async () => {
    const child = spawn(process.execPath, ['-e', 'process.stdin.resume(); process.stdin.on("end", () => {}); setInterval(() => {}, 1000)'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const t0 = Date.now();
    await stopJava(child, 200);
    expect(child.signalCode).toBe('SIGKILL');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
  });
});
