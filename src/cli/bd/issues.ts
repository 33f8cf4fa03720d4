// bd commands for the bead lifecycle: init, create, q, show, list, update, close, reopen,
// ready, blocked.
import path from 'node:path';
import {
  blockedEntries,
  descendants,
  matchesCommon,
  type ReadyFilter,
  readyWork,
  type SortPolicy,
  sortBeads,
} from '../../beads/graph.ts';
import { validatePrefix } from '../../beads/ids.ts';
import {
  addComment,
  addDependency,
  type CreateInput,
  claim,
  closeBead,
  createBead,
  removeDependency,
  reopenBead,
  setStatus,
  validateLabel,
} from '../../beads/ops.ts';
import { type BeadSummary, CONFIG_PATH, parentOf } from '../../beads/record.ts';
import { BeadStore, type BeadTx, locate } from '../../beads/store.ts';
import {
  type Bead,
  normalizeStatus,
  normalizeType,
  parsePriority,
  ValidationError,
} from '../../beads/types.ts';
import type { Views } from '../../beads/views.ts';
import { ConflictError, GtError, UsageError } from '../../errors.ts';
import { closeStep } from '../../formula/molecule.ts';
import { loadCodec } from '../../ledger/codec.ts';
import type { CommandDef, Ctx, Output } from '../framework.ts';
import {
  beadLine,
  intFlag,
  jsonObjectFlag,
  listFlag,
  priorityFlag,
  publicBead,
  statusIcon,
  whenFlag,
  withCounts,
  withStore,
  withViews,
} from './common.ts';
import { closeVirtual, readyInMolecule, splitVirtual } from './formulas.ts';

// ---- init -----------------------------------------------------------------------------------

function defaultPrefix(root: string): string {
  const base = path
    .basename(root)
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return base || 'bd';
}

export function initLedger(
  cwd: string,
  opts: { prefix?: string; actor?: string },
): { created: boolean; prefix: string; ref: string; root: string } {
  const store = new BeadStore(locate(cwd), { actor: opts.actor });
  try {
    if (store.ledger.exists()) {
      const current = store.prefix();
      if (opts.prefix && opts.prefix !== current) {
        throw new ConflictError(
          `beads are already initialised here with prefix "${current}"; change it with \`bd config set issue_prefix ${opts.prefix}\``,
        );
      }
      return { created: false, prefix: current, ref: store.loc.ref, root: store.loc.root };
    }
    const prefix = opts.prefix ?? defaultPrefix(store.loc.root);
    validatePrefix(prefix);
    store.ledger.transact({ name: store.actor(), email: store.email() }, `init: prefix ${prefix}`, (tx) => {
      if (!tx.has(CONFIG_PATH)) tx.put(CONFIG_PATH, { issue_prefix: prefix });
    });
    return { created: true, prefix, ref: store.loc.ref, root: store.loc.root };
  } finally {
    store.flush();
  }
}

const init: CommandDef = {
  name: 'init',
  summary: 'Create the beads ledger in this git repository (refs/beads/ledger)',
  usage: 'bd init [--prefix PREFIX]',
  options: {
    prefix: { type: 'string', short: 'p', desc: 'id prefix (default: the directory name)', arg: 'PREFIX' },
  },
  async run(ctx, { values }) {
    await loadCodec();
    const r = initLedger(ctx.cwd, { prefix: values.prefix, actor: ctx.actor });
    return {
      data: r,
      text: r.created
        ? `Initialised beads in ${r.root} (prefix ${r.prefix}, ref ${r.ref})`
        : `Beads already initialised in ${r.root} (prefix ${r.prefix})`,
    };
  },
};

// ---- create ---------------------------------------------------------------------------------

const createOptions = {
  title: { type: 'string', desc: 'title (instead of the positional)' },
  type: {
    type: 'string',
    short: 't',
    desc: 'issue type (task, bug, feature, epic, chore, ...)',
    arg: 'TYPE',
  },
  priority: { type: 'string', short: 'p', desc: 'priority 0-4 or P0-P4 (default 2)', arg: 'N' },
  description: { type: 'string', short: 'd', desc: 'description (markdown)', arg: 'TEXT' },
  design: { type: 'string', desc: 'design notes', arg: 'TEXT' },
  acceptance: { type: 'string', desc: 'acceptance criteria', arg: 'TEXT' },
  notes: { type: 'string', desc: 'notes', arg: 'TEXT' },
  assignee: { type: 'string', short: 'a', desc: 'assignee', arg: 'WHO' },
  owner: { type: 'string', desc: 'owner (default: your git email)', arg: 'EMAIL' },
  labels: { type: 'string', short: 'l', multiple: true, desc: 'labels, comma-separated', arg: 'L1,L2' },
  label: { type: 'string', multiple: true, desc: 'a label', arg: 'L' },
  parent: { type: 'string', desc: 'parent bead: the new bead gets id PARENT.N', arg: 'ID' },
  deps: {
    type: 'string',
    multiple: true,
    desc: 'dependencies "type:id,..." (or just id for blocks)',
    arg: 'LIST',
  },
  id: { type: 'string', desc: 'explicit id', arg: 'ID' },
  force: { type: 'boolean', desc: 'accept an explicit id with a foreign prefix' },
  ephemeral: { type: 'boolean', desc: 'a wisp: kept in the operational plane, never committed' },
  'no-history': { type: 'boolean', desc: 'durable but kept out of history-heavy views' },
  due: { type: 'string', desc: 'due date (2026-12-01, +3d, ...)', arg: 'WHEN' },
  defer: { type: 'string', desc: 'hide from ready until (2026-12-01, +3d, ...)', arg: 'WHEN' },
  metadata: { type: 'string', desc: 'metadata as a JSON object', arg: 'JSON' },
  'waits-for': { type: 'string', desc: 'wait for all children of this bead', arg: 'ID' },
  'waits-for-gate': { type: 'string', desc: 'all-children (default) or any-children', arg: 'GATE' },
  'mol-type': { type: 'string', desc: 'swarm, patrol or work', arg: 'T' },
  'wisp-type': { type: 'string', desc: 'wisp TTL class (heartbeat, ping, patrol, ...)', arg: 'T' },
  'external-ref': { type: 'string', desc: 'external reference (gh-9, jira-ABC)', arg: 'REF' },
  estimate: { type: 'string', short: 'e', desc: 'estimated minutes', arg: 'MIN' },
  'spec-id': { type: 'string', desc: 'link to a spec document', arg: 'SPEC' },
  status: { type: 'string', short: 's', desc: 'initial status (default open)', arg: 'STATUS' },
  'no-inherit-labels': { type: 'boolean', desc: "with --parent: do not copy the parent's labels" },
  silent: { type: 'boolean', desc: 'print only the new id' },
} as const satisfies CommandDef['options'];

/** `--deps "blocks:bd-1,related:bd-2,bd-3"` → typed edges (a bare id means blocks). */
export function parseDepsFlag(values: string[]): { type: string; id: string }[] {
  return listFlag(values).map((item) => {
    const i = item.lastIndexOf(':');
    if (i < 0 || item.startsWith('external:')) return { type: 'blocks', id: item };
    return { type: item.slice(0, i), id: item.slice(i + 1) };
  });
}

function createInputFrom(values: Record<string, any>, title: string): CreateInput {
  const gate = values['waits-for-gate'];
  if (gate && gate !== 'all-children' && gate !== 'any-children') {
    throw new UsageError(`--waits-for-gate must be all-children or any-children, got "${gate}"`);
  }
  return {
    title,
    type: values.type,
    priority: priorityFlag(values.priority),
    description: values.description,
    design: values.design,
    acceptance_criteria: values.acceptance,
    notes: values.notes,
    assignee: values.assignee,
    owner: values.owner,
    labels: [...listFlag(values.labels), ...listFlag(values.label)],
    parent: values.parent,
    deps: parseDepsFlag(values.deps ?? []),
    id: values.id,
    force: values.force,
    ephemeral: values.ephemeral,
    no_history: values['no-history'],
    due_at: whenFlag('due', values.due) ?? undefined,
    defer_until: whenFlag('defer', values.defer) ?? undefined,
    metadata: jsonObjectFlag('metadata', values.metadata),
    waits_for: values['waits-for'],
    waits_for_gate: gate,
    mol_type: values['mol-type'],
    wisp_type: values['wisp-type'],
    external_ref: values['external-ref'],
    estimated_minutes: intFlag('estimate', values.estimate),
    spec_id: values['spec-id'],
    status: values.status,
    inheritLabels: !values['no-inherit-labels'],
  };
}

function runCreate(
  ctx: Ctx,
  values: Record<string, any>,
  positionals: string[],
  quick: boolean,
): Promise<Output> {
  const title = values.title ?? positionals.join(' ');
  if (!title.trim())
    throw new UsageError('a title is required: bd create "Fix the login page" [-t bug -p 1]');
  return withStore(ctx, (store) => {
    const input = createInputFrom(values, title);
    if (input.parent) input.parent = store.resolve(input.parent);
    const bead = store.transact(`create: ${title.slice(0, 60)}`, (tx) => createBead(tx, input));
    const text =
      quick || values.silent ? bead.id : `${ctx.color.green('✓')} Created ${bead.id}: ${bead.title}`;
    return { data: publicBead(bead), text };
  });
}

const create: CommandDef = {
  name: 'create',
  aliases: ['new'],
  summary: 'Create a bead',
  usage: 'bd create TITLE [-t TYPE] [-p N] [-d TEXT] [-a WHO] [-l L1,L2] [--parent ID] [--deps type:id,...]',
  options: createOptions,
  args: [0, -1],
  run: (ctx, { values, positionals }) => runCreate(ctx, values, positionals, false),
};

const q: CommandDef = {
  name: 'q',
  summary: 'Quick create: prints only the new id',
  usage: 'bd q TITLE [create flags]',
  options: createOptions,
  args: [0, -1],
  run: (ctx, { values, positionals }) => runCreate(ctx, values, positionals, true),
};

// ---- show -----------------------------------------------------------------------------------

/** What show and the list renderers need from the graph: the full index or the read views. */
export interface ReadContext {
  row(id: string): BeadSummary | undefined;
  /** [dependent id, dependency type] of beads that depend on `id`. */
  dependentsOf(id: string): [string, string][];
  isBlocked(id: string): boolean;
}

export function graphContext(store: BeadStore): ReadContext {
  const g = store.graph();
  const blocked = store.blocked();
  return {
    row: (id) => g.byId.get(id),
    dependentsOf: (id) =>
      (g.dependents.get(id) ?? []).map((d) => {
        const edge = g.byId.get(d)?.dependencies?.find((e) => e.depends_on_id === id);
        return [d, edge?.type ?? 'related'] as [string, string];
      }),
    isBlocked: (id) => blocked.has(id),
  };
}

/** A ReadContext over the views, with the rows it will need already read (null: take the full path). */
function viewsContext(store: BeadStore, views: Views, ids: string[]): ReadContext | null {
  const rows = store.viewRows(views, ids);
  if (!rows) return null;
  const blocked = new Set(views.blocked.map((b) => b[0]));
  return {
    row: (id) => rows.get(id),
    dependentsOf: (id) => views.dependentsOf(id),
    isBlocked: (id) => blocked.has(id),
  };
}

function showOne(rc: ReadContext, b: Bead, ctx: Ctx): { data: Record<string, unknown>; text: string } {
  const g = { byId: { get: (id: string) => rc.row(id) } };
  const dependents = rc.dependentsOf(b.id).map(([id, type]) => {
    const s = rc.row(id);
    return {
      id,
      title: s?.title ?? '',
      status: s?.status ?? '',
      priority: s?.priority ?? 2,
      issue_type: s?.issue_type ?? '',
      dependency_type: type,
    };
  });
  const children = rc
    .dependentsOf(b.id)
    .filter(([, type]) => type === 'parent-child')
    .map(([id]) => rc.row(id)!)
    .filter(Boolean);
  const data: Record<string, unknown> = {
    ...publicBead(b),
    ...(parentOf(b) ? { parent: parentOf(b) } : {}),
    is_blocked: rc.isBlocked(b.id),
    dependents,
  };
  if (b.issue_type === 'epic') {
    const closed = children.filter((c) => c.status === 'closed').length;
    Object.assign(data, {
      epic_total_children: children.length,
      epic_closed_children: closed,
      epic_closeable: children.length > 0 && closed === children.length,
    });
  }
  const c = ctx.color;
  const lines = [
    `${statusIcon(b.status)} ${c.bold(c.cyan(b.id))}: ${c.bold(b.title)}`,
    `Status: ${b.status}${rc.isBlocked(b.id) ? c.red(' (blocked)') : ''}   Priority: P${b.priority}   Type: ${b.issue_type}`,
  ];
  if (b.assignee || b.owner) lines.push(`Assignee: ${b.assignee ?? '-'}   Owner: ${b.owner ?? '-'}`);
  lines.push(
    `Created: ${b.created_at}${b.created_by ? ` by ${b.created_by}` : ''}   Updated: ${b.updated_at}`,
  );
  if (b.closed_at) lines.push(`Closed: ${b.closed_at}${b.close_reason ? ` (${b.close_reason})` : ''}`);
  if (b.due_at) lines.push(`Due: ${b.due_at}`);
  if (b.defer_until) lines.push(`Deferred until: ${b.defer_until}`);
  if (b.labels?.length) lines.push(`Labels: ${b.labels.join(', ')}`);
  if (b.external_ref) lines.push(`External: ${b.external_ref}`);
  for (const [label, v] of [
    ['Description', b.description],
    ['Design', b.design],
    ['Acceptance criteria', b.acceptance_criteria],
    ['Notes', b.notes],
  ] as const) {
    if (v) lines.push('', c.bold(`${label}:`), v);
  }
  if (b.metadata && Object.keys(b.metadata).length)
    lines.push('', c.bold('Metadata:'), JSON.stringify(b.metadata, null, 2));
  if (b.dependencies?.length) {
    lines.push('', c.bold(`Depends on (${b.dependencies.length}):`));
    for (const d of b.dependencies) {
      const t = g.byId.get(d.depends_on_id);
      lines.push(
        `  → ${d.depends_on_id} (${d.type})${t ? ` ${t.title} [${t.status}]` : c.dim(' (not in this ledger)')}`,
      );
    }
  }
  if (dependents.length) {
    lines.push('', c.bold(`Dependents (${dependents.length}):`));
    for (const d of dependents) lines.push(`  ← ${d.id} (${d.dependency_type}) ${d.title} [${d.status}]`);
  }
  if (b.comments?.length) {
    lines.push('', c.bold(`Comments (${b.comments.length}):`));
    for (const cm of b.comments) lines.push(`  ${c.dim(`${cm.created_at} ${cm.author}:`)} ${cm.text}`);
  }
  return { data, text: lines.join('\n') };
}

const show: CommandDef = {
  name: 'show',
  aliases: ['view'],
  summary: 'Show beads in full: fields, dependencies, dependents, comments',
  usage: 'bd show ID [ID...]',
  args: [1, -1],
  run(ctx, { positionals }) {
    const render = (rc: ReadContext, beads: Bead[]) => {
      const shown = beads.map((b) => showOne(rc, b, ctx));
      return { data: shown.map((s) => s.data), text: shown.map((s) => s.text).join('\n\n') };
    };
    return withViews(
      ctx,
      async (store, views) => {
        // Exact ids only; anything to resolve takes the full path.
        if (!positionals.every((id) => views.row(id))) return null;
        await loadCodec();
        const beads = store.beadsByKey(positionals.map((id) => [id, views.row(id)![2]]));
        if (!beads) return null;
        const related = beads.flatMap((b) => [
          b.id,
          ...(b.dependencies ?? []).map((d) => d.depends_on_id),
          ...views.dependentsOf(b.id).map((d) => d[0]),
        ]);
        const rc = viewsContext(store, views, [...new Set(related)]);
        return rc ? render(rc, beads) : null;
      },
      (store) => render(graphContext(store), store.getMany(positionals.map((p) => store.resolve(p)))),
      { light: false },
    );
  },
};

// ---- list -----------------------------------------------------------------------------------

const filterOptions = {
  status: { type: 'string', short: 's', desc: 'only this status (comma list)', arg: 'S' },
  type: { type: 'string', short: 't', desc: 'only this type (comma list)', arg: 'T' },
  label: { type: 'string', short: 'l', multiple: true, desc: 'has all these labels', arg: 'L' },
  'label-any': { type: 'string', multiple: true, desc: 'has any of these labels', arg: 'L' },
  'exclude-label': { type: 'string', multiple: true, desc: 'has none of these labels', arg: 'L' },
  assignee: { type: 'string', short: 'a', desc: 'assigned to', arg: 'WHO' },
  unassigned: { type: 'boolean', desc: 'no assignee' },
  priority: { type: 'string', short: 'p', desc: 'only this priority', arg: 'N' },
  parent: { type: 'string', desc: 'descendants of this bead', arg: 'ID' },
  'mol-type': { type: 'string', desc: 'swarm, patrol or work', arg: 'T' },
  'metadata-field': { type: 'string', multiple: true, desc: 'metadata key=value', arg: 'K=V' },
  'has-metadata-key': { type: 'string', multiple: true, desc: 'metadata has this key', arg: 'K' },
  limit: { type: 'string', short: 'n', desc: 'at most N (0 = all)', arg: 'N' },
} as const satisfies CommandDef['options'];

function commonFilter(store: BeadStore, values: Record<string, any>): ReadyFilter {
  return {
    priority: priorityFlag(values.priority),
    assignee: values.assignee,
    unassigned: values.unassigned,
    labels: values.label ? listFlag(values.label) : undefined,
    labelsAny: values['label-any'] ? listFlag(values['label-any']) : undefined,
    excludeLabels: values['exclude-label'] ? listFlag(values['exclude-label']) : undefined,
    parent: values.parent ? store.resolve(values.parent) : undefined,
    molType: values['mol-type'],
    metadataField: (values['metadata-field'] ?? []).map((kv: string) => {
      const i = kv.indexOf('=');
      if (i <= 0) throw new UsageError(`--metadata-field needs key=value, got "${kv}"`);
      return [kv.slice(0, i), kv.slice(i + 1)] as [string, string];
    }),
    hasMetadataKey: values['has-metadata-key'],
  };
}

function limitOf(values: Record<string, any>, dflt: number): number {
  return intFlag('limit', values.limit) ?? dflt;
}

function renderList(ctx: Ctx, rc: ReadContext, list: BeadSummary[], total: number, limit: number): Output {
  const shown = limit > 0 ? list.slice(0, limit) : list;
  if (limit > 0 && total > limit) ctx.warn(`Showing ${limit} of ${total} (use -n 0 for all)`);
  const text = shown.length
    ? shown.map((s) => beadLine(s, ctx.color, rc.isBlocked(s.id))).join('\n')
    : 'No beads found.';
  return { data: shown.map((s) => withCounts(s, rc.dependentsOf(s.id).length)), text };
}

/** A page of a precomputed view (ready, open) rendered from its rows; null: take the full path. */
function renderView(ctx: Ctx, store: BeadStore, views: Views, order: string[], limit: number): Output | null {
  const ids = limit > 0 ? order.slice(0, limit) : order;
  const rc = viewsContext(store, views, ids);
  if (!rc) return null;
  return renderList(
    ctx,
    rc,
    ids.map((id) => rc.row(id)!),
    order.length,
    limit,
  );
}

/** Flags that leave a list or ready query exactly as its precomputed view. */
function onlyPaging(values: Record<string, any>, allowed: string[]): boolean {
  return Object.entries(values).every(([k, v]) => v === undefined || allowed.includes(k));
}

const list: CommandDef = {
  name: 'list',
  aliases: ['ls'],
  summary: 'List beads (closed ones only with --all or --status closed)',
  usage:
    'bd list [--status S] [--type T] [--label L] [--assignee WHO] [--priority N] [--parent ID] [--all] [-n N]',
  options: {
    ...filterOptions,
    all: { type: 'boolean', desc: 'include closed beads' },
    'include-ephemeral': { type: 'boolean', desc: 'include wisps' },
    sort: { type: 'string', desc: 'priority (default), oldest, newest, updated, id', arg: 'BY' },
    reverse: { type: 'boolean', short: 'r', desc: 'reverse the order' },
  },
  run(ctx, { values }) {
    const fast = onlyPaging(values, ['limit'])
      ? (store: BeadStore, views: Views) => renderView(ctx, store, views, views.open, limitOf(values, 50))
      : null;
    return withViews(ctx, fast, (store) => {
      const cfg = store.typeConfig();
      const statuses = values.status ? listFlag(values.status).map((s) => normalizeStatus(s, cfg)) : null;
      const types = values.type ? listFlag(values.type).map((t) => normalizeType(t, cfg)) : null;
      const f = commonFilter(store, values);
      const g = store.graph();
      const inParent = f.parent ? descendants(store.graph(), f.parent) : null;
      let out = [...g.byId.values()].filter((b) => {
        if (statuses ? !statuses.includes(b.status) : !values.all && b.status === 'closed') return false;
        if (types && !types.includes(b.issue_type)) return false;
        if (b.ephemeral && !values['include-ephemeral'] && !values.all) return false;
        if (inParent && !inParent.has(b.id)) return false;
        return matchesCommon(b, f);
      });
      const by = values.sort ?? 'priority';
      if (by === 'oldest' || by === 'created') sortBeads(out, 'oldest');
      else if (by === 'newest') out.sort((a, b) => b.ct - a.ct || (a.id < b.id ? -1 : 1));
      else if (by === 'updated') out.sort((a, b) => (a.updated_at < b.updated_at ? 1 : -1));
      else if (by === 'id') out.sort((a, b) => (a.id < b.id ? -1 : 1));
      else if (by === 'priority') sortBeads(out, 'priority');
      else throw new UsageError(`--sort must be priority, oldest, newest, updated or id, got "${by}"`);
      if (values.reverse) out = out.reverse();
      return renderList(ctx, graphContext(store), out, out.length, limitOf(values, 50));
    });
  },
};

// ---- update ---------------------------------------------------------------------------------

const update: CommandDef = {
  name: 'update',
  summary: 'Change fields of beads; --claim takes one atomically',
  usage: 'bd update ID [ID...] [--status S] [--priority N] [--title T] [--assignee WHO] [--claim] ...',
  args: [1, -1],
  options: {
    status: { type: 'string', short: 's', desc: 'new status', arg: 'S' },
    priority: { type: 'string', short: 'p', desc: 'new priority 0-4', arg: 'N' },
    title: { type: 'string', desc: 'new title', arg: 'T' },
    type: { type: 'string', short: 't', desc: 'new type', arg: 'T' },
    assignee: { type: 'string', short: 'a', desc: 'new assignee ("" clears)', arg: 'WHO' },
    owner: { type: 'string', desc: 'new owner', arg: 'EMAIL' },
    description: { type: 'string', short: 'd', desc: 'new description', arg: 'TEXT' },
    design: { type: 'string', desc: 'new design notes', arg: 'TEXT' },
    acceptance: { type: 'string', desc: 'new acceptance criteria', arg: 'TEXT' },
    notes: { type: 'string', desc: 'replace the notes', arg: 'TEXT' },
    'append-notes': { type: 'string', desc: 'append a line to the notes', arg: 'TEXT' },
    'add-label': { type: 'string', multiple: true, desc: 'add labels', arg: 'L' },
    'remove-label': { type: 'string', multiple: true, desc: 'remove labels', arg: 'L' },
    'set-labels': { type: 'string', desc: 'replace all labels ("" clears)', arg: 'L1,L2' },
    parent: { type: 'string', desc: 'move under this parent ("" detaches)', arg: 'ID' },
    due: { type: 'string', desc: 'due date ("" clears)', arg: 'WHEN' },
    defer: { type: 'string', desc: 'defer until ("" clears)', arg: 'WHEN' },
    'await-id': { type: 'string', desc: 'gate condition id', arg: 'ID' },
    claim: { type: 'boolean', desc: 'atomically take it: in_progress, assigned to you' },
    ephemeral: { type: 'boolean', desc: 'make it a wisp (leaves the ledger)' },
    persistent: { type: 'boolean', desc: 'make a wisp durable (committed)' },
    metadata: { type: 'string', desc: 'replace metadata (JSON object)', arg: 'JSON' },
    'set-metadata': { type: 'string', multiple: true, desc: 'set a metadata key', arg: 'K=V' },
    'unset-metadata': { type: 'string', multiple: true, desc: 'remove a metadata key', arg: 'K' },
    'external-ref': { type: 'string', desc: 'external reference', arg: 'REF' },
    estimate: { type: 'string', short: 'e', desc: 'estimated minutes', arg: 'MIN' },
    'spec-id': { type: 'string', desc: 'spec link', arg: 'SPEC' },
    pinned: { type: 'boolean', desc: 'mark as pinned context' },
    unpinned: { type: 'boolean', desc: 'clear the pinned flag' },
  },
  run(ctx, { values, positionals }) {
    const changes = Object.keys(values).filter((k) => values[k] !== undefined);
    if (changes.length === 0)
      throw new UsageError('nothing to update: give at least one flag, e.g. --status in_progress');
    if (values.ephemeral && values.persistent)
      throw new UsageError('--ephemeral and --persistent exclude each other');
    return withStore(ctx, (store) => {
      const ids = positionals.map((p) => store.resolve(p));
      const parent = values.parent ? store.resolve(values.parent) : values.parent;
      const updated = store.transact(`update ${ids.join(' ')}`, (tx) =>
        ids.map((id) => applyUpdate(tx, id, values, parent)),
      );
      const text = updated.map((b) => `${ctx.color.green('✓')} Updated ${b.id}: ${b.title}`).join('\n');
      return { data: updated.map(publicBead), text };
    });
  },
};

export function applyUpdate(
  tx: BeadTx,
  id: string,
  v: Record<string, any>,
  parent: string | undefined,
): Bead {
  const b = tx.must(id);
  const before = JSON.stringify(b);
  const cfg = tx.store.typeConfig();
  const changed: string[] = [];
  const set = <K extends keyof Bead>(k: K, val: Bead[K]) => {
    if (JSON.stringify(b[k]) !== JSON.stringify(val)) {
      b[k] = val;
      changed.push(k);
    }
  };
  if (v.claim) {
    claim(tx, b, tx.actor);
    changed.push(`claimed by ${tx.actor}`);
  }
  if (v.status !== undefined) {
    const old = b.status;
    setStatus(tx, b, v.status);
    if (old !== b.status) changed.push(`status ${old}→${b.status}`);
  }
  if (v.priority !== undefined) set('priority', parsePriority(v.priority));
  if (v.title !== undefined) {
    if (!v.title.trim()) throw new ValidationError('the title cannot be empty');
    set('title', v.title.trim());
  }
  if (v.type !== undefined) set('issue_type', normalizeType(v.type, cfg));
  if (v.assignee !== undefined) set('assignee', v.assignee || undefined);
  if (v.owner !== undefined) set('owner', v.owner || undefined);
  if (v.description !== undefined) set('description', v.description);
  if (v.design !== undefined) set('design', v.design);
  if (v.acceptance !== undefined) set('acceptance_criteria', v.acceptance);
  if (v.notes !== undefined) set('notes', v.notes);
  if (v['append-notes'] !== undefined)
    set('notes', b.notes ? `${b.notes}\n${v['append-notes']}` : v['append-notes']);
  if (v['external-ref'] !== undefined) set('external_ref', v['external-ref'] || undefined);
  if (v['spec-id'] !== undefined) set('spec_id', v['spec-id'] || undefined);
  if (v.estimate !== undefined) set('estimated_minutes', intFlag('estimate', v.estimate));
  if (v.due !== undefined) set('due_at', whenFlag('due', v.due) ?? undefined);
  if (v.defer !== undefined) set('defer_until', whenFlag('defer', v.defer) ?? undefined);
  if (v['await-id'] !== undefined) set('await_id', v['await-id']);
  if (v.pinned) set('pinned', true);
  if (v.unpinned) set('pinned', undefined);
  if (v.ephemeral) set('ephemeral', true);
  if (v.persistent) set('ephemeral', undefined);
  let labels = new Set(b.labels ?? []);
  if (v['set-labels'] !== undefined) labels = new Set(listFlag(v['set-labels']));
  for (const l of listFlag(v['add-label'])) labels.add(l);
  for (const l of listFlag(v['remove-label'])) labels.delete(l);
  for (const l of labels) validateLabel(l);
  const nextLabels = [...labels].sort();
  if (nextLabels.join('\n') !== (b.labels ?? []).join('\n'))
    set('labels', nextLabels.length ? nextLabels : undefined);
  let meta = b.metadata ? { ...b.metadata } : {};
  if (v.metadata !== undefined) meta = jsonObjectFlag('metadata', v.metadata)!;
  for (const kv of v['set-metadata'] ?? []) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new UsageError(`--set-metadata needs key=value, got "${kv}"`);
    const raw = kv.slice(i + 1);
    let val: unknown = raw;
    try {
      val = JSON.parse(raw);
    } catch {
      // plain strings stay strings
    }
    meta[kv.slice(0, i)] = val;
  }
  for (const k of v['unset-metadata'] ?? []) delete meta[k];
  set('metadata', Object.keys(meta).length ? meta : undefined);
  if (parent !== undefined) {
    const current = parentOf(b);
    if (current !== (parent || undefined)) {
      if (current) removeDependency(tx, b, current);
      if (parent) addDependency(tx, b, parent, 'parent-child');
      changed.push(`parent ${current ?? '-'}→${parent || '-'}`);
    }
  }
  if (JSON.stringify(b) !== before) {
    b.updated_at = tx.now;
    tx.put(b);
    tx.note(`update ${b.id}: ${changed.join(', ') || 'fields'}`);
  }
  return b;
}

// ---- close / reopen -------------------------------------------------------------------------

const close: CommandDef = {
  name: 'close',
  aliases: ['done'],
  summary: 'Close beads (with the guards of the original; --force skips them)',
  usage: 'bd close ID [ID...] [--reason TEXT] [--force]',
  args: [1, -1],
  options: {
    reason: { type: 'string', short: 'r', desc: 'why it was closed', arg: 'TEXT' },
    message: { type: 'string', short: 'm', desc: 'same as --reason', arg: 'TEXT' },
    force: {
      type: 'boolean',
      short: 'f',
      desc: 'close even if pinned, blocked, an open epic or an unmet gate',
    },
    session: { type: 'string', desc: 'agent session id that closed it', arg: 'ID' },
    'suggest-next': { type: 'boolean', desc: 'list beads this close made ready' },
    continue: { type: 'boolean', desc: "molecule step: claim and print the molecule's next step" },
  },
  run(ctx, { values, positionals }) {
    if (values.continue) {
      if (positionals.length !== 1) throw new UsageError('--continue closes one step at a time');
      return withStore(ctx, (store) => {
        const { virtual } = splitVirtual(store, positionals);
        if (virtual.size) {
          const [p] = closeVirtual(ctx.cwd, store, virtual, values.force);
          const { steps: _s, ...rest } = p;
          const next = p.next_step
            ? `Next: ${p.next_step.id} ${p.next_step.title}`
            : p.complete
              ? 'Molecule complete.'
              : '';
          return {
            data: rest,
            text: `${ctx.color.green('✓')} ${p.molecule_id}: ${p.completed}/${p.total}\n${next}`.trim(),
          };
        }
        const r = closeStep(store, store.resolve(positionals[0]), {
          reason: values.reason ?? values.message,
          force: values.force,
          claimNext: true,
        });
        const lines = [`${ctx.color.green('✓')} Closed ${r.closed}`];
        if (r.progress) lines.push(`Molecule ${r.molecule_id}: ${r.progress.completed}/${r.progress.total}`);
        if (r.next) lines.push(`Next: ${r.next.id} ${r.next.title} (claimed)`);
        else if (r.progress?.complete) lines.push('Molecule complete.');
        const { progress, ...rest } = r;
        return {
          data: { ...rest, completed: progress?.completed, total: progress?.total },
          text: lines.join('\n'),
        };
      });
    }
    return withStore(ctx, (store) => {
      const { real: ids, virtual } = splitVirtual(store, positionals);
      if (virtual.size) {
        // Steps of root-only wisps: their done state lives on the root (no commit).
        if (ids.length) throw new UsageError('close steps of a root-only wisp separately from other beads');
        const touched = closeVirtual(ctx.cwd, store, virtual, values.force);
        const text = touched
          .map(
            (p) =>
              `${ctx.color.green('✓')} ${p.molecule_id}: ${p.completed}/${p.total}${p.next_step ? `, next ${p.next_step.id}` : ''}`,
          )
          .join('\n');
        return { data: touched.map(({ steps: _s, ...rest }) => rest), text };
      }
      const readyBefore = new Set(readyWork(store.graph(), store.blocked()).map((b) => b.id));
      const closed = store.transact(`close ${ids.join(' ')}`, (tx) =>
        ids.map((id) => {
          const b = tx.must(id);
          closeBead(tx, b, {
            reason: values.reason ?? values.message,
            force: values.force,
            session: values.session ?? process.env.CLAUDE_SESSION_ID,
          });
          return b;
        }),
      );
      const lines = closed.map((b) => `${ctx.color.green('✓')} Closed ${b.id}: ${b.title}`);
      const data: Record<string, unknown>[] = closed.map(publicBead);
      if (values['suggest-next']) {
        const now = readyWork(store.graph(), store.blocked()).filter((b) => !readyBefore.has(b.id));
        if (now.length) lines.push('', 'Newly ready:', ...now.map((s) => beadLine(s, ctx.color)));
        return {
          data: {
            closed: data,
            unblocked: now.map((s) => withCounts(s, store.graph().dependents.get(s.id)?.length ?? 0)),
          },
          text: lines.join('\n'),
        };
      }
      return { data, text: lines.join('\n') };
    });
  },
};

const reopen: CommandDef = {
  name: 'reopen',
  summary: 'Reopen closed beads',
  usage: 'bd reopen ID [ID...] [--reason TEXT]',
  args: [1, -1],
  options: { reason: { type: 'string', short: 'r', desc: 'why (added as a comment)', arg: 'TEXT' } },
  run(ctx, { values, positionals }) {
    return withStore(ctx, (store) => {
      const ids = positionals.map((p) => store.resolve(p));
      const beads = store.transact(`reopen ${ids.join(' ')}`, (tx) =>
        ids.map((id) => {
          const b = tx.must(id);
          reopenBead(tx, b, values.reason);
          return b;
        }),
      );
      return {
        data: beads.map(publicBead),
        text: beads.map((b) => `Reopened ${b.id}: ${b.title}`).join('\n'),
      };
    });
  },
};

// ---- ready / blocked ------------------------------------------------------------------------

const ready: CommandDef = {
  name: 'ready',
  summary: 'Open, unblocked work, best first (spec §3.3)',
  usage:
    'bd ready [--sort priority|oldest|hybrid] [-n N] [--assignee WHO] [--unassigned] [--label L] [--claim]',
  options: {
    ...filterOptions,
    sort: { type: 'string', desc: 'priority (default), oldest or hybrid', arg: 'POLICY' },
    'exclude-type': { type: 'string', multiple: true, desc: 'leave out these types', arg: 'T' },
    'include-ephemeral': { type: 'boolean', desc: 'include wisps' },
    'include-deferred': { type: 'boolean', desc: 'include beads deferred into the future' },
    claim: { type: 'boolean', desc: 'atomically claim the first unassigned ready bead' },
    mol: { type: 'string', desc: 'ready steps of this molecule', arg: 'ID' },
  },
  run(ctx, { values }) {
    if (values.mol) return readyInMolecule(ctx, values.mol);
    const sort = (values.sort ?? 'priority') as SortPolicy;
    if (!['priority', 'oldest', 'hybrid'].includes(sort)) {
      throw new UsageError(`--sort must be priority, oldest or hybrid, got "${values.sort}"`);
    }
    const fast =
      onlyPaging(values, ['limit', 'sort']) && sort === 'priority'
        ? (store: BeadStore, views: Views) => {
            const out = renderView(ctx, store, views, views.ready, limitOf(values, 100));
            if (out && !ctx.json && views.ready.length === 0) out.text = 'No ready work.';
            return out;
          }
        : null;
    return withViews(
      ctx,
      fast,
      (store) => {
        const cfg = store.typeConfig();
        const f: ReadyFilter = {
          ...commonFilter(store, values),
          type: values.type ? normalizeType(values.type, cfg) : undefined,
          excludeTypes: listFlag(values['exclude-type']),
          includeEphemeral: values['include-ephemeral'],
          includeDeferred: values['include-deferred'],
        };
        if (values.status && values.status !== 'open') {
          throw new UsageError('bd ready only lists open beads; use bd list --status for others');
        }
        const work = sortBeads(readyWork(store.graph(), store.blocked(), f), sort);
        if (values.claim) {
          const candidates = work.filter((b) => !b.assignee).map((b) => b.id);
          if (candidates.length === 0) throw new GtError('no unassigned ready work to claim');
          const claimed = store.transact('ready --claim', (tx) => {
            // Under the lock: the first candidate still open and unassigned wins.
            for (const id of candidates) {
              const b = tx.get(id);
              if (b?.status !== 'open' || b.assignee) continue;
              claim(tx, b, tx.actor);
              tx.put(b);
              tx.note(`claim ${id} for ${tx.actor}`);
              return b;
            }
            throw new ConflictError(
              'every ready bead was claimed by someone else meanwhile; run bd ready again',
            );
          });
          return {
            data: publicBead(claimed),
            text: `${ctx.color.green('✓')} Claimed ${claimed.id}: ${claimed.title}`,
          };
        }
        const limit = limitOf(values, 100);
        const out = renderList(ctx, graphContext(store), work, work.length, limit);
        if (!ctx.json && work.length === 0) out.text = 'No ready work.';
        return out;
      },
      { light: !values.claim },
    );
  },
};

const blocked: CommandDef = {
  name: 'blocked',
  summary: 'Beads held back by open dependencies, with what blocks them',
  usage: 'bd blocked [--parent ID]',
  options: { parent: { type: 'string', desc: 'only direct children of this bead', arg: 'ID' } },
  run(ctx, { values }) {
    const render = (rc: ReadContext, entries: { bead: BeadSummary; blocked_by: string[] }[]) => {
      const data = entries.map((e) => ({
        ...withCounts(e.bead, rc.dependentsOf(e.bead.id).length),
        blocked_by: e.blocked_by,
        blocked_by_count: e.blocked_by.length,
      }));
      const text = entries.length
        ? entries
            .map((e) => `${beadLine(e.bead, ctx.color, true)}\n    blocked by: ${e.blocked_by.join(', ')}`)
            .join('\n')
        : 'Nothing is blocked.';
      return { data, text };
    };
    const fast = values.parent
      ? null
      : (store: BeadStore, views: Views) => {
          const rc = viewsContext(
            store,
            views,
            views.blocked.map((b) => b[0]),
          );
          return rc
            ? render(
                rc,
                views.blocked.map(([id, by]) => ({ bead: rc.row(id)!, blocked_by: by })),
              )
            : null;
        };
    return withViews(ctx, fast, (store) => {
      const parent = values.parent ? store.resolve(values.parent) : undefined;
      let entries = blockedEntries(store.graph(), store.blocked());
      if (parent) {
        entries = entries.filter((e) => parentOf(e.bead) === parent || e.bead.id.startsWith(`${parent}.`));
      }
      return render(graphContext(store), entries);
    });
  },
};

export const issueCommands: CommandDef[] = [
  init,
  create,
  q,
  show,
  list,
  update,
  close,
  reopen,
  ready,
  blocked,
];

// Re-exported for other command modules that build on the same pieces.
export { addComment, commonFilter, filterOptions, renderList };
