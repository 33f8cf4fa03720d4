// gt done's merge strategies (spec §2.9 step 5) and the resubmission after a failed merge, with
// real git: direct (squash onto the target in .repo.git with compare-and-swap, refused on a
// conflict with nothing changed), local (branch kept, bead closed naming it), no_merge (pushed,
// bead open for review, READY_FOR_REVIEW mail), the strategy's sources (bead, convoy, rig
// setting), and `gt done --issue` off the hook after MERGE_FAILED superseding the old MR.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GT, run } from '../helpers.ts';
import { ledgerCount, makeTown } from '../town/town-fixture.ts';
import { handPolecat } from './polecat-fixture.ts';

const t = makeTown();
t.ok('rig', 'add', 'myrig', t.src);
const repoGit = path.join(t.root, 'myrig', '.repo.git');
const refineryWt = path.join(t.root, 'myrig', 'refinery', 'rig');

function bdJson(...args: string[]): any {
  const r = t.bd(...args, '--json');
  if (r.code !== 0) throw new Error(`bd ${args.join(' ')}: ${r.stderr}`);
  return r.json();
}
const show = (id: string) => {
  const j = bdJson('show', id);
  return Array.isArray(j) ? j[0] : j;
};
const repo = (...args: string[]) => t.git(t.root, '--git-dir', repoGit, ...args).trim();
const mrsOf = (issue: string) =>
  (bdJson('list', '--all', '-t', 'merge-request', '-n', '0') as any[]).filter(
    (b) => show(b.id).metadata?.source_issue === issue,
  );

/** A polecat set up by hand (test/work/polecat-fixture.ts), `meta` set on its bead. */
const polecat = (name: string, meta: string[] = []) => handPolecat(t, name, { priority: '2', meta });

/** A commit on .repo.git's main made elsewhere (as a merge of someone else's work would). */
function advanceMain(file: string, text: string): string {
  const tmp = path.join(t.base, `adv-${Date.now()}-${Math.random().toString(36).slice(2)}`);
  t.git(t.root, '--git-dir', repoGit, 'worktree', 'add', '-q', '--detach', tmp, 'main');
  fs.writeFileSync(path.join(tmp, file), text);
  t.git(tmp, 'add', file);
  t.git(tmp, '-c', 'user.name=other', '-c', 'user.email=o@x', 'commit', '-q', '-m', `other ${file}`);
  const sha = t.git(tmp, 'rev-parse', 'HEAD').trim();
  repo('update-ref', 'refs/heads/main', sha);
  t.git(t.root, '--git-dir', repoGit, 'worktree', 'remove', '--force', tmp);
  // The refinery's worktree follows (as the refinery itself does after a merge).
  t.git(refineryWt, 'reset', '-q', '--hard', 'main');
  return sha;
}

test('direct: squashed onto main in .repo.git, no MR, bead and molecule closed, branch removed', () => {
  const p = polecat('dix', ['merge_strategy=direct']);
  p.commit('a.txt');
  p.commit('b.txt');
  const oldMain = repo('rev-parse', 'main');
  // origin (the source repository) accepts the push of its checked-out branch.
  t.git(t.src, 'config', 'receive.denyCurrentBranch', 'updateInstead');
  const r = p.done('--json');
  assert.is(r.code, 0, r.stderr);
  const j = r.json();
  assert.is(j.strategy, 'direct');
  assert.is(j.strategy_from, 'bead');
  assert.is(j.mr, null);
  assert.ok(j.merged_sha);
  // main moved to one squash commit on top of the old tip, authored by the polecat.
  assert.is(repo('rev-parse', 'main'), j.merged_sha);
  assert.is(repo('rev-parse', `${j.merged_sha}^`), oldMain);
  assert.is(repo('log', '-1', '--format=%an', 'main'), 'dix');
  // ...and went on to origin (merge_queue.auto_push).
  assert.equal(j.warnings, []);
  assert.is(t.git(t.src, 'rev-parse', 'main').trim(), j.merged_sha);
  assert.match(repo('log', '-1', '--format=%s', 'main'), new RegExp(`Work for dix \\(${p.bead}\\)`));
  assert.equal(repo('ls-tree', '--name-only', 'main').split('\n').sort(), ['README.md', 'a.txt', 'b.txt']);
  // The refinery's worktree (on main, clean) followed the move.
  assert.is(t.git(refineryWt, 'rev-parse', 'HEAD').trim(), j.merged_sha);
  assert.is(t.git(refineryWt, 'status', '--porcelain').trim(), '');
  assert.ok(fs.existsSync(path.join(refineryWt, 'b.txt')));
  // No MR; bead closed naming the merge; molecule closed; agent idle; spent branch deleted.
  assert.is(mrsOf(p.bead).length, 0);
  const w = show(p.bead);
  assert.is(w.status, 'closed');
  assert.match(w.close_reason, /^merged: direct to main @ [0-9a-f]{12}$/);
  assert.is(show(p.mol).status, 'closed');
  assert.is(show('my-myrig-polecat-dix').metadata.agent_state, 'idle');
  assert.is(show('my-myrig-polecat-dix').metadata.merge_strategy, 'direct');
  assert.is(t.git(t.root, '--git-dir', repoGit, 'branch', '--list', p.branch).trim(), '');
  assert.is(j.notified.refinery, 'not needed');
  // A plain git push to the default branch from the polecat is still refused by the guard.
  t.git(p.wt, 'checkout', '-q', '-b', 'sneaky');
  p.commit('sneak.txt');
  const push = spawnSync('git', ['push', repoGit, 'HEAD:refs/heads/main'], {
    cwd: p.wt,
    env: p.env,
    encoding: 'utf8',
  });
  assert.is.not(push.status, 0);
  assert.match(push.stderr, /polecats may not push to the default branch/, push.stderr);
  assert.is(repo('rev-parse', 'main'), j.merged_sha);
});

test('direct: main moved and the change applies cleanly → merged onto the new tip', () => {
  const p = polecat('mov', ['merge_strategy=direct']);
  p.commit('mine.txt');
  const moved = advanceMain('theirs.txt', 'theirs\n');
  const j = p.done('--json').json();
  assert.is(repo('rev-parse', `${j.merged_sha}^`), moved);
  assert.ok(repo('ls-tree', '--name-only', 'main').split('\n').includes('theirs.txt'));
  assert.ok(repo('ls-tree', '--name-only', 'main').split('\n').includes('mine.txt'));
  assert.is(show(p.bead).status, 'closed');
});

test('direct: main moved with a conflicting change → refused, nothing changed', () => {
  const p = polecat('cfl', ['merge_strategy=direct']);
  p.commit('clash.txt', 'mine\n');
  const moved = advanceMain('clash.txt', 'theirs\n');
  const before = ledgerCount(t);
  const r = p.done();
  assert.is(r.code, 4, r.stderr);
  assert.match(
    r.stderr,
    /cannot merge .* directly into main: main moved on and the changes conflict in clash\.txt/,
  );
  assert.match(r.stderr, /git rebase main/);
  assert.is(repo('rev-parse', 'main'), moved);
  assert.is(ledgerCount(t), before);
  assert.is(show(p.bead).status, 'hooked');
  assert.is(t.git(p.wt, 'symbolic-ref', '--short', 'HEAD').trim(), p.branch);
  assert.is(t.git(refineryWt, 'status', '--porcelain').trim(), '');
});

test('local (rig setting): branch kept in .repo.git, no MR, bead closed naming the branch', () => {
  const settings = path.join(t.root, 'myrig', 'settings', 'config.json');
  const old = fs.readFileSync(settings, 'utf8');
  const j0 = JSON.parse(old);
  j0.merge_queue = { ...(j0.merge_queue ?? {}), merge_strategy: 'local' };
  fs.writeFileSync(settings, JSON.stringify(j0));
  try {
    const p = polecat('loc');
    const sha = p.commit('local.txt');
    const mainBefore = repo('rev-parse', 'main');
    const r = p.done('--json');
    assert.is(r.code, 0, r.stderr);
    const j = r.json();
    assert.is(j.strategy, 'local');
    assert.is(j.strategy_from, 'setting (rig)');
    assert.is(j.mr, null);
    assert.is(repo('rev-parse', `refs/heads/${p.branch}`), sha);
    assert.is(repo('rev-parse', 'main'), mainBefore);
    const w = show(p.bead);
    assert.is(w.status, 'closed');
    assert.is(
      w.close_reason,
      `local: branch ${p.branch} kept in myrig/.repo.git (merge it into main by hand)`,
    );
    assert.is(mrsOf(p.bead).length, 0);
    assert.match(t.ok('done', '--help'), /gt done/);
  } finally {
    fs.writeFileSync(settings, old);
  }
});

test('no_merge: branch pushed, no MR, bead open for review, READY_FOR_REVIEW to the dispatcher', () => {
  const p = polecat('rev', ['merge_strategy=no_merge', 'dispatched_by=mayor']);
  const sha = p.commit('review.txt');
  const j = p.done('--json').json();
  assert.is(j.strategy, 'no_merge');
  assert.is(j.mr, null);
  assert.match(j.notified.reviewer, /^mailed mayor/);
  const w = show(p.bead);
  assert.is(w.status, 'open');
  assert.is(w.assignee, 'myrig/polecats/rev');
  assert.is(w.metadata.review_branch, p.branch);
  assert.is(w.metadata.review_sha, sha);
  assert.is(repo('rev-parse', `refs/heads/${p.branch}`), sha);
  const inbox = JSON.stringify(t.ok('mail', 'inbox', 'mayor/', '--json'));
  assert.ok(inbox.includes(`READY_FOR_REVIEW: ${p.bead}`), inbox);
  assert.is(show('my-myrig-polecat-rev').metadata.hook_bead, null);
});

test("the convoy's merge strategy applies when the bead has none; a bad stored value is refused", () => {
  const p = polecat('cvy');
  const cv = t.ok('convoy', 'create', 'Direct batch', p.bead, '--merge', 'direct', '--json');
  assert.is(t.bd('update', p.bead, '--set-metadata', `convoy_id=${cv.id}`).code, 0);
  p.commit('c.txt');
  const j = p.done('--json').json();
  assert.is(j.strategy, 'direct');
  assert.is(j.strategy_from, `convoy ${cv.id}`);
  assert.is(show(p.bead).status, 'closed');

  const q = polecat('bad', ['merge_strategy=yolo']);
  q.commit('q.txt');
  const before = ledgerCount(t);
  const r = q.done();
  assert.is(r.code, 2, r.stderr);
  assert.match(
    r.stderr,
    /invalid merge strategy "yolo" \(the bead's merge_strategy\): use mr, direct, local, no_merge/,
  );
  assert.is(ledgerCount(t), before);
});

test('resubmission: after a failed merge, gt done --issue on the branch files a new MR that supersedes the old', () => {
  const p = polecat('fix');
  p.commit('work.txt', '<<<<<<< bad\n');
  const first = p.done('--json').json();
  assert.ok(first.mr);
  // The state MERGE_FAILED finds: idle, hook cleared, off the branch, bead in progress with active_mr.
  assert.is(show('my-myrig-polecat-fix').metadata.hook_bead, null);
  assert.is(show(p.bead).status, 'in_progress');
  assert.is(show(p.bead).metadata.active_mr, first.mr);
  // Another polecat may not finish it.
  const other = polecat('oth');
  const stolen = run(GT, ['done', '--issue', p.bead], { cwd: other.wt, env: other.env });
  assert.is(stolen.code, 4, stolen.stderr);
  assert.match(stolen.stderr, new RegExp(`${p.bead} is assigned to myrig/polecats/fix, not to you`));
  // The polecat fixes it on its branch and resubmits.
  t.git(p.wt, 'checkout', '-q', p.branch);
  const fixed = p.commit('work.txt', 'fixed\n');
  const r = p.done('--issue', p.bead, '--json');
  assert.is(r.code, 0, r.stderr);
  const second = r.json();
  assert.is.not(second.mr, first.mr);
  assert.equal(second.superseded, [first.mr]);
  assert.is(second.target, 'main');
  assert.is(show(first.mr).close_reason, `superseded by ${second.mr}`);
  assert.is(show(second.mr).metadata.commit_sha, fixed);
  assert.is(show(p.bead).metadata.active_mr, second.mr);
  assert.is(show(p.bead).status, 'in_progress');
  assert.is(show('my-myrig-polecat-fix').metadata.agent_state, 'idle');
});

test('resubmitting an older issue while other work is on the hook leaves that hook and branch alone', () => {
  const p = polecat('two');
  p.commit('x.txt');
  const first = p.done('--json').json();
  // New work arrives on the hook, on its own branch.
  const y = bdJson('create', 'Next job for two', '-p', '2').id as string;
  assert.is(t.bd('update', y, '-s', 'hooked', '-a', 'myrig/polecats/two').code, 0);
  const yBranch = `polecat/two/${y}@y`;
  t.git(p.wt, 'checkout', '-q', '-b', yBranch, 'main');
  assert.is(
    t.bd(
      'update',
      'my-myrig-polecat-two',
      '--set-metadata',
      `branch=${yBranch}`,
      '--set-metadata',
      'agent_state=working',
    ).code,
    0,
  );
  // MERGE_FAILED for the first issue: fix it on its branch and resubmit.
  t.git(p.wt, 'checkout', '-q', p.branch);
  p.commit('x.txt', 'fixed\n');
  const r = p.done('--issue', p.bead, '--json');
  assert.is(r.code, 0, r.stderr);
  const j = r.json();
  assert.equal(j.superseded, [first.mr]);
  assert.match(j.sandbox, /back on polecat\/two\//);
  assert.is(t.git(p.wt, 'symbolic-ref', '--short', 'HEAD').trim(), yBranch);
  const w = show(y);
  assert.is(w.status, 'hooked');
  assert.is(w.assignee, 'myrig/polecats/two');
  const agent = show('my-myrig-polecat-two').metadata;
  assert.is(agent.agent_state, 'working');
  assert.is(agent.branch, yBranch);
});

test.run();
