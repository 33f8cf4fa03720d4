// The `gt` command table. Town, rig, agent and dispatch commands arrive with their issues;
// `gt formula` shares its implementation with `bd formula`.
import { formulaCommands } from '../bd/formulas.ts';
import type { Program } from '../framework.ts';
import { VERSION } from '../version.ts';
import { agentCommand } from './agent.ts';
import { primeCommand } from './prime.ts';
import { rigCommands } from './rigs.ts';
import { townCommands } from './town.ts';

const formula = formulaCommands.find((c) => c.name === 'formula')!;

export const gtProgram: Program = {
  name: 'gt',
  version: VERSION,
  summary: 'Gas Town: run many AI coding agents without losing work',
  commands: [
    ...townCommands,
    ...rigCommands,
    { ...formula, usage: 'gt formula list|show' },
    primeCommand,
    agentCommand,
  ],
};
