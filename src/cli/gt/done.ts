// gt done [--status COMPLETED|ESCALATED|DEFERRED] [--issue ID] [--target BRANCH]: a polecat's
// completion (src/work/done.ts; loaded lazily). `--issue` also resubmits an older issue after a
// failed merge (run on that issue's branch).
import { requireTown } from '../../town/paths.ts';
import type { CommandDef } from '../framework.ts';

export const doneCommand: CommandDef = {
  name: 'done',
  summary:
    'Polecats: hand in your branch (a merge request, or the merge strategy slung with: direct, local, no_merge), notify, go idle',
  usage: 'gt done [--status COMPLETED|ESCALATED|DEFERRED] [--issue ID] [--target BRANCH] [--json]',
  args: [0, 0],
  options: {
    status: { type: 'string', arg: 'EXIT', desc: 'exit type: COMPLETED (default), ESCALATED or DEFERRED' },
    issue: {
      type: 'string',
      arg: 'ID',
      desc: 'the issue finished (default: the hook, then the branch name); resubmits after MERGE_FAILED',
    },
    target: {
      type: 'string',
      arg: 'BRANCH',
      desc: "the branch to merge into (default: the rig's default branch)",
    },
  },
  async run(ctx, { values }) {
    const { done } = await import('../../work/done.ts');
    const r = await done(requireTown(ctx.cwd), {
      cwd: ctx.cwd,
      status: values.status,
      issue: values.issue,
      target: values.target,
    });
    for (const w of r.warnings) ctx.warn(`warning: ${w}`);
    const c = ctx.color;
    const lines: string[] = [];
    if (r.no_changes)
      lines.push(`${c.green('✓')} ${r.issue}: no changes on ${r.branch}; closed (no-changes)`);
    if (r.pushed) lines.push(`${c.green('✓')} ${r.branch} pushed (${r.commit_sha.slice(0, 12)})`);
    if (r.merged_sha)
      lines.push(
        `${c.green('✓')} ${r.branch} merged directly into ${r.target} as ${r.merged_sha.slice(0, 12)}; ${r.issue} closed`,
      );
    if (r.exit === 'COMPLETED' && !r.no_changes && r.strategy === 'local')
      lines.push(
        `${c.green('✓')} ${r.branch} kept in the rig's repository for a human to merge; ${r.issue} closed`,
      );
    if (r.exit === 'COMPLETED' && !r.no_changes && r.strategy === 'no_merge')
      lines.push(
        `${c.green('✓')} ${r.branch} pushed for review; ${r.issue} stays open (reviewer: ${r.notified.reviewer ?? 'none'})`,
      );
    if (r.mr)
      lines.push(
        `${c.green('✓')} merge request ${r.mr}${r.mr_reused ? ' (already filed)' : ''}: ${r.branch} → ${r.target}; ${r.issue} stays open until it merges`,
      );
    if (r.superseded.length) lines.push(`  superseded: ${r.superseded.join(', ')}`);
    if (r.escalation) lines.push(`${c.yellow('!')} escalation ${r.escalation} raised (high) for ${r.issue}`);
    if (r.exit === 'DEFERRED') lines.push(`${c.green('✓')} ${r.issue} stays on your hook (DEFERRED)`);
    lines.push(`  refinery: ${r.notified.refinery}; witness: ${r.notified.witness}`);
    lines.push(`  sandbox: ${r.sandbox}`);
    lines.push(
      `${c.green('✓')} ${r.exit}: you are ${r.exit === 'ESCALATED' ? 'stuck (waiting for help)' : 'idle'}`,
    );
    return {
      data: r,
      text: lines.join('\n'),
    };
  },
};
