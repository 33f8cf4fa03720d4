// gt's git hooks against real git: rig add installs them on .repo.git (core.hooksPath, shared by
// the refinery's and polecats' worktrees); post-commit in a polecat worktree records progress for
// the bead of its branch; a user's own hooks are chained (their exit code kept); a polecat branch
// arriving in .repo.git touches the refinery wake file; the pre-push guard still refuses a
// polecat's push to the default branch; and a broken town never fails a commit.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { installHooks, readProgress, refineryWakeFile } from '../../src/patrol/git-hooks.ts';
import { installPushGuard } from '../../src/work/push-guard.ts';
import { tmpRepo } from '../helpers.ts';
import { makeTown, type Town } from '../town/town-fixture.ts';

function rigTown(): Town {
  const t = makeTown({ extraEnv: { GT_NO_MAINTENANCE: '1' } });
  t.ok('rig', 'add', 'myrig', t.src);
  return t;
}

/** A polecat worktree of .repo.git as spawn makes it (branch polecat/<name>/<bead>@<stamp>). */
function polecat(t: Town, name: string, bead: string): { wt: string; branch: string } {
  const repo = path.join(t.root, 'myrig', '.repo.git');
  const wt = path.join(t.root, 'myrig', 'polecats', name, 'myrig');
  const branch = `polecat/${name}/${bead}@m1abc`;
  t.git(repo, 'worktree', 'add', '-q', '-b', branch, wt, 'main');
  installPushGuard(wt, 'main');
  return { wt, branch };
}

function commit(t: Town, dir: string, file: string): string {
  fs.writeFileSync(path.join(dir, file), `${file}\n`);
  t.git(dir, 'add', file);
  t.git(dir, 'commit', '-q', '-m', `add ${file}`);
  return t.git(dir, 'rev-parse', 'HEAD').trim();
}

test('rig add installs the hooks on .repo.git; worktrees share them; the wake rig and town are set', () => {
  const t = rigTown();
  const repo = path.join(t.root, 'myrig', '.repo.git');
  const hooksDir = path.join(repo, 'gt-hooks');
  assert.is(t.git(repo, 'config', 'core.hooksPath').trim(), hooksDir);
  assert.is(t.git(repo, 'config', 'gt.wakeRig').trim(), 'myrig');
  assert.is(t.git(repo, 'config', 'gt.townRoot').trim(), t.root);
  assert.is(t.git(repo, 'config', 'gt.defaultBranch').trim(), 'main');
  for (const h of ['post-commit', 'pre-push', 'reference-transaction']) {
    const st = fs.statSync(path.join(hooksDir, h));
    assert.ok(st.mode & 0o100, `${h} is executable`);
  }
  // The refinery's worktree sees the same hooks directory.
  const refinery = path.join(t.root, 'myrig', 'refinery', 'rig');
  assert.is(
    t.git(refinery, 'rev-parse', '--git-path', 'hooks/pre-push').trim(),
    path.join(hooksDir, 'pre-push'),
  );
  // Installing again changes nothing.
  assert.equal(installHooks(repo, { wakeRig: 'myrig' }).written, []);
});

test('post-commit in a polecat worktree records the commit as progress on the bead of its branch', () => {
  const t = rigTown();
  const { wt, branch } = polecat(t, 'nux', 'my-ab1');
  const sha = commit(t, wt, 'one.txt');
  const p = readProgress(t.root, 'my-ab1');
  assert.ok(p, 'progress file written');
  assert.is(p!.bead, 'my-ab1');
  assert.is(p!.commit, sha);
  assert.is(p!.branch, branch);
  assert.is(p!.worktree, wt);
  assert.ok(Math.abs(Date.parse(p!.time) - Date.now()) < 60_000);
  // A second commit moves it on; no temp files are left behind.
  const sha2 = commit(t, wt, 'two.txt');
  assert.is(readProgress(t.root, 'my-ab1')!.commit, sha2);
  assert.equal(fs.readdirSync(path.join(t.root, '.runtime', 'progress')), ['my-ab1.json']);
  // A commit on a branch that is not a polecat's records nothing.
  const refinery = path.join(t.root, 'myrig', 'refinery', 'rig');
  commit(t, refinery, 'merge.txt');
  assert.equal(fs.readdirSync(path.join(t.root, '.runtime', 'progress')), ['my-ab1.json']);
});

test("a user's own hooks are chained: theirs run first and their exit code stands", () => {
  const r = tmpRepo();
  const marks = path.join(r.dir, '..', 'marks');
  const hooks = path.join(r.dir, '.git', 'hooks');
  fs.writeFileSync(path.join(hooks, 'post-commit'), `#!/bin/sh\necho "post-commit $1" >> "${marks}"\n`, {
    mode: 0o755,
  });
  // Their pre-push refuses pushes to a branch called "frozen", reading git's stdin.
  fs.writeFileSync(
    path.join(hooks, 'pre-push'),
    `#!/bin/sh\nwhile read l ls r rs; do case "$r" in refs/heads/frozen) echo "user hook: frozen" >&2; exit 7;; esac; done\nexit 0\n`,
    { mode: 0o755 },
  );
  const res = installHooks(r.dir, { defaultBranch: 'main' });
  assert.is(res.chain, hooks);
  assert.is(r.git('config', 'core.hooksPath').trim(), path.join(r.dir, '.git', 'gt-hooks'));
  // Their files are untouched.
  assert.match(fs.readFileSync(path.join(hooks, 'post-commit'), 'utf8'), /post-commit \$1/);
  fs.writeFileSync(path.join(r.dir, 'a.txt'), 'a\n');
  r.git('add', 'a.txt');
  r.git('commit', '-q', '-m', 'a');
  assert.is(fs.readFileSync(marks, 'utf8'), 'post-commit \n');
  const bare = path.join(r.dir, '..', 'remote.git');
  spawnSync('git', ['init', '-q', '--bare', bare], { env: r.env });
  r.git('remote', 'add', 'origin', bare);
  const ok = spawnSync('git', ['push', '-q', 'origin', 'HEAD:refs/heads/work'], {
    cwd: r.dir,
    env: r.env,
    encoding: 'utf8',
  });
  assert.is(ok.status, 0, ok.stderr);
  const refused = spawnSync('git', ['push', 'origin', 'HEAD:refs/heads/frozen'], {
    cwd: r.dir,
    env: r.env,
    encoding: 'utf8',
  });
  assert.is.not(refused.status, 0);
  assert.match(refused.stderr, /user hook: frozen/);

  // A previous core.hooksPath is chained the same way, and reinstalling keeps the chain.
  const r2 = tmpRepo();
  const own = path.join(r2.dir, '..', 'own-hooks');
  fs.mkdirSync(own);
  const marks2 = path.join(r2.dir, '..', 'marks2');
  fs.writeFileSync(path.join(own, 'post-commit'), `#!/bin/sh\necho own >> "${marks2}"\nexit 3\n`, {
    mode: 0o755,
  });
  r2.git('config', 'core.hooksPath', own);
  assert.is(installHooks(r2.dir).chain, own);
  assert.is(installHooks(r2.dir).chain, own, 'a second install keeps the chain');
  fs.writeFileSync(path.join(r2.dir, 'b.txt'), 'b\n');
  r2.git('add', 'b.txt');
  r2.git('commit', '-q', '-m', 'b');
  assert.is(fs.readFileSync(marks2, 'utf8'), 'own\n');
});

test('a polecat branch arriving in .repo.git touches the refinery wake file; other branches do not', () => {
  const t = rigTown();
  const wake = refineryWakeFile(t.root, 'myrig');
  const mayor = path.join(t.root, 'myrig', 'mayor', 'rig');
  t.git(mayor, 'remote', 'set-url', 'origin', path.join(t.root, 'myrig', '.repo.git'));
  commit(t, mayor, 'feature.txt');
  t.git(mayor, 'push', '-q', 'origin', 'HEAD:refs/heads/feature/x');
  assert.not.ok(fs.existsSync(wake), 'a non-polecat branch wakes nobody');
  t.git(mayor, 'push', '-q', 'origin', 'HEAD:refs/heads/polecat/nux/my-ab1@m1');
  assert.ok(fs.existsSync(wake), 'wake file touched');
  const first = fs.readFileSync(wake, 'utf8');
  assert.match(first, /^\d{4}-\d\d-\d\dT/);
});

test('the pre-push guard still refuses a polecat push to the default branch, with its message', () => {
  const t = rigTown();
  const { wt, branch } = polecat(t, 'nux', 'my-ab2');
  commit(t, wt, 'work.txt');
  const push = spawnSync('git', ['push', 'origin', 'HEAD:refs/heads/main'], {
    cwd: wt,
    env: t.env,
    encoding: 'utf8',
  });
  assert.is.not(push.status, 0);
  assert.match(push.stderr, /polecats may not push to the default branch \(main\)/);
  // Its own branch is fine.
  const ok = spawnSync('git', ['push', '-q', 'origin', `HEAD:refs/heads/${branch}`], {
    cwd: wt,
    env: t.env,
    encoding: 'utf8',
  });
  assert.is(ok.status, 0, ok.stderr);
});

test('hooks never fail a commit: town gone, progress dir unwritable', () => {
  const t = rigTown();
  const { wt } = polecat(t, 'nux', 'my-ab3');
  const repo = path.join(t.root, 'myrig', '.repo.git');
  t.git(repo, 'config', 'gt.townRoot', path.join(t.base, 'no-such-town'));
  commit(t, wt, 'x.txt');
  t.git(repo, 'config', 'gt.townRoot', t.root);
  fs.mkdirSync(path.join(t.root, '.runtime'), { recursive: true });
  fs.writeFileSync(path.join(t.root, '.runtime', 'progress'), 'a file where the directory should be');
  const r = spawnSync('git', ['commit', '-q', '--allow-empty', '-m', 'still fine'], {
    cwd: wt,
    env: t.env,
    encoding: 'utf8',
  });
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stderr, '');
});

test.run();
