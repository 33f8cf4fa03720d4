// gt mq list|status|next|retry|reject|submit|process (spec §1.7, §2.11): the merge queue. The
// engine is src/refinery (loaded lazily); this renders it. Every command takes --json.

import { requireTown } from '../../town/paths.ts';
import { resolveRig } from '../../town/rigs.ts';
import type { CommandDef, Ctx } from '../framework.ts';

interface Entry {
  id: string;
  score: number;
  ready: boolean;
  waiting?: string;
  branch: string;
  target: string;
  source_issue: string;
  worker: string;
  retry_count: number;
  rig: string;
}

function row(ctx: Ctx, e: Entry): string {
  const mark = e.ready ? ctx.color.green('●') : ctx.color.dim('○');
  const why = e.waiting ? ctx.color.dim(`  (${e.waiting})`) : '';
  return `${mark} ${e.id}  ${e.score.toFixed(1).padStart(7)}  ${e.source_issue}  ${e.branch} → ${e.target}  ${e.worker}${e.retry_count ? `  retries ${e.retry_count}` : ''}${why}`;
}

/** An optional rig argument: named → must exist; none → the rig of cwd, else every rig. */
function rigArg(root: string, ctx: Ctx, given: string | undefined): string | undefined {
  if (given) return resolveRig(root, ctx.cwd, given);
  try {
    return resolveRig(root, ctx.cwd);
  } catch {
    return undefined;
  }
}

const list: CommandDef = {
  name: 'list',
  summary: 'Show the merge queue, score-ordered (ready first)',
  usage: 'gt mq list [rig] [--ready] [--json]',
  args: [0, 1],
  options: { ready: { type: 'boolean', desc: 'only MRs the refinery would take now' } },
  async run(ctx, { values, positionals }) {
    const root = requireTown(ctx.cwd);
    const { mqList } = await import('../../refinery/ops.ts');
    const rows = await mqList(root, { rig: rigArg(root, ctx, positionals[0]), ready: !!values.ready });
    const data = rows.map(({ mrCreatedMs: _ms, ...e }) => e);
    return {
      data,
      text: rows.length ? rows.map((e) => row(ctx, e)).join('\n') : 'the merge queue is empty',
    };
  },
};

const next: CommandDef = {
  name: 'next',
  summary: 'The MR the refinery takes next',
  usage: 'gt mq next [rig] [--json]',
  args: [0, 1],
  async run(ctx, { positionals }) {
    const root = requireTown(ctx.cwd);
    const { mqList } = await import('../../refinery/ops.ts');
    const rows = await mqList(root, { rig: rigArg(root, ctx, positionals[0]), ready: true });
    const first = rows[0] ? (({ mrCreatedMs: _ms, ...e }) => e)(rows[0]) : null;
    return {
      data: first,
      text: rows[0] ? row(ctx, rows[0]) : 'nothing is ready to merge',
      exitCode: rows[0] ? 0 : 1,
    };
  },
};

const status: CommandDef = {
  name: 'status',
  summary: 'One merge request: state, queue position reason, last failure',
  usage: 'gt mq status <mr> [--json]',
  args: [1, 1],
  async run(ctx, { positionals }) {
    const root = requireTown(ctx.cwd);
    const { mqStatus } = await import('../../refinery/ops.ts');
    const r = await mqStatus(root, positionals[0]);
    const m = (r.mr.metadata ?? {}) as Record<string, unknown>;
    const lines = [
      `${r.mr.id}: ${r.mr.title} [${r.mr.status}${r.mr.close_reason ? `: ${r.mr.close_reason}` : ''}]`,
      `  ${String(m.branch)} → ${String(m.target)} (${String(m.rig)}), by ${String(m.worker)}`,
      `  retries ${Number(m.retry_count ?? 0)}${m.merge_commit ? `; merged as ${String(m.merge_commit).slice(0, 12)}` : ''}`,
    ];
    if (r.entry)
      lines.push(`  score ${r.entry.score.toFixed(1)}; ${r.entry.ready ? 'ready' : r.entry.waiting}`);
    if (m.last_failure)
      lines.push(`  last failure (${String(m.last_failure_type)}):\n${String(m.last_failure)}`);
    const entry = r.entry ? (({ mrCreatedMs: _ms, ...e }) => e)(r.entry) : null;
    return { data: { mr: r.mr, queue: entry }, text: lines.join('\n') };
  },
};

const retry: CommandDef = {
  name: 'retry',
  summary: 'Clear a failed MR’s mark so the refinery tries it again',
  usage: 'gt mq retry <mr> [--json]',
  args: [1, 1],
  async run(ctx, { positionals }) {
    const { mqRetry } = await import('../../refinery/ops.ts');
    const b = await mqRetry(requireTown(ctx.cwd), positionals[0], { actor: ctx.actor });
    return { data: b, text: `${ctx.color.green('✓')} ${b.id} is back in the queue` };
  },
};

const reject: CommandDef = {
  name: 'reject',
  summary: 'Close an MR as rejected and tell its polecat',
  usage: 'gt mq reject <mr> [--reason TEXT] [--json]',
  args: [1, 1],
  options: { reason: { type: 'string', arg: 'TEXT', desc: 'why (recorded and sent to the polecat)' } },
  async run(ctx, { values, positionals }) {
    const { mqReject } = await import('../../refinery/ops.ts');
    const r = await mqReject(requireTown(ctx.cwd), positionals[0], {
      reason: values.reason,
      actor: ctx.actor,
    });
    return {
      data: r,
      text: `${ctx.color.green('✓')} ${r.mr.id} rejected (${r.mr.close_reason}); ${r.notified}`,
    };
  },
};

const submit: CommandDef = {
  name: 'submit',
  summary: 'File a merge request for the current branch (what gt done does, alone)',
  usage: 'gt mq submit [--branch NAME] [--issue ID] [--target BRANCH] [--rig RIG] [--json]',
  args: [0, 0],
  options: {
    branch: { type: 'string', arg: 'NAME', desc: 'the branch (default: the current one)' },
    issue: { type: 'string', arg: 'ID', desc: 'the issue it finishes (default: from the branch name)' },
    target: { type: 'string', arg: 'BRANCH', desc: "the branch to merge into (default: the rig's default)" },
    rig: { type: 'string', arg: 'RIG', desc: 'the rig (default: the one you are in)' },
  },
  async run(ctx, { values }) {
    const root = requireTown(ctx.cwd);
    const { mqSubmit } = await import('../../refinery/ops.ts');
    const r = await mqSubmit(root, {
      cwd: ctx.cwd,
      rig: resolveRig(root, ctx.cwd, values.rig),
      branch: values.branch,
      issue: values.issue,
      target: values.target,
      ...(ctx.actor ? { actor: ctx.actor } : {}),
    });
    return {
      data: r,
      text: `${ctx.color.green('✓')} merge request ${r.mr}${r.reused ? ' (already filed)' : ''}: ${r.branch} → ${r.target} for ${r.issue}${r.superseded.length ? `; superseded ${r.superseded.join(', ')}` : ''}`,
    };
  },
};

const processCmd: CommandDef = {
  name: 'process',
  summary: 'Run the refinery once: merge what is ready (the mechanical patrol)',
  usage: 'gt mq process [rig] [--json]',
  args: [0, 1],
  async run(ctx, { positionals }) {
    const root = requireTown(ctx.cwd);
    const { refineryTick } = await import('../../refinery/engine.ts');
    const rig = positionals[0] ? resolveRig(root, ctx.cwd, positionals[0]) : undefined;
    const r = await refineryTick(root, { ...(rig ? { rig } : {}), noWait: true });
    const lines: string[] = [];
    let failures = 0;
    for (const [name, rep] of Object.entries(r.rigs)) {
      if (rep.skipped) {
        lines.push(`${name}: skipped (${rep.skipped})`);
        if (rep.error) failures++;
        continue;
      }
      lines.push(
        `${name}: merged ${rep.merged.length ? rep.merged.join(', ') : 'nothing'}${rep.conflicts.length ? `; conflicts ${rep.conflicts.join(', ')}` : ''}`,
      );
      for (const f of rep.failed) lines.push(`  ${ctx.color.red('✗')} ${f.mr}: ${f.reason}`);
      for (const t of rep.tasks ?? [])
        lines.push(
          `  task ${t.task} for ${t.mr}${t.slung_to ? ` → ${t.slung_to}` : ''}${t.sling_error ? ` (not slung: ${t.sling_error})` : ''}`,
        );
      for (const n of rep.notes ?? []) lines.push(`  ${ctx.color.dim(n)}`);
    }
    return { data: r, text: lines.join('\n') || 'no rigs', exitCode: failures ? 1 : 0 };
  },
};

export const mqCommand: CommandDef = {
  name: 'mq',
  summary: 'The merge queue: list, status, next, retry, reject, submit, process',
  usage: 'gt mq list|status|next|retry|reject|submit|process',
  sub: [list, status, next, retry, reject, submit, processCmd],
};
