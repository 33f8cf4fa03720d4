// The built-in scripted agent, run as a real child process (stdin piped, no tmux) in a real town
// with a real polecat worktree: steps in order, commits on the polecat branch, resume after a
// crash or a handoff, the failure options, nudges, and the idle agent picking up new work.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  attach,
  hookWork,
  killAgents,
  makeTown,
  POLECAT,
  runlog,
  startAgent,
  type Town,
} from './town-fixture.ts';

const AGENT_BEAD = 'mr-myrig-polecat-nux';

function progress(t: Town, molecule: string) {
  return t.ok('mol', 'progress', molecule, '--json');
}

function agentMeta(t: Town) {
  return t.ok('show', AGENT_BEAD, '--json')[0].metadata;
}

function branchLog(t: Town): string[] {
  return t.wt('log', '--format=%an|%s', 'main..HEAD').trim().split('\n').filter(Boolean).reverse();
}

const doneCmd = (mark: string) =>
  JSON.stringify([
    process.execPath,
    '-e',
    `require('fs').writeFileSync(${JSON.stringify(mark)}, process.cwd())`,
  ]);

test('works a poured molecule: steps in order, one commit per changed step, the finishing command', async () => {
  const t = makeTown();
  const { work, molecule, steps } = await hookWork(t);
  const mark = path.join(t.base, 'done-ran');
  const agent = startAgent(t, { GT_SCRIPTED_DONE_CMD: doneCmd(mark), GT_SESSION: 'mr-nux' });
  await agent.waitFor(/Finished\. Waiting for the next job\./);
  const out = agent.output();
  // Banner and prime first, then the steps in order.
  assert.match(out, /\[scripted agent\] myrig\/polecats\/nux/);
  assert.match(out, /## Your hook/);
  const closed = [...out.matchAll(/✓ (\S+) closed/g)].map((m) => m[1]);
  const p = progress(t, molecule);
  assert.equal(
    closed,
    p.steps.map((s: any) => s.id),
  );
  assert.equal(closed.sort(), [...steps].sort());
  assert.ok(p.complete);
  assert.equal(runlog(t), ['a', 'c', 'd']);
  // One commit per step that changed files, on the polecat branch, authored from the env.
  assert.is(t.wt('branch', '--show-current').trim(), `polecat/nux/${work}@x`);
  assert.equal(branchLog(t), [`nux|Write one (${work})`, `nux|Write three (${work})`]);
  assert.is(t.wt('status', '--porcelain').trim(), '');
  assert.is(fs.readFileSync(path.join(t.worktree, 'three.txt'), 'utf8'), 'three-x\n');
  // The finishing command ran in the worktree.
  assert.is(fs.readFileSync(mark, 'utf8'), t.worktree);
  // Idle prompt between steps; heartbeat under the session name.
  assert.match(out, /closed\n❯ /);
  const hb = JSON.parse(fs.readFileSync(path.join(t.town, '.runtime', 'heartbeats', 'mr-nux.json'), 'utf8'));
  assert.ok(hb.time && hb.state && 'step' in hb);
  assert.is(hb.actor, POLECAT);
  // Ledger: a claim, then one commit per closed step (close + claim of the next).
  const subjects = spawnSync('git', ['log', '--format=%an|%s', 'refs/gt/ledger'], {
    cwd: t.town,
    encoding: 'utf8',
  })
    .stdout.trim()
    .split('\n');
  assert.is(subjects.filter((s) => s.startsWith(`${POLECAT}|close `)).length, 4);
  assert.is(subjects.filter((s) => s.startsWith(`${POLECAT}|claim `)).length, 1);
  assert.is(agentMeta(t).agent_state, 'working');
  assert.is(agentMeta(t).hook_bead, work);
  agent.send('status');
  await agent.waitFor(/status: .* 4\/4 complete/);
  agent.send('quit');
  assert.is(await agent.exited, 0);
});

test('without gt done the agent reports the work complete and ends in agent_state done', async () => {
  const t = makeTown();
  await hookWork(t);
  const hasDone = t.gt(['done', '--help']).code === 0;
  const agent = startAgent(t, { GT_SCRIPTED_EXIT_IDLE: '1' });
  const code = await agent.exited;
  if (hasDone) {
    assert.match(agent.output(), /\$ gt done/);
    return;
  }
  assert.is(code, 0, agent.output());
  assert.match(agent.output(), /work complete: .*agent state set to done/s);
  assert.is(agentMeta(t).agent_state, 'done');
  // A fresh process does not finish the same work twice.
  const again = startAgent(t, { GT_SCRIPTED_EXIT_IDLE: '1' });
  assert.is(await again.exited, 0);
  assert.not.match(again.output(), /▶ step|work complete/);
});

test('resume: a crash (exit fault) mid-molecule; a fresh process continues at the claimed step', async () => {
  const t = makeTown();
  const { work, molecule } = await hookWork(t);
  const first = startAgent(t, { GT_SCRIPTED_FAIL: 'exit:c', GT_SCRIPTED_EXIT_IDLE: '1' });
  assert.is(await first.exited, 3, first.output());
  assert.match(first.output(), /GT_SCRIPTED_FAIL: exiting with code 3/);
  assert.equal(runlog(t), ['a']);
  const p = progress(t, molecule);
  assert.equal(
    p.steps.map((s: any) => [s.step, s.state]),
    [
      ['a', 'done'],
      ['b', 'done'],
      ['c', 'current'],
      ['d', 'pending'],
    ],
  );
  // gt prime marks the claimed step as current.
  const prime = t.gt(['prime'], { cwd: t.worktree });
  assert.match(prime.stdout, /\[>\] c: Write three \(\S+\) {2}← CURRENT/);
  const second = startAgent(t, { GT_SCRIPTED_EXIT_IDLE: '1', GT_SCRIPTED_DONE_CMD: '["true"]' });
  assert.is(await second.exited, 0, second.output());
  assert.match(second.output(), /▶ step 3\/4 \S+ \[c\]: Write three \(resuming\)/);
  assert.not.match(second.output(), /\[a\]|\[b\]/);
  assert.equal(runlog(t), ['a', 'c', 'd']);
  assert.ok(progress(t, molecule).complete);
  assert.equal(branchLog(t), [`nux|Write one (${work})`, `nux|Write three (${work})`]);
});

test('handoff exits 0 between steps; the next process picks up where it stopped', async () => {
  const t = makeTown();
  const { molecule } = await hookWork(t);
  const first = startAgent(t, { GT_SCRIPTED_STEP_DELAY_MS: '3000' });
  await first.waitFor(/✓ \S+ closed\n❯ /);
  first.send('handoff');
  assert.is(await first.exited, 0);
  assert.match(first.output(), /🤝 handoff/);
  assert.is(progress(t, molecule).completed, 1);
  const second = startAgent(t, { GT_SCRIPTED_EXIT_IDLE: '1', GT_SCRIPTED_DONE_CMD: '["true"]' });
  assert.is(await second.exited, 0, second.output());
  assert.not.match(second.output(), /\[a\]/);
  assert.equal(runlog(t), ['a', 'c', 'd']);
  assert.ok(progress(t, molecule).complete);
});

test('hang fault: the agent stops responding; after a kill a fresh process finishes', async () => {
  const t = makeTown();
  const { molecule } = await hookWork(t);
  const hung = startAgent(t, { GT_SCRIPTED_FAIL: 'hang:b' });
  await hung.waitFor(/hanging at/);
  hung.send('status');
  await new Promise((r) => setTimeout(r, 500));
  assert.not.match(hung.output(), /status:/);
  assert.is(hung.child.exitCode, null);
  hung.kill();
  await hung.exited;
  const fresh = startAgent(t, { GT_SCRIPTED_EXIT_IDLE: '1', GT_SCRIPTED_DONE_CMD: '["true"]' });
  assert.is(await fresh.exited, 0, fresh.output());
  assert.match(fresh.output(), /\[b\]: Think it over \(resuming\)/);
  assert.ok(progress(t, molecule).complete);
  assert.equal(runlog(t), ['a', 'c', 'd']);
});

test('a failing step command: comment on the step, step left open, agent stuck; a nudge retries', async () => {
  const t = makeTown();
  const flag = path.join(t.base, 'flag');
  const { molecule, steps } = await hookWork(t, { formula: 'test-fail' });
  const agent = startAgent(t, { FLAG: flag, GT_SCRIPTED_DONE_CMD: '["true"]' });
  await agent.waitFor(/Stopped\. Fix the cause/);
  assert.match(agent.output(), /flag missing/);
  assert.match(agent.output(), /exited 7/);
  const [step] = t.ok('show', steps[0], '--json');
  assert.is(step.status, 'in_progress');
  assert.match(step.comments.at(-1).text, /exited 7[\s\S]*flag missing/);
  assert.is(agentMeta(t).agent_state, 'stuck');
  assert.is(progress(t, molecule).completed, 0);
  fs.writeFileSync(flag, '');
  agent.send('try again please');
  await agent.waitFor(/Finished\./);
  assert.match(agent.output(), /nudge: try again please/);
  assert.ok(progress(t, molecule).complete);
  assert.is(agentMeta(t).agent_state, 'working');
  agent.send('quit');
  assert.is(await agent.exited, 0);
});

test('bad-commit fault commits conflict markers that git diff --check catches', async () => {
  const t = makeTown();
  await hookWork(t);
  const agent = startAgent(t, {
    GT_SCRIPTED_FAIL: 'bad-commit:b',
    GT_SCRIPTED_EXIT_IDLE: '1',
    GT_SCRIPTED_DONE_CMD: '["true"]',
  });
  assert.is(await agent.exited, 0, agent.output());
  assert.ok(fs.existsSync(path.join(t.worktree, 'GT_BAD_COMMIT-b.txt')));
  const check = spawnSync('git', ['diff', '--check', 'main...HEAD'], { cwd: t.worktree, encoding: 'utf8' });
  assert.is.not(check.status, 0);
  assert.match(check.stdout, /leftover conflict marker/);
  assert.equal(
    branchLog(t).map((l) => l.split('|')[1].split(' (')[0]),
    ['Write one', 'Think it over', 'Write three'],
  );
});

test('idle agent: prompt, nudges echoed and recorded, status, and it picks up work hooked later', async () => {
  const t = makeTown();
  const agent = startAgent(t, { GT_SCRIPTED_DONE_CMD: '["true"]' });
  await agent.waitFor(/Nothing on myrig\/polecats\/nux's hook; waiting for work\.\n❯ /);
  agent.send('hello there');
  await agent.waitFor(/nudge: hello there\n❯ /);
  agent.send('status');
  await agent.waitFor(/status: myrig\/polecats\/nux idle/);
  const nudges = fs
    .readFileSync(path.join(t.town, '.runtime', 'scripted', 'myrig-polecats-nux', 'nudges.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.equal(
    nudges.map((n) => n.text),
    ['hello there'],
  );
  const hb = JSON.parse(
    fs.readFileSync(path.join(t.town, '.runtime', 'heartbeats', 'myrig-polecats-nux.json'), 'utf8'),
  );
  assert.is(hb.state, 'idle');
  // Work arrives while it waits: it notices on its next look at the hook.
  const { molecule } = await hookWork(t);
  await agent.waitFor(/Finished\./);
  assert.ok(progress(t, molecule).complete);
  agent.send('quit');
  assert.is(await agent.exited, 0);
});

test('root-only wisp: virtual steps worked in order, their commits on the branch', async () => {
  const t = makeTown();
  const { work, molecule } = await hookWork(t, { rootOnly: true, vars: ['tag=y'] });
  const prime = t.gt(['prime', '--json'], { cwd: t.worktree }).json();
  assert.equal(
    prime.molecule.steps.map((s: any) => [s.id, s.marker]),
    [
      [`${molecule}.a`, 'next'],
      [`${molecule}.b`, 'pending'],
      [`${molecule}.c`, 'pending'],
      [`${molecule}.d`, 'pending'],
    ],
  );
  const agent = startAgent(t, { GT_SCRIPTED_EXIT_IDLE: '1', GT_SCRIPTED_DONE_CMD: '["true"]' });
  assert.is(await agent.exited, 0, agent.output());
  assert.ok(progress(t, molecule).complete);
  assert.equal(runlog(t), ['a', 'c', 'd']);
  assert.equal(branchLog(t), [`nux|Write one (${work})`, `nux|Write three (${work})`]);
  assert.is(fs.readFileSync(path.join(t.worktree, 'three.txt'), 'utf8'), 'three-y\n');
});

test('a hooked bead with no molecule: its own run command, one commit; a failing finish is retried on a nudge', async () => {
  const t = makeTown();
  const work = t.ok('create', 'Solo job', '--metadata', '{"run":"echo solo > solo.txt"}', '--json').id;
  await attach(t, work);
  t.wt('checkout', '-q', '-b', `polecat/nux/${work}@x`);
  const flag = path.join(t.base, 'done-ok');
  const finish = JSON.stringify(['/bin/sh', '-c', 'test -f "$1"', 'finish', flag]);
  const agent = startAgent(t, { GT_SCRIPTED_DONE_CMD: finish });
  await agent.waitFor(/the finishing command exited 1/);
  assert.equal(branchLog(t), [`nux|Solo job (${work})`]);
  fs.writeFileSync(flag, '');
  agent.send('done now?');
  await agent.waitFor(/Finished\./);
  assert.is(agent.output().match(/\$ echo solo/g)?.length, 1);
  agent.send('quit');
  assert.is(await agent.exited, 0);
});

test('bad options are refused with a clear message', async () => {
  const t = makeTown();
  const a = startAgent(t, { GT_SCRIPTED_FAIL: 'explode:a' });
  assert.is(await a.exited, 1);
  assert.match(a.output(), /GT_SCRIPTED_FAIL: cannot read "explode:a"/);
  const b = startAgent(t, { GT_SCRIPTED_DONE_CMD: 'gt done' });
  assert.is(await b.exited, 1);
  assert.match(b.output(), /GT_SCRIPTED_DONE_CMD must be a JSON array/);
  const json = t.gt(['agent', 'scripted', '--json'], { cwd: t.worktree });
  assert.is(json.code, 2);
  // Hidden from help, but there.
  assert.not.match(t.gt(['--help']).stdout, /\bagent\b +Built-in/);
  assert.match(t.gt(['agent', '--help']).stdout, /gt agent scripted/);
});

test('bad-commit fires once per issue and step: a second run of the same step commits no bad file', async () => {
  const t = makeTown();
  const { work } = await hookWork(t);
  const env = {
    GT_SCRIPTED_FAIL: 'bad-commit:b',
    GT_SCRIPTED_EXIT_IDLE: '1',
    GT_SCRIPTED_DONE_CMD: '["true"]',
  };
  const first = startAgent(t, env);
  assert.is(await first.exited, 0, first.output());
  assert.ok(fs.existsSync(path.join(t.worktree, 'GT_BAD_COMMIT-b.txt')));
  // The fix, then the same step again (a fresh molecule for the same bead).
  t.wt('rm', '-q', 'GT_BAD_COMMIT-b.txt');
  t.wt('commit', '-q', '-m', 'fix');
  const again = t.ok('mol', 'pour', 'test-work', '--json').new_epic_id as string;
  await attach(t, work, { molecule: again, formula: 'test-work' });
  const second = startAgent(t, env);
  assert.is(await second.exited, 0, second.output());
  assert.match(second.output(), new RegExp(`bad-commit:${work}:b already happened once; not again`));
  assert.not.ok(fs.existsSync(path.join(t.worktree, 'GT_BAD_COMMIT-b.txt')));
  assert.is(t.wt('log', '--format=%s', '-1', '--', 'GT_BAD_COMMIT-b.txt').trim(), 'fix');
});

test('MERGE_FAILED while idle: back on the branch, bad file removed, fix committed, finish with --issue', async () => {
  const t = makeTown();
  const { work } = await hookWork(t);
  const branch = `polecat/nux/${work}@x`;
  const mark = path.join(t.base, 'finish-args');
  const finish = JSON.stringify([
    process.execPath,
    '-e',
    `require('fs').appendFileSync(${JSON.stringify(mark)}, process.argv.slice(1).join(' ') + '\\n')`,
    '--',
  ]);
  const agent = startAgent(t, { GT_SCRIPTED_FAIL: 'bad-commit:c', GT_SCRIPTED_DONE_CMD: finish });
  await agent.waitFor(/Finished\. Waiting for the next job\./);
  // As gt done would leave it: off the branch, nothing on the hook.
  t.wt('checkout', '-q', '--detach', 'main');
  t.ok('update', work, '-s', 'in_progress');
  agent.send(
    `[nudge from myrig/refinery] MERGE_FAILED: branch=${branch} issue=${work} type=gate error=GT_BAD_COMMIT-c.txt:1: leftover conflict marker — fix and resubmit with 'gt done'`,
  );
  await agent.waitFor(/Resubmitted \S+\. Waiting for the next job\./);
  assert.is(t.wt('branch', '--show-current').trim(), branch);
  assert.not.ok(fs.existsSync(path.join(t.worktree, 'GT_BAD_COMMIT-c.txt')));
  assert.is(t.wt('log', '-1', '--format=%s').trim(), `Fix: gate failure (${work})`);
  assert.is(t.wt('status', '--porcelain').trim(), '');
  // The first finish had no arguments; the resubmission names the issue.
  assert.is(fs.readFileSync(mark, 'utf8'), `\n--issue ${work}\n`);
  // A nudge naming a branch that does not exist is reported, not fatal.
  agent.send(`MERGE_FAILED: branch=polecat/nux/nope issue=${work} type=gate`);
  await agent.waitFor(/cannot resubmit \S+: git checkout polecat\/nux\/nope failed/);
  agent.send('quit');
  assert.is(await agent.exited, 0);
});

test('MERGE_FAILED type=conflict: the branch is rebased onto its target; a conflicting rebase is aborted and reported', async () => {
  const t = makeTown();
  const { work } = await hookWork(t);
  const branch = `polecat/nux/${work}@x`;
  const agent = startAgent(t, { GT_SCRIPTED_DONE_CMD: '["true"]' });
  await agent.waitFor(/Finished\. Waiting for the next job\./);
  // main moves on with an unrelated change while the polecat waits.
  const onMain = (file: string, text: string) => {
    t.wt('checkout', '-q', 'main');
    fs.writeFileSync(path.join(t.worktree, file), text);
    t.wt('add', file);
    t.wt('-c', 'user.name=other', '-c', 'user.email=o@x', 'commit', '-q', '-m', `main: ${file}`);
    t.wt('checkout', '-q', '--detach', 'main');
  };
  onMain('other.txt', 'other\n');
  agent.send(`MERGE_FAILED: branch=${branch} issue=${work} type=conflict error=needs rebase`);
  await agent.waitFor(/Resubmitted \S+\./);
  assert.match(agent.output(), /rebased polecat\/nux\/\S+ onto main/);
  assert.is(t.wt('branch', '--show-current').trim(), branch);
  assert.is(spawnSync('git', ['merge-base', '--is-ancestor', 'main', 'HEAD'], { cwd: t.worktree }).status, 0);
  // Now a real conflict: main changes a file the branch changed too.
  t.wt('checkout', '-q', '--detach', 'main');
  onMain('one.txt', 'not one\n');
  const head = t.wt('rev-parse', branch).trim();
  agent.send(`MERGE_FAILED: branch=${branch} issue=${work} type=conflict error=CONFLICT one.txt`);
  await agent.waitFor(/cannot resubmit \S+: rebase onto main conflicts/);
  assert.is(t.wt('rev-parse', branch).trim(), head, 'branch unchanged');
  assert.is(t.wt('status', '--porcelain').trim(), '', 'rebase aborted');
  agent.send('quit');
  assert.is(await agent.exited, 0);
});

test.after.each(killAgents);

test.run();
