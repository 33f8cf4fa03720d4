// `gt demo`: the whole loop on a throwaway town, with no AI. A sample project becomes a rig; a
// convoy of four beads is slung to polecats running the built-in scripted agent; the patrol
// daemon drives the refinery (gates, squash merges, batch-then-bisect), the witness and convoy
// landing. The scenario is chosen to show the hard parts:
//   - two beads append to the same file, so the second to merge conflicts: the refinery files a
//     conflict-resolution task, the polecat resolves it, and both land;
//   - one polecat's first commit leaves conflict markers behind (the scripted agent's
//     `bad-commit` fault, set per bead), so the project's gate fails: MERGE_FAILED reaches the
//     polecat, which fixes the branch and resubmits with `gt done`;
//   - the rest merge cleanly.
// It ends when the convoy lands, printing what merged, what was retried and why, and timings.
// Every action is a real `gt`/`bd` process (shown as a command line); progress is read from
// the ledger in process. The town is removed at the end unless --keep.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BeadStore } from '../beads/store.ts';
import { GtError } from '../errors.ts';
import { loadCodec } from '../ledger/codec.ts';
import { gtBinPath } from '../runtime/presets.ts';
import { mrMeta } from '../work/mr.ts';

export interface DemoOptions {
  /** Where to create the town (default: a new temporary directory). */
  dir?: string;
  keep?: boolean;
  /** Give up after this long (default 6 minutes). */
  timeoutMs?: number;
  /** Progress lines (the live view). */
  log?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

export interface DemoBead {
  id: string;
  title: string;
  polecat: string | null;
  status: string;
  /** Merge requests filed for it, in order, with how each ended. */
  attempts: { mr: string; result: string }[];
  /** Conflict-resolution tasks the refinery filed for it. */
  conflict_tasks: string[];
  merged_after_s: number | null;
}

export interface DemoResult {
  base: string;
  town: string;
  convoy: string;
  landed: boolean;
  beads: DemoBead[];
  retries: { bead: string; why: string }[];
  merged_commits: string[];
  timings: { setup_s: number; work_s: number; total_s: number };
  kept: boolean;
}

/** The sample project: a greeting list, a changelog and a test the refinery runs as its gate. */
const SAMPLE_FILES: Record<string, string> = {
  'README.md': '# greetings\n\nA tiny project for the Gas Town demo.\n',
  'greetings.txt': 'hello\n',
  'CHANGELOG.md': '# Changelog\n',
  'check.sh': `#!/bin/sh
# The project's test, run by the refinery as a merge gate.
if git grep -n -E '^(<<<<<<<|>>>>>>>)( |$)' -- . ; then
  echo "leftover conflict markers" >&2
  exit 1
fi
test -s greetings.txt || { echo "greetings.txt is empty" >&2; exit 1; }
echo "all checks passed"
`,
};

/** Each polecat runs this formula: the `run` commands are what the scripted agent does. */
const FORMULA = `formula = "demo-change"
description = "Append a line to a file, check it, and hand it in"
[vars.file]
required = true
[vars.text]
required = true
[[steps]]
id = "implement"
title = "Add {{text}} to {{file}}"
run = "printf '%s\\\\n' {{text}} >> {{file}}"
[[steps]]
id = "verify"
title = "Check {{file}}"
needs = ["implement"]
run = "grep -qF -e {{text}} {{file}}"
`;

interface Work {
  title: string;
  file: string;
  text: string;
  /** A scripted-agent fault for this bead only (see src/runtime/scripted-agent.ts). */
  fault?: string;
  note: string;
}

const WORK: Work[] = [
  { title: 'Greet in French', file: 'greetings.txt', text: 'bonjour', note: 'conflicts with Spanish' },
  { title: 'Greet in Spanish', file: 'greetings.txt', text: 'hola', note: 'conflicts with French' },
  {
    title: 'Log the new greetings',
    file: 'CHANGELOG.md',
    text: '- more greetings',
    fault: 'bad-commit:implement',
    note: 'first attempt fails the gate',
  },
  { title: 'Document the greetings', file: 'README.md', text: 'Run ./check.sh to test.', note: 'clean' },
];

function packageBin(name: 'gt' | 'bd'): string {
  return path.join(path.dirname(gtBinPath({ check: true })), `${name}.mjs`);
}

export async function runDemo(o: DemoOptions = {}): Promise<DemoResult> {
  const log = o.log ?? (() => {});
  const t0 = Date.now();
  const secs = (t: number) => Math.round((t - t0) / 100) / 10;
  const base = o.dir ? path.resolve(o.dir) : fs.mkdtempSync(path.join(os.tmpdir(), 'gastown-demo-'));
  fs.mkdirSync(base, { recursive: true });
  const socket = `gt-demo-${process.pid}-${Date.now().toString(36)}`;
  const env: NodeJS.ProcessEnv = {
    ...(o.env ?? process.env),
    BD_ACTOR: 'overseer',
    GIT_AUTHOR_NAME: 'Overseer',
    GIT_AUTHOR_EMAIL: 'overseer@example.com',
    GIT_COMMITTER_NAME: 'Overseer',
    GIT_COMMITTER_EMAIL: 'overseer@example.com',
    GT_TMUX_SOCKET: socket,
    GT_ROLE: '',
    GT_ROOT: '',
    NO_COLOR: '1',
  };
  delete env.GT_ROLE;
  delete env.GT_ROOT;
  const gt = packageBin('gt');
  const bd = packageBin('bd');
  const town = path.join(base, 'town');
  const src = path.join(base, 'greetings');
  const origin = path.join(base, 'greetings.git');

  const sh = (cwd: string, cmd: string, args: string[]) =>
    spawnSync(cmd, args, { cwd, env, encoding: 'utf8' });
  const cli = (bin: string, cwd: string, args: string[], show = true): string => {
    const name = bin === gt ? 'gt' : 'bd';
    if (show)
      log(`$ ${name} ${args.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ')}`);
    const r = spawnSync(process.execPath, [bin, ...args], { cwd, env, encoding: 'utf8' });
    if (r.status !== 0)
      throw new GtError(
        `demo step failed: ${name} ${args.join(' ')} (exit ${r.status})\n${r.stderr}${r.stdout}`,
      );
    return r.stdout.trim();
  };
  const stopAll = () => {
    if (fs.existsSync(path.join(town, 'mayor', 'town.json'))) {
      spawnSync(process.execPath, [gt, 'down', '--all'], { cwd: town, env, encoding: 'utf8' });
    }
    spawnSync('tmux', ['-L', socket, 'kill-server'], { stdio: 'ignore' });
  };

  let result: DemoResult | undefined;
  await loadCodec(); // progress is read from the ledger in process
  try {
    // ---- the sample project and the town ----------------------------------------------------
    log('# A sample project');
    fs.mkdirSync(src, { recursive: true });
    sh(src, 'git', ['init', '-q', '-b', 'main']);
    for (const [f, text] of Object.entries(SAMPLE_FILES)) fs.writeFileSync(path.join(src, f), text);
    fs.chmodSync(path.join(src, 'check.sh'), 0o755);
    sh(src, 'git', ['add', '.']);
    sh(src, 'git', ['commit', '-q', '-m', 'The greetings project']);
    // The rig's origin is a bare repository, as a hosted remote would be: the refinery pushes
    // every merge there.
    sh(base, 'git', ['clone', '-q', '--bare', src, origin]);

    log('# A town with the project as a rig');
    cli(gt, base, ['install', town, '--name', 'demo']);
    cli(gt, town, ['rig', 'add', 'app', origin]);
    const gates = JSON.stringify({ test: { cmd: './check.sh', timeout: '60s', phase: 'pre-merge' } });
    cli(gt, town, ['rig', 'settings', 'set', 'app', 'merge_queue.gates', gates]);
    cli(gt, town, ['rig', 'settings', 'set', 'app', 'merge_queue.batch.batch_wait_time', '"1s"']);
    cli(gt, town, ['config', 'set', 'operational.daemon.heartbeat', '"2s"']);
    cli(gt, town, ['config', 'set', 'scheduler.spawn_delay', '"0s"']);
    fs.writeFileSync(path.join(town, 'formulas', 'demo-change.formula.toml'), FORMULA);

    log('# The work: four beads in one convoy');
    const rigDir = path.join(town, 'app');
    const ids: string[] = [];
    for (const w of WORK) {
      const id = cli(bd, rigDir, ['q', w.title, '-t', 'task', '-p', '2']);
      if (w.fault) cli(bd, rigDir, ['update', id, '--set-metadata', `scripted_fail=${w.fault}`]);
      ids.push(id);
    }
    const convoy = JSON.parse(
      cli(gt, town, ['convoy', 'create', 'Greetings', ...ids, '--notify', 'mayor/', '--json']),
    ).id as string;

    log('# Sling each bead to the rig: a polecat, a worktree, a tmux session each');
    for (const [i, w] of WORK.entries()) {
      cli(gt, town, [
        'sling',
        ids[i],
        'app',
        '--agent',
        'scripted',
        '--formula',
        'demo-change',
        '--var',
        `file=${w.file}`,
        '--var',
        `text=${w.text}`,
        '--no-convoy',
      ]);
    }
    log('# The patrol daemon: witness, refinery, convoy landing (it takes over from here)');
    cli(gt, town, ['daemon', 'start']);

    const tSetup = Date.now();

    // ---- live progress ------------------------------------------------------------------------
    log('# Live progress (the daemon does the rest)');
    const seen = new Set<string>();
    const say = (key: string, line: string) => {
      if (seen.has(key)) return;
      seen.add(key);
      log(`[${secs(Date.now()).toFixed(1).padStart(5)}s] ${line}`);
    };
    const mergedAt = new Map<string, number>();
    const deadline = t0 + (o.timeoutMs ?? 6 * 60_000);
    let landed = false;
    let store: BeadStore | undefined;
    while (Date.now() < deadline) {
      store = BeadStore.open(town);
      const all = store.summaries();
      for (const s of all) {
        const m = (s.metadata ?? {}) as Record<string, unknown>;
        if (ids.includes(s.id)) {
          if (s.assignee) say(`${s.id}:a:${s.assignee}`, `${s.id} ${s.title}: on ${s.assignee}'s hook`);
          if (s.status === 'closed') {
            if (!mergedAt.has(s.id)) mergedAt.set(s.id, Date.now());
            say(`${s.id}:closed`, `${s.id} ${s.title}: merged ✓`);
          }
        }
        if (s.issue_type === 'merge-request') {
          const mm = mrMeta(s);
          say(`${s.id}:filed`, `${mm.source_issue}: merge request ${s.id} filed (${mm.branch})`);
          if (s.status === 'closed')
            say(`${s.id}:closed`, `${mm.source_issue}: ${s.id} ${s.close_reason ?? 'closed'}`);
          if (m.last_failure_at)
            say(
              `${s.id}:failed:${m.last_failure_at}`,
              `${mm.source_issue}: ${s.id} failed ${failureName(m)}: MERGE_FAILED sent to ${mm.worker}`,
            );
        }
        if (typeof m.mr === 'string' && typeof m.source_issue === 'string' && s.issue_type === 'task')
          say(`${s.id}:task`, `${m.source_issue}: conflict → resolution task ${s.id} (${s.title})`);
      }
      // What each polecat is doing, from its heartbeat (operational plane).
      const hbDir = path.join(town, '.runtime', 'heartbeats');
      for (const f of fs.existsSync(hbDir) ? fs.readdirSync(hbDir) : []) {
        try {
          const hb = JSON.parse(fs.readFileSync(path.join(hbDir, f), 'utf8'));
          if (hb.state !== 'working' || typeof hb.step !== 'string' || !hb.actor?.includes('/polecats/'))
            continue;
          const step = store.summary(hb.step);
          const work = typeof hb.bead === 'string' ? hb.bead : '';
          say(
            `hb:${hb.actor}:${hb.step}`,
            `${hb.actor}: ${step?.title ?? hb.step}${work ? ` (${work})` : ''}`,
          );
        } catch {
          // a heartbeat being replaced: the next poll reads it
        }
      }
      const cv = store.summary(convoy);
      if (cv?.status === 'closed') {
        say('landed', `🚚 convoy ${convoy} landed`);
        landed = true;
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    const tWork = Date.now();
    if (!landed) {
      // Show what every session was doing, so a stuck demo explains itself.
      const names = sh(base, 'tmux', ['-L', socket, 'list-sessions', '-F', '#{session_name}']).stdout;
      for (const name of names.split('\n').filter(Boolean)) {
        const pane = sh(base, 'tmux', ['-L', socket, 'capture-pane', '-p', '-t', name]).stdout;
        log(`--- ${name} (last lines) ---`);
        for (const l of pane.trimEnd().split('\n').slice(-15)) log(`  ${l}`);
      }
    }

    // ---- the report -----------------------------------------------------------------------------
    store = BeadStore.open(town);
    const all = store.summaries();
    const beads: DemoBead[] = [];
    const retries: { bead: string; why: string }[] = [];
    for (const id of ids) {
      const s = store.summary(id)!;
      const mrs = all
        .filter((b) => b.issue_type === 'merge-request' && mrMeta(b).source_issue === id)
        .sort((a, b) => a.ct - b.ct);
      const tasks = all.filter(
        (b) =>
          b.issue_type === 'task' && (b.metadata as Record<string, unknown> | undefined)?.source_issue === id,
      );
      const attempts = mrs.map((b) => ({
        mr: b.id,
        result: b.status === 'closed' ? (b.close_reason ?? 'closed') : b.status,
      }));
      for (const b of mrs) {
        const m = (b.metadata ?? {}) as Record<string, unknown>;
        if (m.last_failure_at) {
          const last =
            String(m.last_failure ?? '')
              .split('\n')
              .filter(Boolean)
              .pop() ?? '';
          retries.push({
            bead: id,
            why: `${b.id}: ${failureName(m)} failed (${last}); the polecat fixed its branch${
              b.status === 'closed' && b.close_reason === 'merged'
                ? `, and ${b.id} merged at the fixed commit`
                : ', and resubmitted'
            }`,
          });
        }
      }
      for (const task of tasks)
        retries.push({ bead: id, why: `merge conflict → ${task.id} (${task.status})` });
      beads.push({
        id,
        title: s.title,
        polecat: mrs.length ? (mrMeta(mrs[0]).worker ?? null) : (s.assignee ?? null),
        status: s.status,
        attempts,
        conflict_tasks: tasks.map((x) => x.id),
        merged_after_s: mergedAt.has(id) ? secs(mergedAt.get(id)!) : null,
      });
    }
    const repoGit = path.join(town, 'app', '.repo.git');
    const merged = sh(repoGit, 'git', ['log', '--format=%h %an: %s', `${firstCommit(sh, repoGit)}..main`])
      .stdout.split('\n')
      .filter(Boolean);
    result = {
      base,
      town,
      convoy,
      landed,
      beads,
      retries,
      merged_commits: merged,
      timings: {
        setup_s: secs(tSetup),
        work_s: Math.round((tWork - tSetup) / 100) / 10,
        total_s: secs(Date.now()),
      },
      kept: !!o.keep,
    };
    return result;
  } finally {
    stopAll();
    if (!o.keep) fs.rmSync(base, { recursive: true, force: true });
  }
}

function failureName(m: Record<string, unknown>): string {
  const gate = m.last_failure_gate as { name?: string } | undefined;
  return gate?.name ? `gate "${gate.name}"` : String(m.last_failure_type ?? 'a gate');
}

function firstCommit(
  sh: (cwd: string, cmd: string, args: string[]) => { stdout: string },
  repo: string,
): string {
  return sh(repo, 'git', ['rev-list', '--max-parents=0', 'main']).stdout.trim().split('\n')[0];
}

/** The closing report, for people. */
export function renderDemo(r: DemoResult): string {
  const lines: string[] = [];
  lines.push(r.landed ? `The convoy ${r.convoy} landed.` : `The convoy ${r.convoy} did NOT land in time.`);
  lines.push('', 'What merged (newest first, on main):');
  for (const c of r.merged_commits) lines.push(`  ${c}`);
  lines.push('', 'Each bead:');
  for (const b of r.beads) {
    const tries = b.attempts.map((a) => `${a.mr} ${a.result}`).join(', ');
    lines.push(
      `  ${b.id} ${b.title}: ${b.status}${b.merged_after_s !== null ? ` after ${b.merged_after_s}s` : ''} · ${b.polecat ?? '-'} · ${tries || 'no merge request'}`,
    );
  }
  lines.push('', r.retries.length ? 'Retried, and why:' : 'Nothing was retried.');
  for (const x of r.retries) lines.push(`  ${x.bead}: ${x.why}`);
  lines.push(
    '',
    `Timings: set-up ${r.timings.setup_s}s, work to landing ${r.timings.work_s}s, total ${r.timings.total_s}s.`,
  );
  lines.push(
    r.kept
      ? `The town is kept in ${r.town} (gt status, gt mq list app, bd list --all).`
      : 'The town was removed (--keep leaves it).',
  );
  return lines.join('\n');
}
