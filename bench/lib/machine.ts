/** What the benchmark ran on, for the report. */
import { execFileSync } from 'node:child_process';
import os from 'node:os';

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  node: string;
  platform: string;
  memoryGiB: number;
  loadAvg: number[];
  date: string;
  /** Commit of the code measured, with `+dirty` when the working tree has changes. */
  git: string;
}

function gitState(): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', '--', 'engine'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${head}+dirty (engine/ has uncommitted changes)` : head;
  } catch {
    return 'unknown';
  }
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpus: os.availableParallelism(),
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    loadAvg: os.loadavg().map((x) => Math.round(x * 100) / 100),
    date: new Date().toISOString(),
    git: gitState(),
  };
}

export function machineMarkdown(m: MachineInfo, loadAfter?: number[]): string {
  const load = `load average at start ${m.loadAvg.join(' / ')}` + (loadAfter ? `, at end ${loadAfter.map((x) => Math.round(x * 100) / 100).join(' / ')}` : '') + ' (1/5/15 min)';
  return `${m.date}: ${m.cpus} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB, ${m.platform}, Node ${m.node}; code ${m.git}; ${load}.`;
}
