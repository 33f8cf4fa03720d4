// The demo: a guided run of beads in a throwaway repository, with real git underneath.
// (The full town demo, with agents in tmux, arrives with the dispatch loop.)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const bd = path.join(root, 'dist', 'bd.mjs');
if (!fs.existsSync(bd))
  spawnSync(process.execPath, [path.join(root, 'scripts', 'build.mjs')], { stdio: 'inherit' });

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'beads-demo-'));
const env = { ...process.env, BD_ACTOR: 'overseer', GIT_AUTHOR_EMAIL: 'overseer@example.com' };
const git = (...args) => spawnSync('git', args, { cwd: dir, env, encoding: 'utf8' }).stdout;
git('init', '-q', '-b', 'main');

function step(title, ...args) {
  process.stdout.write(`\n\x1b[1m# ${title}\x1b[0m\n$ bd ${args.join(' ')}\n`);
  const r = spawnSync(process.execPath, [bd, ...args], { cwd: dir, env, encoding: 'utf8' });
  process.stdout.write(r.stdout + r.stderr);
  if (r.status !== 0 && !title.includes('refused')) {
    process.stdout.write(`(exit ${r.status})\n`);
    process.exit(1);
  }
  return r.stdout.trim();
}

step('Start a ledger in this repository', 'init', '--prefix', 'demo');
const epic = step('An epic to hold the work', 'q', 'Ship the login page', '-t', 'epic', '-p', '1');
const design = step('Its first step', 'q', 'Design the form', '--parent', epic, '-p', '1');
const build = step(
  'A step that waits for the design',
  'q',
  'Build the form',
  '--parent',
  epic,
  '--deps',
  design,
);
step('A bug on the side', 'create', 'Password field leaks in logs', '-t', 'bug', '-p', '0', '-l', 'security');
step('What can be worked on now?', 'ready');
step('What is waiting, and on what?', 'blocked');
step('Claim the design atomically', 'update', design, '--claim', '--actor', 'gastown/polecats/nux');
step('Finish it', 'close', design, '--reason', 'mockups approved', '--suggest-next');
step('The build is ready now', 'ready');
step('Everything about one bead', 'show', build);
process.stdout.write('\n\x1b[1m# Every write is a commit on refs/beads/ledger\x1b[0m\n');
process.stdout.write(git('log', '--format=%h %an: %s', 'refs/beads/ledger'));
process.stdout.write(`\nThe demo repository is ${dir}; try \`cd ${dir} && ${bd} list --all\`.\n`);
