// Convoys in a real town: create with tracks across prefixes (a rig bead and an hq bead), add,
// status progress, the landing rule (closed and merged; MR beads made by hand here until the
// refinery exists), the landed mail, stranded detection, list/--tree, refusals that write
// nothing, and `gt ready` across rigs.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BeadStore } from '../../src/beads/store.ts';
import { loadCodec } from '../../src/ledger/codec.ts';
import {
  assertNotTracked,
  checkConvoys,
  createConvoyTx,
  openConvoysTracking,
  strandedConvoys,
  trackedState,
} from '../../src/work/convoy.ts';
import { BD, GT, run } from '../helpers.ts';
import { ledgerCount, makeTown, snapshot, type Town } from '../town/town-fixture.ts';

function setup() {
  const t = makeTown();
  t.ok('rig', 'add', 'myrig', t.src);
  const rigBd = (...args: string[]) => run(BD, args, { cwd: path.join(t.root, 'myrig'), env: t.env });
  const create = (title: string, inRig = false, ...extra: string[]): string => {
    const r = (inRig ? rigBd : t.bd)('create', title, '--json', ...extra);
    if (r.code !== 0) throw new Error(`bd create: ${r.stderr}`);
    return r.json().id;
  };
  const bd = (...args: string[]) => {
    const r = t.bd(...args);
    if (r.code !== 0) throw new Error(`bd ${args.join(' ')}: ${r.stderr}`);
    return r;
  };
  return { t, rigBd, create, bd };
}

/** A merge-request bead for a work bead, as gt done writes it. */
function mr(s: ReturnType<typeof setup>, source: string): string {
  return s.create(
    `Merge ${source}`,
    false,
    '--type',
    'merge-request',
    '--metadata',
    JSON.stringify({ source_issue: source }),
  );
}

function messages(t: Town): any[] {
  const r = t.bd('list', '--type', 'message', '--json', '--all');
  assert.is(r.code, 0, r.stderr);
  return r.json();
}

test('create: hq-cv id, tracks across prefixes, description and metadata; add; status progress', () => {
  const s = setup();
  const { t } = s;
  const hq = s.create('Town chore');
  const rig = s.create('Rig task', true);
  assert.match(hq, /^hq-/);
  assert.match(rig, /^my-/);
  const before = ledgerCount(t);
  const v = t.ok(
    'convoy',
    'create',
    'Feature X',
    hq,
    rig,
    '--notify',
    'mayor/',
    '--owned',
    '--merge',
    'mr',
    '--base-branch',
    'dev',
    '--json',
  );
  assert.is(ledgerCount(t), before + 1, 'one commit');
  assert.match(v.id, /^hq-cv-[0-9a-z]{5}$/);
  assert.is(v.title, 'Feature X');
  assert.equal(
    v.tracked.map((x: any) => x.id),
    [hq, rig],
  );
  assert.is(v.done, 0);
  assert.is(v.total, 2);
  assert.ok(v.owned);
  assert.is(v.merge, 'mr');
  assert.is(v.base_branch, 'dev');
  const bead = t.bd('show', v.id, '--json').json();
  const b = Array.isArray(bead) ? bead[0] : bead;
  assert.is(b.issue_type, 'convoy');
  assert.match(
    b.description,
    /^Convoy tracking 2 issues\nowner: overseer\nnotify: mayor\/\nmerge: mr\nbase_branch: dev$/,
  );
  assert.equal(b.metadata, { owner: 'overseer', notify: ['mayor/'], merge: 'mr', base_branch: 'dev' });
  assert.ok(b.labels.includes('gt:owned'));
  assert.equal(
    b.dependencies.map((d: any) => [d.depends_on_id, d.type]),
    [
      [hq, 'tracks'],
      [rig, 'tracks'],
    ],
  );
  // Tracking never blocks: both stay ready.
  const ready = t.ok('ready', '--json');
  assert.is(ready.total, 2);

  // add: a third bead; adding it again is a no-op; progress moves as beads close.
  const third = s.create('Another rig task', true);
  const a = t.ok('convoy', 'add', v.id, third, '--json');
  assert.equal(a.added, [third]);
  assert.is(a.total, 3);
  const n = ledgerCount(t);
  assert.equal(t.ok('convoy', 'add', v.id, third, '--json').added, []);
  assert.is(ledgerCount(t), n, 'nothing to add, nothing written');
  s.bd('close', hq);
  const st = t.ok('convoy', 'status', v.id, '--json');
  assert.is(st.done, 1);
  assert.is(st.total, 3);
  assert.is(st.tracked.find((x: any) => x.id === hq).state, 'done');
  // show is status; the 5-character form works; text lists ✓/○.
  const text = t.ok('convoy', 'show', v.id.slice(-5));
  assert.match(text, /1\/3 done/);
  assert.match(text, new RegExp(`✓ ${hq} Town chore \\[done\\]`));
  assert.match(text, new RegExp(`○ ${rig} Rig task \\[ready\\]`));
});

test('landing rule: closed without MR is done; an open MR holds it; merged MR lands it and mails owner + notify', () => {
  const s = setup();
  const { t } = s;
  const a = s.create('First', true);
  const b = s.create('Second');
  const v = t.ok(
    'convoy',
    'create',
    'Ship it',
    a,
    b,
    '--owner',
    'mayor/',
    '--notify',
    'myrig/witness',
    '--json',
  );
  // a: closed, no MR → done. b: in progress with an open MR (gt done before the merge).
  s.bd('close', a);
  s.bd('update', b, '--status', 'in_progress');
  const m = mr(s, b);
  let st = t.ok('convoy', 'status', v.id, '--json');
  assert.is(st.tracked.find((x: any) => x.id === a).state, 'done');
  assert.is(st.tracked.find((x: any) => x.id === b).state, 'merging');
  assert.equal(t.ok('convoy', 'check', '--json').landed, []);
  // Closed while its MR is still open: still not done.
  s.bd('close', b);
  st = t.ok('convoy', 'status', v.id, '--json');
  assert.is(st.tracked.find((x: any) => x.id === b).state, 'merging');
  assert.is(st.done, 1);
  assert.equal(t.ok('convoy', 'check', '--json').landed, []);
  // land without --force refuses and writes nothing.
  const before = snapshot(t);
  const r = t.gt('convoy', 'land', v.id);
  assert.is(r.code, 4);
  assert.match(r.stderr, /cannot land yet: .*merging/);
  assert.is(snapshot(t), before);
  // An MR closed without merging (rejected): not done either.
  s.bd('close', m, '--reason', 'rejected');
  st = t.ok('convoy', 'status', v.id, '--json');
  assert.is(st.tracked.find((x: any) => x.id === b).state, 'unmerged');
  // A newer MR merges: done, and check lands the convoy in this command.
  const m2 = mr(s, b);
  s.bd('close', m2, '--reason', 'merged');
  assert.equal(t.ok('convoy', 'check', '--dry-run', '--json').landed, [v.id]);
  assert.is(t.ok('convoy', 'status', v.id, '--json').status, 'open', 'dry run changes nothing');
  const c = t.ok('convoy', 'check', '--json');
  assert.equal(c.landed, [v.id]);
  st = t.ok('convoy', 'status', v.id, '--json');
  assert.is(st.status, 'closed');
  assert.is(st.close_reason, 'landed');
  assert.is(st.done, 2);
  const landed = messages(t).filter((x) => x.title === `🚚 Convoy Landed: Ship it (${v.id})`);
  assert.equal(landed.map((x) => x.assignee).sort(), ['mayor/', 'myrig/witness']);
  // Idempotent: nothing more lands, no more mail.
  assert.equal(t.ok('convoy', 'check', '--json').landed, []);
  assert.is(messages(t).filter((x) => x.title.startsWith('🚚 Convoy Landed')).length, 2);
  // A closed convoy takes no more work.
  const extra = s.create('Late');
  const snap = snapshot(t);
  const add = t.gt('convoy', 'add', v.id, extra);
  assert.is(add.code, 4);
  assert.match(add.stderr, /is closed/);
  assert.is(snap, snapshot(t));
  // list hides it, --all shows it.
  assert.equal(t.ok('convoy', 'list', '--json'), []);
  assert.equal(
    t.ok('convoy', 'list', '--all', '--json').map((x: any) => x.id),
    [v.id],
  );
});

test('stranded: ready unassigned tracked work, or empty; parked rigs are not fed', () => {
  const s = setup();
  const { t } = s;
  const a = s.create('Rig work', true, '--priority', '3');
  const b = s.create('Urgent rig work', true, '--priority', '0');
  const blocker = s.create('Blocker', true);
  const c = s.create('Blocked work', true);
  s.bd('dep', 'add', c, blocker);
  const busy = t.ok('convoy', 'create', 'Busy', c, '--json');
  const fed = t.ok('convoy', 'create', 'Feed me', a, b, '--json');
  const empty = t.ok('convoy', 'create', 'Empty', '--json');
  let st = t.ok('convoy', 'stranded', '--json');
  assert.equal(
    st.map((x: any) => [x.convoy, x.next, x.empty]),
    [
      [fed.id, b, false],
      [empty.id, null, true],
    ],
  );
  assert.not.ok(
    st.some((x: any) => x.convoy === busy.id),
    'blocked work is not ready',
  );
  // Someone takes b: a is next. Someone takes a too: not stranded.
  s.bd('update', b, '--assignee', 'myrig/polecats/nux', '--status', 'hooked');
  st = t.ok('convoy', 'stranded', '--json');
  assert.equal(st.find((x: any) => x.convoy === fed.id).next, a);
  // check reports what to feed (sling does the feeding).
  assert.equal(
    t.ok('convoy', 'check', '--json').fed.filter((f: any) => f.convoy === fed.id),
    [{ convoy: fed.id, bead: a }],
  );
  // A parked rig's work is not fed.
  t.ok('rig', 'park', 'myrig');
  st = t.ok('convoy', 'stranded', '--json');
  assert.not.ok(st.some((x: any) => x.convoy === fed.id));
  t.ok('rig', 'unpark', 'myrig');
  s.bd('update', a, '--assignee', 'myrig/polecats/max');
  st = t.ok('convoy', 'stranded', '--json');
  assert.not.ok(st.some((x: any) => x.convoy === fed.id));
  // The empty one is never landed by check; close it by hand.
  assert.equal(t.ok('convoy', 'check', '--json').landed, []);
  t.ok('convoy', 'close', empty.id, '--reason', 'nothing to do');
  assert.is(t.ok('convoy', 'status', empty.id, '--json').close_reason, 'nothing to do');
  // close refuses with work not done, unless --force.
  const r = t.gt('convoy', 'close', fed.id);
  assert.is(r.code, 4);
  assert.match(r.stderr, /work not done/);
  t.ok('convoy', 'close', fed.id, '--force');
  // land --force lands with work not done.
  t.ok('convoy', 'land', busy.id, '--force');
  assert.is(t.ok('convoy', 'status', busy.id, '--json').close_reason, 'landed');
});

test('list --tree, --from-epic, and refusals that write nothing', () => {
  const s = setup();
  const { t } = s;
  const epic = s.create('Epic', true, '--type', 'epic');
  const k1 = s.create('Child one', true, '--parent', epic);
  const k2 = s.create('Child two', true, '--parent', epic, '--type', 'bug');
  s.create('Child note', true, '--parent', epic, '--type', 'decision');
  const v = t.ok('convoy', 'create', 'From epic', '--from-epic', epic, '--json');
  assert.equal(v.tracked.map((x: any) => x.id).sort(), [k1, k2].sort());
  const tree = t.ok('convoy', 'list', '--tree');
  assert.match(tree, new RegExp(`${v.id} From epic {2}0/2 done`));
  assert.match(tree, new RegExp(`○ ${k1} Child one`));
  assert.match(t.ok('convoy', 'list'), new RegExp(`${v.id} From epic`));
  assert.not.match(t.ok('convoy', 'list'), /Child one/);

  const before = snapshot(t);
  const cases: [string[], number, RegExp][] = [
    [['convoy', 'create', 'Bad', 'hq-nope'], 3, /no bead with id/],
    [['convoy', 'create', 'Bad', k1, 'my-zzzzz'], 3, /no bead/],
    [['convoy', 'create', 'Bad', k1, '--merge', 'yolo'], 2, /invalid merge strategy/],
    [['convoy', 'create', 'Bad', k1, '--notify', 'nobody/here/at/all'], 3, /./],
    [['convoy', 'create', 'Bad', v.id], 2, /is a convoy/],
    [['convoy', 'add', 'hq-cv-zzzzz', k1], 3, /no convoy/],
    [['convoy', 'add', 'not/an/id', k1], 2, /invalid convoy id/],
    [['convoy', 'add', v.id, 'hq-missing'], 3, /no bead/],
    [['convoy', 'status', epic], 2, /invalid convoy id/],
    [['convoy', 'land', 'hq-cv-zzzzz'], 3, /no convoy/],
    [['ready', '--rig', 'nosuch'], 3, /no rig named/],
  ];
  for (const [args, code, re] of cases) {
    const r = t.gt(...args);
    assert.is(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
  }
  const j = t.gt('convoy', 'create', 'Bad', 'hq-nope', '--json');
  assert.is(j.json().exit_code, 3);
  assert.is(snapshot(t), before, 'nothing written');
});

test('gt ready: the ready set across the town, grouped by rig prefix, parked rigs marked', () => {
  const s = setup();
  const { t } = s;
  const hq = s.create('Town work');
  const r1 = s.create('Rig work', true, '--priority', '1');
  const r2 = s.create('Rig blocked', true);
  const r3 = s.create('Rig taken', true);
  s.rigBd('dep', 'add', r2, r1);
  s.rigBd('update', r3, '--status', 'in_progress');
  t.ok('convoy', 'create', 'Not work', hq, '--json');
  let j = t.ok('ready', '--json');
  assert.is(j.total, 2);
  assert.equal(
    j.groups.map((g: any) => [g.prefix, g.rig, g.parked, g.beads.map((b: any) => b.id)]),
    [
      ['hq', null, false, [hq]],
      ['my', 'myrig', false, [r1]],
    ],
  );
  t.ok('rig', 'park', 'myrig');
  j = t.ok('ready', '--rig', 'myrig', '--json');
  assert.equal(
    j.groups.map((g: any) => [g.rig, g.parked]),
    [['myrig', true]],
  );
  const text = t.ok('ready');
  assert.match(text, /town \[hq\] \(1\)/);
  assert.match(text, /myrig \[my\] \(1\) parked/);
  assert.match(text, /2 ready/);
});

test('trackedState: the landing rule as pure logic', () => {
  const bead = (status: string, extra: any = {}) => ({ id: 'my-a', status, ct: 1, ...extra }) as any;
  const mrb = (status: string, close_reason?: string, ct = 1) =>
    ({ id: `hq-m${ct}`, status, close_reason, ct, issue_type: 'merge-request' }) as any;
  const none = new Set<string>();
  assert.is(trackedState(undefined, [], none).state, 'missing');
  assert.is(trackedState(bead('open'), [], none).state, 'ready');
  assert.is(trackedState(bead('open'), [], new Set(['my-a'])).state, 'blocked');
  assert.is(trackedState(bead('hooked', { assignee: 'x' }), [], none).state, 'hooked');
  assert.ok(trackedState(bead('closed'), [], none).done);
  assert.is(trackedState(bead('hooked'), [mrb('open')], none).state, 'merging');
  assert.not.ok(trackedState(bead('closed'), [mrb('open')], none).done);
  assert.is(trackedState(bead('closed'), [mrb('closed', 'superseded by hq-m2')], none).state, 'unmerged');
  assert.ok(
    trackedState(bead('closed'), [mrb('closed', 'superseded by hq-m2'), mrb('closed', 'merged', 2)], none)
      .done,
  );
  // Merged MR but the bead is still open (gt done closes it after the merge): not done yet.
  assert.not.ok(trackedState(bead('in_progress'), [mrb('closed', 'merged')], none).done);
  // A newer MR still open holds it back even after an older merge.
  assert.not.ok(
    trackedState(bead('closed'), [mrb('closed', 'merged'), mrb('open', undefined, 2)], none).done,
  );
});

test("API for gt sling: createConvoyTx in the caller's commit, openConvoysTracking, assertNotTracked, checkConvoys", async () => {
  const s = setup();
  const { t } = s;
  const a = s.create('Rig work', true);
  const b = s.create('Town work');
  await loadCodec();
  const store = BeadStore.open(t.root, { actor: 'mayor' });
  const before = ledgerCount(t);
  const cv = store.transact('sling: batch', (tx) => {
    const c = createConvoyTx(tx, {
      name: 'Batch: 2 beads to myrig',
      issues: [a, b],
      owner: 'mayor/',
      merge: 'mr',
    });
    const w = tx.must(a);
    w.metadata = { ...(w.metadata ?? {}), convoy_id: c.id };
    tx.put(w);
    return c;
  });
  store.flush();
  assert.is(ledgerCount(t), before + 1, 'the convoy and the work bead in one commit');
  assert.match(cv.id, /^hq-cv-[0-9a-z]{5}$/);
  assert.equal(openConvoysTracking(store, a), [cv.id]);
  assert.equal(openConvoysTracking(store, 'my-zzzz'), []);
  try {
    assertNotTracked(store, [b]);
    assert.unreachable('tracked beads are refused');
  } catch (e: any) {
    assert.is(e.exitCode, 4);
    assert.match(e.message, new RegExp(`${b} \\(${cv.id}\\)`));
  }
  assertNotTracked(store, [s.create('Free')]);
  assert.equal(
    strandedConvoys(BeadStore.open(t.root)).map((x) => x.convoy),
    [cv.id],
  );
  s.bd('close', a, b);
  const r = await checkConvoys(BeadStore.open(t.root), t.root, { actor: 'deacon' });
  assert.equal(r.landed, [cv.id]);
  assert.equal(r.fed, []);
  assert.equal(r.mail[0].recipients, ['mayor/']);
  assert.equal(openConvoysTracking(BeadStore.open(t.root), a), []);
  const again = await checkConvoys(BeadStore.open(t.root), t.root);
  assert.equal(again.landed, []);
});

test('two concurrent `gt convoy check`: the convoy lands once, one mail per recipient', async () => {
  const s = setup();
  const { t } = s;
  const a = s.create('Work', true);
  const v = t.ok('convoy', 'create', 'Race', a, '--owner', 'mayor/', '--json');
  s.bd('close', a);
  const runAsync = () =>
    new Promise<{ code: number | null; out: string }>((resolve) => {
      const c = spawn(process.execPath, [GT, 'convoy', 'check', '--json'], { cwd: t.root, env: t.env });
      let out = '';
      c.stdout.on('data', (d) => {
        out += d;
      });
      c.on('close', (code) => resolve({ code, out }));
    });
  const rs = await Promise.all([runAsync(), runAsync(), runAsync()]);
  for (const r of rs) assert.is(r.code, 0);
  const landed = rs.flatMap((r) => JSON.parse(r.out).landed);
  assert.equal(landed, [v.id]);
  assert.is(messages(t).filter((x) => x.title === `🚚 Convoy Landed: Race (${v.id})`).length, 1);
  // status with no id lists the open convoys (none left).
  assert.equal(t.ok('convoy', 'status', '--json'), []);
});

test("check --feed: a stranded convoy is fed its next ready bead (a polecat of the bead's rig)", () => {
  const s = setup();
  const a = s.create('Feed me first', true, '-p', '0');
  const b = s.create('Then me', true, '-p', '2');
  const cv = s.t.ok('convoy', 'create', 'Feeding', a, b, '--json').id;
  const r = s.t.ok('convoy', 'check', '--feed', '--no-start', '--json');
  const fed = r.fed.find((f: any) => f.convoy === cv);
  assert.is(fed.bead, a);
  assert.match(fed.agent, /^myrig\/polecats\//);
  const bead = s.bd('show', a, '--json').json()[0];
  assert.is(bead.status, 'hooked');
  assert.is(bead.assignee, fed.agent);
  // Nobody is on the second bead yet, but the convoy now has work in flight: fed again, next bead.
  const again = s.t.ok('convoy', 'check', '--feed', '--no-start', '--json');
  assert.ok(again.fed.every((f: any) => f.bead !== a));
});

test.run();
