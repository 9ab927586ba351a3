#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm run build` (run by `npm ci` via prepare).
import { main } from '../dist/engine/cli/main.js';

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err) => { process.stderr.write(`sluice: ${err instanceof Error ? err.message : String(err)}\n`); process.exitCode = 1; },
);
