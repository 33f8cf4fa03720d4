// The refinery with real git: a clean merge, a gate failure and its fix, a gate timeout, the
// claim race, and the `gt mq` commands. Each scenario has its own rig (own .repo.git, own
// queue) in one town.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { listQueue as listNudges } from '../../src/nudge/queue.ts';
import { ROOT } from '../helpers.ts';
import { addRig, bdJson, bead, polecat, refineryTown } from './fixture.ts';

const t = refineryTown();

test('clean merge: squash authored by the worker, target moved and pushed, branch deleted, MR + source closed, convoy lands, mayor told', async () => {
  const rig = addRig(t, 'clean');
  // This rig pushes to its origin (the source repository accepts pushes to its checked-out branch).
  t.git(t.src, 'config', 'receive.denyCurrentBranch', 'updateInstead');
  rig.set('merge_queue.auto_push', true);
  rig.set('merge_queue.gates', { check: { cmd: 'test -f feature.txt', timeout: '20s' } });
  const p = polecat(t, rig, 'nux', { title: 'Add the feature' });
  p.commit('feature.txt', 'feature\n');
  const convoy = t.ok('convoy', 'create', 'Feature X', p.bead, '--json');
  const d = p.done();
  assert.is(d.code, 0, d.stderr);
  const mr = d.json.mr as string;
  const before = rig.head();

  const list = t.ok('mq', 'list', 'clean', '--json');
  assert.equal(
    list.map((e: any) => [e.id, e.ready]),
    [[mr, true]],
  );
  assert.ok(list[0].score >= 1200, JSON.stringify(list[0]));

  const r = await rig.tick();
  assert.equal(r.merged, [mr], JSON.stringify(r));
  assert.equal(r.failed, []);
  const after = rig.head();
  assert.is.not(after, before);
  assert.is(t.git(t.root, '--git-dir', rig.repoGit, 'rev-parse', `${after}^`).trim(), before);
  const info = t.git(t.root, '--git-dir', rig.repoGit, 'log', '-1', '--format=%an|%ae|%cn|%s|%b', after);
  const [an, ae, cn, subject, body] = info.split('|');
  assert.is(an, 'clean/polecats/nux');
  assert.is(ae, 'clean.polecats.nux@gastown.local');
  assert.is(cn, 'clean/refinery');
  assert.is(subject, `Add the feature (${p.bead})`);
  assert.match(body, `Merge-Request: ${mr}`);
  // Pushed to origin; the merged branch is gone; the refinery worktree is back on main, clean.
  assert.is(t.git(t.src, 'rev-parse', 'main').trim(), after);
  assert.is(t.git(t.root, '--git-dir', rig.repoGit, 'branch', '--list', p.branch).trim(), '');
  assert.is(t.git(rig.refinery, 'branch', '--show-current').trim(), 'main');
  assert.is(t.git(rig.refinery, 'rev-parse', 'HEAD').trim(), after);
  assert.is(t.git(rig.refinery, 'status', '--porcelain').trim(), '');
  assert.ok(fs.existsSync(path.join(rig.refinery, 'feature.txt')));
  // Ledger: MR merged with its commit, source closed, active_mr cleared, convoy landed.
  const m = await bead(t, mr);
  assert.is(m.status, 'closed');
  assert.is(m.close_reason, 'merged');
  assert.is(m.metadata?.merge_commit, after);
  const src = await bead(t, p.bead);
  assert.is(src.status, 'closed');
  assert.is(src.metadata?.active_mr, null);
  const cv = await bead(t, convoy.id ?? convoy.convoy?.id);
  assert.is(cv.status, 'closed');
  // MERGED for the mayor (no session: queued).
  const mayor = listNudges(t.root, 'hq-mayor').map((n) => n.message);
  assert.ok(mayor.includes(`MERGED: ${mr} issue=${p.bead} branch=${p.branch}`), JSON.stringify(mayor));
  // A second tick has nothing to do.
  const again = await rig.tick();
  assert.equal(again.merged, []);
});

test('batch wait: a short batch is held open for batch_wait_time, then merged; gt mq process does not wait', async () => {
  const rig = addRig(t, 'waits');
  rig.set('merge_queue.batch.batch_wait_time', '2s');
  const p = polecat(t, rig, 'wait');
  p.commit('w.txt');
  const mr = p.done().json.mr as string;
  const before = rig.head();
  const r = await rig.tick();
  assert.equal(r.merged, []);
  assert.match(r.skipped ?? '', /collecting a batch: 1 of up to 5 ready; merging in [12]s/);
  assert.ok(r.wake_after_ms! > 0 && r.wake_after_ms! <= 2000, String(r.wake_after_ms));
  assert.is(rig.head(), before);
  assert.is((await bead(t, mr)).status, 'open');
  const queued = () => t.ok('status', '--json').rigs.find((x: any) => x.name === 'waits').merge_queue;
  assert.is(queued(), 1, 'gt status counts it in the merge queue');
  // Once the oldest MR has waited long enough, the batch goes.
  const later = await rig.tick({ now: Date.now() + 2500 });
  assert.equal(later.merged, [mr]);
  assert.is(queued(), 0);
  // By hand, nothing waits.
  const q = polecat(t, rig, 'hand');
  q.commit('h.txt');
  const mr2 = q.done().json.mr as string;
  const out = t.ok('mq', 'process', 'waits', '--json');
  assert.ok(JSON.stringify(out).includes(mr2), JSON.stringify(out));
  assert.is((await bead(t, mr2)).status, 'closed');
});

test('gate failure: MERGE_FAILED to the polecat and the mayor, not retried until the branch moves, then merged', async () => {
  const rig = addRig(t, 'gated');
  rig.set('merge_queue.gates', {
    nobad: {
      cmd: 'echo checking; if test -e bad.txt; then echo "bad.txt is not allowed" >&2; exit 1; fi',
      timeout: '20s',
    },
  });
  rig.set('merge_queue.retry_flaky_tests', 0);
  const p = polecat(t, rig, 'slit');
  p.commit('good.txt');
  const badSha = p.commit('bad.txt');
  const d = p.done();
  assert.is(d.code, 0, d.stderr);
  const mr = d.json.mr as string;
  const before = rig.head();

  const r = await rig.tick();
  assert.equal(r.merged, []);
  assert.is(r.failed.length, 1);
  assert.is(r.failed[0].mr, mr);
  assert.match(r.failed[0].reason, /^nobad: .*bad\.txt is not allowed/);
  assert.is(rig.head(), before, 'the target did not move');
  const m = await bead(t, mr);
  assert.is(m.status, 'open');
  assert.is(m.assignee, undefined);
  assert.is(m.metadata?.retry_count, 1);
  assert.is(m.metadata?.failed_sha, badSha);
  assert.is(m.metadata?.last_failure_type, 'nobad');
  // The polecat (session gated prefix + name) and the mayor have MERGE_FAILED queued.
  const prefix = bdJson(t, 'show', mr).id.split('-')[0];
  const polecatMsgs = listNudges(t.root, `${prefix}-slit`).map((n) => n.message);
  const failedMsg = polecatMsgs.find((x) => x.startsWith('MERGE_FAILED:'));
  assert.ok(failedMsg, JSON.stringify(polecatMsgs));
  assert.match(failedMsg!, `branch=${p.branch} issue=${p.bead} type=nobad error=`);
  assert.match(failedMsg!, 'bad.txt is not allowed');
  assert.match(failedMsg!, "fix and resubmit with 'gt done'");
  assert.ok(listNudges(t.root, 'hq-mayor').some((n) => n.message === failedMsg));
  // Not retried while the branch head is the failed one.
  const q = t.ok('mq', 'status', mr, '--json');
  assert.is(q.queue.ready, false);
  assert.match(q.queue.waiting, 'failed at');
  const idle = await rig.tick();
  assert.equal([idle.merged, idle.failed], [[], []]);
  // The fix: a new commit on the branch makes it ready again, and it merges.
  p.rm('bad.txt');
  assert.is(t.ok('mq', 'status', mr, '--json').queue.ready, true);
  const fixed = await rig.tick();
  assert.equal(fixed.merged, [mr], JSON.stringify(fixed));
  assert.ok(fs.existsSync(path.join(rig.refinery, 'good.txt')));
  assert.not.ok(fs.existsSync(path.join(rig.refinery, 'bad.txt')));
  assert.is((await bead(t, p.bead)).status, 'closed');
});

test('gate timeout: the gate process group is killed, the MR fails as timed out', async () => {
  const rig = addRig(t, 'slow');
  const marker = path.join(t.base, 'slow-gate-survivor');
  // The gate starts a background child that would write the marker if it outlived the timeout.
  rig.set('merge_queue.gates', {
    slowgate: { cmd: `(sleep 2; touch '${marker}') & sleep 30`, timeout: '400ms' },
  });
  rig.set('merge_queue.retry_flaky_tests', 0);
  rig.set('merge_queue.max_retry_count', 1);
  const p = polecat(t, rig, 'toast');
  p.commit('x.txt');
  const mr = p.done().json.mr as string;
  const started = Date.now();
  const r = await rig.tick();
  assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
  assert.equal(r.merged, []);
  assert.is(r.failed[0]?.mr, mr);
  assert.match(r.failed[0].reason, /slowgate: .*timed out after 400 ms/);
  const m = await bead(t, mr);
  assert.equal(m.metadata?.last_failure_gate, { name: 'slowgate', code: null, timed_out: true });
  // max_retry_count 1: the first failure raises an escalation naming the MR.
  const esc = m.metadata?.escalated as string;
  assert.ok(esc, JSON.stringify(m.metadata));
  const e = await bead(t, esc);
  assert.match(e.description ?? e.title, mr);
  await new Promise((res) => setTimeout(res, 2500));
  assert.not.ok(fs.existsSync(marker), 'a child of the timed-out gate survived');
});

test('push refused by the origin: nothing lands, the MR is marked failed (push), only the mayor is told', async () => {
  const rig = addRig(t, 'pushfail');
  rig.set('merge_queue.auto_push', true);
  // The origin moves on without this rig, so the rig's push is no fast-forward.
  t.git(t.src, 'config', 'receive.denyCurrentBranch', 'updateInstead');
  fs.writeFileSync(path.join(t.src, 'upstream.txt'), 'upstream\n');
  t.git(t.src, 'add', 'upstream.txt');
  t.git(t.src, 'commit', '-q', '-m', 'upstream moves on');
  const p = polecat(t, rig, 'max');
  p.commit('p.txt');
  const mr = p.done().json.mr as string;
  const before = rig.head();
  const r = await rig.tick();
  assert.equal(r.merged, []);
  assert.is(r.failed[0]?.mr, mr, JSON.stringify(r));
  assert.match(r.failed[0].reason, /^push: .*rejected/, r.failed[0].reason);
  assert.is(rig.head(), before, 'the target did not move locally either');
  assert.is((await bead(t, mr)).metadata?.last_failure_type, 'push');
  const prefix = mr.split('-')[0];
  assert.not.ok(listNudges(t.root, `${prefix}-max`).some((n) => n.message.startsWith('MERGE_FAILED')));
  assert.ok(
    listNudges(t.root, 'hq-mayor').some(
      (n) => n.message.includes(`type=push`) && n.message.includes(p.branch),
    ),
  );
});

test('claim race: of two concurrent claims exactly one wins; gt mq retry and reject', async () => {
  const rig = addRig(t, 'race');
  const p = polecat(t, rig, 'rictus');
  p.commit('r.txt');
  const mr = p.done().json.mr as string;
  const startAt = Date.now() + 1500;
  const runOne = (claimer: string) =>
    new Promise<any>((resolve, reject) => {
      const c = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          path.join(ROOT, 'test/refinery/claim-worker.ts'),
          t.root,
          mr,
          claimer,
          String(startAt),
        ],
        { cwd: ROOT, env: { ...t.env, PATH: process.env.PATH } },
      );
      let out = '';
      c.stdout.on('data', (d) => {
        out += d;
      });
      c.stderr.on('data', (d) => {
        out += d;
      });
      c.on('close', () => {
        try {
          resolve(JSON.parse(out.trim().split('\n').pop()!));
        } catch {
          reject(new Error(out));
        }
      });
    });
  const results = await Promise.all([runOne('race/refinery'), runOne('other/refinery')]);
  assert.is(results.filter((x) => x.ok).length, 1, JSON.stringify(results));
  const loser = results.find((x) => !x.ok);
  assert.match(loser.error, 'already claimed by');
  const winner = results.find((x) => x.ok).claimer;
  assert.is((await bead(t, mr)).assignee, winner);
  // A live claim keeps it out of the ready queue.
  assert.equal(t.ok('mq', 'list', 'race', '--ready', '--json'), []);
  // gt mq retry releases it; gt mq reject closes it and reopens the work.
  const rt = t.ok('mq', 'retry', mr, '--json');
  assert.is(rt.assignee, undefined);
  assert.is(t.ok('mq', 'next', 'race', '--json').id, mr);
  const rj = t.ok('mq', 'reject', mr, '--reason', 'not needed', '--json');
  assert.is(rj.mr.close_reason, 'rejected: not needed');
  const src = await bead(t, p.bead);
  assert.is(src.status, 'open');
  assert.is(src.metadata?.active_mr, null);
  assert.is(t.gt('mq', 'next', 'race', '--json').code, 1);
});

test('gt mq errors: unknown rig, unknown MR, closed MR, a bead that is not an MR', () => {
  const r1 = t.gt('mq', 'list', 'nosuchrig', '--json');
  assert.is.not(r1.code, 0);
  assert.match(r1.stderr, 'no rig named "nosuchrig"');
  const r2 = t.gt('mq', 'status', 'zz-nope', '--json');
  assert.is.not(r2.code, 0);
  assert.match(r2.stderr, 'no bead with id');
  const plain = bdJson(t, 'create', 'Just a task').id;
  const r3 = t.gt('mq', 'retry', plain);
  assert.is.not(r3.code, 0);
  assert.match(r3.stderr, 'is not a merge request');
  const r4 = t.gt('mq', 'process', 'nosuchrig');
  assert.is.not(r4.code, 0);
});

test('gt mq submit files the MR for a branch in .repo.git; gt mq process merges it', () => {
  const rig = addRig(t, 'sub');
  const p = polecat(t, rig, 'dag');
  p.commit('s.txt');
  const s = t.ok('mq', 'submit', '--rig', 'sub', '--branch', p.branch, '--json');
  assert.is(s.issue, p.bead);
  assert.is(s.target, 'main');
  const again = t.ok('mq', 'submit', '--rig', 'sub', '--branch', p.branch, '--json');
  assert.is(again.mr, s.mr);
  assert.is(again.reused, true);
  const nothing = t.gt('mq', 'submit', '--rig', 'sub', '--branch', 'nope/branch');
  assert.is(nothing.code, 3, nothing.stderr);
  const pr = t.ok('mq', 'process', 'sub', '--json');
  assert.equal(pr.rigs.sub.merged, [s.mr], JSON.stringify(pr));
  // The polecat's worktree still has the branch checked out: it is kept, with a note.
  assert.is(rig.head(p.branch), t.git(p.wt, 'rev-parse', 'HEAD').trim());
  assert.ok(
    pr.rigs.sub.notes.some((n: string) => n.includes(`branch ${p.branch} kept: checked out in`)),
    JSON.stringify(pr.rigs.sub.notes),
  );
});

test('missing branch: flagged, the mayor told of possible work loss, not retried; a held lock or a disabled queue skips the rig', async () => {
  const rig = addRig(t, 'lost');
  const p = polecat(t, rig, 'furiosa');
  p.commit('l.txt');
  const mr = p.done().json.mr as string;
  t.git(t.root, '--git-dir', rig.repoGit, 'branch', '-q', '-D', p.branch);
  const r = await rig.tick();
  assert.equal(r.failed, [{ mr, reason: `branch ${p.branch} is missing` }]);
  const m = await bead(t, mr);
  assert.is(m.status, 'open');
  assert.is(m.metadata?.branch_missing, true);
  assert.ok(
    listNudges(t.root, 'hq-mayor').some(
      (n) => n.message.includes(mr) && n.message.includes('possible work loss'),
    ),
  );
  const again = await rig.tick();
  assert.equal(again.failed, []);
  // The branch is back; a claim from 2 h ago is stale: the MR is ready despite it.
  t.git(t.root, '--git-dir', rig.repoGit, 'branch', '-q', p.branch, 'main');
  p.commit('l2.txt');
  const { BeadStore } = await import('../../src/beads/store.ts');
  const { claimMR } = await import('../../src/refinery/queue.ts');
  claimMR(BeadStore.open(t.root), mr, 'elsewhere/refinery', {
    now: Date.now() - 2 * 3600e3,
    staleMs: 60_000,
  });
  assert.equal(
    t.ok('mq', 'list', 'lost', '--ready', '--json').map((e: any) => [e.id, e.claimed_by]),
    [[mr, 'elsewhere/refinery']],
  );
  // Then a fresh claim by this rig's refinery whose run died: the next run (holding the lock)
  // takes it over at once.
  claimMR(BeadStore.open(t.root), mr, 'lost/refinery', { staleMs: 60_000 });
  assert.equal(t.ok('mq', 'list', 'lost', '--ready', '--json'), []);
  // Another run holds the rig's lock (this process is alive): skipped, nothing touched.
  const lock = path.join(t.root, 'lost', '.runtime', 'refinery.lock');
  fs.writeFileSync(lock, JSON.stringify({ pid: process.pid, at: 'now' }));
  assert.match((await rig.tick()).skipped ?? '', 'another refinery run holds the lock');
  fs.rmSync(lock);
  rig.set('merge_queue.enabled', false);
  assert.is((await rig.tick()).skipped, 'merge_queue.enabled is false');
  rig.set('merge_queue.enabled', true);
  const ok = await rig.tick();
  assert.equal(ok.merged, [mr], JSON.stringify(ok));
  assert.is((await bead(t, mr)).metadata?.branch_missing, undefined);
});

test.run();
