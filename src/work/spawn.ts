// Polecat spawn for gt sling (spec §2.7): reuse an idle polecat of the rig, else take a name
// from the pool and add a worktree `<rig>/polecats/<name>/<rig>` from the rig's `.repo.git` on a
// fresh branch `polecat/<name>/<bead>@<base36 ms>`. Every git call is an argv array; every name
// that becomes a path or a branch is validated. `rollbackSpawn` undoes a spawn that did not land.
//
// Before the worktree: `fetchOrigin` (gt sling calls it once a sling) updates `.repo.git` from the
// rig's origin; a failure is a warning, the spawn goes on from what is there. The start point is
// the newer of origin/<base> and the local <base> (merges the refinery or a direct `gt done` made
// in `.repo.git` count even before they reach origin).
// Provisioning (spec §2.7), in the new or reused worktree, after the branch is checked out:
// - the agent's context file (CLAUDE.md for claude, GEMINI.md for gemini, AGENTS.md for the
//   other CLIs, none for the scripted agent; setting `polecat.context_file`: "auto" (default),
//   a path, or "" for none)
//   rendered from templates/roles/polecat.md, unless the repository tracks its own;
// - the rig overlay `<rig>/.runtime/overlay/` copied in (tracked files are never overwritten);
// - what was written is listed in the repository's info/exclude, so it is never committed;
// - setup hooks: the executables in `<rig>/.runtime/setup-hooks/` (sorted), then the setting
//   `polecat.setup_command`, run in the worktree with `polecat.setup_timeout` (default 5m). A
//   failure or a timeout throws, and the spawn is rolled back.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Graph } from '../beads/graph.ts';
import { GtError, UsageError } from '../errors.ts';
import { git } from '../git/repo.ts';
import { FileLock } from '../ledger/lock.ts';
import { resolveAgent } from '../runtime/presets.ts';
import { agentMeta } from '../town/agents.ts';
import { allocatePolecatName, confirmPolecatName, releasePolecatName } from '../town/namepool.ts';
import { validateAgentName } from '../town/names.ts';
import { polecatWorktree, rigPaths, townPaths } from '../town/paths.ts';
import { type RigInfo, subdirs } from '../town/rigs.ts';
import { durationMs, settingValue } from '../town/settings.ts';
import { renderTemplate, templatesDir } from './prime.ts';
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
  /** What provisioning put in the worktree (not for dry runs). */
  provisioned?: Provisioned;
}

export interface Provisioned {
  /** The agent context file written (relative to the worktree), if any. */
  context_file: string | null;
  /** Overlay files copied in (relative paths). */
  overlay: string[];
  /** Setup hooks run, in order, with how long each took. */
  setup: { command: string; ms: number }[];
  warnings: string[];
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

/**
 * The start point in `.repo.git`: origin/<base> as fetched, unless the local <base> already
 * contains it (merges made here and not yet pushed); either one when only one exists.
 */
function startPoint(repoGit: string, base: string): string {
  const has = (ref: string) =>
    git(repoGit, ['rev-parse', '--verify', '-q', `${ref}^{commit}`], { okCodes: [1] }).trim();
  const remote = `refs/remotes/origin/${base}`;
  const local = `refs/heads/${base}`;
  const r = has(remote);
  const l = has(local);
  if (r && l && r !== l) {
    const localContainsRemote =
      spawnSync('git', ['merge-base', '--is-ancestor', r, l], { cwd: repoGit }).status === 0;
    return localContainsRemote ? local : remote;
  }
  if (r) return remote;
  if (l) return local;
  throw new UsageError(
    `rig has no branch "${base}" in its repository; give an existing one with --base-branch`,
  );
}

/**
 * `git fetch origin` into the rig's `.repo.git` (no prompts, bounded by
 * `polecat.fetch_timeout`, default 60s). Null when it worked or there is no origin; else the
 * warning to report (the spawn goes on from what `.repo.git` has).
 */
export function fetchOrigin(townRoot: string, rig: RigInfo): string | null {
  const repoGit = rig.paths.repoGit;
  const url = spawnSync('git', ['remote', 'get-url', 'origin'], { cwd: repoGit, encoding: 'utf8' });
  if (url.status !== 0 || !url.stdout.trim()) return null;
  const timeout = durationMs(
    settingValue('polecat.fetch_timeout', { townRoot, rig: rig.name }) ?? '60s',
    'polecat.fetch_timeout',
  );
  const r = spawnSync('git', ['fetch', '--quiet', '--prune', 'origin'], {
    cwd: repoGit,
    encoding: 'utf8',
    timeout,
    env: {
      ...process.env,
      GIT_TERMINAL_PROMPT: '0',
      GIT_SSH_COMMAND: process.env.GIT_SSH_COMMAND ?? 'ssh -o BatchMode=yes',
    },
  });
  if (r.status === 0) return null;
  const why = r.error
    ? (r.error as NodeJS.ErrnoException).code === 'ETIMEDOUT'
      ? `timed out after ${timeout} ms`
      : r.error.message
    : (r.stderr ?? '').trim().split('\n').slice(-2).join(' ') || `exit ${r.status}`;
  return `git fetch origin in ${repoGit} failed (${why}); polecats start from what the rig's repository already has`;
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
  /** The agent preset given with --agent (picks the context file); settings decide otherwise. */
  agent?: string;
  env?: NodeJS.ProcessEnv;
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
  const dirs = subdirs(rig.paths.polecatsDir).length;
  if (maxDirs > 0 && newDirs > 0 && dirs + newDirs > maxDirs)
    throw new GtError(
      `rig ${rig.name} has ${dirs} polecat directories (operational.polecat.max_dirs_per_rig is ${maxDirs}); nuke finished polecats or raise the cap`,
    );
}

/** The lock a polecat's worktree changes hands under (gt done's sandbox sync, reuse by sling). */
export function polecatLockFile(townRoot: string, rig: string, name: string): string {
  return path.join(rigPaths(townRoot, rig).runtimeDir, 'locks', `polecat-${name}.lock`);
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
    // A polecat that just went idle may still be inside `gt done`, syncing its sandbox back to
    // the default branch: wait for it (gt done holds this lock from its ledger commit through
    // the sync), or that sync would pull the worktree off the branch made here.
    const lock = new FileLock(polecatLockFile(townRoot, rig.name, name));
    lock.acquire(60_000);
    try {
      const dirty = git(wt, ['status', '--porcelain']).trim();
      if (dirty)
        throw new GtError(
          `polecat ${rig.name}/${name} has uncommitted changes in ${wt}; finish or clean them (or sling to the rig for a fresh polecat)`,
        );
      const previousBranch = git(wt, ['rev-parse', '--abbrev-ref', 'HEAD']).trim();
      git(wt, ['checkout', '-q', '-b', branch, start]);
      const spawned: Spawned = {
        rig: rig.name,
        name,
        worktree: wt,
        branch,
        base,
        reused: true,
        previousBranch,
      };
      try {
        spawned.provisioned = provisionWorktree(townRoot, rig, spawned, o);
      } catch (e) {
        rollbackSpawn(townRoot, rig, spawned);
        throw e;
      }
      return spawned;
    } finally {
      lock.release();
    }
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
    const spawned: Spawned = { rig: rig.name, name, worktree: wt, branch, base, reused: false };
    spawned.provisioned = provisionWorktree(townRoot, rig, spawned, o);
    return spawned;
  } catch (e) {
    rollbackSpawn(townRoot, rig, { rig: rig.name, name, worktree: wt, branch, base, reused: false });
    throw e;
  }
}

/** The context file an agent CLI reads at start, by provider (null: it reads none). */
export function contextFileFor(provider: string): string | null {
  if (provider === 'claude') return 'CLAUDE.md';
  if (provider === 'gemini') return 'GEMINI.md';
  if (['codex', 'opencode', 'copilot', 'cursor', 'amp', 'auggie', 'pi', 'omp', 'vibe'].includes(provider))
    return 'AGENTS.md';
  return null;
}

function isTracked(wt: string, rel: string): boolean {
  return spawnSync('git', ['ls-files', '--error-unmatch', '--', rel], { cwd: wt }).status === 0;
}

/** Files under `dir`, relative, sorted (symlinks and specials skipped). */
function filesUnder(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.name === '.git') continue;
    if (e.isDirectory()) out.push(...filesUnder(dir, p));
    else if (e.isFile()) out.push(p);
  }
  return out.sort();
}

/** Add anchored patterns to the repository's info/exclude (once each). */
function excludeLocally(wt: string, rels: string[]): void {
  if (rels.length === 0) return;
  const file = path.resolve(wt, git(wt, ['rev-parse', '--git-path', 'info/exclude']).trim());
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const have = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const lines = new Set(have.split('\n'));
  // Glob characters in a name are escaped so the pattern names exactly that path.
  const add = rels.map((r) => `/${r.replace(/([[\]*?!#\\])/g, '\\$1')}`).filter((pat) => !lines.has(pat));
  if (add.length === 0) return;
  const head = have && !have.endsWith('\n') ? '\n' : '';
  const mark = lines.has('# gt: polecat provisioning') ? '' : '# gt: polecat provisioning\n';
  fs.appendFileSync(file, `${head}${mark}${add.join('\n')}\n`);
}

/** The provider of the agent this polecat will run (context file choice); null when unknown. */
function providerOf(townRoot: string, rig: RigInfo, name: string, o: SpawnOptions): string | null {
  try {
    return resolveAgent(townRoot, { role: 'polecat', rig: rig.name, name }, { flag: o.agent, env: o.env })
      .preset.provider;
  } catch {
    return null;
  }
}

/**
 * Provision a polecat's worktree (see the top of this file): context file, overlay, local
 * excludes, setup hooks. Throws on a failed or timed-out setup hook (the caller rolls back).
 */
export function provisionWorktree(
  townRoot: string,
  rig: RigInfo,
  s: Spawned,
  o: SpawnOptions = { beadId: '' },
): Provisioned {
  const env = o.env ?? process.env;
  const ctx = { townRoot, rig: rig.name, env };
  const out: Provisioned = { context_file: null, overlay: [], setup: [], warnings: [] };
  const written: string[] = [];

  // 1. The agent's context file.
  const configured = settingValue<unknown>('polecat.context_file', ctx);
  let ctxFile: string | null;
  if (typeof configured === 'string' && configured.trim() !== 'auto') ctxFile = configured.trim() || null;
  else {
    const provider = providerOf(townRoot, rig, s.name, o);
    ctxFile = provider ? contextFileFor(provider) : null;
  }
  if (ctxFile) {
    if (path.isAbsolute(ctxFile) || ctxFile.split(/[\\/]/).some((p) => p === '..' || p === '.git' || !p))
      throw new UsageError(
        `setting polecat.context_file = "${ctxFile}" must be a plain path inside the worktree, like CLAUDE.md`,
      );
    if (isTracked(s.worktree, ctxFile))
      out.warnings.push(`${ctxFile} is the repository's own; left as it is`);
    else {
      const tpl = path.join(templatesDir(), 'roles', 'polecat.md');
      const text = fs.existsSync(tpl)
        ? renderTemplate(fs.readFileSync(tpl, 'utf8'), {
            actor: `${rig.name}/polecats/${s.name}`,
            address: `${rig.name}/polecats/${s.name}`,
            role: 'polecat',
            rig: rig.name,
            name: s.name,
            town: townRoot,
            work_dir: s.worktree,
            prefix: rig.prefix,
          })
        : `# Polecat ${s.name} (${rig.name})\n\nRun \`gt prime --hook\` and work the molecule on your hook; finish with \`gt done\`.\n`;
      const dest = path.join(s.worktree, ctxFile);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.writeFileSync(dest, text);
      out.context_file = ctxFile;
      written.push(ctxFile);
    }
  }

  // 2. The rig overlay.
  const overlay = path.join(rig.paths.runtimeDir, 'overlay');
  if (fs.existsSync(overlay) && fs.statSync(overlay).isDirectory()) {
    for (const rel of filesUnder(overlay)) {
      if (isTracked(s.worktree, rel)) {
        out.warnings.push(`overlay file ${rel} is tracked by the repository; not overwritten`);
        continue;
      }
      const dest = path.join(s.worktree, rel);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.copyFileSync(path.join(overlay, rel), dest);
      fs.chmodSync(dest, fs.statSync(path.join(overlay, rel)).mode & 0o777);
      out.overlay.push(rel);
      written.push(rel);
    }
  }

  // 3. Never committed.
  excludeLocally(s.worktree, written);

  // 4. Setup hooks.
  const timeout = durationMs(settingValue('polecat.setup_timeout', ctx) ?? '5m', 'polecat.setup_timeout');
  const hookEnv: NodeJS.ProcessEnv = {
    ...env,
    GT_ROOT: townRoot,
    GT_RIG: rig.name,
    GT_POLECAT: s.name,
    GT_POLECAT_PATH: s.worktree,
    GT_BRANCH: s.branch,
    BD_ACTOR: `${rig.name}/polecats/${s.name}`,
  };
  const runHook = (label: string, argv: string[]) => {
    const t0 = Date.now();
    const r = spawnSync(argv[0], argv.slice(1), {
      cwd: s.worktree,
      env: hookEnv,
      encoding: 'utf8',
      timeout,
      maxBuffer: 16 * 1024 * 1024,
    });
    const ms = Date.now() - t0;
    if (r.status !== 0) {
      const tail = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim().split('\n').slice(-5).join('\n');
      const why =
        (r.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT'
          ? `timed out after ${timeout} ms (polecat.setup_timeout)`
          : r.error
            ? r.error.message
            : `exited ${r.status ?? `on signal ${r.signal}`}`;
      throw new GtError(
        `setup hook ${label} failed in ${s.worktree}: ${why}${tail ? `\n${tail}` : ''}\nthe spawn of ${rig.name}/polecats/${s.name} was rolled back; fix the hook and sling again`,
      );
    }
    out.setup.push({ command: label, ms });
  };
  const hooksDir = path.join(rig.paths.runtimeDir, 'setup-hooks');
  if (fs.existsSync(hooksDir)) {
    for (const e of fs
      .readdirSync(hooksDir, { withFileTypes: true })
      .sort((a, b) => a.name.localeCompare(b.name))) {
      if (!e.isFile() || e.name.startsWith('.')) continue;
      const file = path.join(hooksDir, e.name);
      if ((fs.statSync(file).mode & 0o111) === 0) {
        out.warnings.push(`setup hook ${file} is not executable; skipped (chmod +x it)`);
        continue;
      }
      runHook(file, [file]);
    }
  }
  const cmd = settingValue<unknown>('polecat.setup_command', ctx);
  // A command the town's owner configured: a shell line (like a formula's run = "..."), or an argv.
  if (typeof cmd === 'string' && cmd.trim()) runHook(cmd, ['/bin/sh', '-c', cmd]);
  else if (Array.isArray(cmd) && cmd.length && cmd.every((a) => typeof a === 'string'))
    runHook(cmd.join(' '), cmd as string[]);
  else if (cmd !== undefined && cmd !== '' && cmd !== null)
    throw new UsageError(
      'setting polecat.setup_command must be a shell command line or a JSON array of strings',
    );
  return out;
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
