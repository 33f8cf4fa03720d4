// gt done with real git: a town with one rig, polecats set up by hand (worktree from the rig's
// .repo.git on polecat/<name>/<bead>@x, the bead hooked with a poured molecule attached).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GT, run } from '../helpers.ts';
import { TEST_FORMULA } from '../runtime/town-fixture.ts';
import { ledgerCount, makeTown } from '../town/town-fixture.ts';
import { type HandPolecat, handPolecat } from './polecat-fixture.ts';

const t = makeTown();
t.ok('rig', 'add', 'myrig', t.src);
const repoGit = path.join(t.root, 'myrig', '.repo.git');

function bdJson(...args: string[]): any {
  const r = t.bd(...args, '--json');
  if (r.code !== 0) throw new Error(`bd ${args.join(' ')}: ${r.stderr}`);
  return r.json();
}
const show = (id: string) => {
  const j = bdJson('show', id);
  return Array.isArray(j) ? j[0] : j;
};

type Polecat = HandPolecat;
const polecat = (
  name: string,
  opts: { priority?: string; formula?: string; vars?: string[] } = {},
): Polecat => handPolecat(t, name, opts);

const mrsOf = (issue: string) =>
  (bdJson('list', '--all', '-t', 'merge-request', '-n', '0') as any[]).filter(
    (b) => show(b.id).metadata?.source_issue === issue,
  );

test('COMPLETED: branch in .repo.git, MR bead open, work bead open until merged, molecule closed, agent idle', () => {
  const p = polecat('nux');
  const sha = p.commit('feature.txt');
  const r = p.done('--json');
  assert.is(r.code, 0, r.stderr);
  const j = r.json();
  assert.is(j.issue, p.bead);
  assert.is(j.branch, p.branch);
  assert.is(j.exit, 'COMPLETED');
  assert.is(j.pushed, true);
  assert.ok(j.mr);
  assert.ok(j.notified.refinery && j.notified.witness);
  // The branch is in .repo.git at the commit.
  assert.is(t.git(t.root, '--git-dir', repoGit, 'rev-parse', `refs/heads/${p.branch}`).trim(), sha);
  const prePush = t.git(t.root, '--git-dir', repoGit, 'rev-parse', '--git-path', 'hooks/pre-push').trim();
  assert.match(fs.readFileSync(path.resolve(repoGit, prePush), 'utf8'), /polecat push guard/);
  // The MR bead.
  const mr = show(j.mr);
  assert.is(mr.status, 'open');
  assert.is(mr.issue_type, 'merge-request');
  assert.is(mr.title, `Merge: ${p.bead}`);
  assert.is(mr.priority, 1);
  assert.ok(mr.labels.includes('gt:merge-request'));
  assert.equal(
    {
      branch: mr.metadata.branch,
      target: mr.metadata.target,
      source_issue: mr.metadata.source_issue,
      rig: mr.metadata.rig,
      commit_sha: mr.metadata.commit_sha,
      worker: mr.metadata.worker,
      retry_count: mr.metadata.retry_count,
    },
    {
      branch: p.branch,
      target: 'main',
      source_issue: p.bead,
      rig: 'myrig',
      commit_sha: sha,
      worker: 'myrig/polecats/nux',
      retry_count: 0,
    },
  );
  assert.ok(mr.metadata.agent_bead);
  // Our merge rule: the work bead stays open (in progress) for the refinery.
  const w = show(p.bead);
  assert.is(w.status, 'in_progress');
  assert.is(w.metadata.active_mr, j.mr);
  // The molecule is closed, root included.
  const root = show(p.mol);
  assert.is(root.status, 'closed');
  assert.is(root.close_reason, 'done');
  // The agent is idle with no hook.
  const agent = show(mr.metadata.agent_bead);
  assert.is(agent.metadata.agent_state, 'idle');
  assert.is(agent.metadata.hook_bead, null);
  assert.is(agent.metadata.exit_type, 'COMPLETED');
  // The sandbox is back on the default branch (detached: the refinery has main checked out).
  assert.is(
    t.git(p.wt, 'rev-parse', 'HEAD').trim(),
    t.git(t.root, '--git-dir', repoGit, 'rev-parse', 'main').trim(),
  );
  assert.is(t.git(p.wt, 'status', '--porcelain').trim(), '');
  // The refinery and the witness got mail (no live sessions here).
  const inbox = t.ok('mail', 'inbox', 'myrig/refinery', '--json');
  assert.ok(JSON.stringify(inbox).includes('MERGE_READY nux'), JSON.stringify(inbox));

  // Idempotence: a second gt done (sandbox already synced) is a no-op with the same MR.
  const before = ledgerCount(t);
  const again = p.done('--json');
  assert.is(again.code, 0, again.stderr);
  assert.is(again.json().mr, j.mr);
  assert.is(ledgerCount(t), before);
  // Back on the branch at the same commit: the same MR is reused, not duplicated.
  t.git(p.wt, 'checkout', '-q', p.branch);
  const third = p.done('--json');
  assert.is(third.code, 0, third.stderr);
  assert.is(third.json().mr, j.mr);
  assert.is(third.json().mr_reused, true);
  assert.is(mrsOf(p.bead).length, 1);
});

test('a new commit after gt done supersedes the older open MR of the issue', () => {
  const p = polecat('ace');
  p.commit('one.txt');
  const first = p.done('--json').json();
  t.git(p.wt, 'checkout', '-q', p.branch);
  // The bead went back on the hook for rework (as the refinery's MERGE_FAILED path would).
  t.bd('update', p.bead, '-s', 'hooked');
  const sha2 = p.commit('two.txt');
  const r = p.done('--json');
  assert.is(r.code, 0, r.stderr);
  const second = r.json();
  assert.is.not(second.mr, first.mr);
  assert.equal(second.superseded, [first.mr]);
  const old = show(first.mr);
  assert.is(old.status, 'closed');
  assert.is(old.close_reason, `superseded by ${second.mr}`);
  assert.is(show(second.mr).metadata.commit_sha, sha2);
  assert.is(show(second.mr).status, 'open');
});

test('a dirty worktree is refused, naming the files; nothing written', () => {
  const p = polecat('dirt');
  p.commit('ok.txt');
  fs.writeFileSync(path.join(p.wt, 'ok.txt'), 'changed\n');
  fs.writeFileSync(path.join(p.wt, 'new file.txt'), 'x\n');
  const before = ledgerCount(t);
  const r = p.done();
  assert.is.not(r.code, 0);
  assert.match(r.stderr, /uncommitted changes in .*ok\.txt/);
  assert.match(r.stderr, /new file\.txt/);
  assert.match(r.stderr, /commit them/);
  assert.is(ledgerCount(t), before);
  assert.is(show(p.bead).status, 'hooked');
  assert.is(t.git(p.wt, 'symbolic-ref', '--short', 'HEAD').trim(), p.branch);
  // The done-intent the witness watches lives only while gt done runs, refused or not.
  const intents = path.join(t.root, '.runtime', 'done-intent');
  assert.equal(fs.existsSync(intents) ? fs.readdirSync(intents) : [], []);
});

test('an empty branch: no MR, the issue closed as no-changes, the polecat idle', () => {
  const p = polecat('empty');
  const r = p.done('--json');
  assert.is(r.code, 0, r.stderr);
  const j = r.json();
  assert.is(j.mr, null);
  assert.is(j.pushed, false);
  const w = show(p.bead);
  assert.is(w.status, 'closed');
  assert.is(w.close_reason, 'no-changes');
  assert.is(mrsOf(p.bead).length, 0);
  assert.is(show(p.mol).status, 'closed');
});

test('ESCALATED: pushed, no MR, an escalation (high) names the issue, the agent is stuck', () => {
  const p = polecat('esc');
  p.commit('half.txt');
  const r = p.done('--status', 'escalated', '--json');
  assert.is(r.code, 0, r.stderr);
  const j = r.json();
  assert.is(j.exit, 'ESCALATED');
  assert.is(j.mr, null);
  assert.ok(j.escalation);
  const e = show(j.escalation);
  assert.ok(e.labels.includes('severity:high'));
  assert.match(e.description, new RegExp(p.bead));
  assert.is(show(p.bead).status, 'open');
  const agents = bdJson('list', '--all', '-t', 'agent', '-n', '0') as any[];
  const agent = agents.map((a) => show(a.id)).find((a) => a.metadata.actor === 'myrig/polecats/esc');
  assert.is(agent.metadata.agent_state, 'stuck');
});

test('DEFERRED keeps the bead on the hook and the molecule as it is', () => {
  const p = polecat('later');
  p.commit('wip.txt');
  const r = p.done('--status', 'DEFERRED', '--json');
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json().mr, null);
  const w = show(p.bead);
  assert.is(w.status, 'hooked');
  assert.is(w.assignee, 'myrig/polecats/later');
  assert.is(show(p.mol).status === 'closed', false);
  assert.is(t.git(p.wt, 'symbolic-ref', '--short', 'HEAD').trim(), p.branch);
});

test('only polecats may run gt done; bad --status is a usage error', () => {
  const p = polecat('bad');
  const before = ledgerCount(t);
  const r = run(GT, ['done'], { cwd: t.root, env: { ...t.env, GT_ROLE: 'mayor' } });
  assert.is(r.code, 2);
  assert.match(r.stderr, /gt done is for polecats only, and you are mayor/);
  const crew = run(GT, ['done'], { cwd: p.wt, env: { ...t.env, GT_ROLE: 'myrig/crew/joe' } });
  assert.is(crew.code, 2);
  assert.match(crew.stderr, /polecats only, and you are myrig\/crew\/joe/);
  const s = p.done('--status', 'FINISHED');
  assert.is(s.code, 2);
  assert.match(s.stderr, /invalid --status "FINISHED": use COMPLETED, ESCALATED, DEFERRED/);
  assert.is(ledgerCount(t), before);
  assert.is(show(p.bead).status, 'hooked');
});

test('a polecat may not push to the default branch', () => {
  const p = polecat('main');
  t.git(p.wt, 'checkout', '-q', '--ignore-other-worktrees', 'main');
  const before = ledgerCount(t);
  const r = p.done();
  assert.is.not(r.code, 0);
  assert.match(r.stderr, /polecats may not push to the default branch: .* is on "main"/);
  assert.is(ledgerCount(t), before);
  assert.is(mrsOf(p.bead).length, 0);
  // --target naming the branch itself is refused the same way.
  t.git(p.wt, 'checkout', '-q', '-b', 'polecat/main/other');
  const r2 = p.done('--target', 'polecat/main/other');
  assert.match(r2.stderr, /polecats may not push to the default branch/);
  const r3 = p.done('--target', 'bad..name');
  assert.is(r3.code, 2);
  assert.match(r3.stderr, /invalid --target/);
});

test('a polecat in its own clone: the branch is pushed to .repo.git and the local branch deleted', () => {
  const bead = bdJson('create', 'Clone work').id as string;
  t.bd('update', bead, '-s', 'hooked', '-a', 'myrig/polecats/solo');
  const wt = path.join(t.root, 'myrig', 'polecats', 'solo', 'myrig');
  fs.mkdirSync(path.dirname(wt), { recursive: true });
  t.git(t.root, 'clone', '-q', repoGit, wt);
  const branch = `polecat/solo/${bead}@y`;
  t.git(wt, 'checkout', '-q', '-b', branch);
  fs.writeFileSync(path.join(wt, 'solo.txt'), 'solo\n');
  t.git(wt, 'add', 'solo.txt');
  t.git(wt, 'commit', '-q', '-m', 'solo');
  const sha = t.git(wt, 'rev-parse', 'HEAD').trim();
  // The bead is found on the hook (no --issue).
  const r = run(GT, ['done', '--json'], { cwd: wt, env: { ...t.env, GT_ROLE: 'myrig/polecats/solo' } });
  assert.is(r.code, 0, r.stderr);
  const j = r.json();
  assert.is(j.issue, bead);
  assert.is(j.pushed, true);
  assert.is(t.git(t.root, '--git-dir', repoGit, 'rev-parse', `refs/heads/${branch}`).trim(), sha);
  assert.is(t.git(wt, 'branch', '--show-current').trim(), 'main');
  assert.is(t.git(wt, 'branch', '--list', branch).trim(), '');
  assert.is(show(j.mr).metadata.commit_sha, sha);
  // The pre-push guard is installed: a plain git push to the default branch is refused.
  fs.writeFileSync(path.join(wt, 'direct.txt'), 'direct\n');
  t.git(wt, 'add', 'direct.txt');
  t.git(wt, 'commit', '-q', '-m', 'direct');
  const mainBefore = t.git(t.root, '--git-dir', repoGit, 'rev-parse', 'refs/heads/main').trim();
  const push = spawnSync('git', ['push', 'origin', 'HEAD:refs/heads/main'], {
    cwd: wt,
    env: t.env,
    encoding: 'utf8',
  });
  assert.is.not(push.status, 0);
  assert.match(push.stderr, /polecats may not push to the default branch \(main\)/);
  assert.is(t.git(t.root, '--git-dir', repoGit, 'rev-parse', 'refs/heads/main').trim(), mainBefore);
  // Other branches still push.
  const ok = spawnSync('git', ['push', '-q', 'origin', 'HEAD:refs/heads/polecat/solo/extra'], {
    cwd: wt,
    env: t.env,
    encoding: 'utf8',
  });
  assert.is(ok.status, 0, ok.stderr);
});

test("the target: the molecule's base_branch var (as gt sling sets it), --target over it", () => {
  fs.writeFileSync(
    path.join(t.root, 'formulas', 'based.formula.toml'),
    'formula = "based"\nversion = 1\ntype = "workflow"\n\n[vars.base_branch]\ndefault = "main"\n\n[[steps]]\nid = "only"\ntitle = "Only"\n',
  );
  t.git(t.root, '--git-dir', repoGit, 'branch', 'dev', 'main');
  const p = polecat('based', { formula: 'based', vars: ['base_branch=dev'] });
  p.commit('dev.txt');
  const r = p.done('--json');
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json().target, 'dev');
  assert.is(show(r.json().mr).metadata.target, 'dev');
  const q = polecat('forced', { formula: 'based', vars: ['base_branch=dev'] });
  q.commit('main.txt');
  const r2 = q.done('--target', 'main', '--json');
  assert.is(r2.code, 0, r2.stderr);
  assert.is(show(r2.json().mr).metadata.target, 'main');
  const z = polecat('nowhere');
  z.commit('z.txt');
  const before = ledgerCount(t);
  const r3 = z.done('--target', 'no-such-branch');
  assert.is(r3.code, 3, r3.stderr);
  assert.match(r3.stderr, /has no branch "no-such-branch"; pass an existing --target/);
  assert.is(ledgerCount(t), before);
});

test('issueFromBranch and parseExit', async () => {
  const { issueFromBranch, parseExit } = await import('../../src/work/done.ts');
  assert.is(issueFromBranch('polecat/nux/gt-abc@mfx1'), 'gt-abc');
  assert.is(issueFromBranch('polecat/nux/gt-abc.2'), 'gt-abc.2');
  assert.is(issueFromBranch('feature/x'), null);
  assert.is(parseExit(undefined), 'COMPLETED');
  assert.is(parseExit('deferred'), 'DEFERRED');
  assert.throws(() => parseExit('merged'), /invalid --status/);
});

test('the scripted agent works its molecule and ends with gt done: branch pushed, MR filed, idle', () => {
  fs.writeFileSync(path.join(t.root, 'formulas', 'test-work.formula.toml'), TEST_FORMULA);
  const p = polecat('auto', { formula: 'test-work' });
  const runlog = path.join(t.base, 'runlog');
  const r = spawnSync(process.execPath, [GT, 'agent', 'scripted'], {
    cwd: p.wt,
    env: {
      ...t.env,
      GT_ROLE: 'myrig/polecats/auto',
      BD_ACTOR: 'myrig/polecats/auto',
      RUNLOG: runlog,
      GT_SCRIPTED_STEP_DELAY_MS: '10',
      GT_SCRIPTED_POLL_MS: '100',
      GT_SCRIPTED_EXIT_IDLE: '1',
    },
    encoding: 'utf8',
    timeout: 120_000,
  });
  const out = `${r.stdout}${r.stderr}`;
  assert.is(r.status, 0, out);
  assert.match(out, /\$ gt done/);
  assert.match(out, /Finished\. Waiting for the next job\./);
  // The branch with the agent's commits is in .repo.git; one open MR for it.
  const tip = t.git(t.root, '--git-dir', repoGit, 'rev-parse', `refs/heads/${p.branch}`).trim();
  const files = t.git(t.root, '--git-dir', repoGit, 'ls-tree', '--name-only', tip);
  assert.match(files, /one\.txt/);
  assert.match(files, /three\.txt/);
  const mrs = mrsOf(p.bead);
  assert.is(mrs.length, 1);
  const mr = show(mrs[0].id);
  assert.is(mr.status, 'open');
  assert.is(mr.metadata.commit_sha, tip);
  assert.is(show(p.bead).status, 'in_progress');
  assert.is(show(p.mol).status, 'closed');
  assert.is(show(mr.metadata.agent_bead).metadata.agent_state, 'idle');
});

test('a polecat handoff (no --cycle) is a deferred gt done: branch pushed, work kept on the hook, mail sent', () => {
  const p = polecat('dag');
  p.commit('half.txt');
  const env = { ...t.env, GT_ROLE: 'myrig/polecats/dag' };
  const r = run(GT, ['handoff', '-m', 'half way', '--no-restart', '--force', '--json'], { cwd: p.wt, env });
  assert.is(r.code, 0, r.stderr);
  const h = r.json();
  assert.equal(h.deferred_done, { issue: p.bead, branch: p.branch, pushed: true, exit: 'DEFERRED' });
  assert.is(show(p.bead).status, 'hooked');
  assert.is(show(p.bead).assignee, 'myrig/polecats/dag');
  assert.ok(t.git(t.root, '--git-dir', repoGit, 'rev-parse', '--verify', p.branch).trim());
  assert.match(h.mail.subject, /^🤝 HANDOFF/);
  // A dirty worktree refuses the deferred done, and nothing is sent.
  fs.writeFileSync(path.join(p.wt, 'dirty.txt'), 'x');
  const before = ledgerCount(t);
  const refused = run(GT, ['handoff', '--no-restart', '--force'], { cwd: p.wt, env });
  assert.is.not(refused.code, 0);
  assert.match(refused.stderr, /dirty\.txt/);
  assert.is(ledgerCount(t), before);
});

test.run();
