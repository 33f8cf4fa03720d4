// The polecat push guard: a `pre-push` hook that refuses pushes to the rig's default branch from
// a polecat's worktree or clone (gt done refuses it too; this covers a plain `git push`).
// The hook is static text (no data is written into it): it reads the protected branch from the
// repository's `gt.defaultBranch` setting and acts only when the pushing worktree is under a
// `polecats/` directory, so the refinery, sharing a `.repo.git` with the polecats, still pushes.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { GtError, UsageError } from '../errors.ts';

export const GUARD_MARK = '# gt: polecat push guard';

export const PRE_PUSH = `#!/bin/sh
${GUARD_MARK}
top=$(git rev-parse --show-toplevel 2>/dev/null) || exit 0
case "$top" in
  */polecats/*) ;;
  *) exit 0 ;;
esac
protected=$(git config --get gt.defaultBranch) || exit 0
status=0
while read -r lref lsha rref rsha; do
  if [ "$rref" = "refs/heads/$protected" ]; then
    echo "gt: polecats may not push to the default branch ($protected); commit on your polecat branch and run gt done" >&2
    status=1
  fi
done
exit $status
`;

function git(cwd: string, args: string[]): string {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new GtError(`git ${args.join(' ')} failed in ${cwd}: ${(r.stderr ?? '').trim()}`);
  return (r.stdout ?? '').trim();
}

export interface GuardResult {
  hook: string;
  installed: boolean;
  /** Set when another pre-push hook is there: it is left alone. */
  skipped?: string;
}

/**
 * Install the guard for the repository of `worktree` (idempotent): `gt.defaultBranch` set and
 * the pre-push hook written where git looks for hooks. Another tool's pre-push hook is kept.
 */
export function installPushGuard(worktree: string, defaultBranch: string): GuardResult {
  if (!defaultBranch || git(worktree, ['check-ref-format', '--branch', defaultBranch]) !== defaultBranch) {
    throw new UsageError(`invalid default branch "${defaultBranch}"`);
  }
  const hooksDir = path.resolve(worktree, git(worktree, ['rev-parse', '--git-path', 'hooks']));
  const hook = path.join(hooksDir, 'pre-push');
  if (fs.existsSync(hook) && !fs.readFileSync(hook, 'utf8').includes(GUARD_MARK)) {
    return { hook, installed: false, skipped: 'another pre-push hook is installed; left as it is' };
  }
  if (git(worktree, ['config', '--default', '', '--get', 'gt.defaultBranch']) !== defaultBranch) {
    git(worktree, ['config', 'gt.defaultBranch', defaultBranch]);
  }
  if (fs.existsSync(hook) && fs.readFileSync(hook, 'utf8') === PRE_PUSH) return { hook, installed: true };
  fs.mkdirSync(hooksDir, { recursive: true });
  const tmp = `${hook}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, PRE_PUSH, { mode: 0o755 });
  fs.renameSync(tmp, hook);
  return { hook, installed: true };
}
