import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { formatErrors, loadChannelFiles } from '../../config/index.js';
import { parseTestFile, runChannelTests } from '../channel/testing.js';
import { parse } from './args.js';
import { CliError } from './errors.js';

const TEST_FILE = /\.test\.ya?ml$/i;

async function findTestFiles(target: string): Promise<string[]> {
  const info = await stat(target).catch(() => { throw new CliError(`${target}: no such file or directory`); });
  if (!info.isDirectory()) {
    if (TEST_FILE.test(target)) return [target];
    // A channel file: its tests are beside it.
    const beside = target.replace(/\.ya?ml$/i, '.test.yaml');
    if (beside !== target && await stat(beside).then(() => true, () => false)) return [beside];
    throw new CliError(`${target}: not a channel test file (*.test.yaml), and no ${path.basename(beside)} beside it`);
  }
  const found: string[] = [];
  for (const name of (await readdir(target)).sort()) {
    const full = path.join(target, name);
    if ((await stat(full)).isDirectory()) found.push(...await findTestFiles(full));
    else if (TEST_FILE.test(name)) found.push(full);
  }
  return found;
}

/** `sluice test [PATH...]`: runs each channel's *.test.yaml with its destinations mocked. */
export async function testCommand(argv: string[], out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<number> {
  const { positionals } = parse(argv, {}, 'sluice test [PATH...]');
  const files = (await Promise.all((positionals.length ? positionals : ['channels']).map(findTestFiles))).flat();
  if (files.length === 0) throw new CliError('no *.test.yaml files found');
  let passed = 0;
  let failed = 0;
  for (const file of files) {
    let tests;
    try {
      tests = parseTestFile(await readFile(file, 'utf8'), file);
    } catch (e) {
      throw new CliError((e as Error).message);
    }
    const channelFile = path.resolve(path.dirname(file), tests.channel ?? path.basename(file).replace(TEST_FILE, '.yaml'));
    const loaded = loadChannelFiles([channelFile]);
    const channel = loaded.channels[0];
    if (loaded.errors.length || !channel) {
      err.write(`${file}: the channel does not load:\n${formatErrors(loaded.errors)}\n`);
      failed += tests.tests.length;
      continue;
    }
    out.write(`${file} (${channel.config.name})\n`);
    for (const r of await runChannelTests(channel.config, tests, path.dirname(file))) {
      if (r.ok) { passed++; out.write(`  ok    ${r.name}\n`); continue; }
      failed++;
      out.write(`  FAIL  ${r.name}\n${r.failures.map((f) => `        ${f.replace(/\n/g, '\n        ')}`).join('\n')}\n`);
    }
  }
  out.write(`${passed} passed, ${failed} failed\n`);
  return failed > 0 ? 1 : 0;
}
