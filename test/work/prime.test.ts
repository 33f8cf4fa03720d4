// gt prime: the role template for every role, town then rig directives, the hook and its
// molecule's checklist with the current step, unread mail and the HANDOFF note, --json, --hook.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GT, run, testEnv, tmpDir } from '../helpers.ts';
import { hookWork, makeTown, POLECAT } from '../runtime/town-fixture.ts';

const ROLE_DIRS: [string, string, RegExp][] = [
  ['mayor', 'mayor', /You are \*\*the mayor\*\*/],
  ['deacon', 'deacon', /You are \*\*the deacon\*\*/],
  ['witness', 'myrig/witness', /You are \*\*myrig\/witness\*\*, the witness of rig `myrig`/],
  ['refinery', 'myrig/refinery/rig', /You are \*\*myrig\/refinery\*\*, the refinery of rig `myrig`/],
  ['crew', 'myrig/crew/max', /You are \*\*myrig\/crew\/max\*\*, a crew member/],
  ['polecat', 'myrig/polecats/nux/myrig', /You are \*\*myrig\/polecats\/nux\*\*, a polecat/],
  ['dog', 'deacon/dogs/rex', /You are \*\*deacon\/dogs\/rex\*\*, one of the deacon's dogs/],
  ['boot', 'deacon/dogs/boot', /You are \*\*boot\*\*/],
];

test('every role gets its template (role from the directory, or from GT_ROLE)', () => {
  const t = makeTown();
  for (const [role, dir, re] of ROLE_DIRS) {
    const r = t.gt(['prime'], { cwd: path.join(t.town, dir) });
    assert.is(r.code, 0, `${role}: ${r.stderr}`);
    assert.match(r.stdout, re, role);
    assert.match(r.stdout, /If there is work on your hook, run it/, role);
    assert.match(r.stdout, /## Your hook\n\nNothing is on your hook\./, role);
    assert.not.match(r.stdout, /AUTONOMOUS WORK MODE/, role);
    assert.not.match(r.stdout, /warning:/, role);
    assert.not.match(r.stdout, /\{\{/, `${role}: unfilled placeholder`);
    const j = t.gt(['prime', '--json'], { cwd: path.join(t.town, dir) }).json();
    assert.is(j.role, role);
  }
  // The polecat template carries the gt done rule.
  const polecat = t.gt(['prime'], { cwd: t.worktree }).stdout;
  assert.match(polecat, /## The `gt done` rule/);
  // The environment wins over the directory.
  const env = { ...t.env, GT_ROLE: 'myrig/witness' };
  const w = t.gt(['prime', '--json'], { cwd: t.town, env }).json();
  assert.is(w.role, 'witness');
  assert.is(w.actor, 'myrig/witness');
  assert.is(w.session, 'mr-witness');
  // At the town root: the overseer.
  assert.match(t.gt(['prime'], { cwd: t.town }).stdout, /You are the overseer/);
});

test('directives: the town one, then the rig one', () => {
  const t = makeTown();
  fs.writeFileSync(path.join(t.town, 'directives', 'polecat.md'), 'TOWN-RULE: run the linter.\n');
  fs.mkdirSync(path.join(t.town, 'myrig', 'directives'), { recursive: true });
  fs.writeFileSync(path.join(t.town, 'myrig', 'directives', 'polecat.md'), 'RIG-RULE: use pnpm.\n');
  const out = t.gt(['prime'], { cwd: t.worktree }).stdout;
  const town = out.indexOf('TOWN-RULE');
  const rig = out.indexOf('RIG-RULE');
  assert.ok(town > 0 && rig > town, out);
  assert.ok(out.indexOf('## The `gt done` rule') < town);
  // Other roles do not see the polecat directives.
  assert.not.match(t.gt(['prime'], { cwd: path.join(t.town, 'mayor') }).stdout, /TOWN-RULE/);
  const j = t.gt(['prime', '--json'], { cwd: t.worktree }).json();
  assert.equal(
    j.directives.map((d: any) => d.scope),
    ['town', 'rig'],
  );
});

test('polecat with hooked work: the bead, the checklist with the current step, autonomous mode', async () => {
  const t = makeTown();
  const { work, molecule } = await hookWork(t, { title: 'Fix the login page' });
  let out = t.gt(['prime'], { cwd: t.worktree }).stdout;
  assert.match(out, new RegExp(`${work} Fix the login page \\[hooked\\]`));
  assert.match(out, /Write one\.txt and three\.txt/);
  assert.match(out, new RegExp(`### Molecule ${molecule} \\(test-work\\): 0/4 steps done`));
  assert.match(out, /\[ \] a: Write one \(\S+\) {2}← NEXT/);
  assert.match(out, /## AUTONOMOUS WORK MODE[\s\S]*Run it now[\s\S]*gt done/);
  // Close the first step as the polecat: the next one is claimed and becomes current.
  const p0 = t.ok('mol', 'progress', molecule, '--json');
  t.ok('close', p0.steps[0].id, '--continue', '--actor', POLECAT);
  out = t.gt(['prime'], { cwd: t.worktree }).stdout;
  assert.match(out, /1\/4 steps done/);
  assert.match(out, /\[x\] a: Write one/);
  assert.match(out, /\[>\] b: Think it over \(\S+\) {2}← CURRENT/);
  assert.match(out, /\[ \] c: Write three \(\S+\)\n/);
  assert.match(out, /Start with \S+: Think it over\./);

  const j = t.gt(['prime', '--json'], { cwd: t.worktree }).json();
  for (const k of [
    'town',
    'role',
    'rig',
    'name',
    'actor',
    'address',
    'session',
    'work_dir',
    'template',
    'directives',
    'hook',
    'molecule',
    'mail',
    'handoff',
    'autonomous',
    'warnings',
  ]) {
    assert.ok(k in j, `--json has ${k}`);
  }
  assert.is(j.role, 'polecat');
  assert.is(j.actor, POLECAT);
  assert.is(j.address, 'myrig/nux');
  assert.is(j.session, 'mr-nux');
  assert.is(j.work_dir, t.worktree);
  assert.match(j.template.text, /a polecat/);
  assert.is(j.hook.id, work);
  assert.is(j.hook.molecule, molecule);
  assert.is(j.hook.formula, 'test-work');
  assert.is(j.molecule.completed, 1);
  assert.is(j.molecule.total, 4);
  assert.is(j.molecule.current, p0.steps[1].id);
  assert.is(j.molecule.next, null);
  assert.equal(
    j.molecule.steps.map((s: any) => [s.step, s.marker]),
    [
      ['a', 'done'],
      ['b', 'current'],
      ['c', 'pending'],
      ['d', 'pending'],
    ],
  );
  assert.is(j.molecule.steps[0].run, 'echo one > one.txt && echo a >> "$RUNLOG"');
  assert.match(j.autonomous, /gt done/);
  assert.equal(j.mail, { address: 'myrig/nux', unread: 0, recent: [] });
  assert.is(j.handoff, null);
  // Another polecat of the rig has nothing hooked.
  const other = t.gt(['prime', '--json'], { cwd: t.town, env: { ...t.env, GT_ROLE: 'myrig/polecats/slit' } });
  assert.is(other.json().hook, null);
});

test('unread mail is counted; an unread HANDOFF message shows as a note until read', () => {
  const t = makeTown();
  t.ok('create', 'Status of the build', '--type', 'message', '--assignee', 'myrig/nux');
  const handoff = t.ok(
    'create',
    '🤝 HANDOFF: login page half done',
    '--type',
    'message',
    '--assignee',
    'myrig/nux',
    '-d',
    '## Next\nFinish the form validation.',
    '--json',
  ).id;
  const read = t.ok('create', 'Old news', '--type', 'message', '--assignee', 'myrig/nux', '--json').id;
  t.ok('label', 'add', read, 'read');
  t.ok('create', 'For someone else', '--type', 'message', '--assignee', 'myrig/witness');
  let out = t.gt(['prime'], { cwd: t.worktree }).stdout;
  assert.match(out, /2 unread messages for myrig\/nux:/);
  assert.match(
    out,
    /## HANDOFF from your previous session[\s\S]*login page half done[\s\S]*Finish the form validation\./,
  );
  const j = t.gt(['prime', '--json'], { cwd: t.worktree }).json();
  assert.is(j.mail.unread, 2);
  assert.is(j.handoff.id, handoff);
  assert.match(j.handoff.body, /Finish the form validation/);
  t.ok('label', 'add', handoff, 'read');
  out = t.gt(['prime'], { cwd: t.worktree }).stdout;
  assert.not.match(out, /HANDOFF from your previous session/);
  assert.match(out, /1 unread message for myrig\/nux:/);
  // The witness sees its own message only.
  const w = t.gt(['prime', '--json'], { cwd: path.join(t.town, 'myrig', 'witness') }).json();
  assert.is(w.mail.unread, 1);
});

test('--hook never fails and has no colour; without --hook errors exit non-zero', () => {
  const base = tmpDir();
  const env = testEnv(base);
  const outside = run(GT, ['prime', '--hook'], { cwd: base, env });
  assert.is(outside.code, 0);
  assert.match(outside.stdout, /^gt prime: not inside a Gas Town/);
  const plain = run(GT, ['prime'], { cwd: base, env });
  assert.is(plain.code, 1);
  assert.match(plain.stderr, /not inside a Gas Town/);
  const t = makeTown();
  const hook = t.gt(['prime', '--hook'], {
    cwd: t.worktree,
    env: { ...t.env, NO_COLOR: '', FORCE_COLOR: '1' },
  });
  assert.is(hook.code, 0);
  assert.not.match(hook.stdout, /\x1b\[/);
  assert.match(hook.stdout, /a polecat/);
  const coloured = t.gt(['prime'], { cwd: t.worktree, env: { ...t.env, NO_COLOR: '', FORCE_COLOR: '1' } });
  assert.match(coloured.stdout, /\x1b\[/);
});

test.run();
