// gt status and gt doctor on a real town: one ledger read for the whole picture; doctor finds
// and fixes a broken refinery worktree, a broken polecat worktree link, a stale ledger lock, a
// stale pid file, a corrupt town file, and a session whose agent died.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BD, run } from '../helpers.ts';
import { FAKE_AGENT, killTmuxServer, until } from '../runtime/session-fixture.ts';
import { makeTown } from './town-fixture.ts';

const SOCKET = `gt-test-doctor-${process.pid}`;
process.on('exit', () => killTmuxServer(SOCKET));

function townWithRig() {
  const t = makeTown({ extraEnv: { GT_TMUX_SOCKET: SOCKET } });
  t.ok('rig', 'add', 'myrig', t.src);
  return t;
}

const check = (report: any, id: string) => report.checks.find((c: any) => c.id === id);

test('gt status: rigs, agents with session state, hooked work and counts, as JSON', () => {
  const t = townWithRig();
  const id = (t.bd('create', 'Build the thing', '--json').json() as any).id;
  const hooked = t.bd('update', id, '-s', 'hooked', '-a', 'myrig/polecats/nux', '--json');
  assert.is(hooked.code, 0, hooked.stderr);
  const s = t.ok('status', '--json');
  assert.is(s.town.root, t.root);
  assert.equal(
    s.rigs.map((r: any) => [r.name, r.prefix, r.parked, r.docked]),
    [['myrig', 'my', false, false]],
  );
  assert.equal(
    s.agents.map((a: any) => a.actor),
    ['deacon', 'mayor', 'myrig/refinery', 'myrig/witness'],
  );
  assert.ok(s.agents.every((a: any) => a.session_state === 'dead'));
  assert.equal(s.agents.find((a: any) => a.actor === 'mayor').session, 'hq-mayor');
  assert.equal(s.hooks, [
    { bead: id, title: 'Build the thing', assignee: 'myrig/polecats/nux', molecule: null, progress: null },
  ]);
  assert.is(s.counts.hooked, 1);
  assert.match(t.ok('status'), /myrig \[my\]/);
});

test('bd inside a rig gives new beads the rig prefix; elsewhere in the town, hq', () => {
  const t = townWithRig();
  const inRig = run(BD, ['q', 'rig work'], { cwd: path.join(t.root, 'myrig', 'mayor', 'rig'), env: t.env });
  assert.match(inRig.stdout.trim(), /^my-[0-9a-z]{3}$/);
  const inMayor = run(BD, ['q', 'town work'], { cwd: path.join(t.root, 'mayor'), env: t.env });
  assert.match(inMayor.stdout.trim(), /^hq-[0-9a-z]{3}$/);
});

test('gt doctor: a healthy town is all ok; breakage is found, named, and fixed', () => {
  const t = townWithRig();
  const healthy = t.gt('doctor', '--json');
  assert.is(healthy.code, 0, healthy.stdout);
  assert.is(healthy.json().counts.error, 0);

  // A broken refinery worktree (its .git link gone) and a stale ledger lock of a dead process.
  const refinery = path.join(t.root, 'myrig', 'refinery', 'rig');
  fs.rmSync(path.join(refinery, '.git'));
  const lockDir = path.join(t.root, '.git', 'gt', 'locks');
  fs.mkdirSync(lockDir, { recursive: true });
  const dead = spawnSync(process.execPath, ['-e', 'process.pid']).pid!;
  fs.writeFileSync(
    path.join(lockDir, 'refs_gt_ledger.lock'),
    JSON.stringify({ pid: dead, host: os.hostname(), time: Date.now(), nonce: 'x' }),
  );
  fs.mkdirSync(path.join(t.root, '.runtime', 'pids'), { recursive: true });
  fs.writeFileSync(path.join(t.root, '.runtime', 'pids', 'hq-ghost.pid'), `${dead}\n`);
  fs.writeFileSync(path.join(t.root, 'mayor', 'daemon.json'), '{ broken');

  const sick = t.gt('doctor', '--json');
  assert.is(sick.code, 1);
  const r = sick.json();
  assert.is(check(r, 'rig.myrig').status, 'error');
  assert.match(check(r, 'rig.myrig').detail, /refinery\/rig/);
  assert.is(check(r, 'ledger.locks').status, 'warn');
  assert.is(check(r, 'runtime').status, 'warn');
  assert.is(check(r, 'town-files').status, 'error');
  assert.match(check(r, 'town-files').detail, /daemon\.json is not valid JSON/);

  const fixed = t.gt('doctor', '--fix', '--json');
  assert.is(fixed.code, 0, fixed.stdout);
  const f = fixed.json();
  for (const id of ['rig.myrig', 'ledger.locks', 'runtime', 'town-files']) {
    assert.is(check(f, id).status, 'ok', `${id}: ${check(f, id).detail}`);
    assert.ok(check(f, id).fixed, id);
  }
  assert.ok(fs.existsSync(path.join(refinery, '.git')));
  assert.is(t.git(refinery, 'rev-parse', '--abbrev-ref', 'HEAD').trim(), 'main');
  assert.not.ok(fs.existsSync(path.join(lockDir, 'refs_gt_ledger.lock')));
  assert.equal(JSON.parse(fs.readFileSync(path.join(t.root, 'mayor', 'daemon.json'), 'utf8')).type, 'daemon');
  assert.is(t.gt('doctor').code, 0);
});

test('gt doctor: a polecat worktree with a broken link is repaired in place, its work kept', () => {
  const t = townWithRig();
  const repoGit = path.join(t.root, 'myrig', '.repo.git');
  const wt = path.join(t.root, 'myrig', 'polecats', 'nux', 'myrig');
  t.git(repoGit, 'worktree', 'add', '-b', 'polecat/nux/x', wt, 'main');
  fs.writeFileSync(path.join(wt, 'work.txt'), 'precious, uncommitted');
  // Moving the shared repository's worktree metadata away breaks the link the way a crash can.
  const meta = path.join(repoGit, 'worktrees', 'myrig');
  fs.renameSync(meta, `${meta}-moved`);
  const sick = t.gt('doctor', '--json');
  assert.is(sick.code, 1);
  assert.match(check(sick.json(), 'rig.myrig').detail, /polecat worktree nux/);
  fs.renameSync(`${meta}-moved`, meta);
  fs.writeFileSync(path.join(wt, '.git'), `gitdir: ${path.join(repoGit, 'worktrees', 'elsewhere')}\n`);
  const fixed = t.gt('doctor', '--fix', '--json');
  assert.is(fixed.code, 0, fixed.stdout);
  assert.is(fs.readFileSync(path.join(wt, 'work.txt'), 'utf8'), 'precious, uncommitted');
  assert.is(t.git(wt, 'rev-parse', '--abbrev-ref', 'HEAD').trim(), 'polecat/nux/x');
});

test('gt doctor: a session whose agent died is reported and restarted', async () => {
  const t = townWithRig();
  const settingsFile = path.join(t.root, 'settings', 'config.json');
  const settings = JSON.parse(fs.readFileSync(settingsFile, 'utf8'));
  settings.default_agent = 'fake';
  settings.agents = {
    fake: {
      command: process.execPath,
      args: [FAKE_AGENT],
      process_names: ['node'],
      ready_prompt_prefix: '❯ ',
    },
  };
  fs.writeFileSync(settingsFile, JSON.stringify(settings));
  t.ok('mayor', 'start');
  const pid = t.ok('agents', '--json').find((s: any) => s.session === 'hq-mayor').pane_pid;
  process.kill(pid, 'SIGKILL');
  await until('mayor seen as a zombie', () =>
    t.ok('agents', '--json').some((s: any) => s.session === 'hq-mayor' && s.state === 'zombie'),
  );
  const sick = t.gt('doctor', '--json').json();
  assert.is(check(sick, 'sessions').status, 'warn');
  assert.match(check(sick, 'sessions').detail, /hq-mayor/);
  const fixed = t.gt('doctor', '--fix', '--json').json();
  assert.ok(check(fixed, 'sessions').fixed);
  await until('mayor alive again', () =>
    t.ok('agents', '--json').some((s: any) => s.session === 'hq-mayor' && s.state === 'alive'),
  );
  t.ok('down');
});

test.run();
