// bd doctor: each check on a healthy ledger and on the damage it exists to find (a corrupt or
// tampered cache, stale locks and temp files, hand-made commits with bad records, missing
// objects, too many loose objects), and what --fix repairs (never committed records).
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse, stringify } from 'yaml';
import { beadPath } from '../../src/beads/record.ts';
import { BD, bdRepo, run, tmpRepo } from '../helpers.ts';
import { fsck, gitOut } from './fixtures/verify.ts';

const REF = 'refs/beads/ledger';
type Repo = ReturnType<typeof bdRepo>;

function git(
  repo: { dir: string; env: NodeJS.ProcessEnv },
  args: string[],
  input?: string,
  env = repo.env,
): string {
  const r = spawnSync('git', args, { cwd: repo.dir, env, input, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

/** Commit file changes to the ledger ref with git plumbing only, as a hand edit would. */
function plumbCommit(repo: Repo, changes: Record<string, string | null>, message: string): string {
  const env = { ...repo.env, GIT_INDEX_FILE: path.join(repo.home, `plumb-${crypto.randomUUID()}.idx`) };
  const old = git(repo, ['rev-parse', REF]);
  git(repo, ['read-tree', REF], undefined, env);
  for (const [p, text] of Object.entries(changes)) {
    if (text === null) git(repo, ['update-index', '--force-remove', p], undefined, env);
    else {
      const blob = git(repo, ['hash-object', '-w', '--stdin'], text);
      git(repo, ['update-index', '--add', '--cacheinfo', `100644,${blob},${p}`], undefined, env);
    }
  }
  const tree = git(repo, ['write-tree'], undefined, env);
  const commit = git(repo, ['commit-tree', tree, '-p', old, '-m', message]);
  git(repo, ['update-ref', REF, commit, old]);
  return commit;
}

function beadYaml(repo: Repo, id: string): any {
  return parse(git(repo, ['cat-file', '-p', `${REF}:${beadPath(id)}`]));
}

function doctor(repo: Repo, ...args: string[]) {
  const r = repo.bd('doctor', '--json', ...args);
  const data = r.json();
  const check = (name: string) => {
    const c = data.checks.find((x: any) => x.name === name);
    assert.ok(c, `no check named ${name}: ${r.stdout}`);
    return c;
  };
  return { code: r.code, data, check, stdout: r.stdout };
}

function cacheFile(repo: Repo): string {
  return path.join(repo.dir, '.git', 'gt', 'cache', 'refs_beads_ledger.json');
}

/** Drop the precomputed read views, so the next read goes through the index cache itself. */
function dropViews(repo: Repo): void {
  const dir = path.join(repo.dir, '.git', 'gt', 'cache');
  for (const f of fs.readdirSync(dir))
    if (f.includes('.views.') || f.includes('.rows.')) fs.rmSync(path.join(dir, f));
}

function writeCache(file: string, index: unknown): void {
  const body = JSON.stringify(index);
  fs.writeFileSync(file, `${body}\n${crypto.createHash('sha1').update(body).digest('hex')}`);
}

function readCache(file: string): any {
  const raw = fs.readFileSync(file, 'utf8');
  return JSON.parse(raw.slice(0, raw.lastIndexOf('\n')));
}

function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!;
}

function withBeads(n = 3): { repo: Repo; ids: string[] } {
  const repo = bdRepo();
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push(repo.ok('q', `bead number ${i}`).trim());
  return { repo, ids };
}

test('a healthy ledger: every check ok, exit 0, text and JSON forms', () => {
  const { repo, ids } = withBeads(2);
  repo.ok('update', ids[0], '--parent', ids[1]);
  const d = doctor(repo);
  assert.is(d.code, 0, d.stdout);
  assert.is(d.data.ok, true);
  assert.equal(
    d.data.checks.map((c: any) => c.name),
    [
      'ledger-ref',
      'fsck',
      'index-cache',
      'locks',
      'temp-files',
      'records',
      'loose-objects',
      'bead-ids',
      'bead-validation',
      'dependencies',
      'cycles',
      'wisps',
    ],
  );
  for (const c of d.data.checks) assert.is(c.status, 'ok', `${c.name}: ${c.message}`);
  assert.is(d.data.counts.error, 0);
  const text = repo.bd('doctor');
  assert.is(text.code, 0);
  assert.match(text.stdout, /✓ fsck/);
  assert.match(text.stdout, /No errors\./);
});

test('no ledger: doctor says how to create one and exits 1', () => {
  const repo = tmpRepo();
  const r = run(BD, ['doctor', '--json'], { cwd: repo.dir, env: repo.env });
  assert.is(r.code, 1);
  assert.is(r.json().checks[0].status, 'error');
  assert.match(r.json().checks[0].fix, /bd init/);
});

test('a torn cache file is detected by its checksum, never trusted, and rebuilt', () => {
  const { repo, ids } = withBeads(3);
  const file = cacheFile(repo);
  const raw = fs.readFileSync(file, 'utf8');
  fs.writeFileSync(file, raw.replace('bead number 1', 'bead number X'));
  let d = doctor(repo);
  assert.is(d.code, 0, 'a bad cache is a warning: readers rebuild it');
  assert.is(d.check('index-cache').status, 'warn');
  assert.match(d.check('index-cache').message, /checksum/);
  // Readers detect it and read the ref instead.
  dropViews(repo);
  const list = repo.ok('list', '--json') as any[];
  assert.equal(list.map((b) => b.title).sort(), ['bead number 0', 'bead number 1', 'bead number 2']);
  assert.ok(ids.every((id) => list.some((b) => b.id === id)));
  assert.is(doctor(repo).check('index-cache').status, 'ok', 'the reader rebuilt the cache file');
  // Cut in half (a torn write) and fixed by doctor.
  fs.writeFileSync(file, raw.slice(0, raw.length / 2));
  d = doctor(repo, '--fix');
  assert.is(d.check('index-cache').status, 'ok');
  assert.is(d.check('index-cache').fixed, true);
  d = doctor(repo);
  assert.is(d.check('index-cache').status, 'ok');
  assert.not.ok(d.check('index-cache').fixed);
});

test('a cache that claims a commit but was tampered with (valid checksum) is an error; --fix rebuilds it', () => {
  const { repo, ids } = withBeads(3);
  const file = cacheFile(repo);
  const index = readCache(file);
  const p = beadPath(ids[1]);
  index.files[p].s.title = 'forged title';
  index.files[p].oid = '0123456789012345678901234567890123456789';
  writeCache(file, index);
  // Readers trust a cache that checks out and claims the tip: that is what doctor is for.
  dropViews(repo);
  assert.ok((repo.ok('list', '--json') as any[]).some((b) => b.title === 'forged title'));
  let d = doctor(repo);
  assert.is(d.code, 1);
  const c = d.check('index-cache');
  assert.is(c.status, 'error');
  assert.ok(
    c.details.some((x: string) => x.includes(p)),
    c.details.join('\n'),
  );
  d = doctor(repo, '--fix');
  assert.is(d.code, 0, d.stdout);
  assert.is(d.check('index-cache').fixed, true);
  const titles = (repo.ok('list', '--json') as any[]).map((b) => b.title).sort();
  assert.equal(titles, ['bead number 0', 'bead number 1', 'bead number 2']);
  // A tampered stale cache is checked against the commit it claims.
  const stale = readCache(file);
  repo.ok('q', 'one more');
  delete stale.trees[path.dirname(p)];
  writeCache(file, stale);
  d = doctor(repo);
  assert.is(d.check('index-cache').status, 'error');
  // Untampered but stale: only a warning (the next read refreshes it).
  repo.bd('doctor', '--fix');
  const fresh = readCache(file);
  repo.ok('q', 'and another');
  writeCache(file, fresh);
  d = doctor(repo);
  assert.is(d.check('index-cache').status, 'warn');
  assert.match(d.check('index-cache').message, /next read refreshes it/);
});

test('stale locks are reported, cleared by --fix; a live lock is left alone', () => {
  const { repo } = withBeads(1);
  const common = path.join(repo.dir, '.git');
  const lock = path.join(common, 'gt', 'locks', 'refs_beads_ledger.lock');
  const refLock = path.join(common, 'refs', 'beads', 'ledger.lock');
  fs.writeFileSync(
    lock,
    JSON.stringify({ pid: deadPid(), host: os.hostname(), time: Date.now(), nonce: 'n' }),
  );
  fs.writeFileSync(refLock, '');
  const old = new Date(Date.now() - 5000);
  fs.utimesSync(refLock, old, old);
  let d = doctor(repo);
  assert.is(d.code, 0);
  const c = d.check('locks');
  assert.is(c.status, 'warn');
  assert.is(c.details.length, 2);
  assert.match(c.details.join('\n'), /is dead/);
  assert.match(c.details.join('\n'), /ledger\.lock/);
  d = doctor(repo, '--fix');
  assert.is(d.check('locks').fixed, true);
  assert.not.ok(fs.existsSync(lock));
  assert.not.ok(fs.existsSync(refLock));
  // A lock whose owner is alive (this test process) is a write in progress.
  fs.writeFileSync(
    lock,
    JSON.stringify({ pid: process.pid, host: os.hostname(), time: Date.now(), nonce: 'n' }),
  );
  d = doctor(repo, '--fix');
  assert.is(d.check('locks').status, 'ok');
  assert.match(d.check('locks').message, /in progress/);
  assert.ok(fs.existsSync(lock));
  fs.rmSync(lock);
});

test('temp files of killed writers are reported and removed by --fix', () => {
  const { repo } = withBeads(1);
  const dir = path.join(repo.dir, '.git', 'objects', 'ab');
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `tmp_obj_${deadPid()}_7`);
  fs.writeFileSync(tmp, 'partial');
  const cacheTmp = `${cacheFile(repo)}.tmp.${deadPid()}.1`;
  fs.writeFileSync(cacheTmp, '{');
  let d = doctor(repo);
  assert.is(d.check('temp-files').status, 'warn');
  assert.is(d.check('temp-files').details.length, 2);
  d = doctor(repo, '--fix');
  assert.is(d.check('temp-files').fixed, true);
  assert.not.ok(fs.existsSync(tmp));
  assert.not.ok(fs.existsSync(cacheTmp));
});

test('a record hand-edited to invalid YAML: doctor names its path and error; other beads still work', () => {
  const { repo, ids } = withBeads(3);
  const broken = ids[1];
  const p = beadPath(broken);
  plumbCommit(repo, { [p]: 'id: oops\ntitle: [never closed\nstatus: open\n' }, 'hand edit');
  const tip = git(repo, ['rev-parse', REF]);
  let d = doctor(repo);
  assert.is(d.code, 1);
  const c = d.check('records');
  assert.is(c.status, 'error');
  assert.is(c.details.length, 1);
  assert.ok(c.details[0].startsWith(`${p}: `), c.details[0]);
  assert.ok(c.details[0].length > p.length + 5, 'the parse error is given');
  // Other commands keep working for the other beads.
  const list = repo.ok('list', '--json') as any[];
  assert.equal(list.map((b) => b.id).sort(), [ids[0], ids[2]].sort());
  assert.is(repo.ok('show', ids[0], '--json')[0].title, 'bead number 0');
  repo.ok('update', ids[2], '--status', 'in_progress');
  const created = repo.ok('q', 'after the hand edit').trim();
  assert.is(repo.ok('show', created, '--json')[0].title, 'after the hand edit');
  // History shows the hand edit as an unreadable version.
  const h = repo.ok('history', broken, '--json');
  assert.is(h.entries[0].subject, 'hand edit');
  assert.match(h.entries[0].error, /unparsable/);
  // --fix never touches committed records: the broken one is still there, still an error.
  const before = git(repo, ['rev-parse', REF]);
  d = doctor(repo, '--fix');
  assert.is(d.code, 1);
  assert.is(git(repo, ['rev-parse', REF]), before);
  assert.is(git(repo, ['cat-file', '-p', `${REF}:${p}`]).split('\n')[1], 'title: [never closed');
  assert.ok(tip);
});

test('bead checks: id/path mismatch, invalid fields, dangling dependencies, blocking cycles, bad wisps', () => {
  const { repo, ids } = withBeads(4);
  const [a, b, c, d0] = ids;
  repo.ok('update', a, '--parent', b);
  // a blocks on c (allowed), then a hand edit makes c block on a: a cycle.
  const ya = beadYaml(repo, a);
  ya.dependencies.push({ issue_id: a, depends_on_id: c, type: 'blocks', created_at: ya.created_at });
  const yc = beadYaml(repo, c);
  yc.dependencies = [{ issue_id: c, depends_on_id: a, type: 'blocks', created_at: yc.created_at }];
  // d0 gets an invalid priority and a dependency on a bead that does not exist.
  const yd = beadYaml(repo, d0);
  yd.priority = 9;
  yd.dependencies = [
    { issue_id: d0, depends_on_id: 'bd-nothere', type: 'related', created_at: yd.created_at },
    { issue_id: d0, depends_on_id: 'external:proj:cap', type: 'blocks', created_at: yd.created_at },
  ];
  // b's record is copied under a wrong path.
  const wrong = 'beads/00/bd-wrongplace.yaml';
  plumbCommit(
    repo,
    {
      [beadPath(a)]: stringify(ya),
      [beadPath(c)]: stringify(yc),
      [beadPath(d0)]: stringify(yd),
      [wrong]: stringify(beadYaml(repo, b)),
    },
    'hand edits',
  );
  const wisps = path.join(repo.dir, '.git', 'gt', 'runtime', 'wisps');
  fs.mkdirSync(wisps, { recursive: true });
  fs.writeFileSync(path.join(wisps, 'bd-wisp-zzz.json'), '{"id": "bd-wisp-zzz", ');
  const r = doctor(repo);
  assert.is(r.code, 1);
  const ck = (n: string) => r.check(n);
  assert.is(ck('bead-ids').status, 'error');
  assert.equal(ck('bead-ids').details, [`${wrong}: holds ${b}, whose path is ${beadPath(b)}`]);
  assert.is(ck('bead-validation').status, 'error');
  assert.is(ck('bead-validation').details.length, 1);
  assert.match(ck('bead-validation').details[0], new RegExp(`^${d0}: priority 9`));
  assert.is(ck('dependencies').status, 'warn');
  assert.equal(ck('dependencies').details, [`${d0} → bd-nothere (related): no such bead`]);
  assert.is(ck('cycles').status, 'error');
  assert.is(ck('cycles').details.length, 1);
  assert.ok(ck('cycles').details[0].includes(a) && ck('cycles').details[0].includes(c));
  assert.is(ck('wisps').status, 'warn');
  assert.match(ck('wisps').details[0], /bd-wisp-zzz\.json/);
  assert.is(r.data.counts.error, 3);
  const text = repo.bd('doctor');
  assert.is(text.code, 1);
  assert.match(text.stdout, /✗ cycles/);
  assert.match(text.stdout, /3 error\(s\)/);
});

test('missing objects fail fsck and name the problem', () => {
  const { repo, ids } = withBeads(2);
  const blob = git(repo, ['rev-parse', `${REF}:${beadPath(ids[0])}`]);
  fs.rmSync(path.join(repo.dir, '.git', 'objects', blob.slice(0, 2), blob.slice(2)), { force: true });
  const d = doctor(repo);
  assert.is(d.code, 1);
  assert.is(d.check('fsck').status, 'error');
  assert.ok(
    d.check('fsck').details.some((l: string) => l.includes(blob)),
    d.check('fsck').details.join('\n'),
  );
  assert.is(d.check('records').status, 'error');
});

test('too many loose objects: a warning; --fix packs them and reads still work', () => {
  const { repo, ids } = withBeads(6);
  const loose = () => Number(/^count: (\d+)/m.exec(gitOut(repo.dir, repo.env, 'count-objects', '-v'))![1]);
  assert.ok(loose() > 10);
  let d = doctor(repo, '--max-loose', '10');
  assert.is(d.code, 0);
  assert.is(d.check('loose-objects').status, 'warn');
  d = doctor(repo, '--fix', '--max-loose', '10');
  const c = d.check('loose-objects');
  assert.is(c.status, 'ok', c.message);
  assert.is(c.fixed, true);
  assert.ok(loose() <= 10, `still ${loose()} loose objects`);
  // Blobs now come from a pack (through git cat-file): everything still reads.
  fs.rmSync(cacheFile(repo));
  const list = repo.ok('list', '--json') as any[];
  assert.equal(list.map((b) => b.id).sort(), [...ids].sort());
  assert.is(repo.ok('show', ids[3], '--json')[0].title, 'bead number 3');
  const f = fsck(repo.dir, repo.env);
  assert.is(f.code, 0, f.problems.join('\n'));
  assert.is(repo.bd('doctor').code, 0);
});

test.run();
