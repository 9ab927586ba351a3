/**
 * MLLP round-trip benchmark: one raw client (net socket + sluice framing) against each
 * server kind in bench/mllp-server.ts, each server in its own child process. Every message
 * waits for its ACK before the next is sent on that connection.
 *
 *   node --import tsx bench/mllp.ts
 *
 * Env: BENCH_MLLP_MESSAGES (default 20000), BENCH_MLLP_RUNS (default 3).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MllpDecoder, frame } from '../engine/mllp/framing.js';
import { adtA01 } from './fixtures/messages.js';
import { machineInfo, machineMarkdown } from './lib/machine.js';
import { envInt, fmtInt, fmtPct, fmtRatio, mdTable, median } from './lib/stats.js';
import { SERVER_KINDS, type ServerKind } from './lib/mllp-kinds.js';

const SERVER_SCRIPT = fileURLToPath(new URL('./mllp-server.ts', import.meta.url));
const RUN_TIMEOUT_MS = 120_000;

const LABELS: Record<ServerKind, string> = {
  sluice: 'sluice MllpListener (parse + buildAck AA)',
  'simple-hl7': 'simple-hl7 3.3 tcp server (auto ACK)',
  medplum: '@medplum/hl7 4.5 Hl7Server (buildAck)',
  echo: 'raw frame echo (fixed ACK, ceiling)',
};

// ---- server child process ------------------------------------------------------

class ServerProcess {
  private readonly lines: Interface;
  private readonly waiters: ((line: string) => void)[] = [];

  private constructor(readonly kind: ServerKind, private readonly child: ChildProcess, readonly port: number, lines: Interface) {
    this.lines = lines;
    lines.on('line', (line) => this.waiters.shift()?.(line));
  }

  static async spawn(kind: ServerKind): Promise<ServerProcess> {
    const child = spawn(process.execPath, ['--import', 'tsx', SERVER_SCRIPT, kind], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = createInterface({ input: child.stdout! });
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${kind} server did not start within 30 s`)), 30_000);
      lines.once('line', (line) => {
        clearTimeout(timer);
        const m = /^PORT (\d+)$/.exec(line);
        if (m) resolve(Number(m[1]));
        else reject(new Error(`${kind} server said ${JSON.stringify(line)}`));
      });
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${kind} server exited with ${code}`)); });
    });
    return new ServerProcess(kind, child, port, lines);
  }

  /** Server process CPU time so far, in microseconds. */
  cpuMicros(): Promise<{ user: number; system: number }> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.kind} server did not answer cpu`)), 10_000);
      this.waiters.push((line) => {
        clearTimeout(timer);
        const m = /^CPU (\d+) (\d+)$/.exec(line);
        if (m) resolve({ user: Number(m[1]), system: Number(m[2]) });
        else reject(new Error(`${this.kind} server said ${JSON.stringify(line)}`));
      });
      this.child.stdin!.write('cpu\n');
    });
  }

  stop(): void {
    this.lines.close();
    this.child.stdin!.end();
    // Stops only the child this object started, by its own handle.
    setTimeout(() => { if (this.child.exitCode === null) this.child.kill('SIGTERM'); }, 2000).unref();
  }
}

// ---- the shared raw client ----------------------------------------------------------

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.setNoDelay(true);
    socket.once('connect', () => { socket.off('error', reject); resolve(socket); });
    socket.once('error', reject);
  });
}

export interface AckCheck {
  /** Text the first ACK must contain (MSA-1 AA and, where the server echoes it, MSA-2). */
  first: Buffer;
  /** Text every ACK must contain. */
  every: Buffer;
}

/** Sends `count` frames one at a time on an open socket, each after the previous ACK. */
function pingPong(socket: net.Socket, payload: Buffer, count: number, check: AckCheck): Promise<void> {
  return new Promise((resolve, reject) => {
    const decoder = new MllpDecoder();
    let acked = 0;
    const fail = (err: Error): void => { cleanup(); socket.destroy(); reject(err); };
    const timer = setTimeout(() => fail(new Error(`timed out after ${acked}/${count} ACKs`)), RUN_TIMEOUT_MS);
    const onData = (chunk: Buffer): void => {
      for (const ack of decoder.push(chunk)) {
        if (!ack.includes(acked === 0 ? check.first : check.every)) {
          fail(new Error(`unexpected ACK #${acked + 1}: ${JSON.stringify(ack.toString('latin1').slice(0, 200))}`));
          return;
        }
        acked++;
        if (acked === count) { cleanup(); resolve(); return; }
        socket.write(payload);
      }
    };
    const onClose = (): void => fail(new Error(`connection closed after ${acked}/${count} ACKs`));
    const onError = (err: Error): void => fail(err);
    const cleanup = (): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onError);
    };
    socket.on('data', onData);
    socket.on('close', onClose);
    socket.on('error', onError);
    socket.write(payload);
  });
}

export interface RunResult {
  msgsPerSec: number;
  /** Server CPU microseconds per message (user + system), and the user part alone. */
  cpuUsPerMsg: number;
  userUsPerMsg: number;
}

/** `connections` concurrent client loops of `perConnection` messages each. */
async function runOnce(server: ServerProcess, connections: number, perConnection: number, payload: Buffer, check: AckCheck): Promise<RunResult> {
  const sockets = await Promise.all(Array.from({ length: connections }, () => connect(server.port)));
  try {
    const cpu0 = await server.cpuMicros();
    const t0 = process.hrtime.bigint();
    await Promise.all(sockets.map((s) => pingPong(s, payload, perConnection, check)));
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu1 = await server.cpuMicros();
    const total = connections * perConnection;
    const user = cpu1.user - cpu0.user;
    return { msgsPerSec: total / seconds, cpuUsPerMsg: (user + cpu1.system - cpu0.system) / total, userUsPerMsg: user / total };
  } finally {
    for (const s of sockets) s.destroy();
  }
}

// ---- orchestration -------------------------------------------------------------------

export interface MllpConfig { name: string; connections: number; perConnection: number }

export interface MllpResult {
  messages: number;
  runs: number;
  payloadBytes: number;
  configs: MllpConfig[];
  /** results[config][kind] = per-run results */
  results: Record<string, Record<ServerKind, RunResult[]>>;
}

export async function runMllp(log: (s: string) => void = (s) => process.stderr.write(s + '\n')): Promise<MllpResult> {
  const messages = envInt('BENCH_MLLP_MESSAGES', 20_000);
  const runs = envInt('BENCH_MLLP_RUNS', 3);
  const fx = adtA01();
  const payload = frame(fx.text);
  const configs: MllpConfig[] = [
    { name: '1 connection', connections: 1, perConnection: messages },
    { name: '8 connections', connections: 8, perConnection: Math.ceil(messages / 8) },
  ];
  const checks: Record<ServerKind, AckCheck> = {
    sluice: { first: Buffer.from(`MSA|AA|${fx.expected.msh10}`), every: Buffer.from('MSA|AA|') },
    'simple-hl7': { first: Buffer.from(`MSA|AA|${fx.expected.msh10}`), every: Buffer.from('MSA|AA|') },
    medplum: { first: Buffer.from(`MSA|AA|${fx.expected.msh10}`), every: Buffer.from('MSA|AA|') },
    echo: { first: Buffer.from('MSA|AA|'), every: Buffer.from('MSA|AA|') },
  };
  const servers: ServerProcess[] = [];
  try {
    for (const kind of SERVER_KINDS) servers.push(await ServerProcess.spawn(kind));
    log(`  servers up: ${servers.map((s) => `${s.kind}:${s.port}`).join(', ')}`);
    // Warm up each server's JIT (and the client's) before anything is timed.
    for (const s of servers) {
      await runOnce(s, 1, Math.min(3000, messages), payload, checks[s.kind]);
      await runOnce(s, 8, Math.min(300, Math.ceil(messages / 8)), payload, checks[s.kind]);
    }
    const results: MllpResult['results'] = {};
    for (const c of configs) results[c.name] = Object.fromEntries(SERVER_KINDS.map((k) => [k, [] as RunResult[]])) as Record<ServerKind, RunResult[]>;
    // Runs are interleaved across servers so a noisy stretch does not land on one server only.
    for (let r = 0; r < runs; r++) {
      for (const c of configs) {
        for (let k = 0; k < servers.length; k++) {
          const s = servers[(k + r) % servers.length]!;
          const res = await runOnce(s, c.connections, c.perConnection, payload, checks[s.kind]);
          results[c.name]![s.kind].push(res);
          log(`  run ${r + 1}/${runs} ${c.name} ${s.kind}: ${fmtInt(res.msgsPerSec)} msg/s, ${res.cpuUsPerMsg.toFixed(1)} µs server CPU/msg (${res.userUsPerMsg.toFixed(1)} user)`);
        }
      }
    }
    return { messages, runs, payloadBytes: payload.length, configs, results };
  } finally {
    for (const s of servers) s.stop();
  }
}

/** Targets: sluice >= 1.3x simple-hl7, and >= 70% of the echo ceiling. */
export const MLLP_TARGETS = { vsSimple: 1.3, vsEcho: 0.7 };

export function mllpMarkdown(res: MllpResult): string {
  const out: string[] = [];
  out.push(`${fmtInt(res.messages)} messages per run (ADT^A01, ${fmtInt(res.payloadBytes)} bytes framed), each sent after the previous ACK on its connection; median of ${res.runs} runs per server and configuration, runs interleaved across servers. "server CPU" is the server process's user+system CPU per message (less sensitive to other load on the machine than wall-clock throughput).`);
  for (const c of res.configs) {
    const per = res.results[c.name]!;
    const med = (k: ServerKind): number => median(per[k].map((x) => x.msgsPerSec));
    const cpu = (k: ServerKind): number => median(per[k].map((x) => x.cpuUsPerMsg));
    out.push('', `### ${c.name} (${c.connections} × ${fmtInt(c.perConnection)})`, '');
    const rows = SERVER_KINDS.map((k) => [LABELS[k], fmtInt(med(k)), fmtRatio(med(k) / med('simple-hl7')), fmtPct(med(k) / med('echo')),
      `${cpu(k).toFixed(1)} µs`, fmtRatio(cpu('simple-hl7') / cpu(k)), per[k].map((x) => fmtInt(x.msgsPerSec)).join(' / ')]);
    out.push(mdTable(['server', 'msgs/s (median)', 'vs simple-hl7', 'vs echo', 'server CPU/msg', 'CPU efficiency vs simple-hl7', 'runs (msgs/s)'], rows));
    const vsSimple = med('sluice') / med('simple-hl7');
    const vsEcho = med('sluice') / med('echo');
    out.push('', `Targets: sluice >= ${MLLP_TARGETS.vsSimple}x simple-hl7: **${fmtRatio(vsSimple)} — ${vsSimple >= MLLP_TARGETS.vsSimple ? 'met' : 'NOT met'}**; ` +
      `sluice >= ${fmtPct(MLLP_TARGETS.vsEcho)} of echo: **${fmtPct(vsEcho)} — ${vsEcho >= MLLP_TARGETS.vsEcho ? 'met' : 'NOT met'}**.`);
  }
  return out.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const machine = machineInfo();
  runMllp().then((res) => process.stdout.write(`${machineMarkdown(machine, os.loadavg())}\n\n${mllpMarkdown(res)}\n`), (err: unknown) => {
    process.stderr.write(`mllp benchmark failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
