// The precomputed read views answer exactly what the full index answers, and are never
// trusted when the ledger, the wisps or the clock moved on.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bdRepo, quick } from '../helpers.ts';

function cacheFiles(r: ReturnType<typeof bdRepo>) {
  const dir = path.join(r.dir, '.git', 'gt', 'cache');
  const all = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
  return {
    dir,
    index: path.join(dir, 'refs_beads_ledger.json'),
    views: path.join(dir, 'refs_beads_ledger.views.json'),
    rows: all.filter((f) => f.includes('.rows.')).map((f) => path.join(dir, f)),
  };
}

const READS: string[][] = [['ready'], ['list'], ['list', '-n', '2'], ['blocked'], ['ready', '-n', '1']];

function outputs(r: ReturnType<typeof bdRepo>, extra: string[][] = []): string[] {
  return [...READS, ...extra].map((args) => r.bd(...args, '--json').stdout);
}

test('views and the full index give identical answers for ready, list, blocked and show', () => {
  const r = bdRepo();
  const a = quick(r, 'Alpha', '-p', '1');
  const b = quick(r, 'Beta', '--deps', a);
  const epic = quick(r, 'Epic', '-t', 'epic');
  const kid = quick(r, 'Kid', '--parent', epic);
  quick(r, 'Gamma', '-l', 'x,y', '-a', 'bob');
  r.ok('comment', a, 'a note');
  const shows = [
    ['show', a],
    ['show', b, kid],
    ['show', epic],
  ];
  const files = cacheFiles(r);
  assert.ok(fs.existsSync(files.views), 'views are written with the index');
  // Fast path: the views answer without the index (a read through views never rewrites it).
  fs.rmSync(files.index);
  const fast = outputs(r, shows);
  assert.not.ok(fs.existsSync(files.index), 'a read answered by the views does not load the index');
  // Slow path: no views, no rows.
  fs.rmSync(files.views);
  for (const f of files.rows) fs.rmSync(f);
  const slow = outputs(r, shows);
  assert.equal(fast, slow);
  assert.ok(JSON.parse(slow[0]).length > 0);
  assert.ok(fs.existsSync(files.views), 'the slow path saves fresh views');
});

test('views go stale when wisps change, when the ref moves, or when a deferral expires', async () => {
  const r = bdRepo();
  const w = r.ok('create', 'Patrol', '--ephemeral', '--json').id;
  const b = quick(r, 'Waits for the patrol', '--deps', w);
  assert.equal(
    r.ok('blocked', '--json').map((x: any) => x.id),
    [b],
  );
  r.ok('close', w); // a wisp write: no commit, only the wisp directory changes
  assert.equal(
    r.ok('ready', '--json').map((x: any) => x.id),
    [b],
  );
  // The ref moved behind the cache's back (another clone, a reset): views are not trusted.
  const before = r.git('rev-parse', 'refs/beads/ledger').trim();
  const c = quick(r, 'Newer');
  assert.ok(r.ok('ready', '--json').some((x: any) => x.id === c));
  r.git('update-ref', 'refs/beads/ledger', before);
  assert.not.ok(r.ok('ready', '--json').some((x: any) => x.id === c));
  // A deferral that expires makes the ready view stale by time alone.
  const soon = new Date(Date.now() + 1500).toISOString();
  const d = quick(r, 'Later', '--defer', soon);
  assert.not.ok(r.ok('ready', '--json').some((x: any) => x.id === d));
  await new Promise((res) => setTimeout(res, 1600));
  assert.ok(r.ok('ready', '--json').some((x: any) => x.id === d));
});

test('damaged views or rows are detected and the full path answers', () => {
  const r = bdRepo();
  const a = quick(r, 'Alpha');
  quick(r, 'Beta', '--deps', a);
  const good = outputs(r);
  const files = cacheFiles(r);
  fs.appendFileSync(files.views, ' ');
  assert.equal(outputs(r), good, 'a bad checksum is not trusted');
  for (const f of cacheFiles(r).rows) fs.writeFileSync(f, 'x'.repeat(fs.statSync(f).size));
  assert.equal(outputs(r), good, 'rows that do not parse are not trusted');
  for (const f of cacheFiles(r).rows) fs.rmSync(f);
  assert.equal(outputs(r), good, 'a missing rows file is not trusted');
});

test.run();
