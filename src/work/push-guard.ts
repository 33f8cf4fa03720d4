// The polecat push guard: a `pre-push` hook that refuses pushes to the rig's default branch from
// a polecat's worktree or clone (gt done refuses it too; this covers a plain `git push`).
// The hook is gt's static hooks/pre-push, installed with the other gt hooks through core.hooksPath
// (src/patrol/git-hooks.ts; a pre-push hook of the user's is chained, not replaced). It reads the
// protected branch from the repository's `gt.defaultBranch` setting and acts only when the pushing
// worktree is under a `polecats/` directory, so the refinery, sharing a `.repo.git` with the
// polecats, still pushes.
import path from 'node:path';
import { installHooks, LEGACY_GUARD_MARK } from '../patrol/git-hooks.ts';

export const GUARD_MARK = LEGACY_GUARD_MARK;

export interface GuardResult {
  hook: string;
  installed: boolean;
  /** Set when the guard could not be installed (kept for callers; chaining makes it rare). */
  skipped?: string;
}

/**
 * Install the guard for the repository of `worktree` (idempotent): `gt.defaultBranch` set and gt's
 * hooks in place. A rig's `.repo.git` also gets the refinery wake-up (its rig is the directory
 * above it).
 */
export function installPushGuard(worktree: string, defaultBranch: string): GuardResult {
  const r = installHooks(worktree, { defaultBranch });
  if (path.basename(r.gitDir) === '.repo.git') {
    const rig = path.basename(path.dirname(r.gitDir));
    if (/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(rig)) installHooks(worktree, { wakeRig: rig });
  }
  return { hook: path.join(r.hooksDir, 'pre-push'), installed: true };
}
