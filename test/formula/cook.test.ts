// Formula parsing, validation, substitution and the cook pipeline (pure logic over temp files).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { cook, parseGoDuration } from '../../src/formula/cook.ts';
import { builtinFormulaDir, defaultSearchDirs, FormulaLoader } from '../../src/formula/loader.ts';
import { parseFormula } from '../../src/formula/parse.ts';
import { FormulaError } from '../../src/formula/types.ts';
import { evalCondition, substitute } from '../../src/formula/vars.ts';
import { tmpDir } from '../helpers.ts';

function loaderWith(files: Record<string, string>): FormulaLoader {
  const dir = tmpDir('formulas-');
  for (const [name, text] of Object.entries(files))
    fs.writeFileSync(path.join(dir, `${name}.formula.toml`), text);
  return new FormulaLoader([{ dir, tier: 'project' }]);
}

function problems(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof FormulaError) return e.message;
    throw e;
  }
  throw new Error('expected a FormulaError');
}

test('parse: every schema area is read; unknown keys warn once, listing them', () => {
  const { formula, warnings } = parseFormula(
    `
formula = "demo"
version = 3
description = "d"
phase = "vapor"
mystery = 1
[vars.who]
description = "someone"
default = "world"
enum = ["world", "moon"]
[vars.n]
required = true
[[steps]]
id = "a"
title = "Hello {{who}}"
labels = ["x"]
priority = 1
bogus_key = "?"
[[steps]]
id = "b"
title = "B"
needs = ["a"]
waits_for = "all-children"
[steps.gate]
type = "timer"
timeout = "30m"
[[steps.children]]
id = "b1"
title = "B one"
[compose]
aspects = ["sec"]
[[compose.expand]]
target = "a"
with = "exp"
[squash]
trigger = "done"
`,
    'demo.formula.toml',
  );
  assert.is(formula.formula, 'demo');
  assert.is(formula.version, 3);
  assert.is(formula.type, 'workflow');
  assert.is(formula.phase, 'vapor');
  assert.equal(formula.vars.who, { description: 'someone', default: 'world', enum: ['world', 'moon'] });
  assert.is(formula.steps[1].gate?.type, 'timer');
  assert.is(formula.steps[1].children?.[0].id, 'b1');
  assert.equal(formula.compose?.aspects, ['sec']);
  assert.is(warnings.length, 1);
  assert.match(warnings[0], /mystery/);
  assert.match(warnings[0], /step "a"\.bogus_key/);
});

test('parse: bad TOML and wrong types are precise errors', () => {
  assert.match(
    problems(() => parseFormula('formula = "x"\n[[steps]\n', 'bad.formula.toml')),
    /bad\.formula\.toml: not valid TOML at line 2/,
  );
  const msg = problems(() =>
    parseFormula(
      'formula = "x"\n[[steps]]\nid = "a"\ntitle = 5\npriority = 9\nneeds = "a,b"\n',
      'x.formula.toml',
    ),
  );
  assert.match(msg, /step "a": "title" must be a string/);
  assert.match(msg, /priority 9 is out of range/);
  assert.match(
    problems(() => parseFormula('version = 1\n', 'n.formula.toml')),
    /"formula" \(the formula name\) is required/,
  );
  assert.match(
    problems(() => parseFormula('formula = "x"\ntype = "dance"\n', 't.formula.toml')),
    /type "dance" is not one of/,
  );
});

test('validate: duplicates, unknown needs, cycles named, required+default accepted with a warning', () => {
  const l = loaderWith({
    dup: 'formula = "dup"\n[[steps]]\nid = "a"\ntitle = "A"\n[[steps]]\nid = "a"\ntitle = "A2"\n',
    miss: 'formula = "miss"\n[[steps]]\nid = "a"\ntitle = "A"\nneeds = ["zzz"]\n',
    cyc: 'formula = "cyc"\n[[steps]]\nid = "a"\ntitle = "A"\nneeds = ["c"]\n[[steps]]\nid = "b"\ntitle = "B"\nneeds = ["a"]\n[[steps]]\nid = "c"\ntitle = "C"\nneeds = ["b"]\n',
    both: 'formula = "both"\n[vars.x]\nrequired = true\ndefault = "1"\n[[steps]]\nid = "a"\ntitle = "{{x}}"\n',
    empty: 'formula = "empty"\n',
  });
  assert.match(
    problems(() => l.load('dup')),
    /step "a" is defined 2 times/,
  );
  assert.match(
    problems(() => l.load('miss')),
    /step "a" needs "zzz", which is not a step/,
  );
  assert.match(
    problems(() => l.load('cyc')),
    /cycle: (a → c → b → a|b → a → c → b|c → b → a → c)/,
  );
  assert.match(
    problems(() => l.load('empty')),
    /needs at least one \[\[steps\]\]/,
  );
  l.load('both');
  assert.ok(l.warnings.some((w) => /var "x" is both required and has a default/.test(w)));
});

test('substitution: only {{identifier}} with a value changes; other template syntax passes through', () => {
  const vars = { name: 'nux', empty: '' };
  assert.is(substitute('Hi {{name}}, {{unknown}}!', vars), 'Hi nux, {{unknown}}!');
  const passthrough = '{{#if x}}a{{/if}} {{.leg.id}} {{range .files -}} {{end}} {{convoy.title}} {{ name }}';
  assert.is(substitute(passthrough, vars), passthrough);
  assert.is(substitute('[{{empty}}]', vars), '[]');
});

test('conditions: truthiness, negation, equality; bad grammar is an error', () => {
  const v = { on: 'yes', off: 'off', zero: '0', mode: 'fast' };
  assert.ok(evalCondition('{{on}}', v));
  assert.not.ok(evalCondition('{{off}}', v));
  assert.not.ok(evalCondition('{{zero}}', v));
  assert.not.ok(evalCondition('{{missing}}', v));
  assert.ok(evalCondition('!{{missing}}', v));
  assert.ok(evalCondition("{{mode}} == 'fast'", v));
  assert.ok(evalCondition('{{mode}} != "slow"', v));
  assert.throws(() => evalCondition('mode is fast', v), /cannot evaluate condition/);
});

test('run commands: var values are single shell words unless the var is a declared command', () => {
  const dir = tmpDir('pwn-');
  const l = loaderWith({
    runner: `
formula = "runner"
[vars.title]
[vars.check]
type = "command"
[[steps]]
id = "say"
title = "Say it"
run = "printf '%s' {{title}} && {{check}}"
`,
  });
  const evil = `x'; touch ${dir}/pwned; echo '$(touch ${dir}/pwned2) \`id\``;
  const p = cook(l, 'runner', { vars: { title: evil, check: 'true' }, substitute: true });
  const run = p.steps[0].run!;
  const out = spawnSync('/bin/sh', ['-c', run], { encoding: 'utf8' });
  assert.is(out.status, 0, out.stderr);
  assert.is(out.stdout, evil, 'the value arrives as one word, verbatim');
  assert.not.ok(fs.existsSync(path.join(dir, 'pwned')));
  assert.not.ok(fs.existsSync(path.join(dir, 'pwned2')));
  assert.match(run, /&& true$/, 'a declared command var goes in as written');
});

test('go durations', () => {
  assert.is(parseGoDuration('30m'), 30 * 60e9);
  assert.is(parseGoDuration('1h30m'), 90 * 60e9);
  assert.is(parseGoDuration('500ms'), 5e8);
  assert.is(parseGoDuration('soon'), 0);
});

test('cook: proto ids, types, blocks from needs, gates, waits-for, children → epic', () => {
  const l = loaderWith({
    wf: `
formula = "wf"
[vars.title]
default = "Work on {{thing}}"
[vars.thing]
[[steps]]
id = "plan"
title = "Plan {{thing}}"
[[steps]]
id = "do"
title = "Do it"
needs = ["plan"]
[steps.gate]
type = "human"
[[steps]]
id = "fan"
title = "Fan out"
needs = ["plan"]
[[steps.children]]
id = "leaf"
title = "Leaf"
[[steps]]
id = "join"
title = "Join"
waits_for = "children-of(fan)"
needs = ["do"]
`,
  });
  const compiled = cook(l, 'wf');
  assert.is(compiled.root.key, 'wf');
  assert.is(compiled.root.title, '{{title}}'); // compile mode keeps placeholders
  const keys = compiled.steps.map((s) => s.key);
  assert.equal(keys, ['wf.plan', 'wf.do', 'wf.gate-do', 'wf.fan', 'wf.fan.leaf', 'wf.join']);
  const byKey = Object.fromEntries(compiled.steps.map((s) => [s.key, s]));
  assert.equal(
    byKey['wf.do'].deps.map((d) => `${d.type}:${d.target}`),
    ['parent-child:wf', 'blocks:wf.gate-do', 'blocks:wf.plan'],
  );
  assert.is(byKey['wf.gate-do'].issue_type, 'gate');
  assert.is(byKey['wf.gate-do'].await_type, 'human');
  assert.is(byKey['wf.fan'].issue_type, 'epic');
  assert.equal(
    byKey['wf.fan.leaf'].deps.map((d) => `${d.type}:${d.target}`),
    ['parent-child:wf.fan'],
  );
  const join = byKey['wf.join'];
  assert.ok(
    join.deps.some(
      (d) => d.type === 'waits-for' && d.target === 'wf.fan' && d.metadata === '{"gate":"all-children"}',
    ),
  );
  assert.ok(join.labels.includes('gate:all-children'));
  assert.throws(() => cook(l, 'wf', { vars: {}, substitute: true }), /needs --var thing=/);
  const runtime = cook(l, 'wf', { vars: { thing: 'the roof' }, substitute: true });
  assert.is(runtime.root.title, 'Work on the roof');
  assert.is(runtime.steps[0].title, 'Plan the roof');
});

test('cook: loops (count, range), conditions, advice, expansions, aspects, extends', () => {
  const l = loaderWith({
    loops: `
formula = "loops"
[[steps]]
id = "start"
title = "Start"
[[steps]]
id = "rep"
title = "Repeat"
needs = ["start"]
[steps.loop]
count = 2
[[steps.loop.body]]
id = "work"
title = "Work"
[[steps.loop.body]]
id = "check"
title = "Check"
needs = ["work"]
[[steps]]
id = "range"
title = "Range"
needs = ["rep"]
[steps.loop]
range = "1..2"
var = "i"
[[steps.loop.body]]
id = "pass"
title = "Pass {i}"
[[steps]]
id = "end"
title = "End"
needs = ["range"]
[[steps]]
id = "opt"
title = "Optional"
condition = "{{extra}}"
[vars.extra]
default = ""
`,
    exp: `
formula = "exp"
type = "expansion"
[[template]]
id = "{target}.draft"
title = "Draft {target.title}"
[[template]]
id = "{target}.polish"
title = "Polish"
needs = ["{target}.draft"]
`,
    sec: `
formula = "sec"
type = "aspect"
[[advice]]
target = "impl*"
[advice.around]
[[advice.around.before]]
id = "{step.id}-threat-model"
title = "Threat model for {step.title}"
[[advice.around.after]]
id = "{step.id}-audit"
title = "Audit"
`,
    base: `
formula = "base"
[[steps]]
id = "design"
title = "Design"
[[steps]]
id = "implement"
title = "Implement"
needs = ["design"]
[[steps]]
id = "ship"
title = "Ship"
needs = ["implement"]
`,
    child: `
formula = "child"
extends = ["base"]
[[steps]]
id = "design"
title = "Design (child's version)"
[compose]
aspects = ["sec"]
[[compose.expand]]
target = "implement"
with = "exp"
`,
  });
  const loops = cook(l, 'loops', { vars: {}, substitute: true });
  const ids = loops.steps.map((s) => s.stepId);
  assert.equal(ids, [
    'start',
    'rep.iter1.work',
    'rep.iter1.check',
    'rep.iter2.work',
    'rep.iter2.check',
    'range.iter1.pass',
    'range.iter2.pass',
    'end',
  ]);
  const byStep: Record<string, (typeof loops.steps)[number]> = Object.fromEntries(
    loops.steps.map((s) => [s.stepId, s]),
  );
  const needs = (id: string) =>
    byStep[id].deps.filter((d) => d.type === 'blocks').map((d) => d.target.slice('loops.'.length));
  assert.equal(needs('rep.iter1.work'), ['start']);
  assert.equal(needs('rep.iter2.work'), ['rep.iter1.check']);
  assert.equal(needs('range.iter1.pass'), ['rep.iter2.check']);
  assert.equal(needs('end'), ['range.iter2.pass']);
  assert.is(byStep['range.iter2.pass'].title, 'Pass 2');
  assert.ok(
    cook(l, 'loops', { vars: { extra: 'yes' }, substitute: true }).steps.some((s) => s.stepId === 'opt'),
  );

  const child = cook(l, 'child');
  assert.equal(
    child.steps.map((s) => s.stepId),
    [
      'design',
      'implement.draft-threat-model',
      'implement.draft',
      'implement.draft-audit',
      'implement.polish-threat-model',
      'implement.polish',
      'implement.polish-audit',
      'ship',
    ],
  );
  assert.is(child.steps[0].title, "Design (child's version)");
  const shipNeeds = child.steps[7].deps.filter((d) => d.type === 'blocks').map((d) => d.target);
  assert.equal(shipNeeds, ['child.implement.polish']);
  const draft = child.steps.find((s) => s.stepId === 'implement.draft')!;
  assert.equal(
    draft.deps.filter((d) => d.type === 'blocks').map((d) => d.target),
    ['child.implement.draft-threat-model'],
  );
  assert.is(draft.title, 'Draft Implement');
});

test('resolution order: project beats town beats built-in, and list says which file wins', () => {
  const project = tmpDir('proj-');
  const town = tmpDir('town-');
  fs.mkdirSync(path.join(project, '.beads', 'formulas'), { recursive: true });
  fs.mkdirSync(path.join(town, 'formulas'), { recursive: true });
  const text = (d: string) =>
    `formula = "mol-polecat-work"\ndescription = "${d}"\n[[steps]]\nid = "a"\ntitle = "A"\n`;
  fs.writeFileSync(
    path.join(project, '.beads', 'formulas', 'mol-polecat-work.formula.toml'),
    text('project'),
  );
  fs.writeFileSync(path.join(town, 'formulas', 'mol-polecat-work.formula.toml'), text('town'));
  const l = new FormulaLoader(defaultSearchDirs({ projectRoot: project, townRoot: town }));
  const entry = l.find('mol-polecat-work')!;
  assert.is(entry.tier, 'project');
  assert.equal(
    entry.shadows.map((s) => s.tier),
    ['town', 'builtin'],
  );
  assert.is(l.load('mol-polecat-work').description, 'project');
  assert.throws(() => l.load('../etc/passwd'), /cannot read formula|no formula/);
  assert.throws(() => l.load('mol-polecat-wrk'), /no formula named "mol-polecat-wrk"/);
});

test('every built-in formula parses, validates and cooks', () => {
  const l = new FormulaLoader([{ dir: builtinFormulaDir(), tier: 'builtin' }]);
  const names = l.list().map((e) => e.name);
  for (const required of [
    'mol-polecat-work',
    'mol-witness-patrol',
    'mol-refinery-patrol',
    'mol-deacon-patrol',
    'code-review',
    'mol-release',
    'towers-of-hanoi-10',
  ]) {
    assert.ok(names.includes(required), `missing built-in ${required}`);
  }
  for (const name of names) {
    const compiled = cook(l, name);
    assert.ok(compiled.type === 'convoy' || compiled.steps.length > 0, name);
  }
  assert.equal(l.warnings, []);
  const hanoi = cook(l, 'towers-of-hanoi-10', { vars: {}, substitute: true });
  assert.is(hanoi.steps.length, 1025);
  const work = cook(l, 'mol-polecat-work', {
    vars: { issue: 'gt-abc', test_command: 'npm test' },
    substitute: true,
  });
  assert.is(work.steps.find((s) => s.stepId === 'test')?.run, 'npm test');
  assert.is(work.steps[0].title, 'Load context for gt-abc');
});

test.run();
