// Recovery through the patrol daemon, end to end (real git, tmux, the scripted agent, the daemon
// as a detached process with a one-second heartbeat):
// - a polecat's session killed mid-work is restarted by the witness in the same worktree and its
//   work still merges, and the convoy lands;
// - the daemon killed with SIGKILL while a polecat works: the merge request is filed while no
//   daemon runs; a fresh `gt daemon start` picks the queue up and the work merges.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BD, run } from '../helpers.ts';
import { killTmuxServer } from '../runtime/session-fixture.ts';
import { makeTown, type Town } from '../town/town-fixture.ts';

const sockets: string[] = [];
process.on('exit', () => {
  for (const s of sockets) killTmuxServer(s);
});

const FORMULA = `formula = "slow-change"
[vars.text]
required = true
[[steps]]
id = "implement"
title = "Write {{text}}"
run = "printf '%s\\\\n' {{text}} >> work.txt"
[[steps]]
id = "think"
title = "Think it over"
needs = ["implement"]
run = "sleep 3"
[[steps]]
id = "verify"
title = "Check it"
needs = ["think"]
run = "grep -qF -e {{text}} work.txt"
`;

function recoveryTown(
  tag: string,
): Town & { socket: string; bead(title: string): string; show(id: string): any } {
  const socket = `gt-test-e2e-${tag}-${process.pid}`;
  sockets.push(socket);
  const t = makeTown({
    extraEnv: {
      GT_TMUX_SOCKET: socket,
      GT_NO_MAINTENANCE: '1',
      GT_SCRIPTED_POLL_MS: '200',
      GT_SCRIPTED_STEP_DELAY_MS: '100',
      GT_CFG_OPERATIONAL__DAEMON__HEARTBEAT: '1s',
      GT_CFG_OPERATIONAL__WITNESS__RESTART_BACKOFF_BASE: '1s',
      GT_CFG_MERGE_QUEUE__BATCH__BATCH_WAIT_TIME: '1s',
    },
  });
  t.ok('rig', 'add', 'myrig', t.src);
  fs.writeFileSync(path.join(t.root, 'formulas', 'slow-change.formula.toml'), FORMULA);
  const rigDir = path.join(t.root, 'myrig');
  return {
    ...t,
    socket,
    bead(title) {
      const r = run(BD, ['q', title], { cwd: rigDir, env: t.env });
      if (r.code !== 0) throw new Error(r.stderr);
      return r.stdout.trim();
    },
    show(id) {
      const j = t.bd('show', id, '--json').json();
      return Array.isArray(j) ? j[0] : j;
    },
  };
}

function cleanup(t: Town & { socket: string }) {
  t.gt('down', '--all');
  killTmuxServer(t.socket);
}

async function until<T>(what: string, fn: () => T | null | undefined | false, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const pane = (socket: string, session: string) =>
  spawnSync('tmux', ['-L', socket, 'capture-pane', '-p', '-t', `=${session}:`], { encoding: 'utf8' })
    .stdout ?? '';

test('a polecat session killed mid-work is restarted by the witness and its work still merges', async () => {
  const t = recoveryTown('kill');
  try {
    const id = t.bead('Write the answer');
    const cv = t.ok('convoy', 'create', 'Answers', id, '--json').id as string;
    t.ok('daemon', 'start');
    const sl = t.ok(
      'sling',
      id,
      'myrig',
      '--agent',
      'scripted',
      '--formula',
      'slow-change',
      '--var',
      'text=42',
      '--no-convoy',
      '--json',
    );
    const session = sl.items[0].session.name as string;
    const worktree = sl.items[0].polecat.worktree as string;
    await until('the polecat thinking (step 2)', () => /\[think\]/.test(pane(t.socket, session)), 30_000);
    spawnSync('tmux', ['-L', t.socket, 'kill-session', '-t', `=${session}`]);
    // The witness (a daemon part) brings it back in the same worktree.
    await until('the session restarted', () => /gt agent scripted|❯/.test(pane(t.socket, session)), 30_000);
    await until('the work merged', () => t.show(id).status === 'closed', 60_000);
    assert.is(t.show(id).close_reason, 'merged');
    assert.is(t.show(cv).status, 'closed', 'the convoy landed');
    const repo = path.join(t.root, 'myrig', '.repo.git');
    assert.match(t.git(repo, 'show', 'main:work.txt'), /^42$/m);
    assert.ok(fs.existsSync(worktree), 'the worktree was kept');
    const log = fs.readFileSync(path.join(t.root, 'daemon', 'daemon.log'), 'utf8');
    assert.match(
      log,
      /witness: 1 finding, 1 action: session-dead-active myrig\/polecats\/\w+ \(started .*restart 1\)/,
      'the daemon log shows the restart',
    );
    // The fixture's origin is a plain checkout with main checked out: the merge lands in the
    // rig and the log says why it was not pushed.
    assert.match(log, /non-bare repository/);
  } finally {
    cleanup(t);
  }
});

test('the daemon killed with SIGKILL: the queue resumes after a restart and nothing is lost', async () => {
  const t = recoveryTown('daemon');
  try {
    const id = t.bead('Write the question');
    t.ok('daemon', 'start');
    const pid = JSON.parse(fs.readFileSync(path.join(t.root, 'daemon', 'daemon.pid'), 'utf8')).pid as number;
    t.ok(
      'sling',
      id,
      'myrig',
      '--agent',
      'scripted',
      '--formula',
      'slow-change',
      '--var',
      'text=why',
      '--no-convoy',
    );
    process.kill(pid, 'SIGKILL');
    // With no daemon, the polecat still finishes and files its merge request; nothing merges.
    await until('the merge request filed', () => t.show(id).metadata?.active_mr, 60_000);
    const mr = t.show(id).metadata.active_mr as string;
    await new Promise((r) => setTimeout(r, 1500));
    assert.is(t.show(mr).status, 'open', 'no refinery ran while the daemon was dead');
    assert.is(t.show(id).status, 'in_progress');
    const again = t.ok('daemon', 'start', '--json');
    assert.ok(again.pid && again.pid !== pid, 'a new daemon');
    await until('the work merged', () => t.show(id).status === 'closed', 60_000);
    assert.is(t.show(mr).close_reason, 'merged');
    const repo = path.join(t.root, 'myrig', '.repo.git');
    assert.match(t.git(repo, 'show', 'main:work.txt'), /^why$/m);
  } finally {
    cleanup(t);
  }
});

test.run();
