// bd history: who changed a bead, when, and what (a field-level diff of the YAML before and
// after each commit), in as few git spawns as possible; plus the diff itself as pure logic.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { addDependency, deleteBead } from '../../src/beads/ops.ts';
import { BeadStore, locate } from '../../src/beads/store.ts';
import { BEAD_DIFF } from '../../src/cli/bd/maintenance.ts';
import { loadCodec } from '../../src/ledger/codec.ts';
import { diffRecords, parseRawLog } from '../../src/ledger/history.ts';
import { BD, bdRepo, run } from '../helpers.ts';

type Repo = ReturnType<typeof bdRepo>;

/** Change beads through the store API (for edits no command makes yet: a blocks edge, a delete). */
async function viaApi(repo: Repo, fn: (store: BeadStore) => void): Promise<void> {
  await loadCodec();
  const saved = process.env.GIT_AUTHOR_EMAIL;
  process.env.GIT_AUTHOR_EMAIL = 'api@example.com';
  try {
    const store = new BeadStore(locate(repo.dir), { actor: 'api-user' });
    fn(store);
    store.flush();
  } finally {
    if (saved === undefined) delete process.env.GIT_AUTHOR_EMAIL;
    else process.env.GIT_AUTHOR_EMAIL = saved;
  }
}

test('the life of a bead: each change with its author, date, subject and field diff', async () => {
  const repo = bdRepo();
  const blocker = repo.ok('q', 'the blocker').trim();
  const parent = repo.ok('create', 'an epic', '-t', 'epic', '--json').id;
  const id = repo.ok(
    '--actor',
    'alice',
    'create',
    'login fails',
    '-t',
    'bug',
    '-p',
    '1',
    '-l',
    'ui',
    '--json',
  ).id;
  repo.ok(
    '--actor',
    'bob',
    'update',
    id,
    '--status',
    'in_progress',
    '--add-label',
    'auth',
    '--remove-label',
    'ui',
  );
  repo.ok('update', id, '--parent', parent, '--set-metadata', 'team=core', '-d', 'line one\nline two');
  await viaApi(repo, (store) =>
    store.transact(`dep add ${id} ${blocker}`, (tx) => {
      const b = tx.must(id);
      addDependency(tx, b, blocker, 'blocks');
      tx.put(b);
      tx.note(`dep add ${id} → ${blocker} (blocks)`);
    }),
  );
  repo.ok('--actor', 'carol', 'close', id, '--reason', 'fixed it', '--force');
  repo.ok('reopen', id, '--reason', 'it came back');

  const h = repo.ok('history', id, '--json');
  assert.is(h.id, id);
  assert.is(h.deleted, false);
  assert.is(h.ref, 'refs/beads/ledger');
  assert.is(h.path, `beads/${h.path.split('/')[1]}/${id}.yaml`);
  assert.is(h.entries.length, 6);
  const [reopen, close, dep, update2, update1, create] = h.entries;
  for (const e of h.entries) {
    assert.match(e.commit, /^[0-9a-f]{40}$/);
    assert.ok(!Number.isNaN(Date.parse(e.date)), e.date);
  }
  const texts = (e: any) => e.changes.map((c: any) => c.text);

  assert.is(create.action, 'created');
  assert.is(create.author.name, 'alice');
  assert.is(create.author.email, 'tester@example.com');
  assert.match(create.subject, new RegExp(`^create ${id}: login fails`));
  assert.ok(texts(create).includes('title: (none) → login fails'));
  assert.ok(texts(create).includes('labels: +ui'));

  assert.is(update1.author.name, 'bob');
  assert.equal(
    texts(update1).sort(),
    [
      'labels: +auth -ui',
      'started_at: (none) → ' + update1.changes.find((c: any) => c.field === 'started_at').to,
      'status: open → in_progress',
    ].sort(),
  );
  const status = update1.changes.find((c: any) => c.field === 'status');
  assert.equal(status, {
    field: 'status',
    op: 'change',
    from: 'open',
    to: 'in_progress',
    text: 'status: open → in_progress',
  });

  assert.ok(texts(update2).includes(`dependencies: +parent-child:${parent}`));
  assert.ok(texts(update2).includes('metadata.team: (none) → core'));
  assert.ok(texts(update2).includes('description: set (2 lines)'));

  assert.is(dep.author.name, 'api-user');
  assert.is(dep.author.email, 'api@example.com');
  assert.equal(texts(dep), [`dependencies: +blocks:${blocker}`]);

  assert.is(close.author.name, 'carol');
  assert.ok(texts(close).includes('status: in_progress → closed'));
  assert.ok(texts(close).includes('close_reason: (none) → fixed it'));

  assert.ok(texts(reopen).includes('status: closed → open'));
  assert.ok(texts(reopen).includes('comments: +1'));
  assert.not.ok(
    reopen.changes.some((c: any) => c.field === 'updated_at'),
    'updated_at is noise',
  );

  // The text form says the same for people.
  const text = repo.ok('history', id);
  for (const line of [
    'status: open → in_progress',
    'labels: +auth -ui',
    `dependencies: +blocks:${blocker}`,
    'comments: +1',
    'created: login fails [bug, P1, open]',
    'carol <tester@example.com>',
  ]) {
    assert.ok(text.includes(line), `missing "${line}" in:\n${text}`);
  }
  // --limit keeps the newest; a partial id resolves as elsewhere.
  const two = repo.ok('history', id.split('-')[1], '--limit', '2', '--json');
  assert.equal(
    two.entries.map((e: any) => e.commit),
    [reopen.commit, close.commit],
  );
  assert.is(repo.bd('history', id, '--limit', '0').code, 2);
});

test('a deleted bead: its exact id still has a history, ending in the delete', async () => {
  const repo = bdRepo();
  const keep = repo.ok('q', 'stays').trim();
  const gone = repo.ok('q', 'will be deleted').trim();
  repo.ok('update', gone, '--priority', '0');
  await viaApi(repo, (store) => store.transact(`delete ${gone}`, (tx) => deleteBead(tx, gone)));
  assert.is(repo.bd('show', gone).code, 3);
  const h = repo.ok('history', gone, '--json');
  assert.is(h.deleted, true);
  assert.equal(
    h.entries.map((e: any) => e.action),
    ['deleted', 'updated', 'created'],
  );
  assert.ok(h.entries[0].changes.some((c: any) => c.field === 'title' && c.op === 'unset'));
  assert.equal(
    h.entries[1].changes.map((c: any) => c.text),
    ['priority: 2 → 0'],
  );
  assert.match(repo.ok('history', gone), /deleted/);
  // Only the exact id works for a bead that is gone; unknown ids are not found.
  assert.is(repo.bd('history', gone.split('-')[1]).code, 3);
  const none = repo.bd('history', 'bd-neverwas');
  assert.is(none.code, 3);
  assert.match(none.stderr, /was ever committed/);
  assert.is(repo.bd('history', keep, '--json').code, 0);
});

test('git spawns: one log, and one cat-file only when blobs are packed', () => {
  const repo = bdRepo();
  const id = repo.ok('q', 'counted').trim();
  for (let i = 0; i < 5; i++) repo.ok('update', id, '--priority', String(i % 4));
  repo.ok('list'); // the cache is fresh: no refresh spawns during history
  const realGit = spawnSync('which', ['git'], { encoding: 'utf8' }).stdout.trim();
  const bin = path.join(repo.home, 'shim');
  fs.mkdirSync(bin);
  const shim = path.join(bin, 'git');
  fs.writeFileSync(
    shim,
    [
      '#!/usr/bin/env node',
      "const { spawnSync } = require('node:child_process');",
      "require('node:fs').appendFileSync(process.env.GIT_SHIM_LOG, process.argv.slice(2).join(' ') + '\\n');",
      "const r = spawnSync(process.env.GIT_SHIM_REAL, process.argv.slice(2), { stdio: 'inherit' });",
      'process.exit(r.status ?? 1);',
      '',
    ].join('\n'),
  );
  fs.chmodSync(shim, 0o755);
  const log = path.join(repo.home, 'git-calls.log');
  const env = {
    ...repo.env,
    PATH: `${bin}:${repo.env.PATH}`,
    GIT_SHIM_LOG: log,
    GIT_SHIM_REAL: realGit,
  };
  const calls = () => {
    const lines = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
    fs.rmSync(log, { force: true });
    return lines.map(
      (l) =>
        l
          .split(' ')
          .find((w) => ['log', 'cat-file', 'diff-tree', 'ls-tree', 'config', 'rev-parse'].includes(w)) ?? l,
    );
  };
  let r = run(BD, ['history', id, '--json'], { cwd: repo.dir, env });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json().entries.length, 6);
  assert.equal(calls(), ['log'], 'loose blobs are read in process');
  repo.git('gc', '--quiet');
  r = run(BD, ['history', id, '--json'], { cwd: repo.dir, env });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json().entries.length, 6);
  assert.equal(calls(), ['log', 'cat-file'], 'packed blobs come through one batch');
  assert.equal(
    r.json().entries.map((e: any) => e.changes.find((c: any) => c.field === 'priority')?.text ?? null),
    [
      'priority: 3 → 0',
      'priority: 2 → 3',
      'priority: 1 → 2',
      'priority: 0 → 1',
      'priority: 2 → 0',
      'priority: (none) → 2',
    ],
  );
});

test('a wisp has no history (never committed)', () => {
  const repo = bdRepo();
  const id = repo.ok('q', 'ephemeral thing', '--ephemeral').trim();
  const r = repo.ok('history', id, '--json');
  assert.equal(r.entries, []);
  assert.match(repo.ok('history', id), /wisp/);
});

// ---- pure logic --------------------------------------------------------------------------------

test('diffRecords: scalars, lists, keyed and counted lists, nested objects, long text', () => {
  const before = {
    id: 'bd-1',
    title: 'a',
    status: 'open',
    assignee: 'x',
    labels: ['ui', 'keep'],
    metadata: { team: 'core', gone: 1 },
    notes: 'one\ntwo',
    description: 'short',
    dependencies: [{ type: 'blocks', depends_on_id: 'bd-2', created_at: 't' }],
    comments: [{ id: 'c1', text: 'hi' }],
    updated_at: 't1',
  };
  const after = {
    id: 'bd-1',
    title: 'b',
    status: 'closed',
    labels: ['keep', 'auth'],
    metadata: { team: 'infra', added: true },
    notes: 'one\ntwo\nthree',
    description: 'a much longer description that goes past the sixty characters of a short text',
    dependencies: [
      { type: 'blocks', depends_on_id: 'bd-2', created_at: 't', metadata: '{"x":1}' },
      { type: 'related', depends_on_id: 'bd-3', created_at: 't' },
    ],
    comments: [
      { id: 'c1', text: 'hi' },
      { id: 'c2', text: 'yo' },
      { id: 'c3', text: 'ok' },
    ],
    updated_at: 't2',
  };
  const texts = diffRecords(before, after, BEAD_DIFF).map((c) => c.text);
  assert.equal(texts, [
    'title: a → b',
    'status: open → closed',
    'labels: +auth -ui',
    'metadata.team: core → infra',
    'metadata.added: (none) → true',
    'metadata.gone: 1 → (none)',
    'notes: +1 line',
    'description: edited (1 → 1 lines)',
    'dependencies: +related:bd-3 ~blocks:bd-2',
    'comments: +2',
    'assignee: x → (none)',
  ]);
  assert.equal(diffRecords(after, after, BEAD_DIFF), []);
  // Empty values are all "none": no change between absent, '', [] and {}.
  assert.equal(diffRecords({ a: '', b: [], c: {} }, { d: null }), []);
  assert.equal(
    diffRecords({ labels: ['a', 'b'] }, { labels: ['b', 'a'] }).map((c) => c.text),
    ['labels: reordered'],
  );
  assert.equal(diffRecords({}, { comments: [{ id: 'x' }] }, BEAD_DIFF)[0], {
    field: 'comments',
    op: 'list',
    added: ['x'],
    removed: [],
    text: 'comments: +1',
  });
});

test('parseRawLog: commits with their blob before/after, other paths ignored', () => {
  const a = 'a'.repeat(40);
  const b = 'b'.repeat(40);
  const z = '0'.repeat(40);
  const out =
    `\x1e${'1'.repeat(40)}\x1fAl\x1fal@x\x1f2026-01-02T00:00:00+00:00\x1fupdate: x\x1fy\0\n` +
    `:100644 100644 ${a} ${b} M\0beads/aa/bd-1.yaml\0:100644 100644 ${a} ${b} M\0other.yaml\0` +
    `\x1e${'2'.repeat(40)}\x1fBo\x1fbo@x\x1f2026-01-01T00:00:00+00:00\x1fcreate\0\n` +
    `:000000 100644 ${z} ${a} A\0beads/aa/bd-1.yaml\0`;
  const log = parseRawLog(out, 'beads/aa/bd-1.yaml');
  assert.is(log.length, 2);
  assert.equal(log[0], {
    commit: '1'.repeat(40),
    author: { name: 'Al', email: 'al@x' },
    date: '2026-01-02T00:00:00+00:00',
    subject: 'update: x\x1fy',
    status: 'M',
    before: a,
    after: b,
  });
  assert.is(log[1].before, null);
  assert.is(log[1].after, a);
  assert.is(log[1].status, 'A');
});

test.run();
