// Section: the loop (issue 7). Real `gt`/`bd` processes from dist/ on throwaway towns (own HOME,
// own tmux socket, no git maintenance), polecats running the built-in scripted agent, the patrol
// daemon detached, as `gt demo` and test/e2e/recovery.test.ts do it:
//   1. 10 beads slung in one `gt sling` batch to 10 concurrent polecats; each runs a one-step
//      town formula writing a file of its own (no conflicts), then `gt done`; the refinery merges
//      every branch and the convoy lands. Wall time from the sling to the landing, split into the
//      sling itself, what an agent itself spends (its configured pauses + the step's command) and
//      the orchestration overhead per bead = (wall − one agent's own work) / 10.
//   2. Daemon reaction time with a 60 s heartbeat, so only the watcher can react: (a) `bd close`
//      of the one bead a convoy tracks → the convoy closed; (b) `gt mq submit` of a branch already
//      in the rig → the merge request merged.
// Completion is detected by reading the ledger in process (BeadStore, as `gt demo` does); the
// times come from the beads' own `closed_at` (milliseconds), against the clock read just before
// the sling (part 1) or when the triggering command exited (part 2).
// Baselines measured in the same run: `node -e 0` and one `git commit` in a temporary repository.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BeadStore } from '../../src/beads/store.ts';
import { loadCodec } from '../../src/ledger/codec.ts';
import {
  BD,
  benchEnv,
  fmtMs,
  gitSync,
  log,
  QUICK,
  ROOT,
  type Stats,
  spawnAsync,
  stats,
  timeSpawn,
} from './lib.ts';
import type { Row, Section } from './report.ts';

const GT = path.join(ROOT, 'dist', 'gt.mjs');
const BEADS = 10;
/** The scripted agent's pause before its first step and after each step (GT_SCRIPTED_STEP_DELAY_MS). */
const STEP_DELAY_MS = 100;
const POLL_MS = 10;
/** The one step: a file named after the bead, so no two branches touch the same file. */
const RUN_CMD = "printf '%s\\n' {{issue}} > done-{{issue}}.txt";
const FORMULA = `formula = "bench-loop"
description = "Write one file named after the bead"
[[steps]]
id = "write"
title = "Write done-{{issue}}.txt"
run = "${RUN_CMD.replace(/\\/g, '\\\\')}"
`;

interface BenchTown {
  base: string;
  town: string;
  rigDir: string;
  repoGit: string;
  origin: string;
  env: NodeJS.ProcessEnv;
  socket: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function cli(bin: string, cwd: string, env: NodeJS.ProcessEnv, args: string[]): string {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd, env, encoding: 'utf8' });
  if (r.status !== 0)
    throw new Error(
      `${path.basename(bin, '.mjs')} ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`,
    );
  return r.stdout.trim();
}

/** Timed from just before the spawn to its exit; throws on failure. */
function timedCli(bin: string, cwd: string, env: NodeJS.ProcessEnv, args: string[]) {
  const r = timeSpawn(process.execPath, [bin, ...args], { cwd, env });
  if (r.code !== 0)
    throw new Error(`${path.basename(bin, '.mjs')} ${args.join(' ')} failed (${r.code}): ${r.stderr}`);
  return r;
}

/** A town with a one-file project as the rig `app` (a bare origin, as a hosted remote). */
function makeTown(root: string, tag: string, settings: Record<string, string>): BenchTown {
  const base = path.join(root, tag);
  const home = path.join(base, 'home');
  fs.mkdirSync(home, { recursive: true });
  const socket = `gt-bench-${tag}-${process.pid}`;
  const env = benchEnv(home, {
    BD_ACTOR: 'overseer',
    GT_TMUX_SOCKET: socket,
    GT_NO_MAINTENANCE: '1',
    GT_SCRIPTED_STEP_DELAY_MS: String(STEP_DELAY_MS),
    GT_SCRIPTED_POLL_MS: '100',
  });
  const src = path.join(base, 'project');
  fs.mkdirSync(src);
  gitSync(src, ['init', '-q', '-b', 'main'], env);
  fs.writeFileSync(path.join(src, 'README.md'), '# bench project\n');
  gitSync(src, ['add', '.'], env);
  gitSync(src, ['commit', '-q', '-m', 'first commit'], env);
  const origin = path.join(base, 'project.git');
  gitSync(base, ['clone', '-q', '--bare', src, origin], env);
  const town = path.join(base, 'town');
  cli(GT, base, env, ['install', town, '--name', 'bench']);
  gitSync(town, ['config', 'gc.auto', '0'], env);
  cli(GT, town, env, ['rig', 'add', 'app', origin]);
  for (const [k, v] of Object.entries(settings)) cli(GT, town, env, ['config', 'set', k, JSON.stringify(v)]);
  // No batch window: merge what is ready at once (the default holds a partial batch open 30 s
  // for more MRs, which would measure that wait, not the loop).
  cli(GT, town, env, ['rig', 'settings', 'set', 'app', 'merge_queue.batch.batch_wait_time', '"0s"']);
  fs.writeFileSync(path.join(town, 'formulas', 'bench-loop.formula.toml'), FORMULA);
  return {
    base,
    town,
    rigDir: path.join(town, 'app'),
    repoGit: path.join(town, 'app', '.repo.git'),
    origin,
    env,
    socket,
  };
}

function stopTown(t: BenchTown): void {
  spawnSync(process.execPath, [GT, 'down', '--all'], { cwd: t.town, env: t.env, encoding: 'utf8' });
  spawnSync('tmux', ['-L', t.socket, 'kill-server'], { stdio: 'ignore' });
}

/** The ledger ref's current value, read from the files (cheap: no process, no store). */
function ledgerKey(town: string): string {
  const git = path.join(town, '.git');
  const read = (f: string) => {
    try {
      return fs.readFileSync(path.join(git, f), 'utf8');
    } catch {
      return '';
    }
  };
  return read(path.join('refs', 'gt', 'ledger')) + read('packed-refs');
}

/**
 * Wait until `done` holds, reading the ledger in process (BeadStore) when its ref moved (and
 * every second regardless, for state outside the ref such as wisps). Detection only: the times
 * come from the beads' own timestamps.
 */
async function waitLedger(
  town: string,
  what: string,
  done: (s: BeadStore) => boolean,
  timeoutMs: number,
  check: () => void = () => {},
): Promise<void> {
  const end = performance.now() + timeoutMs;
  let seen: string | null = null;
  let lastOpen = 0;
  for (;;) {
    check();
    const key = ledgerKey(town);
    if (key !== seen || performance.now() - lastOpen > 1000) {
      seen = key;
      lastOpen = performance.now();
      if (done(BeadStore.open(town))) return;
    }
    if (performance.now() > end) throw new Error(`loop bench: timed out waiting for ${what}`);
    await sleep(POLL_MS);
  }
}

const closed = (s: BeadStore, id: string) => s.summary(id)?.status === 'closed';

/** Full records from a fresh `bd show` process: status, close_reason, closed_at (ms precision). */
function show(t: BenchTown, ids: string[]): Map<string, any> {
  const out = JSON.parse(cli(BD, t.town, t.env, ['show', ...ids, '--json']));
  return new Map((Array.isArray(out) ? out : [out]).map((b: any) => [b.id, b]));
}

/** When a bead was closed (epoch ms), from its record. */
function closedAt(b: any): number {
  const ms = Date.parse(b?.closed_at ?? '');
  if (b?.status !== 'closed' || Number.isNaN(ms))
    throw new Error(`loop bench: ${b?.id} is not closed (${b?.status})`);
  return ms;
}

function newBead(t: BenchTown, title: string): string {
  return cli(BD, t.rigDir, t.env, ['q', title, '-t', 'task', '-p', '2']);
}

interface LoopRun {
  wallMs: number;
  slingMs: number;
  mergedMs: number[];
  commits: number;
}

/** One run of part 1 on a fresh town. */
async function loopRun(root: string, i: number): Promise<LoopRun> {
  const t = makeTown(root, `loop${i}`, {
    'operational.daemon.heartbeat': '1s',
    'scheduler.spawn_delay': '0s',
  });
  try {
    const ids = Array.from({ length: BEADS }, (_, k) => newBead(t, `Bench bead ${k + 1}`));
    cli(GT, t.town, t.env, ['daemon', 'start']);
    // The sling runs while the ledger is polled: polecats start working (and merging) before
    // the batch returns.
    const t0 = performance.now();
    const wall0 = Date.now();
    let slingMs = 0;
    const slinging = spawnAsync(
      process.execPath,
      [GT, 'sling', ...ids, 'app', '--agent', 'scripted', '--formula', 'bench-loop', '--json'],
      { cwd: t.town, env: t.env },
    ).then((r) => {
      slingMs = performance.now() - t0;
      if (r.code !== 0) throw new Error(`loop bench: gt sling failed (${r.code}): ${r.stderr}`);
      return r;
    });
    let convoy: string | undefined;
    let failed: unknown = null;
    slinging.then(
      (r) => {
        convoy = JSON.parse(r.stdout).convoy;
        if (!convoy) failed = new Error(`loop bench: the batch sling made no convoy: ${r.stdout}`);
      },
      (e) => {
        failed = e;
      },
    );
    await waitLedger(
      t.town,
      'the convoy to land',
      (s) => !!convoy && closed(s, convoy),
      150_000,
      () => {
        if (failed) throw failed;
      },
    );
    await slinging;
    const recs = show(t, [...ids, convoy!]);
    const notMerged = ids.filter((id) => recs.get(id)?.close_reason !== 'merged');
    if (notMerged.length) throw new Error(`loop bench: not merged: ${notMerged.join(', ')}`);
    const files = gitSync(t.repoGit, ['ls-tree', '--name-only', 'main'], t.env)
      .split('\n')
      .filter((f) => f.startsWith('done-'));
    if (files.length !== BEADS) throw new Error(`loop bench: ${files.length} of ${BEADS} files on main`);
    const commits = Number(gitSync(t.repoGit, ['rev-list', '--count', 'main'], t.env).trim()) - 1;
    return {
      wallMs: closedAt(recs.get(convoy!)) - wall0,
      slingMs,
      mergedMs: ids.map((id) => closedAt(recs.get(id)) - wall0),
      commits,
    };
  } finally {
    stopTown(t);
  }
}

/** Part 2: one town, daemon with a 60 s heartbeat; (a) close → convoy landed, (b) submit → merged. */
async function reactionRuns(root: string, reps: number): Promise<{ convoy: number[]; merge: number[] }> {
  const t = makeTown(root, 'react', {
    'operational.daemon.heartbeat': '60s',
    'scheduler.spawn_delay': '0s',
  });
  const convoy: number[] = [];
  const merge: number[] = [];
  try {
    cli(GT, t.town, t.env, ['daemon', 'start']);
    // The daemon's first tick runs at start; let it settle so no heartbeat tick is in flight.
    await sleep(1500);
    for (let i = 0; i < reps; i++) {
      const id = newBead(t, `React ${i}`);
      const cv = JSON.parse(cli(GT, t.town, t.env, ['convoy', 'create', `React ${i}`, id, '--json'])).id;
      await sleep(600); // the watcher's reaction to the convoy's creation passes first
      timedCli(BD, t.rigDir, t.env, ['close', id]);
      const t0 = Date.now();
      await waitLedger(t.town, `convoy ${cv} to land`, (s) => closed(s, cv), 30_000);
      convoy.push(closedAt(show(t, [cv]).get(cv)) - t0);
    }
    // (b): a branch pushed into the rig's repository, then a merge request for it.
    const work = path.join(t.base, 'work');
    gitSync(t.base, ['clone', '-q', t.repoGit, work], t.env);
    for (let i = 0; i < reps; i++) {
      const id = newBead(t, `Merge ${i}`);
      const branch = `bench/react-${i}`;
      gitSync(work, ['checkout', '-q', '-b', branch, 'origin/main'], t.env);
      fs.writeFileSync(path.join(work, `react-${i}.txt`), `${id}\n`);
      gitSync(work, ['add', '.'], t.env);
      gitSync(work, ['commit', '-q', '-m', `React ${i} (${id})`], t.env);
      gitSync(work, ['push', '-q', 'origin', branch], t.env);
      await sleep(600); // the push wakes the refinery too (nothing to merge yet): let it pass
      const sub = timedCli(GT, t.town, t.env, [
        'mq',
        'submit',
        '--branch',
        branch,
        '--issue',
        id,
        '--rig',
        'app',
        '--json',
      ]);
      const t0 = Date.now();
      const mr = JSON.parse(sub.stdout).mr as string;
      await waitLedger(t.town, `${mr} to merge`, (s) => closed(s, mr), 30_000);
      const rec = show(t, [mr]).get(mr);
      if (rec?.close_reason !== 'merged')
        throw new Error(`loop bench: ${mr} closed as ${rec?.close_reason}, not merged`);
      merge.push(closedAt(rec) - t0);
      gitSync(work, ['fetch', '-q', 'origin'], t.env);
    }
    return { convoy, merge };
  } finally {
    stopTown(t);
  }
}

function baselines(root: string): { node: Stats; commit: Stats; runCmd: Stats } {
  const dir = path.join(root, 'baseline');
  fs.mkdirSync(path.join(dir, 'home'), { recursive: true });
  const env = benchEnv(path.join(dir, 'home'));
  const repo = path.join(dir, 'repo');
  fs.mkdirSync(repo);
  gitSync(repo, ['init', '-q', '-b', 'main'], env);
  gitSync(repo, ['config', 'gc.auto', '0'], env);
  const node = stats(
    Array.from({ length: 10 }, () => timeSpawn(process.execPath, ['-e', '0'], { cwd: dir, env }).ms),
  );
  const commit: number[] = [];
  const runCmd: number[] = [];
  for (let i = 0; i < 10; i++) {
    const id = `bl-${i}`;
    // The step's own command, as the scripted agent runs it (sh -c in the worktree).
    const r = timeSpawn('sh', ['-c', RUN_CMD.replaceAll('{{issue}}', id)], { cwd: repo, env });
    if (r.code !== 0) throw new Error(`loop bench: the step command failed: ${r.stderr}`);
    runCmd.push(r.ms);
    gitSync(repo, ['add', '.'], env);
    const c = timeSpawn('git', ['commit', '-q', '-m', `commit ${i}`], { cwd: repo, env });
    if (c.code !== 0) throw new Error(`loop bench: git commit failed: ${c.stderr}`);
    commit.push(c.ms);
  }
  return { node, commit: stats(commit), runCmd: stats(runCmd) };
}

export async function loopSection(base: string): Promise<Section> {
  const root = path.join(base, 'loop');
  fs.mkdirSync(root, { recursive: true });
  // Reading records in process needs the YAML codec (without it a refreshed index has no summaries).
  await loadCodec();
  log('loop: baselines (node -e 0, git commit, the step command)');
  const b = baselines(root);
  const runs: LoopRun[] = [];
  const nRuns = QUICK ? 1 : 3;
  for (let i = 0; i < nRuns; i++) {
    log(`loop: ${BEADS} beads, ${BEADS} polecats, sling → convoy landed (run ${i + 1}/${nRuns})`);
    runs.push(await loopRun(root, i));
  }
  const reps = 5;
  log(`loop: daemon reaction time (heartbeat 60 s), ${reps}× close → convoy, ${reps}× submit → merged`);
  const react = await reactionRuns(root, reps);

  const wall = stats(runs.map((r) => r.wallMs));
  const sling = stats(runs.map((r) => r.slingMs));
  // What one agent itself spends: its pause before the first step and after the step, and the
  // step's command. The ten agents work in parallel, so the longest is one agent's.
  const agentMs = 2 * STEP_DELAY_MS + b.runCmd.median;
  const overhead = stats(runs.map((r) => (r.wallMs - agentMs) / BEADS));
  const firstMerge = stats(runs.map((r) => Math.min(...r.mergedMs)));
  const medianMerge = stats(runs.map((r) => stats(r.mergedMs).median));
  const cvS = stats(react.convoy);
  const mrS = stats(react.merge);
  const rows: Row[] = [
    {
      name: 'baseline 2: git commit (one file, temporary repository)',
      stats: b.commit,
      ratio: b.commit.median / b.node.median,
    },
    {
      name: `${BEADS} beads through the loop, ${BEADS} concurrent polecats: first sling → convoy landed`,
      key: 'loop:wall',
      stats: wall,
      ratio: wall.median / b.node.median,
      note: `all ${BEADS} squash-merged on main (${runs[0].commits} commits); first bead merged after ${fmtMs(firstMerge.median)}, the median bead after ${fmtMs(medianMerge.median)}; ${nRuns} run${nRuns > 1 ? 's' : ''}, a fresh town each`,
    },
    {
      name: `  of which: gt sling of the ${BEADS} (one batch: polecats, worktrees, molecules, sessions)`,
      stats: sling,
      ratio: sling.median / b.node.median,
      note: `${fmtMs(sling.median / BEADS)} per bead`,
    },
    {
      name: '  of which: one agent’s own work (its pauses + the step’s command)',
      ms: agentMs,
      ratio: agentMs / b.node.median,
      note: `2 × ${STEP_DELAY_MS} ms GT_SCRIPTED_STEP_DELAY_MS + the step's sh -c (median ${fmtMs(b.runCmd.median)}, measured)`,
    },
    {
      name: 'orchestration overhead per bead = (wall − one agent’s work) / 10',
      key: 'loop:overhead',
      stats: overhead,
      ratio: overhead.median / b.node.median,
      note: `= ${(overhead.median / b.commit.median).toFixed(0)} × git commit; sling, session start, prime, claims, commits, gt done, merge queue, squash merges, convoy landing`,
    },
    {
      name: 'daemon reaction: bd close of a convoy’s last bead → convoy landed',
      key: 'loop:react-convoy',
      stats: cvS,
      ratio: cvS.median / b.node.median,
      target: '≤ 1 s',
      met: cvS.p90 <= 1000,
      limit: 1000,
      note: 'heartbeat 60 s: only the ledger watcher can react; from bd close’s exit to the convoy closed in the ledger',
    },
    {
      name: 'daemon reaction: gt mq submit (branch already in the rig) → merged',
      key: 'loop:react-merge',
      stats: mrS,
      ratio: mrS.median / b.node.median,
      target: '≤ 1 s',
      met: mrS.p90 <= 1000,
      limit: 1000,
      note: 'heartbeat 60 s; from gt mq submit’s exit to the MR closed as merged (includes the squash merge and the push to origin)',
    },
  ];
  return {
    title: 'The loop',
    intro:
      'Real `gt`/`bd` processes from dist/ on throwaway towns (own HOME and tmux socket, no git maintenance), ' +
      'polecats running the built-in scripted agent, the patrol daemon detached, no merge gates. ' +
      `Part 1: ${BEADS} beads slung in one \`gt sling\` batch with a one-step town formula that writes ` +
      '`done-<bead>.txt` (no conflicts), `scheduler.spawn_delay` 0 s, `merge_queue.batch.batch_wait_time` 0 s (both parts), daemon heartbeat 1 s, ' +
      `GT_SCRIPTED_STEP_DELAY_MS=${STEP_DELAY_MS}; timed until the auto-convoy lands (every bead merged on main). ` +
      'Part 2: daemon heartbeat 60 s, so the reaction is the file watcher’s; 5 repetitions each, one town. ' +
      'Times come from the beads’ own `closed_at` (ms), against the clock read just before the sling (part 1) ' +
      'or when the triggering command exited (part 2). Ratios are against `node -e 0`; `BENCH_ONLY=loop` runs ' +
      'this section alone.',
    baseline: { name: 'node -e 0', stats: b.node, rssKb: null },
    rows,
    notes: [
      'The polecats start working while the batch `gt sling` is still spawning the later ones (the first bead ' +
        'merges before the sling returns), so the sling time and the agents’ work overlap.',
      `Where the wall time goes: the batch sling takes ${fmtMs(sling.median)} of the ${fmtMs(wall.median)} ` +
        `(${fmtMs(sling.median / BEADS)} per polecat: worktree, branch, molecule, hook and tmux session, on 2 cores ` +
        `shared with the polecats already working); the convoy lands ${fmtMs(wall.median - sling.median)} after ` +
        'the sling returns. The refinery merges what is ready in batches (up to `merge_queue.batch.max_batch_size`), ' +
        'one batch at a time per rig, a squash commit per MR. ' +
        'Every `gt`/`bd` call and every agent is a Node process start.',
      'Timings depend on the load: compare the load average of the run (other work on the machine inflates them).',
    ],
  };
}
