// The README's main job, end to end: `gt demo --keep --json` on a fresh town (real git, real
// tmux, scripted agents in sessions, the patrol daemon). The convoy must land with every bead
// merged, the gate failure retried by its polecat, and the conflict resolved through a task.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GT, testEnv, tmpDir } from '../helpers.ts';

interface DemoRun {
  d: any;
  stderr: string;
}

/** One `gt demo --keep --json` in its own directory, with the checks every run must pass. */
function runDemo(base: string, name: string): DemoRun {
  const home = path.join(base, `home-${name}`);
  fs.mkdirSync(home);
  const dir = path.join(base, name);
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
  spawnSync(process.execPath, [GT, 'down', '--all'], { cwd: d.town, env: testEnv(home), encoding: 'utf8' });
  return { d, stderr: r.stderr };
}

/** Did the run go through both hard paths: a gate failure fixed by resubmission, and a conflict? */
function exercised(d: any): string | null {
  const changelog = d.beads.find((b: { title: string }) => b.title === 'Log the new greetings');
  // The fix is either a new merge request (gt done --issue) or, when the refinery sees the fix
  // commit on the branch first, the same one merged at the new head: the failure is on record.
  const gateFailed = (x: { bead: string; why: string }) =>
    x.bead === changelog.id && /gate "test" failed/.test(x.why);
  if (!d.retries.some(gateFailed))
    return `no gate failure recorded for ${changelog.id}: ${JSON.stringify(d.retries)}`;
  if (!d.beads.some((b: { conflict_tasks: string[] }) => b.conflict_tasks.length > 0))
    return `no conflict task: ${JSON.stringify(d.beads)}`;
  return null;
}

test('gt demo: the convoy lands with a retried gate failure and a resolved conflict', () => {
  const base = tmpDir('gt-demo-e2e-');
  let run = runDemo(base, 'first');
  let missed = exercised(run.d);
  if (missed) {
    // A safety net for timing not thought of: say what happened, with the town's own records,
    // then run the scenario once more; the second run must go through both paths.
    const log = path.join(run.d.town, 'daemon', 'daemon.log');
    const faults = path.join(run.d.town, '.runtime', 'scripted', 'faults-fired.json');
    process.stderr.write(
      `gt demo did not exercise every path the first time (${missed});\nits progress:\n${run.stderr}\n` +
        `faults fired: ${fs.existsSync(faults) ? fs.readFileSync(faults, 'utf8') : '(none)'}\n` +
        `daemon log (refinery, witness):\n${
          fs.existsSync(log)
            ? fs
                .readFileSync(log, 'utf8')
                .split('\n')
                .filter(
                  (l) => /"part":"(refinery|witness)"/.test(l) && !/0 merged, 0 failed"|0 findings/.test(l),
                )
                .join('\n')
            : '(none)'
        }\n`,
    );
    run = runDemo(base, 'second');
    missed = exercised(run.d);
  }
  assert.is(missed, null, missed ?? '');
});

test.run();
