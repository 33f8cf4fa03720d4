// `gt doctor`: the town's health. Tools present and recent enough, town files valid, the
// ledger (every `bd doctor` check), rig worktrees consistent with the registry, agent sessions
// whose agent died, stale runtime files. `--fix` repairs what is safe: never committed work.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { runDoctor } from '../beads/doctor.ts';
import { BeadStore } from '../beads/store.ts';
import { loadCodec } from '../ledger/codec.ts';
import { pidAlive } from '../ledger/lock.ts';
import { listAgentSessions, parseAgentAddress, restartSession } from '../runtime/sessions.ts';
import { parseTmuxVersion, TMUX_MIN_VERSION, whichCommand } from '../runtime/tmux.ts';
import { readJson, readRigs } from './files.ts';
import { install } from './install.ts';
import { rigPaths, townPaths } from './paths.ts';

export type Status = 'ok' | 'warn' | 'error';

export interface TownCheck {
  id: string;
  status: Status;
  detail: string;
  fix?: string;
  fixed?: boolean;
}

export interface TownDoctorReport {
  ok: boolean;
  checks: TownCheck[];
  counts: Record<Status, number>;
}

const GIT_MIN: [number, number] = [2, 39];

function run(cmd: string, args: string[], cwd?: string) {
  return spawnSync(cmd, args, { cwd, encoding: 'utf8' });
}

function atLeast(v: [number, number], min: [number, number]): boolean {
  return v[0] > min[0] || (v[0] === min[0] && v[1] >= min[1]);
}

function checkTools(): TownCheck[] {
  const out: TownCheck[] = [];
  const g = run('git', ['--version']);
  const gv = /(\d+)\.(\d+)/.exec(g.stdout ?? '');
  if (g.status !== 0 || !gv) {
    out.push({
      id: 'git',
      status: 'error',
      detail: 'git not found',
      fix: 'install git ≥ 2.39 (apt-get install git)',
    });
  } else {
    const v: [number, number] = [Number(gv[1]), Number(gv[2])];
    out.push(
      atLeast(v, GIT_MIN)
        ? { id: 'git', status: 'ok', detail: `git ${v.join('.')}` }
        : { id: 'git', status: 'error', detail: `git ${v.join('.')} is older than 2.39`, fix: 'upgrade git' },
    );
  }
  if (!whichCommand('tmux')) {
    out.push({
      id: 'tmux',
      status: 'error',
      detail: 'tmux not found: agent sessions cannot run',
      fix: 'apt-get install tmux',
    });
  } else {
    const t = run('tmux', ['-V']);
    const v = parseTmuxVersion(t.stdout ?? '');
    out.push(
      v && atLeast(v, TMUX_MIN_VERSION)
        ? { id: 'tmux', status: 'ok', detail: (t.stdout ?? '').trim() }
        : {
            id: 'tmux',
            status: 'error',
            detail: `${(t.stdout ?? '').trim() || 'tmux'} is older than 3.2`,
            fix: 'upgrade tmux',
          },
    );
  }
  return out;
}

/** A committed version of a town file that parses, if git has one. */
function committedJson(root: string, rel: string): string | null {
  const r = run('git', ['show', `HEAD:${rel}`], root);
  if (r.status !== 0) return null;
  try {
    JSON.parse(r.stdout);
    return r.stdout;
  } catch {
    return null;
  }
}

async function checkTownFiles(root: string, fix: boolean): Promise<TownCheck> {
  const t = townPaths(root);
  const files: [string, (v: any) => boolean][] = [
    [t.townJson, (v) => v?.type === 'town' && typeof v.name === 'string'],
    [t.rigsJson, (v) => v && typeof v.rigs === 'object' && v.rigs !== null],
    [t.daemonJson, (v) => v && typeof v === 'object'],
    [t.settingsJson, (v) => v && typeof v === 'object' && !Array.isArray(v)],
    [t.escalationJson, (v) => v && typeof v.routes === 'object'],
  ];
  const problems: { file: string; why: string }[] = [];
  for (const [file, valid] of files) {
    try {
      if (!valid(readJson(file, path.relative(root, file))))
        problems.push({ file, why: 'has the wrong shape' });
    } catch (e: any) {
      problems.push({ file, why: fs.existsSync(file) ? 'is not valid JSON' : 'is missing' });
      void e;
    }
  }
  if (!problems.length) return { id: 'town-files', status: 'ok', detail: `${files.length} town files valid` };
  const detail = problems.map((p) => `${path.relative(root, p.file)} ${p.why}`).join('; ');
  if (!fix)
    return {
      id: 'town-files',
      status: 'error',
      detail,
      fix: 'gt doctor --fix (restores the committed or default version)',
    };
  for (const p of problems) {
    const rel = path.relative(root, p.file);
    const good = committedJson(root, rel);
    if (good) fs.writeFileSync(p.file, good);
    else if (!fs.existsSync(p.file))
      continue; // install below writes the default
    else fs.renameSync(p.file, `${p.file}.broken-${Date.now()}`);
  }
  await install(root, {});
  const again = await checkTownFiles(root, false);
  return again.status === 'ok'
    ? { id: 'town-files', status: 'ok', detail: `restored: ${detail}`, fixed: true }
    : { ...again, detail: `could not restore: ${again.detail}` };
}

function checkLedger(root: string, fix: boolean): TownCheck[] {
  const store = BeadStore.open(root);
  const report = runDoctor(store, { fix, fixCommand: 'gt doctor --fix' });
  return report.checks.map((c) => ({
    id: `ledger.${c.name}`,
    status: c.status,
    detail: c.details?.length ? `${c.message}: ${c.details.slice(0, 5).join('; ')}` : c.message,
    ...(c.fix ? { fix: c.fix } : {}),
    ...(c.fixed ? { fixed: true } : {}),
  }));
}

/** Is `dir` a working tree git recognises (its `.git` link intact)? */
function isWorktree(dir: string): boolean {
  if (!fs.existsSync(dir)) return false;
  const r = run('git', ['-C', dir, 'rev-parse', '--is-inside-work-tree']);
  return r.status === 0 && r.stdout.trim() === 'true' && fs.existsSync(path.join(dir, '.git'));
}

function checkRig(root: string, rig: string, branch: string | undefined, fix: boolean): TownCheck {
  const p = rigPaths(root, rig);
  const id = `rig.${rig}`;
  if (!fs.existsSync(p.dir))
    return {
      id,
      status: 'error',
      detail: `registered but ${p.dir} is missing`,
      fix: `gt rig remove ${rig}, then gt rig add again`,
    };
  if (!fs.existsSync(path.join(p.repoGit, 'HEAD'))) {
    return {
      id,
      status: 'error',
      detail: `the shared repository ${p.repoGit} is missing`,
      fix: `gt rig remove ${rig} --purge, then gt rig add again`,
    };
  }
  const problems: string[] = [];
  const repaired: string[] = [];
  if (!isWorktree(p.mayorRig)) problems.push(`mayor/rig is missing or not a git checkout`);
  // The refinery worktree holds no work of its own (merges are staged there): safe to recreate.
  if (!isWorktree(p.refineryRig)) {
    if (fix) {
      run('git', ['--git-dir', p.repoGit, 'worktree', 'prune']);
      if (fs.existsSync(p.refineryRig)) fs.renameSync(p.refineryRig, `${p.refineryRig}.broken-${Date.now()}`);
      const head =
        branch ?? run('git', ['--git-dir', p.repoGit, 'symbolic-ref', '--short', 'HEAD']).stdout.trim();
      const add = run('git', ['--git-dir', p.repoGit, 'worktree', 'add', '--force', p.refineryRig, head]);
      if (add.status === 0 && isWorktree(p.refineryRig)) repaired.push('recreated the refinery worktree');
      else problems.push(`refinery/rig could not be recreated: ${(add.stderr ?? '').trim().split('\n')[0]}`);
    } else problems.push('refinery/rig is missing or not a working tree');
  }
  // Polecat worktrees hold work: only ever repaired in place, never removed.
  for (const name of fs.existsSync(p.polecatsDir) ? fs.readdirSync(p.polecatsDir) : []) {
    const wt = path.join(p.polecatsDir, name, rig);
    if (!fs.statSync(path.join(p.polecatsDir, name)).isDirectory() || !fs.existsSync(wt)) continue;
    if (isWorktree(wt)) continue;
    if (fix) {
      run('git', ['--git-dir', p.repoGit, 'worktree', 'repair', wt]);
      if (isWorktree(wt)) {
        repaired.push(`repaired the polecat worktree ${name}`);
        continue;
      }
    }
    problems.push(`polecat worktree ${name} is not a working tree git knows (its .git link is broken)`);
  }
  if (problems.length) {
    return {
      id,
      status: 'error',
      detail: problems.join('; ') + (repaired.length ? ` (${repaired.join('; ')})` : ''),
      fix: 'gt doctor --fix (worktree prune/repair; the refinery worktree is recreated)',
    };
  }
  return repaired.length
    ? { id, status: 'ok', detail: repaired.join('; '), fixed: true }
    : {
        id,
        status: 'ok',
        detail: 'shared repository, mayor/rig, refinery worktree and polecat worktrees consistent',
      };
}

async function checkSessions(root: string, fix: boolean): Promise<TownCheck> {
  let sessions: ReturnType<typeof listAgentSessions>;
  try {
    sessions = listAgentSessions(root);
  } catch (e: any) {
    return {
      id: 'sessions',
      status: 'warn',
      detail: `cannot list sessions: ${String(e.message).split('\n')[0]}`,
    };
  }
  const zombies = sessions.filter((s) => s.state === 'zombie' && s.address);
  if (!zombies.length) {
    const alive = sessions.filter((s) => s.state === 'alive').length;
    return {
      id: 'sessions',
      status: 'ok',
      detail: `${alive} agent session(s) alive, none with a dead agent`,
    };
  }
  const names = zombies.map((z) => `${z.session} (${z.address})`).join(', ');
  if (!fix)
    return {
      id: 'sessions',
      status: 'warn',
      detail: `agent process gone in ${names}`,
      fix: 'gt doctor --fix restarts them',
    };
  const failed: string[] = [];
  for (const z of zombies) {
    try {
      await restartSession(root, parseAgentAddress(root, z.address!));
    } catch (e: any) {
      failed.push(`${z.session}: ${String(e.message).split('\n')[0]}`);
    }
  }
  return failed.length
    ? { id: 'sessions', status: 'warn', detail: `could not restart ${failed.join('; ')}` }
    : { id: 'sessions', status: 'ok', detail: `restarted ${names}`, fixed: true };
}

function checkRuntime(root: string, fix: boolean): TownCheck {
  const dir = path.join(townPaths(root).runtimeDir, 'pids');
  const stale: string[] = [];
  for (const f of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
    if (!f.endsWith('.pid')) continue;
    const pid = Number(fs.readFileSync(path.join(dir, f), 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0 || !pidAlive(pid)) stale.push(f);
  }
  if (!stale.length) return { id: 'runtime', status: 'ok', detail: 'no stale pid files' };
  if (!fix)
    return {
      id: 'runtime',
      status: 'warn',
      detail: `stale pid files: ${stale.join(', ')}`,
      fix: 'gt doctor --fix removes them',
    };
  for (const f of stale) fs.rmSync(path.join(dir, f), { force: true });
  return { id: 'runtime', status: 'ok', detail: `removed stale pid files: ${stale.join(', ')}`, fixed: true };
}

export async function doctorTown(root: string, opts: { fix?: boolean } = {}): Promise<TownDoctorReport> {
  const fix = !!opts.fix;
  await loadCodec();
  const checks: TownCheck[] = [...checkTools()];
  // The ledger first: restoring town files writes through it, which would clear its findings unseen.
  try {
    checks.push(...checkLedger(root, fix));
  } catch (e: any) {
    checks.push({
      id: 'ledger',
      status: 'error',
      detail: String(e.message).split('\n')[0],
      fix: 'gt install (restores the ledger)',
    });
  }
  checks.push(await checkTownFiles(root, fix));
  for (const [rig, e] of Object.entries(readRigs(root)).sort(([a], [b]) => (a < b ? -1 : 1))) {
    checks.push(checkRig(root, rig, e.default_branch, fix));
  }
  if (checks.find((c) => c.id === 'tmux')?.status === 'ok') checks.push(await checkSessions(root, fix));
  checks.push(checkRuntime(root, fix));
  const counts: Record<Status, number> = { ok: 0, warn: 0, error: 0 };
  for (const c of checks) counts[c.status]++;
  return { ok: counts.error === 0, checks, counts };
}
