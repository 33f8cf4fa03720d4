// Molecules: a cooked proto instantiated as beads (pour: committed; wisp: operational plane),
// molecule-local progress (spec §6.8), squash and burn (§6.7), bonds.

import { buildGraph, type Graph } from '../beads/graph.ts';
import { addDependency, closeBead, deleteBead } from '../beads/ops.ts';
import type { BeadSummary } from '../beads/record.ts';
import type { BeadStore, BeadTx } from '../beads/store.ts';
import type { Bead } from '../beads/types.ts';
import { ConflictError, NotFoundError } from '../errors.ts';
import type { Proto } from './cook.ts';

export interface InstantiateOptions {
  ephemeral: boolean;
  assignee?: string;
  /** Only the root bead; steps are read from the formula at run time. */
  rootOnly?: boolean;
  /** Bead prefix for the molecule's ids (a rig's, for work poured for its polecats); default the store's. */
  prefix?: string;
}

export interface InstantiateResult {
  new_epic_id: string;
  id_mapping: Record<string, string>;
  created: number;
  phase: 'liquid' | 'vapor';
}

/** Create the molecule's beads inside `tx` (one commit for a pour; wisp files for a wisp). */
export function instantiate(tx: BeadTx, proto: Proto, opts: InstantiateOptions): InstantiateResult {
  const alloc = tx.idAllocator({ infix: opts.ephemeral ? 'wisp' : 'mol', prefix: opts.prefix });
  const mapping: Record<string, string> = {};
  const protos = opts.rootOnly ? [proto.root] : [proto.root, ...proto.steps];
  // Ids first (edges may point forward). The proto key enters the hash so repeated titles differ.
  for (const p of protos) mapping[p.key] = alloc(p.title, `${p.description ?? ''}\0${p.key}`);
  const now = tx.now;
  for (const p of protos) {
    const isRoot = p === proto.root;
    const metadata: Record<string, unknown> = { ...(p.metadata ?? {}) };
    if (isRoot) {
      metadata.formula = proto.formula;
      if (Object.keys(proto.vars).length) metadata.formula_vars = proto.vars;
      if (opts.rootOnly) metadata.root_only = true;
    } else if (p.stepId) metadata.step = p.stepId;
    if (p.run) metadata.run = p.run;
    const bead: Bead = {
      id: mapping[p.key],
      title: p.title,
      description: p.description,
      notes: p.notes,
      acceptance_criteria: p.acceptance,
      status: 'open',
      priority: p.priority,
      issue_type: p.issue_type,
      assignee: isRoot ? (opts.assignee ?? p.assignee) : p.assignee,
      owner: tx.store.email(),
      created_at: now,
      created_by: tx.actor,
      updated_at: now,
      labels: [...new Set(p.labels)].sort(),
      metadata,
      ephemeral: opts.ephemeral || undefined,
      await_type: p.await_type,
      await_id: p.await_id,
      timeout: p.timeout || undefined,
      mol_type: isRoot ? 'work' : undefined,
      dependencies: p.deps
        .filter((d) => mapping[d.target])
        .map((d) => ({
          issue_id: mapping[p.key],
          depends_on_id: mapping[d.target],
          type: d.type,
          created_at: now,
          created_by: tx.actor,
          ...(d.metadata ? { metadata: d.metadata } : {}),
        })),
    };
    tx.put(bead);
  }
  const root = mapping[proto.root.key];
  tx.note(`${opts.ephemeral ? 'wisp' : 'pour'} ${proto.formula} → ${root} (${protos.length} beads)`);
  return {
    new_epic_id: root,
    id_mapping: mapping,
    created: protos.length,
    phase: opts.ephemeral ? 'vapor' : 'liquid',
  };
}

// ---- progress -------------------------------------------------------------------------------

export type StepState = 'done' | 'current' | 'blocked' | 'ready' | 'pending';

export interface StepProgress {
  id: string;
  title: string;
  status: string;
  state: StepState;
  issue_type: string;
  step?: string;
  blocked_by: string[];
  run?: string;
}

export interface MoleculeProgress {
  molecule_id: string;
  title: string;
  formula?: string;
  ephemeral: boolean;
  total: number;
  completed: number;
  in_progress: number;
  current_step: StepProgress | null;
  next_step: StepProgress | null;
  complete: boolean;
  steps: StepProgress[];
}

/** Root plus every descendant by parent-child edges, plus ids `root.*` (spec §6.8). */
export function moleculeMembers(g: Graph, rootId: string): string[] {
  const out = [rootId];
  const seen = new Set(out);
  for (let i = 0; i < out.length; i++) {
    for (const c of g.children.get(out[i]) ?? []) {
      if (!seen.has(c)) {
        seen.add(c);
        out.push(c);
      }
    }
  }
  for (const id of g.byId.keys()) {
    if (!seen.has(id) && id.startsWith(`${rootId}.`)) {
      seen.add(id);
      out.push(id);
    }
  }
  return out;
}

function waitsGate(metadata?: string): string {
  try {
    return metadata ? (JSON.parse(metadata).gate ?? 'all-children') : 'all-children';
  } catch {
    return 'all-children';
  }
}

/** Molecule-local readiness: blockers inside the molecule that are not closed; parent-child never blocks. */
export function moleculeProgress(g: Graph, rootId: string): MoleculeProgress {
  const root = g.byId.get(rootId);
  if (!root) throw new NotFoundError(`no molecule with id "${rootId}"`);
  const members = moleculeMembers(g, rootId);
  const inside = new Set(members);
  const steps: StepProgress[] = [];
  for (const id of members.slice(1)) {
    const s = g.byId.get(id)!;
    const blockers: string[] = [];
    for (const d of s.dependencies ?? []) {
      if (!inside.has(d.depends_on_id)) continue;
      const t = g.byId.get(d.depends_on_id)!;
      if (d.type === 'blocks' || d.type === 'conditional-blocks') {
        if (t.status !== 'closed') blockers.push(t.id);
      } else if (d.type === 'waits-for') {
        const kids = (g.children.get(t.id) ?? []).map((k) => g.byId.get(k)!).filter(Boolean);
        if (waitsGate(d.metadata) === 'any-children' && kids.some((k) => k.status === 'closed')) continue;
        for (const k of kids) if (k.status !== 'closed' && inside.has(k.id)) blockers.push(k.id);
      }
    }
    const ready = (s.status === 'open' || s.status === 'in_progress') && blockers.length === 0;
    const state: StepState =
      s.status === 'closed'
        ? 'done'
        : s.status === 'in_progress'
          ? 'current'
          : s.status === 'blocked'
            ? 'blocked'
            : ready
              ? 'ready'
              : 'pending';
    const meta = (s.metadata ?? {}) as Record<string, unknown>;
    steps.push({
      id,
      title: s.title,
      status: s.status,
      state,
      issue_type: s.issue_type,
      ...(typeof meta.step === 'string' ? { step: meta.step } : {}),
      blocked_by: blockers,
      ...(typeof meta.run === 'string' ? { run: meta.run } : {}),
    });
  }
  topoSort(steps, g, inside);
  const completed = steps.filter((s) => s.state === 'done').length;
  const current = steps.filter((s) => s.state === 'current');
  const next = steps.find((s) => s.state === 'ready' && s.issue_type !== 'gate') ?? null;
  const meta = (root.metadata ?? {}) as Record<string, unknown>;
  return {
    molecule_id: rootId,
    title: root.title,
    ...(typeof meta.formula === 'string' ? { formula: meta.formula } : {}),
    ephemeral: !!root.ephemeral,
    total: steps.length,
    completed,
    in_progress: current.length,
    current_step: current[current.length - 1] ?? null,
    next_step: next,
    complete: steps.length > 0 && completed === steps.length,
    steps,
  };
}

/**
 * Order steps so every step comes after the steps it waits on (Kahn's algorithm over the
 * molecule's blocks/waits-for edges); ties keep discovery order. The original sorts by the
 * number of blocking edges, which puts a long chain in arbitrary order.
 */
function topoSort(steps: StepProgress[], g: Graph, inside: Set<string>): void {
  const index = new Map(steps.map((s, i) => [s.id, i]));
  const waitsOn = new Map<string, string[]>();
  const indegree = new Map<string, number>(steps.map((s) => [s.id, 0]));
  for (const s of steps) {
    for (const d of g.byId.get(s.id)?.dependencies ?? []) {
      if (d.type === 'parent-child' || !inside.has(d.depends_on_id) || !index.has(d.depends_on_id)) continue;
      const list = waitsOn.get(d.depends_on_id) ?? [];
      list.push(s.id);
      waitsOn.set(d.depends_on_id, list);
      indegree.set(s.id, indegree.get(s.id)! + 1);
    }
  }
  const ready = steps.filter((s) => indegree.get(s.id) === 0).map((s) => s.id);
  const out: string[] = [];
  while (ready.length) {
    ready.sort((a, b) => index.get(a)! - index.get(b)!);
    const id = ready.shift()!;
    out.push(id);
    for (const next of waitsOn.get(id) ?? []) {
      const n = indegree.get(next)! - 1;
      indegree.set(next, n);
      if (n === 0) ready.push(next);
    }
  }
  // A cycle (only possible through hand edits) keeps its members at the end, in discovery order.
  const placed = new Set(out);
  for (const s of steps) if (!placed.has(s.id)) out.push(s.id);
  const rank = new Map(out.map((id, i) => [id, i]));
  steps.sort((a, b) => rank.get(a.id)! - rank.get(b.id)!);
}

/** Steps ready to work on now (open, no open blockers inside the molecule), gates excluded. */
export function readySteps(p: MoleculeProgress): StepProgress[] {
  return p.steps.filter((s) => s.state === 'ready' && s.status === 'open' && s.issue_type !== 'gate');
}

/** The molecule a bead belongs to: walk parent-child edges up to a molecule/epic root. */
export function moleculeOf(g: Graph, id: string): string | null {
  let cur = g.byId.get(id);
  let last: BeadSummary | undefined;
  for (let i = 0; cur && i < 50; i++) {
    if (cur.issue_type === 'molecule' || (cur.labels ?? []).includes('template')) return cur.id;
    last = cur;
    const parent = cur.dependencies?.find((d) => d.type === 'parent-child')?.depends_on_id;
    cur = parent ? g.byId.get(parent) : undefined;
  }
  return last && last.id !== id && last.issue_type === 'epic' ? last.id : null;
}

/** Which molecule an actor is on: its in_progress steps, then its hooked beads (spec §6.8). */
export function currentMoleculeFor(g: Graph, actor: string): string | null {
  for (const status of ['in_progress', 'hooked']) {
    for (const b of g.byId.values()) {
      if (b.status !== status || b.assignee !== actor) continue;
      if (b.issue_type === 'molecule') return b.id;
      const m = moleculeOf(g, b.id);
      if (m) return m;
      // A hooked work bead points at its molecule through a blocks edge (gt sling's bond).
      for (const d of b.dependencies ?? []) {
        const t = g.byId.get(d.depends_on_id);
        if (d.type === 'blocks' && t?.issue_type === 'molecule') return t.id;
      }
    }
  }
  return null;
}

// ---- squash, burn, bond ---------------------------------------------------------------------

export interface SquashResult {
  molecule_id: string;
  digest_id: string | null;
  squashed: number;
  kept_children: boolean;
}

/** Turn a wisp's steps into one closed digest bead in the ledger (spec §6.7). */
export function squash(
  store: BeadStore,
  rootId: string,
  opts: { summary?: string; keepChildren?: boolean },
): SquashResult {
  const g = store.graph();
  const members = moleculeMembers(g, rootId);
  const root = g.byId.get(rootId);
  if (!root) throw new NotFoundError(`no molecule with id "${rootId}"`);
  const children = members.slice(1).map((id) => g.byId.get(id)!);
  const wisps = children.filter((c) => c.ephemeral);
  if (!wisps.length)
    return { molecule_id: rootId, digest_id: null, squashed: 0, kept_children: !!opts.keepChildren };
  return store.transact(`mol squash ${rootId}`, (tx) => {
    const full = wisps.map((w) => tx.must(w.id));
    const summary =
      opts.summary ??
      [
        '## Molecule Execution Summary',
        '',
        `Molecule: ${root.title} (${rootId})`,
        '',
        ...full.map((b) => {
          const desc = b.description ? `\n  ${b.description.slice(0, 200).replace(/\n/g, ' ')}` : '';
          const outcome = b.close_reason ? `\n  *Outcome: ${b.close_reason}*` : '';
          return `- [${b.status}] ${b.title}${desc}${outcome}`;
        }),
      ].join('\n');
    const digestId = tx.newId({ title: `Digest: ${root.title}`, description: summary });
    const digest: Bead = {
      id: digestId,
      title: `Digest: ${root.title}`,
      description: summary,
      status: 'closed',
      priority: root.priority,
      issue_type: 'task',
      created_at: tx.now,
      created_by: tx.actor,
      updated_at: tx.now,
      closed_at: tx.now,
      close_reason: `Squashed from ${wisps.length} wisps`,
      dependencies: [],
    };
    const rootBead = tx.must(rootId);
    if (rootBead.ephemeral) {
      // The root leaves the operational plane: closed and committed with its digest.
      rootBead.ephemeral = undefined;
      rootBead.status = 'closed';
      rootBead.closed_at = tx.now;
      rootBead.close_reason = `Squashed: ${wisps.length} steps → digest ${digestId}`;
      rootBead.updated_at = tx.now;
      rootBead.dependencies = (rootBead.dependencies ?? []).filter(
        (d) => !wisps.some((w) => w.id === d.depends_on_id),
      );
      tx.put(rootBead);
    }
    addDependency(tx, digest, rootId, 'parent-child', { sourceIsNew: true });
    tx.put(digest);
    if (!opts.keepChildren) for (const w of wisps) tx.delete(w.id);
    tx.note(`squash ${rootId}: ${wisps.length} steps → ${digestId}`);
    return {
      molecule_id: rootId,
      digest_id: digestId,
      squashed: wisps.length,
      kept_children: !!opts.keepChildren,
    };
  });
}

/** Discard a molecule and its descendants, no digest. */
export function burn(store: BeadStore, rootIds: string[]): { burned: string[] } {
  const g = store.graph();
  const all: string[] = [];
  for (const r of rootIds) {
    if (!g.byId.get(r)) throw new NotFoundError(`no molecule with id "${r}"`);
    all.push(...moleculeMembers(g, r));
  }
  const unique = [...new Set(all)];
  store.transact(`mol burn ${rootIds.join(' ')}`, (tx) => {
    // Children first, so reference cleanup never touches a bead about to go.
    for (const id of [...unique].reverse()) if (tx.exists(id)) deleteBead(tx, id);
  });
  return { burned: unique };
}

export type BondType = 'sequential' | 'parallel' | 'conditional';

/** Join molecule B to A: sequential → B blocks on A; conditional → conditional-blocks; parallel → B becomes A's child. */
export function bond(
  store: BeadStore,
  a: string,
  b: string,
  type: BondType,
): { from: string; to: string; dependency_type: string } {
  const depType =
    type === 'sequential' ? 'blocks' : type === 'conditional' ? 'conditional-blocks' : 'parent-child';
  return store.transact(`mol bond ${a} ${b} (${type})`, (tx) => {
    const bb = tx.must(b);
    if (!tx.exists(a)) throw new NotFoundError(`no bead with id "${a}"`);
    if ((bb.dependencies ?? []).some((d) => d.depends_on_id === a)) {
      throw new ConflictError(`${b} is already bonded to ${a}`);
    }
    // Molecules join across types (an epic step can follow a task), so the epic/task rule is not applied.
    addDependency(tx, bb, a, depType, { allowCrossEpic: true });
    tx.put(bb);
    tx.note(`bond ${b} → ${a} (${depType})`);
    return { from: b, to: a, dependency_type: depType };
  });
}

/**
 * Close a step and, with `claimNext`, claim the molecule's next ready step for the actor:
 * one commit for both (the molecule is the state).
 */
export function closeStep(
  store: BeadStore,
  stepId: string,
  opts: { reason?: string; force?: boolean; claimNext?: boolean },
): {
  closed: string;
  molecule_id: string | null;
  next: StepProgress | null;
  progress: MoleculeProgress | null;
} {
  return store.transact(`close ${stepId}`, (tx) => {
    closeBead(tx, tx.must(stepId), { reason: opts.reason, force: opts.force });
    const g = buildGraph(tx.summaries());
    const mol = moleculeOf(g, stepId);
    if (!mol) return { closed: stepId, molecule_id: null, next: null, progress: null };
    let progress = moleculeProgress(g, mol);
    const next = readySteps(progress)[0] ?? null;
    if (next && opts.claimNext) {
      const b = tx.must(next.id);
      b.status = 'in_progress';
      b.assignee = tx.actor;
      b.started_at ??= tx.now;
      b.updated_at = tx.now;
      tx.put(b);
      tx.note(`claim ${next.id} for ${tx.actor} (molecule ${mol})`);
      progress = moleculeProgress(buildGraph(tx.summaries()), mol);
    }
    return { closed: stepId, molecule_id: mol, next, progress };
  });
}

// ---- root-only wisps ------------------------------------------------------------------------
// A root-only wisp stores just its root; its steps are read from the formula at run time as
// virtual beads `<root>.<step>`, and which of them are done lives in the root's metadata.

export interface RootOnlyInfo {
  formula: string;
  vars: Record<string, string>;
  done: string[];
}

export function rootOnlyInfo(root: { metadata?: Record<string, unknown> }): RootOnlyInfo | null {
  const m = (root.metadata ?? {}) as Record<string, any>;
  if (!m.root_only || typeof m.formula !== 'string') return null;
  return {
    formula: m.formula,
    vars: m.formula_vars ?? {},
    done: Array.isArray(m.done_steps) ? m.done_steps : [],
  };
}

/** Virtual step beads of a root-only wisp, built from its cooked proto. */
export function virtualSteps(root: BeadSummary, proto: Proto, done: string[]): BeadSummary[] {
  const prefix = `${proto.root.key}.`;
  const idOf = (key: string) => (key === proto.root.key ? root.id : `${root.id}.${key.slice(prefix.length)}`);
  const doneSet = new Set(done);
  return proto.steps.map((p) => {
    const rel = p.key.slice(prefix.length);
    const closed = doneSet.has(rel);
    return {
      id: idOf(p.key),
      title: p.title,
      status: closed ? 'closed' : 'open',
      priority: p.priority,
      issue_type: p.issue_type,
      created_at: root.created_at,
      updated_at: root.updated_at,
      ...(closed ? { closed_at: root.updated_at } : {}),
      ephemeral: true,
      labels: p.labels,
      metadata: { ...(p.stepId ? { step: p.stepId } : {}), ...(p.run ? { run: p.run } : {}), virtual: true },
      dependencies: p.deps.map((d) => ({
        issue_id: idOf(p.key),
        depends_on_id: idOf(d.target),
        type: d.type,
        created_at: root.created_at,
        ...(d.metadata ? { metadata: d.metadata } : {}),
      })),
      comment_count: 0,
      ct: root.ct,
    } as BeadSummary;
  });
}

/** Mark virtual steps of a root-only wisp done (or not); refuses steps still blocked unless forced. */
export function markVirtualSteps(
  store: BeadStore,
  rootId: string,
  proto: Proto,
  rels: string[],
  opts: { force?: boolean } = {},
): RootOnlyInfo {
  return store.transact(`steps done in ${rootId}`, (tx) => {
    const root = tx.must(rootId);
    const info = rootOnlyInfo(root);
    if (!info) throw new NotFoundError(`${rootId} is not a root-only wisp`);
    const known = new Set(proto.steps.map((s) => s.key.slice(proto.root.key.length + 1)));
    const done = new Set(info.done);
    for (const rel of rels) {
      if (!known.has(rel))
        throw new NotFoundError(
          `${rootId} has no step "${rel}" (steps: ${[...known].slice(0, 8).join(', ')}...)`,
        );
      if (!opts.force) {
        const summary = { ...(root as any), comment_count: 0, ct: 0 } as BeadSummary;
        const g = buildGraph([summary, ...virtualSteps(summary, proto, [...done])]);
        const p = moleculeProgress(g, rootId);
        const step = p.steps.find((s) => s.id === `${rootId}.${rel}`)!;
        if (step.blocked_by.length) {
          throw new ConflictError(
            `${rootId}.${rel} is blocked by ${step.blocked_by.join(', ')}; finish those first or use --force`,
          );
        }
      }
      done.add(rel);
    }
    root.metadata = { ...(root.metadata ?? {}), done_steps: [...done] };
    root.updated_at = tx.now;
    tx.put(root);
    return { ...info, done: [...done] };
  });
}

// ---- wisp housekeeping ----------------------------------------------------------------------

/** Time-to-live by wisp_type (spec §1.4); plain wisps and molecules get a day. */
export const WISP_TTL_MS: Record<string, number> = {
  heartbeat: 6 * 3600e3,
  ping: 6 * 3600e3,
  patrol: 24 * 3600e3,
  gc_report: 24 * 3600e3,
  recovery: 7 * 86400e3,
  error: 7 * 86400e3,
  escalation: 7 * 86400e3,
};
const DEFAULT_WISP_TTL_MS = 24 * 3600e3;

export interface WispInfo {
  id: string;
  title: string;
  status: string;
  issue_type: string;
  formula?: string;
  wisp_type?: string;
  updated_at: string;
  members: number;
  /** Not updated within its time-to-live. */
  old: boolean;
}

/** Top-level wisps (no parent), each with its molecule size and whether it outlived its TTL. */
export function listWisps(g: Graph, opts: { all?: boolean; now?: number; ttlMs?: number } = {}): WispInfo[] {
  const now = opts.now ?? Date.now();
  const out: WispInfo[] = [];
  for (const b of g.byId.values()) {
    if (!b.ephemeral || b.dependencies?.some((d) => d.type === 'parent-child')) continue;
    if (!opts.all && b.status === 'closed') continue;
    const ttl = opts.ttlMs ?? WISP_TTL_MS[b.wisp_type ?? ''] ?? DEFAULT_WISP_TTL_MS;
    const meta = (b.metadata ?? {}) as Record<string, unknown>;
    out.push({
      id: b.id,
      title: b.title,
      status: b.status,
      issue_type: b.issue_type,
      ...(typeof meta.formula === 'string' ? { formula: meta.formula } : {}),
      ...(b.wisp_type ? { wisp_type: b.wisp_type } : {}),
      updated_at: b.updated_at,
      members: moleculeMembers(g, b.id).length,
      old: now - (Date.parse(b.updated_at) || 0) > ttl,
    });
  }
  return out.sort((a, b) => (a.updated_at < b.updated_at ? -1 : 1));
}

/** Delete old or closed wisps with everything under them (operational plane only: no commit). */
export function gcWisps(
  store: BeadStore,
  opts: { dryRun?: boolean; ttlMs?: number; now?: number } = {},
): { removed: string[]; beads: number } {
  const g = store.graph();
  const victims = listWisps(g, { all: true, ttlMs: opts.ttlMs, now: opts.now }).filter(
    (w) => w.old || w.status === 'closed',
  );
  const ids = [...new Set(victims.flatMap((v) => moleculeMembers(g, v.id)))].filter(
    (id) => g.byId.get(id)?.ephemeral,
  );
  if (!opts.dryRun && ids.length) {
    store.transact('wisp gc', (tx) => {
      for (const id of ids) tx.delete(id);
    });
  }
  return { removed: victims.map((v) => v.id), beads: ids.length };
}
