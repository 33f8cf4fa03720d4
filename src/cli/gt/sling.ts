// gt sling, gt unsling, gt release and gt hook (src/work/sling.ts; loaded lazily, it pulls in
// the session runtime and the formula engine).
import { UsageError } from '../../errors.ts';
import { requireTown } from '../../town/paths.ts';
import type { CommandDef, Ctx } from '../framework.ts';

const work = () => import('../../work/sling.ts');

function envWithActor(ctx: Ctx): NodeJS.ProcessEnv {
  return ctx.actor && !process.env.BD_ACTOR ? { ...process.env, BD_ACTOR: ctx.actor } : process.env;
}

export const slingCommand: CommandDef = {
  name: 'sling',
  summary: 'Put work on an agent’s hook: a rig gets a fresh polecat (worktree, branch, molecule, session)',
  usage:
    'gt sling <bead>... | FORMULA --on BEAD  [<rig> | <rig>/<name> | <rig>/crew/<name> | mayor | .] [--force] [--agent NAME] [--formula NAME] [--var K=V] [--args TEXT] [--hook-raw-bead] [--no-convoy] [--merge direct|mr|local | --no-merge] [--base-branch B] [--dry-run] [--no-start]',
  args: [1, -1],
  options: {
    force: {
      type: 'boolean',
      short: 'f',
      desc: 'take a bead hooked by someone else, or across rig prefixes',
    },
    agent: { type: 'string', arg: 'NAME', desc: 'agent preset for the session (wins over settings)' },
    formula: {
      type: 'string',
      arg: 'NAME',
      desc: 'formula to pour for the work (default mol-polecat-work for polecats)',
    },
    on: { type: 'string', arg: 'BEAD', desc: 'gt sling FORMULA --on BEAD: pour that formula for the bead' },
    var: { type: 'string', multiple: true, arg: 'K=V', desc: 'formula variable' },
    args: { type: 'string', arg: 'TEXT', desc: 'instructions stored on the bead (attached_args)' },
    'hook-raw-bead': { type: 'boolean', desc: 'hook the bead alone, with no molecule' },
    'no-convoy': { type: 'boolean', desc: 'do not create the auto-convoy' },
    merge: { type: 'string', arg: 'MODE', desc: 'merge strategy for gt done: direct, mr or local' },
    'no-merge': { type: 'boolean', desc: 'gt done pushes the branch for review: no MR, the bead stays open' },
    'base-branch': {
      type: 'string',
      arg: 'BRANCH',
      desc: 'branch the polecat starts from (default: the rig’s)',
    },
    'dry-run': { type: 'boolean', short: 'n', desc: 'print the plan, write nothing' },
    'no-start': { type: 'boolean', desc: 'hook and provision, but start no session' },
  },
  async run(ctx, { values, positionals }) {
    const town = requireTown(ctx.cwd);
    const w = await work();
    let formula: string | undefined = values.formula;
    let beads: string[];
    let target: string | undefined;
    if (values.on !== undefined) {
      // gt sling <formula> --on <bead> [target]
      if (formula)
        throw new UsageError(
          'with --on, the formula is the first argument: gt sling FORMULA --on BEAD [target]',
        );
      if (positionals.length > 2) throw new UsageError('usage: gt sling FORMULA --on BEAD [target]');
      formula = positionals[0];
      beads = [values.on];
      target = positionals[1];
    } else ({ beads, target } = w.splitSlingArgs(town, positionals));
    const r = await w.sling(town, {
      cwd: ctx.cwd,
      beads,
      target,
      force: values.force,
      agent: values.agent,
      formula,
      vars: w.parseVars(values.var),
      args: values.args,
      hookRawBead: values['hook-raw-bead'],
      noConvoy: values['no-convoy'],
      merge: values['no-merge']
        ? values.merge
          ? (() => {
              throw new UsageError('--merge and --no-merge exclude each other');
            })()
          : 'no_merge'
        : values.merge,
      baseBranch: values['base-branch'],
      dryRun: values['dry-run'],
      noStart: values['no-start'],
      env: envWithActor(ctx),
    });
    for (const m of r.warnings) ctx.warn(`warning: ${m}`);
    const c = ctx.color;
    const lines: string[] = [];
    if (r.dry_run) lines.push(c.dim('dry run: nothing written'));
    for (const it of r.items) {
      if (it.action === 'already-hooked') {
        lines.push(`${c.dim('=')} ${it.bead} is already on ${it.agent}'s hook`);
        continue;
      }
      if (it.action === 'scheduled' || it.action === 'already-scheduled') {
        lines.push(
          `${c.yellow('⏳')} ${it.bead} ${it.action === 'scheduled' ? 'scheduled' : 'already scheduled'} for ${it.agent} (sling context ${it.context}); \`gt scheduler run\` dispatches it when there is capacity`,
        );
        continue;
      }
      const mark = it.action === 'planned' ? c.yellow('→') : c.green('✓');
      lines.push(
        `${mark} ${it.bead} ${it.title ? `"${it.title}" ` : ''}→ ${it.agent}${it.forced_from ? ` (taken from ${it.forced_from})` : ''}`,
      );
      if (it.polecat)
        lines.push(
          `    polecat ${it.polecat.name}${it.polecat.reused ? ' (reused)' : ''}: ${it.polecat.worktree} on ${it.polecat.branch} from ${it.polecat.base}`,
        );
      if (it.molecule || it.formula) lines.push(`    molecule ${it.molecule ?? '(new)'} (${it.formula})`);
      if (it.session) lines.push(`    session ${it.session.name} ${it.session.action} (${it.session.agent})`);
    }
    if (r.convoy) lines.push(`${c.green('✓')} convoy ${r.convoy}`);
    return { data: r, text: lines.join('\n') };
  },
};

const respawnResetCommand: CommandDef = {
  name: 'respawn-reset',
  summary: 'Clear a bead’s respawn circuit breaker (operational.polecat.respawn_limit)',
  usage: 'gt sling respawn-reset <bead>',
  args: [1, 1],
  async run(ctx, { positionals }) {
    const town = requireTown(ctx.cwd);
    const r = await (await work()).respawnReset(town, positionals[0], envWithActor(ctx));
    return { data: r, text: `${ctx.color.green('✓')} ${r.bead}: respawn count ${r.was} → 0` };
  },
};
slingCommand.sub = [respawnResetCommand];

export const unslingCommand: CommandDef = {
  name: 'unsling',
  summary: 'Take a bead off an agent’s hook: back to open, no assignee',
  usage: 'gt unsling <bead> [agent] [--force]',
  args: [1, 2],
  options: { force: { type: 'boolean', short: 'f', desc: 'even when the bead is hooked by another agent' } },
  async run(ctx, { values, positionals }) {
    const town = requireTown(ctx.cwd);
    const r = await (await work()).unsling(town, {
      cwd: ctx.cwd,
      bead: positionals[0],
      target: positionals[1],
      force: values.force,
      env: envWithActor(ctx),
    });
    const text = r.changed
      ? `${ctx.color.green('✓')} ${r.bead} unslung${r.from ? ` from ${r.from}` : ''}`
      : `${r.bead} is not on a hook`;
    return { data: r, text };
  },
};

export const releaseCommand: CommandDef = {
  name: 'release',
  summary: 'Give back the bead on your hook (the worker’s side of unsling)',
  usage: 'gt release <bead> [--force]',
  args: [1, 1],
  options: { force: { type: 'boolean', short: 'f', desc: 'even when it is hooked by another agent' } },
  async run(ctx, { values, positionals }) {
    const town = requireTown(ctx.cwd);
    const r = await (await work()).unsling(town, {
      cwd: ctx.cwd,
      bead: positionals[0],
      release: true,
      force: values.force,
      env: envWithActor(ctx),
    });
    const text = r.changed
      ? `${ctx.color.green('✓')} ${r.bead} released${r.from ? ` by ${r.from}` : ''}`
      : `${r.bead} is not on a hook`;
    return { data: r, text };
  },
};

async function showHook(ctx: Ctx, target?: string) {
  const town = requireTown(ctx.cwd);
  const st = await (await work()).hookStatus(town, { cwd: ctx.cwd, target, env: envWithActor(ctx) });
  const text = st.bead
    ? `${st.agent}: ${st.bead} "${st.title}" (${st.status})${st.molecule ? `\n  molecule ${st.molecule}${st.formula ? ` (${st.formula})` : ''}` : ''}`
    : `${st.agent}: nothing on the hook`;
  return { data: st, text };
}

async function clearIt(ctx: Ctx, target?: string) {
  const town = requireTown(ctx.cwd);
  const r = await (await work()).hookClear(town, { cwd: ctx.cwd, target, env: envWithActor(ctx) });
  const text = r.bead
    ? `${ctx.color.green('✓')} ${r.bead} taken off ${r.from}'s hook`
    : `${r.from}: nothing on the hook`;
  return { data: r, text };
}

export const hookCommand: CommandDef = {
  name: 'hook',
  summary: 'Your hook: show what is on it, attach a bead, detach it',
  usage: 'gt hook [status|show [agent]|attach <bead> [agent]|detach [agent]|clear [agent]]',
  args: [0, 0],
  run: (ctx) => showHook(ctx),
  sub: [
    {
      name: 'status',
      summary: 'What is on your hook',
      usage: 'gt hook status [agent]',
      args: [0, 1],
      run: (ctx, { positionals }) => showHook(ctx, positionals[0]),
    },
    {
      name: 'show',
      summary: 'What is on an agent’s hook (yours by default)',
      usage: 'gt hook show [agent]',
      args: [0, 1],
      run: (ctx, { positionals }) => showHook(ctx, positionals[0]),
    },
    {
      name: 'attach',
      summary: 'Hook a bead directly (no polecat, no molecule)',
      usage: 'gt hook attach <bead> [agent] [--force]',
      args: [1, 2],
      options: { force: { type: 'boolean', short: 'f', desc: 'take it from another agent' } },
      async run(ctx, { values, positionals }) {
        const town = requireTown(ctx.cwd);
        const st = await (await work()).hookAttach(town, {
          cwd: ctx.cwd,
          bead: positionals[0],
          target: positionals[1],
          force: values.force,
          env: envWithActor(ctx),
        });
        return { data: st, text: `${ctx.color.green('✓')} ${st.bead} on ${st.agent}'s hook` };
      },
    },
    {
      name: 'detach',
      summary: 'Take the bead off the hook (back to open)',
      usage: 'gt hook detach [agent]',
      args: [0, 1],
      run: (ctx, { positionals }) => clearIt(ctx, positionals[0]),
    },
    {
      name: 'clear',
      summary: 'Same as detach',
      usage: 'gt hook clear [agent]',
      args: [0, 1],
      run: (ctx, { positionals }) => clearIt(ctx, positionals[0]),
    },
  ],
};

export const slingCommands: CommandDef[] = [slingCommand, unslingCommand, releaseCommand, hookCommand];
