// gt's git hooks (hooks/ in the package): post-commit records polecat progress, pre-push is the
// polecat push guard, reference-transaction on a rig's .repo.git wakes the refinery when a
// polecat branch moves. They are installed per repository through `core.hooksPath`, pointing at
// `<git-common-dir>/gt-hooks/`, a directory gt owns; the repository's own hooks (the default
// `hooks/` dir, or a previous core.hooksPath) stay where they are and are chained: each of our
// scripts runs the same-named hook from `gt.hooks.chain` first and keeps its exit code.
// The scripts are static text; what they need (town root, rig, default branch) is read from the
// repository's git config, so nothing from data is ever written into a script.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { findTownRoot } from '../beads/store.ts';
import { GtError, UsageError } from '../errors.ts';
import { packageRoot } from '../runtime/presets.ts';

export const HOOK_NAMES = ['post-commit', 'pre-push', 'reference-transaction'] as const;
export type HookName = (typeof HOOK_NAMES)[number];
export const HOOK_MARK = '# gt: managed hook';
/** The mark of the push guard written straight into hooks/ before core.hooksPath was used. */
export const LEGACY_GUARD_MARK = '# gt: polecat push guard';
export const HOOKS_DIRNAME = 'gt-hooks';

function git(cwd: string, args: string[], okCodes: number[] = [0]): string {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8' });
  if (r.status === null || !okCodes.includes(r.status))
    throw new GtError(`git ${args.join(' ')} failed in ${cwd}: ${(r.stderr ?? '').trim()}`);
  return (r.stdout ?? '').trim();
}

function getConfig(cwd: string, key: string): string {
  return git(cwd, ['config', '--get', key], [0, 1]);
}

/** The shipped hook scripts (the package's hooks/ directory). */
export function hooksSourceDir(): string {
  const dir = path.join(packageRoot(), 'hooks');
  if (!fs.existsSync(path.join(dir, 'post-commit')))
    throw new GtError(`the gt package has no hooks/ directory (${dir}); reinstall gt`);
  return dir;
}

export function hookScript(name: HookName): string {
  return fs.readFileSync(path.join(hooksSourceDir(), name), 'utf8');
}

export interface InstallHooksOptions {
  /** Town root for the progress files and wake files (default: the town above the repository). */
  townRoot?: string;
  /** The rig's default branch, protected by the pre-push guard (gt.defaultBranch). */
  defaultBranch?: string;
  /** Set on a rig's .repo.git: the rig whose refinery wakes when a polecat branch moves. */
  wakeRig?: string;
}

export interface InstallHooksResult {
  /** The repository's git common dir (shared by its worktrees). */
  gitDir: string;
  /** Our hooks directory (core.hooksPath). */
  hooksDir: string;
  /** Where the repository's own hooks are, run first by ours (null: none). */
  chain: string | null;
  /** Hook files written or rewritten this time (empty when all were current). */
  written: string[];
}

function writeAtomic(file: string, text: string, mode: number): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text, { mode });
  fs.chmodSync(tmp, mode);
  fs.renameSync(tmp, file);
}

/**
 * Install gt's hooks for the repository of `dir` (a worktree, clone or bare repository):
 * idempotent; a user's hooks are chained, never overwritten. The config is written to the
 * common config, so every worktree of a rig's .repo.git (refinery, polecats) gets them.
 */
export function installHooks(dir: string, o: InstallHooksOptions = {}): InstallHooksResult {
  if (!fs.existsSync(dir)) throw new UsageError(`no such directory: ${dir}`);
  const gitDir = git(dir, ['rev-parse', '--path-format=absolute', '--git-common-dir']);
  const hooksDir = path.join(gitDir, HOOKS_DIRNAME);
  if (o.defaultBranch !== undefined) {
    if (!o.defaultBranch || git(dir, ['check-ref-format', '--branch', o.defaultBranch]) !== o.defaultBranch)
      throw new UsageError(`invalid default branch "${o.defaultBranch}"`);
  }
  if (o.wakeRig !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(o.wakeRig))
    throw new UsageError(`invalid rig name "${o.wakeRig}"`);
  const townRoot = o.townRoot ? path.resolve(o.townRoot) : findTownRoot(dir);

  // Where the repository's own hooks are: a previous core.hooksPath, else the default hooks/.
  const current = getConfig(dir, 'core.hooksPath');
  let chain: string | null;
  if (current && path.resolve(current) === hooksDir) {
    chain = getConfig(dir, 'gt.hooks.chain') || null;
  } else if (current) {
    const bare = git(dir, ['rev-parse', '--is-bare-repository']) === 'true';
    const base = bare ? gitDir : git(dir, ['rev-parse', '--show-toplevel']);
    chain = path.resolve(base, current.replace(/^~(?=\/)/, process.env.HOME ?? '~'));
  } else {
    chain = path.join(gitDir, 'hooks');
  }

  // The push guard that used to be written into hooks/ directly is ours: take it away.
  const legacy = path.join(gitDir, 'hooks', 'pre-push');
  if (fs.existsSync(legacy) && fs.readFileSync(legacy, 'utf8').startsWith(`#!/bin/sh\n${LEGACY_GUARD_MARK}`))
    fs.rmSync(legacy, { force: true });

  fs.mkdirSync(hooksDir, { recursive: true });
  const written: string[] = [];
  for (const name of HOOK_NAMES) {
    const file = path.join(hooksDir, name);
    const text = hookScript(name);
    let same = false;
    try {
      same = fs.readFileSync(file, 'utf8') === text && (fs.statSync(file).mode & 0o111) !== 0;
    } catch {
      same = false;
    }
    if (!same) {
      writeAtomic(file, text, 0o755);
      written.push(file);
    }
  }

  const set = (key: string, value: string) => {
    if (getConfig(dir, key) !== value) git(dir, ['config', key, value]);
  };
  if (chain) set('gt.hooks.chain', chain);
  if (townRoot) set('gt.townRoot', townRoot);
  if (o.defaultBranch) set('gt.defaultBranch', o.defaultBranch);
  if (o.wakeRig) set('gt.wakeRig', o.wakeRig);
  // Last: the hooks take effect only once everything they read is in place.
  set('core.hooksPath', hooksDir);
  return { gitDir, hooksDir, chain, written };
}

/** Hooks state of a repository (for doctor/status and tests). */
export function hooksStatus(dir: string): { installed: boolean; hooksDir: string; chain: string | null } {
  const gitDir = git(dir, ['rev-parse', '--path-format=absolute', '--git-common-dir']);
  const hooksDir = path.join(gitDir, HOOKS_DIRNAME);
  const current = getConfig(dir, 'core.hooksPath');
  const installed =
    !!current &&
    path.resolve(current) === hooksDir &&
    HOOK_NAMES.every((n) => fs.existsSync(path.join(hooksDir, n)));
  return { installed, hooksDir, chain: getConfig(dir, 'gt.hooks.chain') || null };
}

// ---- the progress the post-commit hook records ------------------------------------------------

export interface Progress {
  bead: string;
  commit: string;
  time: string;
  worktree: string;
  branch: string;
}

export function progressFile(townRoot: string, bead: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(bead)) throw new UsageError(`invalid bead id "${bead}"`);
  return path.join(path.resolve(townRoot), '.runtime', 'progress', `${bead}.json`);
}

/** The last commit recorded for a bead, or null. */
export function readProgress(townRoot: string, bead: string): Progress | null {
  try {
    return JSON.parse(fs.readFileSync(progressFile(townRoot, bead), 'utf8')) as Progress;
  } catch {
    return null;
  }
}

/** The wake file the .repo.git hook touches for a rig's refinery. */
export function refineryWakeFile(townRoot: string, rig: string): string {
  return path.join(path.resolve(townRoot), '.runtime', 'wake', `refinery-${rig}`);
}
