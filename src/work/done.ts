// gt done (spec §2.9): a polecat's completion. Steps, in order:
// 1. Guard: only a polecat (GT_ROLE/BD_ACTOR or its worktree) may run it; exit type COMPLETED
//    (default), ESCALATED or DEFERRED.
// 2. The issue: --issue, else the hook, else the branch name `polecat/<name>/<bead>@<stamp>`.
//    The target: --target, else the hooked bead's `base_branch` metadata, else the molecule's
//    formula var `base_branch` (gt sling sets it), else the rig's default branch.
// 3. Refusals before anything is written: a worktree with uncommitted changes (the files are
//    named), a branch that is the rig's default branch or the target (polecats never push
//    there; checked here in gt, not by a git hook, because the rig's hooks directory is shared
//    with the refinery, which must push to the default branch).
// 4. No commits ahead of the target (COMPLETED): no push, no MR; the issue is closed with reason
//    `no-changes` and the polecat goes idle.
// 5. Push `<branch>:<branch>` to the rig's `.repo.git` (argument arrays, no shell). A worktree
//    made from `.repo.git` shares its refs: there the branch already is in `.repo.git` and is
//    verified instead of pushed (git refuses to push onto a branch checked out in a worktree).
//    Before that, the polecat pre-push guard is installed (src/work/push-guard.ts), so a plain
//    `git push` to the default branch from a polecat's worktree or clone is refused as well.
// 6. One ledger transaction: the MR bead (src/work/mr.ts: idempotent on branch + commit,
//    superseding older open MRs of the issue), the work bead, the molecule's open steps and its
//    root closed (reason "done"), the agent bead (idle, or stuck for ESCALATED; hook_bead
//    cleared; completion metadata).
//    OUR MERGE RULE: COMPLETED with an MR does NOT close the work bead (the original does). It
//    leaves it `in_progress`, assigned to the polecat, with `active_mr` set, and the refinery
//    closes it when the MR merges. So a convoy lands only when its work is merged.
//    ESCALATED: the work bead goes back to `open` (still assigned) for whoever picks it up,
//    and an escalation (severity high) naming the issue is raised after the transaction (it
//    is its own commit, made by `createEscalation`, which also routes it).
//    DEFERRED: the bead stays hooked and untouched; the branch is pushed when it has commits;
//    the agent goes idle keeping its hook_bead; the molecule and sandbox are left as they are.
// 7. Notify: MERGE_READY nudge to `<rig>/refinery` and POLECAT_DONE nudge to `<rig>/witness`;
//    when a nudge cannot be typed into a live session now, the same message goes by mail.
// Merge strategies (spec §2.9 step 5), for COMPLETED with commits. The strategy is the work
// bead's `merge_strategy` (gt sling --merge/--no-merge), else its convoy's `merge`, else the rig
// setting merge_queue.merge_strategy, else `mr`:
//   mr        the path above: branch in .repo.git, MR bead, the refinery merges.
//   direct    gt itself squashes the branch onto the target in .repo.git (merge-tree, no
//             worktree) and moves the target with compare-and-swap (then pushes it on to origin
//             when merge_queue.auto_push, best effort); no MR; the work bead and
//             molecule are closed and the witness told. When the target moved and the change
//             does not apply cleanly, refused with nothing written. This is the one way a
//             polecat's work reaches the default branch without the refinery: the pre-push
//             guard still refuses a plain `git push` there.
//   local     the branch is kept in .repo.git (pushed there from a separate clone), no MR; the
//             work bead is closed with a reason naming the branch, for a human to merge.
//   no_merge  the branch is pushed, no MR; the work bead stays open (assigned, `review_branch`
//             set) for review and READY_FOR_REVIEW mail goes to whoever dispatched it.
// Resubmission: after the refinery failed an MR (MERGE_FAILED nudge) the polecat is idle with no
// hook; `gt done --issue <id>` run on the MR's branch files a new MR that supersedes the old one
// (the target defaults to the active MR's).
// 8. Sandbox sync (not for DEFERRED): when clean, `git checkout <default>` in the worktree (or
//    a detached checkout of it when the default branch is checked out in another worktree, as
//    the refinery's is); the local polecat branch is deleted only when the worktree is a
//    separate clone (in a `.repo.git` worktree the local branch IS the pushed copy).
import fs from 'node:fs';
import { addComment, closeBead, setStatus } from '../beads/ops.ts';
import { BeadStore } from '../beads/store.ts';
import { writeFileAtomic } from '../beads/wisps.ts';
import { ConflictError, GtError, NotFoundError, UsageError } from '../errors.ts';
import { moleculeMembers } from '../formula/molecule.ts';
import { loadCodec } from '../ledger/codec.ts';
import { FileLock } from '../ledger/lock.ts';
import { git, gitOk, moveBranch, squashOnto, worktreesOn } from '../refinery/merge.ts';
import { ensureAgentBead, updateAgentMeta } from '../town/agents.ts';
import { actorOf, addressOf, agentBeadIdOf, detectIdentity, type Identity } from '../town/identity.ts';
import { doneIntentFile, polecatWorktree } from '../town/paths.ts';
import { getRig } from '../town/rigs.ts';
import { getSetting } from '../town/settings.ts';
import { findHook } from './hook.ts';
import { createOrReuseMR } from './mr.ts';
import { installPushGuard } from './push-guard.ts';
import { polecatLockFile } from './spawn.ts';

export type DoneExit = 'COMPLETED' | 'ESCALATED' | 'DEFERRED';
export const DONE_EXITS: DoneExit[] = ['COMPLETED', 'ESCALATED', 'DEFERRED'];

export type DoneStrategy = 'mr' | 'direct' | 'local' | 'no_merge';
export const DONE_STRATEGIES: DoneStrategy[] = ['mr', 'direct', 'local', 'no_merge'];

/** A strategy name as stored (`pr` and `no-merge` are the original's names for no_merge). */
export function parseStrategy(v: unknown, where: string): DoneStrategy {
  const s = String(v).trim().toLowerCase().replace(/-/g, '_');
  if (s === 'pr') return 'no_merge';
  if (!(DONE_STRATEGIES as string[]).includes(s))
    throw new UsageError(
      `invalid merge strategy "${String(v)}" (${where}): use ${DONE_STRATEGIES.join(', ')}`,
    );
  return s as DoneStrategy;
}

export interface DoneOptions {
  cwd: string;
  status?: string;
  issue?: string;
  target?: string;
  env?: NodeJS.ProcessEnv;
  identity?: Identity;
}

export interface Notified {
  refinery: string;
  witness: string;
  /** no_merge: the READY_FOR_REVIEW mail to the dispatcher. */
  reviewer?: string;
}

export interface DoneResult {
  issue: string;
  branch: string;
  target: string;
  /** How the work was handed over (only COMPLETED with commits uses it). */
  strategy: DoneStrategy;
  /** Where the strategy came from: bead, convoy, rig setting or default. */
  strategy_from: string;
  /** direct: the commit the target branch now points at. */
  merged_sha: string | null;
  mr: string | null;
  mr_reused: boolean;
  superseded: string[];
  exit: DoneExit;
  commit_sha: string;
  pushed: boolean;
  no_changes: boolean;
  closed: string[];
  escalation: string | null;
  notified: Notified;
  sandbox: string;
  warnings: string[];
}

export function parseExit(s: string | undefined): DoneExit {
  const v = (s ?? 'COMPLETED').trim().toUpperCase();
  if (!(DONE_EXITS as string[]).includes(v)) {
    throw new UsageError(`invalid --status "${s}": use ${DONE_EXITS.join(', ')}`);
  }
  return v as DoneExit;
}

const BRANCH_RE = /^polecat\/([^/]+)\/([A-Za-z0-9][A-Za-z0-9._-]*?)(?:@[^/@]+)?$/;

/** The bead named by a polecat branch `polecat/<name>/<bead>@<stamp>`, or null. */
export function issueFromBranch(branch: string): string | null {
  const m = BRANCH_RE.exec(branch);
  return m ? m[2] : null;
}

function validBranch(cwd: string, name: string, what: string): void {
  if (!name || name.startsWith('-') || git(cwd, ['check-ref-format', '--branch', name]).code !== 0) {
    throw new UsageError(`invalid ${what} "${name}": not a valid git branch name`);
  }
}

/** Uncommitted changes (staged, unstaged, untracked), as paths. */
export function dirtyFiles(worktree: string): string[] {
  const r = git(worktree, ['status', '--porcelain', '--untracked-files=all', '-z']);
  if (r.code !== 0) throw new GtError(`git status failed in ${worktree}: ${r.stderr.trim()}`);
  const out = r.stdout; // not trimmed: the first entry may start with a space
  const files: string[] = [];
  const parts = out.split('\0').filter(Boolean);
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    files.push(p.slice(3));
    if (p[0] === 'R' || p[0] === 'C') i++; // rename/copy: the source path follows
  }
  return files;
}

function sameDir(a: string, b: string): boolean {
  try {
    return fs.realpathSync(a) === fs.realpathSync(b);
  } catch {
    return false;
  }
}

export async function done(townRoot: string, o: DoneOptions): Promise<DoneResult> {
  const env = o.env ?? process.env;
  const exit = parseExit(o.status);
  const id = o.identity ?? detectIdentity(townRoot, o.cwd, env);
  if (id.role !== 'polecat' || !id.rig || !id.name) {
    const who = id.role === 'overseer' ? 'the overseer' : actorOf(id);
    throw new UsageError(
      `gt done is for polecats only, and you are ${who}; run it inside a polecat's worktree (<rig>/polecats/<name>/<rig>) or with GT_ROLE=<rig>/polecats/<name>`,
    );
  }
  const actor = actorOf(id);
  const rig = getRig(townRoot, id.rig);
  // The done-intent (operational plane, never committed): while it exists the polecat is
  // finishing; the witness restarts a session that stays in that state too long (stuck-in-done).
  const intent = doneIntentFile(townRoot, agentBeadIdOf(id, rig.prefix));
  writeFileAtomic(
    intent,
    `${JSON.stringify({ exit, issue: o.issue ?? null, at: new Date().toISOString(), pid: process.pid })}\n`,
  );
  try {
    return await finish(townRoot, o, { env, exit, id: { ...id, rig: id.rig, name: id.name }, actor, rig });
  } finally {
    fs.rmSync(intent, { force: true });
  }
}

async function finish(
  townRoot: string,
  o: DoneOptions,
  c: {
    env: NodeJS.ProcessEnv;
    exit: DoneExit;
    id: Identity & { rig: string; name: string };
    actor: string;
    rig: ReturnType<typeof getRig>;
  },
): Promise<DoneResult> {
  const { env, exit, id, actor, rig } = c;
  const repoGit = rig.paths.repoGit;

  // The worktree: the git top level of cwd, else the polecat's standard worktree.
  let worktree: string;
  const top = git(o.cwd, ['rev-parse', '--show-toplevel']);
  if (top.code === 0 && top.stdout.trim() && !sameDir(top.stdout.trim(), townRoot))
    worktree = top.stdout.trim();
  else {
    worktree = polecatWorktree(townRoot, id.rig, id.name);
    if (!fs.existsSync(worktree))
      throw new NotFoundError(
        `${actor} has no worktree at ${worktree}; run gt done inside the polecat's worktree`,
      );
  }
  const head = git(worktree, ['symbolic-ref', '--quiet', '--short', 'HEAD']);
  if (head.code !== 0) {
    const prior = await priorCompletion(townRoot, id, rig.prefix, o.issue);
    if (prior) return { ...prior, sandbox: 'unchanged (already done)' };
    throw new ConflictError(
      `${worktree} is not on a branch (detached HEAD); check out your polecat branch (polecat/${id.name}/<bead>@<stamp>) and run gt done again`,
    );
  }
  const branch = head.stdout.trim();
  validBranch(worktree, branch, 'branch');

  await loadCodec();
  const store = BeadStore.open(townRoot, { actor });
  let polecatLock: FileLock | undefined;
  try {
    const hook = findHook(store, actor);
    let issue: string;
    if (o.issue) issue = store.resolve(o.issue);
    else if (hook) issue = hook.bead.id;
    else {
      const fromBranch = issueFromBranch(branch);
      if (!fromBranch) {
        throw new UsageError(
          `no issue to finish: nothing is on ${actor}'s hook and branch "${branch}" is not polecat/<name>/<bead>@<stamp>; pass --issue ID`,
        );
      }
      issue = store.resolve(fromBranch);
    }
    const work = store.get(issue);
    if (!work) throw new NotFoundError(`no bead with id "${issue}"`);
    if (work.status === 'closed') {
      throw new ConflictError(
        `${issue} is already closed; nothing to finish (reopen it with bd reopen to redo it)`,
      );
    }
    const onHook = hook && hook.bead.id === issue ? hook : null;
    // Work assigned to another agent is theirs to finish (a resubmission runs off the hook).
    if (!onHook && work.assignee && work.assignee !== actor) {
      throw new ConflictError(
        `${issue} is assigned to ${work.assignee}, not to you (${actor}); finish your own issue or ask your witness to reassign it`,
      );
    }
    const workMeta = (work.metadata ?? {}) as Record<string, unknown>;
    const molId =
      onHook?.molecule ??
      (typeof workMeta.attached_molecule === 'string' ? workMeta.attached_molecule : undefined);
    const molVars = molId
      ? ((store.summary(molId)?.metadata as Record<string, unknown> | undefined)?.formula_vars as
          | Record<string, unknown>
          | undefined)
      : undefined;
    // A resubmission goes where the failed MR went.
    const activeMr = typeof workMeta.active_mr === 'string' ? store.summary(workMeta.active_mr) : undefined;
    const activeTarget = (activeMr?.metadata as Record<string, unknown> | undefined)?.target;
    const target =
      o.target ??
      (typeof workMeta.base_branch === 'string' && workMeta.base_branch
        ? workMeta.base_branch
        : typeof molVars?.base_branch === 'string' && molVars.base_branch
          ? molVars.base_branch
          : typeof activeTarget === 'string' && activeTarget
            ? activeTarget
            : rig.default_branch);
    const { strategy, from: strategyFrom } = strategyOf(store, townRoot, rig.name, workMeta);
    validBranch(worktree, target, '--target');

    // Refusals (nothing written yet).
    if (branch === rig.default_branch || branch === target) {
      throw new ConflictError(
        `polecats may not push to the default branch: ${worktree} is on "${branch}"; commit your work on a polecat branch (git switch -c polecat/${id.name}/${issue}) and run gt done again`,
      );
    }
    if (git(repoGit, ['rev-parse', '--verify', '--quiet', `refs/heads/${target}`]).code !== 0) {
      throw new NotFoundError(`the rig's repository has no branch "${target}"; pass an existing --target`);
    }
    const dirty = dirtyFiles(worktree);
    if (dirty.length > 0) {
      const shown =
        dirty.slice(0, 20).join(', ') + (dirty.length > 20 ? `, ... (${dirty.length} files)` : '');
      throw new ConflictError(
        `uncommitted changes in ${worktree}: ${shown}; commit them (git add ... && git commit) or remove them, then run gt done again`,
      );
    }
    const sha = gitOk(worktree, ['rev-parse', 'HEAD']);
    const ahead = Number(gitOk(worktree, ['rev-list', '--count', `refs/heads/${target}..HEAD`]));
    const sharedRepo = sameDir(
      gitOk(worktree, ['rev-parse', '--path-format=absolute', '--git-common-dir']),
      repoGit,
    );
    const warnings: string[] = [];

    // The pre-push guard for the next plain `git push` (src/work/push-guard.ts).
    const guard = installPushGuard(worktree, rig.default_branch);
    if (guard.skipped) warnings.push(`push guard not installed at ${guard.hook}: ${guard.skipped}`);

    // Push (COMPLETED with commits; ESCALATED/DEFERRED preserve their commits too).
    let pushed = false;
    if (ahead > 0) {
      if (sharedRepo) {
        pushed =
          git(repoGit, ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`]).stdout.trim() === sha;
      } else {
        const r = git(
          worktree,
          ['push', '--quiet', '--', repoGit, `refs/heads/${branch}:refs/heads/${branch}`],
          env,
        );
        if (r.code !== 0)
          throw new GtError(
            `push of ${branch} to ${repoGit} failed: ${r.stderr.trim()}; fix it and run gt done again`,
          );
        pushed =
          git(repoGit, ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`]).stdout.trim() === sha;
      }
      if (!pushed) throw new GtError(`${branch} is not in ${repoGit} at ${sha.slice(0, 12)} after the push`);
    }
    let noChanges = exit === 'COMPLETED' && ahead === 0;
    const handOver = exit === 'COMPLETED' && ahead > 0;
    const fileMR = handOver && strategy === 'mr';

    // direct: the target moves now (compare-and-swap), before any ledger write; a conflict
    // refuses with nothing changed.
    let mergedSha: string | null = null;
    if (handOver && strategy === 'direct') {
      const d = directMerge(worktree, repoGit, {
        branch,
        sha,
        target,
        message: `${work.title} (${issue})\n\nSquashed from ${branch} by gt done (merge strategy direct, ${actor}).`,
        name: id.name,
        email: `${actor.replace(/[^A-Za-z0-9._-]+/g, '.')}@gastown.local`,
      });
      warnings.push(...d.warnings);
      if (d.kind === 'empty') noChanges = true;
      else mergedSha = d.commit;
    }

    // From the ledger commit that makes this polecat idle until its sandbox is synced, a sling
    // must not reuse the worktree (src/work/spawn.ts waits on the same lock).
    polecatLock = new FileLock(polecatLockFile(townRoot, rig.name, id.name));
    polecatLock.acquire(60_000);
    // One transaction for every ledger change.
    const agentId = agentBeadIdOf(id, rig.prefix);
    const closed: string[] = [];
    const tx = store.transact(`done: ${exit} ${issue} (${actor})`, (tx) => {
      const b = tx.must(issue);
      let mrId: string | null = null;
      let reused = false;
      let superseded: string[] = [];
      if (fileMR) {
        const r = createOrReuseMR(tx, {
          issue,
          branch,
          target,
          rig: rig.name,
          prefix: rig.prefix,
          commitSha: sha,
          worker: actor,
          agentBead: agentId,
          priority: b.priority,
        });
        mrId = r.mr.id;
        reused = r.reused;
        superseded = r.superseded;
      }
      const molecule = onHook?.molecule;
      if (exit !== 'DEFERRED') {
        // The molecule: open steps, then the root (unless the root is the work bead itself).
        if (molecule && molecule !== issue && tx.exists(molecule)) {
          const members = moleculeMembers(store.graph(), molecule).filter(
            (m) => m !== molecule && m !== issue,
          );
          for (const m of [...members.reverse(), molecule]) {
            const s = tx.get(m);
            if (!s || s.status === 'closed') continue;
            closeBead(tx, s, { reason: 'done', force: true });
            closed.push(m);
          }
        }
        const w = tx.must(issue);
        if (noChanges) {
          addComment(
            tx,
            w,
            `gt done: no changes on ${branch} (nothing ${ahead > 0 ? 'that is not already in' : 'ahead of'} ${target}); closed by ${actor}`,
          );
          closeBead(tx, w, { reason: 'no-changes', force: true });
          closed.push(issue);
        } else if (handOver && strategy === 'direct') {
          addComment(
            tx,
            w,
            `gt done: ${branch} squashed onto ${target} as ${mergedSha!.slice(0, 12)} (merge strategy direct); closed by ${actor}`,
          );
          closeBead(tx, w, {
            reason: `merged: direct to ${target} @ ${mergedSha!.slice(0, 12)}`,
            force: true,
          });
          closed.push(issue);
        } else if (handOver && strategy === 'local') {
          addComment(
            tx,
            w,
            `gt done: branch ${branch} @ ${sha.slice(0, 12)} kept in ${rig.name}/.repo.git for a human to merge into ${target} (merge strategy local)`,
          );
          closeBead(tx, w, {
            reason: `local: branch ${branch} kept in ${rig.name}/.repo.git (merge it into ${target} by hand)`,
            force: true,
          });
          closed.push(issue);
        } else if (handOver && strategy === 'no_merge') {
          setStatus(tx, w, 'open');
          w.assignee = actor;
          w.metadata = { ...(w.metadata ?? {}), review_branch: branch, review_sha: sha, active_mr: null };
          addComment(
            tx,
            w,
            `gt done: ${branch} @ ${sha.slice(0, 12)} pushed for review (merge strategy no_merge); no merge request, the bead stays open`,
          );
          tx.put(w);
        } else if (fileMR) {
          setStatus(tx, w, 'in_progress');
          w.assignee = actor;
          w.metadata = { ...(w.metadata ?? {}), active_mr: mrId };
          if (!reused)
            addComment(
              tx,
              w,
              `gt done: merge request ${mrId} (${branch} @ ${sha.slice(0, 12)} → ${target}); stays open until the refinery merges it`,
            );
          tx.put(w);
        } else {
          // ESCALATED: back to open, still assigned, for whoever takes it up.
          setStatus(tx, w, 'open');
          addComment(tx, w, `gt done: ESCALATED by ${actor} (branch ${branch}${pushed ? ', pushed' : ''})`);
          tx.put(w);
        }
      }
      const agent = ensureAgentBead(tx, id, rig.prefix);
      // Finishing an older issue (a resubmission) while other work is on the hook: that hook
      // and the agent's state stay as they are.
      const otherHook = !!hook && !onHook;
      updateAgentMeta(tx, agent.id, {
        ...(otherHook ? {} : { agent_state: exit === 'ESCALATED' ? 'stuck' : 'idle' }),
        ...(exit === 'DEFERRED' || otherHook ? {} : { hook_bead: null }),
        exit_type: exit,
        mr_id: mrId,
        active_mr: mrId,
        ...(otherHook ? {} : { branch }),
        merge_strategy: handOver ? strategy : null,
        completion_time: tx.now,
      });
      tx.note(
        `${actor} done: ${exit} ${issue}${mrId ? ` → ${mrId}` : ''}${noChanges ? ' (no changes)' : ''}`,
      );
      return { mrId, reused, superseded };
    });

    // Escalation: its own commit (createEscalation routes it too).
    let escalation: string | null = null;
    if (exit === 'ESCALATED') {
      const { createEscalation } = await import('../escalation/escalate.ts');
      const r = await createEscalation(
        townRoot,
        {
          description: `${actor} escalated ${issue}: ${work.title}\n\nBranch ${branch}${pushed ? ` (pushed to ${rig.name}/.repo.git)` : ''}; the work bead is open again.`,
          severity: 'high',
          reason: `gt done --status ESCALATED on ${issue}`,
          related: [issue],
        },
        { actor, env },
      );
      escalation = r.escalation.id;
    }

    const notified = await notify(townRoot, id, env, {
      exit,
      issue,
      branch,
      mr: tx.mrId,
      fileMR: fileMR && !tx.reused,
    });
    // direct: origin follows, as after a refinery merge (merge_queue.auto_push); best effort.
    if (mergedSha && getSetting('merge_queue.auto_push', { townRoot, rig: rig.name }).value !== false) {
      const url = git(repoGit, ['remote', 'get-url', '--push', 'origin']);
      if (url.code === 0 && url.stdout.trim()) {
        const r = git(repoGit, ['push', '--quiet', 'origin', `${mergedSha}:refs/heads/${target}`], {
          ...env,
          GIT_TERMINAL_PROMPT: '0',
        });
        if (r.code !== 0)
          warnings.push(
            `${target} moved in the rig's repository but the push to origin failed (${r.stderr.trim().split('\n').slice(-1)[0] || `exit ${r.code}`}); the refinery's next push carries it`,
          );
      }
    }
    if (handOver && strategy === 'no_merge') {
      const to = typeof workMeta.dispatched_by === 'string' ? workMeta.dispatched_by : 'mayor/';
      notified.reviewer = await readyForReviewMail(townRoot, id, to, issue, branch);
    }

    // Sandbox sync.
    let sandbox = 'kept (DEFERRED)';
    // With other work on the hook, the sandbox goes back to that work's branch instead.
    const hookBranch =
      hook && !onHook
        ? (store.summary(agentId)?.metadata as Record<string, unknown> | undefined)?.branch
        : undefined;
    if (exit !== 'DEFERRED' && typeof hookBranch === 'string' && hookBranch && hookBranch !== branch) {
      sandbox =
        dirtyFiles(worktree).length === 0 && git(worktree, ['checkout', '--quiet', hookBranch]).code === 0
          ? `back on ${hookBranch} (the work on your hook)`
          : `left on ${branch} (could not return to ${hookBranch})`;
    } else if (exit !== 'DEFERRED')
      sandbox = syncSandbox(worktree, rig.default_branch, branch, sharedRepo, warnings);
    // A directly merged branch is spent: removed from .repo.git (CAS on its commit) once free.
    if (mergedSha && !sandbox.startsWith('left on')) {
      if (git(repoGit, ['update-ref', '-d', `refs/heads/${branch}`, sha]).code !== 0)
        warnings.push(`could not delete the merged branch ${branch} from ${repoGit}`);
    }

    return {
      issue,
      branch,
      target,
      strategy,
      strategy_from: strategyFrom,
      merged_sha: mergedSha,
      mr: tx.mrId,
      mr_reused: tx.reused,
      superseded: tx.superseded,
      exit,
      commit_sha: sha,
      pushed,
      no_changes: noChanges,
      closed,
      escalation,
      notified,
      sandbox,
      warnings,
    };
  } finally {
    polecatLock?.release();
    store.flush();
  }
}

/**
 * A second `gt done` after a finished one (the sandbox already left the branch): the recorded
 * completion, unchanged, when the agent's last exit was COMPLETED with an MR that is still there.
 */
async function priorCompletion(
  townRoot: string,
  id: Identity,
  prefix: string,
  issueFlag: string | undefined,
): Promise<DoneResult | null> {
  await loadCodec();
  const store = BeadStore.open(townRoot, { actor: actorOf(id) });
  const agent = store.get(agentBeadIdOf(id, prefix));
  const meta = (agent?.metadata ?? {}) as Record<string, unknown>;
  if (meta.exit_type !== 'COMPLETED' || typeof meta.mr_id !== 'string') return null;
  const mr = store.get(meta.mr_id);
  const m = (mr?.metadata ?? {}) as Record<string, unknown>;
  if (!mr || typeof m.source_issue !== 'string' || typeof m.branch !== 'string') return null;
  if (issueFlag && store.resolve(issueFlag) !== m.source_issue) return null;
  // New work on the hook is not a repeat of the last completion (a worktree left detached must
  // not make that work look done).
  const hooked = findHook(store, actorOf(id));
  if (hooked && hooked.bead.id !== m.source_issue) return null;
  return {
    issue: m.source_issue,
    branch: m.branch,
    target: String(m.target ?? ''),
    strategy: 'mr',
    strategy_from: 'recorded',
    merged_sha: null,
    mr: mr.id,
    mr_reused: true,
    superseded: [],
    exit: 'COMPLETED',
    commit_sha: String(m.commit_sha ?? ''),
    pushed: true,
    no_changes: false,
    closed: [],
    escalation: null,
    notified: { refinery: 'already notified (same MR)', witness: 'already notified' },
    sandbox: '',
    warnings: [],
  };
}

function syncSandbox(
  worktree: string,
  defaultBranch: string,
  branch: string,
  sharedRepo: boolean,
  warnings: string[],
): string {
  if (dirtyFiles(worktree).length > 0) {
    warnings.push(`${worktree} is not clean; left on ${branch}`);
    return `left on ${branch} (dirty)`;
  }
  let where: string;
  if (git(worktree, ['checkout', '--quiet', defaultBranch]).code === 0) where = `on ${defaultBranch}`;
  else if (git(worktree, ['checkout', '--quiet', '--detach', `refs/heads/${defaultBranch}`]).code === 0)
    where = `detached at ${defaultBranch} (it is checked out in another worktree)`;
  else {
    warnings.push(`could not check out ${defaultBranch} in ${worktree}; left on ${branch}`);
    return `left on ${branch}`;
  }
  if (!sharedRepo) {
    const r = git(worktree, ['branch', '-D', '--', branch]);
    if (r.code !== 0) warnings.push(`could not delete the local branch ${branch}: ${r.stderr.trim()}`);
  }
  return where;
}

async function notify(
  townRoot: string,
  id: Identity,
  env: NodeJS.ProcessEnv,
  i: { exit: DoneExit; issue: string; branch: string; mr: string | null; fileMR: boolean },
): Promise<Notified> {
  const { nudgeAgent } = await import('../nudge/nudge.ts');
  const { sendMail } = await import('../mail/send.ts');
  const { mergeReady, polecatDone } = await import('../mail/protocol.ts');
  const sender = addressOf(id);
  const actor = actorOf(id);
  const send = async (
    to: Identity,
    nudgeText: string,
    mail: { subject: string; body: string },
  ): Promise<string> => {
    let how = 'skipped';
    try {
      const r = await nudgeAgent(
        townRoot,
        to,
        { sender, message: nudgeText, mode: 'immediate', kind: 'protocol' },
        { env, settleTimeoutMs: 3000 },
      );
      if (r.delivered === 'immediate') return 'nudged';
      how = r.delivered;
    } catch (e) {
      how = `nudge failed: ${(e as Error).message}`;
    }
    try {
      await sendMail(
        townRoot,
        { from: sender, to: addressOf(to), subject: mail.subject, body: mail.body },
        { actor },
      );
      return how === 'queued' ? 'nudge queued + mailed' : 'mailed';
    } catch (e) {
      return `not notified (${how}; mail failed: ${(e as Error).message})`;
    }
  };
  let refinery = 'not needed';
  if (i.mr && i.fileMR) {
    const m = mergeReady({ name: id.name!, branch: i.branch, issue: i.issue, polecat: actor });
    refinery = await send(
      { role: 'refinery', rig: id.rig },
      `MERGE_READY received - check inbox for pending work (${i.mr}: ${i.branch})`,
      { subject: m.subject, body: `${m.body}\nMR: ${i.mr}` },
    );
  } else if (i.mr) refinery = 'already notified (same MR)';
  const d = polecatDone({
    polecat: id.name!,
    exit: i.exit,
    issue: i.issue,
    ...(i.mr ? { mr: i.mr } : {}),
    branch: i.branch,
  });
  const witness = await send(
    { role: 'witness', rig: id.rig },
    `POLECAT_DONE ${id.name} exit=${i.exit} issue=${i.issue}${i.mr ? ` mr=${i.mr}` : ''}`,
    d,
  );
  return { refinery, witness };
}

/** The merge strategy for an issue: bead (sling --merge), convoy, rig setting, default. */
function strategyOf(
  store: BeadStore,
  townRoot: string,
  rig: string,
  workMeta: Record<string, unknown>,
): { strategy: DoneStrategy; from: string } {
  if (workMeta.no_merge === true) return { strategy: 'no_merge', from: 'bead (no_merge)' };
  if (typeof workMeta.merge_strategy === 'string' && workMeta.merge_strategy)
    return { strategy: parseStrategy(workMeta.merge_strategy, "the bead's merge_strategy"), from: 'bead' };
  if (typeof workMeta.convoy_id === 'string') {
    const cv = store.summary(workMeta.convoy_id);
    const m = (cv?.metadata as Record<string, unknown> | undefined)?.merge;
    if (cv && cv.status !== 'closed' && typeof m === 'string' && m)
      return { strategy: parseStrategy(m, `convoy ${cv.id}`), from: `convoy ${cv.id}` };
  }
  const s = getSetting('merge_queue.merge_strategy', { townRoot, rig });
  if (typeof s.value === 'string' && s.value)
    return {
      strategy: parseStrategy(s.value, `setting merge_queue.merge_strategy (${s.origin})`),
      from: `setting (${s.origin})`,
    };
  return { strategy: 'mr', from: 'default' };
}

type DirectResult =
  | { kind: 'ok'; commit: string; warnings: string[] }
  | { kind: 'empty'; warnings: string[] };

/**
 * The `direct` strategy: squash `sha` onto the target in `.repo.git` (a three-way merge with
 * `git merge-tree`, so nothing is checked out) and move the target by compare-and-swap. The
 * author is the polecat (its worktree's git identity). A target that moved meanwhile is retried;
 * a conflict is refused with the files named. Clean worktrees with the target checked out (the
 * refinery's) follow the move; dirty ones are left and reported.
 */
function directMerge(
  worktree: string,
  repoGit: string,
  i: { branch: string; sha: string; target: string; message: string; name: string; email: string },
): DirectResult {
  const warnings: string[] = [];
  const cfg = (k: string) => git(worktree, ['config', '--get', k]).stdout.trim();
  const person = { name: cfg('user.name') || i.name, email: cfg('user.email') || i.email };
  for (let attempt = 0; attempt < 3; attempt++) {
    const base = gitOk(repoGit, ['rev-parse', '--verify', `refs/heads/${i.target}^{commit}`]);
    const r = squashOnto(repoGit, base, i.sha, i.message, person, person);
    if (r.kind === 'conflict')
      throw new ConflictError(
        `cannot merge ${i.branch} directly into ${i.target}: ${i.target} moved on and the changes conflict in ${r.files.join(', ') || 'some files'}; nothing was changed. Rebase onto it (git rebase ${i.target}), resolve, commit and run gt done again`,
      );
    if (r.kind === 'empty') return { kind: 'empty', warnings };
    const commit = r.commit;
    // Clean worktrees on the target are detached at the old tip while the ref moves, then put back.
    const onTarget = worktreesOn(repoGit, i.target);
    const follow = onTarget.filter((w) => {
      const st = git(w, ['status', '--porcelain', '--untracked-files=no']);
      return st.code === 0 && st.stdout.trim() === '';
    });
    for (const w of onTarget.filter((x) => !follow.includes(x)))
      warnings.push(`${i.target} is checked out with local changes in ${w}; that worktree now lags behind`);
    for (const w of follow) git(w, ['checkout', '--quiet', '--detach']);
    const moved = moveBranch(repoGit, i.target, commit, base, `gt done: direct merge of ${i.branch}`);
    for (const w of follow)
      if (git(w, ['checkout', '--quiet', i.target]).code !== 0)
        warnings.push(`could not put ${w} back on ${i.target}; it is detached`);
    if (moved) return { kind: 'ok', commit, warnings };
    // The target moved between the merge and the swap: merge again onto the new tip.
  }
  throw new ConflictError(
    `${i.target} kept moving while gt done merged ${i.branch} directly; nothing was changed, run gt done again`,
  );
}

async function readyForReviewMail(
  townRoot: string,
  id: Identity,
  to: string,
  issue: string,
  branch: string,
): Promise<string> {
  try {
    const { sendMail } = await import('../mail/send.ts');
    const { readyForReview } = await import('../mail/protocol.ts');
    const m = readyForReview({ issue, branch });
    await sendMail(
      townRoot,
      { from: addressOf(id), to, subject: m.subject, body: m.body },
      { actor: actorOf(id) },
    );
    return `mailed ${to}`;
  } catch (e) {
    return `not mailed (${(e as Error).message})`;
  }
}
