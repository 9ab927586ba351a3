/** Child processes, PIDs and ports for the local Kafka broker. */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export class BrokerError extends Error {}

const HOST = '127.0.0.1';

export interface RunResult { code: number | null; output: string }

/** Runs a command to completion, output captured; ENOENT becomes `missing`. */
export function run(cmd: string, args: string[], opts: { cwd?: string; timeoutMs?: number; missing: string }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const add = (b: Buffer) => {
      output += b.toString('utf8');
      if (output.length > 200_000) output = output.slice(-100_000);
    };
    child.stdout.on('data', add);
    child.stderr.on('data', add);
    const timer = opts.timeoutMs ? setTimeout(() => {
      output += `\n(timed out after ${Math.round(opts.timeoutMs! / 1000)} s)`;
      child.kill('SIGKILL');
    }, opts.timeoutMs) : undefined;
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (timer) clearTimeout(timer);
      reject(e.code === 'ENOENT' ? new BrokerError(opts.missing) : e);
    });
    child.on('close', (code) => {
      if (timer) clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

export function tail(text: string, lines = 25): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

export function javaCommand(): string {
  const home = process.env.JAVA_HOME;
  if (home) {
    const candidate = path.join(home, 'bin', process.platform === 'win32' ? 'java.exe' : 'java');
    if (existsSync(candidate)) return candidate;
  }
  return 'java';
}

/** Checks that Java 17+ is on PATH (or JAVA_HOME); returns the java command. */
export async function checkJava(): Promise<string> {
  const java = javaCommand();
  const r = await run(java, ['-version'], { missing: 'Java not found: the Kafka broker needs Java 17 or newer on PATH (or JAVA_HOME)' });
  if (r.code !== 0) throw new BrokerError(`"${java} -version" failed:\n${tail(r.output)}`);
  const m = /version "(\d+)(?:\.(\d+))?/.exec(r.output);
  if (m) {
    const major = m[1] === '1' ? Number(m[2]) : Number(m[1]);
    if (major < 17) throw new BrokerError(`the Kafka broker needs Java 17 or newer; found Java ${major} (${java})`);
  }
  return java;
}

export function readProc(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A zombie (exited, not yet reaped by its parent) still answers signal 0.
  const statText = readProc(`/proc/${pid}/stat`);
  if (statText !== undefined) {
    const state = statText.charAt(statText.lastIndexOf(')') + 2);
    if (state === 'Z' || state === 'X') return false;
  }
  return true;
}

/** Whether pid is a Kafka broker (when /proc can tell; otherwise trusts the pid file). */
export function isKafkaProcess(pid: number): boolean {
  const cmdline = readProc(`/proc/${pid}/cmdline`);
  if (cmdline === undefined) return alive(pid);
  return cmdline.split('\0').includes('kafka.Kafka');
}

// ---------------------------------------------------------------------------------------------
// network

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function portAccepts(port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Whether 127.0.0.1:port can be bound right now. */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ host: HOST, port, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** A port the OS says is free on 127.0.0.1 now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ host: HOST, port: 0 }, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

