/*
 * FHIR R4 validation with HAPI FHIR's instance validator (a validator we did not write),
 * run as one long-lived Java process: its start (about 5-10 s) is paid once, then each
 * resource costs milliseconds. The Java side (transforms/validate/java) is built with
 * Maven into .cache/fhir-validator on first use and reused while it is newer than its
 * sources; Maven keeps the downloaded jars in ~/.m2.
 */
import { mavenBuild, stopJava } from '../../engine/java.js';
import { sleep } from '../../engine/sleep.js';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { applyDowngrades, type ValidationIssue } from './issues.js';

const REPO_ROOT = path.resolve(import.meta.dirname, '../..');
const JAVA_DIR = path.join(REPO_ROOT, 'transforms/validate/java');
const POM = path.join(JAVA_DIR, 'pom.xml');
const SOURCE = path.join(JAVA_DIR, 'src/main/java/sluice/FhirValidatorMain.java');
const BUILD_DIR = path.join(REPO_ROOT, '.cache/fhir-validator');
const BUILD = mavenBuild({ buildDir: BUILD_DIR, jar: 'fhir-validator-1.jar', libMarker: 'hapi-fhir-validation-', sources: [POM, SOURCE] });
const LOCK = path.join(REPO_ROOT, '.cache/fhir-validator.lock');
const BUILD_TIMEOUT_MS = 300_000;

/** The build command, for error messages and the docs. */
export const FHIR_VALIDATOR_BUILD_COMMAND = 'mvn -q -B -f transforms/validate/java/pom.xml package';

export class FhirValidatorUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FhirValidatorUnavailableError';
  }
}

export interface FhirValidator {
  /** Validates one resource (a Bundle's entries included) against the FHIR R4 base definitions. */
  validate(resource: object | string): Promise<ValidationIssue[]>;
  close(): Promise<void>;
}

export interface StartOptions {
  /** Limit for one answer, counted from when the resource is next in line; past it the process is killed (its answers would no longer line up). */
  timeoutMs?: number;
  /** Limit for the JVM to load the definitions and print READY. */
  startTimeoutMs?: number;
  /** JVM options; the default favours a quick start on a small shared machine. */
  javaOptions?: readonly string[];
}

interface RunResult { code: number | null; output: string; error?: Error }

function run(cmd: string, args: string[], timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve) => {
    let output = '';
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (c: Buffer) => { output += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { output += c.toString(); });
    child.once('error', (error) => { clearTimeout(timer); resolve({ code: null, output, error }); });
    child.once('close', (code) => { clearTimeout(timer); resolve({ code, output }); });
  });
}

/** Checks that java (17+) and mvn are on PATH; throws a FhirValidatorUnavailableError saying which is missing. */
async function checkToolchain(needMaven: boolean): Promise<void> {
  const java = await run('java', ['-version'], 30_000);
  if (java.error || java.code !== 0) {
    throw new FhirValidatorUnavailableError(`FHIR validation needs Java 17+ ("java" on PATH): ${java.error?.message ?? java.output.trim()}`);
  }
  const major = /version "(\d+)/.exec(java.output)?.[1];
  if (major !== undefined && Number(major) < 17) {
    throw new FhirValidatorUnavailableError(`FHIR validation needs Java 17+, found Java ${major}`);
  }
  if (!needMaven) return;
  const mvn = await run('mvn', ['-v'], 60_000);
  if (mvn.error || mvn.code !== 0) {
    throw new FhirValidatorUnavailableError(`building the FHIR validator needs Maven ("mvn" on PATH): ${mvn.error?.message ?? mvn.output.trim()}`);
  }
}


/**
 * Builds the Java validator unless a fresh build exists. Several test files may start a
 * validator at once, so one process builds (holding a lock directory) while the others wait.
 */
export async function ensureFhirValidatorBuilt(): Promise<{ built: boolean; ms: number }> {
  if (BUILD.isFresh()) return { built: false, ms: 0 };
  await checkToolchain(true);
  const t0 = Date.now();
  mkdirSync(path.dirname(LOCK), { recursive: true });
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      // Someone else builds; a lock older than the build timeout was left by a killed run.
      const age = existsSync(LOCK) ? Date.now() - statSync(LOCK).mtimeMs : 0;
      if (age > BUILD_TIMEOUT_MS) rmSync(LOCK, { recursive: true, force: true });
      if (Date.now() - t0 > BUILD_TIMEOUT_MS) throw new FhirValidatorUnavailableError(`timed out waiting for another FHIR validator build (lock ${LOCK})`);
      await sleep(500);
      if (BUILD.isFresh()) return { built: false, ms: Date.now() - t0 };
    }
  }
  try {
    if (BUILD.isFresh()) return { built: false, ms: Date.now() - t0 };
    const r = await run('mvn', ['-q', '-B', '-f', POM, `-Dsluice.buildDir=${BUILD_DIR}`, 'package'], BUILD_TIMEOUT_MS);
    if (r.error || r.code !== 0) {
      const tail = r.output.trim().split('\n').slice(-40).join('\n');
      throw new FhirValidatorUnavailableError(
        `building the FHIR validator failed (${FHIR_VALIDATOR_BUILD_COMMAND}); is Maven Central reachable or ~/.m2 populated?\n` +
        `${r.error?.message ?? `exit ${r.code}`}\n${tail}`,
      );
    }
    if (!BUILD.isFresh()) throw new FhirValidatorUnavailableError(`FHIR validator build finished but ${BUILD.stamp} or ${BUILD.lib} is missing`);
    return { built: true, ms: Date.now() - t0 };
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

/**
 * Serial GC, a bounded heap and the C1 compiler only: on 2 shared cores the C2 compiler
 * threads compete with the validation itself. Measured side by side under load: start
 * 18 s vs 22-32 s, the 59-Bundle corpus 9-11 s vs 28 s.
 */
export const DEFAULT_JAVA_OPTIONS: readonly string[] = ['-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Xss4m', '-Xmx1g'];

interface RawAnswer { issues?: ValidationIssue[]; error?: string }
interface Pending { resolve: (issues: ValidationIssue[]) => void; reject: (err: Error) => void }

/** One JSON line per resource: re-serialise strings that span lines (pretty-printed files). */
function toLine(resource: object | string): string {
  if (typeof resource !== 'string') return JSON.stringify(resource);
  return /[\r\n]/.test(resource) ? JSON.stringify(JSON.parse(resource) as unknown) : resource;
}

/** Starts the validator process (building it first if needed) and waits until it is ready. */
export async function startFhirValidator(options: StartOptions = {}): Promise<FhirValidator> {
  await ensureFhirValidatorBuilt();
  await checkToolchain(false);
  const timeoutMs = options.timeoutMs ?? 60_000;
  const child: ChildProcessWithoutNullStreams = spawn(
    'java',
    [...(options.javaOptions ?? DEFAULT_JAVA_OPTIONS), '-cp', BUILD.classpath, 'sluice.FhirValidatorMain'],
    { stdio: ['pipe', 'pipe', 'pipe'], cwd: os.tmpdir() },
  );
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => { stderr = (stderr + c.toString()).slice(-8000); });
  const pending: Pending[] = [];
  let ready: (() => void) | undefined;
  let failure: Error | undefined;
  // One timer, for the request at the head of the queue: a long NDJSON file is not a timeout.
  let headTimer: NodeJS.Timeout | undefined;

  const fail = (err: Error): void => {
    failure ??= err;
    clearTimeout(headTimer);
    for (const p of pending.splice(0)) p.reject(failure);
  };
  const armHeadTimer = (): void => {
    clearTimeout(headTimer);
    if (pending.length === 0) return;
    headTimer = setTimeout(() => {
      fail(new Error(`FHIR validator gave no answer within ${timeoutMs} ms`));
      child.kill('SIGKILL');
    }, timeoutMs);
  };
  child.once('error', (e) => fail(new FhirValidatorUnavailableError(`could not start java: ${e.message}`)));
  child.once('exit', (code, signal) => fail(new Error(`FHIR validator process exited (${signal ?? `code ${code}`}):\n${stderr.trim()}`)));
  child.stdin.on('error', () => { /* the exit handler reports it */ });

  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line === 'READY') { ready?.(); return; }
    const p = pending.shift();
    if (!p) return;
    armHeadTimer();
    let answer: RawAnswer;
    try {
      answer = JSON.parse(line) as RawAnswer;
    } catch {
      p.reject(new Error(`FHIR validator answered with a line that is not JSON: ${line.slice(0, 200)}`));
      return;
    }
    if (answer.error !== undefined) p.reject(new Error(`FHIR validator could not read the resource: ${answer.error}`));
    else p.resolve(applyDowngrades(answer.issues ?? []));
  });

  const startTimeout = options.startTimeoutMs ?? 120_000;
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`FHIR validator not ready within ${startTimeout} ms:\n${stderr.trim()}`)), startTimeout);
      ready = () => { clearTimeout(timer); resolve(); };
      child.once('exit', () => { clearTimeout(timer); reject(failure ?? new Error('FHIR validator exited')); });
      child.once('error', (e) => { clearTimeout(timer); reject(new FhirValidatorUnavailableError(`could not start java: ${e.message}`)); });
    });
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }

  return {
    validate(resource) {
      if (failure) return Promise.reject(failure);
      let line: string;
      try {
        line = toLine(resource);
      } catch (e) {
        return Promise.reject(new Error(`not JSON: ${(e as Error).message}`));
      }
      return new Promise<ValidationIssue[]>((resolve, reject) => {
        pending.push({ resolve, reject });
        if (pending.length === 1) armHeadTimer();
        child.stdin.write(`${line}\n`);
      });
    },
    close: () => stopJava(child),
  };
}
