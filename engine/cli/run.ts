// Process entry: runs the CLI and sets the exit code. bin/sluice.js loads the compiled copy.
import { main } from './main.js';

// `sluice messages list | head`: the reader went away; stop quietly instead of a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(process.exitCode ?? 0);
});

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    process.stderr.write(`sluice: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
