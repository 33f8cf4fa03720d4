// gt patrol scan|clear-backoff: the witness detectors of spec §5.4 run once (src/patrol/witness.ts,
// loaded lazily). The patrol daemon runs the same pass on every tick and acts on it; `scan`
// only reports unless --act is given.
import { requireTown } from '../../town/paths.ts';
import type { CommandDef, Ctx } from '../framework.ts';

function findingLine(
  ctx: Ctx,
  f: { kind: string; agent: string; bead?: string; detail: string; action: string },
) {
  const mark = f.action === 'none' ? ctx.color.dim('·') : ctx.color.yellow('!');
  return `${mark} ${ctx.color.bold(f.kind)} ${f.agent}${f.bead ? ` ${f.bead}` : ''}: ${f.detail} → ${f.action}`;
}

const scan: CommandDef = {
  name: 'scan',
  summary: 'Run the witness detectors once and report (the daemon acts on them; --act acts now)',
  usage: 'gt patrol scan [--rig R] [--act] [--json]',
  args: [0, 0],
  options: {
    rig: { type: 'string', arg: 'R', desc: 'only this rig (default: every rig)' },
    act: {
      type: 'boolean',
      desc: 'act on the findings now (restart, recover beads, nudge, escalate) as the daemon does on each tick',
    },
  },
  async run(ctx, { values }) {
    const root = requireTown(ctx.cwd);
    if (values.rig) {
      // An unknown rig is a usage problem, not a patrol finding.
      const { getRig } = await import('../../town/rigs.ts');
      getRig(root, values.rig);
    }
    const { witnessTick } = await import('../../patrol/witness.ts');
    const r = await witnessTick(root, { rig: values.rig, act: !!values.act });
    const lines: string[] = [];
    if (r.findings.length === 0) lines.push(`${ctx.color.green('✓')} no problems found`);
    for (const f of r.findings) lines.push(findingLine(ctx, f));
    for (const a of r.actions)
      lines.push(`  ${ctx.color.cyan('→')} ${a.kind} ${a.agent}${a.bead ? ` ${a.bead}` : ''}: ${a.result}`);
    if (!values.act && r.findings.some((f) => f.action !== 'none'))
      lines.push(
        ctx.color.dim('(report only: the patrol daemon acts on these; gt patrol scan --act acts now)'),
      );
    for (const e of r.errors) lines.push(`${ctx.color.red('✗')} ${e}`);
    return {
      data: { ...r, acted: !!values.act },
      text: lines.join('\n'),
      ...(r.errors.length ? { exitCode: 1 } : {}),
    };
  },
};

const clearBackoff: CommandDef = {
  name: 'clear-backoff',
  summary: "Forget an agent's restart backoff and crash loop so the witness restarts it again",
  usage: 'gt patrol clear-backoff <agent> [--json]',
  args: [1, 1],
  async run(ctx, { positionals }) {
    const root = requireTown(ctx.cwd);
    const { parseAgentAddress, targetOf } = await import('../../runtime/sessions.ts');
    const { agentStateFile, loadState, saveState } = await import('../../patrol/backoff.ts');
    const fs = await import('node:fs');
    const t = targetOf(root, parseAgentAddress(root, positionals[0]));
    const existed = fs.existsSync(agentStateFile(root, t.session));
    const was = existed ? loadState(root, t.address, t.session) : null;
    saveState(root, t.session, null);
    return {
      data: {
        agent: t.address,
        session: t.session,
        cleared: existed,
        restarts: was?.restarts.length ?? 0,
        crash_loop: !!was?.crash_loop,
      },
      text: existed
        ? `${ctx.color.green('✓')} ${t.address}: backoff${was?.crash_loop ? ' and crash loop' : ''} cleared`
        : `· ${t.address} had no restart backoff`,
    };
  },
};

export const patrolCommands: CommandDef[] = [
  {
    name: 'patrol',
    summary: 'Witness patrol: detect dead, hung and stuck agents and orphaned work',
    usage: 'gt patrol scan|clear-backoff',
    sub: [scan, clearBackoff],
  },
];
