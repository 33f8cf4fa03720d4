// Convoys (spec §1.4, §2.4, §2.12): a `convoy` bead `hq-cv-<5>` in the town ledger that tracks
// a batch of work beads (rig beads and hq beads alike) through non-blocking `tracks` edges, and
// lands (closes, "🚚 Convoy Landed" mail to owner + notify) when all its work is done.
//
// The landing rule (the original lands at submit time, before the refinery merges; we wait for
// the merge): a tracked bead is DONE when it is closed AND either no merge request exists for it
// or its work merged: some `merge-request` bead with `metadata.source_issue: <bead>` is closed
// with reason `merged` and none is still open. `gt done` closes the work bead only after the
// merge, or leaves it hooked/in_progress with an open MR; a bead closed while an MR is still
// open, or whose MRs were all rejected/superseded without a merge, is not done. A convoy with no
// tracked beads never lands by itself (stranded reports it as empty; close it by hand).
//
// All beads of a town live in one ledger, so `tracks` edges name the tracked bead directly
// whatever its prefix (no `external:` form needed).
import crypto from 'node:crypto';
import { buildGraph, computeBlocked, type Graph, readyWork, sortBeads } from '../beads/graph.ts';
import { extractPrefix, validateId } from '../beads/ids.ts';
import { addDependency, createBead, validateLabel } from '../beads/ops.ts';
import type { BeadSummary } from '../beads/record.ts';
import type { BeadStore, BeadTx } from '../beads/store.ts';
import type { Bead } from '../beads/types.ts';
import { ConflictError, GtError, NotFoundError, UsageError } from '../errors.ts';
import { convoyLanded } from '../mail/protocol.ts';
import { sendMail } from '../mail/send.ts';
import { readRigs } from '../town/files.ts';
import { isParked } from '../town/rigs.ts';
import { MR_LABEL, MR_TYPE } from './mr.ts';

export const CONVOY_PREFIX = 'hq-cv';
export const CONVOY_ID_RE = /^hq-cv-[0-9a-z]{5}$/;
export const OWNED_LABEL = 'gt:owned';
export const MERGE_STRATEGIES = ['direct', 'mr', 'local'] as const;
export type MergeStrategy = (typeof MERGE_STRATEGIES)[number];
/** Types a convoy may be built from with --from-epic (the slingable ones). */
export const SLINGABLE_TYPES = new Set(['task', 'bug', 'feature', 'chore']);
export const LANDED_REASON = 'landed';

export interface ConvoyInput {
  name: string;
  issues: string[];
  owner?: string;
  notify?: string[];
  owned?: boolean;
  merge?: MergeStrategy;
  baseBranch?: string;
}

function oneLine(v: string, what: string): string {
  const s = v.trim();
  if (!s || /[\r\n\0]/.test(s) || s.length > 200) {
    throw new UsageError(`invalid ${what} ${JSON.stringify(v)}: one non-empty line of up to 200 characters`);
  }
  return s;
}

function checkAddress(v: string, what: string): string {
  const s = oneLine(v, what);
  if (/[\s,]/.test(s))
    throw new UsageError(`invalid ${what} ${JSON.stringify(v)}: an address has no spaces or commas`);
  return s;
}

export function checkMerge(v: string | undefined): MergeStrategy | undefined {
  if (v === undefined) return undefined;
  if (!(MERGE_STRATEGIES as readonly string[]).includes(v)) {
    throw new UsageError(`invalid merge strategy "${v}": use ${MERGE_STRATEGIES.join(', ')}`);
  }
  return v as MergeStrategy;
}

const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';

/** A random `hq-cv-<5>` id not yet taken in the transaction. */
export function newConvoyId(tx: BeadTx): string {
  for (let i = 0; i < 50; i++) {
    let s = '';
    for (let j = 0; j < 5; j++) s += ALPHABET[crypto.randomInt(36)];
    const id = `${CONVOY_PREFIX}-${s}`;
    if (!tx.exists(id)) return id;
  }
  throw new GtError('could not find a free convoy id after 50 tries; retry the command');
}

/** A convoy id from user input: `hq-cv-xxxxx` or just the 5 characters. */
export function convoyIdOf(input: string): string {
  const raw = input.trim();
  const id = /^[0-9a-z]{5}$/.test(raw) ? `${CONVOY_PREFIX}-${raw}` : raw;
  if (!CONVOY_ID_RE.test(id)) {
    throw new UsageError(
      `invalid convoy id ${JSON.stringify(input)}: convoy ids look like hq-cv-a1b2c (\`gt convoy list\`)`,
    );
  }
  return id;
}

function checkIssueId(id: string): string {
  const s = id.trim();
  try {
    validateId(s);
  } catch {
    throw new UsageError(`invalid bead id ${JSON.stringify(id)}: ids look like gt-abc or hq-x1y`);
  }
  return s;
}

export function trackedIds(b: { dependencies?: { type: string; depends_on_id: string }[] }): string[] {
  return (b.dependencies ?? []).filter((d) => d.type === 'tracks').map((d) => d.depends_on_id);
}

function describe(n: number, meta: Record<string, unknown>): string {
  const lines = [`Convoy tracking ${n} issue${n === 1 ? '' : 's'}`];
  if (meta.owner) lines.push(`owner: ${meta.owner}`);
  if (Array.isArray(meta.notify) && meta.notify.length) lines.push(`notify: ${meta.notify.join(', ')}`);
  if (meta.merge) lines.push(`merge: ${meta.merge}`);
  if (meta.base_branch) lines.push(`base_branch: ${meta.base_branch}`);
  return lines.join('\n');
}

/** Check the beads to track inside a transaction: each exists and is work, not a convoy. */
function trackable(tx: BeadTx, ids: string[]): string[] {
  const out: string[] = [];
  for (const raw of ids) {
    const id = checkIssueId(raw);
    const b = tx.get(id);
    if (!b) throw new NotFoundError(`no bead with id "${id}" to track (\`bd list\` shows the beads)`);
    if (b.issue_type === 'convoy')
      throw new UsageError(`${id} is a convoy; a convoy tracks work beads, not convoys`);
    if (!out.includes(id)) out.push(id);
  }
  return out;
}

/** Create a convoy inside the caller's transaction (gt sling calls this); returns the bead. */
export function createConvoyTx(tx: BeadTx, input: ConvoyInput): Bead {
  const name = oneLine(input.name ?? '', 'convoy name');
  const merge = checkMerge(input.merge);
  const owner = input.owner ? checkAddress(input.owner, 'owner') : undefined;
  const notify = [...new Set((input.notify ?? []).map((n) => checkAddress(n, 'notify address')))];
  const baseBranch = input.baseBranch ? oneLine(input.baseBranch, 'base branch') : undefined;
  if (baseBranch && /[\s~^:?*[\\]|\.\.|^-/.test(baseBranch)) {
    throw new UsageError(`invalid base branch ${JSON.stringify(baseBranch)}: not a valid git branch name`);
  }
  const issues = trackable(tx, input.issues ?? []);
  const metadata: Record<string, unknown> = {};
  if (owner) metadata.owner = owner;
  if (notify.length) metadata.notify = notify;
  if (merge) metadata.merge = merge;
  if (baseBranch) metadata.base_branch = baseBranch;
  const labels = input.owned ? [OWNED_LABEL] : [];
  for (const l of labels) validateLabel(l);
  const bead = createBead(tx, {
    id: newConvoyId(tx),
    force: true,
    title: name,
    type: 'convoy',
    description: describe(issues.length, metadata),
    labels,
    metadata: Object.keys(metadata).length ? metadata : undefined,
  });
  for (const id of issues) addDependency(tx, bead, id, 'tracks');
  tx.put(bead);
  tx.note(`convoy ${bead.id} tracks ${issues.join(', ') || 'nothing yet'}`);
  return bead;
}

/** Track more beads; refuses closed convoys. Returns the ids newly tracked. */
export function addToConvoyTx(
  tx: BeadTx,
  convoyId: string,
  issues: string[],
): { convoy: Bead; added: string[] } {
  const convoy = mustConvoy(tx.get(convoyId), convoyId);
  if (convoy.status === 'closed') {
    throw new ConflictError(
      `convoy ${convoyId} is closed (${convoy.close_reason ?? 'closed'}); create a new one with \`gt convoy create\``,
    );
  }
  if (issues.length === 0) throw new UsageError('name the beads to add: gt convoy add <convoy> <bead...>');
  const ids = trackable(tx, issues);
  const have = new Set(trackedIds(convoy));
  const added = ids.filter((id) => !have.has(id));
  for (const id of added) addDependency(tx, convoy, id, 'tracks');
  if (added.length) {
    convoy.description = describe(trackedIds(convoy).length, convoy.metadata ?? {});
    tx.put(convoy);
    tx.note(`convoy ${convoyId} tracks ${added.join(', ')}`);
  }
  return { convoy, added };
}

function mustConvoy<T extends { issue_type: string }>(b: T | undefined, id: string): T {
  if (!b) throw new NotFoundError(`no convoy with id "${id}" (\`gt convoy list --all\` shows them)`);
  if (b.issue_type !== 'convoy') throw new UsageError(`${id} is a ${b.issue_type}, not a convoy`);
  return b;
}

// ---- reads ------------------------------------------------------------------------------

function convoySummaries(list: BeadSummary[]): BeadSummary[] {
  return list.filter((s) => s.issue_type === 'convoy');
}

/** Open convoys that track a bead. */
export function openConvoysTracking(store: BeadStore, beadId: string): string[] {
  return openTracking(store.summaries(), beadId);
}

function openTracking(all: BeadSummary[], beadId: string): string[] {
  return convoySummaries(all)
    .filter((c) => c.status !== 'closed' && trackedIds(c).includes(beadId))
    .map((c) => c.id)
    .sort();
}

function notTracked(all: BeadSummary[], beadIds: string[]): void {
  const taken = beadIds.map((id) => [id, openTracking(all, id)] as const).filter(([, c]) => c.length);
  if (taken.length) {
    throw new ConflictError(
      `already tracked by another open convoy: ${taken.map(([id, c]) => `${id} (${c.join(', ')})`).join(', ')}; sling them singly, use that convoy, or --no-convoy`,
    );
  }
}

/** Batch sling's guard: none of the beads may be tracked by an open convoy. */
export function assertNotTracked(store: BeadStore, beadIds: string[]): void {
  notTracked(store.summaries(), beadIds);
}

/** The same guard inside a transaction (sees the transaction's own writes). */
export function assertNotTrackedTx(tx: BeadTx, beadIds: string[]): void {
  notTracked(tx.summaries(), beadIds);
}

export interface TrackedItem {
  id: string;
  title: string;
  status: string;
  assignee?: string;
  /** done | merging (an MR is open) | unmerged (closed, no MR merged) | ready | blocked | <status> | missing */
  state: string;
  done: boolean;
  mr?: { id: string; status: string; close_reason?: string };
}

/** Merge-request beads by the issue they merge (metadata.source_issue). */
export function mrsBySource(all: Iterable<BeadSummary>): Map<string, BeadSummary[]> {
  const out = new Map<string, BeadSummary[]>();
  for (const s of all) {
    if (s.issue_type !== MR_TYPE && !s.labels?.includes(MR_LABEL)) continue;
    const src = (s.metadata as Record<string, unknown> | undefined)?.source_issue;
    if (typeof src !== 'string') continue;
    const list = out.get(src);
    if (list) list.push(s);
    else out.set(src, [s]);
  }
  return out;
}

const isMerged = (mr: BeadSummary) => mr.status === 'closed' && /^merged\b/i.test(mr.close_reason ?? '');

/** The landing rule for one tracked bead (see the top of this file). */
export function trackedState(
  b: BeadSummary | undefined,
  mrs: BeadSummary[],
  blocked: Set<string>,
): Pick<TrackedItem, 'state' | 'done' | 'mr'> {
  if (!b) return { state: 'missing', done: false };
  const latest = [...mrs].sort((x, y) => y.ct - x.ct || (x.id < y.id ? 1 : -1));
  const open = latest.find((m) => m.status !== 'closed');
  const merged = latest.find(isMerged);
  const shown = open ?? merged ?? latest[0];
  const mr = shown
    ? {
        id: shown.id,
        status: shown.status,
        ...(shown.close_reason ? { close_reason: shown.close_reason } : {}),
      }
    : undefined;
  const base = mr ? { mr } : {};
  if (open) return { state: 'merging', done: false, ...base };
  if (b.status === 'closed') {
    if (latest.length === 0 || merged) return { state: 'done', done: true, ...base };
    return { state: 'unmerged', done: false, ...base };
  }
  if (b.status === 'open' && !blocked.has(b.id) && !b.assignee)
    return { state: 'ready', done: false, ...base };
  if (blocked.has(b.id)) return { state: 'blocked', done: false, ...base };
  return { state: b.status, done: false, ...base };
}

export interface ConvoyView {
  id: string;
  title: string;
  status: string;
  close_reason?: string;
  owned: boolean;
  owner?: string;
  notify: string[];
  merge?: string;
  base_branch?: string;
  created_at: string;
  closed_at?: string | null;
  tracked: TrackedItem[];
  done: number;
  total: number;
  /** Every tracked bead done (and at least one tracked): ready to land. */
  complete: boolean;
}

interface Analysis {
  all: BeadSummary[];
  g: Graph;
  blocked: Set<string>;
  mrs: Map<string, BeadSummary[]>;
}

function analyse(all: BeadSummary[]): Analysis {
  const g = buildGraph(all);
  return { all, g, blocked: computeBlocked(g), mrs: mrsBySource(all) };
}

function viewOf(a: Analysis, c: BeadSummary): ConvoyView {
  const meta = (c.metadata ?? {}) as Record<string, unknown>;
  const tracked = trackedIds(c).map((id): TrackedItem => {
    const b = a.g.byId.get(id);
    return {
      id,
      title: b?.title ?? '',
      status: b?.status ?? 'missing',
      ...(b?.assignee ? { assignee: b.assignee } : {}),
      ...trackedState(b, a.mrs.get(id) ?? [], a.blocked),
    };
  });
  const done = tracked.filter((t) => t.done).length;
  return {
    id: c.id,
    title: c.title,
    status: c.status,
    ...(c.close_reason ? { close_reason: c.close_reason } : {}),
    owned: !!c.labels?.includes(OWNED_LABEL),
    ...(typeof meta.owner === 'string' ? { owner: meta.owner } : {}),
    notify: Array.isArray(meta.notify) ? meta.notify.map(String) : [],
    ...(typeof meta.merge === 'string' ? { merge: meta.merge } : {}),
    ...(typeof meta.base_branch === 'string' ? { base_branch: meta.base_branch } : {}),
    created_at: c.created_at,
    closed_at: c.closed_at ?? null,
    tracked,
    done,
    total: tracked.length,
    complete: tracked.length > 0 && done === tracked.length,
  };
}

export function convoyStatus(store: BeadStore, input: string): ConvoyView {
  const id = convoyIdOf(input);
  const a = analyse(store.summaries());
  return viewOf(a, mustConvoy(a.g.byId.get(id), id));
}

export function listConvoys(store: BeadStore, opts: { all?: boolean } = {}): ConvoyView[] {
  const a = analyse(store.summaries());
  return convoySummaries(a.all)
    .filter((c) => opts.all || c.status !== 'closed')
    .sort((x, y) => x.ct - y.ct || (x.id < y.id ? -1 : 1))
    .map((c) => viewOf(a, c));
}

// ---- stranded, ready --------------------------------------------------------------------

/** Prefix → rig name, and whether that rig is parked on this machine. */
function rigIndex(townRoot: string): Map<string, { rig: string; parked: boolean }> {
  const out = new Map<string, { rig: string; parked: boolean }>();
  for (const [name, e] of Object.entries(readRigs(townRoot))) {
    const prefix = e.beads?.prefix;
    if (prefix) out.set(prefix, { rig: name, parked: isParked(townRoot, name) });
  }
  return out;
}

function rigOfId(rigs: Map<string, { rig: string; parked: boolean }>, id: string) {
  // The longest registered prefix that the id starts with (prefixes may contain '-').
  let best: { prefix: string; rig: string; parked: boolean } | undefined;
  for (const [prefix, r] of rigs) {
    if (id.startsWith(`${prefix}-`) && (!best || prefix.length > best.prefix.length)) best = { prefix, ...r };
  }
  return best;
}

export interface StrandedConvoy {
  convoy: string;
  title: string;
  /** Tracked beads that are ready (open, unblocked, unassigned) in rigs that are not parked. */
  ready: string[];
  /** The one to sling next (highest priority, then newest), or null for an empty convoy. */
  next: string | null;
  empty: boolean;
}

/**
 * Open convoys with ready tracked work and nobody on it, or with nothing tracked at all. Feeding
 * them (slinging `next`) is gt sling's job; the daemon calls both.
 */
export function strandedConvoys(store: BeadStore): StrandedConvoy[] {
  const a = analyse(store.summaries());
  const rigs = store.loc.mode === 'town' ? rigIndex(store.loc.root) : new Map();
  const readySet = new Map(readyWork(a.g, a.blocked).map((b) => [b.id, b]));
  const out: StrandedConvoy[] = [];
  for (const c of convoySummaries(a.all).sort((x, y) => x.ct - y.ct || (x.id < y.id ? -1 : 1))) {
    if (c.status === 'closed') continue;
    const ids = trackedIds(c);
    if (ids.length === 0) {
      out.push({ convoy: c.id, title: c.title, ready: [], next: null, empty: true });
      continue;
    }
    const ready = ids
      .map((id) => readySet.get(id))
      .filter((b): b is BeadSummary => !!b && !b.assignee && !rigOfId(rigs, b.id)?.parked);
    if (ready.length === 0) continue;
    const sorted = sortBeads([...ready], 'priority');
    out.push({
      convoy: c.id,
      title: c.title,
      ready: sorted.map((b) => b.id),
      next: sorted[0].id,
      empty: false,
    });
  }
  return out;
}

export interface ReadyGroup {
  prefix: string;
  /** The rig the prefix belongs to; null for town (hq) beads and unknown prefixes. */
  rig: string | null;
  parked: boolean;
  beads: { id: string; title: string; priority: number; issue_type: string; assignee?: string }[];
}

/** `gt ready`: the ledger's ready set across the town, grouped by rig prefix. */
export function townReady(store: BeadStore, townRoot: string, opts: { rig?: string } = {}): ReadyGroup[] {
  const rigs = rigIndex(townRoot);
  if (opts.rig && ![...rigs.values()].some((r) => r.rig === opts.rig)) {
    throw new NotFoundError(`no rig named "${opts.rig}" (\`gt rig list\` shows them)`);
  }
  const ready = sortBeads(
    readyWork(store.graph(), store.blocked(), { excludeTypes: ['convoy'] }),
    'priority',
  );
  const groups = new Map<string, ReadyGroup>();
  for (const b of ready) {
    const r = rigOfId(rigs, b.id);
    if (opts.rig && r?.rig !== opts.rig) continue;
    const prefix = r?.prefix ?? b.id.slice(0, b.id.lastIndexOf('-'));
    let g = groups.get(prefix);
    if (!g) {
      g = { prefix, rig: r?.rig ?? null, parked: !!r?.parked, beads: [] };
      groups.set(prefix, g);
    }
    g.beads.push({
      id: b.id,
      title: b.title,
      priority: b.priority,
      issue_type: b.issue_type,
      ...(b.assignee ? { assignee: b.assignee } : {}),
    });
  }
  // Town (hq) work first, then rigs by name.
  return [...groups.values()].sort((x, y) =>
    (x.rig === null) !== (y.rig === null) ? (x.rig === null ? -1 : 1) : x.prefix < y.prefix ? -1 : 1,
  );
}

// ---- landing ----------------------------------------------------------------------------

function duration(from: string, to: string): string {
  const s = Math.max(0, Math.round((Date.parse(to) - Date.parse(from)) / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}h ${m}m` : m ? `${m}m ${s % 60}s` : `${s}s`;
}

export interface LandMail {
  convoy: string;
  recipients: string[];
  ids: string[];
  error?: string;
}

/** Close convoys in one commit (re-checking inside the transaction), then mail owner + notify. */
async function closeConvoys(
  store: BeadStore,
  townRoot: string,
  ids: string[],
  opts: { reason: string; mustBeComplete: boolean; actor?: string; notify: boolean },
): Promise<{ closed: string[]; mail: LandMail[] }> {
  if (ids.length === 0) return { closed: [], mail: [] };
  const closed = store.transact(`convoy: ${opts.reason} ${ids.join(', ')}`, (tx) => {
    const a = analyse(tx.summaries());
    const out: { id: string; title: string; created_at: string; tracked: string[]; to: string[] }[] = [];
    for (const id of ids) {
      const s = a.g.byId.get(id);
      if (s?.issue_type !== 'convoy' || s.status === 'closed') continue;
      const v = viewOf(a, s);
      if (opts.mustBeComplete && !v.complete) continue;
      const b = tx.must(id);
      b.status = 'closed';
      b.closed_at = tx.now;
      b.close_reason = opts.reason;
      b.updated_at = tx.now;
      tx.put(b);
      tx.note(`close ${id}: ${opts.reason}`);
      out.push({
        id,
        title: b.title,
        created_at: b.created_at,
        tracked: v.tracked.map((t) => `${t.id} ${t.title}`.trim()),
        to: [...new Set([...(v.owner ? [v.owner] : []), ...v.notify])],
      });
    }
    return { list: out, now: tx.now };
  });
  store.flush();
  const mail: LandMail[] = [];
  if (opts.notify) {
    for (const c of closed.list) {
      if (c.to.length === 0) continue;
      const msg = convoyLanded({
        title: c.title,
        id: c.id,
        issues: c.tracked,
        duration: duration(c.created_at, closed.now),
      });
      try {
        const r = await sendMail(
          townRoot,
          { from: 'mayor/', to: c.to, subject: msg.subject, body: msg.body, type: 'notification' },
          opts.actor ? { actor: opts.actor } : {},
        );
        mail.push({ convoy: c.id, recipients: r.recipients, ids: r.ids });
      } catch (e: any) {
        mail.push({ convoy: c.id, recipients: c.to, ids: [], error: String(e?.message ?? e) });
      }
    }
  }
  return { closed: closed.list.map((c) => c.id), mail };
}

export interface CheckResult {
  landed: string[];
  /** Still-open convoys with ready work and nobody on it: the bead to sling next (by gt sling). */
  fed: { convoy: string; bead: string }[];
  mail: LandMail[];
}

/**
 * Land every open convoy (or the one named) whose tracked beads are all done; idempotent. Also
 * reports, per convoy still open, the next ready bead to feed it.
 */
export async function checkConvoys(
  store: BeadStore,
  townRoot: string,
  opts: { actor?: string; convoy?: string; dryRun?: boolean } = {},
): Promise<CheckResult> {
  let candidates: string[];
  if (opts.convoy) {
    const v = convoyStatus(store, opts.convoy);
    candidates = v.status !== 'closed' && v.complete ? [v.id] : [];
  } else {
    candidates = listConvoys(store)
      .filter((v) => v.complete)
      .map((v) => v.id);
  }
  let landed = candidates;
  let mail: LandMail[] = [];
  if (!opts.dryRun) {
    const r = await closeConvoys(store, townRoot, candidates, {
      reason: LANDED_REASON,
      mustBeComplete: true,
      actor: opts.actor,
      notify: true,
    });
    landed = r.closed;
    mail = r.mail;
  }
  const fed = strandedConvoys(store)
    .filter(
      (s) => s.next && !landed.includes(s.convoy) && (!opts.convoy || s.convoy === convoyIdOf(opts.convoy)),
    )
    .map((s) => ({ convoy: s.convoy, bead: s.next! }));
  return { landed, fed, mail };
}

/** `gt convoy close`: close by hand; refuses while tracked work is not done unless forced. */
export async function closeConvoy(
  store: BeadStore,
  townRoot: string,
  input: string,
  opts: { reason?: string; force?: boolean; notify?: boolean; actor?: string } = {},
): Promise<{ convoy: string; reason: string; mail: LandMail[] }> {
  const v = convoyStatus(store, input);
  if (v.status === 'closed')
    throw new ConflictError(`convoy ${v.id} is already closed (${v.close_reason ?? 'closed'})`);
  if (!opts.force && v.done < v.total) {
    const open = v.tracked.filter((t) => !t.done).map((t) => `${t.id} (${t.state})`);
    throw new ConflictError(`convoy ${v.id} has work not done: ${open.join(', ')}; finish it or use --force`);
  }
  const reason = opts.reason !== undefined ? oneLine(opts.reason, 'reason') : 'closed';
  const r = await closeConvoys(store, townRoot, [v.id], {
    reason,
    mustBeComplete: false,
    actor: opts.actor,
    notify: !!opts.notify,
  });
  return { convoy: v.id, reason, mail: r.mail };
}

/** `gt convoy land`: land one convoy now (all work done, or --force), with the landed mail. */
export async function landConvoy(
  store: BeadStore,
  townRoot: string,
  input: string,
  opts: { force?: boolean; actor?: string } = {},
): Promise<{ convoy: string; forced: boolean; mail: LandMail[] }> {
  const v = convoyStatus(store, input);
  if (v.status === 'closed')
    throw new ConflictError(`convoy ${v.id} is already closed (${v.close_reason ?? 'closed'})`);
  if (!opts.force && !v.complete) {
    const open = v.tracked.filter((t) => !t.done).map((t) => `${t.id} (${t.state})`);
    throw new ConflictError(
      v.total === 0
        ? `convoy ${v.id} tracks nothing; add work with \`gt convoy add\` or use --force`
        : `convoy ${v.id} cannot land yet: ${open.join(', ')} not done (closed and merged); use --force to land anyway`,
    );
  }
  const r = await closeConvoys(store, townRoot, [v.id], {
    reason: LANDED_REASON,
    mustBeComplete: false,
    actor: opts.actor,
    notify: true,
  });
  return { convoy: v.id, forced: !v.complete, mail: r.mail };
}

/** --from-epic: the epic's slingable descendants (task/bug/feature/chore) that are not closed, BFS. */
export function epicWork(store: BeadStore, epicInput: string): string[] {
  const epicId = store.resolve(epicInput);
  const g = store.graph();
  const epic = g.byId.get(epicId);
  if (!epic) throw new NotFoundError(`no bead with id "${epicInput}"`);
  if (epic.issue_type !== 'epic') throw new UsageError(`${epicId} is a ${epic.issue_type}, not an epic`);
  const out: string[] = [];
  const seen = new Set([epicId]);
  const queue = [epicId];
  while (queue.length) {
    const p = queue.shift()!;
    for (const c of [...(g.children.get(p) ?? [])].sort()) {
      if (seen.has(c)) continue;
      seen.add(c);
      queue.push(c);
      const b = g.byId.get(c);
      if (b && SLINGABLE_TYPES.has(b.issue_type) && b.status !== 'closed') out.push(c);
    }
  }
  return out;
}

export interface FedBead {
  convoy: string;
  bead: string;
  agent?: string;
  error?: string;
}

/**
 * Feed stranded convoys (`gt convoy check --feed`, and the daemon): sling each next ready bead
 * to a polecat of the rig whose prefix it has. A failure is reported per bead, never thrown.
 */
export async function feedConvoys(
  townRoot: string,
  fed: { convoy: string; bead: string }[],
  opts: { cwd?: string; noStart?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<FedBead[]> {
  const out: FedBead[] = [];
  if (fed.length === 0) return out;
  const { sling } = await import('./sling.ts');
  const rigs = readRigs(townRoot);
  for (const f of fed) {
    const prefix = extractPrefix(f.bead);
    const rig = Object.entries(rigs).find(([, e]) => e.beads?.prefix === prefix)?.[0];
    if (!rig) {
      out.push({ ...f, error: `no rig has the prefix "${prefix}"; sling it by hand` });
      continue;
    }
    try {
      const r = await sling(townRoot, {
        cwd: opts.cwd ?? townRoot,
        beads: [f.bead],
        target: rig,
        noStart: opts.noStart,
        ...(opts.env ? { env: opts.env } : {}),
      });
      out.push({ ...f, agent: r.items[0]?.agent });
    } catch (e: any) {
      out.push({ ...f, error: String(e?.message ?? e).split('\n')[0] });
    }
  }
  return out;
}
