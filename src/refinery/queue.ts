// Merge-queue discovery and claims (spec §2.11).
//
// The queue of a rig: its open merge-request beads (src/work/mr.ts, metadata.rig). One is
// READY when it is not blocked by an open dependency (a conflict-resolution task blocks it),
// unclaimed or its claim is stale (merge_queue.stale_claim_timeout), not marked failed at its
// current branch head (metadata.failed_sha: a failed MR waits for a new commit on its branch
// or `gt mq retry`), and its branch is not flagged missing. Order: src/refinery/score.ts.
//
// A claim is a compare-and-swap inside one ledger transaction (the ledger lock serialises
// writers and the transaction reads the tip it commits on): assignee `<rig>/refinery` and
// metadata.claimed_at. Of two claims at once exactly one wins; the other gets ConflictError.
import type { BeadStore, BeadTx } from '../beads/store.ts';
import type { Bead } from '../beads/types.ts';
import { ConflictError, NotFoundError } from '../errors.ts';
import { durationMs, settingValue } from '../town/settings.ts';
import { openConvoysTracking } from '../work/convoy.ts';
import { MR_LABEL, MR_TYPE, type MRMeta } from '../work/mr.ts';
import { branchHead } from './merge.ts';
import { byScore, mrScore } from './score.ts';

export const refineryActor = (rig: string) => `${rig}/refinery`;

export interface QueueEntry {
  id: string;
  title: string;
  rig: string;
  branch: string;
  target: string;
  source_issue: string;
  worker: string;
  priority: number;
  retry_count: number;
  commit_sha: string;
  /** The branch's current head in `.repo.git` (null: the branch is gone). */
  head: string | null;
  score: number;
  ready: boolean;
  /** Why it is not ready (blocked, claimed, failed, missing branch). */
  waiting?: string;
  claimed_by?: string;
  claimed_at?: string;
  blocked_by?: string[];
  mrCreatedMs: number;
}

export function isMRBead(b: { issue_type?: string; labels?: string[] }): boolean {
  return b.issue_type === MR_TYPE || (b.labels ?? []).includes(MR_LABEL);
}

export function staleClaimMs(townRoot: string, rig: string, env?: NodeJS.ProcessEnv): number {
  return durationMs(
    settingValue('merge_queue.stale_claim_timeout', { townRoot, rig, env }),
    'merge_queue.stale_claim_timeout',
  );
}

function claimIsLive(m: Record<string, unknown>, assignee: string | undefined, now: number, staleMs: number) {
  if (!assignee) return false;
  const at = Date.parse(String(m.claimed_at ?? ''));
  return Number.isFinite(at) ? now - at < staleMs : true;
}

export interface QueueOptions {
  now?: number;
  staleMs: number;
  repoGit: string;
  /**
   * Claims by this actor count as stale: the engine passes its own name while it holds the
   * rig's lock, so a run that died mid-merge is picked up at once, not after the timeout.
   */
  reclaimFrom?: string;
}

/** The open MRs of `rig`, score-ordered (ready ones first), with why the others wait. */
export function listQueue(store: BeadStore, rig: string, o: QueueOptions): QueueEntry[] {
  const now = o.now ?? Date.now();
  const g = store.graph();
  const blocked = store.blocked();
  const out: QueueEntry[] = [];
  for (const s of g.byId.values()) {
    if (!isMRBead(s) || s.status === 'closed') continue;
    const m = (s.metadata ?? {}) as Partial<MRMeta> & Record<string, unknown>;
    if (m.rig !== rig || typeof m.branch !== 'string') continue;
    const convoys = typeof m.source_issue === 'string' ? openConvoysTracking(store, m.source_issue) : [];
    const convoyMs = convoys
      .map((c) => store.summary(c)?.ct ?? 0)
      .filter((x) => x > 0)
      .sort((a, b) => a - b)[0];
    const retry = Number(m.retry_count ?? 0);
    const head = branchHead(o.repoGit, m.branch);
    const e: QueueEntry = {
      id: s.id,
      title: s.title,
      rig,
      branch: m.branch,
      target: String(m.target ?? ''),
      source_issue: String(m.source_issue ?? ''),
      worker: String(m.worker ?? ''),
      priority: s.priority,
      retry_count: retry,
      commit_sha: String(m.commit_sha ?? ''),
      head,
      score: mrScore(
        { priority: s.priority, retryCount: retry, mrCreatedMs: s.ct, convoyCreatedMs: convoyMs },
        now,
      ),
      ready: true,
      mrCreatedMs: s.ct,
    };
    if (s.assignee) {
      e.claimed_by = s.assignee;
      if (typeof m.claimed_at === 'string') e.claimed_at = m.claimed_at;
    }
    const blockers = (s.dependencies ?? [])
      .filter(
        (d) =>
          (d.type === 'blocks' || d.type === 'conditional-blocks') &&
          g.byId.get(d.depends_on_id)?.status !== 'closed',
      )
      .map((d) => d.depends_on_id);
    if (blocked.has(s.id)) {
      e.ready = false;
      e.blocked_by = blockers;
      e.waiting = `blocked by ${blockers.join(', ') || 'an open dependency'}`;
    } else if (s.assignee !== o.reclaimFrom && claimIsLive(m, s.assignee, now, o.staleMs)) {
      e.ready = false;
      e.waiting = `claimed by ${s.assignee}${e.claimed_at ? ` at ${e.claimed_at}` : ''}`;
    } else if (!head) {
      e.ready = false;
      e.waiting = `branch ${m.branch} is missing from the rig's repository`;
    } else if (typeof m.failed_sha === 'string' && m.failed_sha === head) {
      e.ready = false;
      e.waiting = `failed at ${head.slice(0, 12)} (${String(m.last_failure_type ?? 'gate')}); waiting for a new commit on ${m.branch} or gt mq retry ${s.id}`;
    }
    out.push(e);
  }
  // Of several ready MRs for one issue on one branch (a resubmission racing the queue), only
  // the newest is merged: the older ones are superseded by gt done's transaction anyway.
  const newest = new Map<string, QueueEntry>();
  for (const e of out) {
    if (!e.ready) continue;
    const key = `${e.source_issue}\0${e.branch}`;
    const seen = newest.get(key);
    if (!seen || e.mrCreatedMs > seen.mrCreatedMs) newest.set(key, e);
  }
  for (const e of out) {
    const n = newest.get(`${e.source_issue}\0${e.branch}`);
    if (e.ready && n && n !== e) {
      e.ready = false;
      e.waiting = `a newer merge request for ${e.source_issue} on ${e.branch} (${n.id}) replaces it`;
    }
  }
  return out.sort((a, b) => (a.ready === b.ready ? byScore(a, b) : a.ready ? -1 : 1));
}

/** A merge-request bead of any rig by id (NotFoundError naming the fix otherwise). */
export function mustMR(store: BeadStore, input: string): Bead {
  const id = store.resolve(input);
  const b = store.get(id);
  if (!b || !isMRBead(b))
    throw new NotFoundError(
      `${id} is not a merge request (no ${MR_LABEL} label); \`gt mq list\` shows the queue`,
    );
  return b;
}

/** Claim inside `tx`: compare-and-swap on the assignee (a stale claim may be taken over). */
export function claimInTx(
  tx: BeadTx,
  id: string,
  claimer: string,
  now: number,
  staleMs: number,
  reclaimOwn = false,
): Bead {
  const b = tx.must(id);
  if (b.status === 'closed')
    throw new ConflictError(`${id} is closed (${b.close_reason ?? 'closed'}); nothing to merge`);
  const m = (b.metadata ?? {}) as Record<string, unknown>;
  if (b.assignee && b.assignee !== claimer && claimIsLive(m, b.assignee, now, staleMs))
    throw new ConflictError(`${id} is already claimed by ${b.assignee}`);
  if (b.assignee === claimer && !reclaimOwn && claimIsLive(m, b.assignee, now, staleMs))
    throw new ConflictError(`${id} is already claimed by ${claimer} (another run is merging it)`);
  b.assignee = claimer;
  b.metadata = { ...m, claimed_at: new Date(now).toISOString() };
  b.updated_at = tx.now;
  tx.put(b);
  tx.note(`claim ${id} for ${claimer}`);
  return b;
}

/** Claim one MR in its own transaction; ConflictError when someone else holds it. */
export function claimMR(
  store: BeadStore,
  id: string,
  claimer: string,
  o: { now?: number; staleMs: number; reclaimOwn?: boolean },
): Bead {
  const now = o.now ?? Date.now();
  return store.transact(`mq: claim ${id} (${claimer})`, (tx) =>
    claimInTx(tx, id, claimer, now, o.staleMs, !!o.reclaimOwn),
  );
}

/** Drop the claim (inside `tx`); `patch` goes into the metadata. */
export function releaseInTx(tx: BeadTx, b: Bead, patch: Record<string, unknown> = {}): Bead {
  b.assignee = undefined;
  const m = { ...(b.metadata ?? {}), ...patch } as Record<string, unknown>;
  delete m.claimed_at;
  b.metadata = m;
  b.updated_at = tx.now;
  tx.put(b);
  return b;
}

export function releaseMR(
  store: BeadStore,
  id: string,
  why: string,
  patch: Record<string, unknown> = {},
): void {
  store.transact(`mq: release ${id}: ${why}`, (tx) => {
    const b = tx.get(id);
    if (!b || b.status === 'closed') return;
    releaseInTx(tx, b, patch);
    tx.note(`release ${id}: ${why}`);
  });
}
