// Formulas and molecules end to end: pour, wisp, progress across processes, squash, burn,
// bond, gates, and the Towers of Hanoi durability run.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { bdRepo } from '../helpers.ts';

const commits = (r: { git(...a: string[]): string }) =>
  Number(r.git('rev-list', '--count', 'refs/beads/ledger').trim());

/** The molecule as comparable shape: step titles, types and edges by title. */
function shape(r: ReturnType<typeof bdRepo>, root: string) {
  const dag = r.ok('mol', 'show', root, '--json');
  const title = new Map<string, string>(dag.nodes.map((n: any) => [n.id, n.title]));
  return dag.nodes
    .map((n: any) => ({
      title: n.title,
      type: n.issue_type,
      edges: n.edges.map((e: any) => `${e.type}:${title.get(e.to)}`).sort(),
    }))
    .sort((a: any, b: any) => (a.title < b.title ? -1 : 1));
}

test('formula list/show and cook from the CLI', () => {
  const r = bdRepo();
  const list = r.ok('formula', 'list', '--json');
  const work = list.find((f: any) => f.name === 'mol-polecat-work');
  assert.is(work.tier, 'builtin');
  assert.is(work.type, 'workflow');
  const shown = r.ok('formula', 'show', 'mol-polecat-work', '--json');
  assert.ok(shown.vars.issue.required);
  assert.match(shown.path, /formulas\/mol-polecat-work\.formula\.toml$/);
  const proto = r.ok('cook', 'mol-polecat-work', '--var', 'issue=bd-x1', '--json');
  assert.is(proto.steps[0].title, 'Load context for bd-x1');
  assert.match(r.ok('cook', 'towers-of-hanoi-3', '--dry-run'), /move-7: Move disk 1 from A to C/);
  const missing = r.bd('cook', 'mol-polecat-work', '--mode', 'runtime');
  assert.is(missing.code, 1);
  assert.match(missing.stderr, /needs --var issue=/);
  assert.is(r.bd('cook', 'no-such-formula').code, 3);
});

test('pour and wisp of one formula give the same graph; pour is one commit, wisp none', () => {
  const r = bdRepo();
  const before = commits(r);
  const poured = r.ok('mol', 'pour', 'mol-release', '--var', 'version=1.2.3', '--json');
  assert.is(commits(r), before + 1);
  assert.match(poured.new_epic_id, /^bd-mol-/);
  assert.is(poured.phase, 'liquid');
  const wisp = r.ok('mol', 'wisp', 'mol-release', '--var', 'version=1.2.3', '--json');
  assert.is(commits(r), before + 1);
  assert.match(wisp.new_epic_id, /^bd-wisp-/);
  assert.is(wisp.phase, 'vapor');
  assert.is(wisp.created, poured.created);
  assert.equal(shape(r, wisp.new_epic_id), shape(r, poured.new_epic_id));
  // Wisp beads never reach the ledger tree.
  const tree = r.git('ls-tree', '-r', '--name-only', 'refs/beads/ledger');
  assert.not.ok(tree.includes('wisp'));
  for (const id of Object.values(poured.id_mapping) as string[]) assert.ok(tree.includes(`${id}.yaml`), id);
  // A missing or invalid var writes nothing.
  assert.is(r.bd('mol', 'pour', 'mol-release').code, 1);
  assert.match(
    r.bd('mol', 'pour', 'mol-release', '--var', 'version=banana').stderr,
    /does not match the pattern/,
  );
  assert.is(commits(r), before + 1);
});

test('a molecule resumed by a fresh process continues at the right step', () => {
  const r = bdRepo();
  const { new_epic_id: root } = r.ok('mol', 'pour', 'towers-of-hanoi-3', '--json');
  const first = r.ok('ready', '--mol', root, '--json');
  assert.is(first.length, 1);
  assert.is(first[0].title, 'Stack 3 disks on peg A');
  let step = first[0].id;
  r.ok('update', step, '--claim', '--actor', 'polecat-a');
  for (let i = 0; i < 3; i++) {
    const res = r.ok('close', step, '--continue', '--actor', 'polecat-a', '--json');
    step = res.next.id;
  }
  // "Session dies"; a new process asks where things stand, by molecule and by agent.
  const cur = r.ok('mol', 'current', root, '--json');
  assert.is(cur.completed, 3);
  assert.is(cur.total, 9);
  assert.is(cur.current_step.id, step);
  assert.is(cur.current_step.title, 'Move disk 1 from C to B');
  const mine = r.ok('mol', 'current', '--for', 'polecat-a', '--json');
  assert.is(mine.molecule_id, root);
  const progress = r.ok('mol', 'progress', root, '--json');
  assert.equal(progress.steps.filter((s: any) => s.state === 'done').length, 3);
});

test('wisp: squash turns finished steps into one committed digest; burn discards', () => {
  const r = bdRepo();
  const { new_epic_id: root } = r.ok('mol', 'wisp', 'towers-of-hanoi-3', '--json');
  const before = commits(r);
  const steps = r.ok('mol', 'progress', root, '--json').steps.map((s: any) => s.id);
  r.ok('close', ...steps);
  assert.is(commits(r), before);
  assert.ok(r.ok('mol', 'current', root, '--json').complete);
  const sq = r.ok('mol', 'squash', root, '--json');
  assert.is(sq.squashed, 9);
  assert.is(commits(r), before + 1);
  const digest = r.ok('show', sq.digest_id, '--json')[0];
  assert.is(digest.status, 'closed');
  assert.is(digest.title, 'Digest: towers-of-hanoi-3');
  assert.match(digest.description, /Molecule Execution Summary/);
  assert.is(r.bd('show', steps[0]).code, 3);
  const rootAfter = r.ok('show', root, '--json')[0];
  assert.is(rootAfter.status, 'closed');
  assert.is(rootAfter.ephemeral, undefined);

  const w2 = r.ok('mol', 'wisp', 'towers-of-hanoi-3', '--json').new_epic_id;
  const burned = r.ok('mol', 'burn', w2, '--json');
  assert.is(burned.burned.length, 10);
  assert.is(r.bd('show', w2).code, 3);
  const p = r.ok('mol', 'pour', 'towers-of-hanoi-3', '--json').new_epic_id;
  const refused = r.bd('mol', 'burn', p);
  assert.is(refused.code, 1);
  assert.match(refused.stderr, /--force/);
  r.ok('mol', 'burn', p, '--force');
  assert.is(r.bd('show', p).code, 3);
});

test('bond joins molecules; gates hold steps until resolved', async () => {
  const r = bdRepo();
  const a = r.ok('mol', 'pour', 'towers-of-hanoi-3', '--json').new_epic_id;
  const b = r.ok('mol', 'pour', 'mol-deacon-patrol', '--json').new_epic_id;
  const bonded = r.ok('mol', 'bond', a, b, '--json');
  assert.equal(bonded, { from: b, to: a, dependency_type: 'blocks' });
  assert.is(r.bd('mol', 'bond', a, b).code, 4);
  assert.is(r.bd('mol', 'bond', a, b, '--type', 'sideways').code, 2);

  const task = r.ok('create', 'Deploy', '--json');
  const human = r.ok(
    'gate',
    'create',
    '--type',
    'human',
    '--blocks',
    task.id,
    '--reason',
    'needs sign-off',
    '--json',
  );
  assert.not.ok(r.ok('ready', '--json').some((x: any) => x.id === task.id));
  const checked = r.ok('gate', 'check', '--json');
  assert.is(checked.find((g: any) => g.id === human.id).state, 'manual');
  r.ok('gate', 'resolve', human.id, '--reason', 'approved');
  assert.ok(r.ok('ready', '--json').some((x: any) => x.id === task.id));

  const other = r.ok('create', 'Upstream', '--json');
  const beadGate = r.ok('gate', 'create', '--type', 'bead', '--await-id', other.id, '--json');
  const timer = r.ok('gate', 'create', '--type', 'timer', '--timeout', '1s', '--json');
  const pr = r.ok('gate', 'create', '--type', 'gh:pr', '--await-id', '42', '--json');
  let states = Object.fromEntries(r.ok('gate', 'list', '--json').map((g: any) => [g.id, g.state]));
  assert.is(states[beadGate.id], 'waiting');
  assert.is(states[pr.id], 'needs-network');
  r.ok('close', other.id);
  await new Promise((res) => setTimeout(res, 1100));
  const afterCheck = Object.fromEntries(r.ok('gate', 'check', '--json').map((g: any) => [g.id, g.state]));
  assert.is(afterCheck[beadGate.id], 'resolved');
  assert.is(afterCheck[timer.id], 'resolved');
  assert.is(afterCheck[pr.id], 'needs-network');
  states = Object.fromEntries(r.ok('gate', 'list', '--json').map((g: any) => [g.id, g.state]));
  assert.is(states[beadGate.id], undefined, 'closed gates leave the open list');
  assert.is(r.bd('gate', 'create', '--type', 'timer').code, 2);
  assert.is(r.bd('gate', 'create', '--type', 'weather').code, 2);
});

test('root-only wisps read their steps from the formula at run time', () => {
  const r = bdRepo();
  const before = commits(r);
  const w = r.ok('mol', 'wisp', 'towers-of-hanoi-3', '--root-only', '--json');
  assert.is(w.created, 1);
  assert.is(commits(r), before);
  const root = w.new_epic_id;
  const p = r.ok('mol', 'progress', root, '--json');
  assert.is(p.total, 9);
  assert.equal(
    r.ok('ready', '--mol', root, '--json').map((s: any) => s.id),
    [`${root}.setup`],
  );
  const blocked = r.bd('close', `${root}.move-2`);
  assert.is(blocked.code, 4);
  assert.match(blocked.stderr, /blocked by/);
  r.ok('close', `${root}.setup`);
  const next = r.ok('close', `${root}.move-1`, '--continue', '--json');
  assert.is(next.completed, 2);
  assert.is(next.next_step.id, `${root}.move-2`);
  // A fresh process sees the same state; nothing was committed.
  const cur = r.ok('mol', 'current', root, '--json');
  assert.is(cur.completed, 2);
  assert.is(cur.next_step.title, 'Move disk 2 from A to B');
  assert.is(commits(r), before);
  assert.is(r.bd('close', `${root}.no-such-step`).code, 3);
});

test('wisp list and gc: old and closed wisps are swept without a commit', async () => {
  const r = bdRepo();
  const w = r.ok('mol', 'wisp', 'towers-of-hanoi-3', '--json').new_epic_id;
  const listed = r.ok('mol', 'wisp', 'list', '--json');
  assert.equal(
    listed.map((x: any) => [x.id, x.members, x.old, x.formula]),
    [[w, 10, false, 'towers-of-hanoi-3']],
  );
  const before = commits(r);
  assert.is(r.ok('mol', 'wisp', 'gc', '--json').beads, 0);
  await new Promise((res) => setTimeout(res, 20));
  const dry = r.ok('mol', 'wisp', 'gc', '--age', '5ms', '--dry-run', '--json');
  assert.equal(dry.removed, [w]);
  assert.is(r.ok('show', w, '--json')[0].id, w);
  const gone = r.ok('mol', 'wisp', 'gc', '--age', '5ms', '--json');
  assert.is(gone.beads, 10);
  assert.is(r.bd('show', w).code, 3);
  assert.is(commits(r), before);
  assert.is(r.bd('mol', 'wisp', 'gc', '--age', 'soon').code, 2);
});

test('Towers of Hanoi, 10 disks: 1,025 steps as a wisp and as a molecule, closed in order to the end', () => {
  const r = bdRepo();
  for (const kind of ['wisp', 'pour']) {
    const { new_epic_id: root, created } = r.ok('mol', kind, 'towers-of-hanoi-10', '--json');
    assert.is(created, 1026);
    const steps = r.ok('mol', 'progress', root, '--json').steps.map((s: any) => s.id);
    assert.is(steps.length, 1025);
    // Closed in order (each needs the previous), in one call: one commit for the pour.
    const before = commits(r);
    r.ok('close', ...steps);
    assert.is(commits(r), kind === 'pour' ? before + 1 : before);
    const p = r.ok('mol', 'current', root, '--json');
    assert.is(p.completed, 1025);
    assert.is(p.total, 1025);
    assert.ok(p.complete);
    assert.equal(r.ok('ready', '--mol', root, '--json'), []);
  }
});

test.run();
