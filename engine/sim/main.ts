// Process entry for the simulator alone: `node engine/sim/main.js epic --port 8040 …` takes
// the flags of `sluice sim epic` without loading the rest of the engine, so it starts in
// about half the time (CI services, containers, and the real-process test).
import { simCommand } from '../cli/sim.js';
import { CliError } from '../cli/errors.js';

simCommand(process.argv.slice(2), process.stdout).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    process.stderr.write(`sluice: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = err instanceof CliError ? err.code : 1;
  },
);
