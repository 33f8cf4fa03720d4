// gt status and gt doctor.
import { doctorTown } from '../../town/doctor.ts';
import { requireTown } from '../../town/paths.ts';
import { townStatus } from '../../town/status.ts';
import type { CommandDef } from '../framework.ts';

const status: CommandDef = {
  name: 'status',
  aliases: ['stat'],
  summary: 'The town at a glance: rigs, agents and their sessions, hooks, convoys in flight',
  usage: 'gt status [--json]',
  async run(ctx) {
    const s = await townStatus(requireTown(ctx.cwd));
    const c = ctx.color;
    const state = (v: string) => (v === 'alive' ? c.green(v) : v === 'zombie' ? c.red(v) : c.dim(v));
    const lines = [
      `${c.bold(s.town.name)} (${s.town.root}) · owner ${s.town.owner}`,
      `beads: ${s.counts.open} open, ${s.counts.ready} ready, ${s.counts.blocked} blocked, ${s.counts.in_progress} in progress, ${s.counts.hooked} hooked, ${s.counts.closed} closed`,
      s.daemon.running
        ? `daemon: ${c.green('running')} (pid ${s.daemon.pid}${s.daemon.last_tick ? `, last tick ${s.daemon.last_tick}` : ''})`
        : `daemon: ${c.dim('not running')} (gt daemon start, or gt up)`,
      '',
      c.bold(`Rigs (${s.rigs.length})`),
      ...s.rigs.map(
        (r) =>
          `  ${r.name} [${r.prefix}]${r.parked ? c.yellow(' parked') : ''}${r.docked ? c.yellow(' docked') : ''}  polecats: ${r.polecats.join(', ') || '-'}  merge queue: ${r.merge_queue}`,
      ),
      '',
      c.bold(`Agents (${s.agents.length})`),
      ...s.agents.map(
        (a) =>
          `  ${a.actor.padEnd(28)} ${a.agent_state.padEnd(9)} ${state(a.session_state).padEnd(7)} ${a.session ?? ''}${a.hook_bead ? `  hook: ${a.hook_bead}` : ''}`,
      ),
    ];
    if (s.hooks.length) {
      lines.push('', c.bold(`On hooks (${s.hooks.length})`));
      for (const h of s.hooks)
        lines.push(`  ${h.bead} ${h.title} → ${h.assignee}${h.progress ? ` (${h.progress})` : ''}`);
    }
    if (s.convoys.length) {
      lines.push('', c.bold(`Convoys (${s.convoys.length})`));
      for (const cv of s.convoys) lines.push(`  ${cv.id} ${cv.title}: ${cv.done}/${cv.tracked} done`);
    }
    for (const w of s.warnings) ctx.warn(`warning: ${w}`);
    return { data: s, text: lines.join('\n') };
  },
};

const doctor: CommandDef = {
  name: 'doctor',
  summary: 'Check the town: tools, town files, ledger, rig worktrees, sessions, stale files; --fix repairs',
  usage: 'gt doctor [--fix] [--json]',
  options: { fix: { type: 'boolean', desc: 'repair what is safe (never committed work)' } },
  async run(ctx, { values }) {
    const report = await doctorTown(requireTown(ctx.cwd), { fix: values.fix });
    const c = ctx.color;
    const mark = { ok: c.green('✓'), warn: c.yellow('!'), error: c.red('✗') } as const;
    const text = [
      ...report.checks.map(
        (k) =>
          `${mark[k.status]} ${k.id}: ${k.detail}${k.fixed ? c.green(' (fixed)') : ''}${k.fix && k.status !== 'ok' ? c.dim(`\n    fix: ${k.fix}`) : ''}`,
      ),
      '',
      `${report.counts.ok} ok, ${report.counts.warn} warnings, ${report.counts.error} errors`,
    ].join('\n');
    return { data: report, text, exitCode: report.ok ? 0 : 1 };
  },
};

export const statusCommands: CommandDef[] = [status, doctor];
