// gt sling to a rig: a polecat (worktree, branch, git identity), the molecule, the hook and the
// session; five concurrent slings of one bead hook it once; guards refuse with nothing written;
// batch; unsling, release and gt hook.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BD, GT, run } from '../helpers.ts';
import { killTmuxServer } from '../runtime/session-fixture.ts';
import { createBeadIn, makeTown, snapshot, type Town, useFakeAgent } from '../town/town-fixture.ts';

let towns = 0;
const sockets: string[] = [];
process.on('exit', () => {
  for (const s of sockets) killTmuxServer(s);
});

/** A town with rig myrig (prefix my) and a fake agent preset; its own tmux socket. */
function slingTown(): Town & { rigDir: string; socket: string; bead(title: string): string } {
  const socket = `gt-test-sling-${process.pid}-${++towns}`;
  sockets.push(socket);
  // No spacing between batch spawns here (scheduler.spawn_delay is 2s by default).
  const t = makeTown({ extraEnv: { GT_TMUX_SOCKET: socket, GT_CFG_SCHEDULER__SPAWN_DELAY: '0s' } });
  t.ok('rig', 'add', 'myrig', t.src);
  useFakeAgent(t);
  t.git(t.root, 'add', '-A');
  t.git(t.root, 'commit', '-q', '-m', 'test agents');
  const rigDir = path.join(t.root, 'myrig');
  const bead = (title: string) => createBeadIn(t, rigDir, title);
  return { ...t, rigDir, socket, bead };
}

function show(t: Town, id: string): any {
  const j = t.bd('show', id, '--json').json();
  return Array.isArray(j) ? j[0] : j;
}

test('sling one bead to a rig: polecat worktree, branch, molecule, hook, session, prime', () => {
  const t = slingTown();
  const id = t.bead('Fix the widget');
  assert.match(id, /^my-/);
  const r = t.ok('sling', id, 'myrig', '--agent', 'fake', '--json');
  assert.is(r.items.length, 1);
  const it = r.items[0];
  assert.is(it.action, 'hooked');
  const name = it.polecat.name;
  assert.is(it.agent, `myrig/polecats/${name}`);
  const wt = path.join(t.root, 'myrig', 'polecats', name, 'myrig');
  assert.is(it.polecat.worktree, wt);
  assert.ok(fs.existsSync(path.join(wt, 'README.md')));
  assert.match(it.polecat.branch, new RegExp(`^polecat/${name}/${id}@[0-9a-z]+$`));
  assert.is(t.git(wt, 'rev-parse', '--abbrev-ref', 'HEAD').trim(), it.polecat.branch);
  assert.is(t.git(wt, 'config', 'user.name').trim(), name);
  assert.is(t.git(wt, 'config', 'user.email').trim(), 'tester@example.com');
  assert.is(t.git(wt, 'status', '--porcelain'), '');
  // The push guard is in place from the start: the polecat cannot push to the default branch.
  const hook = path.resolve(wt, t.git(wt, 'rev-parse', '--git-path', 'hooks/pre-push').trim());
  assert.match(fs.readFileSync(hook, 'utf8'), /polecat push guard/);
  assert.is(
    t.git(t.root, 'status', '--porcelain'),
    '',
    'polecat worktrees are not part of the town repository',
  );
  // The rig's other worktrees keep working (core.bare moved to the bare repository's own config).
  assert.is(t.git(path.join(t.root, 'myrig', 'refinery', 'rig'), 'status', '--porcelain'), '');
  assert.is(
    t.git(path.join(t.root, 'myrig', '.repo.git'), 'rev-parse', '--is-bare-repository').trim(),
    'true',
  );
  // Bead hooked, molecule poured (persistent) with the bead's vars.
  const b = show(t, id);
  assert.is(b.status, 'hooked');
  assert.is(b.assignee, `myrig/polecats/${name}`);
  assert.is(b.metadata.attached_molecule, it.molecule);
  assert.is(b.metadata.attached_formula, 'mol-polecat-work');
  const mol = show(t, it.molecule);
  assert.is(mol.metadata.formula, 'mol-polecat-work');
  assert.is(mol.metadata.formula_vars.issue, id);
  assert.is(mol.metadata.formula_vars.feature, 'Fix the widget');
  assert.not.ok(mol.ephemeral);
  // The agent bead points at it; the session runs.
  const agent = show(t, `my-myrig-polecat-${name}`);
  assert.is(agent.metadata.hook_bead, id);
  assert.is(it.session.name, `my-${name}`);
  // The auto-convoy tracks it.
  assert.ok(r.convoy, 'auto-convoy');
  assert.is(show(t, r.convoy).title, 'Work: Fix the widget');
  assert.is(show(t, id).metadata.convoy_id, r.convoy);
  const has = spawnSync('tmux', ['-L', t.socket, 'has-session', '-t', `=my-${name}`], { env: t.env });
  assert.is(has.status, 0, 'session exists');
  // gt prime as that polecat shows the hook.
  const prime = run(GT, ['prime'], { cwd: wt, env: { ...t.env, GT_ROLE: `myrig/polecats/${name}` } });
  assert.is(prime.code, 0, prime.stderr);
  assert.match(prime.stdout, new RegExp(id));
  assert.match(prime.stdout, /AUTONOMOUS WORK MODE/);
  // To another agent while the holder's session is alive: refused.
  const taken = t.gt('sling', id, 'mayor');
  assert.is(taken.code, 4, taken.stderr);
  assert.match(taken.stderr, new RegExp(`already hooked by myrig/polecats/${name}; use --force`));
  // Again to the same rig: a no-op.
  const again = t.ok('sling', id, 'myrig', '--agent', 'fake', '--json');
  assert.is(again.items[0].action, 'already-hooked');
  // gt hook show names it; unsling puts it back.
  const h = t.ok('hook', 'show', `myrig/polecats/${name}`, '--json');
  assert.is(h.bead, id);
  assert.is(h.molecule, it.molecule);
  const u = t.ok('unsling', id, '--json');
  assert.is(u.from, `myrig/polecats/${name}`);
  const after = show(t, id);
  assert.is(after.status, 'open');
  assert.not.ok(after.assignee);
  assert.is(show(t, `my-myrig-polecat-${name}`).metadata.hook_bead, null);
  assert.is(t.ok('hook', 'show', `myrig/polecats/${name}`, '--json').bead, null);
});

test('five concurrent slings of one bead: exactly one hooks it, the rest exit 4', async () => {
  const t = slingTown();
  const id = t.bead('Race me');
  const runs = await Promise.all(
    [0, 1, 2, 3, 4].map(
      () =>
        new Promise<{ code: number; out: string; err: string }>((resolve) => {
          const p = spawn(process.execPath, [GT, 'sling', id, 'myrig', '--no-start', '--no-convoy'], {
            cwd: t.root,
            env: t.env,
          });
          let out = '';
          let err = '';
          p.stdout.on('data', (d) => {
            out += d;
          });
          p.stderr.on('data', (d) => {
            err += d;
          });
          p.on('close', (code) => resolve({ code: code ?? -1, out, err }));
        }),
    ),
  );
  // Exactly one hooks it. The others lose the race inside the ledger transaction (exit 4,
  // "already hooked by"), or start late enough to see it hooked on this rig: a no-op (exit 0).
  const winners = runs.filter((r) => r.code === 0 && r.out.includes('✓'));
  assert.is(winners.length, 1, JSON.stringify(runs));
  for (const r of runs.filter((x) => x !== winners[0])) {
    if (r.code === 0) assert.match(r.out, /is already on myrig\/polecats\/.*'s hook/);
    else {
      assert.is(r.code, 4, r.err);
      assert.match(r.err, /already hooked by myrig\/polecats\//);
    }
  }
  // One polecat directory only: the losers gave back their worktrees and names.
  const dirs = fs.readdirSync(path.join(t.root, 'myrig', 'polecats')).filter((d) => !d.startsWith('.'));
  assert.is(dirs.length, 1, dirs.join(','));
  assert.is(show(t, id).assignee, `myrig/polecats/${dirs[0]}`);
  const branches = t
    .git(path.join(t.root, 'myrig', '.repo.git'), 'branch', '--list', 'polecat/*')
    .trim()
    .split('\n');
  assert.is(branches.length, 1, branches.join(','));
});

test('guards: closed, deferred, parked, cross prefix, polecat slinging, unknown rig: refused, nothing written', () => {
  const t = slingTown();
  const a = t.bead('Closed one');
  t.bd('close', a);
  const d = t.bead('Deferred one');
  const open = t.bead('Open one');
  const hq = t.bd('create', 'Town-level', '--json').json();
  const hqId = (Array.isArray(hq) ? hq[0] : hq).id;
  run(BD, ['update', d, '--status', 'deferred'], { cwd: t.root, env: t.env });
  const before = snapshot(t);
  const cases: [string[], NodeJS.ProcessEnv, number, RegExp][] = [
    [['sling', a, 'myrig'], t.env, 4, /is closed; reopen it/],
    [['sling', d, 'myrig'], t.env, 4, /is deferred/],
    [['sling', hqId, 'myrig'], t.env, 2, /belongs to prefix "hq" but rig myrig uses "my".*--force/],
    [['sling', open, 'myrig'], { ...t.env, GT_ROLE: 'myrig/polecats/nux' }, 2, /polecats cannot sling/],
    [['sling', open, 'myrig'], { ...t.env, BD_ACTOR: 'myrig/polecats/nux' }, 2, /polecats cannot sling/],
    [['sling', open, 'nosuch/crew/x'], t.env, 2, /no rig named "nosuch"/],
    [['sling', 'my-zzzz', 'myrig'], t.env, 3, /no bead with id "my-zzzz"/],
    [['sling', open, 'myrig', '--merge', 'sideways'], t.env, 2, /--merge must be direct, mr or local/],
    [['sling', open, 'myrig', '--formula', 'no-such-formula'], t.env, 3, /no-such-formula/],
  ];
  for (const [args, env, code, re] of cases) {
    const r = run(GT, args, { cwd: t.root, env });
    assert.is(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
  }
  t.ok('rig', 'park', 'myrig');
  const parked = t.gt('sling', open, 'myrig');
  assert.is(parked.code, 4);
  assert.match(parked.stderr, /rig myrig is parked; unpark it/);
  t.ok('rig', 'unpark', 'myrig');
  assert.is(snapshot(t), before);
  assert.equal(
    fs.readdirSync(path.join(t.root, 'myrig', 'polecats')).filter((x) => !x.startsWith('.')),
    [],
  );
  // --dry-run prints the plan and writes nothing.
  const dry = t.ok('sling', open, 'myrig', '--dry-run', '--json');
  assert.is(dry.items[0].action, 'planned');
  assert.is(snapshot(t), before);
});

test('batch: five beads → five polecats and one convoy; release from the worker', () => {
  const t = slingTown();
  const ids = [t.bead('One'), t.bead('Two'), t.bead('Three'), t.bead('Four'), t.bead('Five')];
  const r = t.ok('sling', ...ids, 'myrig', '--no-start', '--json');
  assert.is(r.items.length, 5);
  const names = new Set(r.items.map((i: any) => i.polecat.name));
  assert.is(names.size, 5);
  for (const it of r.items) {
    assert.is(show(t, it.bead).status, 'hooked');
    assert.ok(fs.existsSync(it.polecat.worktree));
  }
  assert.ok(r.convoy, 'one convoy for the batch');
  {
    const c = show(t, r.convoy);
    assert.is(c.title, 'Batch: 5 beads to myrig');
    // Beads tracked by an open convoy are refused in another batch.
    t.ok('unsling', ids[0]);
    t.ok('unsling', ids[1]);
    const again = t.gt('sling', ids[0], ids[1], 'myrig', '--no-start');
    assert.is.not(again.code, 0);
    assert.match(again.stderr, /already tracked by another open convoy/);
  }
  // gt release from the worker's side.
  const worker = r.items[2].agent;
  const rel = run(GT, ['release', ids[2], '--json'], { cwd: t.root, env: { ...t.env, GT_ROLE: worker } });
  assert.is(rel.code, 0, rel.stderr);
  assert.is(show(t, ids[2]).status, 'open');
  // Another agent cannot release it... it is open now: a no-op.
  // hook attach to the mayor, then detach.
  t.ok('hook', 'attach', ids[2], 'mayor');
  assert.is(show(t, ids[2]).assignee, 'mayor');
  t.ok('hook', 'detach', 'mayor');
  assert.is(show(t, ids[2]).status, 'open');
});

test('idle polecat reused; dead holder auto-forced; session failure rolls back; epic children; mayor with --args', () => {
  const t = slingTown();
  const [a, b, c] = [t.bead('Alpha'), t.bead('Beta'), t.bead('Gamma')];
  const first = t.ok('sling', a, 'myrig', '--no-start', '--no-convoy', '--json').items[0];
  t.ok('unsling', a);
  // The polecat never started: idle again, and the next sling reuses it with a new branch.
  const second = t.ok('sling', b, 'myrig', '--no-start', '--no-convoy', '--json').items[0];
  assert.is(second.polecat.name, first.polecat.name);
  assert.ok(second.polecat.reused);
  assert.is(
    t.git(second.polecat.worktree, 'rev-parse', '--abbrev-ref', 'HEAD').trim(),
    second.polecat.branch,
  );
  // Its holder has no session: slinging it elsewhere takes it (auto-force).
  const m = t.ok('sling', b, 'mayor', '--args', 'be quick', '--json').items[0];
  assert.is(m.agent, 'mayor');
  assert.is(m.forced_from, `myrig/polecats/${first.polecat.name}`);
  const bb = show(t, b);
  assert.is(bb.assignee, 'mayor');
  assert.is(bb.metadata.attached_args, 'be quick');
  assert.not.ok(bb.metadata.attached_molecule, 'no molecule for the mayor by default');
  assert.is(show(t, `my-myrig-polecat-${first.polecat.name}`).metadata.hook_bead, null);
  // Its witness is told to shut the old holder down.
  const inbox = t.ok('mail', 'inbox', 'myrig/witness', '--json');
  const subjects = JSON.stringify(inbox);
  assert.match(subjects, new RegExp(`LIFECYCLE:Shutdown myrig/polecats/${first.polecat.name}`));
  // A session that cannot start: the hook, the worktree and the name are rolled back.
  const before = fs.readdirSync(path.join(t.root, 'myrig', 'polecats')).sort();
  const bad = t.gt('sling', c, 'myrig', '--agent', 'no-such-agent', '--no-convoy');
  assert.is.not(bad.code, 0);
  assert.match(bad.stderr, /did not start.*was unslung/s);
  assert.is(show(t, c).status, 'open');
  assert.not.ok(show(t, c).assignee);
  assert.equal(fs.readdirSync(path.join(t.root, 'myrig', 'polecats')).sort(), before);
  // An epic: its open children go to the rig of their prefix, one polecat each.
  const epic = run(BD, ['create', 'Big thing', '-t', 'epic', '--json'], { cwd: t.rigDir, env: t.env }).json();
  const epicId = (Array.isArray(epic) ? epic[0] : epic).id;
  const kids = [1, 2].map((i) => {
    const r = run(BD, ['create', `Part ${i}`, '--parent', epicId, '--json'], { cwd: t.rigDir, env: t.env });
    assert.is(r.code, 0, r.stderr);
    const j = r.json();
    return (Array.isArray(j) ? j[0] : j).id;
  });
  const e = t.ok('sling', epicId, '--no-start', '--no-convoy', '--json');
  assert.equal(e.items.map((i: any) => i.bead).sort(), [...kids].sort());
  for (const k of kids) assert.match(show(t, k).assignee, /^myrig\/polecats\//);
  // gt sling FORMULA --on BEAD: that formula, raw vars passed through.
  const d = t.bead('Delta');
  const on = t.ok(
    'sling',
    'mol-polecat-work',
    '--on',
    d,
    'myrig',
    '--var',
    'test_command=true',
    '--no-start',
    '--no-convoy',
    '--json',
  );
  assert.is(on.items[0].formula, 'mol-polecat-work');
  assert.is(show(t, on.items[0].molecule).metadata.formula_vars.test_command, 'true');
});

test('one hook per agent; self sling from GT_ROLE; docked rig refused', () => {
  const t = slingTown();
  const [a, b, c] = [t.bead('A'), t.bead('B'), t.bead('C')];
  const first = t.ok('sling', a, 'myrig', '--no-start', '--no-convoy', '--json').items[0];
  // That polecat by name: busy, refused without --force.
  const busy = t.gt('sling', b, `myrig/${first.polecat.name}`, '--no-start', '--no-convoy');
  assert.is(busy.code, 4, busy.stderr);
  assert.match(busy.stderr, /already has .* on its hook/);
  assert.is(show(t, b).status, 'open');
  // Self: a crew member slings to itself (no target).
  const self = run(GT, ['sling', b, '--no-convoy', '--json'], {
    cwd: t.root,
    env: { ...t.env, GT_ROLE: 'myrig/crew/bob' },
  });
  assert.is(self.code, 0, self.stderr);
  assert.is(show(t, b).assignee, 'myrig/crew/bob');
  // The mayor holds one; a second is refused, --force swaps them.
  const toMayor = t.gt('sling', c, 'mayor', '--no-convoy');
  assert.is(toMayor.code, 0, toMayor.stderr);
  assert.not.match(toMayor.stderr, /could not nudge/);
  const d = t.bead('D');
  const second = t.gt('sling', d, 'mayor', '--no-convoy');
  assert.is(second.code, 4);
  assert.match(second.stderr, /mayor already has .* on its hook; unsling it first/);
  t.ok('sling', d, 'mayor', '--no-convoy', '--force');
  assert.is(show(t, d).assignee, 'mayor');
  assert.is(show(t, c).status, 'open');
  // A docked rig takes no work.
  const e = t.bead('E');
  t.ok('rig', 'dock', 'myrig');
  const r = t.gt('sling', e, 'myrig', '--no-start');
  assert.is(r.code, 4);
  assert.match(r.stderr, /rig myrig is docked; undock it/);
  assert.is(show(t, e).status, 'open');
});

test('respawn circuit breaker: a bead slung to polecats 3 times is blocked until respawn-reset', () => {
  const t = slingTown();
  const x = t.bead('Flaky');
  for (let i = 0; i < 3; i++) {
    t.ok('sling', x, 'myrig', '--no-start', '--no-convoy');
    t.ok('unsling', x);
  }
  const before = snapshot(t);
  const r = t.gt('sling', x, 'myrig', '--no-start', '--no-convoy');
  assert.is(r.code, 4, r.stderr);
  assert.match(r.stderr, /slung to polecats 3 times .*gt sling respawn-reset/);
  assert.is(snapshot(t), before);
  assert.is(t.ok('sling', 'respawn-reset', x, '--json').was, 3);
  t.ok('sling', x, 'myrig', '--no-start', '--no-convoy');
  assert.is(show(t, x).status, 'hooked');
});

test('the built-in scripted agent finds its hook and works the molecule', async () => {
  const t = slingTown();
  const id = t.bead('Scripted work');
  const r = t.ok('sling', id, 'myrig', '--agent', 'scripted', '--no-convoy', '--json');
  const it = r.items[0];
  assert.is(it.session.agent, 'scripted');
  // The agent closes the molecule's steps one by one (the molecule is the state).
  const end = Date.now() + 30000;
  let progressed = false;
  while (Date.now() < end && !progressed) {
    const p = t.bd('mol', 'progress', it.molecule, '--json');
    const j = p.code === 0 ? p.json() : null;
    progressed = !!j && j.completed > 0;
    if (!progressed) await new Promise((res) => setTimeout(res, 250));
  }
  assert.ok(progressed, 'a step of the molecule was closed by the scripted agent');
});

test.run();
