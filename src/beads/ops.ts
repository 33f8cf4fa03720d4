// Bead write operations with the original's rules (spec §1-§3): create, update, claim, close,
// reopen, dependencies, labels, comments, delete. Each works inside one BeadTx, so a command
// that does several of them still makes one commit.
import crypto from 'node:crypto';
import { ConflictError, GtError, NotFoundError } from '../errors.ts';
import {
  blockingPath,
  buildGraph,
  directBlockers,
  type Graph,
  type GraphLookup,
  isBlocked,
} from './graph.ts';
import { validateId } from './ids.ts';
import { type BeadSummary, beadPath, summarize } from './record.ts';
import type { BeadTx } from './store.ts';
import {
  type Bead,
  CYCLE_CHECKED_DEP_TYPES,
  type Dependency,
  DONE_STATUSES,
  normalizeStatus,
  normalizeType,
  ValidationError,
  validateDepType,
  WELL_KNOWN_DEP_TYPES,
} from './types.ts';

export interface CreateInput {
  title: string;
  description?: string;
  design?: string;
  acceptance_criteria?: string;
  notes?: string;
  type?: string;
  priority?: number;
  assignee?: string;
  owner?: string;
  labels?: string[];
  parent?: string;
  deps?: { type: string; id: string }[];
  id?: string;
  /** Skip the prefix check on explicit ids. */
  force?: boolean;
  ephemeral?: boolean;
  no_history?: boolean;
  due_at?: string;
  defer_until?: string;
  metadata?: Record<string, unknown>;
  waits_for?: string;
  waits_for_gate?: 'all-children' | 'any-children';
  mol_type?: string;
  wisp_type?: string;
  external_ref?: string;
  estimated_minutes?: number;
  spec_id?: string;
  status?: string;
  pinned?: boolean;
  is_template?: boolean;
  inheritLabels?: boolean;
  /** `mol` / `wisp`: ids become `<prefix>-<infix>-<hash>`. */
  infix?: string;
  extra?: Partial<Bead>;
}

const MOL_TYPES = ['swarm', 'patrol', 'work'];
const WISP_TYPES = ['heartbeat', 'ping', 'patrol', 'gc_report', 'recovery', 'error', 'escalation'];

function allowedPrefixes(tx: BeadTx): string[] {
  const cfg = tx.store.config();
  const extra = (cfg.allowed_prefixes ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return [tx.store.prefix(), ...extra];
}

export function createBead(tx: BeadTx, input: CreateInput): Bead {
  const cfg = tx.store.typeConfig();
  const title = (input.title ?? '').trim();
  if (!title) throw new ValidationError('a title is required: bd create "Fix the login page"');
  const type = normalizeType(input.type ?? 'task', cfg);
  if (input.mol_type && !MOL_TYPES.includes(input.mol_type)) {
    throw new ValidationError(`invalid mol_type "${input.mol_type}": use ${MOL_TYPES.join(', ')}`);
  }
  if (input.wisp_type && !WISP_TYPES.includes(input.wisp_type)) {
    throw new ValidationError(`invalid wisp_type "${input.wisp_type}": use ${WISP_TYPES.join(', ')}`);
  }
  let parent: Bead | undefined;
  if (input.parent) {
    parent = tx.get(input.parent);
    if (!parent)
      throw new NotFoundError(`parent "${input.parent}" does not exist; check the id with \`bd list\``);
  }
  let id: string;
  if (input.id) {
    validateId(input.id);
    if (tx.exists(input.id)) throw new ConflictError(`a bead with id ${input.id} already exists`);
    if (!input.force && !parent) {
      const ok = allowedPrefixes(tx).some((p) => input.id!.startsWith(`${p}-`));
      if (!ok) {
        throw new ValidationError(
          `id ${input.id} does not start with this ledger's prefix (${allowedPrefixes(tx).join(', ')}); use --force to keep it`,
        );
      }
    }
    id = input.id;
  } else if (parent) {
    id = tx.nextChildId(parent);
  } else {
    id = tx.newId({
      title,
      description: input.description,
      infix: input.infix ?? (input.ephemeral ? 'wisp' : undefined),
    });
  }
  const now = tx.now;
  const status = input.status ? normalizeStatus(input.status, cfg) : 'open';
  const labels = new Set(input.labels ?? []);
  if (parent && input.inheritLabels !== false) for (const l of parent.labels ?? []) labels.add(l);
  const bead: Bead = {
    ...(input.extra ?? {}),
    id,
    title,
    description: input.description,
    design: input.design,
    acceptance_criteria: input.acceptance_criteria,
    notes: input.notes,
    spec_id: input.spec_id,
    status,
    priority: input.priority ?? 2,
    issue_type: type,
    assignee: input.assignee,
    owner: input.owner ?? tx.store.email(),
    estimated_minutes: input.estimated_minutes,
    created_at: now,
    created_by: tx.actor,
    updated_at: now,
    started_at: status === 'in_progress' ? now : undefined,
    closed_at: status === 'closed' ? now : undefined,
    due_at: input.due_at,
    defer_until: input.defer_until,
    external_ref: input.external_ref,
    metadata: input.metadata,
    labels: [...labels].sort(),
    dependencies: [],
    ephemeral: input.ephemeral,
    no_history: input.no_history,
    wisp_type: input.wisp_type,
    mol_type: input.mol_type,
    pinned: input.pinned,
    is_template: input.is_template,
  };
  for (const l of bead.labels ?? []) validateLabel(l);
  if (parent) {
    addDependency(tx, bead, parent.id, 'parent-child', { sourceIsNew: true });
    if (parent.child_counter !== undefined && !input.id) tx.put({ ...parent, updated_at: parent.updated_at });
  }
  for (const d of input.deps ?? []) {
    if (!WELL_KNOWN_DEP_TYPES.includes(d.type)) {
      throw new ValidationError(
        `unknown dependency type "${d.type}" in --deps: use one of ${WELL_KNOWN_DEP_TYPES.slice(0, 6).join(', ')}, ...`,
      );
    }
    addDependency(tx, bead, d.id, d.type, { sourceIsNew: true });
  }
  if (input.waits_for) {
    addDependency(tx, bead, input.waits_for, 'waits-for', {
      sourceIsNew: true,
      metadata: JSON.stringify({ gate: input.waits_for_gate ?? 'all-children' }),
    });
  }
  tx.put(bead);
  tx.note(`create ${id}: ${title}`);
  return bead;
}

export function validateLabel(label: string): void {
  if (!label || label.length > 255 || /[\n\r\0,]/.test(label) || label.trim() !== label) {
    throw new ValidationError(
      `invalid label ${JSON.stringify(label)}: a label is non-empty, one line, without commas`,
    );
  }
}

/**
 * Add edge `source → target` (source depends on target) with the write-time rules of
 * spec §3.1. Mutates `source` (the caller puts it).
 */
export function addDependency(
  tx: BeadTx,
  source: Bead,
  targetId: string,
  type: string,
  opts: { metadata?: string; sourceIsNew?: boolean; noCycleCheck?: boolean; allowCrossEpic?: boolean } = {},
): Dependency {
  validateDepType(type);
  if (targetId === source.id) throw new ValidationError(`${source.id} cannot depend on itself`);
  const external = targetId.startsWith('external:');
  if (!external) validateId(targetId);
  const target = external ? undefined : tx.get(targetId);
  if (!external && !target) {
    throw new NotFoundError(
      `dependency target ${targetId} does not exist (for ${source.id}); create it first or use external:<project>:<capability>`,
    );
  }
  if (
    type === 'blocks' &&
    target &&
    !opts.allowCrossEpic &&
    (source.issue_type === 'epic') !== (target.issue_type === 'epic')
  ) {
    throw new ValidationError(
      `${source.id} (${source.issue_type}) cannot be blocked by ${targetId} (${target.issue_type}): tasks can only block tasks, epics can only block epics; use parent-child or related`,
    );
  }
  const deps = (source.dependencies ??= []);
  const existing = deps.find((d) => d.depends_on_id === targetId);
  if (existing) {
    if (existing.type !== type) {
      throw new ConflictError(
        `${source.id} already depends on ${targetId} as "${existing.type}"; remove it first with \`bd dep remove ${source.id} ${targetId}\``,
      );
    }
    if (opts.metadata !== undefined) existing.metadata = opts.metadata;
    return existing;
  }
  if (CYCLE_CHECKED_DEP_TYPES.has(type) && !external && !opts.noCycleCheck) {
    const summaries = tx.summaries().filter((s) => s.id !== source.id);
    const g = buildGraph([...summaries, { ...source, comment_count: 0, ct: 0 } as any]);
    const back = blockingPath(g, targetId, source.id);
    if (back) {
      throw new ConflictError(
        `adding ${source.id} → ${targetId} (${type}) would create a cycle: ${[source.id, ...back].join(' → ')}`,
      );
    }
  }
  const dep: Dependency = {
    issue_id: source.id,
    depends_on_id: targetId,
    type,
    created_at: tx.now,
    created_by: tx.actor,
    ...(opts.metadata ? { metadata: opts.metadata } : {}),
  };
  deps.push(dep);
  source.updated_at = tx.now;
  return dep;
}

export function removeDependency(tx: BeadTx, source: Bead, targetId: string): Dependency {
  const deps = source.dependencies ?? [];
  const i = deps.findIndex((d) => d.depends_on_id === targetId);
  if (i < 0)
    throw new NotFoundError(`${source.id} has no dependency on ${targetId} (\`bd dep list ${source.id}\`)`);
  const [removed] = deps.splice(i, 1);
  source.updated_at = tx.now;
  return removed;
}

/** Apply a status change with its side effects (started_at, closed_at, close_reason). */
export function setStatus(tx: BeadTx, b: Bead, status: string): void {
  const next = normalizeStatus(status, tx.store.typeConfig());
  if (next === b.status) return;
  if (next === 'in_progress' && !b.started_at) b.started_at = tx.now;
  if (next === 'closed') {
    b.closed_at = tx.now;
  } else if (b.status === 'closed') {
    b.closed_at = undefined;
    b.close_reason = undefined;
  }
  b.status = next;
  b.updated_at = tx.now;
}

/** Atomic claim (spec §1.2): only an open bead with no other assignee. */
export function claim(tx: BeadTx, b: Bead, actor: string): void {
  if (b.assignee && b.assignee !== actor) {
    throw new ConflictError(`${b.id} is already claimed by ${b.assignee}`);
  }
  if (b.status !== 'open' && !(b.status === 'in_progress' && b.assignee === actor)) {
    throw new ConflictError(`${b.id} cannot be claimed: its status is ${b.status}, not open`);
  }
  b.assignee = actor;
  setStatus(tx, b, 'in_progress');
}

export interface CloseOptions {
  reason?: string;
  force?: boolean;
  session?: string;
}

/**
 * The transaction's beads as a graph that looks them up one by one (a close then costs the
 * same on 10 or 100,000 beads); the children index, which needs every bead, is built only
 * when a check asks for it (epics, waits-for edges).
 */
function txGraph(tx: BeadTx): GraphLookup<BeadSummary> {
  let full: Graph | null = null;
  const all = () => (full ??= buildGraph(tx.summaries()));
  return {
    byId: {
      get(id) {
        const changed = tx.wispChanges.get(id);
        if (changed) return summarize(changed);
        const wisp = tx.wispChanges.has(id) ? undefined : tx.store.wisps.get(id);
        return wisp ? summarize(wisp) : tx.ltx.summary(beadPath(id));
      },
    },
    children: { get: (id) => all().children.get(id) },
  };
}

/** Why a bead may not be closed (spec §3.3 guards), or null. */
export function closeGuard(tx: BeadTx, b: Bead, force: boolean): string | null {
  if (b.is_template) return `${b.id} is a template; templates cannot be closed`;
  if (force) return null;
  if (b.status === 'pinned' || b.pinned) return `${b.id} is pinned; use --force to close it`;
  const g = txGraph(tx);
  if (b.issue_type === 'epic') {
    const open = (g.children.get(b.id) ?? []).filter((c) => {
      const s = g.byId.get(c);
      return s && !DONE_STATUSES.has(s.status);
    });
    if (open.length)
      return `epic ${b.id} has open children (${open.join(', ')}); close them first or use --force`;
  }
  const gate = gateUnsatisfied((id) => tx.get(id), b);
  if (gate) return `${b.id} is a gate whose condition is not met (${gate}); use --force to close it anyway`;
  const node = g.byId.get(b.id);
  if (node && isBlocked(g, b.id)) {
    const by = directBlockers(g, node);
    return `${b.id} is blocked${by.length ? ` by ${by.join(', ')}` : ' (its parent is blocked)'}; close those first or use --force`;
  }
  return null;
}

/** Machine-checkable gate conditions (spec §6.9); human and mail gates close by hand. */
export function gateUnsatisfied(get: (id: string) => Bead | undefined, b: Bead): string | null {
  if (b.issue_type !== 'gate' || !b.await_type) return null;
  switch (b.await_type) {
    case 'timer': {
      const until = Date.parse(b.created_at) + (b.timeout ?? 0) / 1e6;
      return Date.now() < until ? `timer until ${new Date(until).toISOString()}` : null;
    }
    case 'bead': {
      const t = b.await_id ? get(b.await_id) : undefined;
      return t && t.status !== 'closed' ? `waiting for ${b.await_id} to close` : null;
    }
    case 'gh:run':
    case 'gh:pr':
      return `${b.await_type} ${b.await_id ?? ''} needs network access to check`.trim();
    default:
      return null;
  }
}

export function closeBead(tx: BeadTx, b: Bead, opts: CloseOptions = {}): void {
  if (b.status === 'closed') throw new ConflictError(`${b.id} is already closed`);
  const guard = closeGuard(tx, b, !!opts.force);
  if (guard) throw new GtError(guard);
  setStatus(tx, b, 'closed');
  if (opts.reason) b.close_reason = opts.reason;
  if (opts.session) b.closed_by_session = opts.session;
  tx.put(b);
  tx.note(`close ${b.id}${opts.reason ? `: ${opts.reason}` : ''}`);
}

export function reopenBead(tx: BeadTx, b: Bead, reason?: string): void {
  if (b.status !== 'closed') throw new ConflictError(`${b.id} is not closed (status ${b.status})`);
  setStatus(tx, b, 'open');
  b.defer_until = undefined;
  if (reason) addComment(tx, b, reason);
  tx.put(b);
  tx.note(`reopen ${b.id}${reason ? `: ${reason}` : ''}`);
}

/** UUIDv7 (time-ordered), the id format of comments in the original. */
export function uuidv7(): string {
  const bytes = crypto.randomBytes(16);
  const ms = BigInt(Date.now());
  for (let i = 0; i < 6; i++) bytes[i] = Number((ms >> BigInt(8 * (5 - i))) & 0xffn);
  bytes[6] = (bytes[6] & 0x0f) | 0x70;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const h = bytes.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function addComment(tx: BeadTx, b: Bead, text: string, author = tx.actor): void {
  if (!text.trim()) throw new ValidationError('a comment needs text');
  (b.comments ??= []).push({ id: uuidv7(), issue_id: b.id, author, text, created_at: tx.now });
  b.updated_at = tx.now;
}

/** Delete a bead and every reference to it (edges pointing at it). */
export function deleteBead(tx: BeadTx, id: string): string[] {
  const touched: string[] = [];
  for (const s of tx.summaries()) {
    if (s.id === id || !s.dependencies?.some((d) => d.depends_on_id === id)) continue;
    const other = tx.must(s.id);
    other.dependencies = (other.dependencies ?? []).filter((d) => d.depends_on_id !== id);
    other.updated_at = tx.now;
    tx.put(other);
    touched.push(s.id);
  }
  tx.delete(id);
  tx.note(`delete ${id}${touched.length ? ` (references removed from ${touched.join(', ')})` : ''}`);
  return touched;
}
