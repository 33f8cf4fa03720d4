// Git side of the merge queue: squash commits built with plumbing in the rig's `.repo.git`
// (`git merge-tree --write-tree` needs no worktree, so a conflict never leaves a half-merged
// checkout behind), compare-and-swap moves of the target branch, and the refinery worktree
// checked out at what the gates must see. Every call takes an argument array (no shell).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { GtError } from '../errors.ts';

export interface GitOut {
  code: number;
  stdout: string;
  stderr: string;
}

export function git(cwd: string, args: string[], env?: NodeJS.ProcessEnv): GitOut {
  const r = spawnSync('git', args, {
    cwd,
    env: { ...(env ?? process.env), GIT_TERMINAL_PROMPT: '0' },
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? r.error?.message ?? '' };
}

export function gitOk(cwd: string, args: string[], env?: NodeJS.ProcessEnv): string {
  const r = git(cwd, args, env);
  if (r.code !== 0) throw new GtError(`git ${args.join(' ')} failed in ${cwd}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** The commit a branch points at, or null when there is no such branch. */
export function branchHead(repoGit: string, branch: string): string | null {
  const r = git(repoGit, ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}^{commit}`]);
  return r.code === 0 ? r.stdout.trim() : null;
}

export interface Person {
  name: string;
  email: string;
}

/** An agent's git identity: its address as name, `<address with dots>@<domain>` as email. */
export function personOf(actor: string, domain: string): Person {
  const local = actor.replace(/[^A-Za-z0-9._-]+/g, '.').replace(/^\.+|\.+$/g, '') || 'agent';
  return { name: actor, email: `${local}@${domain}` };
}

export type SquashResult =
  | { kind: 'ok'; commit: string; tree: string }
  | { kind: 'empty'; tree: string }
  | { kind: 'conflict'; files: string[] };

/**
 * Squash `branch` (a commit) onto `base`: the three-way merge of the two as one new commit whose
 * only parent is `base`, authored by `author`, committed by `committer`. `empty` when the branch
 * adds nothing `base` does not already have.
 */
export function squashOnto(
  repoGit: string,
  base: string,
  branchSha: string,
  message: string,
  author: Person,
  committer: Person,
): SquashResult {
  const r = git(repoGit, ['merge-tree', '--write-tree', '--name-only', '--no-messages', base, branchSha]);
  const lines = r.stdout.split('\n').filter(Boolean);
  if (r.code === 1) return { kind: 'conflict', files: [...new Set(lines.slice(1))] };
  if (r.code !== 0 || !lines[0])
    throw new GtError(
      `git merge-tree of ${base.slice(0, 12)} and ${branchSha.slice(0, 12)} failed: ${r.stderr.trim()}`,
    );
  const tree = lines[0];
  if (tree === gitOk(repoGit, ['rev-parse', `${base}^{tree}`])) return { kind: 'empty', tree };
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: author.name,
    GIT_AUTHOR_EMAIL: author.email,
    GIT_COMMITTER_NAME: committer.name,
    GIT_COMMITTER_EMAIL: committer.email,
  };
  const commit = gitOk(repoGit, ['commit-tree', tree, '-p', base, '-m', message], env);
  return { kind: 'ok', commit, tree };
}

/** Move `refs/heads/<target>` from `oldSha` to `newSha`; false when someone moved it first. */
export function moveBranch(
  repoGit: string,
  target: string,
  newSha: string,
  oldSha: string,
  reason: string,
): boolean {
  return git(repoGit, ['update-ref', '-m', reason, `refs/heads/${target}`, newSha, oldSha]).code === 0;
}

/** Worktrees of the repository that have `branch` checked out (their paths). */
export function worktreesOn(repoGit: string, branch: string): string[] {
  const r = git(repoGit, ['worktree', 'list', '--porcelain']);
  const out: string[] = [];
  let cur = '';
  for (const line of r.stdout.split('\n')) {
    if (line.startsWith('worktree ')) cur = line.slice(9);
    else if (line === `branch refs/heads/${branch}`) out.push(cur);
  }
  return out;
}

/** Delete a merged branch at `sha` (compare-and-swap: a branch that moved meanwhile is kept). */
export function deleteBranch(repoGit: string, branch: string, sha: string): boolean {
  return git(repoGit, ['update-ref', '-d', `refs/heads/${branch}`, sha]).code === 0;
}

/** The push URL of the repository's origin, or null when it has none. */
export function originUrl(repoGit: string): string | null {
  const r = git(repoGit, ['remote', 'get-url', '--push', 'origin']);
  return r.code === 0 && r.stdout.trim() ? r.stdout.trim() : null;
}

/** Push `sha` to origin's `target` (fast-forward only); the error text, or null when it landed. */
export function pushToOrigin(repoGit: string, target: string, sha: string): string | null {
  const r = git(repoGit, ['push', '--quiet', '--porcelain', 'origin', `${sha}:refs/heads/${target}`]);
  if (r.code === 0) return null;
  // git's advice lines would push the actual reason out of a short report.
  const text = `${r.stderr}\n${r.stdout}`
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('hint:') && l.trim() !== 'Done')
    .join('\n');
  return text || `git push exited ${r.code}`;
}

/** Put the refinery worktree at `commit` (detached), clean, for the gates to see exactly it. */
export function checkoutAt(worktree: string, commit: string): void {
  gitOk(worktree, ['checkout', '--quiet', '--force', '--detach', commit]);
  gitOk(worktree, ['clean', '-fdq']);
}

/** Put the refinery worktree back on its branch (detached at it if another worktree holds it). */
export function restoreWorktree(worktree: string, branch: string): void {
  if (!fs.existsSync(worktree)) return;
  if (git(worktree, ['checkout', '--quiet', '--force', branch]).code !== 0)
    git(worktree, ['checkout', '--quiet', '--force', '--detach', `refs/heads/${branch}`]);
  git(worktree, ['clean', '-fdq']);
}
