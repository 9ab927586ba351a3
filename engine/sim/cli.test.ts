import { spawn } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { Capture } from '../../test/helpers/streams.js';
import { main } from '../cli/main.js';
import { requestBackendToken, signAssertion, testClientKey } from './testing.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

/** Generous: a process started on a loaded 2-core machine has taken 14 s to get ready. */
async function waitForReady(out: () => string, timeoutMs = 60_000): Promise<string> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const match = /^ready (http:\/\/127\.0\.0\.1:\d+)$/m.exec(out());
    if (match?.[1]) return match[1];
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`simulator did not print ready; output so far:\n${out()}`);
}

describe('sluice sim epic', () => {
  it('starts with flags, prints the URLs and a ready line, serves, and stops on abort', async () => {
    const out = new Capture();
    const err = new Capture();
    const stop = new AbortController();
    const running = main(['sim', 'epic', '--port', '0', '--seed', '9', '--patients', '3', '--messy', '--rate429', '1', '--retry-after', 'http-date'], { out, err, signal: stop.signal });
    const url = await waitForReady(() => out.text);
    expect(out.text).toContain(`FHIR base     ${url}/api/FHIR/R4`);
    expect(out.text).toContain('messy data');
    const counts = (await (await fetch(`${url}/_sim/counts`)).json()) as { patients: number };
    expect(counts.patients).toBe(3);
    const faults = (await (await fetch(`${url}/_sim/faults`)).json()) as { rate429: number; retryAfter: string };
    expect(faults).toMatchObject({ rate429: 1, retryAfter: 'http-date' });
    stop.abort();
    expect(await running).toBe(0);
    expect(out.text).toContain('stopped');
    await expect(fetch(`${url}/_sim/counts`)).rejects.toThrow();
  });

  it('refuses bad flags with exit code 2', async () => {
    for (const argv of [['sim'], ['sim', 'cerner'], ['sim', 'epic', '--rate429', '1.5'], ['sim', 'epic', '--burst429', 'ten']]) {
      const err = new Capture();
      expect(await main(argv, { out: new Capture(), err })).toBe(2);
      expect(err.text).toMatch(/^sluice: /);
    }
  });

  // The simulator's own entry (engine/sim/main.ts): the same flags, half the start-up work.
  it('runs as a real process with a registered JWKS client, and exits 0 on SIGTERM', { timeout: 90_000 }, async () => {
    const key = await testClientKey('RS384');
    const jwksFile = path.join(os.tmpdir(), `sim-jwks-${process.pid}.json`);
    await writeFile(jwksFile, JSON.stringify(key.jwks));
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'engine/sim/main.ts'), 'epic', '--port', '0', '--patients', '2', '--client-id', 'cli-backend', '--jwks', jwksFile], { cwd: ROOT });
    let text = '';
    child.stdout.on('data', (d: Buffer) => (text += d.toString()));
    child.stderr.on('data', (d: Buffer) => (text += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      const url = await waitForReady(() => text);
      const tokenUrl = `${url}/oauth2/token`;
      const { status, body } = await requestBackendToken(tokenUrl, await signAssertion(key, { clientId: 'cli-backend', tokenUrl }));
      expect(status).toBe(200);
      expect(body.token_type).toBe('bearer');
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      await rm(jwksFile, { force: true });
    }
  });
});
