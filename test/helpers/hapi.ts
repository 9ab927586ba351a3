/**
 * Runs the HAPI HL7 v2 peer in test/helpers/hapi (a HAPI SimpleServer that ACKs AA, and a
 * HAPI client). The Java side is built once with Maven into test/helpers/hapi/target and
 * reused while target/ is newer than pom.xml and the Java source.
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { mavenBuild, stopJava } from '../../engine/java.js';

export const HAPI_DIR = path.resolve(import.meta.dirname, 'hapi');
const POM = path.join(HAPI_DIR, 'pom.xml');
const SOURCE = path.join(HAPI_DIR, 'src/main/java/sluice/HapiPeer.java');
const BUILD = mavenBuild({ buildDir: path.join(HAPI_DIR, 'target'), jar: 'hapi-peer-1.jar', libMarker: 'hapi-base-', sources: [POM, SOURCE] });

/** The build command, for error messages and the docs. */
export const HAPI_BUILD_COMMAND = 'mvn -q -B -f test/helpers/hapi/pom.xml package';

/**
 * Builds the HAPI peer unless a fresh build exists. Throws with Maven's output when the
 * build fails (for example when Maven Central cannot be reached), so the test fails loudly.
 */
export function ensureHapiBuilt(): { built: boolean; ms: number } {
  if (BUILD.isFresh()) return { built: false, ms: 0 };
  for (const [cmd, args] of [['java', ['-version']], ['mvn', ['-v']]] as const) {
    const probe = spawnSync(cmd, [...args], { encoding: 'utf8' });
    if (probe.error || probe.status !== 0) {
      throw new Error(`HAPI interop test needs ${cmd} (Java 17+ and Maven) on PATH: ${probe.error?.message ?? probe.stderr}`);
    }
  }
  const t0 = Date.now();
  const r = spawnSync('mvn', ['-q', '-B', '-f', POM, 'package'], { encoding: 'utf8', timeout: 170_000 });
  if (r.error || r.status !== 0) {
    const output = `${r.stdout ?? ''}\n${r.stderr ?? ''}`.trim().split('\n').slice(-40).join('\n');
    throw new Error(
      `Building the HAPI peer failed (${HAPI_BUILD_COMMAND}); is Maven Central (repo.maven.apache.org) reachable?\n` +
      `${r.error?.message ?? `exit ${r.status}`}\n${output}`,
    );
  }
  if (!BUILD.isFresh()) throw new Error(`HAPI peer build finished but ${BUILD.stamp} or ${BUILD.lib} is missing`);
  return { built: true, ms: Date.now() - t0 };
}

/** Collects a child's stdout lines and lets a test wait for one matching a pattern. */
class LineReader {
  readonly lines: string[] = [];
  private waiters: (() => void)[] = [];
  exited = false;

  constructor(readonly child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on('line', (line) => { this.lines.push(line); this.wake(); });
    child.once('exit', () => { this.exited = true; this.wake(); });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  async waitFor(pattern: RegExp, timeoutMs: number, stderr: () => string): Promise<RegExpExecArray> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (const line of this.lines) {
        const m = pattern.exec(line);
        if (m) return m;
      }
      if (this.exited) throw new Error(`HAPI peer exited (code ${this.child.exitCode}) before printing ${pattern}:\n${stderr()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`HAPI peer did not print ${pattern} within ${timeoutMs} ms:\n${this.lines.join('\n')}\n${stderr()}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(t); resolve(); });
      });
    }
  }
}

function startJava(args: string[]): { reader: LineReader; stderr: () => string; stop: () => Promise<void> } {
  // HAPI's default message-id generator keeps its counter in ./id_file: run it where that does no harm.
  const child = spawn('java', ['-cp', BUILD.classpath, 'sluice.HapiPeer', ...args], { stdio: ['pipe', 'pipe', 'pipe'], cwd: os.tmpdir() });
  let err = '';
  child.stderr.on('data', (c: Buffer) => { err += c.toString(); });
  const reader = new LineReader(child);
  return { reader, stderr: () => err, stop: () => stopJava(child) };
}

export interface HapiServer {
  port: number;
  /** MSH-10 of each message HAPI's application received. */
  received: () => string[];
  stop: () => Promise<void>;
}

/** Starts HAPI's SimpleServer on 127.0.0.1 and an ephemeral port. */
export async function startHapiServer(): Promise<HapiServer> {
  const { reader, stderr, stop } = startJava(['server']);
  try {
    const m = await reader.waitFor(/^LISTENING (\d+)$/, 20_000, stderr);
    return {
      port: Number(m[1]),
      received: () => reader.lines.filter((l) => l.startsWith('RECEIVED ')).map((l) => l.slice('RECEIVED '.length)),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Runs HAPI's client against 127.0.0.1:port; resolves with one {code, ackId, sentId} per message. */
export async function runHapiClient(port: number, count: number): Promise<{ code: string; ackId: string; sentId: string }[]> {
  const { reader, stderr, stop } = startJava(['client', String(port), String(count)]);
  try {
    await reader.waitFor(/^DONE$/, 30_000, stderr);
    return reader.lines.filter((l) => l.startsWith('ACK ')).map((l) => {
      const [, code = '', ackId = '', sentId = ''] = l.split(' ');
      return { code, ackId, sentId };
    });
  } finally {
    await stop();
  }
}
