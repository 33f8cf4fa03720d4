// bd export / bd import through the built CLI, in real git repositories.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BD, bdRepo, ledgerCommits, run } from '../helpers.ts';

const commits = ledgerCommits;
const lines = (s: string) => s.split('\n').filter(Boolean);

/** A ledger with a bit of everything, made with the core commands only. */
function seeded() {
  const a = bdRepo();
  const epic = a.ok('q', 'Ship the importer', '-t', 'epic', '-p', '1').trim();
  const child = a.ok('q', 'Parse lines', '--parent', epic, '-l', 'io,parser', '-e', '45').trim();
  const blocker = a.ok('q', 'Decide the format', '-p', '0', '--metadata', '{"team":"core"}').trim();
  const dependent = a
    .ok(
      'q',
      'Write docs',
      '--deps',
      `blocks:${blocker},related:${child}`,
      '--due',
      '2030-01-01',
      '--external-ref',
      'gh-9',
    )
    .trim();
  a.ok('close', blocker, '--reason', 'settled');
  a.ok('close', child);
  a.ok('reopen', child, '--reason', 'found a bug in the parser');
  return { a, ids: [epic, child, blocker, dependent] };
}

test('round trip: export, import into a fresh repo, identical beads and export', () => {
  const { a, ids } = seeded();
  const file = path.join(a.dir, '..', 'issues.jsonl');
  const summary = a.ok('export', '-o', file, '--json');
  assert.equal(summary, { exported: 4, memories: 0, path: file });
  const exported = fs.readFileSync(file, 'utf8');
  assert.is(lines(exported).length, 4);

  const b = bdRepo();
  const before = commits(b);
  const r = b.ok('import', file, '--json');
  assert.is(r.created, 4);
  assert.is(r.updated, 0);
  assert.equal([...r.ids].sort(), [...ids].sort());
  assert.equal(r.skipped_dependencies, []);
  assert.is(commits(b), before + 1, 'one commit for the whole import');

  assert.is(b.ok('export'), exported);
  assert.equal(b.ok('show', ...ids, '--json'), a.ok('show', ...ids, '--json'));
  // Labels, dependencies and comments made it across.
  const [child] = b.ok('show', ids[1], '--json');
  assert.equal(child.labels, ['io', 'parser']);
  assert.is(child.comments[0].text, 'found a bug in the parser');
  assert.is(child.parent, ids[0]);
  assert.is(
    b.ok('ready', '--json').some((x: any) => x.id === ids[3]),
    true,
    'the closed blocker does not block',
  );

  // Importing the same file again changes nothing and makes no commit.
  const again = b.ok('import', file, '--json');
  assert.is(again.updated, 4);
  assert.is(commits(b), before + 1);
});

test('export: stdout carries only JSONL, with or without --json', () => {
  const { a } = seeded();
  for (const args of [['export'], ['export', '--json']]) {
    const r = a.bd(...args);
    assert.is(r.code, 0, r.stderr);
    const rows = lines(r.stdout).map((l) => JSON.parse(l));
    assert.is(rows.length, 4);
    for (const row of rows) assert.is(row._type, 'issue');
    assert.ok(r.stdout.endsWith('}\n'));
  }
  const text = a.ok('export', '-o', 'out.jsonl');
  assert.match(text, /^Exported 4 issues to .*out\.jsonl\n$/);
  assert.ok(fs.existsSync(path.join(a.dir, 'out.jsonl')));
});

test('import: stdin with -, dry run writes nothing', () => {
  const b = bdRepo();
  const input = `${JSON.stringify({ id: 'bd-s1', title: 'from stdin', labels: ['x'] })}\n${JSON.stringify({
    _type: 'memory',
    key: 'tone',
    value: 'dry',
  })}\n`;
  const before = commits(b);
  const dry = run(BD, ['import', '-', '--dry-run', '--json'], { cwd: b.dir, env: b.env, input });
  assert.is(dry.code, 0, dry.stderr);
  assert.equal(
    { ...dry.json(), ids: undefined },
    {
      source: 'stdin',
      created: 1,
      updated: 0,
      skipped: 0,
      dedup_skipped: 0,
      memories: 1,
      ids: undefined,
      stale_skipped_ids: [],
      skipped_dependencies: [],
      bad_lines: [],
      dry_run: true,
      warnings: [],
    },
  );
  assert.is(commits(b), before);
  assert.is(b.bd('show', 'bd-s1').code, 3);

  const text = run(BD, ['import', '-'], { cwd: b.dir, env: b.env, input });
  assert.is(text.code, 0, text.stderr);
  assert.match(text.stdout, /^Imported 1 new, 0 updated, 1 memories from stdin\n$/);
  assert.is(commits(b), before + 1);
  assert.equal(b.ok('show', 'bd-s1', '--json')[0].labels, ['x']);
  assert.ok(b.ok('export', '--all').includes('{"_type":"memory","key":"tone","value":"dry"}'));
});

test('import: a malformed line fails naming it and writes nothing; --skip-bad imports the rest', () => {
  const b = bdRepo();
  const file = path.join(b.dir, '..', 'bad.jsonl');
  fs.writeFileSync(
    file,
    `${JSON.stringify({ id: 'bd-g1', title: 'good' })}\n{"id":"bd-x",\n${JSON.stringify({ id: 'bd-g2', title: 'good' })}\n`,
  );
  const before = commits(b);
  const r = b.bd('import', file);
  assert.is.not(r.code, 0);
  assert.match(r.stderr, /line 2: invalid JSON/);
  assert.is(r.stdout, '');
  assert.is(commits(b), before);
  const j = b.bd('import', file, '--json');
  assert.is.not(j.code, 0);
  assert.match(j.json().error, /^line 2: /);

  const ok = b.ok('import', file, '--skip-bad', '--json');
  assert.equal(ok.ids, ['bd-g1', 'bd-g2']);
  assert.is(ok.bad_lines.length, 1);
  assert.is(ok.bad_lines[0].line, 2);
  assert.is(commits(b), before + 1);
  const t = b.bd('import', file, '--skip-bad');
  assert.match(t.stdout, /Skipped bad line 2: invalid JSON/);
});

test('import: an invalid record or a path trick in an id aborts with nothing written', () => {
  const b = bdRepo();
  const before = commits(b);
  for (const [row, re] of [
    [{ id: '../../../etc/passwd', title: 'evil' }, /line 2: invalid id "\.\.\/\.\.\/\.\.\/etc\/passwd"/],
    [{ id: 'bd-v', title: 'x', issue_type: 'nope' }, /line 2: invalid issue type "nope"/],
  ] as const) {
    const input = `${JSON.stringify({ id: 'bd-fine', title: 'fine' })}\n${JSON.stringify(row)}\n`;
    const r = run(BD, ['import', '-'], { cwd: b.dir, env: b.env, input });
    assert.is(r.code, 1);
    assert.match(r.stderr, re);
  }
  assert.is(commits(b), before);
  assert.is(b.bd('show', 'bd-fine').code, 3);
  assert.is(b.bd('import', 'no-such-file.jsonl').code, 3);
  assert.is(b.bd('import', 'a', 'b').code, 2);
});

test('import: stale lines are skipped and listed; skipped dependencies are reported', () => {
  const b = bdRepo();
  const id = b.ok('q', 'Local work').trim();
  const local = b.ok('show', id, '--json')[0];
  const input = [
    { ...local, title: 'older copy', updated_at: '2000-01-01T00:00:00Z' },
    { id: 'bd-n', title: 'new', dependencies: [{ depends_on_id: 'bd-ghost', type: 'blocks' }] },
  ]
    .map((o) => JSON.stringify(o))
    .join('\n');
  const r = run(BD, ['import', '-', '--json'], { cwd: b.dir, env: b.env, input });
  assert.is(r.code, 0, r.stderr);
  const res = r.json();
  assert.equal(res.stale_skipped_ids, [id]);
  assert.equal(res.skipped_dependencies, [
    { issue_id: 'bd-n', depends_on_id: 'bd-ghost', type: 'blocks', reason: 'bd-ghost does not exist' },
  ]);
  assert.is(b.ok('show', id, '--json')[0].title, 'Local work');
  const t = run(BD, ['import', '-'], { cwd: b.dir, env: b.env, input });
  assert.match(t.stdout, new RegExp(`Skipped 1 stale .*${id}`));
  assert.match(t.stdout, /Skipped dependency bd-n → bd-ghost \(blocks\): bd-ghost does not exist/);
});

/** A small legacy backup, shaped like the real rows of spec §4.3. */
function writeBackup(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  const issue = (over: Record<string, unknown>) => ({
    acceptance_criteria: '',
    actor: '',
    agent_state: '',
    assignee: null,
    await_id: '',
    await_type: '',
    close_reason: '',
    closed_at: null,
    closed_by_session: '',
    compacted_at: null,
    compacted_at_commit: null,
    compaction_level: 0,
    content_hash: '0f3c9a',
    created_at: '2026-02-26T05:16:49Z',
    created_by: 'mayor',
    crystallizes: 0,
    defer_until: null,
    description: '',
    design: '',
    due_at: null,
    ephemeral: 0,
    estimated_minutes: null,
    event_kind: '',
    external_ref: null,
    hook_bead: '',
    is_template: 0,
    issue_type: 'task',
    last_activity: null,
    metadata: '{}',
    mol_type: '',
    notes: '',
    original_size: 0,
    owner: 'steve@example.com',
    payload: '',
    pinned: 0,
    priority: 3,
    quality_score: null,
    rig: '',
    role_bead: '',
    role_type: '',
    sender: '',
    source_repo: '.',
    source_system: '',
    spec_id: '',
    status: 'open',
    target: '',
    timeout_ns: 0,
    updated_at: '2026-02-26T05:16:49Z',
    waiters: '',
    wisp_type: '',
    work_type: '',
    ...over,
  });
  const rows = [
    issue({ id: 'gt-08hf1', title: 'Evaluate Hosted Dolt (Tim offering free instance)' }),
    issue({
      id: 'gt-gow8b',
      title: 'Convoy manager',
      issue_type: 'convoy',
      pinned: 1,
      assignee: 'gastown/polecats/furiosa',
      metadata: '{"owner_rig":"gastown"}',
      status: 'closed',
      closed_at: '2026-02-27T10:00:00Z',
      close_reason: 'done',
    }),
    issue({
      id: 'gt-gate1',
      title: 'Wait for CI',
      issue_type: 'gate',
      await_type: 'gh:run',
      await_id: '123',
      timeout_ns: 3_600_000_000_000,
      waiters: '["mayor/","gastown/witness"]',
    }),
    issue({ id: 'gt-wisp-a1', title: 'patrol step', ephemeral: 1, wisp_type: 'patrol' }),
  ];
  const jl = (xs: object[]) => `${xs.map((x) => JSON.stringify(x)).join('\n')}\n`;
  fs.writeFileSync(path.join(dir, 'issues.jsonl'), jl(rows));
  fs.writeFileSync(
    path.join(dir, 'dependencies.jsonl'),
    jl([
      {
        created_at: '2025-12-31T02:16:10Z',
        created_by: 'mayor',
        depends_on_id: 'gt-gow8b',
        issue_id: 'gt-08hf1',
        type: 'blocks',
      },
      {
        created_at: '2025-12-31T02:16:10Z',
        created_by: 'mayor',
        depends_on_id: 'gt-guyt5',
        issue_id: 'gt-08hf1',
        type: 'related',
      },
    ]),
  );
  fs.writeFileSync(
    path.join(dir, 'labels.jsonl'),
    jl([
      { issue_id: 'gt-08hf1', label: 'gt:improvement' },
      { issue_id: 'gt-08hf1', label: 'infra' },
    ]),
  );
  fs.writeFileSync(
    path.join(dir, 'comments.jsonl'),
    jl([
      {
        author: 'beads/crew/emma',
        created_at: '2026-01-19T19:37:45Z',
        id: 3,
        issue_id: 'gt-gow8b',
        text: '## Current Implementation (2026-01-19)',
      },
    ]),
  );
  fs.writeFileSync(
    path.join(dir, 'events.jsonl'),
    jl([
      {
        actor: 'mayor',
        comment: null,
        created_at: '2026-02-26T15:13:23Z',
        event_type: 'status_changed',
        id: 1,
        issue_id: 'gt-gow8b',
        new_value: '{"status":"hooked"}',
        old_value: '{}',
      },
    ]),
  );
  fs.writeFileSync(
    path.join(dir, 'config.jsonl'),
    jl([
      { key: 'issue_prefix', value: 'gt' },
      { key: 'types.custom', value: 'molecule,gate,convoy,merge-request,slot,agent,role,rig,message' },
      { key: 'kv.memory.deploys', value: 'never on fridays' },
    ]),
  );
  fs.writeFileSync(
    path.join(dir, 'backup_state.json'),
    JSON.stringify({ last_event_id: 1, counts: { issues: 4, events: 1 } }),
  );
}

test('import DIR: a legacy .beads/backup directory is normalised and imported', () => {
  const b = bdRepo();
  writeBackup(path.join(b.dir, '.beads', 'backup'));
  const before = commits(b);
  // No argument: .beads/backup is found.
  const r = b.ok('import', '--json');
  assert.is(r.created, 4);
  assert.is(r.memories, 1);
  assert.equal(
    r.skipped_dependencies.map((d: any) => d.depends_on_id),
    ['gt-guyt5'],
  );
  assert.ok(r.warnings.some((w: string) => w.includes('events.jsonl: 1 event')));
  assert.ok(r.warnings.some((w: string) => w.includes('issue_prefix is "gt"')));
  assert.is(commits(b), before + 1);

  const [plain, convoy, gate] = b.ok('show', 'gt-08hf1', 'gt-gow8b', 'gt-gate1', '--json');
  assert.equal(plain.labels, ['gt:improvement', 'infra']);
  assert.equal(
    plain.dependencies.map((d: any) => [d.type, d.depends_on_id, d.created_by]),
    [['blocks', 'gt-gow8b', 'mayor']],
  );
  assert.is(plain.owner, 'steve@example.com');
  for (const k of ['assignee', 'metadata', 'waiters', 'timeout', 'pinned', 'ephemeral', 'is_template']) {
    assert.not.ok(k in plain, k);
  }
  for (const k of ['content_hash', 'source_repo', 'hook_bead', 'agent_state', 'crystallizes', 'timeout_ns']) {
    assert.not.ok(k in plain, k);
  }
  assert.is(convoy.pinned, true);
  assert.is(convoy.assignee, 'gastown/polecats/furiosa');
  assert.equal(convoy.metadata, { owner_rig: 'gastown' });
  assert.equal(convoy.comments, [
    {
      id: '3',
      issue_id: 'gt-gow8b',
      author: 'beads/crew/emma',
      text: '## Current Implementation (2026-01-19)',
      created_at: '2026-01-19T19:37:45Z',
    },
  ]);
  assert.is(gate.timeout, 3_600_000_000_000);
  assert.equal(gate.waiters, ['mayor/', 'gastown/witness']);
  // The wisp row went to the operational plane, not the ledger.
  assert.is(b.ok('show', 'gt-wisp-a1', '--json')[0].ephemeral, true);
  assert.not.ok(b.git('ls-tree', '-r', '--name-only', 'refs/beads/ledger').includes('gt-wisp-a1'));
  // Our prefix stays; the memory arrived.
  assert.is(b.ok('export', '--all').includes('"key":"deploys"'), true);
  assert.is(b.ok('q', 'after').trim().startsWith('bd-'), true);
});

test.run();
