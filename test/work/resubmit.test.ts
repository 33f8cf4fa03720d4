// Resubmission after a failed merge, end to end with real git, real tmux and the scripted agent:
// a polecat with a bad-commit fault finishes with gt done (MR on a commit with conflict
// markers); the refinery's MERGE_FAILED nudge (typed here with `gt nudge`) makes the idle agent
// check out the branch, remove the bad file, commit "Fix: gate failure (<id>)" and run
// `gt done --issue <id>`: a new MR on a new commit without the file, the old one superseded.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseMergeFailed } from '../../src/runtime/scripted-agent.ts';
import { BD, run } from '../helpers.ts';
import { killTmuxServer, until } from '../runtime/session-fixture.ts';
import { makeTown } from '../town/town-fixture.ts';

const socket = `gt-test-resubmit-${process.pid}`;
process.on('exit', () => killTmuxServer(socket));

test('parseMergeFailed reads the refinery nudge, with or without the nudge prefix', () => {
  assert.equal(
    parseMergeFailed(
      "[nudge from myrig/refinery] MERGE_FAILED: branch=polecat/nux/my-abc@k2 issue=my-abc type=gate error=x.txt:1: leftover conflict marker — fix and resubmit with 'gt done'",
    ),
    { branch: 'polecat/nux/my-abc@k2', issue: 'my-abc', type: 'gate' },
  );
  assert.equal(parseMergeFailed('MERGE_FAILED: branch=b issue=i-1 type=conflict'), {
    branch: 'b',
    issue: 'i-1',
    type: 'conflict',
  });
  assert.is(parseMergeFailed('MERGE_FAILED: branch=-rf issue=x'), null);
  assert.is(parseMergeFailed('MERGE_FAILED: branch=a..b issue=x'), null);
  assert.is(parseMergeFailed('merge went fine'), null);
});

test('bad-commit agent → gt done → MERGE_FAILED nudge → fixed commit, new MR, old superseded', async () => {
  const t = makeTown({
    extraEnv: {
      GT_TMUX_SOCKET: socket,
      GT_SCRIPTED_POLL_MS: '200',
      GT_SCRIPTED_STEP_DELAY_MS: '100',
      GT_SCRIPTED_FAIL: 'bad-commit:implement',
    },
  });
  t.ok('rig', 'add', 'myrig', t.src);
  const repoGit = path.join(t.root, 'myrig', '.repo.git');
  const rigDir = path.join(t.root, 'myrig');
  const created = run(BD, ['create', 'Resubmit me', '--json'], { cwd: rigDir, env: t.env });
  assert.is(created.code, 0, created.stderr);
  const cj = created.json();
  const id = (Array.isArray(cj) ? cj[0] : cj).id as string;
  const show = (bid: string) => {
    const j = t.bd('show', bid, '--json').json();
    return Array.isArray(j) ? j[0] : j;
  };
  const s = t.ok('sling', id, 'myrig', '--agent', 'scripted', '--no-convoy', '--json').items[0];
  const name = s.polecat.name as string;
  const branch = s.polecat.branch as string;
  // The molecule poured for a rig's polecat carries the rig's prefix.
  assert.match(s.molecule, /^my-mol-/);

  const mr1 = await until(
    'the first MR',
    () => {
      const m = show(id).metadata?.active_mr;
      return typeof m === 'string' ? m : null;
    },
    40000,
  );
  const sha1 = show(mr1).metadata.commit_sha as string;
  const files1 = t.git(t.root, '--git-dir', repoGit, 'ls-tree', '-r', '--name-only', sha1);
  assert.match(files1, /GT_BAD_COMMIT-implement\.txt/);
  // Idle, no hook, off the branch: the state the refinery's nudge finds.
  await until('idle', () => show(`my-myrig-polecat-${name}`).metadata.agent_state === 'idle', 10000);
  assert.is(show(`my-myrig-polecat-${name}`).metadata.hook_bead, null);

  const nudge = t.gt(
    'nudge',
    `myrig/polecats/${name}`,
    `MERGE_FAILED: branch=${branch} issue=${id} type=gate error=GT_BAD_COMMIT-implement.txt:1: leftover conflict marker — fix and resubmit with 'gt done'`,
  );
  assert.is(nudge.code, 0, nudge.stderr);

  const mr2 = await until(
    'the second MR',
    () => {
      const m = show(id).metadata?.active_mr;
      return typeof m === 'string' && m !== mr1 ? m : null;
    },
    30000,
  );
  const meta2 = show(mr2).metadata;
  assert.is(meta2.branch, branch);
  assert.is.not(meta2.commit_sha, sha1);
  const files2 = t.git(t.root, '--git-dir', repoGit, 'ls-tree', '-r', '--name-only', meta2.commit_sha);
  assert.not.match(files2, /GT_BAD_COMMIT/);
  assert.is(
    t.git(t.root, '--git-dir', repoGit, 'log', '-1', '--format=%s', meta2.commit_sha).trim(),
    `Fix: gate failure (${id})`,
  );
  assert.is(t.git(t.root, '--git-dir', repoGit, 'rev-parse', `${meta2.commit_sha}^`).trim(), sha1);
  const old = show(mr1);
  assert.is(old.status, 'closed');
  assert.is(old.close_reason, `superseded by ${mr2}`);
  assert.is(show(mr2).status, 'open');
  assert.is(show(id).status, 'in_progress');
  await until('idle again', () => show(`my-myrig-polecat-${name}`).metadata.agent_state === 'idle', 10000);
  const pane = spawnSync('tmux', ['-L', socket, 'capture-pane', '-p', '-t', `=${s.session.name}:`], {
    env: t.env,
    encoding: 'utf8',
  }).stdout;
  assert.match(pane, /Resubmitted/);
  // The fault is recorded as fired for this issue and step (it does not happen a second time).
  const fired = JSON.parse(
    fs.readFileSync(path.join(t.root, '.runtime', 'scripted', 'faults-fired.json'), 'utf8'),
  );
  assert.equal(fired, [`bad-commit:${id}:implement`]);
});

// Before the temporary town is removed (the agent writes into it while alive).
test.after(() => killTmuxServer(socket));

test.run();
