// The gt entry point: version, dispatch rules, and the formula commands it shares with bd.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GT, run, tmpRepo } from '../helpers.ts';

test('gt: version, usage errors, formula list/show with resolution tiers', () => {
  const repo = tmpRepo();
  const gt = (...a: string[]) => run(GT, a, { cwd: repo.dir, env: repo.env });
  assert.match(gt('--version').stdout, /^gt version \d+\.\d+\.\d+/);
  assert.is(gt('frobnicate').code, 2);
  assert.is(gt('formula').code, 2);
  const list = gt('formula', 'list', '--json');
  assert.is(list.code, 0, list.stderr);
  const names = list.json().map((f: any) => `${f.name}:${f.tier}`);
  assert.ok(names.includes('mol-polecat-work:builtin'));
  const shown = gt('formula', 'show', 'towers-of-hanoi-10', '--json').json();
  assert.is(shown.steps.length, 1025);
  assert.is(gt('formula', 'show', 'nope').code, 3);
});

test.run();
