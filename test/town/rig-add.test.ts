// gt rig add: layout, registry, ledger, prefix rules, refusals and complete rollback (failed
// steps and interrupts). Real git in temporary directories.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GT, run } from '../helpers.ts';
import { gitIn, ledgerCount, makeTown, snapshot, type Town, townCommits } from './town-fixture.ts';

function show(t: Town, id: string): any {
  const r = t.bd('show', id, '--json');
  assert.is(r.code, 0, `bd show ${id}: ${r.stderr}`);
  const j = r.json();
  return Array.isArray(j) ? j[0] : j;
}

test('rig add from a local repository: layout, branches, registry, committed config, ledger', () => {
  const t = makeTown({ branch: 'trunk' });
  const srcHead = gitIn(t.src, t.env, 'rev-parse', 'HEAD').trim();
  const ledgerBefore = ledgerCount(t);
  const commitsBefore = townCommits(t);
  const r = t.ok('rig', 'add', 'myproject', path.relative(t.root, t.src), '--json');
  assert.is(r.name, 'myproject');
  assert.is(r.prefix, 'my');
  assert.is(r.default_branch, 'trunk', 'default branch detected from the source HEAD');
  assert.is(r.head, srcHead);
  assert.is(r.git_url, t.src, 'a relative path is stored absolute');
  const rig = path.join(t.root, 'myproject');
  for (const d of ['.repo.git', 'mayor/rig', 'refinery/rig', 'crew', 'witness', 'polecats', 'settings'])
    assert.ok(fs.statSync(path.join(rig, d)).isDirectory(), d);
  // The shared bare repository holds the branch; it tracks origin in refs/remotes.
  const bare = path.join(rig, '.repo.git');
  assert.is(t.git(bare, 'rev-parse', '--is-bare-repository').trim(), 'true');
  assert.is(t.git(bare, 'rev-parse', 'refs/heads/trunk').trim(), srcHead);
  assert.is(t.git(bare, 'rev-parse', 'refs/remotes/origin/trunk').trim(), srcHead);
  // Refinery: a worktree of the bare repository, on the default branch.
  const refinery = path.join(rig, 'refinery', 'rig');
  assert.is(t.git(refinery, 'symbolic-ref', 'HEAD').trim(), 'refs/heads/trunk');
  assert.is(
    fs.realpathSync(path.resolve(refinery, t.git(refinery, 'rev-parse', '--git-common-dir').trim())),
    fs.realpathSync(bare),
  );
  assert.ok(fs.existsSync(path.join(refinery, 'README.md')));
  // Mayor: a clone borrowing objects from the bare repository, on the default branch.
  const mayor = path.join(rig, 'mayor', 'rig');
  assert.is(t.git(mayor, 'symbolic-ref', 'HEAD').trim(), 'refs/heads/trunk');
  assert.match(
    fs.readFileSync(path.join(mayor, '.git', 'objects', 'info', 'alternates'), 'utf8'),
    /\.repo\.git/,
  );
  // Configuration files, committed in one town commit; the working tree stays clean.
  const config = JSON.parse(fs.readFileSync(path.join(rig, 'config.json'), 'utf8'));
  assert.equal(
    { type: config.type, name: config.name, prefix: config.beads.prefix, branch: config.default_branch },
    { type: 'rig', name: 'myproject', prefix: 'my', branch: 'trunk' },
  );
  assert.is(
    JSON.parse(fs.readFileSync(path.join(rig, 'settings', 'config.json'), 'utf8')).type,
    'rig-settings',
  );
  const rigs = JSON.parse(fs.readFileSync(path.join(t.root, 'mayor', 'rigs.json'), 'utf8'));
  assert.is(rigs.rigs.myproject.beads.prefix, 'my');
  assert.is(rigs.rigs.myproject.git_url, t.src);
  assert.is(townCommits(t), commitsBefore + 1);
  const files = t.git(t.root, 'show', '--name-only', '--format=', 'HEAD').trim().split('\n').sort();
  assert.equal(files, ['mayor/rigs.json', 'myproject/config.json', 'myproject/settings/config.json']);
  assert.is(t.git(t.root, 'status', '--porcelain'), '', 'clones and worktrees are ignored by the town');
  // Ledger: exactly one commit with the prefix, witness, refinery and rig beads.
  assert.is(ledgerCount(t), ledgerBefore + 1);
  assert.is(show(t, 'my-myproject-witness').issue_type, 'agent');
  assert.is(show(t, 'my-myproject-refinery').metadata.role, 'refinery');
  assert.is(show(t, 'my-rig-myproject').issue_type, 'rig');
  assert.match(t.bd('config', 'get', 'allowed_prefixes').stdout, /(^|,)my(,|\s|$)/);
  const created = t.bd('create', 'work in the rig', '--id', 'my-abc', '--json');
  assert.is(created.code, 0, created.stderr);
  // Adding it again is refused.
  const again = t.gt('rig', 'add', 'myproject', t.src);
  assert.is(again.code, 4);
  assert.match(again.stderr, /already exists/);
});

test('prefix: derived from the name, collisions name the other rig, --prefix resolves them', () => {
  const t = makeTown();
  assert.is(t.ok('rig', 'add', 'gastown', t.src, '--json').prefix, 'gt');
  const before = snapshot(t);
  const clash = t.gt('rig', 'add', 'gravytown', t.src);
  assert.is(clash.code, 4);
  assert.match(clash.stderr, /prefix "gt" is already used by rig "gastown"/);
  assert.match(clash.stderr, /--prefix/);
  assert.is(snapshot(t), before);
  const hq = t.gt('rig', 'add', 'gravytown', t.src, '--prefix', 'hq');
  assert.is(hq.code, 2);
  assert.match(hq.stderr, /belongs to the town/);
  for (const bad of ['GT', '1ab', 'a-b', 'abcdefghijk', '']) {
    const r = t.gt('rig', 'add', 'gravytown', t.src, '--prefix', bad);
    assert.is(r.code, 2, `prefix ${JSON.stringify(bad)}: ${r.stderr}`);
    assert.match(r.stderr, /invalid prefix/);
  }
  assert.is(snapshot(t), before, 'refused adds change nothing');
  assert.is(t.ok('rig', 'add', 'gravytown', t.src, '--prefix', 'gv', '--json').prefix, 'gv');
  assert.ok(t.git(t.root, 'ls-files').includes('gravytown/config.json'));
});

test('invalid rig names: exit 2, nothing created', () => {
  const t = makeTown();
  const before = snapshot(t);
  for (const bad of [
    'my-proj',
    'my.proj',
    'a/b',
    '../x',
    'has space',
    'hq',
    'mayor',
    'settings',
    '9lives',
    '',
  ]) {
    const r = t.gt('rig', 'add', bad, t.src);
    assert.is(r.code, 2, `${JSON.stringify(bad)}: ${r.stderr}`);
    assert.match(r.stderr, /invalid rig name|reserved/);
  }
  assert.is(t.gt('rig', 'add', 'onlyname').code, 2, 'missing URL');
  assert.is(t.gt('rig', 'add', 'ok', t.src, '--bogus').code, 2, 'unknown flag');
  assert.is(snapshot(t), before);
});

test('unreachable URL, non-repository, bad branch and a failing step: clear error, full rollback', () => {
  const t = makeTown();
  t.ok('rig', 'add', 'first', t.src); // so a rollback must leave an existing rig intact too
  const before = snapshot(t);
  const ledger = ledgerCount(t);
  const notRepo = path.join(t.base, 'plain');
  fs.mkdirSync(notRepo);
  const cases: [string[], number, RegExp][] = [
    [
      ['rig', 'add', 'second', 'file:///nonexistent/repo.git'],
      6,
      /cannot read the repository file:\/\/\/nonexistent\/repo\.git/,
    ],
    [
      ['rig', 'add', 'second', 'http://127.0.0.1:9/repo.git'],
      6,
      /cannot read the repository http:\/\/127\.0\.0\.1:9\/repo\.git/,
    ],
    [['rig', 'add', 'second', path.join(t.base, 'missing')], 3, /no such directory .*missing/],
    [['rig', 'add', 'second', notRepo], 6, /not a git repository/],
    [['rig', 'add', 'second', t.src, '--branch', 'nope'], 3, /branch "nope" does not exist .*branches: main/],
    [['rig', 'add', 'second', t.src, '--branch', 'bad..name'], 2, /invalid branch name/],
    [['rig', 'add', 'second', '--', '-oops'], 2, /invalid repository/],
  ];
  for (const [args, code, msg] of cases) {
    const r = t.gt(...args);
    assert.is(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, msg);
    assert.is(snapshot(t), before, `${args.join(' ')} left something behind`);
  }
  // A failure at every step after the first directory exists: everything is undone.
  for (const step of ['clone', 'mayor', 'refinery', 'files', 'commit', 'ledger']) {
    const env = { ...t.env, GT_FAULT_INJECT: `rig-add:${step}` };
    const r = spawnGt(t, env, ['rig', 'add', 'second', t.src]);
    assert.is(r.code, 1, `${step}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`injected fault at rig-add:${step}`));
    assert.not.match(r.stderr, /rollback was incomplete/);
    assert.is(snapshot(t), before, `failure at ${step} left something behind`);
    assert.is(ledgerCount(t), ledger, `failure at ${step} committed to the ledger`);
  }
  assert.not.ok(fs.existsSync(path.join(t.root, 'second')));
  assert.is(t.ok('rig', 'list', '--json').length, 1);
  // And after all that, the add works.
  assert.is(t.ok('rig', 'add', 'second', t.src, '--json').name, 'second');
});

function spawnGt(t: Town, env: NodeJS.ProcessEnv, args: string[]) {
  return run(GT, args, { cwd: t.root, env });
}

test('an interrupt (Ctrl-C) in the middle of rig add rolls everything back', async () => {
  const t = makeTown();
  const before = snapshot(t);
  const ledger = ledgerCount(t);
  const child = spawn(process.execPath, [GT, 'rig', 'add', 'alpha', t.src], {
    cwd: t.root,
    env: { ...t.env, GT_FAULT_INJECT: 'rig-add:pause-refinery' },
    detached: true, // its own process group, like a shell job receiving Ctrl-C
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  // Wait until it pauses at the refinery step (its `sleep` child is running).
  const pausing = () =>
    fs.readdirSync('/proc').some((p) => {
      try {
        const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
        return (
          stat.includes('(sleep)') &&
          Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === child.pid
        );
      } catch {
        return false;
      }
    });
  const deadline = Date.now() + 15_000;
  while (!pausing() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.ok(
    fs.existsSync(path.join(t.root, 'alpha', 'mayor', 'rig', 'README.md')),
    'got as far as the mayor clone',
  );
  process.kill(-child.pid!, 'SIGINT');
  const code = await exited;
  assert.is(code, 130, stderr);
  assert.match(stderr, /interrupted/);
  assert.is(snapshot(t), before);
  assert.is(ledgerCount(t), ledger);
  assert.not.ok(fs.existsSync(path.join(t.root, 'alpha')));
});

test.run();
