// The scheduler (spec §6) with real git and tmux: scheduler.max_polecats > 0 makes gt sling queue
// sling contexts (work beads untouched, auto-convoy as usual, idempotent); status/list/run
// --dry-run report; pause holds a cycle; run dispatches up to capacity through gt sling and closes
// contexts `dispatched`; failing dispatches count up to `circuit-broken`; clear; the lock file
// makes a concurrent cycle skip; schedulerRun is the daemon's entry point.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FileLock } from '../../src/ledger/lock.ts';
import { schedulerRun } from '../../src/patrol/scheduler.ts';
import { GT, run } from '../helpers.ts';
import { killTmuxServer } from '../runtime/session-fixture.ts';
import { createBeadIn, ledgerCount, makeTown, showBead, useFakeAgent } from '../town/town-fixture.ts';

const socket = `gt-test-scheduler-${process.pid}`;
process.on('exit', () => killTmuxServer(socket));

const t = makeTown({ extraEnv: { GT_TMUX_SOCKET: socket, GT_CFG_SCHEDULER__SPAWN_DELAY: '0s' } });
t.ok('rig', 'add', 'myrig', t.src);
useFakeAgent(t, { scheduler: { max_polecats: 2, batch_size: 5 } });
const rigDir = path.join(t.root, 'myrig');

const bead = (title: string): string => createBeadIn(t, rigDir, title);
const show = (id: string): any => showBead(t, id);
const gtWith = (env: NodeJS.ProcessEnv, ...args: string[]) =>
  run(GT, args, { cwd: t.root, env: { ...t.env, ...env } });

const a = bead('Alpha');
const b = bead('Bravo');
const c = bead('Charlie');
const blocker = bead('Blocker');
let contexts: Record<string, string> = {};
let convoy = '';

test('max_polecats > 0: gt sling queues sling contexts; the work beads are untouched; auto-convoy', () => {
  // Untouched: everything but the list of what depends on it (the convoy and the context do).
  const plain = (id: string) => JSON.stringify({ ...show(id), dependents: undefined });
  const before = [a, b, c].map(plain);
  const r = t.ok('sling', a, b, c, 'myrig', '--agent', 'fake', '--merge', 'direct', '--json');
  assert.equal(
    r.items.map((i: any) => [i.bead, i.action]),
    [
      [a, 'scheduled'],
      [b, 'scheduled'],
      [c, 'scheduled'],
    ],
  );
  contexts = Object.fromEntries(r.items.map((i: any) => [i.bead, i.context]));
  assert.ok(r.convoy, 'auto-convoy');
  convoy = r.convoy;
  assert.equal([a, b, c].map(plain), before, 'work beads unchanged');
  const pcDir = path.join(rigDir, 'polecats');
  assert.equal(fs.existsSync(pcDir) ? fs.readdirSync(pcDir) : [], [], 'no polecat spawned');
  // The context bead: ephemeral, labelled, tracks the work, JSON in the description.
  const ctx = show(contexts[a]);
  assert.ok(ctx.labels.includes('gt:sling-context'));
  assert.ok(ctx.ephemeral);
  assert.ok(ctx.dependencies.some((d: any) => d.type === 'tracks' && d.depends_on_id === a));
  const j = JSON.parse(ctx.description);
  assert.equal(Object.keys(j).sort(), [
    'account',
    'agent',
    'args',
    'base_branch',
    'convoy',
    'dispatch_failures',
    'enqueued_at',
    'formula',
    'hook_raw_bead',
    'last_failure',
    'merge',
    'mode',
    'no_merge',
    'owned',
    'target_rig',
    'vars',
    'version',
    'work_bead_id',
  ]);
  assert.is(j.work_bead_id, a);
  assert.is(j.target_rig, 'myrig');
  assert.is(j.formula, 'mol-polecat-work');
  assert.is(j.merge, 'direct');
  assert.is(j.agent, 'fake');
  assert.is(j.convoy, convoy);
  assert.is(j.dispatch_failures, 0);
  // The convoy tracks all three.
  const cv = show(convoy);
  assert.equal(
    cv.dependencies
      .filter((d: any) => d.type === 'tracks')
      .map((d: any) => d.depends_on_id)
      .sort(),
    [a, b, c].sort(),
  );
  // Slinging a scheduled bead again is a no-op.
  const again = t.ok('sling', a, 'myrig', '--agent', 'fake', '--json');
  assert.equal(
    again.items.map((i: any) => [i.action, i.context]),
    [['already-scheduled', contexts[a]]],
  );
  assert.is(t.ok('scheduler', 'list', '--json').length, 3);
});

test('status, list (blocked indicator) and run --dry-run change nothing', () => {
  assert.is(t.bd('dep', 'add', c, blocker).code, 0);
  const s = t.ok('scheduler', 'status', '--json');
  assert.is(s.paused, false);
  assert.is(s.deferring, true);
  assert.is(s.max_polecats, 2);
  assert.is(s.active_polecats, 0);
  assert.is(s.capacity, 2);
  assert.is(s.queued, 3);
  assert.is(s.ready, 2);
  assert.is(s.blocked, 1);
  assert.equal(s.by_rig.myrig, { queued: 3, ready: 2, blocked: 1 });
  const rows = t.ok('scheduler', 'list', '--json');
  assert.equal(
    rows.map((r: any) => [r.context.work_bead_id, r.ready]),
    [
      [a, true],
      [b, true],
      [c, false],
    ],
  );
  assert.match(t.ok('scheduler', 'list'), /blocked \(open\)/);
  const before = ledgerCount(t);
  const dry = t.ok('scheduler', 'run', '--dry-run', '--batch', '1', '--json');
  assert.is(dry.dry_run, true);
  assert.equal(
    dry.planned.map((p: any) => p.bead),
    [a],
  );
  assert.is(ledgerCount(t), before);
  assert.is(show(contexts[a]).status, 'open');
  const bad = t.gt('scheduler', 'run', '--batch', '0');
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /--batch must be a whole number of at least 1/);
});

test('pause holds the cycle; resume lets it run', async () => {
  const p = t.ok('scheduler', 'pause', '--json');
  assert.is(p.paused, true);
  const state = JSON.parse(fs.readFileSync(path.join(t.root, '.runtime', 'scheduler-state.json'), 'utf8'));
  assert.is(state.paused, true);
  assert.ok(state.at);
  const r = t.ok('scheduler', 'run', '--json');
  assert.is(r.paused, true);
  assert.match(r.skipped, /paused/);
  assert.equal(r.dispatched, []);
  assert.is(show(contexts[a]).status, 'open');
  // The daemon's entry point sees the same.
  const api = await schedulerRun(t.root, { env: t.env });
  assert.is(api.paused, true);
  assert.is(t.ok('scheduler', 'status', '--json').paused, true);
  assert.is(t.ok('scheduler', 'resume', '--json').paused, false);
  assert.is(t.ok('scheduler', 'status', '--json').paused, false);
});

test('a cycle already running (lock held): the next one skips', () => {
  const lock = new FileLock(path.join(t.root, '.runtime', 'scheduler-dispatch.lock'));
  lock.acquire(1000);
  try {
    const r = t.ok('scheduler', 'run', '--json');
    assert.match(r.skipped, /another dispatch cycle is running/);
    assert.equal(r.dispatched, []);
  } finally {
    lock.release();
  }
});

test('run dispatches up to capacity through gt sling; contexts closed dispatched; then no capacity', () => {
  const r = t.ok('scheduler', 'run', '--json');
  assert.equal(r.failed, []);
  assert.is(r.capacity, 2);
  assert.equal(
    r.dispatched.map((d: any) => d.bead),
    [a, b],
  );
  for (const id of [a, b]) {
    const w = show(id);
    assert.is(w.status, 'hooked');
    assert.match(w.assignee, /^myrig\/polecats\//);
    assert.is(w.metadata.convoy_id, convoy);
    assert.is(w.metadata.merge_strategy, 'direct');
    assert.is(show(contexts[id]).status, 'closed');
    assert.is(show(contexts[id]).close_reason, 'dispatched');
  }
  assert.ok(r.dispatched.every((d: any) => d.session));
  // Two polecats work now: capacity 0, even once c is unblocked.
  assert.is(t.bd('close', blocker).code, 0);
  const next = t.ok('scheduler', 'run', '--json');
  assert.is(next.capacity, 0);
  assert.is(next.ready, 1);
  assert.equal(next.dispatched, []);
  assert.is(show(contexts[c]).status, 'open');
});

test('failing dispatches count up and break the circuit at 3; clear closes contexts', () => {
  const more = { GT_CFG_SCHEDULER__MAX_POLECATS: '10' };
  const d = bead('Doomed');
  const s = gtWith(more, 'sling', d, 'myrig', '--agent', 'no-such-agent', '--no-convoy', '--json');
  assert.is(s.code, 0, s.stderr);
  const ctx = s.json().items[0].context;
  // Only d's context may run: c's is cleared first.
  const cl = t.ok('scheduler', 'clear', '--bead', c, '--json');
  assert.equal(cl.cleared, [contexts[c]]);
  assert.is(show(contexts[c]).close_reason, 'cleared');
  for (let i = 1; i <= 3; i++) {
    const r = gtWith(more, 'scheduler', 'run', '--json');
    assert.is(r.code, 0, r.stderr);
    const j = r.json();
    assert.is(j.failed.length, 1);
    assert.is(j.failed[0].dispatch_failures, i);
    assert.match(j.failed[0].error, /no-such-agent/);
    assert.is(j.failed[0].circuit_broken, i === 3);
    // The failed sling left nothing behind: the bead is open and unassigned.
    assert.is(show(d).status, 'open');
    assert.not.ok(show(d).assignee);
  }
  const broken = show(ctx);
  assert.is(broken.status, 'closed');
  assert.is(broken.close_reason, 'circuit-broken');
  assert.is(JSON.parse(broken.description).dispatch_failures, 3);
  assert.match(JSON.parse(broken.description).last_failure, /no-such-agent/);
  // Nothing left to run; clear of an unknown bead is a clear not-found.
  assert.is(t.ok('scheduler', 'list', '--json').length, 0);
  const nf = t.gt('scheduler', 'clear', '--bead', d);
  assert.is(nf.code, 3, nf.stderr);
  assert.match(nf.stderr, /no open sling context for/);
  const all = t.ok('scheduler', 'list', '--all', '--json');
  assert.equal(all.map((x: any) => x.close_reason).sort(), [
    'circuit-broken',
    'cleared',
    'dispatched',
    'dispatched',
  ]);
});

test('max_polecats 0: gt sling dispatches at once', () => {
  const e = bead('Echo');
  const r = gtWith({ GT_CFG_SCHEDULER__MAX_POLECATS: '0' }, 'sling', e, 'myrig', '--no-start', '--json');
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json().items[0].action, 'hooked');
  assert.is(show(e).status, 'hooked');
});

test.after(() => killTmuxServer(socket));

test.run();
