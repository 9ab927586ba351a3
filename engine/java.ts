/*
 * Java programs this repository builds with Maven and runs from their build directory
 * (the FHIR validator in transforms/validate/java, the HAPI v2 test peer in
 * test/helpers/hapi): `mvn package` writes the classes, a jar and lib/ with every
 * dependency; the program runs from classes/ and lib/*. Building stays with each caller.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';

export interface MavenBuildLayout {
  /** Maven's build directory (project.build.directory). */
  readonly buildDir: string;
  /** File name of the jar `mvn package` writes: its time is the time of the build. */
  readonly jar: string;
  /** Start of the name of a jar lib/ must hold (a dependency copy that did not finish lacks it). */
  readonly libMarker: string;
  /** The pom and the sources: a build older than any of them is stale. */
  readonly sources: readonly string[];
}

export interface MavenBuild {
  /** The jar whose time is the build's. */
  readonly stamp: string;
  /** The copied dependencies. */
  readonly lib: string;
  /** `-cp` for java: the classes, then every jar of lib/. */
  readonly classpath: string;
  /** True when the jar and lib/ (with the marker jar) exist and are newer than every source. */
  isFresh(): boolean;
}

export function mavenBuild(layout: MavenBuildLayout): MavenBuild {
  const stamp = path.join(layout.buildDir, layout.jar);
  const lib = path.join(layout.buildDir, 'lib');
  return {
    stamp,
    lib,
    classpath: [path.join(layout.buildDir, 'classes'), path.join(lib, '*')].join(path.delimiter),
    isFresh() {
      if (!existsSync(stamp) || !existsSync(lib)) return false;
      if (!readdirSync(lib).some((f) => f.startsWith(layout.libMarker))) return false;
      const built = statSync(stamp).mtimeMs;
      return layout.sources.every((s) => statSync(s).mtimeMs <= built);
    },
  };
}

/** Stops a Java child that exits when its stdin ends: ends stdin, SIGKILL after `graceMs`. */
export async function stopJava(child: ChildProcessWithoutNullStreams, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.stdin.end();
  const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(killer);
}
