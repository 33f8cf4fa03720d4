// `npm run tour`: beads in a throwaway repository, then a town whose built-in scripted agent works
// a molecule in its own worktree, in tmux, and finishes with `gt done` (branch pushed, merge
// request filed). Real git and tmux underneath; no AI needed. The hook is set by hand here to
// show the pieces; `gt sling <bead> app` does the worktree, molecule, hook and session in one go.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const bd = path.join(root, 'dist', 'bd.mjs');
const gtBin = path.join(root, 'dist', 'gt.mjs');
if (!fs.existsSync(bd))
  spawnSync(process.execPath, [path.join(root, 'scripts', 'build.mjs')], { stdio: 'inherit' });

const base = fs.mkdtempSync(path.join(os.tmpdir(), 'gastown-demo-'));
const env = {
  ...process.env,
  BD_ACTOR: 'overseer',
  GIT_AUTHOR_NAME: 'Overseer',
  GIT_AUTHOR_EMAIL: 'overseer@example.com',
  GIT_COMMITTER_NAME: 'Overseer',
  GIT_COMMITTER_EMAIL: 'overseer@example.com',
  GT_TMUX_SOCKET: `gt-demo-${process.pid}`,
};
const bold = (s) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const git = (cwd, ...args) => spawnSync('git', args, { cwd, env, encoding: 'utf8' }).stdout;

function run(title, bin, cwd, args, expectFailure = false, extraEnv = {}) {
  const name = bin === bd ? 'bd' : 'gt';
  process.stdout.write(`\n${bold(`# ${title}`)}\n$ ${name} ${args.join(' ')}\n`);
  const r = spawnSync(process.execPath, [bin, ...args], {
    cwd,
    env: { ...env, ...extraEnv },
    encoding: 'utf8',
  });
  process.stdout.write(r.stdout + r.stderr);
  if ((r.status !== 0) !== expectFailure) {
    process.stdout.write(`(exit ${r.status}: not what the demo expected)\n`);
    cleanup();
    process.exit(1);
  }
  if (expectFailure) process.stdout.write(`(exit ${r.status}, as expected)\n`);
  return r.stdout.trim();
}
const step = (title, bin, cwd, ...args) => run(title, bin, cwd, args);
const refused = (title, bin, cwd, ...args) => run(title, bin, cwd, args, true);
function cleanup() {
  spawnSync('tmux', ['-L', env.GT_TMUX_SOCKET, 'kill-server'], { stdio: 'ignore' });
}
process.on('exit', cleanup);
const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

// ---- part 1: beads on their own -------------------------------------------------------------
const repo = path.join(base, 'beads');
fs.mkdirSync(repo);
git(repo, 'init', '-q', '-b', 'main');
step('Start a ledger in a repository', bd, repo, 'init', '--prefix', 'demo');
const epic = step('An epic to hold the work', bd, repo, 'q', 'Ship the login page', '-t', 'epic', '-p', '1');
const design = step('Its first step', bd, repo, 'q', 'Design the form', '--parent', epic, '-p', '1');
const build = step(
  'A step that waits for the design',
  bd,
  repo,
  'q',
  'Build the form',
  '--parent',
  epic,
  '--deps',
  design,
);
step(
  'A bug on the side',
  bd,
  repo,
  'create',
  'Password field leaks in logs',
  '-t',
  'bug',
  '-p',
  '0',
  '-l',
  'security',
);
step('What can be worked on now?', bd, repo, 'ready');
step('What is waiting, and on what?', bd, repo, 'blocked');
refused('A dependency that would close a cycle is refused, naming it', bd, repo, 'dep', 'add', design, build);
step('Claim the design atomically', bd, repo, 'update', design, '--claim', '--actor', 'gastown/polecats/nux');
step('Finish it', bd, repo, 'close', design, '--reason', 'mockups approved', '--suggest-next');
step('Everything about one bead', bd, repo, 'show', build);
process.stdout.write(`\n${bold('# Every write is a commit on refs/beads/ledger')}\n`);
process.stdout.write(git(repo, 'log', '--format=%h %an: %s', 'refs/beads/ledger'));

// ---- part 2: a town whose agent works a molecule --------------------------------------------
const src = path.join(base, 'app-src');
fs.mkdirSync(src);
git(src, 'init', '-q', '-b', 'main');
fs.writeFileSync(path.join(src, 'README.md'), '# app\n');
git(src, 'add', '.');
git(src, 'commit', '-q', '-m', 'initial commit');

const town = path.join(base, 'town');
step('Install a town', gtBin, base, 'install', town, '--name', 'demo');
step('Add the project as a rig', gtBin, town, 'rig', 'add', 'app', src);
// A town formula: each step runs a command in the agent's worktree (the `run` convention).
fs.writeFileSync(
  path.join(town, 'formulas', 'demo-feature.formula.toml'),
  `formula = "demo-feature"
description = "Add a greeting script, test it, document it"
[vars.issue]
required = true
[[steps]]
id = "implement"
title = "Write hello.sh for {{issue}}"
run = "printf '#!/bin/sh\\necho Hello from Gas Town\\n' > hello.sh && chmod +x hello.sh"
[[steps]]
id = "test"
title = "Test it"
needs = ["implement"]
run = "./hello.sh | grep -q 'Hello from Gas Town'"
[[steps]]
id = "document"
title = "Document it"
needs = ["test"]
run = "printf '\\nRun ./hello.sh to be greeted.\\n' >> README.md"
`,
);
const bead = step('File the work', bd, town, 'q', 'Greet the user', '-t', 'feature');
const mol = JSON.parse(
  step('Pour its workflow', bd, town, 'mol', 'pour', 'demo-feature', '--var', `issue=${bead}`, '--json'),
).new_epic_id;
const worktree = path.join(town, 'app', 'polecats', 'nux', 'app');
process.stdout.write(`\n${bold('# A worktree for polecat nux (gt sling will do this and the next step)')}\n`);
git(
  path.join(town, 'app', '.repo.git'),
  'worktree',
  'add',
  '-q',
  '-b',
  `polecat/nux/${bead}@demo`,
  worktree,
  'main',
);
step(
  "Put the work on nux's hook",
  bd,
  town,
  'update',
  bead,
  '-s',
  'hooked',
  '-a',
  'app/polecats/nux',
  '--set-metadata',
  `attached_molecule=${mol}`,
);
// Agent sessions get GT_ROLE/BD_ACTOR; here we borrow nux's identity to show its context.
run('What nux will see when it primes', gtBin, worktree, ['prime'], false, {
  GT_ROLE: 'app/polecats/nux',
  BD_ACTOR: 'app/polecats/nux',
});
step(
  'Start nux in tmux with the built-in scripted agent',
  gtBin,
  town,
  'session',
  'start',
  'app/polecats/nux',
  '--agent',
  'scripted',
  '--env',
  'GT_SCRIPTED_STEP_DELAY_MS=300',
);
process.stdout.write(`\n${bold('# Waiting for the molecule to finish')}\n`);
let done = false;
for (let i = 0; i < 120 && !done; i++) {
  await sleep(500);
  const r = spawnSync(process.execPath, [bd, 'mol', 'current', mol, '--json'], {
    cwd: town,
    env,
    encoding: 'utf8',
  });
  if (r.status === 0) {
    const p = JSON.parse(r.stdout);
    process.stdout.write(
      `  ${p.completed}/${p.total}${p.current_step ? ` · ${p.current_step.title}` : ''}\n`,
    );
    done = p.complete;
  }
}
step('What the agent printed', gtBin, town, 'peek', 'app/polecats/nux', '-n', '15');
const branch = `polecat/nux/${bead}@demo`;
process.stdout.write(`\n${bold(`# Its commits, on ${branch} in the rig's shared repository`)}\n`);
process.stdout.write(
  git(path.join(town, 'app', '.repo.git'), 'log', '--format=%h %an: %s', `main..${branch}`),
);
step('The merge request gt done filed for the refinery', bd, town, 'list', '-t', 'merge-request');
step('The town at a glance', gtBin, town, 'status');
step('Stop every agent', gtBin, town, 'down', '--all');
process.stdout.write(`\nThe demo lives in ${base}.\n`);
if (!done) {
  process.stdout.write('The molecule did not finish in time.\n');
  process.exit(1);
}
