// gt scheduler status|list|run|pause|resume|clear (spec §1.9, §6): the capacity governor's queue
// of sling contexts (src/patrol/scheduler.ts; loaded lazily). Every command takes --json.
import { UsageError } from '../../errors.ts';
import { requireTown } from '../../town/paths.ts';
import type { CommandDef, Ctx } from '../framework.ts';

const mod = () => import('../../patrol/scheduler.ts');

function envOf(ctx: Ctx): NodeJS.ProcessEnv {
  return ctx.actor && !process.env.BD_ACTOR ? { ...process.env, BD_ACTOR: ctx.actor } : process.env;
}

function actorOf(ctx: Ctx): string {
  const env = envOf(ctx);
  return env.BD_ACTOR || env.GT_ROLE || 'overseer';
}

const status: CommandDef = {
  name: 'status',
  summary: 'Paused?, queued and ready contexts, capacity and working polecats',
  usage: 'gt scheduler status [--json]',
  args: [0, 0],
  async run(ctx) {
    const s = await (await mod()).schedulerStatus(requireTown(ctx.cwd), envOf(ctx));
    const c = ctx.color;
    const lines = [
      `${c.bold('scheduler')} ${s.paused ? c.yellow(`paused${s.paused_by ? ` by ${s.paused_by}` : ''}${s.paused_at ? ` at ${s.paused_at}` : ''}`) : 'running'}; ${s.deferring ? `deferring (max_polecats ${s.max_polecats})` : 'off: gt sling dispatches at once (scheduler.max_polecats ≤ 0)'}`,
      `  polecats working ${s.active_polecats}, capacity ${s.capacity}, batch ${s.batch_size}, spawn delay ${s.spawn_delay_ms} ms`,
      `  queued ${s.queued}: ${s.ready} ready, ${s.blocked} blocked`,
    ];
    for (const [rig, n] of Object.entries(s.by_rig))
      lines.push(`  ${rig}: ${n.queued} queued, ${n.ready} ready, ${n.blocked} blocked`);
    return { data: s, text: lines.join('\n') };
  },
};

const list: CommandDef = {
  name: 'list',
  summary: 'Sling contexts by rig, with a blocked indicator',
  usage: 'gt scheduler list [--all] [--json]',
  args: [0, 0],
  options: { all: { type: 'boolean', desc: 'closed contexts too (dispatched, circuit-broken, cleared)' } },
  async run(ctx, { values }) {
    const rows = await (await mod()).schedulerList(requireTown(ctx.cwd), {
      all: values.all,
      env: envOf(ctx),
    });
    const c = ctx.color;
    const byRig = new Map<string, typeof rows>();
    for (const r of rows) byRig.set(r.context.target_rig, [...(byRig.get(r.context.target_rig) ?? []), r]);
    const lines: string[] = [];
    for (const [rig, rs] of byRig) {
      lines.push(c.bold(`${rig} (${rs.length})`));
      for (const r of rs) {
        const state =
          r.status === 'closed'
            ? c.dim(r.close_reason ?? 'closed')
            : r.ready
              ? c.green('ready')
              : c.yellow(`blocked (${r.work_status ?? 'missing'})`);
        const fails = r.context.dispatch_failures ? c.red(` failures ${r.context.dispatch_failures}`) : '';
        lines.push(
          `  ${r.id} → ${r.context.work_bead_id} P${r.priority} ${r.work_title ?? ''}  ${state}${fails}`,
        );
      }
    }
    return { data: rows, text: lines.length ? lines.join('\n') : 'Nothing scheduled.' };
  },
};

const runCmd: CommandDef = {
  name: 'run',
  summary: 'One dispatch cycle: sling ready contexts up to capacity and the batch size',
  usage: 'gt scheduler run [--batch N] [--dry-run] [--json]',
  args: [0, 0],
  options: {
    batch: { type: 'string', arg: 'N', desc: 'contexts to dispatch at most (default scheduler.batch_size)' },
    'dry-run': { type: 'boolean', short: 'n', desc: 'show what would be dispatched, change nothing' },
  },
  async run(ctx, { values }) {
    let batch: number | undefined;
    if (values.batch !== undefined) {
      if (!/^\d+$/.test(values.batch) || Number(values.batch) < 1)
        throw new UsageError(`--batch must be a whole number of at least 1, not "${values.batch}"`);
      batch = Number(values.batch);
    }
    const r = await (await mod()).schedulerRun(requireTown(ctx.cwd), {
      batch,
      dryRun: values['dry-run'],
      env: envOf(ctx),
    });
    const c = ctx.color;
    const lines: string[] = [];
    if (r.skipped) lines.push(c.yellow(`skipped: ${r.skipped}`));
    else {
      lines.push(
        `${r.dry_run ? c.dim('dry run: ') : ''}capacity ${r.capacity < 0 ? 'unlimited' : r.capacity} (working ${r.active_polecats}), batch ${r.batch}, ready ${r.ready}`,
      );
      if (r.dry_run)
        for (const p of r.planned) lines.push(`${c.yellow('→')} ${p.bead} → ${p.rig} (${p.context})`);
      for (const d of r.dispatched)
        lines.push(
          `${c.green('✓')} ${d.bead} → ${d.polecat ?? d.rig}${d.session ? ` (session ${d.session})` : ''}`,
        );
      for (const f of r.failed)
        lines.push(
          `${c.red('✗')} ${f.bead} → ${f.rig}: ${f.error}${f.circuit_broken ? ' (circuit-broken: sling it again to retry)' : ` (failure ${f.dispatch_failures})`}`,
        );
      for (const id of r.cleared) lines.push(`${c.dim('-')} ${id} cleared: its work bead is closed`);
      if (!r.dry_run && r.dispatched.length === 0 && r.failed.length === 0) lines.push('Nothing dispatched.');
    }
    return { data: r, text: lines.join('\n') };
  },
};

const pause: CommandDef = {
  name: 'pause',
  summary: 'Stop dispatching town-wide (.runtime/scheduler-state.json)',
  usage: 'gt scheduler pause [--json]',
  args: [0, 0],
  async run(ctx) {
    const s = (await mod()).setPaused(requireTown(ctx.cwd), true, actorOf(ctx));
    return { data: s, text: `${ctx.color.yellow('⏸')} scheduler paused${s.changed ? '' : ' (already)'}` };
  },
};

const resume: CommandDef = {
  name: 'resume',
  summary: 'Dispatch again after a pause',
  usage: 'gt scheduler resume [--json]',
  args: [0, 0],
  async run(ctx) {
    const s = (await mod()).setPaused(requireTown(ctx.cwd), false, actorOf(ctx));
    return {
      data: s,
      text: `${ctx.color.green('▶')} scheduler running${s.changed ? '' : ' (was not paused)'}`,
    };
  },
};

const clear: CommandDef = {
  name: 'clear',
  summary: 'Close sling contexts (all, or the one of --bead) as cleared',
  usage: 'gt scheduler clear [--bead ID] [--json]',
  args: [0, 0],
  options: {
    bead: { type: 'string', arg: 'ID', desc: 'only the context of this work bead (or this context)' },
  },
  async run(ctx, { values }) {
    const r = await (await mod()).schedulerClear(requireTown(ctx.cwd), {
      bead: values.bead,
      env: envOf(ctx),
    });
    return {
      data: r,
      text: r.cleared.length
        ? `${ctx.color.green('✓')} cleared ${r.cleared.join(', ')}`
        : 'Nothing to clear.',
    };
  },
};

export const schedulerCommand: CommandDef = {
  name: 'scheduler',
  summary: 'The polecat capacity governor: queued slings, dispatch cycles, pause/resume',
  usage: 'gt scheduler status|list|run|pause|resume|clear',
  sub: [status, list, runCmd, pause, resume, clear],
};
