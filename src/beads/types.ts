// The bead record (spec §1) and its enums, with validation. Pure logic, no I/O.
import { GtError } from '../errors.ts';

export interface Dependency {
  issue_id: string;
  depends_on_id: string;
  type: string;
  created_at: string;
  created_by?: string;
  /** A JSON string, as in the original (e.g. '{"gate":"any-children"}'). */
  metadata?: string;
  thread_id?: string;
}

export interface Comment {
  id: string;
  issue_id: string;
  author: string;
  text: string;
  created_at: string;
}

export interface Bead {
  id: string;
  title: string;
  description?: string;
  design?: string;
  acceptance_criteria?: string;
  notes?: string;
  spec_id?: string;
  status: string;
  priority: number;
  issue_type: string;
  assignee?: string;
  owner?: string;
  estimated_minutes?: number | null;
  created_at: string;
  created_by?: string;
  updated_at: string;
  started_at?: string | null;
  closed_at?: string | null;
  close_reason?: string;
  closed_by_session?: string;
  due_at?: string | null;
  defer_until?: string | null;
  external_ref?: string | null;
  source_system?: string;
  metadata?: Record<string, unknown>;
  compaction_level?: number;
  compacted_at?: string | null;
  compacted_at_commit?: string | null;
  original_size?: number;
  labels?: string[];
  dependencies?: Dependency[];
  comments?: Comment[];
  sender?: string;
  ephemeral?: boolean;
  no_history?: boolean;
  wisp_type?: string;
  pinned?: boolean;
  is_template?: boolean;
  bonded_from?: { source_id: string; bond_type: string; bond_point?: string }[];
  await_type?: string;
  await_id?: string;
  timeout?: number;
  waiters?: string[];
  mol_type?: string;
  work_type?: string;
  event_kind?: string;
  actor?: string;
  target?: string;
  payload?: string;
  /** Internal: highest child number handed out by `--parent` (spec §2.2 child_counters). */
  child_counter?: number;
}

/** Field order of records on disk and in JSON output (the spec's table order). */
export const FIELD_ORDER: (keyof Bead)[] = [
  'id',
  'title',
  'description',
  'design',
  'acceptance_criteria',
  'notes',
  'spec_id',
  'status',
  'priority',
  'issue_type',
  'assignee',
  'owner',
  'estimated_minutes',
  'created_at',
  'created_by',
  'updated_at',
  'started_at',
  'closed_at',
  'close_reason',
  'closed_by_session',
  'due_at',
  'defer_until',
  'external_ref',
  'source_system',
  'metadata',
  'compaction_level',
  'compacted_at',
  'compacted_at_commit',
  'original_size',
  'labels',
  'dependencies',
  'comments',
  'sender',
  'ephemeral',
  'no_history',
  'wisp_type',
  'pinned',
  'is_template',
  'bonded_from',
  'await_type',
  'await_id',
  'timeout',
  'waiters',
  'mol_type',
  'work_type',
  'event_kind',
  'actor',
  'target',
  'payload',
  'child_counter',
];

export const STATUSES = ['open', 'in_progress', 'blocked', 'deferred', 'closed', 'pinned', 'hooked'] as const;
export const DONE_STATUSES = new Set(['closed', 'pinned']);

export const BUILTIN_TYPES = [
  'bug',
  'feature',
  'task',
  'epic',
  'chore',
  'decision',
  'message',
  'molecule',
  'gate',
  'spike',
  'story',
  'milestone',
  'event',
];

/** Types Gas Town uses everywhere; accepted without configuration (the original lists them in types.custom). */
export const GASTOWN_TYPES = ['merge-request', 'convoy', 'agent', 'role', 'rig', 'slot', 'queue'];

const TYPE_ALIASES: Record<string, string> = {
  enhancement: 'feature',
  feat: 'feature',
  dec: 'decision',
  adr: 'decision',
  investigation: 'spike',
  timebox: 'spike',
  'user-story': 'story',
  user_story: 'story',
  ms: 'milestone',
  mr: 'merge-request',
  mol: 'molecule',
};

export const WELL_KNOWN_DEP_TYPES = [
  'blocks',
  'parent-child',
  'conditional-blocks',
  'waits-for',
  'related',
  'discovered-from',
  'tracks',
  'relates-to',
  'replies-to',
  'duplicates',
  'supersedes',
  'authored-by',
  'assigned-to',
  'approved-by',
  'attests',
  'until',
  'caused-by',
  'validates',
  'delegated-from',
];

/** Edge types whose cycles are forbidden (spec §3.1). */
export const CYCLE_CHECKED_DEP_TYPES = new Set(['blocks', 'conditional-blocks']);
/** Edge types that make the source wait on the target. */
export const BLOCKING_DEP_TYPES = new Set(['blocks', 'conditional-blocks']);

/** Types `bd ready` never returns (spec §3.3). */
export const READY_EXCLUDED_TYPES = new Set([
  'merge-request',
  'gate',
  'molecule',
  'message',
  'agent',
  'role',
  'rig',
]);
/** Infra types left out of `bd export` unless --all / --include-infra. */
export const INFRA_TYPES = new Set(['agent', 'rig', 'role', 'message']);

export class ValidationError extends GtError {}

export interface TypeConfig {
  customTypes: string[];
  customStatuses: string[];
}

export function normalizeType(input: string, cfg: TypeConfig): string {
  const t = input.trim().toLowerCase();
  const aliased = TYPE_ALIASES[t] ?? t;
  if (
    BUILTIN_TYPES.includes(aliased) ||
    GASTOWN_TYPES.includes(aliased) ||
    cfg.customTypes.includes(aliased)
  ) {
    return aliased;
  }
  const known = [...BUILTIN_TYPES, ...GASTOWN_TYPES, ...cfg.customTypes];
  throw new ValidationError(
    `invalid issue type "${input}": use one of ${known.join(', ')}, or add it with \`bd config set types.custom ${t}\``,
  );
}

/** Custom statuses are "name" or "name:category". */
export function customStatusNames(cfg: TypeConfig): string[] {
  return cfg.customStatuses.map((s) => s.split(':')[0]);
}

export function normalizeStatus(input: string, cfg: TypeConfig): string {
  const s = input.trim().toLowerCase().replace(/-/g, '_');
  if ((STATUSES as readonly string[]).includes(s) || customStatusNames(cfg).includes(s)) return s;
  throw new ValidationError(
    `invalid status "${input}": use one of ${[...STATUSES, ...customStatusNames(cfg)].join(', ')}`,
  );
}

/** Priority 0-4, also written P0-P4. */
export function parsePriority(input: string | number): number {
  const s = String(input).trim();
  const m = /^[pP]?([0-4])$/.exec(s);
  if (!m)
    throw new ValidationError(`invalid priority "${input}": use 0-4 or P0-P4 (0 = critical, 4 = backlog)`);
  return Number(m[1]);
}

export function validateDepType(type: string): void {
  // Any 1-50 character string (spec §3.1), one line, without surrounding spaces.
  if (type.length < 1 || type.length > 50 || type.trim() !== type || /[\x00-\x1f\x7f]/.test(type)) {
    throw new ValidationError(
      `invalid dependency type ${JSON.stringify(type)}: 1-50 characters on one line, e.g. ${WELL_KNOWN_DEP_TYPES.slice(0, 5).join(', ')}`,
    );
  }
}

/** Record-level invariants (spec §1.1 validation), applied on every write. */
export function validateBead(b: Bead, cfg: TypeConfig): void {
  if (!b.title?.trim()) throw new ValidationError(`${b.id}: title is required`);
  if (b.title.length > 500)
    throw new ValidationError(`${b.id}: title is ${b.title.length} characters; the limit is 500`);
  if (!Number.isInteger(b.priority) || b.priority < 0 || b.priority > 4) {
    throw new ValidationError(`${b.id}: priority ${b.priority} is out of range 0-4`);
  }
  normalizeStatus(b.status, cfg);
  normalizeType(b.issue_type, cfg);
  if (b.estimated_minutes != null && (!Number.isInteger(b.estimated_minutes) || b.estimated_minutes < 0)) {
    throw new ValidationError(`${b.id}: estimated_minutes must be a whole number ≥ 0`);
  }
  if ((b.status === 'closed') !== !!b.closed_at) {
    throw new ValidationError(`${b.id}: closed_at must be set exactly when the status is closed`);
  }
  if (
    b.metadata !== undefined &&
    (typeof b.metadata !== 'object' || b.metadata === null || Array.isArray(b.metadata))
  ) {
    throw new ValidationError(`${b.id}: metadata must be a JSON object`);
  }
  if (b.ephemeral && b.no_history)
    throw new ValidationError(`${b.id}: ephemeral and no_history exclude each other`);
}
