// Process entry: runs the CLI and sets the exit code. bin/sluice.js loads the compiled copy.
import { main } from './main.js';

// The reader of stdout went away. `sluice messages list | head`: stop quietly instead of a
// stack trace. `sluice run | tee log` after tee died: carry on (the engine must still drain
// and close its store on SIGINT/SIGTERM), writing nothing more there.
let readerGone = false;
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (readerGone) return; // later writes to the closed pipe fail too
  if (error.code !== 'EPIPE') throw error;
  readerGone = true;
  if (process.argv[2] !== 'run') process.exit(process.exitCode ?? 0);
});

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    process.stderr.write(`sluice: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
