// `bd export` / `bd import` (spec §4): the portable JSONL format of the original, its import
// merge rules (upsert by id, staleness by updated_at, additive labels, deduplicated comments,
// dependencies after all issues), and the legacy `.beads/backup/` layout. Everything an import
// changes lands in one ledger commit; a record that fails validation aborts it with nothing
// written. The CLI is src/cli/bd/transfer.ts.
import fs from 'node:fs';
import path from 'node:path';
import { GtError, NotFoundError } from '../errors.ts';
import { blockingPath, buildGraph, findCycles } from './graph.ts';
import { parseHierarchicalId, validateId } from './ids.ts';
import { uuidv7, validateLabel } from './ops.ts';
import { type BeadSummary, CONFIG_PATH, canonical } from './record.ts';
import type { BeadStore, BeadTx } from './store.ts';
import {
  type Bead,
  type Comment,
  CYCLE_CHECKED_DEP_TYPES,
  type Dependency,
  FIELD_ORDER,
  INFRA_TYPES,
  normalizeStatus,
  normalizeType,
  type TypeConfig,
  ValidationError,
  validateBead,
  validateDepType,
} from './types.ts';

/** Config keys holding memories (`bd remember`), exported as `_type: memory` lines. */
export const MEMORY_PREFIX = 'kv.memory.';

// ---- export ---------------------------------------------------------------------------------

export interface ExportOptions {
  /** Everything: infra types, templates, wisps, and memory lines. */
  all?: boolean;
  /** Infra types (agent, rig, role, message) too. */
  includeInfra?: boolean;
  /** Memory lines too (implied by `all`). */
  includeMemories?: boolean;
  /** Leave out test-looking titles. */
  scrub?: boolean;
}

/** Titles the original treats as test pollution (`--scrub`). */
const TEST_TITLE = /^(test|benchmark|sample|tmp|temp|debug|dummy)[-_\s]/i;

export function isTestTitle(title: string): boolean {
  return TEST_TITLE.test(title);
}

function depOut(d: Dependency): Record<string, unknown> {
  const o: Record<string, unknown> = {
    issue_id: d.issue_id,
    depends_on_id: d.depends_on_id,
    type: d.type,
    created_at: d.created_at,
  };
  if (d.created_by) o.created_by = d.created_by;
  if (d.metadata) o.metadata = d.metadata;
  if (d.thread_id) o.thread_id = d.thread_id;
  return o;
}

function commentOut(c: Comment): Record<string, unknown> {
  return { id: c.id, issue_id: c.issue_id, author: c.author, text: c.text, created_at: c.created_at };
}

/** One export line: `_type`, the record's fields in struct order (empty ones left out), counts. */
export function exportLine(b: Bead, dependentCount: number): string {
  const c = canonical(b) as unknown as Record<string, unknown>;
  const rec: Record<string, unknown> = { _type: 'issue' };
  for (const k of FIELD_ORDER) {
    if (k === 'child_counter' || !(k in c)) continue;
    if (k === 'dependencies') rec[k] = (c[k] as Dependency[]).map(depOut);
    else if (k === 'comments') rec[k] = (c[k] as Comment[]).map(commentOut);
    else rec[k] = c[k];
  }
  rec.dependency_count = b.dependencies?.length ?? 0;
  rec.dependent_count = dependentCount;
  rec.comment_count = b.comments?.length ?? 0;
  return JSON.stringify(rec);
}

export interface ExportRecords {
  lines: string[];
  issues: number;
  memories: number;
}

/** The export as lines (issues in SearchIssues order, then memories sorted by key). */
export function exportRecords(store: BeadStore, opts: ExportOptions = {}): ExportRecords {
  const all = !!opts.all;
  const g = store.graph();
  const beads = store.allBeads(all).filter((b) => {
    if (!all) {
      if (b.ephemeral || b.is_template) return false;
      if (!opts.includeInfra && INFRA_TYPES.has(b.issue_type)) return false;
    }
    return !(opts.scrub && isTestTitle(b.title));
  });
  const ct = new Map(beads.map((b) => [b.id, Date.parse(b.created_at) || 0]));
  beads.sort(
    (a, b) =>
      a.priority - b.priority || ct.get(b.id)! - ct.get(a.id)! || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
  const lines = beads.map((b) => exportLine(b, g.dependents.get(b.id)?.length ?? 0));
  let memories = 0;
  if (all || opts.includeMemories) {
    const cfg = store.config();
    for (const key of Object.keys(cfg).sort()) {
      if (!key.startsWith(MEMORY_PREFIX)) continue;
      lines.push(JSON.stringify({ _type: 'memory', key: key.slice(MEMORY_PREFIX.length), value: cfg[key] }));
      memories++;
    }
  }
  return { lines, issues: beads.length, memories };
}

/** JSONL text of the export (one line per record, each ending in a newline). */
export function exportIssues(store: BeadStore, opts: ExportOptions = {}): string {
  const { lines } = exportRecords(store, opts);
  return lines.length ? `${lines.join('\n')}\n` : '';
}

// ---- import: types ----------------------------------------------------------------------------

export interface ImportOptions {
  /** Work out and report everything, write nothing. */
  dryRun?: boolean;
  /** Skip (and report) lines that are not JSON objects instead of refusing the whole import. */
  skipBad?: boolean;
  /** Drop lines whose title (case-insensitive) matches an existing issue that is not closed. */
  dedup?: boolean;
  /** Shown in the result and the commit message (a path, "stdin", ...). */
  source?: string;
}

export interface SkippedDependency {
  issue_id: string;
  depends_on_id: string;
  type: string;
  reason: string;
}

export interface BadLine {
  /** Set for the files of a backup directory. */
  file?: string;
  line: number;
  error: string;
}

export interface ImportResult {
  source: string;
  /** Issues that did not exist before. */
  created: number;
  /** Existing issues upserted (whether or not anything differed). */
  updated: number;
  /** Issue lines not applied: stale ones (listed in stale_skipped_ids) and tombstones. */
  skipped: number;
  dedup_skipped: number;
  memories: number;
  /** Ids created or updated, in input order. */
  ids: string[];
  stale_skipped_ids: string[];
  skipped_dependencies: SkippedDependency[];
  bad_lines: BadLine[];
  dry_run: boolean;
  /** Notes that are not errors (backup directories: events and config not imported). */
  warnings: string[];
}

/** One parsed JSONL object and where it came from ("line 3", "issues.jsonl line 3"). */
interface RawRecord {
  where: string;
  value: Record<string, unknown>;
}

interface Incoming {
  where: string;
  bead: Bead;
  hasUpdatedAt: boolean;
  labels: string[];
  comments: Partial<Comment>[];
  deps: Dependency[];
}

interface Memory {
  key: string;
  value: string;
}

// ---- import: parsing and normalisation --------------------------------------------------------

/** Prefix validation errors with where the record came from. */
function at<T>(where: string, fn: () => T): T {
  try {
    return fn();
  } catch (e: any) {
    if (e instanceof GtError) throw new ValidationError(`${where}: ${e.message}`);
    throw e;
  }
}

/** Split JSONL into objects; blank lines are skipped, bad lines refused or (skipBad) collected. */
function parseJsonl(text: string, file: string | undefined, skipBad: boolean, bad: BadLine[]): RawRecord[] {
  const out: RawRecord[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = i === 0 && lines[0].charCodeAt(0) === 0xfeff ? lines[0].slice(1) : lines[i];
    if (!line.trim()) continue;
    const where = file ? `${file} line ${i + 1}` : `line ${i + 1}`;
    let value: unknown;
    let error: string | null = null;
    try {
      value = JSON.parse(line);
    } catch (e: any) {
      error = `invalid JSON (${e.message})`;
    }
    if (!error && (value === null || typeof value !== 'object' || Array.isArray(value))) {
      error = 'not a JSON object';
    }
    if (error) {
      if (!skipBad) {
        throw new ValidationError(
          `${where}: ${error}; nothing was imported (--skip-bad skips such lines and imports the rest)`,
        );
      }
      bad.push({ ...(file ? { file } : {}), line: i + 1, error });
      continue;
    }
    out.push({ where, value: value as Record<string, unknown> });
  }
  return out;
}

type Kind = 'string' | 'time' | 'int' | 'bool' | 'object' | 'strings' | 'list' | 'any';

/** JSON shape of each Issue field the import reads; other keys (computed, unknown) are ignored. */
const FIELD_KINDS: Partial<Record<keyof Bead, Kind>> = {
  id: 'string',
  title: 'string',
  description: 'string',
  design: 'string',
  acceptance_criteria: 'string',
  notes: 'string',
  spec_id: 'string',
  status: 'string',
  priority: 'int',
  issue_type: 'string',
  assignee: 'string',
  owner: 'string',
  estimated_minutes: 'int',
  created_at: 'time',
  created_by: 'string',
  updated_at: 'time',
  started_at: 'time',
  closed_at: 'time',
  close_reason: 'string',
  closed_by_session: 'string',
  due_at: 'time',
  defer_until: 'time',
  external_ref: 'string',
  source_system: 'string',
  metadata: 'object',
  compaction_level: 'int',
  compacted_at: 'time',
  compacted_at_commit: 'string',
  original_size: 'int',
  labels: 'strings',
  dependencies: 'list',
  comments: 'list',
  sender: 'string',
  ephemeral: 'bool',
  no_history: 'bool',
  wisp_type: 'string',
  pinned: 'bool',
  is_template: 'bool',
  bonded_from: 'list',
  await_type: 'string',
  await_id: 'string',
  timeout: 'int',
  waiters: 'strings',
  mol_type: 'string',
  work_type: 'string',
  event_kind: 'string',
  actor: 'string',
  target: 'string',
  payload: 'string',
};

function kindOf(key: string): Kind | undefined {
  if (key === 'child_counter') return undefined; // internal, never taken from input
  const k = FIELD_KINDS[key as keyof Bead];
  if (k) return k;
  return FIELD_ORDER.includes(key as keyof Bead) ? 'any' : undefined;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function isTime(v: unknown): v is string {
  return typeof v === 'string' && RFC3339.test(v) && !Number.isNaN(Date.parse(v));
}

function checkKind(key: string, v: unknown, kind: Kind): string | null {
  switch (kind) {
    case 'string':
      return typeof v === 'string' ? null : 'a string';
    case 'time':
      return isTime(v) ? null : 'an RFC 3339 time such as 2026-05-01T10:00:00Z';
    case 'int':
      return typeof v === 'number' && Number.isInteger(v) ? null : 'a whole number';
    case 'bool':
      return typeof v === 'boolean' ? null : 'true or false';
    case 'object':
      // Objects, or (leniently) a string holding a JSON object.
      if (v && typeof v === 'object' && !Array.isArray(v)) return null;
      return typeof v === 'string' ? null : 'a JSON object';
    case 'strings':
      return Array.isArray(v) && v.every((x) => typeof x === 'string') ? null : 'an array of strings';
    case 'list':
      return Array.isArray(v) && v.every((x) => x && typeof x === 'object' && !Array.isArray(x))
        ? null
        : `an array of objects (${key})`;
    default:
      return null;
  }
}

function metadataObject(v: unknown): Record<string, unknown> | undefined {
  if (typeof v !== 'string') return v as Record<string, unknown>;
  const t = v.trim();
  if (t === '' || t === '{}' || t === 'null') return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(t);
  } catch (e: any) {
    throw new ValidationError(`metadata is not valid JSON (${e.message})`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ValidationError('metadata must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}

function normalizeDep(d: Record<string, unknown>, now: string): Dependency {
  const target = d.depends_on_id;
  if (typeof target !== 'string' || !target) {
    throw new ValidationError('a dependency needs depends_on_id (the id it depends on)');
  }
  if (!target.startsWith('external:')) validateId(target);
  else if (/[\0\n\r]/.test(target) || target.length > 255)
    throw new ValidationError(`invalid external dependency ${JSON.stringify(target)}`);
  const type = d.type === undefined || d.type === null || d.type === '' ? 'blocks' : d.type;
  if (typeof type !== 'string') throw new ValidationError(`dependency on ${target}: type must be a string`);
  validateDepType(type);
  const created = d.created_at ?? now;
  if (!isTime(created))
    throw new ValidationError(`dependency on ${target}: created_at must be an RFC 3339 time`);
  const dep: Dependency = { issue_id: '', depends_on_id: target, type, created_at: created };
  if (typeof d.created_by === 'string' && d.created_by) dep.created_by = d.created_by;
  if (d.metadata !== undefined && d.metadata !== null && d.metadata !== '') {
    dep.metadata = typeof d.metadata === 'string' ? d.metadata : JSON.stringify(d.metadata);
  }
  if (typeof d.thread_id === 'string' && d.thread_id) dep.thread_id = d.thread_id;
  return dep;
}

function normalizeComment(c: Record<string, unknown>, now: string): Partial<Comment> {
  const out: Partial<Comment> = {};
  if (typeof c.id === 'number' && Number.isInteger(c.id)) out.id = String(c.id);
  else if (typeof c.id === 'string' && c.id) out.id = c.id;
  else if (c.id !== undefined && c.id !== null && c.id !== '')
    throw new ValidationError('a comment id must be a string or an integer');
  for (const k of ['author', 'text'] as const) {
    const v = c[k] ?? '';
    if (typeof v !== 'string') throw new ValidationError(`comment ${k} must be a string`);
    out[k] = v;
  }
  const created = c.created_at ?? now;
  if (!isTime(created)) throw new ValidationError('comment created_at must be an RFC 3339 time');
  out.created_at = created;
  return out;
}

/**
 * Turn one issue object into a validated bead (spec §4.2 steps 3-4 and §1.1 validation), or
 * null for a tombstone. Throws a ValidationError naming the problem.
 */
function normalizeIssue(obj: Record<string, unknown>, cfg: TypeConfig, now: string): Incoming | null {
  const b: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (v === null || v === undefined) continue;
    const kind = kindOf(k);
    if (!kind) continue; // _type, computed counts, parent, content_hash, unknown keys
    const bad = checkKind(k, v, kind);
    if (bad) throw new ValidationError(`field "${k}" must be ${bad}, got ${JSON.stringify(v).slice(0, 60)}`);
    b[k] = v;
  }
  if (obj.wisp === true) b.ephemeral = true; // legacy alias
  if (typeof b.id !== 'string' || !b.id) throw new ValidationError('an issue needs an id');
  const id = b.id;
  validateId(id);
  if (b.status === 'tombstone') return null;
  b.status = b.status ? normalizeStatus(b.status as string, cfg) : 'open';
  b.issue_type = b.issue_type ? normalizeType(b.issue_type as string, cfg) : 'task';
  if (b.priority === undefined) b.priority = 0;
  if (b.title === undefined) b.title = '';
  const hasUpdatedAt = b.updated_at !== undefined;
  if (b.created_at === undefined) b.created_at = now;
  if (b.updated_at === undefined) b.updated_at = now;
  if (b.status === 'closed' && !b.closed_at) {
    const t = Math.max(Date.parse(b.created_at as string), Date.parse(b.updated_at as string));
    b.closed_at = new Date(t + 1000).toISOString().replace('.000Z', 'Z');
  }
  if (b.metadata !== undefined) {
    const m = metadataObject(b.metadata);
    if (m === undefined || Object.keys(m).length === 0) delete b.metadata;
    else b.metadata = m;
  }
  if (b.bonded_from) {
    b.bonded_from = (b.bonded_from as Record<string, unknown>[]).map((r) => {
      const { proto_id, ...rest } = r;
      return rest.source_id === undefined && proto_id !== undefined ? { source_id: proto_id, ...rest } : rest;
    });
  }
  const labels = [...new Set((b.labels as string[] | undefined) ?? [])];
  for (const l of labels) validateLabel(l);
  const comments = ((b.comments as Record<string, unknown>[] | undefined) ?? []).map((c) =>
    normalizeComment(c, now),
  );
  const deps = ((b.dependencies as Record<string, unknown>[] | undefined) ?? []).map((d) => {
    const dep = normalizeDep(d, now);
    dep.issue_id = id;
    return dep;
  });
  delete b.labels;
  delete b.comments;
  delete b.dependencies;
  const bead = b as unknown as Bead;
  validateBead(bead, cfg);
  return { where: '', bead, hasUpdatedAt, labels, comments, deps };
}

// ---- import: merge ----------------------------------------------------------------------------

/** Fields an upsert overwrites on an existing issue (spec §4.2 step 7); all others are kept. */
const UPSERT_FIELDS: (keyof Bead)[] = [
  'title',
  'description',
  'design',
  'acceptance_criteria',
  'notes',
  'status',
  'priority',
  'issue_type',
  'assignee',
  'estimated_minutes',
  'updated_at',
  'started_at',
  'closed_at',
  'external_ref',
  'close_reason',
  'metadata',
];

function commentKey(c: Partial<Comment>): string {
  const t = Date.parse(c.created_at ?? '');
  return `${c.author ?? ''}\0${Number.isNaN(t) ? c.created_at : t}\0${c.text ?? ''}`;
}

function emptyResult(source: string, dryRun: boolean): ImportResult {
  return {
    source,
    created: 0,
    updated: 0,
    skipped: 0,
    dedup_skipped: 0,
    memories: 0,
    ids: [],
    stale_skipped_ids: [],
    skipped_dependencies: [],
    bad_lines: [],
    dry_run: dryRun,
    warnings: [],
  };
}

/** What the cycle check needs of a bead. */
type LightNode = { id: string; status: string; dependencies: Dependency[] };

/**
 * Steps 5-11 of spec §4.2 inside one transaction. Fills in `r` from scratch, since the ledger
 * may run a transaction again when its ref moved underneath.
 */
function merge(
  tx: BeadTx,
  issues: Incoming[],
  memories: Memory[],
  opts: ImportOptions,
  r: ImportResult,
  tombstones: number,
): void {
  r.skipped = tombstones;
  r.dedup_skipped = 0;
  r.ids = [];
  r.stale_skipped_ids = [];
  r.skipped_dependencies = [];
  const existing = new Map<string, BeadSummary>();
  for (const s of tx.summaries()) existing.set(s.id, s);

  // 5. --dedup: titles of existing issues that are not closed (before this import).
  let titles: Set<string> | null = null;
  if (opts.dedup) {
    titles = new Set();
    for (const s of existing.values()) if (s.status !== 'closed') titles.add(s.title.toLowerCase());
  }

  // Read every existing record an upsert may need in one batch (stale ones are never read).
  const wanted = new Set<string>();
  for (const inc of issues) {
    const s = existing.get(inc.bead.id);
    if (s && !(inc.hasUpdatedAt && Date.parse(inc.bead.updated_at) < Date.parse(s.updated_at))) {
      wanted.add(inc.bead.id);
    }
  }
  if (wanted.size > 0) tx.store.getMany([...wanted]);

  const working = new Map<string, Bead>();
  /** Canonical JSON of existing records as read, to leave unchanged ones alone. */
  const before = new Map<string, string>();
  const whereOf = new Map<string, string>();
  const created = new Set<string>();
  const updated = new Set<string>();
  const seen = new Set<string>();
  const stale = new Set<string>();
  const pendingDeps: { src: string; dep: Dependency }[] = [];

  for (const inc of issues) {
    const id = inc.bead.id;
    if (titles?.has(inc.bead.title.toLowerCase())) {
      r.dedup_skipped++;
      continue;
    }
    let cur = working.get(id);
    const curUpdated = cur?.updated_at ?? existing.get(id)?.updated_at;
    // 6. Staleness: an older incoming line loses; equal or newer (or no updated_at) upserts.
    if (curUpdated && inc.hasUpdatedAt && Date.parse(inc.bead.updated_at) < Date.parse(curUpdated)) {
      r.skipped++;
      if (!stale.has(id)) r.stale_skipped_ids.push(id);
      stale.add(id);
      continue;
    }
    if (!cur && existing.has(id)) {
      cur = tx.get(id);
      if (cur) before.set(id, JSON.stringify(canonical(cur)));
    }
    let next: Bead;
    if (cur) {
      // 7. Upsert exactly the listed fields; everything else of the existing record stays.
      next = cur;
      const src = inc.bead as unknown as Record<string, unknown>;
      const dst = next as unknown as Record<string, unknown>;
      for (const f of UPSERT_FIELDS) {
        if (src[f] === undefined) delete dst[f];
        else dst[f] = src[f];
      }
      if (!created.has(id)) updated.add(id);
    } else {
      next = { ...inc.bead };
      created.add(id);
    }
    // 8. Labels are additive.
    if (inc.labels.length) {
      next.labels = [...new Set([...(next.labels ?? []), ...inc.labels])].sort();
    }
    // 9. Comments: skip ones already there (same author, time and text); fresh ids when missing.
    if (inc.comments.length) {
      const have = new Set((next.comments ?? []).map(commentKey));
      for (const c of inc.comments) {
        const key = commentKey(c);
        if (have.has(key)) continue;
        have.add(key);
        (next.comments ??= []).push({
          id: c.id ?? uuidv7(),
          issue_id: id,
          author: c.author ?? '',
          text: c.text ?? '',
          created_at: c.created_at!,
        });
      }
    }
    working.set(id, next);
    whereOf.set(id, inc.where);
    if (!seen.has(id)) {
      seen.add(id);
      r.ids.push(id);
    }
    for (const dep of inc.deps) pendingDeps.push({ src: id, dep });
  }

  // 10. Dependencies, after all issues.
  const exists = (id: string) => working.has(id) || existing.has(id);
  addDependencies(working, existing, pendingDeps, exists, r);

  // 11. Child counters reconciled upward (prefix validation is off, orphans are allowed).
  const maxChild = new Map<string, number>();
  for (const id of working.keys()) {
    const h = parseHierarchicalId(id);
    if (h) maxChild.set(h.parent, Math.max(maxChild.get(h.parent) ?? 0, h.n));
  }
  for (const [p, n] of maxChild) {
    let parent = working.get(p);
    if (!parent) {
      if (!existing.has(p) || (existing.get(p)!.child_counter ?? 0) >= n) continue;
      parent = tx.get(p);
      if (!parent) continue;
      before.set(p, JSON.stringify(canonical(parent)));
      working.set(p, parent);
    }
    if ((parent.child_counter ?? 0) < n) parent.child_counter = n;
  }

  r.created = created.size;
  r.updated = updated.size;
  if (opts.dryRun) {
    r.memories = memories.length;
    return;
  }
  for (const [id, b] of working) {
    const was = before.get(id);
    if (was !== undefined && was === JSON.stringify(canonical(b))) continue;
    at(whereOf.get(id) ?? id, () => tx.put(b));
  }
  if (memories.length > 0) {
    const cfg = { ...((tx.ltx.get(CONFIG_PATH) as Record<string, string> | undefined) ?? {}) };
    let changed = false;
    for (const m of memories) {
      const key = MEMORY_PREFIX + m.key;
      if (cfg[key] !== m.value) changed = true;
      cfg[key] = m.value;
    }
    if (changed) tx.ltx.put(CONFIG_PATH, cfg);
  }
  r.memories = memories.length;
  const source = r.source.replace(/[\r\n]+/g, ' ');
  tx.note(
    `import ${source}: ${r.created} created, ${r.updated} updated${r.memories ? `, ${r.memories} memories` : ''}`,
  );
}

/**
 * Add the pending edges in order: a missing (non-external) target or a blocking cycle skips the
 * edge and reports it; an existing pair keeps its type. The cycle check runs against a graph
 * kept up to date as edges land; it is only needed for edges whose ends share a strongly
 * connected component of "everything so far plus every candidate", found once up front.
 */
function addDependencies(
  working: Map<string, Bead>,
  existing: Map<string, BeadSummary>,
  pending: { src: string; dep: Dependency }[],
  exists: (id: string) => boolean,
  r: ImportResult,
): void {
  if (pending.length === 0) return;
  const live = new Map<string, LightNode>();
  const all = new Map<string, LightNode>();
  const node = (m: Map<string, LightNode>, id: string, status: string, deps: LightNode['dependencies']) =>
    m.set(id, { id, status, dependencies: deps });
  for (const s of existing.values()) {
    const deps = s.dependencies ?? [];
    node(live, s.id, s.status, [...deps]);
    node(all, s.id, s.status, [...deps]);
  }
  for (const [id, b] of working) {
    if (live.has(id)) continue;
    node(live, id, b.status, []);
    node(all, id, b.status, []);
  }
  let anyBlocking = false;
  for (const { src, dep } of pending) {
    const t = dep.depends_on_id;
    if (t === src || !CYCLE_CHECKED_DEP_TYPES.has(dep.type) || !all.has(t)) continue;
    all.get(src)!.dependencies.push(dep);
    anyBlocking = true;
  }
  const component = new Map<string, number>();
  if (anyBlocking) {
    findCycles(buildGraph(all.values())).forEach((comp, i) => {
      for (const id of comp) component.set(id, i);
    });
  }
  const g = buildGraph(live.values());

  for (const { src, dep } of pending) {
    const b = working.get(src)!;
    const t = dep.depends_on_id;
    const skip = (reason: string) =>
      r.skipped_dependencies.push({ issue_id: src, depends_on_id: t, type: dep.type, reason });
    if (t === src) {
      skip('an issue cannot depend on itself');
      continue;
    }
    if (b.dependencies?.some((d) => d.depends_on_id === t)) continue; // existing pair keeps its type
    const external = t.startsWith('external:');
    if (!external && !exists(t)) {
      skip(`${t} does not exist`);
      continue;
    }
    if (!external && CYCLE_CHECKED_DEP_TYPES.has(dep.type)) {
      const c = component.get(src);
      if (c !== undefined && c === component.get(t)) {
        const back = blockingPath(g, t, src);
        if (back) {
          skip(`would create a cycle: ${[src, ...back].join(' → ')}`);
          continue;
        }
      }
    }
    (b.dependencies ??= []).push(dep);
    g.byId.get(src)?.dependencies.push(dep);
  }
}

/** The shared import path: normalise every record, then merge them in one transaction. */
function runImport(
  store: BeadStore,
  records: RawRecord[],
  extraMemories: Memory[],
  opts: ImportOptions,
  r: ImportResult,
): ImportResult {
  const cfg = store.typeConfig();
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const issues: Incoming[] = [];
  const memories: Memory[] = [...extraMemories];
  let tombstones = 0;
  for (const { where, value } of records) {
    if ('_schema' in value && value.id === undefined) continue; // optional header line
    if (value._type === 'memory') {
      const { key, value: v } = value;
      if ((key !== undefined && typeof key !== 'string') || (v !== undefined && typeof v !== 'string')) {
        throw new ValidationError(`${where}: a memory line needs string "key" and "value"`);
      }
      if (key && v) {
        if (/[\0\n\r]/.test(key) || key.length > 200) {
          throw new ValidationError(`${where}: invalid memory key ${JSON.stringify(key).slice(0, 80)}`);
        }
        memories.push({ key, value: v });
      }
      continue;
    }
    if (value._type !== undefined && value._type !== 'issue') {
      throw new ValidationError(`${where}: unknown record type ${JSON.stringify(value._type)}`);
    }
    const inc = at(where, () => normalizeIssue(value, cfg, now));
    if (!inc) {
      tombstones++;
      continue;
    }
    inc.where = where;
    issues.push(inc);
  }
  store.transact(`import ${r.source}`, (tx) => merge(tx, issues, memories, opts, r, tombstones));
  return r;
}

/** `bd import` of JSONL text (spec §4.2). Throws (writing nothing) on the first invalid record. */
export function importIssues(store: BeadStore, text: string, opts: ImportOptions = {}): ImportResult {
  const r = emptyResult(opts.source ?? 'stdin', !!opts.dryRun);
  const records = parseJsonl(text, undefined, !!opts.skipBad, r.bad_lines);
  return runImport(store, records, [], opts, r);
}

// ---- legacy backup directory (spec §4.3) ------------------------------------------------------

const BACKUP_BOOL_COLUMNS = new Set(['ephemeral', 'pinned', 'is_template', 'no_history']);
/** Columns with no place in the export shape: internal hashes/routing and removed fields. */
const BACKUP_DROPPED_COLUMNS = new Set([
  'content_hash',
  'source_repo',
  'id_prefix',
  'prefix_override',
  'hook_bead',
  'role_bead',
  'agent_state',
  'last_activity',
  'role_type',
  'rig',
  'crystallizes',
  'quality_score',
]);

/** One `issues.jsonl` row (raw SQL columns) in the export shape. */
export function normalizeBackupIssue(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) {
    if (v === null || v === undefined || BACKUP_DROPPED_COLUMNS.has(k)) continue;
    if (BACKUP_BOOL_COLUMNS.has(k)) {
      out[k] = v === 1 || v === true || v === '1';
    } else if (k === 'metadata') {
      const m = metadataObject(v);
      if (m && Object.keys(m).length > 0) out.metadata = m;
    } else if (k === 'waiters') {
      if (typeof v === 'string') {
        if (v.trim() === '') continue;
        let parsed: unknown;
        try {
          parsed = JSON.parse(v);
        } catch (e: any) {
          throw new ValidationError(`waiters is not a JSON array (${e.message})`);
        }
        if (!Array.isArray(parsed)) throw new ValidationError('waiters is not a JSON array');
        if (parsed.length) out.waiters = parsed;
      } else out.waiters = v;
    } else if (k === 'timeout_ns') {
      if (v !== 0) out.timeout = v;
    } else if ((k === 'compaction_level' || k === 'original_size') && v === 0) {
      // omitempty in the export shape
    } else {
      out[k] = v;
    }
  }
  return out;
}

function readIfExists(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e: any) {
    if (e.code === 'ENOENT') return null;
    throw e;
  }
}

/**
 * Import a legacy `.beads/backup/` directory (spec §4.3): `issues.jsonl` plus optional
 * `dependencies.jsonl`, `labels.jsonl`, `comments.jsonl`, `events.jsonl`, `config.jsonl`.
 * Rows are normalised to the export shape and go through the same merge as `importIssues`.
 * Events are not imported (the ledger's history is its git log); of the config, only memories
 * are taken, and a different `issue_prefix` is reported, never applied.
 */
export function importBackupDir(store: BeadStore, dir: string, opts: ImportOptions = {}): ImportResult {
  const r = emptyResult(opts.source ?? dir, !!opts.dryRun);
  const skipBad = !!opts.skipBad;
  const load = (name: string) => {
    const text = readIfExists(path.join(dir, name));
    return text === null ? null : parseJsonl(text, name, skipBad, r.bad_lines);
  };
  const issueRows = load('issues.jsonl');
  if (!issueRows) {
    throw new NotFoundError(`${dir} has no issues.jsonl: not a beads backup directory (.beads/backup/)`);
  }
  const byIssue = (name: string) => {
    const m = new Map<string, { where: string; row: Record<string, unknown> }[]>();
    for (const { where, value } of load(name) ?? []) {
      const id = value.issue_id;
      if (typeof id !== 'string' || !id) throw new ValidationError(`${where}: issue_id is missing`);
      const list = m.get(id);
      if (list) list.push({ where, row: value });
      else m.set(id, [{ where, row: value }]);
    }
    return m;
  };
  const deps = byIssue('dependencies.jsonl');
  const labels = byIssue('labels.jsonl');
  const comments = byIssue('comments.jsonl');

  const records: RawRecord[] = [];
  const present = new Set<string>();
  for (const { where, value } of issueRows) {
    const obj = at(where, () => normalizeBackupIssue(value));
    const id = typeof obj.id === 'string' ? obj.id : '';
    present.add(id);
    const ls = labels.get(id) ?? [];
    const label = (x: { where: string; row: Record<string, unknown> }) => {
      if (typeof x.row.label !== 'string') throw new ValidationError(`${x.where}: label must be a string`);
      return x.row.label;
    };
    if (ls.length) obj.labels = ls.map(label);
    const ds = deps.get(id) ?? [];
    if (ds.length) obj.dependencies = ds.map((x) => stripNulls(x.row));
    const cs = comments.get(id) ?? [];
    if (cs.length) obj.comments = cs.map((x) => stripNulls(x.row));
    records.push({ where, value: obj });
  }
  for (const [name, m] of [
    ['dependencies.jsonl', deps],
    ['labels.jsonl', labels],
    ['comments.jsonl', comments],
  ] as const) {
    const orphans = [...m.keys()].filter((id) => !present.has(id));
    if (orphans.length) {
      const n = orphans.reduce((sum, id) => sum + m.get(id)!.length, 0);
      r.warnings.push(
        `${name}: ${n} row(s) for issues not in issues.jsonl skipped (${orphans.slice(0, 5).join(', ')}${orphans.length > 5 ? ', ...' : ''})`,
      );
    }
  }

  const events = load('events.jsonl');
  if (events?.length) {
    r.warnings.push(
      `events.jsonl: ${events.length} event(s) not imported (the ledger's history is its git log)`,
    );
  }
  const memories: Memory[] = [];
  const ignored: string[] = [];
  for (const { where, value } of load('config.jsonl') ?? []) {
    const { key, value: v } = value;
    if (typeof key !== 'string') throw new ValidationError(`${where}: key must be a string`);
    if (key.startsWith(MEMORY_PREFIX) && typeof v === 'string' && v) {
      memories.push({ key: key.slice(MEMORY_PREFIX.length), value: v });
    } else if (key === 'issue_prefix') {
      if (v !== store.prefix()) {
        r.warnings.push(
          `config.jsonl: the backup's issue_prefix is "${v}"; this ledger keeps "${store.prefix()}" (ids are imported as they are)`,
        );
      }
    } else ignored.push(key);
  }
  if (ignored.length) {
    r.warnings.push(
      `config.jsonl: settings not applied (${ignored.join(', ')}); set any you need with \`bd config set\``,
    );
  }
  return runImport(store, records, memories, opts, r);
}

function stripNulls(row: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) if (v !== null && v !== undefined) out[k] = v;
  return out;
}
