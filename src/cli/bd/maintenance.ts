// bd commands that look after the ledger itself: history (who changed a bead, when, and what)
// and doctor (health checks, with --fix for what is safe to repair).
import { runDoctor } from '../../beads/doctor.ts';
import { validateId } from '../../beads/ids.ts';
import { beadPath } from '../../beads/record.ts';
import { BeadStore, locate } from '../../beads/store.ts';
import type { Dependency } from '../../beads/types.ts';
import { NotFoundError } from '../../errors.ts';
import { loadCodec } from '../../ledger/codec.ts';
import type { Check } from '../../ledger/doctor.ts';
import { type DiffOptions, diffRecords, type FieldChange, recordHistory } from '../../ledger/history.ts';
import type { ColorFns, CommandDef } from '../framework.ts';
import { intFlag, withStore } from './common.ts';

// ---- history --------------------------------------------------------------------------------

/** How bead fields are compared: dependencies by "type:target", comments counted. */
export const BEAD_DIFF: DiffOptions = {
  ignore: ['updated_at', 'child_counter'],
  keyOf: {
    dependencies: (d: Dependency) => `${d.type}:${d.depends_on_id}`,
    comments: (c: { id?: string; created_at?: string; text?: string }) => c.id ?? `${c.created_at}:${c.text}`,
    bonded_from: (b: { source_id: string }) => b.source_id,
  },
  counted: ['comments'],
};

export interface HistoryItem {
  commit: string;
  author: { name: string; email: string };
  date: string;
  subject: string;
  action: 'created' | 'updated' | 'deleted';
  changes: FieldChange[];
  /** Set when a version of the record could not be read or parsed. */
  error?: string;
}

export interface BeadHistory {
  id: string;
  path: string;
  ref: string;
  /** True when the bead no longer exists at the ledger tip. */
  deleted: boolean;
  entries: HistoryItem[];
}

export function beadHistory(store: BeadStore, id: string, limit?: number): BeadHistory {
  const p = beadPath(id);
  const raw = recordHistory(store.ledger.commonDir, store.ledger.ref, p, { limit });
  const entries = raw.map((e): HistoryItem => {
    const errors = [e.beforeRecord.error, e.afterRecord.error].filter(Boolean);
    return {
      commit: e.commit,
      author: e.author,
      date: e.date,
      subject: e.subject,
      action: e.action,
      changes: errors.length ? [] : diffRecords(e.beforeRecord.data, e.afterRecord.data, BEAD_DIFF),
      ...(errors.length ? { error: `unparsable record: ${errors.join('; ')}` } : {}),
    };
  });
  const deleted = entries.length > 0 && !(p in store.ledger.snapshot().files);
  return { id, path: p, ref: store.ledger.ref, deleted, entries };
}

/** Fields the "created" line already says (or that every bead has). */
const CREATED_IMPLIED = new Set([
  'id',
  'title',
  'status',
  'priority',
  'issue_type',
  'created_at',
  'created_by',
  'owner',
]);

function renderHistory(h: BeadHistory, c: ColorFns): string {
  if (h.entries.length === 0) return `${h.id}: no history`;
  const lines = [`${c.bold(h.id)}${h.deleted ? c.red(' (deleted)') : ''}: ${h.entries.length} change(s)`];
  for (const e of h.entries) {
    lines.push(
      '',
      `${c.yellow(e.commit.slice(0, 8))} ${e.date} ${c.cyan(e.author.name)} <${e.author.email}>`,
    );
    lines.push(`    ${c.dim(e.subject)}`);
    if (e.error) {
      lines.push(`    ${c.red(e.error)}`);
      continue;
    }
    if (e.action === 'created') {
      const get = (f: string) => e.changes.find((x) => x.field === f)?.to;
      lines.push(
        `    ${c.green('created')}: ${get('title') ?? ''} [${get('issue_type') ?? '?'}, P${get('priority') ?? '?'}, ${get('status') ?? '?'}]`,
      );
      for (const ch of e.changes) {
        if (CREATED_IMPLIED.has(ch.field.split('.')[0])) continue;
        lines.push(`    ${ch.text}`);
      }
      continue;
    }
    if (e.action === 'deleted') {
      lines.push(`    ${c.red('deleted')}`);
      continue;
    }
    if (e.changes.length === 0) lines.push(`    ${c.dim('(no field changes)')}`);
    for (const ch of e.changes) lines.push(`    ${ch.text}`);
  }
  return lines.join('\n');
}

const history: CommandDef = {
  name: 'history',
  summary: 'Who changed a bead, when, and what changed (field by field), newest first',
  usage: 'bd history ID [--limit N]',
  args: [1, 1],
  options: {
    limit: { type: 'string', short: 'n', desc: 'at most N changes (default: all)', arg: 'N' },
  },
  run(ctx, { values, positionals }) {
    const limit = intFlag('limit', values.limit, 1);
    return withStore(ctx, (store) => {
      const input = positionals[0];
      let id: string;
      try {
        id = store.resolve(input);
      } catch (e) {
        // A deleted bead is no longer resolvable: its exact id still has a history.
        if (!(e instanceof NotFoundError)) throw e;
        try {
          validateId(input.trim());
        } catch {
          throw e;
        }
        id = input.trim();
      }
      const h = beadHistory(store, id, limit);
      if (h.entries.length === 0) {
        if (store.wisps.get(id)) {
          return {
            data: h,
            text: `${id} is a wisp (ephemeral): wisps are never committed, so it has no history`,
          };
        }
        throw new NotFoundError(`no bead "${input}" was ever committed to ${store.ledger.ref}`);
      }
      return { data: h, text: renderHistory(h, ctx.color) };
    });
  },
};

// ---- doctor ---------------------------------------------------------------------------------

const ICON: Record<Check['status'], string> = { ok: '✓', warn: '!', error: '✗' };

function renderDoctor(checks: Check[], c: ColorFns): string {
  const width = Math.max(...checks.map((x) => x.name.length)) + 2;
  const lines: string[] = [];
  for (const ch of checks) {
    const paint = ch.status === 'ok' ? c.green : ch.status === 'warn' ? c.yellow : c.red;
    lines.push(
      `${paint(ICON[ch.status])} ${ch.name.padEnd(width)}${ch.message}${ch.fixed ? c.green(' (fixed)') : ''}`,
    );
    for (const d of ch.details ?? []) if (ch.status !== 'ok' || ch.fixed) lines.push(`    ${c.dim(d)}`);
    if (ch.fix && ch.status !== 'ok') lines.push(`    ${c.cyan('fix:')} ${ch.fix}`);
  }
  return lines.join('\n');
}

const doctor: CommandDef = {
  name: 'doctor',
  summary: 'Check the ledger: objects, index cache, locks, records, dependencies; --fix repairs what is safe',
  usage: 'bd doctor [--fix] [--max-loose N]',
  options: {
    fix: {
      type: 'boolean',
      desc: 'rebuild the cache, clear stale locks and temp files, run git maintenance (never edits records)',
    },
    'max-loose': {
      type: 'string',
      desc: 'warn above N loose objects (default: gc.auto, else 6700)',
      arg: 'N',
    },
  },
  async run(ctx, { values }) {
    const maxLoose = intFlag('max-loose', values['max-loose'], 1);
    await loadCodec();
    const store = new BeadStore(locate(ctx.cwd), { actor: ctx.actor });
    if (!store.ledger.exists()) {
      const how = store.loc.mode === 'town' ? 'gt install' : 'bd init';
      const checks: Check[] = [
        {
          name: 'ledger-ref',
          status: 'error',
          message: `no beads ledger in ${store.loc.root} (${store.loc.ref} is missing)`,
          fix: `run \`${how}\``,
        },
      ];
      return {
        data: { ok: false, ref: store.loc.ref, tip: null, checks, counts: { ok: 0, warn: 0, error: 1 } },
        text: renderDoctor(checks, ctx.color),
        exitCode: 1,
      };
    }
    // No store.flush(): the doctor never lets a cache it has not verified be written back.
    const report = runDoctor(store, { fix: values.fix, maxLoose, fixCommand: 'bd doctor --fix' });
    const tail = report.ok
      ? `\n${ctx.color.green('No errors.')}${report.counts.warn ? ` ${report.counts.warn} warning(s).` : ''}`
      : `\n${ctx.color.red(`${report.counts.error} error(s)`)}, ${report.counts.warn} warning(s).`;
    return { data: report, text: renderDoctor(report.checks, ctx.color) + tail, exitCode: report.ok ? 0 : 1 };
  },
};

export const maintenanceCommands: CommandDef[] = [history, doctor];
