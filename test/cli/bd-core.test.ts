// bd lifecycle commands end to end against the built bundle and real git.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BD, bdRepo, run, tmpRepo } from '../helpers.ts';

const commits = (r: { git(...a: string[]): string }) =>
  Number(r.git('rev-list', '--count', 'refs/beads/ledger').trim());

test('init: creates the ledger ref, is harmless twice, refuses another prefix', () => {
  const repo = tmpRepo();
  const bd = (...a: string[]) => run(BD, a, { cwd: repo.dir, env: repo.env });
  const first = bd('init', '--prefix', 'demo', '--json');
  assert.is(first.code, 0, first.stderr);
  assert.equal(first.json().created, true);
  assert.is(first.json().ref, 'refs/beads/ledger');
  const again = bd('init', '--json');
  assert.is(again.code, 0);
  assert.is(again.json().created, false);
  assert.is(again.json().prefix, 'demo');
  const other = bd('init', '--prefix', 'zz');
  assert.is(other.code, 4);
  assert.match(other.stderr, /already initialised/);
  assert.is(repo.git('rev-list', '--count', 'refs/beads/ledger').trim(), '1');
});

test('commands outside a git repository or before init explain the fix', () => {
  const repo = tmpRepo();
  const notInit = run(BD, ['list'], { cwd: repo.dir, env: repo.env });
  assert.is(notInit.code, 1);
  assert.match(notInit.stderr, /bd init/);
  const outside = run(BD, ['list'], { cwd: repo.home, env: repo.env });
  assert.is(outside.code, 1);
  assert.match(outside.stderr, /git init/);
});

test('create: fields, labels, one commit, JSON shape', () => {
  const r = bdRepo();
  const before = commits(r);
  const b = r.ok(
    'create',
    'Fix login',
    '-t',
    'bug',
    '-p',
    'P1',
    '-d',
    'Users cannot log in',
    '-l',
    'auth,ui',
    '-a',
    'alice',
    '--json',
  );
  assert.match(b.id, /^bd-[0-9a-z]{3}$/);
  assert.is(b.title, 'Fix login');
  assert.is(b.issue_type, 'bug');
  assert.is(b.priority, 1);
  assert.is(b.status, 'open');
  assert.is(b.assignee, 'alice');
  assert.is(b.owner, 'tester@example.com');
  assert.is(b.created_by, 'tester'); // git user.name unset → $USER (spec §1.1 actor chain)
  assert.equal(b.labels, ['auth', 'ui']);
  assert.is(b.closed_at, undefined);
  assert.is(commits(r), before + 1);
  const log = r.git('log', '-1', '--format=%an|%s', 'refs/beads/ledger').trim();
  assert.is(log, `tester|create ${b.id}: Fix login`);
  const yaml = r.git(
    'show',
    `refs/beads/ledger:beads/${r
      .git('ls-tree', '-r', '--name-only', 'refs/beads/ledger')
      .split('\n')
      .find((p) => p.endsWith(`${b.id}.yaml`))!
      .slice(6)}`,
  );
  assert.match(yaml, /title: Fix login/);
});

test('create: --actor and BD_ACTOR set who wrote it', () => {
  const r = bdRepo();
  const a = r.ok('create', 'A', '--actor', 'gastown/polecats/nux', '--json');
  assert.is(a.created_by, 'gastown/polecats/nux');
  assert.is(r.git('log', '-1', '--format=%an', 'refs/beads/ledger').trim(), 'gastown/polecats/nux');
  const b = run(BD, ['create', 'B', '--json'], { cwd: r.dir, env: { ...r.env, BD_ACTOR: 'mayor' } }).json();
  assert.is(b.created_by, 'mayor');
});

test('create: --parent gives P.1, P.2 and inherits labels; --deps adds typed edges', () => {
  const r = bdRepo();
  const epic = r.ok('create', 'Epic', '-t', 'epic', '-l', 'team-a', '--json');
  const c1 = r.ok('create', 'Child one', '--parent', epic.id, '--json');
  const c2 = r.ok('create', 'Child two', '--parent', epic.id, '--json');
  assert.is(c1.id, `${epic.id}.1`);
  assert.is(c2.id, `${epic.id}.2`);
  assert.equal(c1.labels, ['team-a']);
  assert.equal(
    c1.dependencies.map((d: any) => [d.type, d.depends_on_id]),
    [['parent-child', epic.id]],
  );
  const t = r.ok('create', 'Task', '--json');
  const d = r.ok('create', 'Dependent', '--deps', `blocks:${t.id},related:${c1.id}`, '--json');
  assert.equal(
    d.dependencies.map((x: any) => `${x.type}:${x.depends_on_id}`),
    [`blocks:${t.id}`, `related:${c1.id}`],
  );
  const grandchild = r.ok('create', 'Grandchild', '--parent', c1.id, '--json');
  assert.is(grandchild.id, `${c1.id}.1`);
});

test('create: bad input is refused with a clear error and nothing written', () => {
  const r = bdRepo();
  const existing = r.ok('create', 'Existing', '--json');
  const before = commits(r);
  const cases: [string[], number, RegExp][] = [
    [['create', 'X', '-t', 'nonsense'], 1, /invalid issue type "nonsense"/],
    [['create', 'X', '-p', '7'], 1, /invalid priority "7"/],
    [['create'], 2, /title is required/],
    [['create', 'X', '--deps', 'blocks:bd-nope'], 3, /bd-nope does not exist/],
    [['create', 'X', '--parent', 'bd-nope'], 3, /no bead with id/],
    [['create', 'X', '--id', 'other-abc'], 1, /prefix/],
    [['create', 'X', '--id', existing.id], 4, /already exists/],
    [['create', 'X', '--id', 'bd-../../etc'], 1, /invalid id/],
    [['create', 'X', '--bogus'], 2, /Unknown option '--bogus'/],
    [['create', 'X', '--metadata', '[1]'], 2, /JSON object/],
    [['create', 'X', '--due', 'someday'], 2, /cannot read "someday"/],
  ];
  for (const [args, code, msg] of cases) {
    const res = r.bd(...args);
    assert.is(res.code, code, `${args.join(' ')}: ${res.stderr}`);
    assert.match(res.stderr, msg, args.join(' '));
  }
  assert.is(commits(r), before);
  const forced = r.ok('create', 'Foreign', '--id', 'other-abc', '--force', '--json');
  assert.is(forced.id, 'other-abc');
});

test('q prints only the id; --silent too', () => {
  const r = bdRepo();
  const out = r.ok('q', 'Quick one').trim();
  assert.match(out, /^bd-[0-9a-z]{3}$/);
  const silent = r.ok('create', 'Silent', '--silent').trim();
  assert.match(silent, /^bd-[0-9a-z]{3}$/);
});

test('ephemeral beads are wisps: never committed, shown, hidden from list and ready', () => {
  const r = bdRepo();
  const before = commits(r);
  const w = r.ok('create', 'Patrol step', '--ephemeral', '--json');
  assert.match(w.id, /^bd-wisp-[0-9a-z]{3}$/);
  assert.is(w.ephemeral, true);
  assert.is(commits(r), before);
  assert.is(r.ok('show', w.id, '--json')[0].title, 'Patrol step');
  assert.is(r.ok('list', '--json').length, 0);
  assert.is(r.ok('ready', '--json').length, 0);
  assert.is(r.ok('ready', '--include-ephemeral', '--json').length, 1);
  r.ok('close', w.id);
  assert.is(r.ok('show', w.id, '--json')[0].status, 'closed');
  assert.is(commits(r), before);
  // Promoting it makes it durable: it moves into the ledger.
  r.ok('update', w.id, '--persistent');
  assert.is(commits(r), before + 1);
  assert.ok(r.git('ls-tree', '-r', '--name-only', 'refs/beads/ledger').includes(`${w.id}.yaml`));
});

test('show: several ids, partial ids, unknown ids suggest near matches', () => {
  const r = bdRepo();
  const a = r.ok('create', 'Alpha', '--json');
  const b = r.ok('create', 'Beta', '--deps', a.id, '--json');
  const shown = r.ok('show', a.id, b.id.slice(3), '--json');
  assert.equal(
    shown.map((s: any) => s.id),
    [a.id, b.id],
  );
  assert.equal(shown[0].dependents, [
    { id: b.id, title: 'Beta', status: 'open', priority: 2, issue_type: 'task', dependency_type: 'blocks' },
  ]);
  assert.is(shown[1].is_blocked, true);
  const typo = `${a.id.slice(0, -1)}${a.id.endsWith('z') ? 'y' : 'z'}`;
  const miss = r.bd('show', typo);
  assert.is(miss.code, 3);
  assert.match(miss.stderr, new RegExp(`did you mean ${a.id}`));
  const text = r.ok('show', a.id);
  assert.match(text, /Alpha/);
  assert.match(text, /Dependents \(1\)/);
});

test('list: filters, closed hidden unless --all, limits', () => {
  const r = bdRepo();
  const a = r.ok('create', 'A bug', '-t', 'bug', '-p', '0', '-l', 'x', '--json');
  r.ok('create', 'B task', '-a', 'bob', '-l', 'x,y', '--json');
  const c = r.ok('create', 'C feature', '-t', 'feature', '-p', '3', '--json');
  r.ok('close', c.id);
  const ids = (args: string[]) => r.ok('list', ...args, '--json').map((x: any) => x.title);
  assert.equal(ids([]), ['A bug', 'B task']);
  assert.equal(ids(['--all']), ['A bug', 'B task', 'C feature']);
  assert.equal(ids(['--status', 'closed']), ['C feature']);
  assert.equal(ids(['-t', 'bug']), ['A bug']);
  assert.equal(ids(['-l', 'x', '-l', 'y']), ['B task']);
  assert.equal(ids(['-a', 'bob']), ['B task']);
  assert.equal(ids(['-p', '0']), ['A bug']);
  assert.equal(ids(['-n', '1']), ['A bug']);
  const one = r.ok('list', '--json')[0];
  assert.is(one.id, a.id);
  assert.is(one.dependency_count, 0);
  assert.is(one.comment_count, 0);
  assert.is(r.bd('list', '--status', 'weird').code, 1);
});

test('update: fields, labels, metadata, status side effects, one commit for many ids', () => {
  const r = bdRepo();
  const a = r.ok('create', 'A', '--json');
  const b = r.ok('create', 'B', '--json');
  const before = commits(r);
  const [ua, ub] = r.ok('update', a.id, b.id, '-s', 'in_progress', '-p', '1', '--add-label', 'hot', '--json');
  assert.is(commits(r), before + 1);
  assert.is(ua.status, 'in_progress');
  assert.ok(ua.started_at);
  assert.is(ub.priority, 1);
  assert.equal(ub.labels, ['hot']);
  const u2 = r.ok(
    'update',
    a.id,
    '--title',
    'A renamed',
    '--set-metadata',
    'team=core',
    '--set-metadata',
    'n=3',
    '--append-notes',
    'line 1',
    '--remove-label',
    'hot',
    '--json',
  )[0];
  assert.is(u2.title, 'A renamed');
  assert.equal(u2.metadata, { team: 'core', n: 3 });
  assert.is(u2.notes, 'line 1');
  assert.is(u2.labels, undefined);
  const u3 = r.ok('update', a.id, '--unset-metadata', 'n', '--append-notes', 'line 2', '--json')[0];
  assert.equal(u3.metadata, { team: 'core' });
  assert.is(u3.notes, 'line 1\nline 2');
  const closed = r.ok('update', a.id, '-s', 'closed', '--json')[0];
  assert.ok(closed.closed_at);
  const reopened = r.ok('update', a.id, '-s', 'open', '--json')[0];
  assert.is(reopened.closed_at, undefined);
  const noop = commits(r);
  assert.is(r.bd('update', a.id).code, 2);
  assert.is(r.bd('update', a.id, '-s', 'sideways').code, 1);
  assert.is(r.bd('update', 'bd-zzzzzz', '-p', '1').code, 3);
  assert.is(commits(r), noop);
});

test('update --claim is atomic: of five concurrent claims exactly one wins', async () => {
  const r = bdRepo();
  const a = r.ok('create', 'Contested', '--json');
  const results = await Promise.all(
    ['w1', 'w2', 'w3', 'w4', 'w5'].map(
      (who) =>
        new Promise<{ who: string; code: number; err: string }>((resolve) => {
          const p = spawn(process.execPath, [BD, 'update', a.id, '--claim', '--actor', who], {
            cwd: r.dir,
            env: r.env,
          });
          let err = '';
          p.stderr.on('data', (d) => (err += d));
          p.on('close', (code) => resolve({ who, code: code ?? -1, err }));
        }),
    ),
  );
  const winners = results.filter((x) => x.code === 0);
  assert.is(winners.length, 1, JSON.stringify(results));
  for (const l of results.filter((x) => x.code !== 0)) {
    assert.is(l.code, 4);
    assert.match(l.err, /already claimed by/);
  }
  const after = r.ok('show', a.id, '--json')[0];
  assert.is(after.assignee, winners[0].who);
  assert.is(after.status, 'in_progress');
});

test('close: guards for blocked beads, open epics and pinned beads; --force; reopen', () => {
  const r = bdRepo();
  const blocker = r.ok('create', 'Blocker', '--json');
  const blocked = r.ok('create', 'Blocked', '--deps', blocker.id, '--json');
  const res = r.bd('close', blocked.id);
  assert.is(res.code, 1);
  assert.match(res.stderr, new RegExp(`blocked by ${blocker.id}`));
  const epic = r.ok('create', 'Epic', '-t', 'epic', '--json');
  r.ok('create', 'Kid', '--parent', epic.id);
  assert.match(r.bd('close', epic.id).stderr, /open children/);
  const pinned = r.ok('create', 'Context', '--json');
  r.ok('update', pinned.id, '--pinned');
  assert.match(r.bd('close', pinned.id).stderr, /pinned/);
  const c = r.ok('close', blocker.id, '--reason', 'done and dusted', '--json')[0];
  assert.is(c.status, 'closed');
  assert.is(c.close_reason, 'done and dusted');
  assert.ok(c.closed_at);
  assert.is(r.bd('close', blocker.id).code, 4);
  r.ok('close', blocked.id);
  r.ok('close', epic.id, '--force');
  const ro = r.ok('reopen', blocker.id, '--reason', 'not really', '--json')[0];
  assert.is(ro.status, 'open');
  assert.is(ro.closed_at, undefined);
  assert.is(ro.close_reason, undefined);
  assert.is(ro.comments[0].text, 'not really');
});

test('close --suggest-next lists newly unblocked work', () => {
  const r = bdRepo();
  const a = r.ok('create', 'First', '--json');
  const b = r.ok('create', 'Second', '--deps', a.id, '--json');
  const out = r.ok('close', a.id, '--suggest-next', '--json');
  assert.equal(
    out.unblocked.map((x: any) => x.id),
    [b.id],
  );
});

test('ready and blocked follow the dependency graph', () => {
  const r = bdRepo();
  const a = r.ok('create', 'Design', '-p', '1', '--json');
  const b = r.ok('create', 'Build', '-p', '0', '--deps', a.id, '--json');
  const c = r.ok('create', 'Docs', '-p', '3', '--json');
  r.ok('create', 'Later', '--defer', '+3d');
  const ready = r.ok('ready', '--json').map((x: any) => x.id);
  assert.equal(ready, [a.id, c.id]);
  const blocked = r.ok('blocked', '--json');
  assert.equal(
    blocked.map((x: any) => [x.id, x.blocked_by]),
    [[b.id, [a.id]]],
  );
  r.ok('close', a.id);
  assert.equal(
    r.ok('ready', '--json').map((x: any) => x.id),
    [b.id, c.id],
  );
  assert.equal(
    r.ok('ready', '--sort', 'oldest', '--json').map((x: any) => x.id),
    [b.id, c.id],
  );
  assert.is(r.bd('ready', '--sort', 'random').code, 2);
  const claimed = r.ok('ready', '--claim', '--actor', 'worker', '--json');
  assert.is(claimed.id, b.id);
  assert.is(claimed.assignee, 'worker');
  assert.equal(
    r.ok('ready', '--json').map((x: any) => x.id),
    [c.id],
  );
});

test('--json: stdout is exactly one JSON document, errors included', () => {
  const r = bdRepo();
  r.ok('create', 'A');
  for (const args of [
    ['list'],
    ['ready'],
    ['blocked'],
    ['show', 'bd-nope'],
    ['create', '-p', '9', 'X'],
    ['frobnicate'],
  ]) {
    const res = r.bd(...args, '--json');
    const doc = JSON.parse(res.stdout);
    assert.ok(doc !== undefined, args.join(' '));
    if (res.code !== 0) assert.ok(doc.error, `${args.join(' ')} error object`);
  }
});

test('usage errors: unknown commands and flags exit 2; help exits 0', () => {
  const r = bdRepo();
  const unknown = r.bd('frobnicate');
  assert.is(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command "frobnicate"/);
  assert.is(r.bd('list', '--wat').code, 2);
  assert.is(r.bd('--wat').code, 2);
  const help = r.bd('--help');
  assert.is(help.code, 0);
  assert.match(help.stdout, /Commands:/);
  assert.is(r.bd('create', '--help').code, 0);
  assert.match(r.bd('--version').stdout, /^bd version \d+\.\d+\.\d+/);
});

test('in a town, bd uses refs/gt/ledger of the town repository', () => {
  const repo = tmpRepo();
  fs.mkdirSync(path.join(repo.dir, 'mayor'));
  fs.writeFileSync(path.join(repo.dir, 'mayor', 'town.json'), '{"name":"t"}');
  fs.mkdirSync(path.join(repo.dir, 'deep', 'er'), { recursive: true });
  const bd = (...a: string[]) => run(BD, a, { cwd: path.join(repo.dir, 'deep', 'er'), env: repo.env });
  assert.is(bd('init', '--prefix', 'hq').code, 0);
  const b = bd('create', 'Town task', '--json').json();
  assert.match(b.id, /^hq-/);
  assert.is(repo.git('rev-list', '--count', 'refs/gt/ledger').trim(), '2');
  assert.is(repo.git('for-each-ref', 'refs/beads').trim(), '');
});

test.run();
