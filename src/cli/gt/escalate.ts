// gt escalate "description" [-s severity] [--reason] [--related BEAD] [--source TYPE:NAME]
// and gt escalate list|show|ack|close|stale (spec §1.6, §4). The work is in src/escalation.
import fs from 'node:fs';
import { UsageError } from '../../errors.ts';
import {
  ackEscalation,
  closeEscalation,
  createEscalation,
  listEscalations,
  showEscalation,
  staleEscalations,
} from '../../escalation/escalate.ts';
import type { EscalationView } from '../../escalation/model.ts';
import { requireTown } from '../../town/paths.ts';
import type { ColorFns, CommandDef, Ctx } from '../framework.ts';

function sevText(c: ColorFns, s: string): string {
  const t = s.toUpperCase();
  return s === 'critical'
    ? c.red(c.bold(t))
    : s === 'high'
      ? c.red(t)
      : s === 'medium'
        ? c.yellow(t)
        : c.dim(t);
}

function line(c: ColorFns, e: EscalationView): string {
  const flags = [
    e.status === 'closed' ? 'closed' : e.acknowledged ? `acked by ${e.acked_by}` : 'unacked',
    ...(e.reescalation_count ? [`re-escalated ×${e.reescalation_count}`] : []),
  ];
  return `${c.cyan(e.id)} ${sevText(c, e.severity).padEnd(8)} ${e.title}  ${c.dim(`(${flags.join(', ')}; ${e.source})`)}`;
}

function detail(c: ColorFns, e: EscalationView): string {
  const lines = [
    `${c.cyan(e.id)} ${sevText(c, e.severity)} ${c.bold(e.title)} [${e.status}]`,
    `source: ${e.source} · created ${e.created_at} by ${e.created_by ?? '?'}`,
    `acknowledged: ${e.acknowledged ? `yes, by ${e.acked_by} at ${e.acked_at}` : 'no'} · re-escalations: ${e.reescalation_count}${e.original_severity !== e.severity ? ` (originally ${e.original_severity})` : ''}`,
  ];
  if (e.reason) lines.push(`reason: ${e.reason}`);
  if (e.related.length) lines.push(`related: ${e.related.join(', ')}`);
  if (e.close_reason) lines.push(`closed ${e.closed_at}: ${e.close_reason}`);
  if (e.description && e.description !== e.title) lines.push('', e.description);
  if (e.comments.length) {
    lines.push('', c.bold('Handling'));
    for (const m of e.comments) lines.push(`  ${c.dim(m.created_at)} ${m.author}: ${m.text}`);
  }
  return lines.join('\n');
}

function opts(ctx: Ctx) {
  return ctx.actor ? { actor: ctx.actor } : {};
}

const list: CommandDef = {
  name: 'list',
  aliases: ['ls'],
  summary: 'Open escalations, most severe first (--all: closed too)',
  usage: 'gt escalate list [--all] [--severity S] [--json]',
  options: {
    all: { type: 'boolean', desc: 'include closed escalations' },
    severity: { type: 'string', short: 's', arg: 'S', desc: 'only this severity' },
  },
  async run(ctx, { values }) {
    const items = await listEscalations(requireTown(ctx.cwd), {
      ...opts(ctx),
      all: values.all,
      severity: values.severity,
    });
    const text = items.length ? items.map((e) => line(ctx.color, e)).join('\n') : 'No escalations.';
    return { data: items, text };
  },
};

const show: CommandDef = {
  name: 'show',
  summary: 'One escalation with its handling chain',
  usage: 'gt escalate show ID [--json]',
  args: [1, 1],
  async run(ctx, { positionals }) {
    const e = await showEscalation(requireTown(ctx.cwd), positionals[0], opts(ctx));
    return { data: e, text: detail(ctx.color, e) };
  },
};

const ack: CommandDef = {
  name: 'ack',
  summary: 'Acknowledge an escalation (stops re-escalation)',
  usage: 'gt escalate ack ID [--json]',
  args: [1, 1],
  async run(ctx, { positionals }) {
    const e = await ackEscalation(requireTown(ctx.cwd), positionals[0], opts(ctx));
    return { data: e, text: `✓ acknowledged ${e.id}` };
  },
};

const close: CommandDef = {
  name: 'close',
  summary: 'Close an escalation',
  usage: 'gt escalate close ID [--reason TEXT] [--json]',
  args: [1, 1],
  options: { reason: { type: 'string', short: 'r', arg: 'TEXT', desc: 'why it is resolved' } },
  async run(ctx, { positionals, values }) {
    const e = await closeEscalation(requireTown(ctx.cwd), positionals[0], values.reason, opts(ctx));
    return { data: e, text: `✓ closed ${e.id}${e.close_reason ? `: ${e.close_reason}` : ''}` };
  },
};

const stale: CommandDef = {
  name: 'stale',
  summary: 'Re-escalate unacknowledged escalations older than stale_threshold',
  usage: 'gt escalate stale [--dry-run] [--json]',
  options: { 'dry-run': { type: 'boolean', desc: 'show what would be re-escalated, change nothing' } },
  async run(ctx, { values }) {
    const r = await staleEscalations(requireTown(ctx.cwd), { ...opts(ctx), dryRun: values['dry-run'] });
    const c = ctx.color;
    const lines = r.entries.map((x) => {
      const what =
        x.outcome === 'max_reached'
          ? c.dim(`left at ${x.from}: max re-escalations (${r.max_reescalations}) reached`)
          : `${x.from} → ${x.to} (${x.reescalation_count}/${r.max_reescalations})${x.outcome === 'would_reescalate' ? c.dim(' (dry run)') : ''}`;
      const failed = x.actions.filter((a) => !a.ok);
      return `${c.cyan(x.id)} ${x.title}: ${what}${failed.length ? c.red(`; ${failed.length} action(s) failed`) : ''}`;
    });
    const text = lines.length
      ? lines.join('\n')
      : `No stale escalations (${r.checked} open, threshold ${r.threshold}).`;
    return { data: r, text };
  },
};

export const escalateCommand: CommandDef = {
  name: 'escalate',
  summary:
    'Raise an escalation (severity-routed: bead, mail, log, webhook, email, sms); list/show/ack/close/stale',
  usage:
    'gt escalate "description" [-s low|medium|high|critical] [--reason TEXT] [--related BEAD] [--source TYPE:NAME] [--stdin] [--dry-run] [--json]',
  args: [0, 1],
  options: {
    severity: { type: 'string', short: 's', arg: 'LEVEL', desc: 'low, medium (default), high or critical' },
    reason: { type: 'string', short: 'r', arg: 'TEXT', desc: 'why this needs attention' },
    related: { type: 'string', multiple: true, arg: 'BEAD', desc: 'a bead this is about' },
    source: {
      type: 'string',
      arg: 'TYPE:NAME',
      desc: 'who raises it, e.g. plugin:rebuild-gt (default agent:<you>)',
    },
    stdin: { type: 'boolean', desc: 'read the description from stdin' },
    'dry-run': { type: 'boolean', desc: 'validate and show the route, write and send nothing' },
  },
  sub: [list, show, ack, close, stale],
  async run(ctx, { positionals, values }) {
    let description = positionals[0];
    if (values.stdin) {
      if (description !== undefined)
        throw new UsageError('give the description as an argument or --stdin, not both');
      description = fs.readFileSync(0, 'utf8');
    }
    if (!description?.trim()) {
      throw new UsageError('an escalation needs a description: gt escalate "build is red on main" -s high');
    }
    const r = await createEscalation(
      requireTown(ctx.cwd),
      {
        description,
        severity: values.severity,
        reason: values.reason,
        related: values.related,
        source: values.source,
        dryRun: values['dry-run'],
      },
      opts(ctx),
    );
    const c = ctx.color;
    const e = r.escalation;
    const lines = [
      r.dry_run
        ? `Would escalate (${sevText(c, e.severity)}): ${e.title}; route: ${r.route.join(', ')}`
        : `✓ escalated ${c.cyan(e.id)} (${sevText(c, e.severity)}): ${e.title}`,
      ...r.actions.map((a) => `  ${a.ok ? c.green('✓') : c.red('✗')} ${a.action}: ${a.detail}`),
    ];
    for (const a of r.actions) if (!a.ok) ctx.warn(`warning: action ${a.action} failed: ${a.detail}`);
    return { data: r, text: lines.join('\n') };
  },
};
