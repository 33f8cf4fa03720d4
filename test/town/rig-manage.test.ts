// gt rig list, status, remove (with rollback), settings layers, park and dock. Real git in
// temporary directories.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { getSetting } from '../../src/town/settings.ts';
import { GT, run } from '../helpers.ts';
import { gitIn, ledgerCount, makeTown, snapshot, type Town, townCommits } from './town-fixture.ts';

function show(t: Town, id: string): any {
  const r = t.bd('show', id, '--json');
  assert.is(r.code, 0, `bd show ${id}: ${r.stderr}`);
  const j = r.json();
  return Array.isArray(j) ? j[0] : j;
}

test('rig list and status; remove keeps files, refuses dirty polecats, --purge deletes', () => {
  const t = makeTown();
  t.ok('rig', 'add', 'alpha', t.src, '--push-url', 'file:///tmp/fork.git');
  t.ok('rig', 'add', 'beta', t.src);
  const list = t.ok('rig', 'list', '--json');
  assert.equal(
    list.map((r: any) => [r.name, r.prefix, r.default_branch, r.parked, r.docked]),
    [
      ['alpha', 'al', 'main', false, false],
      ['beta', 'be', 'main', false, false],
    ],
  );
  // A polecat worktree with uncommitted work.
  const alpha = path.join(t.root, 'alpha');
  const pc = path.join(alpha, 'polecats', 'toast', 'alpha');
  t.git(path.join(alpha, '.repo.git'), 'worktree', 'add', '-q', '-b', 'polecat/toast/x', pc, 'main');
  fs.writeFileSync(path.join(pc, 'wip.txt'), 'half done\n');
  const st = t.ok('rig', 'status', 'alpha', '--json');
  assert.is(st.prefix, 'al');
  assert.is(st.default_branch, 'main');
  assert.is(st.head, gitIn(t.src, t.env, 'rev-parse', 'HEAD').trim());
  assert.is(st.push_url, 'file:///tmp/fork.git');
  assert.is(
    t.git(path.join(alpha, '.repo.git'), 'remote', 'get-url', '--push', 'origin').trim(),
    'file:///tmp/fork.git',
  );
  assert.equal(st.polecats, ['toast']);
  assert.equal(st.missing, []);
  assert.equal(st.worktrees.map((w: any) => [path.relative(alpha, w.path), w.branch]).sort(), [
    ['polecats/toast/alpha', 'polecat/toast/x'],
    ['refinery/rig', 'main'],
  ]);
  // Status from inside the rig needs no name; outside with several rigs it lists all.
  const inside = run(GT, ['rig', 'status', '--json'], { cwd: path.join(alpha, 'witness'), env: t.env });
  assert.is(inside.json().name, 'alpha');
  assert.is(t.ok('rig', 'status', '--json').length, 2);
  assert.is(t.gt('rig', 'status', 'nope').code, 3);

  const before = snapshot(t);
  const refused = t.gt('rig', 'remove', 'alpha');
  assert.is(refused.code, 4);
  assert.match(refused.stderr, /alpha\/polecats\/toast\/alpha \(1 uncommitted change/);
  assert.is(snapshot(t), before);
  const removed = t.ok('rig', 'remove', 'alpha', '--force', '--json');
  assert.is(removed.purged, false);
  assert.ok(fs.existsSync(path.join(pc, 'wip.txt')), 'files are kept');
  assert.equal(
    t.ok('rig', 'list', '--json').map((r: any) => r.name),
    ['beta'],
  );
  assert.match(t.git(t.root, 'log', '-1', '--format=%s'), /gt rig remove alpha/);
  assert.is(t.git(t.root, 'status', '--porcelain'), '');
  assert.is(show(t, 'al-rig-alpha').status, 'closed');
  const readd = t.gt('rig', 'add', 'alpha', t.src);
  assert.is(readd.code, 4);
  assert.match(readd.stderr, /already exists/);

  // --purge: the directory and its committed files go; a failure half-way puts everything back.
  const beforePurge = snapshot(t);
  for (const step of ['commit', 'ledger']) {
    const r = spawnGt(t, { ...t.env, GT_FAULT_INJECT: `rig-remove:${step}` }, [
      'rig',
      'remove',
      'beta',
      '--purge',
    ]);
    assert.is(r.code, 1, r.stderr);
    assert.not.match(r.stderr, /rollback was incomplete/);
    assert.is(snapshot(t), beforePurge, `failed remove at ${step} left changes`);
  }
  t.ok('rig', 'remove', 'beta', '--purge');
  assert.not.ok(fs.existsSync(path.join(t.root, 'beta')));
  assert.not.ok(t.git(t.root, 'ls-files').includes('beta/'));
  assert.is(t.git(t.root, 'status', '--porcelain'), '');
  assert.is(t.ok('rig', 'add', 'beta', t.src, '--json').prefix, 'be', 'a purged name can be reused');
  assert.is(show(t, 'be-rig-beta').status, 'open', 'the rig bead is reopened');
  assert.is(t.gt('rig', 'remove', 'nope').code, 3);
});

test('settings: rig layer show/set/unset; precedence default < town < rig < env < flag', () => {
  const t = makeTown();
  t.ok('rig', 'add', 'alpha', t.src);
  const key = 'operational.polecat.namepool_size';
  const origin = (env = t.env) => {
    const r = run(GT, ['config', 'get', key, '--rig', 'alpha', '--show-origin', '--json'], {
      cwd: t.root,
      env,
    });
    assert.is(r.code, 0, r.stderr);
    const j = r.json();
    return [j.value, j.origin];
  };
  assert.equal(origin(), [50, 'default']);
  t.ok('config', 'set', key, '40');
  assert.equal(origin(), [40, 'town']);
  const set = t.ok('rig', 'settings', 'set', 'alpha', key, '30', '--json');
  assert.is(set.value, 30);
  assert.equal(origin(), [30, 'rig']);
  assert.match(t.git(t.root, 'log', '-1', '--format=%s'), /gt rig settings set alpha/);
  assert.is(t.git(t.root, 'status', '--porcelain'), '', 'the rig settings are committed');
  assert.equal(origin({ ...t.env, GT_CFG_OPERATIONAL__POLECAT__NAMEPOOL_SIZE: '20' }), [20, 'env']);
  const flagged = getSetting(key, {
    townRoot: t.root,
    rig: 'alpha',
    env: { GT_CFG_OPERATIONAL__POLECAT__NAMEPOOL_SIZE: '20' },
    flags: { [key]: 10 },
  });
  assert.equal(flagged, { value: 10, origin: 'flag' });
  assert.equal(t.ok('rig', 'settings', 'show', 'alpha', '--json').operational, {
    polecat: { namepool_size: 30 },
  });
  assert.equal(t.ok('rig', 'settings', 'show', 'alpha', key, '--json').origin, 'rig');
  t.ok('rig', 'settings', 'set', 'alpha', 'merge_queue.test_command', 'npm test');
  assert.is(t.ok('rig', 'settings', 'show', 'alpha', 'merge_queue.test_command', '--json').value, 'npm test');
  assert.is(t.ok('rig', 'settings', 'unset', 'alpha', key, '--json').removed, true);
  assert.equal(origin(), [40, 'town']);
  assert.is(t.ok('rig', 'settings', 'unset', 'alpha', key, '--json').removed, false);
  assert.is(t.gt('rig', 'settings', 'set', 'nope', key, '1').code, 3);
  assert.is(t.gt('rig', 'settings', 'set', 'alpha', 'bad key!', '1').code, 2);
  assert.is(t.gt('rig', 'settings', 'set', 'alpha', 'type', 'x').code, 2);
  assert.is(t.gt('rig', 'settings').code, 2);
});

test('park is local and uncommitted; dock is a label on the rig bead, one ledger commit', () => {
  const t = makeTown();
  t.ok('rig', 'add', 'alpha', t.src);
  const commits = townCommits(t);
  const ledger = ledgerCount(t);
  assert.is(t.ok('rig', 'park', 'alpha', '--json').changed, true);
  assert.ok(fs.existsSync(path.join(t.root, 'alpha', '.runtime', 'parked.json')));
  assert.is(t.ok('rig', 'park', 'alpha', '--json').changed, false);
  assert.is(t.ok('rig', 'list', '--json')[0].parked, true);
  assert.ok(t.ok('rig', 'status', 'alpha', '--json').parked.parked_at);
  assert.is(townCommits(t), commits);
  assert.is(ledgerCount(t), ledger);
  assert.is(t.git(t.root, 'status', '--porcelain'), '');
  assert.is(t.ok('rig', 'unpark', 'alpha', '--json').changed, true);
  assert.is(t.ok('rig', 'unpark', 'alpha', '--json').changed, false);
  assert.is(t.ok('rig', 'list', '--json')[0].parked, false);

  assert.is(t.ok('rig', 'dock', 'alpha', '--json').changed, true);
  assert.is(ledgerCount(t), ledger + 1);
  assert.ok(show(t, 'al-rig-alpha').labels.includes('status:docked'));
  assert.is(t.ok('rig', 'dock', 'alpha', '--json').changed, false);
  assert.is(ledgerCount(t), ledger + 1, 'docking twice commits nothing');
  assert.is(t.ok('rig', 'list', '--json')[0].docked, true);
  assert.is(t.ok('rig', 'status', 'alpha', '--json').docked, true);
  t.ok('rig', 'undock', 'alpha');
  assert.not.ok(show(t, 'al-rig-alpha').labels.includes('status:docked'));
  assert.is(ledgerCount(t), ledger + 2);
  assert.is(townCommits(t), commits);
  for (const cmd of ['park', 'unpark', 'dock', 'undock']) assert.is(t.gt('rig', cmd, 'nope').code, 3, cmd);
});

function spawnGt(t: Town, env: NodeJS.ProcessEnv, args: string[]) {
  return run(GT, args, { cwd: t.root, env });
}

test.run();
