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
// 8. Sandbox sync (not for DEFERRED): when clean, `git checkout <default>` in the worktree (or
//    a detached checkout of it when the default branch is checked out in another worktree, as
//    the refinery's is); the local polecat branch is deleted only when the worktree is a
//    separate clone (in a `.repo.git` worktree the local branch IS the pushed copy).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { addComment, closeBead, setStatus } from '../beads/ops.ts';
import { BeadStore } from '../beads/store.ts';
import { ConflictError, GtError, NotFoundError, UsageError } from '../errors.ts';
import { moleculeMembers } from '../formula/molecule.ts';
import { loadCodec } from '../ledger/codec.ts';
import { ensureAgentBead, updateAgentMeta } from '../town/agents.ts';
import { actorOf, addressOf, agentBeadIdOf, detectIdentity, type Identity } from '../town/identity.ts';
import { polecatWorktree } from '../town/paths.ts';
import { getRig } from '../town/rigs.ts';
import { findHook } from './hook.ts';
import { createOrReuseMR } from './mr.ts';
import { installPushGuard } from './push-guard.ts';

export type DoneExit = 'COMPLETED' | 'ESCALATED' | 'DEFERRED';
export const DONE_EXITS: DoneExit[] = ['COMPLETED', 'ESCALATED', 'DEFERRED'];

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
}

export interface DoneResult {
  issue: string;
  branch: string;
  target: string;
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

interface GitOut {
  code: number;
  stdout: string;
  stderr: string;
}

function git(cwd: string, args: string[], env?: NodeJS.ProcessEnv): GitOut {
  const r = spawnSync('git', args, { cwd, env, encoding: 'utf8' });
  return { code: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

function gitOk(cwd: string, args: string[], env?: NodeJS.ProcessEnv): string {
  const r = git(cwd, args, env);
  if (r.code !== 0) throw new GtError(`git ${args.join(' ')} failed in ${cwd}: ${r.stderr.trim()}`);
  return r.stdout.trim();
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
    const workMeta = (work.metadata ?? {}) as Record<string, unknown>;
    const molVars = onHook?.molecule
      ? ((store.summary(onHook.molecule)?.metadata as Record<string, unknown> | undefined)?.formula_vars as
          | Record<string, unknown>
          | undefined)
      : undefined;
    const target =
      o.target ??
      (typeof workMeta.base_branch === 'string' && workMeta.base_branch
        ? workMeta.base_branch
        : typeof molVars?.base_branch === 'string' && molVars.base_branch
          ? molVars.base_branch
          : rig.default_branch);
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
    const noChanges = exit === 'COMPLETED' && ahead === 0;
    const fileMR = exit === 'COMPLETED' && ahead > 0;

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
            `gt done: no changes on ${branch} (nothing ahead of ${target}); closed by ${actor}`,
          );
          closeBead(tx, w, { reason: 'no-changes', force: true });
          closed.push(issue);
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
      updateAgentMeta(tx, agent.id, {
        agent_state: exit === 'ESCALATED' ? 'stuck' : 'idle',
        ...(exit === 'DEFERRED' ? {} : { hook_bead: null }),
        exit_type: exit,
        mr_id: mrId,
        active_mr: mrId,
        branch,
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

    // Sandbox sync.
    let sandbox = 'kept (DEFERRED)';
    if (exit !== 'DEFERRED')
      sandbox = syncSandbox(worktree, rig.default_branch, branch, sharedRepo, warnings);

    return {
      issue,
      branch,
      target,
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
  return {
    issue: m.source_issue,
    branch: m.branch,
    target: String(m.target ?? ''),
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
