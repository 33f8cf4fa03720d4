// Read-side logic behind the relation and query commands: selection with list's filters,
// text search, grouping, stats, staleness, children, dependency trees (text and mermaid) and
// cycle paths. Pure logic over bead summaries and the dependency graph.
import { type Graph, matchesCommon, type ReadyFilter, readyWork } from './graph.ts';
import type { BeadSummary } from './record.ts';
import { CYCLE_CHECKED_DEP_TYPES } from './types.ts';

// ---- selection --------------------------------------------------------------------------------

export interface Selection {
  /** Only these statuses; when absent, closed beads are left out unless `all`. */
  statuses?: string[] | null;
  types?: string[] | null;
  all?: boolean;
  includeEphemeral?: boolean;
  /** Only beads in this set (e.g. descendants of --parent). */
  within?: Set<string> | null;
  common?: ReadyFilter;
}

/** The beads `bd list` would show for the same flags (before sorting and limiting). */
export function selectBeads(beads: Iterable<BeadSummary>, s: Selection): BeadSummary[] {
  const out: BeadSummary[] = [];
  for (const b of beads) {
    if (s.statuses ? !s.statuses.includes(b.status) : !s.all && b.status === 'closed') continue;
    if (s.types && !s.types.includes(b.issue_type)) continue;
    if (b.ephemeral && !s.includeEphemeral && !s.all) continue;
    if (s.within && !s.within.has(b.id)) continue;
    if (s.common && !matchesCommon(b, s.common)) continue;
    out.push(b);
  }
  return out;
}

// ---- search -----------------------------------------------------------------------------------

export type SearchField = 'id' | 'title' | 'description' | 'notes';

/** Which of id, title, description and notes contain `query` (case-insensitive). */
export function matchFields(
  b: { id: string; title?: string; description?: string; notes?: string },
  query: string,
  fields: SearchField[] = ['id', 'title', 'description', 'notes'],
): SearchField[] {
  const needle = query.toLowerCase();
  return fields.filter((f) => (b[f] ?? '').toLowerCase().includes(needle));
}

// ---- grouping ---------------------------------------------------------------------------------

export const GROUP_KEYS = ['status', 'type', 'priority', 'assignee', 'label'] as const;
export type GroupKey = (typeof GROUP_KEYS)[number];

export interface Group {
  /** null = no assignee / no label. */
  key: string | number | null;
  count: number;
}

/** Counts per value of `by`; a bead with several labels counts once per label. */
export function groupCount(beads: BeadSummary[], by: GroupKey): Group[] {
  const counts = new Map<string | number | null, number>();
  const bump = (k: string | number | null) => counts.set(k, (counts.get(k) ?? 0) + 1);
  for (const b of beads) {
    if (by === 'status') bump(b.status);
    else if (by === 'type') bump(b.issue_type);
    else if (by === 'priority') bump(b.priority);
    else if (by === 'assignee') bump(b.assignee || null);
    else if (b.labels?.length) for (const l of b.labels) bump(l);
    else bump(null);
  }
  const groups = [...counts].map(([key, count]) => ({ key, count }));
  if (by === 'priority') return groups.sort((a, b) => (a.key as number) - (b.key as number));
  return groups.sort((a, b) => b.count - a.count || String(a.key ?? '').localeCompare(String(b.key ?? '')));
}

// ---- stats ------------------------------------------------------------------------------------

export interface Stats {
  total_issues: number;
  open_issues: number;
  in_progress_issues: number;
  closed_issues: number;
  deferred_issues: number;
  pinned_issues: number;
  hooked_issues: number;
  /** Beads whose computed blocked flag is set (spec §3.2), any status not done. */
  blocked_issues: number;
  /** open − blocked, the original's approximation (spec §3.3). */
  ready_issues: number;
  /** What `bd ready` would actually return. */
  ready_actual: number;
  /** Manual status `blocked` (different from the computed flag). */
  status_blocked_issues: number;
  by_status: Record<string, number>;
  by_type: Record<string, number>;
  /** Mean closed_at − created_at over closed beads, in hours; null when none is closed. */
  average_lead_time_hours: number | null;
}

/** Project statistics over committed beads (wisps are operational, not counted). */
export function beadStats(g: Graph<BeadSummary>, blocked: Set<string>, now = Date.now()): Stats {
  const beads = [...g.byId.values()].filter((b) => !b.ephemeral);
  const by_status: Record<string, number> = {};
  const by_type: Record<string, number> = {};
  let leadSum = 0;
  let leadN = 0;
  for (const b of beads) {
    by_status[b.status] = (by_status[b.status] ?? 0) + 1;
    by_type[b.issue_type] = (by_type[b.issue_type] ?? 0) + 1;
    if (b.status === 'closed' && b.closed_at) {
      const d = Date.parse(b.closed_at) - Date.parse(b.created_at);
      if (Number.isFinite(d) && d >= 0) {
        leadSum += d;
        leadN++;
      }
    }
  }
  const blockedCount = beads.filter((b) => blocked.has(b.id)).length;
  const open = by_status.open ?? 0;
  return {
    total_issues: beads.length,
    open_issues: open,
    in_progress_issues: by_status.in_progress ?? 0,
    closed_issues: by_status.closed ?? 0,
    deferred_issues: by_status.deferred ?? 0,
    pinned_issues: by_status.pinned ?? 0,
    hooked_issues: by_status.hooked ?? 0,
    blocked_issues: blockedCount,
    ready_issues: Math.max(0, open - blockedCount),
    ready_actual: readyWork(g, blocked, { now }).length,
    status_blocked_issues: by_status.blocked ?? 0,
    by_status,
    by_type,
    average_lead_time_hours: leadN ? Math.round((leadSum / leadN / 3600e3) * 100) / 100 : null,
  };
}

// ---- stale ------------------------------------------------------------------------------------

export interface StaleEntry {
  bead: BeadSummary;
  days_stale: number;
}

/** Beads not updated for `days` days, oldest update first. */
export function staleBeads(beads: BeadSummary[], days: number, now = Date.now()): StaleEntry[] {
  const cutoff = now - days * 86400e3;
  const out: StaleEntry[] = [];
  for (const b of beads) {
    const t = Date.parse(b.updated_at);
    if (!Number.isFinite(t) || t >= cutoff) continue;
    out.push({ bead: b, days_stale: Math.floor((now - t) / 86400e3) });
  }
  return out.sort(
    (a, b) => Date.parse(a.bead.updated_at) - Date.parse(b.bead.updated_at) || cmp(a.bead.id, b.bead.id),
  );
}

// ---- children ---------------------------------------------------------------------------------

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Order ids so that `x.2` comes before `x.10`. */
export function naturalIdCompare(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}

/**
 * Direct children of `id`: beads with a parent-child edge to it, plus ids `id.<part>` (one
 * level) that have no parent-child edge at all.
 */
export function childrenOf<T extends BeadSummary>(g: Graph<T>, id: string): string[] {
  const out = new Set(g.children.get(id) ?? []);
  const head = `${id}.`;
  for (const [k, b] of g.byId) {
    if (!k.startsWith(head) || k.slice(head.length).includes('.')) continue;
    if (!b.dependencies?.some((d) => d.type === 'parent-child')) out.add(k);
  }
  return [...out].sort(naturalIdCompare);
}

// ---- dependency trees -------------------------------------------------------------------------

export type Direction = 'down' | 'up' | 'both';

export interface TreeNode {
  id: string;
  title?: string;
  status?: string;
  priority?: number;
  issue_type?: string;
  depth: number;
  /** The node this one was reached from (null for the root). */
  parent_id: string | null;
  /** Type of the edge between this node and parent_id. */
  dependency_type: string | null;
  /** down: parent_id depends on this node; up: this node depends on parent_id. */
  direction: 'root' | 'down' | 'up';
  /** Not in this ledger (external:... or a dangling target). */
  missing?: boolean;
  /** Has further edges that --max-depth cut off. */
  truncated?: boolean;
  children: TreeNode[];
}

export interface TreeOptions {
  direction: Direction;
  maxDepth: number;
  /** Only follow edges of these types (all when absent). */
  types?: string[];
}

function nodeOf(
  g: Graph<BeadSummary>,
  id: string,
  depth: number,
  parent: string | null,
  type: string | null,
  direction: TreeNode['direction'],
): TreeNode {
  const b = g.byId.get(id);
  const fields = b
    ? { title: b.title, status: b.status, priority: b.priority, issue_type: b.issue_type }
    : { missing: true };
  const n: TreeNode = {
    id,
    ...fields,
    depth,
    parent_id: parent,
    dependency_type: type,
    direction,
    children: [],
  };
  return n;
}

/** Edges out of `id` in one direction: [neighbour, edge type]. */
function neighbours(
  g: Graph<BeadSummary>,
  id: string,
  dir: 'down' | 'up',
  types?: string[],
): [string, string][] {
  const keep = (t: string) => !types || types.includes(t);
  if (dir === 'down') {
    return (g.byId.get(id)?.dependencies ?? [])
      .filter((d) => keep(d.type))
      .map((d) => [d.depends_on_id, d.type] as [string, string]);
  }
  const out: [string, string][] = [];
  for (const src of new Set(g.dependents.get(id) ?? [])) {
    const e = g.byId.get(src)?.dependencies?.find((d) => d.depends_on_id === id);
    if (e && keep(e.type)) out.push([src, e.type]);
  }
  return out.sort((a, b) => naturalIdCompare(a[0], b[0]));
}

/**
 * The dependency tree around `root`, depth-first; each bead appears once per direction (a
 * bead reachable twice is shown where it is first met), so cycles terminate.
 */
export function depTree(g: Graph<BeadSummary>, root: string, o: TreeOptions): TreeNode {
  const top = nodeOf(g, root, 0, null, null, 'root');
  const dirs: ('down' | 'up')[] = o.direction === 'both' ? ['down', 'up'] : [o.direction];
  for (const dir of dirs) {
    const seen = new Set([root]);
    const walk = (n: TreeNode) => {
      const next = neighbours(g, n.id, dir, o.types).filter(([id]) => !seen.has(id));
      if (n.depth >= o.maxDepth) {
        if (next.length) n.truncated = true;
        return;
      }
      for (const [id, type] of next) {
        if (seen.has(id)) continue; // met meanwhile, deeper in an earlier sibling
        seen.add(id);
        const child = nodeOf(g, id, n.depth + 1, n.id, type, dir);
        n.children.push(child);
        walk(child);
      }
    };
    walk(top);
  }
  return top;
}

/** Pre-order list of the tree's nodes, without the nested children (the JSON form). */
export function flattenTree(root: TreeNode): Omit<TreeNode, 'children'>[] {
  const out: Omit<TreeNode, 'children'>[] = [];
  const visit = (n: TreeNode) => {
    const { children, ...rest } = n;
    out.push(rest);
    for (const c of children) visit(c);
  };
  visit(root);
  return out;
}

/** The tree drawn with box characters; `line` renders one node. */
export function renderTree(root: TreeNode, line: (n: TreeNode) => string): string {
  const lines = [line(root)];
  const visit = (n: TreeNode, indent: string) => {
    n.children.forEach((c, i) => {
      const last = i === n.children.length - 1;
      lines.push(`${indent}${last ? '└── ' : '├── '}${line(c)}`);
      visit(c, indent + (last ? '    ' : '│   '));
    });
  };
  visit(root, '');
  return lines.join('\n');
}

function mermaidLabel(s: string): string {
  return s
    .replace(/&/g, '#amp;')
    .replace(/"/g, '#quot;')
    .replace(/</g, '#lt;')
    .replace(/>/g, '#gt;')
    .replace(/\|/g, '#124;')
    .replace(/[\r\n]+/g, ' ');
}

/**
 * A mermaid flowchart of the tree's beads with every edge among them (so shared dependencies
 * show as a DAG, not duplicated). Arrows point from a bead to what it depends on.
 */
export function treeToMermaid(g: Graph<BeadSummary>, root: TreeNode, types?: string[]): string {
  const nodes = flattenTree(root);
  const key = new Map<string, string>();
  const lines = ['flowchart TD'];
  for (const n of nodes) {
    if (key.has(n.id)) continue;
    const k = `n${key.size}`;
    key.set(n.id, k);
    const label = n.missing ? `${n.id} (not in this ledger)` : `${n.id}: ${n.title} [${n.status}]`;
    lines.push(`  ${k}["${mermaidLabel(label)}"]${n.status === 'closed' ? ':::closed' : ''}`);
  }
  const edges = new Set<string>();
  for (const id of key.keys()) {
    for (const d of g.byId.get(id)?.dependencies ?? []) {
      if (!key.has(d.depends_on_id) || (types && !types.includes(d.type))) continue;
      const arrow = d.type === 'blocks' ? '-->' : `-->|${mermaidLabel(d.type)}|`;
      edges.add(`  ${key.get(id)} ${arrow} ${key.get(d.depends_on_id)}`);
    }
  }
  lines.push(...edges);
  lines.push('  classDef closed fill:#eee,stroke:#999,color:#777');
  return lines.join('\n');
}

// ---- cycles -----------------------------------------------------------------------------------

/**
 * A closed walk through `members` (one strongly connected component from findCycles) over
 * blocking edges, starting and ending at its first member: `[a, b, c, a]`.
 */
export function cyclePath<T extends BeadSummary>(g: Graph<T>, members: string[]): string[] {
  const inComp = new Set(members);
  const start = members[0];
  const prev = new Map<string, string>();
  const queue = [start];
  const seen = new Set<string>();
  while (queue.length > 0) {
    const cur = queue.shift()!;
    for (const e of g.byId.get(cur)?.dependencies ?? []) {
      if (!CYCLE_CHECKED_DEP_TYPES.has(e.type) || !inComp.has(e.depends_on_id)) continue;
      if (e.depends_on_id === start) {
        const path = [start];
        for (let p: string | undefined = cur; p !== undefined && p !== start; p = prev.get(p))
          path.unshift(p);
        path.unshift(start);
        return path;
      }
      if (seen.has(e.depends_on_id)) continue;
      seen.add(e.depends_on_id);
      prev.set(e.depends_on_id, cur);
      queue.push(e.depends_on_id);
    }
  }
  return [...members, start];
}
