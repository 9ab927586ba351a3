import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConversionError } from '../../transforms/types.js';
import { v2ToFhir } from '../../transforms/v2-fhir/index.js';
import { CORPUS_DIR, corpusMessages, UNSUPPORTED, validateBundle } from './v2-fhir-helpers.js';

const messages = corpusMessages();

describe('v2ToFhir over the corpus', () => {
  it('has the corpus', () => {
    expect(messages.length).toBeGreaterThanOrEqual(55);
  });

  for (const { name, bytes } of messages) {
    if (UNSUPPORTED.has(name)) {
      it(`${name}: unsupported type gives a ConversionError`, () => {
        expect(() => v2ToFhir(bytes)).toThrow(ConversionError);
      });
      continue;
    }
    it(`${name}: converts to valid FHIR R4, deterministically`, () => {
      const first = v2ToFhir(bytes);
      const problems = validateBundle(first.result);
      expect(problems).toEqual([]);
      expect(first.result.entry!.length).toBeGreaterThanOrEqual(3);
      // Same input, same output: no clock, no randomness.
      expect(v2ToFhir(bytes)).toEqual(first);
      for (const type of ['collection', 'message', 'batch'] as const) {
        expect(validateBundle(v2ToFhir(bytes, { bundle: type, attachOriginal: true }).result)).toEqual([]);
      }
    });
  }

  it('gives the same output whatever the host time zone (child processes with TZ set)', () => {
    const script = `
      import { readFileSync } from 'node:fs';
      import { createHash } from 'node:crypto';
      import { v2ToFhir } from ${JSON.stringify(join(import.meta.dirname, '..', '..', 'transforms', 'v2-fhir', 'index.ts'))};
      const names = ${JSON.stringify(messages.filter((m) => !UNSUPPORTED.has(m.name)).map((m) => join(CORPUS_DIR, m.name)))};
      const h = createHash('sha256');
      for (const n of names) h.update(JSON.stringify(v2ToFhir(readFileSync(n), { timezone: 'America/Chicago' })));
      process.stdout.write(h.digest('hex'));`;
    const run = (tz: string) => execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, TZ: tz }, encoding: 'utf8', timeout: 30_000 });
    const a = run('Pacific/Kiritimati');
    const b = run('America/St_Johns');
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(a).toBe(b);
  }, 40_000);
});
