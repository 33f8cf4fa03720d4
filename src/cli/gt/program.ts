// The `gt` command table. Town, rig, agent and dispatch commands arrive with their issues;
// `gt formula` shares its implementation with `bd formula`.
import { formulaCommands } from '../bd/formulas.ts';
import type { CommandDef, Program } from '../framework.ts';
import { VERSION } from '../version.ts';
import { agentCommand } from './agent.ts';
import { agentCommands } from './agents.ts';
import { convoyCommands } from './convoy.ts';
import { daemonCommand } from './daemon.ts';
import { demoCommand } from './demo.ts';
import { doneCommand } from './done.ts';
import { escalateCommand } from './escalate.ts';
import { handoffCommand } from './handoff.ts';
import { mailCommands } from './mail.ts';
import { mqCommand } from './mq.ts';
import { nudgeCommands } from './nudge.ts';
import { patrolCommands } from './patrol.ts';
import { primeCommand } from './prime.ts';
import { rigCommands } from './rigs.ts';
import { schedulerCommand } from './scheduler.ts';
import { slingCommands } from './sling.ts';
import { statusCommands } from './status.ts';
import { townCommands } from './town.ts';

const formula = formulaCommands.find((c) => c.name === 'formula')!;

/** Groups defined in several modules (`gt crew` add/list/remove + at) become one group. */
function mergeGroups(commands: CommandDef[]): CommandDef[] {
  const out: CommandDef[] = [];
  for (const c of commands) {
    const prev = out.findIndex((o) => o.name === c.name);
    if (prev < 0 || !out[prev].sub || !c.sub || out[prev].run || c.run) {
      out.push(c);
      continue;
    }
    const sub = [...out[prev].sub!, ...c.sub.filter((s) => !out[prev].sub!.some((o) => o.name === s.name))];
    const shown = sub.filter((s) => !s.hidden).map((s) => s.name);
    out[prev] = { ...out[prev], sub, usage: `gt ${c.name} ${shown.join('|')}` };
  }
  return out;
}

export const gtProgram: Program = {
  name: 'gt',
  version: VERSION,
  summary: 'Gas Town: run many AI coding agents without losing work',
  commands: mergeGroups([
    ...townCommands,
    ...rigCommands,
    { ...formula, usage: 'gt formula list|show' },
    primeCommand,
    agentCommand,
    ...agentCommands,
    ...statusCommands,
    ...nudgeCommands,
    ...mailCommands,
    escalateCommand,
    handoffCommand,
    ...slingCommands,
    ...convoyCommands,
    doneCommand,
    daemonCommand,
    mqCommand,
    demoCommand,
    ...patrolCommands,
    schedulerCommand,
  ]),
};
