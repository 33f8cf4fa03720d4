// Crash safety: writers killed with SIGKILL at random moments, and the leftovers of such kills
// (locks, temp files) planted by hand. After every kill the ref must hold a valid commit (old
// or new), git must find nothing wrong, the next write must go through at once (the dead
// owner's lock is recognised through its pid), and reads must return exactly what the ref holds.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readRef } from '../../src/git/refs.ts';
import { loadCodec } from '../../src/ledger/codec.ts';
import { compareIndexes, doctorLedger } from '../../src/ledger/doctor.ts';
import { loadIndex } from '../../src/ledger/index-cache.ts';
import { LockTimeoutError } from '../../src/ledger/lock.ts';
import { bdRepo, tmpRepo } from '../helpers.ts';
import { commitsOf, fsck, gitOut, startWriter, tipRecords } from './fixtures/verify.ts';
import { openLedger, WRITER_SCHEMA, writeOne } from './fixtures/writer.ts';

const REF = 'refs/test/ledger';
const ROUNDS = Number(process.env.CRASH_ROUNDS) || 24;

/** A pid that certainly belonged to a process that has exited (and been reaped). */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  return r.pid!;
}

function tempFiles(commonDir: string): number {
  let n = 0;
  const objects = path.join(commonDir, 'objects');
  for (const d of fs.readdirSync(objects)) {
    if (d.length === 2)
      n += fs.readdirSync(path.join(objects, d)).filter((f) => f.startsWith('tmp_obj_')).length;
  }
  return n;
}

/** Everything the ledger must satisfy after a crash; returns what the reads saw. */
function verifyAfterCrash(
  dir: string,
  env: NodeJS.ProcessEnv,
  round: number,
): { cache: string; items: number } {
  const where = `round ${round}`;
  const commonDir = path.join(dir, '.git');
  const tip = readRef(commonDir, REF);
  assert.ok(tip, `${where}: the ref is gone`);
  assert.is(
    gitOut(dir, env, 'cat-file', '-t', tip!).trim(),
    'commit',
    `${where}: the ref is not on a commit`,
  );
  const f = fsck(dir, env);
  assert.is(f.code, 0, `${where}: git fsck failed:\n${f.problems.join('\n')}`);
  assert.equal(f.problems, [], `${where}: git fsck complained`);

  // Each write is one commit touching two records together: never one without the other.
  const records = tipRecords(dir, env, REF);
  const items = [...records.keys()].filter((p) => p.startsWith('items/')).length;
  const commits = commitsOf(dir, env, REF);
  assert.equal(records.get('counter.yaml'), { n: items }, `${where}: a commit holds half a write`);
  assert.is(commits.length, items, `${where}: commits and writes differ`);
  for (let k = 1; k < commits.length; k++) assert.equal(commits[k].parents, [commits[k - 1].commit]);

  // The cache left behind is either fresh and right, or detectably stale/invalid.
  const ledger = openLedger(dir, REF);
  const loaded = loadIndex(ledger.cachePath, REF, WRITER_SCHEMA);
  let cache: string;
  if (!loaded.ok) cache = `invalid (${loaded.reason})`;
  else if (loaded.index.commit !== tip) cache = 'stale';
  else {
    const diffs = compareIndexes(loaded.index, ledger.rebuild(tip!), true);
    assert.equal(diffs, [], `${where}: a cache that claims the tip disagrees with it`);
    cache = 'fresh';
  }
  // Reads through a new Ledger return exactly what the ref holds.
  const fresh = openLedger(dir, REF);
  const snap = fresh.snapshot();
  assert.is(snap.commit, tip, `${where}: reads are not on the tip`);
  assert.equal(Object.keys(snap.files).sort(), [...records.keys()].sort(), `${where}: paths differ`);
  const read = fresh.readMany([...records.keys()]);
  for (const [p, v] of records) assert.equal(read.get(p), v, `${where}: ${p} reads differently`);
  fresh.flush();
  return { cache, items };
}

test(`SIGKILL at random moments during writes, ${ROUNDS} rounds: the ledger stays whole`, async () => {
  await loadCodec();
  const repo = tmpRepo();
  const commonDir = path.join(repo.dir, '.git');
  const ledger = openLedger(repo.dir, REF);
  writeOne(ledger, 'seed', 0);
  let lastTemps = 0;
  const stats = {
    clearedByDoctor: 0,
    ledgerLockLeft: 0,
    refLockLeft: 0,
    tempLeft: 0,
    fresh: 0,
    stale: 0,
    invalid: 0,
    maxNextWriteMs: 0,
  };
  for (let round = 0; round < ROUNDS; round++) {
    const w = startWriter(repo.dir, repo.env, REF, `r${round}`, 1_000_000, { fresh: round % 2 === 1 });
    const early = await Promise.race([w.started.then(() => false), w.exited.then(() => true)]);
    assert.not.ok(early, `writer exited before starting:\n${w.output()}`);
    await new Promise((r) => setTimeout(r, Math.random() * 200));
    w.child.kill('SIGKILL');
    await w.exited; // reaped: its pid is now dead
    const lockLeft = fs.existsSync(ledger.lockPath);
    if (lockLeft) stats.ledgerLockLeft++;
    if (fs.existsSync(path.join(commonDir, ...REF.split('/')) + '.lock')) stats.refLockLeft++;
    const temps = tempFiles(commonDir);
    if (temps > lastTemps) stats.tempLeft++;
    lastTemps = temps;

    const v = verifyAfterCrash(repo.dir, repo.env, round);
    stats[v.cache.startsWith('invalid') ? 'invalid' : (v.cache as 'fresh' | 'stale')]++;

    // Every other round, `doctor --fix` clears what the kill left before the next writer does.
    if (round % 2 === 1) {
      const report = doctorLedger(openLedger(repo.dir, REF), { fix: true });
      const bad = report.checks.filter((c) => c.status !== 'ok');
      assert.equal(bad, [], `round ${round}: doctor --fix left problems`);
      // Gone, unless the kill fell between creating the lock file and writing its owner: an
      // empty lock younger than 1 s may still be a live writer's, so it is left for the next one.
      if (fs.existsSync(ledger.lockPath)) {
        assert.is(fs.readFileSync(ledger.lockPath, 'utf8'), '', `round ${round}: doctor left the stale lock`);
      }
      assert.is(tempFiles(commonDir), 0, `round ${round}: doctor left temp files`);
      lastTemps = 0;
      if (lockLeft) stats.clearedByDoctor++;
    }
    // The next write goes through at once: no waiting for a lock timeout.
    const t = Date.now();
    const next = openLedger(repo.dir, REF);
    writeOne(next, 'after', round);
    const ms = Date.now() - t;
    stats.maxNextWriteMs = Math.max(stats.maxNextWriteMs, ms);
    // Milliseconds normally, up to ~2 s when the kill left git's ref lock; never the 30 s lock
    // timeout or the 120 s abandonment age (generous bound: the machine may be busy).
    assert.ok(ms < 8000, `round ${round}: the next write waited ${ms} ms`);
    assert.not.ok(fs.existsSync(next.lockPath), 'the lock is released after the write');
    verifyAfterCrash(repo.dir, repo.env, round);
  }
  process.stderr.write(`crash rounds: ${JSON.stringify(stats)}\n`);
});

test('a ledger lock left by a dead pid is taken over at once; a live owner is waited for', async () => {
  await loadCodec();
  const repo = tmpRepo();
  const ledger = openLedger(repo.dir, REF);
  writeOne(ledger, 'seed', 0);
  fs.mkdirSync(path.dirname(ledger.lockPath), { recursive: true });
  const holder = (pid: number) =>
    JSON.stringify({ pid, host: os.hostname(), time: Date.now(), nonce: 'planted' });
  fs.writeFileSync(ledger.lockPath, holder(deadPid()));
  const t = Date.now();
  writeOne(openLedger(repo.dir, REF), 'after-dead', 0);
  assert.ok(Date.now() - t < 5000, 'waited for a dead owner');
  assert.not.ok(fs.existsSync(ledger.lockPath));

  // A live owner (this very process, through another lock holder) is never overridden.
  fs.writeFileSync(ledger.lockPath, holder(process.pid));
  const blocked = openLedger(repo.dir, REF);
  (blocked as any).opts.lockTimeoutMs = 300;
  assert.throws(
    () => writeOne(blocked, 'blocked', 0),
    (e: unknown) => e instanceof LockTimeoutError,
  );
  assert.ok(fs.existsSync(ledger.lockPath), 'a live lock was stolen');
  fs.rmSync(ledger.lockPath);
  const f = fsck(repo.dir, repo.env);
  assert.is(f.code, 0, f.problems.join('\n'));
});

test('a git ref .lock left by a killed update: old ones are cleared at once, fresh ones after 2 s', async () => {
  await loadCodec();
  const repo = tmpRepo();
  const ledger = openLedger(repo.dir, REF);
  writeOne(ledger, 'seed', 0);
  const refLock = path.join(repo.dir, '.git', ...REF.split('/')) + '.lock';
  // Older than 2 s: the leftover of a crash some time ago.
  fs.writeFileSync(refLock, '0000000000000000000000000000000000000000\n');
  const old = new Date(Date.now() - 10_000);
  fs.utimesSync(refLock, old, old);
  let t = Date.now();
  writeOne(openLedger(repo.dir, REF), 'after-old', 0);
  assert.ok(Date.now() - t < 5000, `waited ${Date.now() - t} ms for an old ref lock`);
  assert.not.ok(fs.existsSync(refLock));
  // Fresh: a process killed a moment ago between creating the lock and renaming it.
  fs.writeFileSync(refLock, '');
  t = Date.now();
  writeOne(openLedger(repo.dir, REF), 'after-fresh', 0);
  const waited = Date.now() - t;
  assert.ok(waited >= 1500 && waited < 10_000, `a fresh ref lock took ${waited} ms to clear`);
  assert.not.ok(fs.existsSync(refLock));
  const records = tipRecords(repo.dir, repo.env, REF);
  assert.equal(records.get('counter.yaml'), { n: 3 });
});

test('bd: a dead writer lock and an old ref lock do not stop the next bd command', () => {
  const repo = bdRepo();
  const common = path.join(repo.dir, '.git');
  const lock = path.join(common, 'gt', 'locks', 'refs_beads_ledger.lock');
  fs.mkdirSync(path.dirname(lock), { recursive: true });
  fs.writeFileSync(
    lock,
    JSON.stringify({ pid: deadPid(), host: os.hostname(), time: Date.now(), nonce: 'x' }),
  );
  const refLock = path.join(common, 'refs', 'beads', 'ledger.lock');
  fs.writeFileSync(refLock, '');
  const old = new Date(Date.now() - 5000);
  fs.utimesSync(refLock, old, old);
  const t = Date.now();
  const id = repo.ok('q', 'after a crash').trim();
  assert.ok(Date.now() - t < 8000, 'the next command waited for a lock timeout');
  assert.not.ok(fs.existsSync(lock));
  assert.not.ok(fs.existsSync(refLock));
  assert.is(repo.ok('show', id, '--json')[0].title, 'after a crash');
});

test.run();
