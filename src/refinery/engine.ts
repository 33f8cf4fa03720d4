// The refinery's mechanical patrol (spec §2.11): one pass over the merge queue of every rig
// whose `merge_queue.enabled` (or of one rig). The patrol daemon calls `refineryTick` every
// tick and on wake-ups; `gt mq process` calls it once.
//
// Per rig, under a lock file (`<rig>/.runtime/refinery.lock`: one merge at a time per rig):
//  1. Ready MRs (src/refinery/queue.ts) in score order; up to merge_queue.batch.max_batch_size
//     with the same target are claimed (compare-and-swap) and go through together.
//  2. pre-merge gates on each branch head; then a squash stack target←MR1←…←MRn built with
//     plumbing in `.repo.git` (src/refinery/merge.ts). An MR that conflicts is dropped from the
//     stack and gets a conflict-resolution task; one that adds nothing lands as "already in
//     target".
//  3. post-squash gates on the tip, in the refinery worktree. Green → all land. Red → the whole
//     batch once more (merge_queue.batch.retry_batch_on_flaky), then bisection: the smallest
//     failing prefix names a culprit, the prefix before it is good; repeat on the rest. A batch
//     of one is the plain path (its failed gates are re-run merge_queue.retry_flaky_tests times).
//  4. Landing: push to the rig's origin (merge_queue.auto_push, when it has one), then move the
//     target in `.repo.git` with compare-and-swap, delete the merged branches
//     (merge_queue.delete_merged_branches; never one checked out in a worktree or still used by
//     another open MR), then ONE ledger transaction: MRs closed (reason merged, merge_commit),
//     source beads closed, active_mr cleared. Then MERGED nudges to the mayor and convoy landing.
//  5. Failures: a gate → MR released with failed_sha (not retried until the branch head changes
//     or `gt mq retry`), MERGE_FAILED to the polecat and the mayor; a conflict → a task bead
//     blocking the MR, slung (formula mol-polecat-conflict-resolve) back to the worker when it is
//     idle (merge_queue.on_conflict = assign_back), else to the rig; a missing branch → flagged,
//     mayor told "possible work loss". retry_count counts both; merge_queue.max_retry_count
//     failures raise an escalation (once).
// A failure in one rig is recorded in its report; it never stops the others.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { addComment, addDependency, closeBead, createBead } from '../beads/ops.ts';
import { BeadStore, type BeadTx } from '../beads/store.ts';
import type { Bead } from '../beads/types.ts';
import { ConflictError } from '../errors.ts';
import { loadCodec } from '../ledger/codec.ts';
import { agentMeta, updateAgentMeta } from '../town/agents.ts';
import { agentBeadIdOf, type Identity, parseIdentity } from '../town/identity.ts';
import { getRig, isParked, type RigInfo, rigNames } from '../town/rigs.ts';
import { durationMs, settingValue } from '../town/settings.ts';
import { firstFailure, type Gate, type GateResult, resolveGates, runGatesWithRetry } from './gates.ts';
import {
  branchHead,
  checkoutAt,
  deleteBranch,
  moveBranch,
  originUrl,
  type Person,
  personOf,
  pushToOrigin,
  restoreWorktree,
  squashOnto,
  worktreesOn,
} from './merge.ts';
import {
  claimMR,
  isMRBead,
  listQueue,
  type QueueEntry,
  refineryActor,
  releaseInTx,
  staleClaimMs,
} from './queue.ts';

export const CONFLICT_FORMULA = 'mol-polecat-conflict-resolve';

export interface RigTickReport {
  merged: string[];
  failed: { mr: string; reason: string }[];
  conflicts: string[];
  skipped?: string;
  /** Conflict-resolution tasks filed this tick (mr → task). */
  tasks?: { mr: string; task: string; slung_to?: string; sling_error?: string }[];
  notes?: string[];
  error?: string;
  /** Collecting a batch: run the refinery again for this rig after this many ms. */
  wake_after_ms?: number;
}

export interface RefineryTickReport {
  at: string;
  rigs: Record<string, RigTickReport>;
}

export interface TickOptions {
  rig?: string;
  env?: NodeJS.ProcessEnv;
  now?: number;
  /** Sling conflict tasks without starting polecat sessions (tests; a later `gt up`). */
  noStart?: boolean;
  /** Merge what is ready now instead of holding a batch open (`gt mq process`). */
  noWait?: boolean;
}

export async function refineryTick(townRoot: string, opts: TickOptions = {}): Promise<RefineryTickReport> {
  await loadCodec();
  const names = opts.rig ? [getRig(townRoot, opts.rig).name] : rigNames(townRoot);
  const rigs: Record<string, RigTickReport> = {};
  for (const name of names) {
    try {
      rigs[name] = await processRig(townRoot, name, opts);
    } catch (e) {
      const msg = (e as Error)?.message ?? String(e);
      rigs[name] = { merged: [], failed: [], conflicts: [], skipped: `error: ${msg}`, error: msg };
    }
  }
  return { at: new Date(opts.now ?? Date.now()).toISOString(), rigs };
}

// ---- the per-rig lock ---------------------------------------------------------------------

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Take `<rig>/.runtime/refinery.lock`; a release function, or who holds it. */
export function lockRig(runtimeDir: string): { release: () => void } | { heldBy: string } {
  fs.mkdirSync(runtimeDir, { recursive: true });
  const file = path.join(runtimeDir, 'refinery.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = fs.openSync(file, 'wx');
      fs.writeSync(fd, JSON.stringify({ pid: process.pid, at: new Date().toISOString() }));
      fs.closeSync(fd);
      return { release: () => fs.rmSync(file, { force: true }) };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let holder: { pid?: number; at?: string } = {};
      try {
        holder = JSON.parse(fs.readFileSync(file, 'utf8'));
      } catch {
        // half-written by a crashed run: stale
      }
      // A lock from before the last boot is stale even if its pid was handed out again.
      const bootMs = Date.now() - os.uptime() * 1000;
      const at = Date.parse(String(holder.at ?? ''));
      const beforeBoot = Number.isFinite(at) && at < bootMs;
      if (holder.pid && pidAlive(holder.pid) && !beforeBoot)
        return { heldBy: `pid ${holder.pid} since ${holder.at}` };
      fs.rmSync(file, { force: true }); // its owner died: the lock is stale
    }
  }
  return { heldBy: 'another run (lock kept reappearing)' };
}

// ---- per rig ------------------------------------------------------------------------------

interface Candidate extends QueueEntry {
  head: string;
  sourceTitle: string;
}

interface RigCtx {
  townRoot: string;
  rig: RigInfo;
  actor: string;
  store: BeadStore;
  env: NodeJS.ProcessEnv;
  now: () => number;
  report: RigTickReport;
  wt: string;
  repoGit: string;
  committer: Person;
  domain: string;
  set<T>(key: string): T;
  gates: Gate[];
  noStart?: boolean;
  /** The refinery worktree was checked out elsewhere this tick. */
  touched?: boolean;
}

async function processRig(townRoot: string, name: string, o: TickOptions): Promise<RigTickReport> {
  const env = o.env ?? process.env;
  const rig = getRig(townRoot, name);
  const set = <T>(key: string) => settingValue<T>(key, { townRoot, rig: name, env });
  const report: RigTickReport = { merged: [], failed: [], conflicts: [] };
  if (set<unknown>('merge_queue.enabled') === false)
    return { ...report, skipped: 'merge_queue.enabled is false' };
  if (isParked(townRoot, name)) return { ...report, skipped: 'rig is parked' };
  const wt = rig.paths.refineryRig;
  if (!fs.existsSync(wt))
    return { ...report, skipped: `no refinery worktree at ${wt} (re-add the rig or run gt doctor --fix)` };
  const gates = resolveGates({ townRoot, rig: name, env }); // bad settings: an error for this rig
  const lock = lockRig(rig.paths.runtimeDir);
  if ('heldBy' in lock) return { ...report, skipped: `another refinery run holds the lock (${lock.heldBy})` };
  const actor = refineryActor(name);
  const store = BeadStore.open(townRoot, { actor });
  const domain = String(set<unknown>('agent_email_domain') || 'gastown.local');
  const ctx: RigCtx = {
    townRoot,
    rig,
    actor,
    store,
    env,
    now: () => o.now ?? Date.now(),
    report,
    wt,
    repoGit: rig.paths.repoGit,
    committer: personOf(actor, domain),
    domain,
    set,
    gates,
    noStart: o.noStart,
  };
  try {
    const staleMs = staleClaimMs(townRoot, name, env);
    const maxBatch = Math.max(1, Number(set<unknown>('merge_queue.batch.max_batch_size') ?? 1) || 1);
    const seen = new Set<string>();
    await flagMissingBranches(ctx, staleMs);
    for (let round = 0; round < 1000; round++) {
      // Holding the lock, our own claims are leftovers of a run that died: take them over.
      const ready = listQueue(store, name, {
        now: ctx.now(),
        staleMs,
        repoGit: ctx.repoGit,
        reclaimFrom: actor,
      }).filter((e) => e.ready && !seen.has(e.id));
      if (ready.length === 0) break;
      const target = ready[0].target;
      const picked = ready.filter((e) => e.target === target).slice(0, maxBatch);
      // Bors-style batching holds a short batch open for merge_queue.batch.batch_wait_time from
      // its oldest MR, so MRs finishing close together are gated once; the daemon comes back
      // when the wait is over (wake_after_ms).
      if (round === 0 && maxBatch > 1 && picked.length < maxBatch && !o.noWait) {
        const key = 'merge_queue.batch.batch_wait_time';
        const waitMs = durationMs(set<unknown>(key) ?? 0, key);
        const age = ctx.now() - Math.min(...picked.map((e) => e.mrCreatedMs));
        if (waitMs > 0 && age < waitMs) {
          report.wake_after_ms = waitMs - age;
          report.skipped = `collecting a batch: ${picked.length} of up to ${maxBatch} ready; merging in ${Math.ceil((waitMs - age) / 1000)}s (${key})`;
          break;
        }
      }
      const claimed: QueueEntry[] = [];
      for (const e of picked) {
        seen.add(e.id);
        try {
          claimMR(store, e.id, actor, { now: ctx.now(), staleMs, reclaimOwn: true });
          claimed.push(e);
        } catch (err) {
          if (!(err instanceof ConflictError)) throw err;
          note(ctx, `${e.id}: ${err.message}`);
        }
      }
      if (claimed.length === 0) continue;
      try {
        await processBatch(ctx, target, claimed);
      } catch (err) {
        // An unexpected failure (git, disk): give the MRs back to the queue now, not after the
        // stale-claim timeout, and go on with the next batch.
        const msg = (err as Error)?.message ?? String(err);
        const released = ctx.store.transact(`mq: release after an error: ${msg.slice(0, 60)}`, (tx) => {
          const out: string[] = [];
          for (const e of claimed) {
            const b = tx.get(e.id);
            if (!b || b.status === 'closed' || b.assignee !== actor) continue;
            releaseInTx(tx, b);
            out.push(e.id);
          }
          return out;
        });
        for (const id of released) ctx.report.failed.push({ mr: id, reason: `error: ${msg}` });
      }
    }
    return report;
  } finally {
    try {
      // Only a tick that moved the worktree puts it back (an idle tick leaves it alone).
      if (ctx.touched) restoreWorktree(wt, rig.default_branch);
    } finally {
      store.flush();
      lock.release();
    }
  }
}

function note(ctx: RigCtx, line: string): void {
  (ctx.report.notes ??= []).push(line);
}

/** Open MRs whose branch vanished: flagged once, the mayor told (possible work loss). */
async function flagMissingBranches(ctx: RigCtx, staleMs: number): Promise<void> {
  const q = listQueue(ctx.store, ctx.rig.name, { now: ctx.now(), staleMs, repoGit: ctx.repoGit });
  for (const e of q) {
    if (e.head || e.blocked_by?.length) continue;
    const b = ctx.store.get(e.id);
    if (!b || (b.metadata as Record<string, unknown>)?.branch_missing) continue;
    ctx.store.transact(`mq: ${e.id}: branch ${e.branch} is missing`, (tx) => {
      const mr = tx.must(e.id);
      releaseInTx(tx, mr, { branch_missing: true });
      addComment(
        tx,
        mr,
        `refinery: branch ${e.branch} is missing from the rig's repository (possible work loss)`,
      );
      tx.put(mr);
    });
    ctx.report.failed.push({ mr: e.id, reason: `branch ${e.branch} is missing` });
    await tell(
      ctx,
      { role: 'mayor' },
      `MERGE_FAILED: branch=${e.branch} issue=${e.source_issue} type=missing-branch error=branch not found in ${ctx.rig.name}/.repo.git — possible work loss (MR ${e.id})`,
    );
  }
}

async function processBatch(ctx: RigCtx, target: string, claimed: QueueEntry[]): Promise<void> {
  const base = branchHead(ctx.repoGit, target);
  if (!base) {
    for (const e of claimed)
      await failMR(
        ctx,
        e,
        e.head ?? '',
        'other',
        `the target branch ${target} does not exist in the rig's repository`,
      );
    return;
  }
  const pre = ctx.gates.filter((g) => g.phase === 'pre-merge');
  const parallel = ctx.set<unknown>('merge_queue.gates_parallel') !== false;
  const flaky = Math.max(0, Number(ctx.set<unknown>('merge_queue.retry_flaky_tests') ?? 0) || 0);
  const cands: Candidate[] = [];
  for (const e of claimed) {
    const head = branchHead(ctx.repoGit, e.branch);
    if (!head) {
      await flagMissingBranches(ctx, 0);
      continue;
    }
    if (pre.length > 0) {
      ctx.touched = true;
      checkoutAt(ctx.wt, head);
      const bad = firstFailure(
        await runGatesWithRetry(pre, ctx.wt, { parallel, env: ctx.env, retries: flaky }),
      );
      if (bad) {
        await failMR(ctx, e, head, bad.name, bad.tail, bad);
        continue;
      }
    }
    cands.push({ ...e, head, sourceTitle: ctx.store.summary(e.source_issue)?.title ?? e.source_issue });
  }
  const stacked = await buildStack(ctx, base, cands, target);
  if (stacked.items.length === 0) {
    if (stacked.empty.length) await land(ctx, target, base, base, [], stacked.empty);
    return;
  }
  const post = ctx.gates.filter((g) => g.phase === 'post-squash');
  const gateAt = async (tip: string, retries: number) => {
    ctx.touched = true;
    checkoutAt(ctx.wt, tip);
    return firstFailure(await runGatesWithRetry(post, ctx.wt, { parallel, env: ctx.env, retries }));
  };
  const tipOf = (items: StackItem[]) => (items.length ? items[items.length - 1].commit : base);
  if (post.length === 0) return land(ctx, target, base, tipOf(stacked.items), stacked.items, stacked.empty);
  const single = stacked.items.length === 1;
  let bad = await gateAt(tipOf(stacked.items), single ? flaky : 0);
  if (bad && !single && ctx.set<unknown>('merge_queue.batch.retry_batch_on_flaky') !== false) {
    note(ctx, `batch of ${stacked.items.length} red on ${bad.name}; retrying once (flaky?)`);
    bad = await gateAt(tipOf(stacked.items), 0);
  }
  if (!bad) return land(ctx, target, base, tipOf(stacked.items), stacked.items, stacked.empty);
  if (single) {
    const it = stacked.items[0];
    if (stacked.empty.length) await land(ctx, target, base, base, [], stacked.empty);
    return failMR(ctx, it.e, it.e.head, bad.name, bad.tail, bad);
  }
  // Bisection: grow a known-green stack `good`; in what remains, the smallest failing prefix
  // ends with a culprit and the prefix before it is green.
  let good: Candidate[] = [];
  let remaining = stacked.items.map((i) => i.e);
  const culprits: { e: Candidate; bad: GateResult }[] = [];
  let redForAll: GateResult = bad; // the failure of good + all of remaining
  let first = true;
  while (remaining.length > 0) {
    if (!first) {
      const s = await buildStack(ctx, base, [...good, ...remaining], target);
      remaining = remaining.filter((r) => s.items.some((i) => i.e.id === r.id));
      if (remaining.length === 0) break;
      const r = await gateAt(tipOf(s.items), 0);
      if (!r) {
        good = [...good, ...remaining];
        break;
      }
      redForAll = r;
    }
    first = false;
    let lo = 1;
    let hi = remaining.length;
    let failure = redForAll;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      const s = await buildStack(ctx, base, [...good, ...remaining.slice(0, mid)], target);
      const r = await gateAt(tipOf(s.items), 0);
      if (r) {
        hi = mid;
        failure = r;
      } else lo = mid + 1;
    }
    culprits.push({ e: remaining[lo - 1], bad: failure });
    good = [...good, ...remaining.slice(0, lo - 1)];
    remaining = remaining.slice(lo);
  }
  note(
    ctx,
    `bisection: culprit${culprits.length > 1 ? 's' : ''} ${culprits.map((c) => c.e.id).join(', ')}; landing ${good.map((g) => g.id).join(', ') || 'nothing'}`,
  );
  const final = await buildStack(ctx, base, good, target);
  await land(ctx, target, base, tipOf(final.items), final.items, stacked.empty);
  for (const c of culprits) await failMR(ctx, c.e, c.e.head, c.bad.name, c.bad.tail, c.bad);
}

interface StackItem {
  e: Candidate;
  commit: string;
}

const stackMemo = new Map<string, string>();

/**
 * Squash `cands` one on top of the other onto `base`. A conflicting MR is left out and gets its
 * conflict handling (once a tick); MRs that add nothing go to `empty`.
 */
async function buildStack(
  ctx: RigCtx,
  base: string,
  cands: Candidate[],
  target: string,
): Promise<{ items: StackItem[]; empty: Candidate[] }> {
  const items: StackItem[] = [];
  const empty: Candidate[] = [];
  let tip = base;
  for (const e of cands) {
    const key = `${tip}:${e.head}:${e.id}`;
    const memo = stackMemo.get(key);
    if (memo) {
      items.push({ e, commit: memo });
      tip = memo;
      continue;
    }
    const agent = personOf(e.worker || ctx.actor, ctx.domain);
    const message = `${e.sourceTitle} (${e.source_issue})\n\nMerge-Request: ${e.id}\nBranch: ${e.branch}\nWorker: ${e.worker}`;
    const r = squashOnto(ctx.repoGit, tip, e.head, message, agent, ctx.committer);
    if (r.kind === 'conflict') {
      if (!ctx.report.conflicts.includes(e.id)) await conflictMR(ctx, e, target, r.files);
      continue;
    }
    if (r.kind === 'empty') {
      empty.push(e);
      continue;
    }
    if (stackMemo.size > 1000) stackMemo.clear();
    stackMemo.set(key, r.commit);
    items.push({ e, commit: r.commit });
    tip = r.commit;
  }
  return { items, empty };
}

// ---- landing ------------------------------------------------------------------------------

async function land(
  ctx: RigCtx,
  target: string,
  base: string,
  tip: string,
  items: StackItem[],
  empty: Candidate[],
): Promise<void> {
  if (items.length > 0) {
    if (ctx.set<unknown>('merge_queue.auto_push') !== false && originUrl(ctx.repoGit)) {
      let err = pushToOrigin(ctx.repoGit, target, tip);
      if (err && /branch is currently checked out/.test(err)) {
        // A local, non-bare origin (`gt rig add app ~/code/app`) with the target checked out
        // refuses every push. The merge still lands in the rig's repository; say how to fix it.
        note(
          ctx,
          `origin has ${target} checked out (a non-bare repository), so the merge was not pushed there: use a bare origin, or run \`git config receive.denyCurrentBranch updateInstead\` in it`,
        );
        err = null;
      }
      if (err) {
        for (const it of items)
          await failMR(ctx, it.e, it.e.head, 'push', `push to origin failed: ${err}`, undefined, false);
        // Empty ones need no push: they still land below.
        items = [];
        tip = base;
      }
    }
  }
  if (items.length > 0) {
    // The refinery worktree must not have the target checked out while the ref moves under it.
    if (worktreesOn(ctx.repoGit, target).some((w) => samePath(w, ctx.wt))) {
      ctx.touched = true;
      checkoutAt(ctx.wt, base);
    }
    const others = worktreesOn(ctx.repoGit, target).filter((w) => !samePath(w, ctx.wt));
    if (others.length)
      note(ctx, `${target} is also checked out in ${others.join(', ')}; that worktree now lags behind`);
    if (
      !moveBranch(ctx.repoGit, target, tip, base, `refinery: merge ${items.map((i) => i.e.id).join(', ')}`)
    ) {
      note(
        ctx,
        `${target} moved during the merge; ${items.map((i) => i.e.id).join(', ')} go back to the queue`,
      );
      ctx.store.transact(`mq: release ${items.length} MR(s): ${target} moved`, (tx) => {
        for (const it of items) {
          const b = tx.get(it.e.id);
          if (b && b.status !== 'closed') releaseInTx(tx, b);
        }
      });
      items = [];
    }
    restoreWorktree(ctx.wt, ctx.rig.default_branch);
  }
  const landed: { e: Candidate; commit: string | null; note?: string }[] = [
    ...items.map((i) => ({ e: i.e, commit: i.commit })),
    ...empty.map((e) => ({
      e,
      commit: null,
      note: `refinery: ${e.branch} adds nothing to ${target} (its changes are already there, e.g. through a conflict-resolution MR); closed as merged`,
    })),
  ];
  if (landed.length === 0) return;
  // Branches: delete merged ones unless a worktree has them or another open MR still uses them.
  const landedIds = new Set(landed.map((l) => l.e.id));
  const stillUsed = new Set(
    ctx.store
      .summaries()
      .filter((s) => isMRBead(s) && s.status !== 'closed' && !landedIds.has(s.id))
      .map((s) => String((s.metadata as Record<string, unknown>)?.branch ?? '')),
  );
  const branchNotes = new Map<string, string>();
  if (ctx.set<unknown>('merge_queue.delete_merged_branches') !== false) {
    for (const l of landed) {
      const b = l.e.branch;
      if (stillUsed.has(b)) branchNotes.set(l.e.id, `branch ${b} kept: another open MR uses it`);
      else if (worktreesOn(ctx.repoGit, b).length)
        branchNotes.set(l.e.id, `branch ${b} kept: checked out in ${worktreesOn(ctx.repoGit, b).join(', ')}`);
      else if (deleteBranch(ctx.repoGit, b, l.e.head)) branchNotes.set(l.e.id, `branch ${b} deleted`);
      else branchNotes.set(l.e.id, `branch ${b} kept: it moved since ${l.e.head.slice(0, 12)}`);
    }
  }
  ctx.store.transact(`mq: merged ${landed.map((l) => l.e.id).join(', ')} into ${target}`, (tx) => {
    for (const l of landed)
      closeMerged(tx, l.e, l.commit, [l.note, branchNotes.get(l.e.id)].filter(Boolean) as string[]);
  });
  for (const l of landed) {
    ctx.report.merged.push(l.e.id);
    const bn = branchNotes.get(l.e.id);
    if (bn && !bn.endsWith('deleted')) note(ctx, `${l.e.id}: ${bn}`);
    await tell(ctx, { role: 'mayor' }, `MERGED: ${l.e.id} issue=${l.e.source_issue} branch=${l.e.branch}`);
  }
  try {
    const { checkConvoys } = await import('../work/convoy.ts');
    const r = await checkConvoys(ctx.store, ctx.townRoot, { actor: ctx.actor });
    for (const c of r.landed) note(ctx, `convoy ${c} landed`);
  } catch (e) {
    note(ctx, `convoy check failed: ${(e as Error).message}`);
  }
}

function samePath(a: string, b: string): boolean {
  try {
    return fs.realpathSync(a) === fs.realpathSync(b);
  } catch {
    return path.resolve(a) === path.resolve(b);
  }
}

/** Close a merged MR and its source (idempotent), clearing active_mr; inside one transaction. */
function closeMerged(tx: BeadTx, e: Candidate, commit: string | null, notes: string[]): void {
  let mr = tx.get(e.id);
  if (mr?.status === 'closed') {
    // Superseded while it merged (the polecat pushed a fix to the same branch, then gt done
    // filed a new MR): the merge belongs to the MR that replaced it, when it has the same head.
    const next = /^superseded by (\S+)/.exec(mr.close_reason ?? '')?.[1];
    const n = next ? tx.get(next) : undefined;
    const nm = (n?.metadata ?? {}) as Record<string, unknown>;
    if (!n || n.status === 'closed' || nm.branch !== e.branch || nm.commit_sha !== e.head) return;
    notes = [...notes, `merged while it superseded ${e.id} (same branch and commit)`];
    e = { ...e, id: n.id };
    mr = n;
  }
  if (!mr) return;
  const m = { ...(mr.metadata ?? {}) } as Record<string, unknown>;
  for (const k of ['claimed_at', 'failed_sha', 'branch_missing']) delete m[k];
  mr.metadata = { ...m, merge_commit: commit, merged_head: e.head, merged_at: tx.now };
  for (const n of notes) addComment(tx, mr, n);
  closeBead(tx, mr, { reason: commit ? 'merged' : 'merged (already in target)', force: true });
  const src = tx.get(e.source_issue);
  if (src) {
    const sm = (src.metadata ?? {}) as Record<string, unknown>;
    if (sm.active_mr === e.id) src.metadata = { ...sm, active_mr: null };
    if (src.status !== 'closed') {
      addComment(tx, src, `merged by ${tx.actor} via ${e.id}${commit ? ` (${commit.slice(0, 12)})` : ''}`);
      closeBead(tx, src, { reason: 'merged', force: true });
    } else tx.put(src);
  }
  const agentId = typeof m.agent_bead === 'string' ? m.agent_bead : null;
  if (agentId && tx.exists(agentId)) {
    const a = tx.must(agentId);
    if (agentMeta(a).active_mr === e.id) updateAgentMeta(tx, agentId, { active_mr: null });
  }
}

// ---- failures -----------------------------------------------------------------------------

function oneLine(text: string, max = 400): string {
  const s = text
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)
    .join(' | ');
  return s.length > max ? `…${s.slice(-max)}` : s;
}

function workerIdentity(worker: string): Identity | null {
  try {
    const id = parseIdentity(worker);
    return id.role === 'polecat' ? id : null;
  } catch {
    return null;
  }
}

async function tell(ctx: RigCtx, to: Identity, message: string): Promise<string> {
  try {
    const { nudgeAgent } = await import('../nudge/nudge.ts');
    const r = await nudgeAgent(
      ctx.townRoot,
      to,
      { sender: ctx.actor, message, mode: 'immediate', kind: 'protocol' },
      { env: ctx.env, settleTimeoutMs: 3000 },
    );
    return r.delivered;
  } catch (e) {
    const msg = `could not nudge ${JSON.stringify(to)}: ${(e as Error).message}`;
    note(ctx, msg);
    return msg;
  }
}

/** Escalate once an MR has failed merge_queue.max_retry_count times. */
async function maybeEscalate(ctx: RigCtx, id: string, retries: number, what: string): Promise<void> {
  const max = Number(ctx.set<unknown>('merge_queue.max_retry_count') ?? 5);
  if (!(max > 0) || retries < max) return;
  const b = ctx.store.get(id);
  if (!b || (b.metadata as Record<string, unknown>)?.escalated) return;
  try {
    const { createEscalation } = await import('../escalation/escalate.ts');
    const m = (b.metadata ?? {}) as Record<string, unknown>;
    const related = [
      id,
      ...(typeof m.source_issue === 'string' && ctx.store.summary(m.source_issue) ? [m.source_issue] : []),
    ];
    const r = await createEscalation(
      ctx.townRoot,
      {
        description: `Merge request ${id} (${String(m.branch)}) failed ${retries} times (last: ${what}); merge_queue.max_retry_count is ${max}.`,
        severity: 'high',
        reason: `merge queue: ${id} keeps failing`,
        related,
      },
      { actor: ctx.actor, env: ctx.env },
    );
    ctx.store.transact(`mq: ${id} escalated`, (tx) => {
      const mr = tx.must(id);
      mr.metadata = { ...(mr.metadata ?? {}), escalated: r.escalation.id };
      tx.put(mr);
    });
    note(ctx, `${id} escalated (${r.escalation.id}) after ${retries} failures`);
  } catch (e) {
    note(ctx, `could not escalate ${id}: ${(e as Error).message}`);
  }
}

/** A failed gate (or push/other): the MR goes back unclaimed, marked failed at `head`. */
async function failMR(
  ctx: RigCtx,
  e: QueueEntry,
  head: string,
  type: string,
  errorText: string,
  gate?: GateResult,
  /** False when the polecat cannot fix it (a push refused by the origin): the mayor only. */
  tellWorker = true,
): Promise<void> {
  const retries = ctx.store.transact(`mq: ${e.id} failed (${type})`, (tx) => {
    const mr = tx.get(e.id);
    if (!mr || mr.status === 'closed') return 0;
    const m = (mr.metadata ?? {}) as Record<string, unknown>;
    const n = Number(m.retry_count ?? 0) + 1;
    releaseInTx(tx, mr, {
      retry_count: n,
      failed_sha: head || null,
      last_failure_type: type,
      last_failure: errorText.slice(-4000),
      last_failure_at: tx.now,
      ...(gate ? { last_failure_gate: { name: gate.name, code: gate.code, timed_out: gate.timed_out } } : {}),
    });
    addComment(
      tx,
      mr,
      `refinery: merge failed (${type}${gate?.timed_out ? ', timed out' : ''}) at ${head.slice(0, 12)}:\n${errorText.slice(-2000)}`,
    );
    tx.put(mr);
    return n;
  });
  const msg = `MERGE_FAILED: branch=${e.branch} issue=${e.source_issue} type=${type} error=${oneLine(errorText)} — fix and resubmit with 'gt done'`;
  const w = tellWorker ? workerIdentity(e.worker) : null;
  if (w) await tell(ctx, w, msg);
  await tell(ctx, { role: 'mayor' }, msg);
  ctx.report.failed.push({ mr: e.id, reason: `${type}: ${oneLine(errorText, 200)}` });
  await maybeEscalate(ctx, e.id, retries, type);
}

/** A conflict: a resolution task blocking the MR, slung back to the worker (assign_back). */
async function conflictMR(ctx: RigCtx, e: Candidate, target: string, files: string[]): Promise<void> {
  const title = `Resolve merge conflicts: ${e.sourceTitle}`;
  const made = ctx.store.transact(`mq: ${e.id} conflicts with ${target}`, (tx) => {
    const mr = tx.get(e.id);
    if (!mr || mr.status === 'closed') return null;
    const m = (mr.metadata ?? {}) as Record<string, unknown>;
    const task: Bead = createBead(tx, {
      id: tx.newId({ title, prefix: ctx.rig.prefix }),
      force: true,
      title,
      type: 'task',
      priority: mr.priority,
      description: [
        `The merge request ${e.id} (${e.branch} → ${target}) conflicts with ${target} in:`,
        ...files.map((f) => `- ${f}`),
        '',
        `Check out ${e.branch}, merge ${target} into it, resolve the conflicts, commit, and run gt done:`,
        `the refinery merges that, then ${e.id} lands too.`,
      ].join('\n'),
      metadata: {
        mr: e.id,
        branch: e.branch,
        target,
        source_issue: e.source_issue,
        conflict_sha: e.head,
        conflict_files: files,
        base_branch: target,
      },
    });
    addDependency(tx, mr, task.id, 'blocks', { allowCrossEpic: true });
    const n = Number(m.retry_count ?? 0) + 1;
    releaseInTx(tx, mr, { retry_count: n, last_conflict_sha: e.head, conflict_task_id: task.id });
    addComment(
      tx,
      mr,
      `refinery: conflicts with ${target} in ${files.join(', ') || '(unknown files)'}; blocked on ${task.id}`,
    );
    tx.put(mr);
    return { task: task.id, retries: n };
  });
  if (!made) return;
  ctx.report.conflicts.push(e.id);
  const entry: NonNullable<RigTickReport['tasks']>[number] = { mr: e.id, task: made.task };
  (ctx.report.tasks ??= []).push(entry);
  if (String(ctx.set<unknown>('merge_queue.on_conflict') ?? 'assign_back') === 'assign_back') {
    const w = workerIdentity(e.worker);
    let to = ctx.rig.name;
    if (w && w.rig === ctx.rig.name) {
      const agent = ctx.store.get(agentBeadIdOf(w, ctx.rig.prefix));
      const am = agent ? agentMeta(agent) : null;
      const polecatDir = path.join(ctx.rig.paths.polecatsDir, w.name!);
      if (am && am.agent_state === 'idle' && !am.hook_bead && fs.existsSync(polecatDir))
        to = `${ctx.rig.name}/${w.name}`;
    }
    try {
      const { sling } = await import('../work/sling.ts');
      await sling(ctx.townRoot, {
        cwd: ctx.townRoot,
        beads: [made.task],
        target: to,
        formula: CONFLICT_FORMULA,
        vars: { branch: e.branch, target, base_branch: target },
        noConvoy: true,
        noStart: ctx.noStart,
        env: { ...ctx.env, BD_ACTOR: ctx.actor, GT_ROLE: ctx.actor },
      });
      entry.slung_to = to;
    } catch (err) {
      entry.sling_error = (err as Error).message;
      note(ctx, `could not sling ${made.task} to ${to}: ${(err as Error).message}`);
    }
  }
  const msg = `MERGE_FAILED: branch=${e.branch} issue=${e.source_issue} type=conflict error=conflicts with ${target} in ${files.join(', ')}; resolution task ${made.task} — fix and resubmit with 'gt done'`;
  // Once the task is slung, whoever has it resolves the conflict: the worker is not also told
  // to (two agents on one branch); without a sling the worker gets the MERGE_FAILED.
  const w = entry.slung_to ? null : workerIdentity(e.worker);
  if (w) await tell(ctx, w, msg);
  await tell(ctx, { role: 'mayor' }, msg);
  await maybeEscalate(ctx, e.id, made.retries, 'conflict');
}
