// Polecat spawn for gt sling (spec §2.7): reuse an idle polecat of the rig, else take a name
// from the pool and add a worktree `<rig>/polecats/<name>/<rig>` from the rig's `.repo.git` on a
// fresh branch `polecat/<name>/<bead>@<base36 ms>`. Every git call is an argv array; every name
// that becomes a path or a branch is validated. `rollbackSpawn` undoes a spawn that did not land.
import fs from 'node:fs';
import path from 'node:path';
import type { Graph } from '../beads/graph.ts';
import { GtError, UsageError } from '../errors.ts';
import { git } from '../git/repo.ts';
import { agentMeta } from '../town/agents.ts';
import { allocatePolecatName, confirmPolecatName, releasePolecatName } from '../town/namepool.ts';
import { validateAgentName } from '../town/names.ts';
import { polecatWorktree, townPaths } from '../town/paths.ts';
import type { RigInfo } from '../town/rigs.ts';
import { settingValue } from '../town/settings.ts';
import { installPushGuard } from './push-guard.ts';

export interface Spawned {
  rig: string;
  name: string;
  worktree: string;
  branch: string;
  base: string;
  /** An idle polecat given new work (its worktree was kept) rather than a new one. */
  reused: boolean;
  /** The branch checked out before, for a reused polecat (rollback returns to it). */
  previousBranch?: string;
}

/** Branch names: git's own rules, checked by git itself (no shell). */
export function validateBranchName(name: string, what = 'branch'): void {
  const ok =
    name.length > 0 &&
    name.length <= 200 &&
    !name.startsWith('-') &&
    (() => {
      try {
        git(process.cwd(), ['check-ref-format', '--branch', name]);
        return true;
      } catch {
        return false;
      }
    })();
  if (!ok)
    throw new UsageError(`"${name}" is not a valid ${what} name; use letters, digits, "-", "_", "/" and "."`);
}

/** `polecat/<name>/<bead>@<base36 unix ms>`. */
export function polecatBranch(name: string, beadId: string, now = Date.now()): string {
  return `polecat/${name}/${beadId}@${now.toString(36)}`;
}

/** Polecats working town-wide: agent beads of polecats with a hook or agent_state working/spawning. */
export function workingPolecats(g: Graph): string[] {
  const out: string[] = [];
  for (const b of g.byId.values()) {
    if (b.issue_type !== 'agent') continue;
    const m = agentMeta(b);
    if (m.role !== 'polecat') continue;
    if (m.hook_bead || m.agent_state === 'working' || m.agent_state === 'spawning') out.push(m.actor);
  }
  return out;
}

/** An idle polecat of `rig` with a worktree and no hook (agent_state idle or done). */
export function findIdlePolecat(
  townRoot: string,
  g: Graph,
  rig: string,
  exclude: Set<string>,
): string | null {
  const hooked = new Set<string>();
  for (const b of g.byId.values()) if (b.status === 'hooked' && b.assignee) hooked.add(b.assignee);
  const names: string[] = [];
  for (const b of g.byId.values()) {
    if (b.issue_type !== 'agent') continue;
    const m = agentMeta(b);
    if (m.role !== 'polecat' || m.rig !== rig || typeof m.name !== 'string') continue;
    if (m.hook_bead || hooked.has(m.actor) || exclude.has(m.name)) continue;
    if (m.agent_state !== 'idle' && m.agent_state !== 'done') continue;
    if (!fs.existsSync(path.join(polecatWorktree(townRoot, rig, m.name), '.git'))) continue;
    names.push(m.name);
  }
  return names.sort()[0] ?? null;
}

function dirsOf(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
      .map((e) => e.name);
  } catch {
    return [];
  }
}

/** The start point in `.repo.git`: origin/<base> when fetched, else the local branch. */
function startPoint(repoGit: string, base: string): string {
  for (const ref of [`refs/remotes/origin/${base}`, `refs/heads/${base}`]) {
    const sha = git(repoGit, ['rev-parse', '--verify', '-q', `${ref}^{commit}`], { okCodes: [1] }).trim();
    if (sha) return ref;
  }
  throw new UsageError(
    `rig has no branch "${base}" in its repository; give an existing one with --base-branch`,
  );
}

/** The town owner's email (mayor/town.json), for the polecat's git identity. */
function ownerEmail(townRoot: string): string {
  try {
    const j = JSON.parse(fs.readFileSync(townPaths(townRoot).townJson, 'utf8')) as { owner?: string };
    if (j.owner?.includes('@')) return j.owner;
  } catch {
    // fall through
  }
  return 'gastown@localhost';
}

/** git config with a few retries: concurrent spawns share the repository's config lock. */
function gitConfig(cwd: string, args: string[], okCodes: number[] = []): void {
  for (let i = 0; ; i++) {
    try {
      git(cwd, ['config', ...args], { okCodes });
      return;
    } catch (e) {
      if (i >= 20) throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 25 + Math.floor(Math.random() * 50));
    }
  }
}

/**
 * Per-worktree config (`extensions.worktreeConfig`) so each polecat has its own user.name. As
 * git documents, the bare repository's `core.bare` moves to its own `config.worktree` first,
 * or every linked worktree would read it and stop being a work tree.
 */
function enableWorktreeConfig(repoGit: string): void {
  const get = (args: string[]) => git(repoGit, ['config', ...args], { okCodes: [1] }).trim();
  if (get(['--get', 'extensions.worktreeConfig']) === 'true') return;
  gitConfig(repoGit, ['--file', path.join(repoGit, 'config.worktree'), 'core.bare', 'true']);
  if (get(['--file', path.join(repoGit, 'config'), '--get', 'core.bare']) !== '')
    // exit 5: a concurrent spawn unset it first
    gitConfig(repoGit, ['--file', path.join(repoGit, 'config'), '--unset-all', 'core.bare'], [5]);
  gitConfig(repoGit, ['extensions.worktreeConfig', 'true']);
}

export interface SpawnOptions {
  beadId: string;
  baseBranch?: string;
  /** A specific polecat (`gt sling <bead> <rig>/<name>`). */
  name?: string;
  /** Names already taken by this command (batch). */
  exclude?: Set<string>;
  /** Plan only: pick the name and branch, touch nothing. */
  dryRun?: boolean;
}

/** Admission caps: working polecats town-wide, polecat directories per rig. */
export function checkCaps(townRoot: string, rig: RigInfo, g: Graph, adding: number, newDirs: number): void {
  const maxTown = Number(
    settingValue<number>('operational.polecat.max_working_town', { townRoot, rig: rig.name }),
  );
  const working = workingPolecats(g).length;
  if (maxTown > 0 && working + adding > maxTown)
    throw new GtError(
      `town has ${working} working polecats (operational.polecat.max_working_town is ${maxTown}); wait for some to finish or raise it with \`gt config set operational.polecat.max_working_town N\``,
    );
  const maxDirs = Number(
    settingValue<number>('operational.polecat.max_dirs_per_rig', { townRoot, rig: rig.name }),
  );
  const dirs = dirsOf(rig.paths.polecatsDir).length;
  if (maxDirs > 0 && newDirs > 0 && dirs + newDirs > maxDirs)
    throw new GtError(
      `rig ${rig.name} has ${dirs} polecat directories (operational.polecat.max_dirs_per_rig is ${maxDirs}); nuke finished polecats or raise the cap`,
    );
}

/** Make (or reuse) a polecat's worktree and branch for one bead. */
export function spawnPolecat(townRoot: string, rig: RigInfo, g: Graph, o: SpawnOptions): Spawned {
  const base = o.baseBranch ?? rig.default_branch;
  validateBranchName(base, 'base branch');
  const exclude = o.exclude ?? new Set<string>();
  let name = o.name ?? findIdlePolecat(townRoot, g, rig.name, exclude);
  const reused = !!name && fs.existsSync(path.join(polecatWorktree(townRoot, rig.name, name), '.git'));
  if (name) validateAgentName(name, 'polecat');
  const start = startPoint(rig.paths.repoGit, base);
  if (o.dryRun) {
    const n = name ?? '<next name from the pool>';
    return {
      rig: rig.name,
      name: n,
      worktree: polecatWorktree(townRoot, rig.name, n),
      branch: polecatBranch(n, o.beadId),
      base,
      reused,
    };
  }
  if (!name) name = allocatePolecatName(townRoot, rig.name);
  const wt = polecatWorktree(townRoot, rig.name, name);
  const branch = polecatBranch(name, o.beadId);
  validateBranchName(branch);
  if (reused) {
    const dirty = git(wt, ['status', '--porcelain']).trim();
    if (dirty)
      throw new GtError(
        `polecat ${rig.name}/${name} has uncommitted changes in ${wt}; finish or clean them (or sling to the rig for a fresh polecat)`,
      );
    const previousBranch = git(wt, ['rev-parse', '--abbrev-ref', 'HEAD']).trim();
    git(wt, ['checkout', '-q', '-b', branch, start]);
    return { rig: rig.name, name, worktree: wt, branch, base, reused: true, previousBranch };
  }
  try {
    fs.mkdirSync(path.dirname(wt), { recursive: true });
    git(rig.paths.repoGit, ['worktree', 'add', '-q', '--no-track', '-b', branch, wt, start]);
    confirmPolecatName(townRoot, rig.name, name);
    // Local identity: the polecat's name, the town owner's email (per worktree, not shared).
    enableWorktreeConfig(rig.paths.repoGit);
    gitConfig(wt, ['--worktree', 'user.name', name]);
    gitConfig(wt, ['--worktree', 'user.email', ownerEmail(townRoot)]);
    // Polecats never push to the default branch: the guard is in place from the first commit.
    installPushGuard(wt, rig.default_branch);
  } catch (e) {
    rollbackSpawn(townRoot, rig, { rig: rig.name, name, worktree: wt, branch, base, reused: false });
    throw e;
  }
  return { rig: rig.name, name, worktree: wt, branch, base, reused: false };
}

/** Undo a spawn: remove the new worktree and branch and give the name back, or restore a reused one. */
export function rollbackSpawn(townRoot: string, rig: RigInfo, s: Spawned): void {
  const quiet = (fn: () => unknown) => {
    try {
      fn();
    } catch {
      // best effort: rollback continues
    }
  };
  if (s.reused) {
    if (s.previousBranch && s.previousBranch !== 'HEAD')
      quiet(() => git(s.worktree, ['checkout', '-q', s.previousBranch!]));
    quiet(() => git(s.worktree, ['branch', '-q', '-D', s.branch]));
    return;
  }
  quiet(() => git(rig.paths.repoGit, ['worktree', 'remove', '--force', s.worktree]));
  quiet(() => fs.rmSync(path.dirname(s.worktree), { recursive: true, force: true }));
  quiet(() => git(rig.paths.repoGit, ['worktree', 'prune']));
  quiet(() => git(rig.paths.repoGit, ['branch', '-q', '-D', s.branch]));
  quiet(() => releasePolecatName(townRoot, rig.name, s.name));
}
