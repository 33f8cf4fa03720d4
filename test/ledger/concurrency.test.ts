// Concurrent writers: separate processes writing to one ledger at the same moment. Every write
// must land exactly once (no lost update, no duplicate), the history must stay linear with one
// commit per write, and git must find the object database clean.
import { spawn } from 'node:child_process';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadCodec } from '../../src/ledger/codec.ts';
import { BD, bdRepo, tmpRepo } from '../helpers.ts';
import { commitsOf, fsck, gitOut, startWriter, tipRecords } from './fixtures/verify.ts';
import { openLedger } from './fixtures/writer.ts';

const REF = 'refs/test/ledger';
const WRITERS = 8;
const WRITES = 25;

test(`${WRITERS} processes × ${WRITES} transactions at once: all land, once each, linearly`, async () => {
  const repo = tmpRepo();
  // All start at the same instant, after every process has loaded (tsx takes a few hundred ms).
  const startAt = Date.now() + 2500;
  const writers = Array.from({ length: WRITERS }, (_, w) =>
    // Half keep one Ledger (in-memory index refreshed from tree diffs), half open a new one per
    // write (index loaded from the shared cache file each time, like separate commands).
    startWriter(repo.dir, repo.env, REF, `w${w}`, WRITES, { startAt, fresh: w % 2 === 1 }),
  );
  const codes = await Promise.all(writers.map((w) => w.exited));
  for (const [w, code] of codes.entries()) assert.is(code, 0, `writer ${w} failed:\n${writers[w].output()}`);

  const records = tipRecords(repo.dir, repo.env, REF);
  // Count and content of every write.
  assert.equal(records.get('counter.yaml'), { n: WRITERS * WRITES }, 'the shared counter lost updates');
  const items = [...records.keys()].filter((p) => p.startsWith('items/'));
  assert.is(items.length, WRITERS * WRITES);
  for (let w = 0; w < WRITERS; w++) {
    for (let i = 0; i < WRITES; i++) {
      const r = records.get(`items/w${w}/${i}.yaml`);
      assert.ok(r, `write w${w} ${i} is missing`);
      assert.is(r.worker, `w${w}`);
      assert.is(r.i, i);
    }
  }
  // Linear history, exactly one commit per write, authored by its writer.
  const commits = commitsOf(repo.dir, repo.env, REF);
  assert.is(commits.length, WRITERS * WRITES);
  assert.is(commits[0].parents.length, 0);
  for (let k = 1; k < commits.length; k++) {
    assert.equal(commits[k].parents, [commits[k - 1].commit], `commit ${k} is not a single-parent successor`);
  }
  const subjects = new Set(commits.map((c) => c.subject));
  assert.is(subjects.size, WRITERS * WRITES, 'a write was committed twice');
  for (let w = 0; w < WRITERS; w++)
    for (let i = 0; i < WRITES; i++) assert.ok(subjects.has(`write w${w} ${i}`));
  const author = gitOut(repo.dir, repo.env, 'log', '-1', '--format=%an <%ae>|%s', REF).trim();
  const [who, subject] = author.split('|');
  assert.is(who, `${subject.split(' ')[1]} <${subject.split(' ')[1]}@test.invalid>`);

  const f = fsck(repo.dir, repo.env);
  assert.is(f.code, 0, f.problems.join('\n'));
  assert.equal(f.problems, []);

  // Reads through the ledger (cache left by the last writer) agree with git.
  await loadCodec();
  const ledger = openLedger(repo.dir, REF);
  const paths = [...records.keys()];
  const read = ledger.readMany(paths);
  for (const p of paths) assert.equal(read.get(p), records.get(p), p);
  assert.is(Object.keys(ledger.snapshot().files).length, records.size);
});

test('bd create from 8 processes at once: every bead lands, one commit each', async () => {
  const repo = bdRepo();
  const PER = 6;
  const chain = (w: number) =>
    new Promise<string[]>((resolve, reject) => {
      const ids: string[] = [];
      const next = (i: number) => {
        if (i === PER) return resolve(ids);
        const child = spawn(process.execPath, [BD, 'q', `bead from writer ${w} number ${i}`], {
          cwd: repo.dir,
          env: repo.env,
        });
        let out = '';
        let err = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (err += d));
        child.on('exit', (code) => {
          if (code !== 0) return reject(new Error(`bd q exited ${code}: ${err}`));
          ids.push(out.trim());
          next(i + 1);
        });
      };
      next(0);
    });
  const ids = (await Promise.all(Array.from({ length: 8 }, (_, w) => chain(w)))).flat();
  assert.is(new Set(ids).size, 8 * PER);
  const list = repo.ok('list', '--json', '--limit', '0', '--status', 'open') as any[];
  assert.equal(list.map((b) => b.id).sort(), [...ids].sort());
  for (const b of list) assert.match(b.title, /^bead from writer \d number \d$/);
  const commits = commitsOf(repo.dir, repo.env, 'refs/beads/ledger');
  assert.is(commits.length, 8 * PER + 1, 'init plus one commit per create');
  for (let k = 1; k < commits.length; k++) assert.equal(commits[k].parents, [commits[k - 1].commit]);
  const f = fsck(repo.dir, repo.env);
  assert.is(f.code, 0, f.problems.join('\n'));
  const doctor = repo.bd('doctor', '--json');
  assert.is(doctor.code, 0, doctor.stdout);
});

test.run();
