// The README's main job, end to end: `gt demo --keep --json` on a fresh town (real git, real
// tmux, scripted agents in sessions, the patrol daemon). The convoy must land with every bead
// merged, the gate failure retried by its polecat, and the conflict resolved through a task.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GT, testEnv, tmpDir } from '../helpers.ts';

test('gt demo: the convoy lands with a retried gate failure and a resolved conflict', () => {
  const base = tmpDir('gt-demo-e2e-');
  const home = path.join(base, 'home');
  fs.mkdirSync(home);
  const dir = path.join(base, 'demo');
  const r = spawnSync(process.execPath, [GT, 'demo', '--keep', '--dir', dir, '--timeout', '150s', '--json'], {
    cwd: base,
    env: testEnv(home, { GT_NO_MAINTENANCE: '1' }),
    encoding: 'utf8',
    timeout: 200_000,
  });
  const out = r.stdout.trim();
  assert.ok(out.startsWith('{'), `gt demo printed JSON (exit ${r.status}):\n${r.stderr.slice(-3000)}`);
  const d = JSON.parse(out);
  assert.is(r.status, 0, `demo exit status; progress:\n${r.stderr.slice(-3000)}`);
  assert.ok(d.landed, 'the convoy landed');
  assert.is(d.beads.length, 4);
  for (const b of d.beads) assert.is(b.status, 'closed', `${b.id} ${b.title} closed`);

  // What landed on main is all four changes, the conflicting pair both kept.
  const repo = path.join(d.town, 'app', '.repo.git');
  const show = (f: string) => spawnSync('git', ['show', `main:${f}`], { cwd: repo, encoding: 'utf8' }).stdout;
  const greetings = show('greetings.txt');
  assert.match(greetings, /bonjour/);
  assert.match(greetings, /hola/);
  assert.not.match(greetings, /<<<<<<<|>>>>>>>/);
  assert.match(show('CHANGELOG.md'), /more greetings/);
  assert.match(show('README.md'), /check\.sh/);
  assert.not.ok(
    spawnSync('git', ['ls-tree', '-r', '--name-only', 'main'], {
      cwd: repo,
      encoding: 'utf8',
    }).stdout.includes('GT_BAD_COMMIT'),
    'the bad commit never reached main',
  );

  // The gate failure was retried by resubmission, the conflict went through a task.
  const changelog = d.beads.find((b: { title: string }) => b.title === 'Log the new greetings');
  assert.ok(
    changelog.attempts.length >= 2,
    `two merge requests for the gate failure: ${JSON.stringify(changelog)}`,
  );
  assert.ok(
    d.retries.some((x: { why: string }) => /gate/.test(x.why)),
    `a gate retry reported: ${JSON.stringify(d.retries)}`,
  );
  assert.ok(
    d.beads.some((b: { conflict_tasks: string[] }) => b.conflict_tasks.length > 0),
    `a conflict task filed: ${JSON.stringify(d.beads)}`,
  );
  // Sessions were cleaned up: no tmux server left for the demo's socket.
  spawnSync(process.execPath, [GT, 'down', '--all'], { cwd: d.town, env: testEnv(home), encoding: 'utf8' });
});

test.run();
