import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { formatErrors } from '../../config/errors.js';
import { issuesToProblems } from '../../config/issues.js';
import type { ChannelConfig } from '../../config/schema.js';
import { parseYaml as parseYamlWithPositions } from '../../config/yaml.js';
import { parseHl7, Hl7ParseError } from '../hl7/index.js';
import { silentLogger } from '../log.js';
import { openStore } from '../store/index.js';
import { buildChannel } from './build.js';
import { Channel } from './channel.js';
import { contentText, type Envelope } from './envelope.js';
import { sent, type Destination } from './types.js';

/*
 * Channel unit tests (`*.test.yaml` beside a channel): feed sample messages through the
 * real filter, steps and router, with every destination replaced by a recorder, and
 * assert on what each destination would have received. The store is a real, temporary
 * SQLite database, so statuses are the ones production would record.
 */

/**
 * What one destination must have received (its first message, `count` of them):
 * - `exact` (or `equals`): the whole content, segment by segment;
 * - `subset`: segments that must each match one of the content's segments of that type,
 *   on every field given (fields left empty are not checked), e.g. `PID|||12345` checks PID-3;
 * - `paths`: HL7 paths and values, e.g. `PID-3[1].1: "123"`;
 * - `contains`: text (or a list) the content must contain; line breaks stand for segment
 *   ends, except a block's last one.
 */
const expectDestination = z.union([
  z.literal('none'),
  z.strictObject({
    count: z.number().int().min(0).optional(),
    paths: z.record(z.string(), z.union([z.string(), z.number()]).transform(String)).optional(),
    exact: z.string().optional(),
    equals: z.string().optional(),
    subset: z.string().optional(),
    contains: z.union([z.string(), z.array(z.string())]).optional(),
  }),
]);

const testCase = z.strictObject({
  name: z.string(),
  input: z.string().optional(),
  inputFile: z.string().optional(),
  expect: z.strictObject({
    status: z.enum(['SENT', 'FILTERED', 'ERROR']).optional(),
    warnings: z.number().int().min(0).optional(),
    destinations: z.record(z.string(), expectDestination).default({}),
  }),
}).refine((t) => !!t.input !== !!t.inputFile, { message: 'give exactly one of input or inputFile' });

const channelTestFileSchema = z.strictObject({
  channel: z.string().optional().describe('channel file, relative to this file; default: this name without .test'),
  tests: z.array(testCase).min(1),
});

export type ChannelTestFile = z.output<typeof channelTestFileSchema>;

export interface TestResult {
  readonly name: string;
  readonly ok: boolean;
  readonly failures: string[];
}

/** YAML block text uses newlines; HL7 wants CR between segments. */
function toHl7(text: string): string {
  return text.replace(/\r\n|\n|\r/g, '\r').replace(/\r+$/, '') + '\r';
}

/** Parses a *.test.yaml; errors name file:line:col and the path, like config errors. */
export function parseTestFile(text: string, file: string): ChannelTestFile {
  const yaml = parseYamlWithPositions(text, file);
  if (yaml.errors.length) throw new Error(formatErrors(yaml.errors));
  const r = channelTestFileSchema.safeParse(yaml.value);
  if (!r.success) throw new Error(formatErrors(yaml.locate(issuesToProblems(r.error.issues, () => false))));
  return r.data;
}

/** Runs one test file's cases against a validated channel config. */
export async function runChannelTests(cfg: ChannelConfig, tests: ChannelTestFile, baseDir: string): Promise<TestResult[]> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'sluice-test-'));
  const store = await openStore({ dataDir });
  const received = new Map<string, string[]>();
  const recorder = (name: string): Destination => ({
    send: async (env: Envelope) => {
      received.get(name)!.push(contentText(env.content));
      return sent();
    },
    close: async () => {},
  });
  const def = buildChannel({ ...cfg, respondFrom: 'delivered' }, { channel: cfg.name, dataDir, logger: silentLogger }, recorder);
  const channel = new Channel({ ...def, respondFrom: 'delivered', duplicates: { enabled: false, windowMs: 0 } }, store, silentLogger);
  const results: TestResult[] = [];
  try {
    for (const t of tests.tests) {
      for (const d of def.destinations) received.set(d.name, []);
      const input = t.input !== undefined ? toHl7(t.input) : await readFile(path.resolve(baseDir, t.inputFile!), 'utf8');
      const outcome = await channel.intake(Buffer.from(input, 'utf8'), { kind: 'test' });
      const failures: string[] = [];
      const stored = outcome.messageId ? await store.get(outcome.messageId) : undefined;
      if (t.expect.status) {
        // Give the final status bookkeeping its tick.
        let status = stored?.status;
        for (let i = 0; i < 50 && outcome.messageId && status !== t.expect.status; i++) {
          await new Promise((r) => setTimeout(r, 10));
          status = (await store.get(outcome.messageId))?.status;
        }
        if (status !== t.expect.status) failures.push(`status: expected ${t.expect.status}, got ${status ?? 'nothing stored'}${outcome.text ? ` (${outcome.text})` : ''}`);
      }
      if (t.expect.warnings !== undefined && stored) {
        const w = stored.events.filter((e) => e.kind === 'transformed').map((e) => /(\d+) warning/.exec(e.detail ?? '')?.[1]).map(Number).find((n) => !Number.isNaN(n)) ?? 0;
        if (w !== t.expect.warnings) failures.push(`warnings: expected ${t.expect.warnings}, got ${w}`);
      }
      for (const [dest, exp] of Object.entries(t.expect.destinations)) {
        const got = received.get(dest);
        if (!got) { failures.push(`${dest}: no such destination (channel has: ${[...received.keys()].join(', ')})`); continue; }
        failures.push(...checkDestination(dest, got, exp));
      }
      results.push({ name: t.name, ok: failures.length === 0, failures });
    }
  } finally {
    await channel.stop().catch(() => {});
    await store.close();
    await rm(dataDir, { recursive: true, force: true });
  }
  return results;
}

function checkDestination(dest: string, got: string[], exp: z.output<typeof expectDestination>): string[] {
  if (exp === 'none') return got.length === 0 ? [] : [`${dest}: expected nothing, got ${got.length} message(s)`];
  const failures: string[] = [];
  const count = exp.count ?? 1;
  if (got.length !== count) failures.push(`${dest}: expected ${count} message(s), got ${got.length}`);
  const text = got[0];
  if (text === undefined) return failures;
  for (const exact of [exp.exact, exp.equals]) {
    if (exact === undefined) continue;
    const want = toHl7(exact);
    if (text !== want) failures.push(`${dest}: content differs:\n${segmentDiff(want, text)}`);
  }
  if (exp.subset !== undefined) failures.push(...subsetFailures(dest, exp.subset, text));
  const hl7 = /^(MSH|FHS|BHS)/.test(text);
  for (const c of exp.contains === undefined ? [] : Array.isArray(exp.contains) ? exp.contains : [exp.contains]) {
    // In HL7 text a YAML block's line breaks are segment ends (its last one is only the
    // block's end); other content (FHIR JSON) is compared as written.
    const want = hl7 ? c.replace(/(\r\n|\n)$/, '').replace(/\r\n|\n/g, '\r') : c;
    if (!text.includes(want)) failures.push(`${dest}: expected the content to contain ${JSON.stringify(want)}`);
  }
  if (exp.paths) {
    let msg;
    try {
      msg = parseHl7(text);
    } catch (e) {
      failures.push(`${dest}: content is not HL7 v2 (${e instanceof Hl7ParseError ? e.reason : String(e)})`);
      return failures;
    }
    for (const [p, want] of Object.entries(exp.paths)) {
      const actual = msg.get(p);
      if (actual !== want) failures.push(`${dest} ${p}: expected ${JSON.stringify(want)}, got ${JSON.stringify(actual)}`);
    }
  }
  return failures;
}

/**
 * Each expected segment must match a different actual one of its type on everything it gives:
 * a field left empty is not checked, and a field's components (and a component's
 * subcomponents) are checked as far as given (`12345` matches `12345^^^HOSP^MR`).
 * Separators are the message's own (MSH-1 and MSH-2).
 */
function subsetFailures(dest: string, expected: string, text: string): string[] {
  const actual = text.split(/\r\n|\r|\n/).filter(Boolean);
  const field = text.startsWith('MSH') && text.length > 3 ? text[3]! : '|';
  const component = text.startsWith('MSH') && text.length > 4 ? text[4]! : '^';
  const subcomponent = text.startsWith('MSH') && text.length > 7 ? text[7]! : '&';
  const covers = (want: string, got: string | undefined, seps: readonly string[]): boolean => {
    if (want === '') return true;
    if (got === undefined) return false;
    const [sep, ...rest] = seps;
    if (sep === undefined) return want === got;
    const w = want.split(sep);
    const g = got.split(sep);
    return w.length <= g.length && w.every((part, i) => covers(part, g[i], rest));
  };
  const used = new Set<number>();
  const failures: string[] = [];
  for (const line of expected.split(/\r\n|\r|\n/).filter((l) => l.trim() !== '')) {
    const want = line.split(field);
    const type = want[0]!;
    const matches = (a: string): boolean => {
      const got = a.split(field);
      // MSH-1 and MSH-2 are the separators themselves: compared whole.
      return want.every((f, i) => i === 0 || f === '' || (type === 'MSH' && i === 1 ? got[i] === f : covers(f, got[i], [component, subcomponent])));
    };
    const found = actual.findIndex((a, i) => !used.has(i) && a.split(field)[0] === type && matches(a));
    if (found >= 0) {
      used.add(found);
      continue;
    }
    const candidates = actual.filter((a) => a.split(field)[0] === type);
    failures.push(candidates.length === 0
      ? `${dest}: no ${type} segment (expected one like ${JSON.stringify(line)})`
      : `${dest}: no ${type} segment matches ${JSON.stringify(line)}${candidates.length > 1 ? ' (each expected segment needs one of its own)' : ''}:\n${candidates.map((c) => `  + ${c}`).join('\n')}`);
  }
  return failures;
}

/** A segment-by-segment diff: `-` expected, `+` actual. */
function segmentDiff(expected: string, actual: string): string {
  const a = expected.split('\r').filter(Boolean);
  const b = actual.split(/\r\n|\r|\n/).filter(Boolean);
  const lines: string[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (a[i] === b[i]) continue;
    if (a[i] !== undefined) lines.push(`  - ${a[i]}`);
    if (b[i] !== undefined) lines.push(`  + ${b[i]}`);
  }
  return lines.join('\n');
}
