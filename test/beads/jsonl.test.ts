// Export and import logic (spec §4) against a real ledger in a temporary repository.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  exportIssues,
  type ImportResult,
  importBackupDir,
  importIssues,
  normalizeBackupIssue,
} from '../../src/beads/jsonl.ts';
import { beadPath, CONFIG_PATH } from '../../src/beads/record.ts';
import { BeadStore, locate, REPO_REF } from '../../src/beads/store.ts';
import type { Bead } from '../../src/beads/types.ts';
import { initLedger } from '../../src/cli/bd/issues.ts';
import { loadCodec } from '../../src/ledger/codec.ts';
import { tmpDir, tmpRepo } from '../helpers.ts';

process.env.GIT_AUTHOR_EMAIL = 'tester@example.com';

async function fresh() {
  await loadCodec();
  const repo = tmpRepo();
  initLedger(repo.dir, { prefix: 'bd', actor: 'tester' });
  const store = new BeadStore(locate(repo.dir), { actor: 'tester' });
  const commits = () => Number(repo.git('rev-list', '--count', REPO_REF).trim());
  return { repo, store, commits };
}

function bead(id: string, extra: Partial<Bead> = {}): Bead {
  return {
    id,
    title: `Title of ${id}`,
    status: 'open',
    priority: 2,
    issue_type: 'task',
    created_at: '2026-01-01T00:00:00Z',
    updated_at: '2026-01-01T00:00:00Z',
    ...extra,
  };
}

const line = (o: Record<string, unknown>) => JSON.stringify(o);
const jsonl = (...objs: Record<string, unknown>[]) => `${objs.map(line).join('\n')}\n`;
const parse = (text: string) =>
  text
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));

test('export: SearchIssues order, struct field order, counts, no internal fields', async () => {
  const { store } = await fresh();
  store.transact('seed', (tx) => {
    tx.put(bead('bd-a', { priority: 1, created_at: '2026-01-01T00:00:00Z' }));
    tx.put(bead('bd-b', { priority: 1, created_at: '2026-01-02T00:00:00Z', labels: ['x'] }));
    tx.put(bead('bd-c', { priority: 0, created_at: '2026-01-01T00:00:00Z' }));
    tx.put(bead('bd-e', { priority: 1, created_at: '2026-01-01T00:00:00Z', child_counter: 3 }));
    tx.put(
      bead('bd-d', {
        priority: 3,
        dependencies: [
          { issue_id: 'bd-d', depends_on_id: 'bd-a', type: 'blocks', created_at: '2026-01-01T00:00:00Z' },
          { issue_id: 'bd-d', depends_on_id: 'bd-b', type: 'related', created_at: '2026-01-01T00:00:00Z' },
        ],
        comments: [
          { id: 'c1', issue_id: 'bd-d', author: 'al', text: 'hi', created_at: '2026-01-01T00:00:00Z' },
        ],
      }),
    );
  });
  const rows = parse(exportIssues(store));
  assert.equal(
    rows.map((r) => r.id),
    ['bd-c', 'bd-b', 'bd-a', 'bd-e', 'bd-d'],
  );
  for (const r of rows) {
    assert.is(Object.keys(r)[0], '_type');
    assert.is(r._type, 'issue');
    assert.equal(Object.keys(r).slice(-3), ['dependency_count', 'dependent_count', 'comment_count']);
    assert.not.ok('child_counter' in r);
  }
  const d = rows.find((r) => r.id === 'bd-d');
  assert.is(d.dependency_count, 2);
  assert.is(d.comment_count, 1);
  assert.equal(Object.keys(d.dependencies[0]), ['issue_id', 'depends_on_id', 'type', 'created_at']);
  assert.equal(Object.keys(d.comments[0]), ['id', 'issue_id', 'author', 'text', 'created_at']);
  assert.is(rows.find((r) => r.id === 'bd-a').dependent_count, 1);
  assert.is(rows.find((r) => r.id === 'bd-b').dependent_count, 1);
  assert.equal(rows.find((r) => r.id === 'bd-b').labels, ['x']);
  // Keys follow the struct order: id, title, ..., status, priority, issue_type, created_at, updated_at.
  assert.equal(Object.keys(rows[0]).slice(1, 7), [
    'id',
    'title',
    'status',
    'priority',
    'issue_type',
    'created_at',
  ]);
});

test('export: default exclusions, --include-infra, --all (wisps, memories), --scrub', async () => {
  const { store } = await fresh();
  store.transact('seed', (tx) => {
    tx.put(bead('bd-task'));
    tx.put(bead('bd-agent', { issue_type: 'agent' }));
    tx.put(bead('bd-msg', { issue_type: 'message' }));
    tx.put(bead('bd-tpl', { is_template: true }));
    tx.put(bead('bd-wisp', { ephemeral: true }));
    tx.put(bead('bd-tst', { title: 'test-foo something' }));
    tx.ltx.put(CONFIG_PATH, { ...tx.ltx.get(CONFIG_PATH), 'kv.memory.style': 'terse' });
  });
  const ids = (text: string) => parse(text).map((r) => r.id ?? `memory:${r.key}`);
  assert.equal(ids(exportIssues(store)).sort(), ['bd-task', 'bd-tst']);
  assert.equal(ids(exportIssues(store, { includeInfra: true })).sort(), [
    'bd-agent',
    'bd-msg',
    'bd-task',
    'bd-tst',
  ]);
  assert.equal(ids(exportIssues(store, { scrub: true })), ['bd-task']);
  const all = exportIssues(store, { all: true });
  assert.equal(ids(all).sort(), [
    'bd-agent',
    'bd-msg',
    'bd-task',
    'bd-tpl',
    'bd-tst',
    'bd-wisp',
    'memory:style',
  ]);
  assert.equal(parse(all).at(-1), { _type: 'memory', key: 'style', value: 'terse' });
});

test('import: defaults, header, blank lines, tombstones, wisp alias, closed_at, computed keys', async () => {
  const { store, commits } = await fresh();
  const text = [
    line({ _schema: 'beads-jsonl/1', _dolt_branch: 'main', _sort: 'stable-v1' }),
    '',
    line({ id: 'bd-1', title: 'Bare', status: '', issue_type: '' }),
    '   ',
    line({ id: 'bd-2', title: 'Gone', status: 'tombstone' }),
    line({ id: 'bd-3', title: 'Wisp', wisp: true, updated_at: '2026-02-01T00:00:00Z' }),
    line({
      _type: 'issue',
      id: 'bd-4',
      title: 'Closed',
      status: 'closed',
      created_at: '2026-03-01T00:00:00Z',
      updated_at: '2026-03-02T10:00:00Z',
      dependency_count: 9,
      dependent_count: 9,
      comment_count: 9,
      parent: 'bd-1',
      content_hash: 'abc',
      child_counter: 99,
      some_future_field: 'x',
    }),
  ].join('\r\n');
  const before = commits();
  const r = importIssues(store, text, { source: 'mem' });
  assert.is(commits(), before + 1);
  assert.is(r.created, 3);
  assert.is(r.skipped, 1);
  assert.equal(r.ids, ['bd-1', 'bd-3', 'bd-4']);
  const b1 = store.get('bd-1')!;
  assert.is(b1.status, 'open');
  assert.is(b1.issue_type, 'task');
  assert.is(b1.priority, 0);
  assert.ok(b1.created_at && b1.updated_at);
  assert.is(store.get('bd-2'), undefined);
  const w = store.get('bd-3')!;
  assert.is(w.ephemeral, true);
  assert.not.ok(store.ledger.snapshot().files[beadPath('bd-3')], 'a wisp is never committed');
  const b4 = store.get('bd-4') as any;
  assert.is(b4.closed_at, '2026-03-02T10:00:01Z');
  for (const k of [
    'dependency_count',
    'parent',
    'content_hash',
    'child_counter',
    'some_future_field',
    '_type',
  ]) {
    assert.not.ok(k in b4, k);
  }
});

test('import: upsert of the listed fields only, labels additive, comments deduplicated', async () => {
  const { store } = await fresh();
  store.transact('seed', (tx) =>
    tx.put(
      bead('bd-u', {
        owner: 'owner@here',
        created_by: 'alice',
        pinned: true,
        spec_id: 'SPEC-1',
        due_at: '2026-06-01T00:00:00Z',
        labels: ['keep'],
        description: 'old description',
        assignee: 'bob',
        comments: [
          { id: 'c-1', issue_id: 'bd-u', author: 'al', text: 'first', created_at: '2026-01-01T00:00:00Z' },
        ],
      }),
    ),
  );
  const r = importIssues(
    store,
    jsonl({
      id: 'bd-u',
      title: 'New title',
      status: 'in_progress',
      priority: 1,
      issue_type: 'bug',
      owner: 'intruder@there',
      created_by: 'mallory',
      created_at: '2020-01-01T00:00:00Z',
      spec_id: 'SPEC-2',
      updated_at: '2026-01-05T00:00:00Z',
      started_at: '2026-01-05T00:00:00Z',
      labels: ['new', 'keep'],
      comments: [
        { id: 'other-id', author: 'al', text: 'first', created_at: '2026-01-01T00:00:00.000Z' },
        { id: 7, author: 'bo', text: 'second', created_at: '2026-01-02T00:00:00Z' },
        { author: 'cy', text: 'third', created_at: '2026-01-03T00:00:00Z' },
      ],
    }),
  );
  assert.is(r.created, 0);
  assert.is(r.updated, 1);
  const b = store.get('bd-u')!;
  assert.is(b.title, 'New title');
  assert.is(b.status, 'in_progress');
  assert.is(b.priority, 1);
  assert.is(b.issue_type, 'bug');
  assert.is(b.started_at, '2026-01-05T00:00:00Z');
  assert.is(b.updated_at, '2026-01-05T00:00:00Z');
  // Upserted fields absent from the line are cleared (they are in the update list) ...
  assert.is(b.description, undefined);
  assert.is(b.assignee, undefined);
  // ... every other field is kept.
  assert.is(b.owner, 'owner@here');
  assert.is(b.created_by, 'alice');
  assert.is(b.created_at, '2026-01-01T00:00:00Z');
  assert.is(b.spec_id, 'SPEC-1');
  assert.is(b.pinned, true);
  assert.is(b.due_at, '2026-06-01T00:00:00Z');
  assert.equal(b.labels, ['keep', 'new']);
  assert.equal(
    b.comments!.map((c) => [c.id, c.text]),
    [
      ['c-1', 'first'],
      ['7', 'second'],
      [b.comments![2].id, 'third'],
    ],
  );
  assert.match(b.comments![2].id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  // Labels absent from a later line are never removed.
  importIssues(store, jsonl({ id: 'bd-u', title: 'New title', labels: ['third'] }));
  assert.equal(store.get('bd-u')!.labels, ['keep', 'new', 'third']);
});

test('import: staleness by updated_at (older skipped and listed, equal and missing upsert)', async () => {
  const { store, commits } = await fresh();
  store.transact('seed', (tx) => {
    tx.put(bead('bd-s1', { updated_at: '2026-02-01T00:00:00Z', title: 'local 1' }));
    tx.put(bead('bd-s2', { updated_at: '2026-02-01T00:00:00Z', title: 'local 2' }));
    tx.put(bead('bd-s3', { updated_at: '2026-02-01T00:00:00Z', title: 'local 3' }));
  });
  const before = commits();
  const r = importIssues(
    store,
    jsonl(
      { id: 'bd-s1', title: 'older', updated_at: '2026-01-31T23:59:59Z' },
      { id: 'bd-s2', title: 'equal', updated_at: '2026-02-01T00:00:00.000Z' },
      { id: 'bd-s3', title: 'no time' },
    ),
  );
  assert.equal(r.stale_skipped_ids, ['bd-s1']);
  assert.is(r.skipped, 1);
  assert.is(r.updated, 2);
  assert.equal(r.ids, ['bd-s2', 'bd-s3']);
  assert.is(store.get('bd-s1')!.title, 'local 1');
  assert.is(store.get('bd-s2')!.title, 'equal');
  assert.is(store.get('bd-s3')!.title, 'no time');
  assert.is(commits(), before + 1);
  // Only stale lines: nothing changes, no commit.
  const r2 = importIssues(store, jsonl({ id: 'bd-s1', title: 'older', updated_at: '2020-01-01T00:00:00Z' }));
  assert.equal(r2.stale_skipped_ids, ['bd-s1']);
  assert.is(commits(), before + 1);
});

test('import: --dedup drops titles of existing issues that are not closed', async () => {
  const { store } = await fresh();
  store.transact('seed', (tx) => {
    tx.put(bead('bd-o', { title: 'Fix The Login' }));
    tx.put(bead('bd-c', { title: 'Closed one', status: 'closed', closed_at: '2026-01-01T00:00:00Z' }));
  });
  const text = jsonl(
    { id: 'bd-n1', title: 'fix the login' },
    { id: 'bd-n2', title: 'closed one' },
    { id: 'bd-n3', title: 'brand new' },
  );
  const r = importIssues(store, text, { dedup: true });
  assert.is(r.dedup_skipped, 1);
  assert.equal(r.ids, ['bd-n2', 'bd-n3']);
  assert.is(store.get('bd-n1'), undefined);
});

test('import: memory lines become config kv.memory.<key>', async () => {
  const { store } = await fresh();
  const r = importIssues(
    store,
    jsonl(
      { _type: 'memory', key: 'style', value: 'be terse' },
      { _type: 'memory', key: 'empty', value: '' },
      { id: 'bd-m', title: 'with memories' },
    ),
  );
  assert.is(r.memories, 1);
  assert.is(store.config()['kv.memory.style'], 'be terse');
  assert.not.ok('kv.memory.empty' in store.config());
  assert.is(store.config().issue_prefix, 'bd');
  // And they come back out with --all.
  assert.ok(
    exportIssues(store, { all: true }).includes('{"_type":"memory","key":"style","value":"be terse"}'),
  );
});

test('import: dependencies after all issues; missing targets and cycles skipped with reasons', async () => {
  const { store } = await fresh();
  store.transact('seed', (tx) => {
    tx.put(bead('bd-x'));
    tx.put(
      bead('bd-y', {
        dependencies: [
          { issue_id: 'bd-y', depends_on_id: 'bd-x', type: 'blocks', created_at: '2026-01-01T00:00:00Z' },
        ],
      }),
    );
  });
  const dep = (to: string, type = 'blocks') => ({
    depends_on_id: to,
    type,
    created_at: '2026-01-02T00:00:00Z',
  });
  const r = importIssues(
    store,
    jsonl(
      // Refers to a bead defined further down: fine, dependencies land after all issues.
      { id: 'bd-p', title: 'p', dependencies: [dep('bd-q'), dep('bd-missing'), dep('external:other:cap')] },
      { id: 'bd-q', title: 'q', dependencies: [dep('bd-p')] }, // p → q → p: the second edge closes a cycle
      { id: 'bd-x', title: 'x', dependencies: [dep('bd-y')] }, // y → x exists: x → y would close it
      { id: 'bd-y', title: 'y', dependencies: [dep('bd-x', 'related')] }, // existing pair keeps "blocks"
      { id: 'bd-r', title: 'r', dependencies: [dep('bd-r'), dep('bd-x', 'related'), dep('bd-q', 'tracks')] },
    ),
  );
  const reasons = r.skipped_dependencies.map((d) => `${d.issue_id}>${d.depends_on_id}:${d.reason}`);
  assert.equal(reasons, [
    'bd-p>bd-missing:bd-missing does not exist',
    'bd-q>bd-p:would create a cycle: bd-q → bd-p → bd-q',
    'bd-x>bd-y:would create a cycle: bd-x → bd-y → bd-x',
    'bd-r>bd-r:an issue cannot depend on itself',
  ]);
  const targets = (id: string) => store.get(id)!.dependencies?.map((d) => `${d.type}:${d.depends_on_id}`);
  assert.equal(targets('bd-p'), ['blocks:bd-q', 'blocks:external:other:cap']);
  assert.equal(targets('bd-q'), undefined);
  assert.equal(targets('bd-y'), ['blocks:bd-x']);
  assert.equal(targets('bd-r'), ['related:bd-x', 'tracks:bd-q']);
  assert.is(store.get('bd-p')!.dependencies![0].created_at, '2026-01-02T00:00:00Z');
});

test('import: a long chain in reverse order lands whole; the edge closing it is skipped', async () => {
  const { store } = await fresh();
  const n = 2000;
  const rows = [];
  for (let i = n - 1; i >= 0; i--) {
    rows.push({
      id: `bd-c${i}`,
      title: `c${i}`,
      dependencies: i + 1 < n ? [{ depends_on_id: `bd-c${i + 1}`, type: 'blocks' }] : [],
    });
  }
  rows.push({
    id: `bd-c${n - 1}`,
    title: 'closing',
    dependencies: [{ depends_on_id: 'bd-c0', type: 'blocks' }],
  });
  const r = importIssues(store, jsonl(...rows));
  assert.is(r.created, n);
  assert.is(r.skipped_dependencies.length, 1);
  assert.match(r.skipped_dependencies[0].reason, /^would create a cycle: bd-c1999 → bd-c0 → bd-c1 → /);
});

test('import: child counters reconciled upward, parents otherwise untouched', async () => {
  const { store } = await fresh();
  store.transact('seed', (tx) =>
    tx.put(bead('bd-par', { child_counter: 1, updated_at: '2026-01-01T00:00:00Z' })),
  );
  importIssues(store, jsonl({ id: 'bd-par.4', title: 'child 4' }, { id: 'bd-par.2', title: 'child 2' }));
  const p = store.get('bd-par')!;
  assert.is(p.child_counter, 4);
  assert.is(p.updated_at, '2026-01-01T00:00:00Z');
  // Orphans are allowed.
  const r = importIssues(store, jsonl({ id: 'bd-nope.3', title: 'orphan' }));
  assert.is(r.created, 1);
});

test('import: an invalid record aborts everything and names its line', async () => {
  const { store, commits } = await fresh();
  const before = commits();
  const cases: [string, RegExp][] = [
    [
      jsonl({ id: 'bd-ok', title: 'fine' }, { id: 'bd-bad', title: 'x', priority: 7 }),
      /^line 2: .*priority 7/,
    ],
    [jsonl({ id: 'bd-ok', title: 'fine' }, { id: 'bd-t', title: '' }), /^line 2: .*title is required/],
    [jsonl({ id: 'bd-ty', title: 't', issue_type: 'nonsense' }), /^line 1: invalid issue type "nonsense"/],
    [jsonl({ id: 'bd-st', title: 't', status: 'weird' }), /^line 1: invalid status "weird"/],
    [jsonl({ id: 'bd-cl', title: 't', closed_at: '2026-01-01T00:00:00Z' }), /^line 1: .*closed_at/],
    [jsonl({ id: 'bd-ti', title: 't', created_at: 'yesterday' }), /^line 1: field "created_at" must be/],
    [jsonl({ id: 'bd-md', title: 't', metadata: '{nope' }), /^line 1: metadata is not valid JSON/],
    [jsonl({ id: 'bd-ep', title: 't', ephemeral: true, no_history: true }), /^line 1: .*exclude each other/],
    [jsonl({ id: 'bd-lb', title: 't', labels: ['a,b'] }), /^line 1: invalid label/],
    [jsonl({ title: 'no id' }), /^line 1: an issue needs an id/],
    [jsonl({ id: 'bd-k', title: 't' }, { _type: 'weird' }), /^line 2: unknown record type "weird"/],
    [jsonl({ _type: 'memory', key: 3, value: 'v' }), /^line 1: a memory line needs string/],
  ];
  for (const [text, re] of cases) {
    try {
      importIssues(store, text);
      assert.unreachable(`should have failed: ${text}`);
    } catch (e: any) {
      assert.match(e.message, re);
    }
  }
  assert.is(commits(), before);
  assert.is(store.get('bd-ok'), undefined);
});

test('import: path tricks in ids are refused', async () => {
  const { store, commits, repo } = await fresh();
  const before = commits();
  for (const id of [
    '../../etc/passwd',
    'bd-a/../../x',
    'bd-..',
    '/abs-olute',
    'bd-x.lock',
    'bd-a\\b',
    '.git-x',
  ]) {
    assert.throws(() => importIssues(store, jsonl({ id, title: 'evil' })), /line 1: invalid id/);
  }
  assert.throws(
    () =>
      importIssues(store, jsonl({ id: 'bd-fine', title: 't', dependencies: [{ depends_on_id: '../x' }] })),
    /line 1: invalid id "\.\.\/x"/,
  );
  assert.is(commits(), before);
  assert.not.ok(fs.existsSync(path.join(repo.dir, 'etc')));
});

test('import: malformed JSON names the line; skipBad skips and reports it', async () => {
  const { store, commits } = await fresh();
  const text = `${line({ id: 'bd-g1', title: 'good' })}\n{"id": "bd-bad", \n[1,2]\n${line({ id: 'bd-g2', title: 'good' })}\n`;
  const before = commits();
  assert.throws(() => importIssues(store, text), /^line 2: invalid JSON .*nothing was imported/);
  assert.is(commits(), before);
  const r = importIssues(store, text, { skipBad: true });
  assert.is(commits(), before + 1);
  assert.equal(r.ids, ['bd-g1', 'bd-g2']);
  assert.equal(
    r.bad_lines.map((b) => [b.line, b.error.split(' ')[0]]),
    [
      [2, 'invalid'],
      [3, 'not'],
    ],
  );
});

test('import: dryRun reports what would happen and writes nothing', async () => {
  const { store, commits } = await fresh();
  store.transact('seed', (tx) => tx.put(bead('bd-e', { updated_at: '2026-02-01T00:00:00Z' })));
  const before = commits();
  const text = jsonl(
    { id: 'bd-e', title: 'changed' },
    { id: 'bd-n', title: 'new', dependencies: [{ depends_on_id: 'bd-missing' }] },
    { id: 'bd-w', title: 'wisp', ephemeral: true },
    { _type: 'memory', key: 'k', value: 'v' },
  );
  const r: ImportResult = importIssues(store, text, { dryRun: true });
  assert.is(r.dry_run, true);
  assert.is(r.created, 2);
  assert.is(r.updated, 1);
  assert.is(r.memories, 1);
  assert.is(r.skipped_dependencies.length, 1);
  assert.is(commits(), before);
  assert.is(store.get('bd-e')!.title, 'Title of bd-e');
  assert.is(store.get('bd-n'), undefined);
  assert.is(store.get('bd-w'), undefined);
  assert.not.ok('kv.memory.k' in store.config());
});

test('import: round trip through export keeps every record identical, in one commit', async () => {
  const a = await fresh();
  a.store.transact('seed', (tx) => {
    tx.put(
      bead('bd-r1', {
        description: 'multi\nline',
        metadata: { team: 'core', n: 1 },
        labels: ['a', 'b'],
        estimated_minutes: 30,
        due_at: '2026-06-01T00:00:00Z',
        waiters: ['mayor/'],
        timeout: 60_000_000_000,
        await_type: 'timer',
        issue_type: 'gate',
      }),
    );
    tx.put(
      bead('bd-r2', {
        status: 'closed',
        closed_at: '2026-01-03T00:00:00Z',
        close_reason: 'done',
        comments: [
          { id: 'c', issue_id: 'bd-r2', author: 'x', text: 'y', created_at: '2026-01-02T00:00:00Z' },
        ],
        dependencies: [
          {
            issue_id: 'bd-r2',
            depends_on_id: 'bd-r1',
            type: 'waits-for',
            created_at: '2026-01-01T00:00:00Z',
            created_by: 'z',
            metadata: '{"gate":"any-children"}',
          },
        ],
      }),
    );
  });
  const text = exportIssues(a.store);
  const b = await fresh();
  const before = b.commits();
  const r = importIssues(b.store, text);
  assert.is(r.created, 2);
  assert.is(b.commits(), before + 1);
  assert.equal(b.store.get('bd-r1'), a.store.get('bd-r1'));
  assert.equal(b.store.get('bd-r2'), a.store.get('bd-r2'));
  assert.is(exportIssues(b.store), text);
});

test('backup: rows normalised as spec §4.3 lists', () => {
  const row = {
    acceptance_criteria: '',
    actor: '',
    agent_state: 'idle',
    assignee: null,
    content_hash: 'deadbeef',
    created_at: '2026-02-26T05:16:49Z',
    crystallizes: 0,
    ephemeral: 0,
    hook_bead: '',
    id: 'gt-08hf1',
    is_template: 0,
    issue_type: 'task',
    metadata: '{}',
    pinned: 1,
    priority: 3,
    quality_score: null,
    source_repo: '.',
    status: 'open',
    timeout_ns: 0,
    title: 'Evaluate Hosted Dolt',
    updated_at: '2026-02-26T05:16:49Z',
    waiters: '',
  };
  assert.equal(normalizeBackupIssue(row), {
    acceptance_criteria: '',
    actor: '',
    created_at: '2026-02-26T05:16:49Z',
    ephemeral: false,
    id: 'gt-08hf1',
    is_template: false,
    issue_type: 'task',
    pinned: true,
    priority: 3,
    status: 'open',
    title: 'Evaluate Hosted Dolt',
    updated_at: '2026-02-26T05:16:49Z',
  });
  assert.equal(
    normalizeBackupIssue({ id: 'gt-g', metadata: '{"k":1}', waiters: '["mayor/"]', timeout_ns: 5e9 }),
    { id: 'gt-g', metadata: { k: 1 }, waiters: ['mayor/'], timeout: 5e9 },
  );
  assert.throws(() => normalizeBackupIssue({ id: 'gt-x', metadata: '{bad' }), /metadata is not valid JSON/);
});

test('backup: a directory imports through the same path', async () => {
  const { store } = await fresh();
  const dir = tmpDir('gt-backup-');
  fs.writeFileSync(
    path.join(dir, 'issues.jsonl'),
    jsonl(
      {
        id: 'gt-a1',
        title: 'A',
        status: 'open',
        priority: 1,
        issue_type: 'task',
        assignee: null,
        ephemeral: 0,
        pinned: 0,
        is_template: 0,
        metadata: '{}',
        waiters: '',
        timeout_ns: 0,
        created_at: '2026-01-01T00:00:00Z',
        updated_at: '2026-01-01T00:00:00Z',
      },
      {
        id: 'gt-a2',
        title: 'B',
        status: 'open',
        priority: 2,
        issue_type: 'bug',
        ephemeral: 0,
        metadata: '{}',
      },
    ),
  );
  fs.writeFileSync(
    path.join(dir, 'dependencies.jsonl'),
    jsonl(
      {
        created_at: '2026-01-01T00:00:00Z',
        created_by: 'mayor',
        depends_on_id: 'gt-a1',
        issue_id: 'gt-a2',
        type: 'blocks',
      },
      {
        created_at: '2026-01-01T00:00:00Z',
        created_by: null,
        depends_on_id: 'gt-zz',
        issue_id: 'gt-a2',
        type: 'blocks',
      },
    ),
  );
  fs.writeFileSync(path.join(dir, 'labels.jsonl'), jsonl({ issue_id: 'gt-a1', label: 'gt:improvement' }));
  fs.writeFileSync(
    path.join(dir, 'comments.jsonl'),
    jsonl({
      author: 'crew/emma',
      created_at: '2026-01-19T19:37:45Z',
      id: 3,
      issue_id: 'gt-a1',
      text: 'hello',
    }),
  );
  fs.writeFileSync(path.join(dir, 'config.jsonl'), jsonl({ key: 'issue_prefix', value: 'gt' }));
  const r = importBackupDir(store, dir);
  assert.is(r.created, 2);
  assert.equal(
    r.skipped_dependencies.map((d) => d.depends_on_id),
    ['gt-zz'],
  );
  assert.ok(r.warnings.some((w) => w.includes('"gt"')));
  const a1 = store.get('gt-a1')!;
  assert.equal(a1.labels, ['gt:improvement']);
  assert.equal(a1.comments, [
    { id: '3', issue_id: 'gt-a1', author: 'crew/emma', text: 'hello', created_at: '2026-01-19T19:37:45Z' },
  ]);
  assert.is(a1.metadata, undefined);
  assert.is(store.get('gt-a2')!.dependencies![0].created_by, 'mayor');
  assert.is(store.prefix(), 'bd');
});

test.run();
