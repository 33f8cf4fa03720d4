// bd dep / label / tag / comments / comment / children end to end against the built bundle
// and real git: outcomes are checked in the JSON and in the ledger's commit count.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BD, type BdRepo, bdRepo, ledgerCommits, quick, refused, run } from '../helpers.ts';

const commits = ledgerCommits;
const q = quick;
const show = (r: BdRepo, id: string) => r.ok('show', id, '--json')[0];

test('dep add: blocks by default, one commit, the dependent becomes blocked', () => {
  const r = bdRepo();
  const a = q(r, 'A');
  const b = q(r, 'B');
  const before = commits(r);
  const dep = r.ok('dep', 'add', a, b, '--json');
  assert.is(dep.issue_id, a);
  assert.is(dep.depends_on_id, b);
  assert.is(dep.type, 'blocks');
  assert.is(dep.result, 'added');
  assert.is(commits(r), before + 1);
  assert.equal(
    r.ok('blocked', '--json').map((x: any) => [x.id, x.blocked_by]),
    [[a, [b]]],
  );
  // Re-adding the very same edge is a no-op: no commit.
  assert.is(r.ok('dep', 'add', a, b, '--json').result, 'unchanged');
  assert.is(commits(r), before + 1);
  // The same pair with another type is a conflict.
  refused(r, 4, ['dep', 'add', a, b, '--type', 'related'], /already depends on .* as "blocks"/);
});

test('dep add: any 1-50 character type, metadata, external targets; bad values refused', () => {
  const r = bdRepo();
  const a = q(r, 'A');
  const b = q(r, 'B');
  const c = q(r, 'C');
  r.ok('dep', 'add', a, b, '--type', 'my-custom', '--metadata', '{"why":"x"}');
  r.ok('dep', 'add', a, c, '--type', 'Reviewed By');
  r.ok('dep', 'add', a, 'external:other:auth-api', '--type', 'related');
  const deps = show(r, a).dependencies;
  assert.equal(
    deps.map((d: any) => [d.depends_on_id, d.type]),
    [
      [b, 'my-custom'],
      [c, 'Reviewed By'],
      ['external:other:auth-api', 'related'],
    ],
  );
  assert.equal(JSON.parse(deps[0].metadata), { why: 'x' });
  // Non-blocking types do not block.
  assert.equal(r.ok('blocked', '--json'), []);
  refused(r, 1, ['dep', 'add', b, c, '--type', 'x'.repeat(51)], /invalid dependency type/);
  refused(r, 2, ['dep', 'add', b, c, '--metadata', '[1,2]'], /JSON object/);
  refused(r, 2, ['dep', 'add', b, c, '--metadata', '{nope'], /JSON object/);
  refused(r, 1, ['dep', 'add', b, b], /cannot depend on itself/);
  refused(r, 2, ['dep', 'add', b, 'external:broken'], /external:<project>:<capability>/);
});

test('bd dep A --blocks B is the edge B depends on A', () => {
  const r = bdRepo();
  const a = q(r, 'A');
  const b = q(r, 'B');
  const before = commits(r);
  const dep = r.ok('dep', a, '--blocks', b, '--json');
  assert.is(dep.issue_id, b);
  assert.is(dep.depends_on_id, a);
  assert.is(dep.type, 'blocks');
  assert.is(commits(r), before + 1);
  assert.equal(
    r.ok('dep', 'list', b, '--json').map((e: any) => [e.id, e.direction]),
    [[a, 'down']],
  );
  refused(r, 2, ['dep', a], /subcommand/);
  refused(r, 2, ['dep', 'ad', a, b], /subcommand/);
});

test('cycles: refused with the cycle named; --no-cycle-check lets one in; dep cycles lists it', () => {
  const r = bdRepo();
  const a = q(r, 'A');
  const b = q(r, 'B');
  const c = q(r, 'C');
  assert.equal(r.ok('dep', 'cycles', '--json'), []);
  assert.match(r.ok('dep', 'cycles'), /No dependency cycles/);
  r.ok('dep', 'add', a, b);
  r.ok('dep', 'add', b, c);
  refused(r, 4, ['dep', 'add', c, a], new RegExp(`cycle: ${c} → ${a} → ${b} → ${c}`));
  // Non-blocking types are not cycle-checked.
  r.ok('dep', 'add', c, a, '--type', 'related');
  r.ok('dep', 'remove', c, a);
  r.ok('dep', 'add', c, a, '--no-cycle-check');
  const cycles = r.ok('dep', 'cycles', '--json');
  assert.is(cycles.length, 1);
  assert.equal([...cycles[0].ids].sort(), [a, b, c].sort());
  const p = cycles[0].path;
  assert.is(p.length, 4);
  assert.is(p[0], p[3]);
  assert.match(r.ok('dep', 'cycles'), /1 cycle:/);
});

test('blocks may not cross epic and non-epic; other types may', () => {
  const r = bdRepo();
  const t = q(r, 'Task');
  const e = q(r, 'Epic', '-t', 'epic');
  const e2 = q(r, 'Epic 2', '-t', 'epic');
  refused(r, 1, ['dep', 'add', t, e], /tasks can only block tasks, epics can only block epics/);
  refused(r, 1, ['dep', e, '--blocks', t], /tasks can only block tasks/);
  r.ok('dep', 'add', t, e, '--type', 'related');
  r.ok('dep', 'add', e2, e);
});

test('unknown ids exit 3 and write nothing', () => {
  const r = bdRepo();
  const a = q(r, 'Alpha');
  const missing = 'bd-zzzzzz';
  refused(r, 3, ['dep', 'add', a, missing], /no bead with id/);
  refused(r, 3, ['dep', 'add', missing, a]);
  refused(r, 3, ['dep', missing, '--blocks', a]);
  refused(r, 3, ['dep', 'remove', a, missing]);
  refused(r, 3, ['dep', 'list', missing]);
  refused(r, 3, ['dep', 'tree', missing]);
  refused(r, 3, ['label', 'add', a, missing, 'x']);
  refused(r, 3, ['tag', missing, 'x']);
  refused(r, 3, ['comment', missing, 'hello']);
  refused(r, 3, ['comments', missing]);
  refused(r, 3, ['children', missing]);
  // A typo gets a suggestion.
  const res = refused(r, 3, ['dep', 'list', `${a}x`]);
  assert.match(res.stderr, new RegExp(`did you mean ${a}`));
});

test('dep remove: one commit, the bead is unblocked; a missing edge exits 3', () => {
  const r = bdRepo();
  const a = q(r, 'A');
  const b = q(r, 'B');
  r.ok('dep', 'add', a, b);
  const before = commits(r);
  const removed = r.ok('dep', 'rm', a, b, '--json');
  assert.is(removed.type, 'blocks');
  assert.is(removed.result, 'removed');
  assert.is(commits(r), before + 1);
  assert.equal(show(r, a).dependencies ?? [], []);
  assert.equal(r.ok('blocked', '--json'), []);
  refused(r, 3, ['dep', 'remove', a, b], /has no dependency on/);
});

test('dep list: down, up, both, by type; bad direction is a usage error', () => {
  const r = bdRepo();
  const a = q(r, 'A');
  const b = q(r, 'B');
  const c = q(r, 'C');
  r.ok('dep', 'add', a, b);
  r.ok('dep', 'add', c, a, '--type', 'related');
  const down = r.ok('dep', 'list', a, '--json');
  assert.equal(
    down.map((e: any) => [e.id, e.dependency_type, e.direction, e.title, e.status]),
    [[b, 'blocks', 'down', 'B', 'open']],
  );
  const up = r.ok('dep', 'list', a, '--direction', 'up', '--json');
  assert.equal(
    up.map((e: any) => [e.id, e.dependency_type, e.direction]),
    [[c, 'related', 'up']],
  );
  assert.is(r.ok('dep', 'list', a, '--direction', 'both', '--json').length, 2);
  assert.equal(
    r.ok('dep', 'list', a, '--direction', 'both', '--type', 'related', '--json').map((e: any) => e.id),
    [c],
  );
  const text = r.ok('dep', 'list', a, '--direction', 'both');
  assert.match(text, new RegExp(`→ ${b} \\(blocks\\) B \\[open\\]`));
  assert.match(text, new RegExp(`← ${c} \\(related\\)`));
  refused(r, 2, ['dep', 'list', a, '--direction', 'sideways'], /--direction must be down, up or both/);
  refused(r, 2, ['dep', 'list', a, '--bogus'], /Unknown option '--bogus'/);
});

test('dep tree: JSON nodes with depth, max depth, up/both, mermaid', () => {
  const r = bdRepo();
  const a = q(r, 'Top');
  const b = q(r, 'Middle');
  const c = q(r, 'Bottom "quoted"');
  const d = q(r, 'Side');
  r.ok('dep', 'add', a, b);
  r.ok('dep', 'add', b, c);
  r.ok('dep', 'add', a, d, '--type', 'related');
  r.ok('dep', 'add', d, c); // diamond: c is reached twice, shown once
  const tree = r.ok('dep', 'tree', a, '--json');
  assert.is(tree.root, a);
  assert.equal(
    tree.nodes.map((n: any) => [n.id, n.depth, n.parent_id, n.dependency_type]),
    [
      [a, 0, null, null],
      [b, 1, a, 'blocks'],
      [c, 2, b, 'blocks'],
      [d, 1, a, 'related'],
    ],
  );
  const cut = r.ok('dep', 'tree', a, '--max-depth', '1', '--json');
  assert.equal(
    cut.nodes.map((n: any) => n.id),
    [a, b, d],
  );
  assert.is(cut.nodes.find((n: any) => n.id === b).truncated, true);
  const up = r.ok('dep', 'tree', c, '--direction', 'up', '--json');
  assert.equal(up.nodes[0], { ...up.nodes[0], id: c, depth: 0, direction: 'root' });
  const level1 = up.nodes.filter((n: any) => n.depth === 1);
  assert.equal(new Set(level1.map((n: any) => n.id)), new Set([b, d]));
  assert.ok(level1.every((n: any) => n.direction === 'up' && n.parent_id === c));
  assert.equal(new Set(up.nodes.map((n: any) => n.id)), new Set([a, b, c, d]));
  const both = r.ok('dep', 'tree', b, '--direction', 'both', '--json');
  assert.equal(
    both.nodes.map((n: any) => [n.id, n.direction]),
    [
      [b, 'root'],
      [c, 'down'],
      [a, 'up'],
    ],
  );
  const text = r.ok('dep', 'tree', a);
  assert.match(text, new RegExp(`├── → ○ ${b} P2 Middle`));
  assert.match(text, new RegExp(`│   └── → ○ ${c}`));
  const mermaid = r.ok('dep', 'tree', a, '--format', 'mermaid');
  assert.match(mermaid, /^flowchart TD/);
  assert.match(mermaid, /n0\["[^"]*Top \[open\]"\]/);
  assert.match(mermaid, /Bottom #quot;quoted#quot;/);
  assert.match(mermaid, /n0 --> n1/);
  assert.match(mermaid, /n0 -->\|related\| n3/);
  // Every edge among the shown beads, including the second path to the shared one.
  assert.match(mermaid, /n3 --> n2/);
  const mj = r.ok('dep', 'tree', a, '--format', 'mermaid', '--json');
  assert.is(mj.format, 'mermaid');
  assert.match(mj.mermaid, /^flowchart TD/);
  refused(r, 2, ['dep', 'tree', a, '--max-depth', '0'], /--max-depth/);
  refused(r, 2, ['dep', 'tree', a, '--format', 'svg'], /--format must be text or mermaid/);
});

test('label add/remove/list/list-all and tag: one commit for several ids', () => {
  const r = bdRepo();
  const a = q(r, 'A');
  const b = q(r, 'B');
  const before = commits(r);
  const added = r.ok('label', 'add', a, b, 'urgent', '--json');
  assert.equal(
    added.map((x: any) => [x.id, x.result]),
    [
      [a, 'added'],
      [b, 'added'],
    ],
  );
  assert.is(commits(r), before + 1);
  // Already there: nothing written.
  assert.is(r.ok('label', 'add', a, 'urgent', '--json')[0].result, 'unchanged');
  assert.is(commits(r), before + 1);
  r.ok('tag', a, 'backend');
  assert.is(commits(r), before + 2);
  assert.equal(r.ok('label', 'list', a, '--json'), ['backend', 'urgent']);
  assert.equal(r.ok('label', 'list-all', '--json'), [
    { label: 'backend', count: 1 },
    { label: 'urgent', count: 2 },
  ]);
  assert.equal(r.ok('list', '--label', 'urgent', '--json').length, 2);
  const removed = r.ok('label', 'remove', a, b, 'urgent', '--json');
  assert.equal(
    removed.map((x: any) => x.result),
    ['removed', 'removed'],
  );
  assert.is(commits(r), before + 3);
  assert.equal(show(r, b).labels ?? [], []);
  assert.equal(r.ok('label', 'list-all', '--json'), [{ label: 'backend', count: 1 }]);
  refused(r, 1, ['label', 'add', a, 'a,b'], /invalid label/);
  refused(r, 2, ['label', 'add', a], /needs more arguments/);
  refused(r, 2, ['label'], /needs a subcommand/);
  refused(r, 2, ['tag', a], /needs more arguments/);
});

test('comments: add by text, stdin and file, list; bad input refused', () => {
  const r = bdRepo();
  const a = q(r, 'A');
  const before = commits(r);
  const c1 = r.ok('comment', a, 'first', 'words', '--json');
  assert.is(c1.text, 'first words');
  assert.is(c1.issue_id, a);
  assert.is(c1.author, 'tester');
  assert.match(c1.id, /^[0-9a-f]{8}-[0-9a-f]{4}-7/);
  assert.is(commits(r), before + 1);
  const viaStdin = run(BD, ['comments', 'add', a, '-', '--json'], {
    cwd: r.dir,
    env: r.env,
    input: 'from stdin\nsecond line\n',
  });
  assert.is(viaStdin.code, 0, viaStdin.stderr);
  assert.is(viaStdin.json().text, 'from stdin\nsecond line');
  const file = path.join(r.home, 'note.md');
  fs.writeFileSync(file, '# From a file\n');
  r.ok('comments', 'add', a, '--file', file, '--actor', 'mayor');
  assert.is(commits(r), before + 3);
  const list = r.ok('comments', a, '--json');
  assert.equal(
    list.map((c: any) => [c.text, c.author]),
    [
      ['first words', 'tester'],
      ['from stdin\nsecond line', 'tester'],
      ['# From a file', 'mayor'],
    ],
  );
  assert.is(r.ok('show', a, '--json')[0].comments.length, 3);
  assert.match(r.ok('comments', a), /tester: first words/);
  refused(r, 2, ['comment', a], /needs text/);
  refused(r, 2, ['comment', a, '   '], /needs text/);
  refused(r, 2, ['comment', a, 'text', '--file', file], /not both/);
  refused(r, 1, ['comment', a, '--file', path.join(r.home, 'missing.md')], /cannot read --file/);
});

test('children: parent-child edges plus ID.N ids without one, not grandchildren', () => {
  const r = bdRepo();
  const p = q(r, 'Parent', '-t', 'epic');
  const c1 = q(r, 'one', '--parent', p);
  const c2 = q(r, 'two', '--parent', p);
  const g1 = q(r, 'grandchild', '--parent', c1);
  const adopted = q(r, 'adopted');
  r.ok('update', adopted, '--parent', p);
  r.ok('create', 'orphan', '--id', `${p}.10`);
  const kids = r.ok('children', p, '--json').map((k: any) => k.id);
  assert.equal(new Set(kids), new Set([c1, c2, adopted, `${p}.10`]));
  assert.ok(kids.indexOf(`${p}.10`) > kids.indexOf(c2), 'natural id order');
  assert.not.ok(kids.includes(g1));
  assert.equal(
    r.ok('children', c1, '--json').map((k: any) => k.id),
    [g1],
  );
  assert.equal(r.ok('children', g1, '--json'), []);
  assert.match(r.ok('children', g1), /has no children/);
});

test.run();
