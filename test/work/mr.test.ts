// Merge-request beads in process (src/work/mr.ts): create, reuse on branch + commit, supersede,
// findOpenMRs, and bad input refused with nothing written.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BeadStore } from '../../src/beads/store.ts';
import { loadCodec } from '../../src/ledger/codec.ts';
import { createOrReuseMR, findOpenMRs, type MRInput } from '../../src/work/mr.ts';
import { ledgerCount, makeTown } from '../town/town-fixture.ts';

const t = makeTown();
const A = 'a'.repeat(40);
const B = 'b'.repeat(40);

async function store(): Promise<BeadStore> {
  await loadCodec();
  return BeadStore.open(t.root, { actor: 'myrig/polecats/nux' });
}

function issue(title: string): string {
  const r = t.bd('create', title, '-p', '0', '--json');
  if (r.code !== 0) throw new Error(r.stderr);
  return r.json().id;
}

const input = (i: string, sha: string, branch = `polecat/nux/${i}@x`): MRInput => ({
  issue: i,
  branch,
  target: 'main',
  rig: 'myrig',
  prefix: 'hq',
  commitSha: sha,
  worker: 'myrig/polecats/nux',
  agentBead: 'hq-myrig-polecat-nux',
  priority: 0,
});

test('create, reuse on the same branch and commit, supersede on a new commit', async () => {
  const i = issue('MR work');
  const s = await store();
  const first = s.transact('mr 1', (tx) => createOrReuseMR(tx, input(i, A)));
  assert.is(first.reused, false);
  assert.is(first.mr.issue_type, 'merge-request');
  assert.is(first.mr.title, `Merge: ${i}`);
  assert.is(first.mr.priority, 0);
  assert.equal(first.mr.labels, ['gt:merge-request']);
  assert.is((first.mr.metadata as any).retry_count, 0);
  assert.equal(
    findOpenMRs(s, i).map((b) => b.id),
    [first.mr.id],
  );
  const again = s.transact('mr 2', (tx) => createOrReuseMR(tx, input(i, A)));
  assert.is(again.reused, true);
  assert.is(again.mr.id, first.mr.id);
  const next = s.transact('mr 3', (tx) => createOrReuseMR(tx, input(i, B)));
  assert.is(next.reused, false);
  assert.equal(next.superseded, [first.mr.id]);
  const old = s.get(first.mr.id)!;
  assert.is(old.status, 'closed');
  assert.is(old.close_reason, `superseded by ${next.mr.id}`);
  assert.equal(
    findOpenMRs(s, i).map((b) => b.id),
    [next.mr.id],
  );
  s.flush();
});

test('bad input: an invalid sha or an unknown issue writes nothing', async () => {
  const i = issue('Other');
  const s = await store();
  const before = ledgerCount(t);
  assert.throws(() => s.transact('bad', (tx) => createOrReuseMR(tx, input(i, 'nope'))), /invalid commit sha/);
  assert.throws(() => s.transact('bad', (tx) => createOrReuseMR(tx, input('hq-zzzzz', A))), /hq-zzzzz/);
  assert.is(ledgerCount(t), before);
  assert.equal(findOpenMRs(s, i), []);
  s.flush();
});

test.run();
