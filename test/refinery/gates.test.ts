// Gate resolution from settings (configured gates and the legacy commands) and the runner:
// parallel runs, kept output, timeouts, flaky retries.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { resolveGates, runGates, runGatesWithRetry } from '../../src/refinery/gates.ts';
import { tmpDir } from '../helpers.ts';

const town = tmpDir(); // no settings files: defaults and the env layer only
const cfg = (o: Record<string, unknown>): NodeJS.ProcessEnv =>
  Object.fromEntries(
    Object.entries(o).map(([k, v]) => [`GT_CFG_MERGE_QUEUE__${k.toUpperCase()}`, JSON.stringify(v)]),
  );

test('resolveGates: legacy commands (setup first, test only with run_tests) plus configured gates with phases', () => {
  const env = cfg({
    setup_command: 'npm ci',
    test_command: 'npm test',
    build_command: 'npm run build',
    gates: { lint: { cmd: 'npm run lint', timeout: '2m', phase: 'pre-merge' }, smoke: 'echo ok' },
    gate_timeout: '90s',
  });
  const g = resolveGates({ townRoot: town, rig: 'r', env });
  assert.equal(
    g.map((x) => [x.name, x.phase, x.timeoutMs, !!x.first]),
    [
      ['setup', 'post-squash', 90_000, true],
      ['test', 'post-squash', 90_000, false],
      ['build', 'post-squash', 90_000, false],
      ['lint', 'pre-merge', 120_000, false],
      ['smoke', 'post-squash', 90_000, false],
    ],
  );
  const noTests = resolveGates({ townRoot: town, rig: 'r', env: { ...env, ...cfg({ run_tests: false }) } });
  assert.not.ok(noTests.some((x) => x.name === 'test'));
  assert.equal(resolveGates({ townRoot: town, rig: 'r', env: {} }), []);
});

test('resolveGates: malformed gates are errors naming the fix', () => {
  assert.throws(
    () =>
      resolveGates({ townRoot: town, rig: 'r', env: cfg({ gates: { x: { cmd: 'true', phase: 'later' } } }) }),
    /merge_queue\.gates\.x\.phase is "later": use pre-merge or post-squash/,
  );
  assert.throws(
    () => resolveGates({ townRoot: town, rig: 'r', env: cfg({ gates: { x: { timeout: '1m' } } }) }),
    /merge_queue\.gates\.x has no cmd/,
  );
  assert.throws(
    () =>
      resolveGates({
        townRoot: town,
        rig: 'r',
        env: cfg({ gates: { x: { cmd: 'true', timeout: 'soon' } } }),
      }),
    /not a duration/,
  );
});

test('runGates: parallel gates run at once (each waits for the other), output tail kept', async () => {
  const dir = tmpDir();
  const waitFor = (mine: string, other: string) =>
    `touch ${mine}; i=0; while [ $i -lt 100 ]; do test -f ${other} && { echo "${mine} saw ${other}"; exit 0; }; sleep 0.05; i=$((i+1)); done; echo "${mine} waited alone" >&2; exit 1`;
  const gates = [
    { name: 'a', cmd: waitFor('A', 'B'), timeoutMs: 20_000, phase: 'post-squash' as const },
    { name: 'b', cmd: waitFor('B', 'A'), timeoutMs: 20_000, phase: 'post-squash' as const },
  ];
  const r = await runGates(gates, dir, { parallel: true });
  assert.equal(
    r.map((x) => [x.name, x.ok, x.tail]),
    [
      ['a', true, 'A saw B'],
      ['b', true, 'B saw A'],
    ],
  );
  // One by one, the first never sees the second: it fails with its output kept.
  fs.rmSync(path.join(dir, 'A'));
  fs.rmSync(path.join(dir, 'B'));
  const seq = await runGates(
    gates.map((g) => ({ ...g, cmd: g.cmd.replace('-lt 100', '-lt 4') })),
    dir,
    { parallel: false },
  );
  assert.equal(
    seq.map((x) => [x.name, x.ok, x.code, x.tail]),
    [
      ['a', false, 1, 'A waited alone'],
      ['b', true, 0, 'B saw A'],
    ],
  );
});

test('runGatesWithRetry: a flaky gate passes on its retry; a setup failure stops the rest', async () => {
  const dir = tmpDir();
  const flaky = {
    name: 'flaky',
    cmd: 'if test -f once; then echo second; else touch once; echo first >&2; exit 3; fi',
    timeoutMs: 10_000,
    phase: 'post-squash' as const,
  };
  const noRetry = await runGatesWithRetry([flaky], dir, { retries: 0 });
  assert.is(noRetry[0].ok, false);
  fs.rmSync(path.join(dir, 'once'));
  const retried = await runGatesWithRetry([flaky], dir, { retries: 1 });
  assert.is(retried[0].ok, true);
  assert.is(retried[0].tail, 'second');
  const setupFails = await runGates(
    [
      { name: 'setup', cmd: 'exit 9', timeoutMs: 5000, phase: 'post-squash', first: true },
      { name: 'test', cmd: 'touch ran', timeoutMs: 5000, phase: 'post-squash' },
    ],
    dir,
    { parallel: true },
  );
  assert.equal(
    setupFails.map((x) => [x.name, x.code]),
    [['setup', 9]],
  );
  assert.not.ok(fs.existsSync(path.join(dir, 'ran')));
});

test.run();
