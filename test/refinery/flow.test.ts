// The refinery's harder paths with real git: batch-then-bisect lands the good MRs of a batch
// with a bad one, and a conflict goes through the resolution flow (task bead, the MR blocked on
// it, slung back to the idle worker, the built-in scripted agent working the
// mol-polecat-conflict-resolve molecule with `gt agent resolve-union` and `gt done`), after
// which both merge.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { listQueue as listNudges } from '../../src/nudge/queue.ts';
import { GT } from '../helpers.ts';
import { addRig, bead, polecat, refineryTown } from './fixture.ts';

const t = refineryTown();

test('batch of 3 with one bad MR: red, retried once, bisected to the culprit; the other two land', async () => {
  const rig = addRig(t, 'batch');
  const log = path.join(t.base, 'batch-gate.log');
  rig.set('merge_queue.gates', {
    nobad: {
      cmd: `echo run >> '${log}'; if test -e bad.txt; then echo "bad.txt found" >&2; exit 1; fi`,
      timeout: '20s',
    },
  });
  const a = polecat(t, rig, 'ace', { title: 'A' });
  const b = polecat(t, rig, 'bad', { title: 'B' });
  const c = polecat(t, rig, 'cee', { title: 'C' });
  a.commit('a.txt');
  b.commit('b.txt');
  b.commit('bad.txt');
  c.commit('c.txt');
  const mrs = [a, b, c].map((p) => {
    const d = p.done();
    assert.is(d.code, 0, d.stderr);
    return d.json.mr as string;
  });
  const base = rig.head();
  const r = await rig.tick();
  assert.equal(r.merged, [mrs[0], mrs[2]], JSON.stringify(r));
  assert.equal(
    r.failed.map((f) => f.mr),
    [mrs[1]],
  );
  assert.match(r.failed[0].reason, 'bad.txt found');
  assert.ok(
    r.notes?.some((n) => n.startsWith(`bisection: culprit ${mrs[1]}`)),
    JSON.stringify(r.notes),
  );
  // Gate runs: the batch, its flaky retry, prefix [A,B] red, prefix [A] green, [A,C] green.
  assert.is(fs.readFileSync(log, 'utf8').trim().split('\n').length, 5);
  // main = base ← A ← C, authored by their workers; B's file is not there.
  const commits = t
    .git(t.root, '--git-dir', rig.repoGit, 'log', '--format=%an %s', `${base}..main`)
    .trim()
    .split('\n');
  assert.equal(commits, [`batch/polecats/cee C (${c.bead})`, `batch/polecats/ace A (${a.bead})`]);
  const files = t.git(t.root, '--git-dir', rig.repoGit, 'ls-tree', '--name-only', 'main').trim().split('\n');
  assert.ok(files.includes('a.txt') && files.includes('c.txt'));
  assert.not.ok(files.includes('bad.txt') || files.includes('b.txt'));
  assert.is(
    (await bead(t, mrs[0])).metadata?.merge_commit,
    t.git(t.root, '--git-dir', rig.repoGit, 'rev-parse', 'main^').trim(),
  );
  const bad = await bead(t, mrs[1]);
  assert.is(bad.status, 'open');
  assert.is(bad.metadata?.retry_count, 1);
  assert.is((await bead(t, b.bead)).status, 'in_progress');
  assert.is((await bead(t, a.bead)).status, 'closed');
  assert.is((await bead(t, c.bead)).status, 'closed');
});

test('conflict: task bead blocks the MR, slung back to the worker; resolve-union + gt done; both merge', async () => {
  const rig = addRig(t, 'conf');
  rig.set('merge_queue.gates', {
    nomarkers: { cmd: '! grep -rn "^<<<<<<<" --exclude-dir=.git .', timeout: '20s' },
  });
  const first = polecat(t, rig, 'nux', { title: 'First change' });
  const second = polecat(t, rig, 'slit', { title: 'Second change' });
  first.commit('shared.txt', 'from nux\n');
  second.commit('shared.txt', 'from slit\n');
  const mr1 = first.done().json.mr as string;
  const d2 = second.done();
  assert.is(d2.code, 0, d2.stderr);
  const mr2 = d2.json.mr as string;
  const secondHead = rig.head(second.branch);

  const r = await rig.tick();
  assert.equal(r.merged, [mr1], JSON.stringify(r));
  assert.equal(r.conflicts, [mr2]);
  const task = r.tasks![0];
  assert.is(task.mr, mr2);
  assert.is(task.slung_to, 'conf/slit', JSON.stringify(task));
  const tb = await bead(t, task.task);
  assert.is(tb.title, 'Resolve merge conflicts: Second change');
  assert.is(tb.issue_type, 'task');
  assert.ok(tb.id.startsWith(`${mr2.split('-')[0]}-`), tb.id);
  assert.equal(
    [
      tb.metadata?.mr,
      tb.metadata?.branch,
      tb.metadata?.target,
      tb.metadata?.source_issue,
      tb.metadata?.conflict_sha,
    ],
    [mr2, second.branch, 'main', second.bead, secondHead],
  );
  assert.is(tb.status, 'hooked');
  assert.is(tb.assignee, 'conf/polecats/slit');
  const m2 = await bead(t, mr2);
  assert.ok(m2.dependencies?.some((d) => d.type === 'blocks' && d.depends_on_id === task.task));
  assert.is(m2.metadata?.retry_count, 1);
  assert.is(m2.metadata?.last_conflict_sha, secondHead);
  assert.is(m2.metadata?.conflict_task_id, task.task);
  assert.match(t.ok('mq', 'status', mr2, '--json').queue.waiting, `blocked by ${task.task}`);
  // The mayor hears of the conflict; the worker got the task on its hook instead of a nudge.
  const conflictMsg = listNudges(t.root, 'hq-mayor').find((n) =>
    n.message.includes(`branch=${second.branch}`),
  );
  assert.match(
    conflictMsg?.message ?? '',
    `type=conflict error=conflicts with main in shared.txt; resolution task ${task.task}`,
  );
  assert.not.ok(
    listNudges(t.root, `${mr2.split('-')[0]}-slit`).some((n) => n.message.startsWith('MERGE_FAILED')),
  );
  // Nothing more happens while the task is open.
  assert.equal((await rig.tick()).merged, []);

  // The polecat: the built-in scripted agent works the molecule in its worktree (no tmux here),
  // with `gt` on PATH for the step commands, and finishes with gt done.
  const bin = path.join(t.base, 'bin');
  fs.mkdirSync(bin, { recursive: true });
  fs.writeFileSync(path.join(bin, 'gt'), `#!/bin/sh\nexec '${process.execPath}' '${GT}' "$@"\n`, {
    mode: 0o755,
  });
  const agent = spawnSync(process.execPath, [GT, 'agent', 'scripted'], {
    cwd: second.wt,
    env: {
      ...t.env,
      PATH: `${bin}:${t.env.PATH}`,
      GT_ROLE: 'conf/polecats/slit',
      GT_SCRIPTED_EXIT_IDLE: '1',
      GT_SCRIPTED_STEP_DELAY_MS: '0',
    },
    encoding: 'utf8',
    input: '',
    timeout: 60_000,
  });
  assert.is(agent.status, 0, `${agent.stdout}\n${agent.stderr}`);
  assert.match(agent.stdout, 'resolved shared.txt (union)');
  // Both sides kept, the merge committed on the MR's branch, and a new MR filed for the task.
  const resolved = rig.head(second.branch);
  assert.is.not(resolved, secondHead);
  assert.is(
    t.git(t.root, '--git-dir', rig.repoGit, 'show', `${resolved}:shared.txt`),
    'from slit\nfrom nux\n',
  );
  // The empty branch sling made for the task is gone; the MR's branch carries the work.
  assert.is(
    t
      .git(
        t.root,
        '--git-dir',
        rig.repoGit,
        'for-each-ref',
        '--format=%(refname:short)',
        'refs/heads/polecat/slit/',
      )
      .trim(),
    second.branch,
  );
  const taskBead = await bead(t, task.task);
  const mr3 = taskBead.metadata?.active_mr as string;
  assert.ok(mr3, JSON.stringify(taskBead.metadata));
  assert.is((await bead(t, mr3)).metadata?.branch, second.branch);

  // The refinery merges the task's MR, then the original one lands as already in the target.
  const r2 = await rig.tick();
  assert.equal(r2.merged, [mr3, mr2], JSON.stringify(r2));
  assert.equal(r2.failed, []);
  const o = await bead(t, mr2);
  assert.is(o.status, 'closed');
  assert.is(o.close_reason, 'merged (already in target)');
  assert.ok(o.comments?.some((c) => c.text.includes('adds nothing to main')));
  for (const id of [task.task, second.bead, first.bead]) assert.is((await bead(t, id)).status, 'closed', id);
  assert.is(t.git(t.root, '--git-dir', rig.repoGit, 'show', 'main:shared.txt'), 'from slit\nfrom nux\n');
  // The shared branch was kept while the original MR still needed it, and deleted after.
  assert.is(t.git(t.root, '--git-dir', rig.repoGit, 'branch', '--list', second.branch).trim(), '');
});

test('resolve-union refuses where no merge is in progress', () => {
  const r = spawnSync(process.execPath, [GT, 'agent', 'resolve-union'], {
    cwd: t.src,
    env: t.env,
    encoding: 'utf8',
  });
  assert.is.not(r.status, 0);
  assert.match(r.stderr, 'no merge in progress');
});

test.run();
