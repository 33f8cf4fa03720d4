// bd search / count / stats / stale / delete / defer / undefer / config end to end against the
// built bundle and real git: outcomes are checked in the JSON and in the ledger's commit count.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bdRepo, ledgerCommits, quick, refused } from '../helpers.ts';

const commits = ledgerCommits;
const q = quick;
const ids = (list: any[]) => list.map((x) => x.id);
const sameSet = (a: string[], b: string[]) => assert.equal(new Set(a), new Set(b));

test('search: id, title, description and notes, case-insensitive; closed only with --all', () => {
  const r = bdRepo();
  const byTitle = q(r, 'Fix the LOGIN page', '-t', 'bug', '-l', 'auth');
  const byDesc = q(r, 'Session cookies', '-d', 'The login form loses its state');
  const byNotes = q(r, 'Unrelated', '--notes', 'remember: Login audit');
  const closed = q(r, 'Old login bug', '-t', 'bug');
  r.ok('close', closed);
  q(r, 'Nothing to see');
  sameSet(ids(r.ok('search', 'login', '--json')), [byTitle, byDesc, byNotes]);
  sameSet(ids(r.ok('search', 'LOGIN', '--all', '--json')), [byTitle, byDesc, byNotes, closed]);
  assert.equal(ids(r.ok('search', 'login', '--status', 'closed', '--json')), [closed]);
  assert.equal(ids(r.ok('search', 'login', '--type', 'bug', '--json')), [byTitle]);
  assert.equal(ids(r.ok('search', 'login', '--label', 'auth', '--json')), [byTitle]);
  assert.equal(ids(r.ok('search', byDesc.toUpperCase(), '--json')), [byDesc]);
  assert.equal(ids(r.ok('search', 'loses', 'its', '--json')), [byDesc]);
  assert.is(r.ok('search', 'login', '-n', '1', '--json').length, 1);
  assert.equal(r.ok('search', 'zebra', '--json'), []);
  assert.match(r.ok('search', 'zebra'), /No beads match "zebra"/);
  refused(r, 2, ['search'], /needs more arguments/);
  refused(r, 2, ['search', '  '], /needs some text/);
  refused(r, 2, ['search', 'x', '-n', 'lots'], /--limit needs a whole number/);
  refused(r, 1, ['search', 'x', '--status', 'nonsense'], /invalid status/);
});

test('count: list filters and --by groups', () => {
  const r = bdRepo();
  const a = q(r, 'A', '-t', 'bug', '-p', '1', '-a', 'alice', '-l', 'x,y');
  q(r, 'B', '-t', 'bug', '-l', 'x');
  q(r, 'C', '-a', 'alice');
  const d = q(r, 'D');
  r.ok('close', d);
  r.ok('update', a, '--status', 'in_progress');
  assert.equal(r.ok('count', '--json'), { count: 3 });
  assert.equal(r.ok('count', '--all', '--json'), { count: 4 });
  assert.is(r.ok('count').trim(), '3');
  assert.equal(r.ok('count', '--type', 'bug', '--json'), { count: 2 });
  assert.equal(r.ok('count', '--assignee', 'alice', '--json'), { count: 2 });
  assert.equal(r.ok('count', '--status', 'closed', '--json'), { count: 1 });
  const byStatus = r.ok('count', '--all', '--by', 'status', '--json');
  assert.is(byStatus.count, 4);
  assert.equal(byStatus.groups, [
    { key: 'open', count: 2 },
    { key: 'closed', count: 1 },
    { key: 'in_progress', count: 1 },
  ]);
  assert.equal(r.ok('count', '--by', 'priority', '--json').groups, [
    { key: 1, count: 1 },
    { key: 2, count: 2 },
  ]);
  assert.equal(r.ok('count', '--by', 'assignee', '--json').groups, [
    { key: 'alice', count: 2 },
    { key: null, count: 1 },
  ]);
  assert.equal(r.ok('count', '--by', 'label', '--json').groups, [
    { key: 'x', count: 2 },
    { key: null, count: 1 },
    { key: 'y', count: 1 },
  ]);
  assert.equal(r.ok('count', '--by', 'type', '--json').groups, [
    { key: 'bug', count: 2 },
    { key: 'task', count: 1 },
  ]);
  assert.match(r.ok('count', '--by', 'assignee'), /\(unassigned\)\s+1/);
  refused(r, 2, ['count', '--by', 'colour'], /--by must be one of/);
  refused(r, 2, ['count', 'extra'], /unexpected argument/);
});

test('stats (and its alias status): counts, ready = open − blocked, lead time', () => {
  const r = bdRepo();
  const empty = r.ok('stats', '--json');
  assert.is(empty.total_issues, 0);
  assert.is(empty.average_lead_time_hours, null);
  const a = q(r, 'A');
  const b = q(r, 'B');
  const c = q(r, 'C');
  const gate = q(r, 'merge me', '-t', 'merge-request');
  const done = q(r, 'Done');
  const wip = q(r, 'Wip');
  r.ok('dep', 'add', a, b);
  r.ok('dep', 'add', wip, c);
  r.ok('close', done);
  r.ok('update', wip, '--status', 'in_progress');
  const s = r.ok('stats', '--json');
  assert.is(s.total_issues, 6);
  assert.is(s.open_issues, 4);
  assert.is(s.in_progress_issues, 1);
  assert.is(s.closed_issues, 1);
  // a and wip carry the computed blocked flag.
  assert.is(s.blocked_issues, 2);
  // The original's approximation: open − blocked, though wip is not open.
  assert.is(s.ready_issues, 2);
  // What bd ready really returns: b and c (a is blocked, merge requests never show).
  assert.is(s.ready_actual, 2);
  assert.equal(ids(r.ok('ready', '--json')).sort(), [b, c].sort());
  assert.equal(s.by_type, { task: 5, 'merge-request': 1 });
  assert.equal(s.by_status, { open: 4, closed: 1, in_progress: 1 });
  assert.type(s.average_lead_time_hours, 'number');
  assert.ok(s.average_lead_time_hours >= 0 && s.average_lead_time_hours < 1);
  assert.equal(r.ok('status', '--json'), s);
  assert.match(r.ok('stats'), /Ready \(open−blocked\):\s+2/);
  void gate;
  refused(r, 2, ['stats', '--by', 'x'], /Unknown option/);
});

test('stale: not updated for N days, closed left out', () => {
  const r = bdRepo();
  const a = q(r, 'A');
  const b = q(r, 'B');
  const c = q(r, 'C');
  r.ok('close', c);
  r.ok('update', b, '--status', 'in_progress');
  assert.equal(r.ok('stale', '--json'), []);
  assert.match(r.ok('stale'), /Nothing stale/);
  // With --days 0 everything updated before now is stale; oldest update first.
  const all = r.ok('stale', '--days', '0', '--json');
  assert.equal(ids(all), [a, b]);
  assert.is(all[0].days_stale, 0);
  assert.equal(ids(r.ok('stale', '--days', '0', '--status', 'in_progress', '--json')), [b]);
  assert.is(r.ok('stale', '--days', '0', '-n', '1', '--json').length, 1);
  refused(r, 2, ['stale', '--days', 'many'], /--days needs a whole number/);
  refused(r, 2, ['stale', '--days', '-3'], /--days/);
});

test('delete: refuses without --force (exit 1, nothing written), --dry-run, --force in one commit', () => {
  const r = bdRepo();
  const a = q(r, 'A');
  const b = q(r, 'B');
  const c = q(r, 'C');
  const keep = q(r, 'Keep');
  r.ok('dep', 'add', a, b);
  r.ok('dep', 'add', keep, c, '--type', 'related');
  r.ok('dep', 'add', b, c);
  const res = refused(r, 1, ['delete', b, c, '--json'], /--force/);
  const plan = res.json();
  assert.is(plan.applied, false);
  assert.equal(plan.ids, [b, c]);
  // Edges between the deleted beads themselves are not counted as outside references.
  assert.equal(plan.references_removed_from, [a, keep].sort());
  assert.equal(plan.beads[0].dependents, [{ id: a, type: 'blocks' }]);
  assert.equal(plan.beads[1].dependents, [{ id: keep, type: 'related' }]);
  const text = refused(r, 1, ['delete', b], /refusing to delete without --force/);
  assert.match(text.stdout, new RegExp(`edge from ${a} \\(blocks\\) will be removed`));
  const before = commits(r);
  const dry = r.bd('delete', b, '--force', '--dry-run', '--json');
  assert.is(dry.code, 0);
  assert.is(dry.json().applied, false);
  assert.is(commits(r), before);
  const done = r.ok('delete', b, c, '--force', '--json');
  assert.is(done.applied, true);
  assert.is(commits(r), before + 1);
  refused(r, 3, ['show', b]);
  refused(r, 3, ['show', c]);
  assert.equal(r.ok('show', a, '--json')[0].dependencies ?? [], []);
  assert.equal(r.ok('show', keep, '--json')[0].dependencies ?? [], []);
  assert.equal(r.ok('blocked', '--json'), []);
  refused(r, 3, ['delete', 'bd-zzzzzz', '--force']);
  refused(r, 3, ['delete', a, 'bd-zzzzzz', '--force']);
  refused(r, 2, ['delete'], /needs more arguments/);
});

test('defer / undefer: status, defer_until, ready; one commit for several ids', () => {
  const r = bdRepo();
  const a = q(r, 'A');
  const b = q(r, 'B');
  const c = q(r, 'C');
  let before = commits(r);
  const deferred = r.ok('defer', a, b, '--until', '2099-01-02', '--json');
  assert.is(commits(r), before + 1);
  assert.equal(
    deferred.map((x: any) => [x.id, x.status, x.defer_until]),
    [
      [a, 'deferred', '2099-01-02T00:00:00.000Z'],
      [b, 'deferred', '2099-01-02T00:00:00.000Z'],
    ],
  );
  assert.equal(ids(r.ok('ready', '--json')), [c]);
  r.ok('defer', c);
  const cShown = r.ok('show', c, '--json')[0];
  assert.is(cShown.status, 'deferred');
  assert.is(cShown.defer_until, undefined);
  before = commits(r);
  const back = r.ok('undefer', a, b, '--json');
  assert.is(commits(r), before + 1);
  assert.equal(
    back.map((x: any) => [x.id, x.status, x.defer_until]),
    [
      [a, 'open', undefined],
      [b, 'open', undefined],
    ],
  );
  // Nothing to undo: no commit.
  r.ok('undefer', a);
  assert.is(commits(r), before + 1);
  r.ok('close', a);
  refused(r, 4, ['defer', b, a], /is closed/);
  assert.is(r.ok('show', b, '--json')[0].status, 'open');
  refused(r, 3, ['defer', 'bd-zzzzzz']);
  refused(r, 3, ['undefer', b, 'bd-zzzzzz']);
  refused(r, 2, ['defer', b, '--until', 'someday'], /cannot read "someday" as a date/);
});

test('config: get, set, unset, list; one commit per change, none when unchanged', () => {
  const r = bdRepo();
  assert.equal(r.ok('config', 'list', '--json'), { issue_prefix: 'bd' });
  assert.equal(r.ok('config', 'get', 'issue_prefix', '--json'), { key: 'issue_prefix', value: 'bd' });
  assert.is(r.ok('config', 'get', 'issue_prefix').trim(), 'bd');
  assert.equal(r.ok('config', 'get', 'nothing.here', '--json'), { key: 'nothing.here', value: null });
  let before = commits(r);
  const set = r.ok('config', 'set', 'team.name', 'core crew', '--json');
  assert.equal(set, { key: 'team.name', value: 'core crew', previous: null, changed: true });
  assert.is(commits(r), before + 1);
  assert.is(r.ok('config', 'set', 'team.name', 'core crew', '--json').changed, false);
  assert.is(commits(r), before + 1);
  assert.equal(r.ok('config', 'list', '--json'), { issue_prefix: 'bd', 'team.name': 'core crew' });
  before = commits(r);
  assert.is(r.ok('config', 'unset', 'team.name', '--json').changed, true);
  assert.is(commits(r), before + 1);
  assert.is(r.ok('config', 'unset', 'team.name', '--json').changed, false);
  assert.is(commits(r), before + 1);
  // The prefix can change (new beads use it) but not disappear.
  r.ok('config', 'set', 'issue_prefix', 'gt');
  assert.match(q(r, 'new one'), /^gt-/);
  refused(r, 2, ['config', 'unset', 'issue_prefix'], /cannot be removed/);
  refused(r, 2, ['config'], /needs a subcommand/);
  refused(r, 2, ['config', 'set', 'k'], /needs more arguments/);
});

test('config: custom statuses and types are validated and take effect', () => {
  const r = bdRepo();
  const a = q(r, 'A');
  refused(r, 1, ['update', a, '--status', 'review'], /invalid status/);
  const set = r.ok('config', 'set', 'status.custom', 'review:wip, qa', '--json');
  assert.is(set.value, 'review:wip,qa');
  r.ok('update', a, '--status', 'review');
  assert.is(r.ok('show', a, '--json')[0].status, 'review');
  refused(r, 1, ['create', 'W', '-t', 'widget'], /invalid issue type/);
  r.ok('config', 'set', 'types.custom', '["widget","gadget"]');
  assert.is(r.ok('config', 'get', 'types.custom', '--json').value, 'widget,gadget');
  assert.is(r.ok('create', 'W', '-t', 'widget', '--json').issue_type, 'widget');
  refused(r, 1, ['config', 'set', 'status.custom', 'open'], /built-in status/);
  refused(r, 1, ['config', 'set', 'status.custom', 'qa:later'], /invalid category "later"/);
  refused(r, 1, ['config', 'set', 'status.custom', 'Review'], /invalid custom status/);
  refused(r, 1, ['config', 'set', 'status.custom', 'a,a'], /listed twice/);
  refused(r, 1, ['config', 'set', 'types.custom', 'Bad Type'], /invalid custom type/);
  refused(r, 1, ['config', 'set', 'issue_prefix', 'no way!'], /invalid prefix/);
  refused(r, 1, ['config', 'set', 'issue_prefix', 'ends-'], /invalid prefix/);
  refused(r, 1, ['config', 'set', 'issue_id_mode', 'random'], /hash or counter/);
  refused(r, 1, ['config', 'set', 'min_hash_length', '2'], /from 3 to 8/);
  r.ok('config', 'set', 'max_hash_length', '4');
  refused(r, 1, ['config', 'set', 'min_hash_length', '5'], /cannot exceed/);
  refused(r, 1, ['config', 'set', 'bad key', 'x'], /invalid config key/);
  // Dropping a status still in use is allowed but warned about.
  const res = r.bd('config', 'unset', 'status.custom');
  assert.is(res.code, 0);
  assert.match(res.stderr, /still use status review/);
});

test.run();
