// Readiness over the dependency graph (spec §3.2, §3.3): the blocked set, ready work with its
// filters and sorts, blocked reasons and cycle detection. Pure logic over bead summaries.
import type { BeadSummary } from './record.ts';
import { BLOCKING_DEP_TYPES, CYCLE_CHECKED_DEP_TYPES, DONE_STATUSES, READY_EXCLUDED_TYPES } from './types.ts';

type Node = Pick<BeadSummary, 'id' | 'status' | 'dependencies'> & Partial<BeadSummary>;

export interface Graph<T extends Node = BeadSummary> {
  byId: Map<string, T>;
  /** parent id → direct children (by parent-child edges). */
  children: Map<string, string[]>;
  /** target id → ids of beads that depend on it (any edge type). */
  dependents: Map<string, string[]>;
}

/** What the per-bead checks need from a graph: lookups by id (a Graph is one). */
export interface GraphLookup<T extends Node = BeadSummary> {
  byId: { get(id: string): T | undefined };
  children: { get(id: string): string[] | undefined };
}

export function buildGraph<T extends Node>(beads: Iterable<T>): Graph<T> {
  const byId = new Map<string, T>();
  const children = new Map<string, string[]>();
  const dependents = new Map<string, string[]>();
  for (const b of beads) byId.set(b.id, b);
  for (const b of byId.values()) {
    for (const d of b.dependencies ?? []) {
      push(dependents, d.depends_on_id, b.id);
      if (d.type === 'parent-child') push(children, d.depends_on_id, b.id);
    }
  }
  return { byId, children, dependents };
}

function push(m: Map<string, string[]>, k: string, v: string): void {
  const a = m.get(k);
  if (a) a.push(v);
  else m.set(k, [v]);
}

function waitsForGate(metadata: string | undefined): string {
  if (!metadata) return 'all-children';
  try {
    return JSON.parse(metadata).gate ?? 'all-children';
  } catch {
    return 'all-children';
  }
}

/** Why X is blocked on its own (not inherited): the targets still holding it back. */
export function directBlockers<T extends Node>(g: GraphLookup<T>, x: T): string[] {
  if (DONE_STATUSES.has(x.status)) return [];
  const out: string[] = [];
  for (const e of x.dependencies ?? []) {
    const t = g.byId.get(e.depends_on_id);
    if (!t) continue; // dangling and external targets never block (spec §3.1)
    if (BLOCKING_DEP_TYPES.has(e.type)) {
      if (!DONE_STATUSES.has(t.status)) out.push(t.id);
    } else if (e.type === 'waits-for') {
      const kids = (g.children.get(t.id) ?? []).map((k) => g.byId.get(k)).filter((k): k is T => !!k);
      const anyOpen = kids.some((k) => !DONE_STATUSES.has(k.status));
      const anyGate = waitsForGate(e.metadata) === 'any-children';
      if (anyOpen && !(anyGate && kids.some((k) => k.status === 'closed'))) out.push(t.id);
    }
  }
  return out;
}

/**
 * The blocked set (least fixpoint of spec §3.2): direct blockers first, then blocking flows
 * down parent-child edges to every descendant that is not done.
 */
export function computeBlocked<T extends Node>(g: Graph<T>): Set<string> {
  const blocked = new Set<string>();
  const queue: string[] = [];
  for (const x of g.byId.values()) {
    if (directBlockers(g, x).length > 0) {
      blocked.add(x.id);
      queue.push(x.id);
    }
  }
  while (queue.length > 0) {
    const p = queue.pop()!;
    for (const c of g.children.get(p) ?? []) {
      const child = g.byId.get(c);
      if (!child || blocked.has(c) || DONE_STATUSES.has(child.status)) continue;
      blocked.add(c);
      queue.push(c);
    }
  }
  return blocked;
}

/**
 * Whether one bead is in the blocked set of computeBlocked, found by walking up from it
 * instead of computing the whole set: it is blocked when it is not done and it, or an ancestor
 * reached through parent-child edges over beads that are not done, has a direct blocker.
 */
export function isBlocked<T extends Node>(g: GraphLookup<T>, id: string): boolean {
  const seen = new Set<string>();
  const stack = [id];
  while (stack.length > 0) {
    const cur = stack.pop()!;
    if (seen.has(cur)) continue;
    seen.add(cur);
    const x = g.byId.get(cur);
    if (!x || DONE_STATUSES.has(x.status)) continue;
    if (directBlockers(g, x).length > 0) return true;
    for (const d of x.dependencies ?? []) if (d.type === 'parent-child') stack.push(d.depends_on_id);
  }
  return false;
}

export type SortPolicy = 'priority' | 'oldest' | 'hybrid';

export interface ReadyFilter {
  type?: string;
  excludeTypes?: string[];
  priority?: number;
  assignee?: string;
  unassigned?: boolean;
  labels?: string[];
  labelsAny?: string[];
  excludeLabels?: string[];
  parent?: string;
  molType?: string;
  metadataField?: [string, string][];
  hasMetadataKey?: string[];
  includeEphemeral?: boolean;
  includeDeferred?: boolean;
  now?: number;
}

/** Every descendant of `root` by parent-child edges, plus ids `root.*` without such an edge. */
export function descendants<T extends Node>(g: Graph<T>, root: string): Set<string> {
  const out = new Set<string>();
  const stack = [root];
  while (stack.length > 0) {
    const p = stack.pop()!;
    for (const c of g.children.get(p) ?? []) {
      if (!out.has(c)) {
        out.add(c);
        stack.push(c);
      }
    }
  }
  for (const id of g.byId.keys()) if (id.startsWith(`${root}.`)) out.add(id);
  return out;
}

function deferredInFuture(b: Partial<BeadSummary> | undefined, now: number): boolean {
  return !!b?.defer_until && Date.parse(b.defer_until) > now;
}

/** Ready work exactly as spec §3.3 describes, before sorting and limiting. */
export function readyWork(g: Graph<BeadSummary>, blocked: Set<string>, f: ReadyFilter = {}): BeadSummary[] {
  const now = f.now ?? Date.now();
  const inParent = f.parent ? descendants(g, f.parent) : null;
  const excluded = new Set([...READY_EXCLUDED_TYPES, ...(f.excludeTypes ?? [])]);
  const out: BeadSummary[] = [];
  for (const b of g.byId.values()) {
    if (b.status !== 'open' || b.pinned || blocked.has(b.id)) continue;
    if (b.ephemeral && !f.includeEphemeral) continue;
    if (f.type ? b.issue_type !== f.type : excluded.has(b.issue_type)) continue;
    if (!f.includeDeferred) {
      if (deferredInFuture(b, now)) continue;
      const parent = b.dependencies?.find((d) => d.type === 'parent-child');
      if (parent && deferredInFuture(g.byId.get(parent.depends_on_id), now)) continue;
    }
    if (!matchesCommon(b, f)) continue;
    if (inParent && !inParent.has(b.id)) continue;
    out.push(b);
  }
  return out;
}

/** Filters shared by ready, list and blocked. */
export function matchesCommon(b: BeadSummary, f: ReadyFilter): boolean {
  if (f.priority !== undefined && b.priority !== f.priority) return false;
  if (f.assignee !== undefined && (b.assignee ?? '') !== f.assignee) return false;
  if (f.unassigned && b.assignee) return false;
  const labels = b.labels ?? [];
  if (f.labels && !f.labels.every((l) => labels.includes(l))) return false;
  if (f.labelsAny && f.labelsAny.length > 0 && !f.labelsAny.some((l) => labels.includes(l))) return false;
  if (f.excludeLabels?.some((l) => labels.includes(l))) return false;
  if (f.molType !== undefined && (b.mol_type ?? '') !== f.molType) return false;
  for (const [k, v] of f.metadataField ?? []) {
    const mv = (b.metadata as any)?.[k];
    if (mv === undefined || String(typeof mv === 'object' ? JSON.stringify(mv) : mv) !== v) return false;
  }
  for (const k of f.hasMetadataKey ?? []) if (!b.metadata || !(k in b.metadata)) return false;
  return true;
}

const cmpId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Sort in place by a policy of spec §3.3. */
export function sortBeads<T extends { id: string; priority: number; ct: number }>(
  list: T[],
  policy: SortPolicy,
  now = Date.now(),
): T[] {
  if (policy === 'oldest') return list.sort((a, b) => a.ct - b.ct || cmpId(a, b));
  if (policy === 'hybrid') {
    const cutoff = now - 48 * 3600 * 1000;
    return list.sort((a, b) => {
      const ra = a.ct >= cutoff;
      const rb = b.ct >= cutoff;
      if (ra !== rb) return ra ? -1 : 1;
      if (ra) return a.priority - b.priority || cmpId(a, b);
      return a.ct - b.ct || cmpId(a, b);
    });
  }
  return list.sort((a, b) => a.priority - b.priority || b.ct - a.ct || cmpId(a, b));
}

/** `bd blocked` entries: who holds each blocked bead back (spec §3.3). */
export function blockedEntries(
  g: Graph<BeadSummary>,
  blocked: Set<string>,
): { bead: BeadSummary; blocked_by: string[] }[] {
  const out: { bead: BeadSummary; blocked_by: string[] }[] = [];
  for (const id of blocked) {
    const b = g.byId.get(id)!;
    let by = directBlockers(g, b);
    if (by.length === 0) {
      const parent = b.dependencies?.find((d) => d.type === 'parent-child')?.depends_on_id;
      by = parent ? [parent] : [];
    }
    out.push({ bead: b, blocked_by: by });
  }
  out.sort((x, y) => x.bead.priority - y.bead.priority || y.bead.ct - x.bead.ct || cmpId(x.bead, y.bead));
  return out;
}

/** A path of blocking edges from `from` to `to`, if any (used to name the cycle a new edge would close). */
export function blockingPath<T extends Node>(g: Graph<T>, from: string, to: string): string[] | null {
  const prev = new Map<string, string>();
  const stack = [from];
  const seen = new Set([from]);
  while (stack.length > 0) {
    const cur = stack.pop()!;
    if (cur === to) {
      const path = [to];
      let p = to;
      while (p !== from) {
        p = prev.get(p)!;
        path.unshift(p);
      }
      return path;
    }
    for (const e of g.byId.get(cur)?.dependencies ?? []) {
      if (!CYCLE_CHECKED_DEP_TYPES.has(e.type) || seen.has(e.depends_on_id)) continue;
      seen.add(e.depends_on_id);
      prev.set(e.depends_on_id, cur);
      stack.push(e.depends_on_id);
    }
  }
  return null;
}

/** Every cycle over blocking edges: strongly connected components with more than one bead (Tarjan). */
export function findCycles<T extends Node>(g: Graph<T>): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const out: string[][] = [];
  const succ = (id: string) =>
    (g.byId.get(id)?.dependencies ?? [])
      .filter((e) => CYCLE_CHECKED_DEP_TYPES.has(e.type) && g.byId.has(e.depends_on_id))
      .map((e) => e.depends_on_id);
  for (const start of g.byId.keys()) {
    if (index.has(start)) continue;
    // Iterative Tarjan, so deep chains cannot overflow the call stack.
    const work: { id: string; it: string[]; i: number }[] = [];
    const visit = (id: string) => {
      index.set(id, counter);
      low.set(id, counter);
      counter++;
      stack.push(id);
      onStack.add(id);
      work.push({ id, it: succ(id), i: 0 });
    };
    visit(start);
    while (work.length > 0) {
      const top = work[work.length - 1];
      if (top.i < top.it.length) {
        const w = top.it[top.i++];
        if (!index.has(w)) visit(w);
        else if (onStack.has(w)) low.set(top.id, Math.min(low.get(top.id)!, index.get(w)!));
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1];
        low.set(parent.id, Math.min(low.get(parent.id)!, low.get(top.id)!));
      }
      if (low.get(top.id) === index.get(top.id)) {
        const comp: string[] = [];
        let w: string;
        do {
          w = stack.pop()!;
          onStack.delete(w);
          comp.push(w);
        } while (w !== top.id);
        const selfLoop = comp.length === 1 && succ(comp[0]).includes(comp[0]);
        if (comp.length > 1 || selfLoop) out.push(comp.reverse());
      }
    }
  }
  return out;
}
