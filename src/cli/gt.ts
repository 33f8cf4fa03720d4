// Entry point of `gt`, the Gas Town orchestrator. Town commands arrive with later issues;
// `gt bd ...` is not a thing: beads are `bd`.
import { runProgram } from './framework.ts';
import { VERSION } from './version.ts';

process.exitCode = await runProgram(
  {
    name: 'gt',
    version: VERSION,
    summary: 'Gas Town: run many AI coding agents without losing work',
    commands: [],
  },
  process.argv.slice(2),
);
