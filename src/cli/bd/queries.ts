// bd commands that query or maintain the ledger as a whole: search, count, stats (status),
// stale, delete, defer, undefer, config.
import { descendants, sortBeads } from '../../beads/graph.ts';
import { deleteBead, setStatus } from '../../beads/ops.ts';
import {
  beadStats,
  GROUP_KEYS,
  type GroupKey,
  groupCount,
  matchFields,
  type Selection,
  selectBeads,
  staleBeads,
} from '../../beads/query.ts';
import { type BeadSummary, CONFIG_PATH } from '../../beads/record.ts';
import {
  parseCustomStatuses,
  parseCustomTypes,
  REQUIRED_CONFIG_KEYS,
  validateConfig,
  validateConfigKey,
  validateConfigValue,
} from '../../beads/settings.ts';
import type { BeadStore } from '../../beads/store.ts';
import { BUILTIN_TYPES, GASTOWN_TYPES, normalizeStatus, normalizeType, STATUSES } from '../../beads/types.ts';
import { ConflictError, UsageError } from '../../errors.ts';
import type { CommandDef, Ctx } from '../framework.ts';
import {
  beadLine,
  intFlag,
  listFlag,
  publicBead,
  whenFlag,
  withCounts,
  withStore,
  withStoreLight,
} from './common.ts';
import { commonFilter, filterOptions, graphContext, renderList } from './issues.ts';

/** list's filters (status/type/label/assignee/priority/parent/metadata, --all) as a Selection. */
function selectionFrom(store: BeadStore, values: Record<string, any>): Selection {
  const cfg = store.typeConfig();
  const common = commonFilter(store, values);
  return {
    statuses: values.status ? listFlag(values.status).map((s) => normalizeStatus(s, cfg)) : null,
    types: values.type ? listFlag(values.type).map((t) => normalizeType(t, cfg)) : null,
    all: values.all,
    includeEphemeral: values['include-ephemeral'],
    within: common.parent ? descendants(store.graph(), common.parent) : null,
    common,
  };
}

// ---- search ---------------------------------------------------------------------------------

const search: CommandDef = {
  name: 'search',
  summary: 'Find beads whose id, title, description or notes contain the text (case-insensitive)',
  usage: 'bd search QUERY [--status S] [--type T] [--label L] [-n N] [--all]',
  args: [1, -1],
  options: {
    status: filterOptions.status,
    type: filterOptions.type,
    label: filterOptions.label,
    assignee: filterOptions.assignee,
    priority: filterOptions.priority,
    limit: { type: 'string', short: 'n', desc: 'at most N (default 50, 0 = all)', arg: 'N' },
    all: { type: 'boolean', desc: 'include closed beads' },
  },
  run(ctx, { values, positionals }) {
    const query = positionals.join(' ').trim();
    if (!query) throw new UsageError('bd search needs some text to look for, e.g. bd search login');
    const limit = intFlag('limit', values.limit) ?? 50;
    return withStore(ctx, (store) => {
      const candidates = selectBeads(store.graph().byId.values(), selectionFrom(store, values));
      // id and title are in the summaries; read full records only for the rest.
      const hits: BeadSummary[] = [];
      const rest: BeadSummary[] = [];
      for (const s of candidates) (matchFields(s, query, ['id', 'title']).length ? hits : rest).push(s);
      if (rest.length) {
        const full = new Map(store.getMany(rest.map((s) => s.id)).map((b) => [b.id, b]));
        for (const s of rest) {
          const b = full.get(s.id);
          if (b && matchFields(b, query, ['description', 'notes']).length) hits.push(s);
        }
      }
      sortBeads(hits, 'priority');
      const out = renderList(ctx, graphContext(store), hits, hits.length, limit);
      if (!ctx.json && hits.length === 0) out.text = `No beads match "${query}".`;
      return out;
    });
  },
};

// ---- count ----------------------------------------------------------------------------------

const count: CommandDef = {
  name: 'count',
  summary: 'How many beads match list-style filters, optionally grouped',
  usage: 'bd count [list filters] [--all] [--by status|type|priority|assignee|label]',
  options: {
    ...filterOptions,
    all: { type: 'boolean', desc: 'include closed beads' },
    'include-ephemeral': { type: 'boolean', desc: 'include wisps' },
    by: { type: 'string', desc: 'group by status, type, priority, assignee or label', arg: 'FIELD' },
  },
  run(ctx, { values }) {
    const by = values.by as GroupKey | undefined;
    if (by !== undefined && !GROUP_KEYS.includes(by)) {
      throw new UsageError(`--by must be one of ${GROUP_KEYS.join(', ')}, got "${values.by}"`);
    }
    if (values.limit !== undefined) throw new UsageError('bd count takes no --limit');
    return withStoreLight(ctx, (store) => {
      const beads = selectBeads(store.graph().byId.values(), selectionFrom(store, values));
      if (!by) return { data: { count: beads.length }, text: String(beads.length) };
      const groups = groupCount(beads, by);
      const name = (k: string | number | null) =>
        k === null
          ? by === 'assignee'
            ? '(unassigned)'
            : '(none)'
          : by === 'priority'
            ? `P${k}`
            : String(k);
      const width = Math.max(0, ...groups.map((g) => name(g.key).length)) + 2;
      const text = [
        `Total: ${beads.length}`,
        ...groups.map((g) => `  ${name(g.key).padEnd(width)}${g.count}`),
      ].join('\n');
      return { data: { count: beads.length, by, groups }, text };
    });
  },
};

// ---- stats ----------------------------------------------------------------------------------

const stats: CommandDef = {
  name: 'stats',
  aliases: ['status'],
  summary: 'Counts by status, blocked and ready work, average lead time',
  usage: 'bd stats',
  run(ctx) {
    return withStoreLight(ctx, (store) => {
      const s = beadStats(store.graph(), store.blocked());
      const c = ctx.color;
      const extra = Object.entries(s.by_status)
        .filter(
          ([k]) => !['open', 'in_progress', 'closed', 'deferred', 'pinned', 'hooked', 'blocked'].includes(k),
        )
        .map(([k, v]) => `  ${k.padEnd(22)}${v}`);
      const text = [
        c.bold('Beads'),
        `  ${'Total:'.padEnd(22)}${s.total_issues}`,
        `  ${'Open:'.padEnd(22)}${s.open_issues}`,
        `  ${'In progress:'.padEnd(22)}${s.in_progress_issues}`,
        `  ${'Blocked:'.padEnd(22)}${s.blocked_issues}${s.status_blocked_issues ? ` (status blocked: ${s.status_blocked_issues})` : ''}`,
        `  ${'Deferred:'.padEnd(22)}${s.deferred_issues}`,
        `  ${'Pinned:'.padEnd(22)}${s.pinned_issues}`,
        `  ${'Hooked:'.padEnd(22)}${s.hooked_issues}`,
        `  ${'Closed:'.padEnd(22)}${s.closed_issues}`,
        ...extra,
        `  ${'Ready (open−blocked):'.padEnd(22)}${s.ready_issues}`,
        `  ${'Ready (bd ready):'.padEnd(22)}${s.ready_actual}`,
        `  ${'Avg lead time:'.padEnd(22)}${s.average_lead_time_hours === null ? '-' : `${s.average_lead_time_hours} h`}`,
      ].join('\n');
      return { data: s, text };
    });
  },
};

// ---- stale ----------------------------------------------------------------------------------

const stale: CommandDef = {
  name: 'stale',
  summary: 'Beads not updated for a while (closed ones left out)',
  usage: 'bd stale [--days 30] [--status S] [-n N]',
  options: {
    days: { type: 'string', short: 'd', desc: 'not updated for this many days (default 30)', arg: 'N' },
    status: { type: 'string', short: 's', desc: 'only this status (comma list)', arg: 'S' },
    limit: { type: 'string', short: 'n', desc: 'at most N (default 50, 0 = all)', arg: 'N' },
  },
  run(ctx, { values }) {
    const days = intFlag('days', values.days) ?? 30;
    const limit = intFlag('limit', values.limit) ?? 50;
    return withStoreLight(ctx, (store) => {
      const cfg = store.typeConfig();
      const statuses = values.status ? listFlag(values.status).map((s) => normalizeStatus(s, cfg)) : null;
      const candidates = selectBeads(store.graph().byId.values(), { statuses });
      const entries = staleBeads(candidates, days);
      const shown = limit > 0 ? entries.slice(0, limit) : entries;
      if (limit > 0 && entries.length > limit)
        ctx.warn(`Showing ${limit} of ${entries.length} (use -n 0 for all)`);
      const g = store.graph();
      const blocked = store.blocked();
      return {
        data: shown.map((e) => ({
          ...withCounts(e.bead, g.dependents.get(e.bead.id)?.length ?? 0),
          days_stale: e.days_stale,
        })),
        text: shown.length
          ? shown
              .map(
                (e) =>
                  `${beadLine(e.bead, ctx.color, blocked.has(e.bead.id))} ${ctx.color.dim(`(${e.days_stale}d)`)}`,
              )
              .join('\n')
          : `Nothing stale: every open bead was updated in the last ${days} day${days === 1 ? '' : 's'}.`,
      };
    });
  },
};

// ---- delete ---------------------------------------------------------------------------------

interface DeletePlan {
  id: string;
  title: string;
  /** Beads with edges to this one, which lose them. */
  dependents: { id: string; type: string }[];
}

const del: CommandDef = {
  name: 'delete',
  summary: 'Delete beads and the edges that point at them (needs --force)',
  usage: 'bd delete ID [ID...] [--force] [--dry-run]',
  args: [1, -1],
  options: {
    force: { type: 'boolean', short: 'f', desc: 'really delete' },
    'dry-run': { type: 'boolean', desc: 'only show what would change' },
  },
  run(ctx, { values, positionals }) {
    return withStore(ctx, (store) => {
      const ids = [...new Set(positionals.map((p) => store.resolve(p)))];
      const g = store.graph();
      const gone = new Set(ids);
      const plan: DeletePlan[] = ids.map((id) => ({
        id,
        title: g.byId.get(id)?.title ?? '',
        dependents: [...new Set(g.dependents.get(id) ?? [])]
          .filter((d) => !gone.has(d))
          .map((d) => ({
            id: d,
            type: g.byId.get(d)?.dependencies?.find((e) => e.depends_on_id === id)?.type ?? '',
          })),
      }));
      const touched = [...new Set(plan.flatMap((p) => p.dependents.map((d) => d.id)))].sort();
      const c = ctx.color;
      const planText = plan.map((p) =>
        [
          `  ${c.cyan(p.id)}: ${p.title}`,
          ...p.dependents.map((d) => `      edge from ${d.id} (${d.type}) will be removed`),
        ].join('\n'),
      );
      const apply = values.force && !values['dry-run'];
      if (!apply) {
        const data = { applied: false, ids, references_removed_from: touched, beads: plan };
        const head = `Would delete ${ids.length} bead${ids.length === 1 ? '' : 's'}:`;
        if (values['dry-run'])
          return { data, text: [head, ...planText, '(dry run: nothing changed)'].join('\n') };
        ctx.warn(`${c.red('Error:')} refusing to delete without --force; run again with --force to delete`);
        return { data, text: [head, ...planText].join('\n'), exitCode: 1 };
      }
      store.transact(`delete ${ids.join(' ')}`, (tx) => {
        for (const id of ids) deleteBead(tx, id);
      });
      return {
        data: { applied: true, ids, references_removed_from: touched, beads: plan },
        text: [
          `${c.green('✓')} Deleted ${ids.length} bead${ids.length === 1 ? '' : 's'}:`,
          ...planText.map((l) => l.replace(/will be removed/g, 'removed')),
        ].join('\n'),
      };
    });
  },
};

// ---- defer / undefer ------------------------------------------------------------------------

const defer: CommandDef = {
  name: 'defer',
  summary: 'Set beads aside: status deferred, hidden from ready until --until',
  usage: 'bd defer ID [ID...] [--until WHEN]',
  args: [1, -1],
  options: {
    until: { type: 'string', desc: 'when it comes back (2026-12-01, +3d, tomorrow)', arg: 'WHEN' },
  },
  run(ctx, { values, positionals }) {
    const until = whenFlag('until', values.until);
    return withStore(ctx, (store) => {
      const ids = [...new Set(positionals.map((p) => store.resolve(p)))];
      const beads = store.transact(`defer ${ids.join(' ')}`, (tx) =>
        ids.map((id) => {
          const b = tx.must(id);
          if (b.status === 'closed')
            throw new ConflictError(`${id} is closed; reopen it before deferring it`);
          const before = JSON.stringify(b);
          setStatus(tx, b, 'deferred');
          if (until !== undefined) b.defer_until = until ?? undefined;
          if (JSON.stringify(b) !== before) {
            b.updated_at = tx.now;
            tx.put(b);
            tx.note(`defer ${id}${b.defer_until ? ` until ${b.defer_until}` : ''}`);
          }
          return b;
        }),
      );
      return {
        data: beads.map(publicBead),
        text: beads
          .map(
            (b) =>
              `${ctx.color.green('✓')} Deferred ${b.id}${b.defer_until ? ` until ${b.defer_until}` : ''}: ${b.title}`,
          )
          .join('\n'),
      };
    });
  },
};

const undefer: CommandDef = {
  name: 'undefer',
  summary: 'Bring deferred beads back: status open, defer_until cleared',
  usage: 'bd undefer ID [ID...]',
  args: [1, -1],
  run(ctx, { positionals }) {
    return withStore(ctx, (store) => {
      const ids = [...new Set(positionals.map((p) => store.resolve(p)))];
      const beads = store.transact(`undefer ${ids.join(' ')}`, (tx) =>
        ids.map((id) => {
          const b = tx.must(id);
          const before = JSON.stringify(b);
          // Only a deferred bead goes back to open; others just lose their defer date.
          if (b.status === 'deferred') setStatus(tx, b, 'open');
          b.defer_until = undefined;
          if (JSON.stringify(b) !== before) {
            b.updated_at = tx.now;
            tx.put(b);
            tx.note(`undefer ${id}`);
          }
          return b;
        }),
      );
      return {
        data: beads.map(publicBead),
        text: beads
          .map((b) => `${ctx.color.green('✓')} Undeferred ${b.id} [${b.status}]: ${b.title}`)
          .join('\n'),
      };
    });
  },
};

// ---- config ---------------------------------------------------------------------------------

/** Warn when a new types.custom / status.custom leaves beads with a type or status no longer valid. */
function warnUnknownInUse(ctx: Ctx, store: BeadStore, key: string, value: string | undefined): void {
  const beads = store.summaries();
  if (key === 'status.custom') {
    const known = new Set<string>([...STATUSES, ...parseCustomStatuses(value ?? '').map((s) => s.name)]);
    const bad = [...new Set(beads.map((b) => b.status).filter((s) => !known.has(s)))];
    if (bad.length) ctx.warn(`warning: beads still use status ${bad.join(', ')}, which is no longer defined`);
  } else if (key === 'types.custom') {
    const known = new Set([...BUILTIN_TYPES, ...GASTOWN_TYPES, ...parseCustomTypes(value ?? '')]);
    const bad = [...new Set(beads.map((b) => b.issue_type).filter((t) => !known.has(t)))];
    if (bad.length) ctx.warn(`warning: beads still use type ${bad.join(', ')}, which is no longer defined`);
  }
}

/** Change config.yaml in one commit; returns whether anything changed. */
function writeConfig(
  store: BeadStore,
  subject: string,
  change: (cfg: Record<string, string>) => boolean,
): boolean {
  return store.transact(subject, (tx) => {
    const current = (tx.ltx.get(CONFIG_PATH) as Record<string, string> | undefined) ?? {};
    const next: Record<string, string> = { ...current };
    if (!change(next)) return false;
    validateConfig(next);
    const sorted: Record<string, string> = {};
    for (const k of Object.keys(next).sort()) sorted[k] = next[k];
    tx.ltx.put(CONFIG_PATH, sorted);
    tx.note(subject);
    return true;
  });
}

const configGet: CommandDef = {
  name: 'get',
  summary: 'Print one setting',
  usage: 'bd config get KEY',
  args: [1, 1],
  run(ctx, { positionals }) {
    const key = positionals[0];
    validateConfigKey(key);
    return withStoreLight(ctx, (store) => {
      const value = store.config()[key];
      if (value === undefined) ctx.warn(`${key} (not set)`);
      return { data: { key, value: value ?? null }, text: value ?? '' };
    });
  },
};

const configSet: CommandDef = {
  name: 'set',
  summary: 'Set one setting (validated for the keys bd reads)',
  usage: 'bd config set KEY VALUE',
  args: [2, 2],
  run(ctx, { positionals }) {
    const [key, raw] = positionals;
    const value = validateConfigValue(key, raw);
    return withStore(ctx, (store) => {
      let previous: string | undefined;
      const changed = writeConfig(store, `config set ${key}`, (cfg) => {
        previous = cfg[key];
        if (previous === value) return false;
        cfg[key] = value;
        return true;
      });
      if (changed) warnUnknownInUse(ctx, store, key, value);
      return {
        data: { key, value, previous: previous ?? null, changed },
        text: changed ? `${ctx.color.green('✓')} ${key} = ${value}` : `${key} is already ${value}`,
      };
    });
  },
};

const configUnset: CommandDef = {
  name: 'unset',
  aliases: ['delete', 'rm'],
  summary: 'Remove one setting',
  usage: 'bd config unset KEY',
  args: [1, 1],
  run(ctx, { positionals }) {
    const key = positionals[0];
    validateConfigKey(key);
    if (REQUIRED_CONFIG_KEYS.has(key)) {
      throw new UsageError(`${key} cannot be removed; change it with \`bd config set ${key} VALUE\``);
    }
    return withStore(ctx, (store) => {
      let previous: string | undefined;
      const changed = writeConfig(store, `config unset ${key}`, (cfg) => {
        previous = cfg[key];
        if (previous === undefined) return false;
        delete cfg[key];
        return true;
      });
      if (changed) warnUnknownInUse(ctx, store, key, undefined);
      return {
        data: { key, previous: previous ?? null, changed },
        text: changed ? `${ctx.color.green('✓')} Removed ${key}` : `${key} was not set`,
      };
    });
  },
};

const configList: CommandDef = {
  name: 'list',
  aliases: ['show', 'ls'],
  summary: 'Every setting',
  usage: 'bd config list',
  run(ctx) {
    return withStoreLight(ctx, (store) => {
      const cfg = store.config();
      const keys = Object.keys(cfg).sort();
      const data: Record<string, string> = {};
      for (const k of keys) data[k] = cfg[k];
      return { data, text: keys.length ? keys.map((k) => `${k} = ${cfg[k]}`).join('\n') : 'No settings.' };
    });
  },
};

const config: CommandDef = {
  name: 'config',
  summary: 'Ledger settings: get, set, unset, list',
  usage: 'bd config get|set|unset|list ...',
  sub: [configGet, configSet, configUnset, configList],
};

export const queryCommands: CommandDef[] = [search, count, stats, stale, del, defer, undefer, config];
