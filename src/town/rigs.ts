// Rigs (spec §2.2): a project repository inside the town. `addRig` builds the shared bare
// repository, the mayor's clone, the refinery worktree, the rig's config and settings, its
// registry entry and its beads (prefix, witness, refinery, rig identity), and undoes every step
// if a later one fails. Also: list, status, remove, park (operational) and dock (ledger).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CONFIG_PATH } from '../beads/record.ts';
import { BeadStore, type BeadTx } from '../beads/store.ts';
import type { Bead } from '../beads/types.ts';
import { writeFileAtomic } from '../beads/wisps.ts';
import { ConflictError, EXIT, GtError, NotFoundError, UsageError } from '../errors.ts';
import { GitError, git } from '../git/repo.ts';
import { loadCodec } from '../ledger/codec.ts';
import { FileLock } from '../ledger/lock.ts';
import { installHooks } from '../patrol/git-hooks.ts';
import { ensureAgentBead } from './agents.ts';
import {
  commitTownFiles,
  type RigConfigJson,
  type RigEntry,
  type RigsJson,
  readJson,
  readJsonOr,
  writeJson,
} from './files.ts';
import { ensureNamepoolState } from './namepool.ts';
import { deriveBeadsPrefix, validateBeadPrefix, validateRigName } from './names.ts';
import { type RigPaths, rigPaths, townPaths } from './paths.ts';

/** Label on the rig identity bead that takes a rig offline for every clone of the town. */
export const DOCKED_LABEL = 'status:docked';

// ---- registry -------------------------------------------------------------------------------

export function loadRigs(townRoot: string): RigsJson {
  const r = readJson<RigsJson>(townPaths(townRoot).rigsJson, 'mayor/rigs.json');
  if (!r || typeof r !== 'object' || typeof r.rigs !== 'object' || r.rigs === null)
    throw new GtError('mayor/rigs.json has no "rigs" object; restore it with git or run `gt doctor --fix`');
  return r;
}

export function rigNames(townRoot: string): string[] {
  return Object.keys(loadRigs(townRoot).rigs).sort();
}

export interface RigInfo {
  name: string;
  prefix: string;
  entry: RigEntry;
  config: RigConfigJson | null;
  paths: RigPaths;
  default_branch: string;
}

function unknownRig(townRoot: string, name: string): NotFoundError {
  const names = rigNames(townRoot);
  return new NotFoundError(
    `no rig named "${name}" (rigs: ${names.join(', ') || 'none'}); add one with \`gt rig add NAME URL\``,
  );
}

/** A registered rig; NotFoundError naming the registered ones otherwise. */
export function getRig(townRoot: string, name: string): RigInfo {
  validateRigName(name);
  const rigs = loadRigs(townRoot).rigs;
  if (!Object.hasOwn(rigs, name)) throw unknownRig(townRoot, name);
  const entry = rigs[name];
  const paths = rigPaths(townRoot, name);
  const config = readJsonOr<RigConfigJson | null>(paths.configJson, `${name}/config.json`, null);
  return {
    name,
    prefix: entry.beads?.prefix ?? config?.beads?.prefix ?? deriveBeadsPrefix(name),
    entry,
    config,
    paths,
    default_branch: config?.default_branch ?? entry.default_branch ?? 'main',
  };
}

export function rigPrefix(townRoot: string, name: string): string {
  return getRig(townRoot, name).prefix;
}

/** The rig bead (type rig) that carries the rig's identity and its persistent flags. */
export function rigBeadId(prefix: string, rig: string): string {
  return `${prefix}-rig-${rig}`;
}

/**
 * The rig a command is about: the flag if given (must be registered), else the rig `cwd` is
 * in, else GT_RIG, else the only rig; otherwise a usage error listing the rigs.
 */
export function resolveRig(townRoot: string, cwd: string, flag?: string): string {
  const rigs = loadRigs(townRoot).rigs;
  if (flag) {
    if (!Object.hasOwn(rigs, flag)) throw unknownRig(townRoot, flag);
    return flag;
  }
  const rel = path.relative(path.resolve(townRoot), path.resolve(cwd));
  const here = rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel.split(path.sep)[0] : '';
  if (here && Object.hasOwn(rigs, here)) return here;
  const env = process.env.GT_RIG;
  if (env && Object.hasOwn(rigs, env)) return env;
  const names = Object.keys(rigs);
  if (names.length === 1) return names[0];
  throw new UsageError(
    names.length
      ? `which rig? give --rig (rigs: ${names.sort().join(', ')})`
      : 'this town has no rigs yet; add one with `gt rig add NAME URL`',
  );
}

// ---- git helpers ----------------------------------------------------------------------------

/** Environment for git talking to a remote: never prompt (a missing credential is an error). */
function remoteEnv(): NodeJS.ProcessEnv {
  return { ...process.env, GIT_TERMINAL_PROMPT: '0' };
}

export interface SourceInfo {
  /** What clones use: an absolute path for local repositories, else the URL as given. */
  url: string;
  local: boolean;
  default_branch: string;
  branches: string[];
}

function checkUrlText(url: string, what: string): void {
  if (!url || url.startsWith('-') || /[\0\r\n]/.test(url))
    throw new UsageError(
      `invalid ${what} ${JSON.stringify(url)}: give a git URL (https://, ssh://, file://, user@host:path) or a local path`,
    );
}

/** Resolve URL|PATH and read its branches and default branch with `git ls-remote`. */
export function probeSource(source: string, cwd: string, branch?: string): SourceInfo {
  checkUrlText(source, 'repository');
  const asPath = path.resolve(cwd, source);
  // Like git: a colon before the first slash makes it a URL (scheme:// or scp-like host:path).
  const local = !/^[^/]*:/.test(source);
  if (local && !fs.existsSync(asPath))
    throw new NotFoundError(
      `no such directory ${asPath} (from ${JSON.stringify(source)}); give the path of a git repository or a URL`,
    );
  const url = local ? asPath : source;
  const r = spawnSync('git', ['ls-remote', '--symref', url], {
    cwd,
    env: remoteEnv(),
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (r.status !== 0) {
    const why = (r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n').slice(-2).join('; ');
    const hint = local
      ? 'it is not a git repository'
      : /^[./~]/.test(source)
        ? 'no such directory'
        : 'check the URL and your access to it';
    throw new GtError(`cannot read the repository ${url}: ${why} (${hint})`, EXIT.remote);
  }
  let head: string | undefined;
  const branches: string[] = [];
  for (const line of r.stdout.split('\n')) {
    const sym = /^ref: refs\/heads\/(\S+)\tHEAD$/.exec(line);
    if (sym) head = sym[1];
    const ref = /^[0-9a-f]{40,64}\trefs\/heads\/(\S+)$/.exec(line);
    if (ref) branches.push(ref[1]);
  }
  if (branches.length === 0)
    throw new GtError(
      `the repository ${url} has no branches yet; push a first commit to it, then add the rig`,
    );
  if (branch) {
    const ok = spawnSync('git', ['check-ref-format', '--branch', branch], { encoding: 'utf8' });
    if (ok.status !== 0 || branch.startsWith('-'))
      throw new UsageError(`invalid branch name ${JSON.stringify(branch)}`);
    if (!branches.includes(branch))
      throw new GtError(
        `branch "${branch}" does not exist in ${url} (branches: ${branches.slice(0, 10).join(', ')}${branches.length > 10 ? ', ...' : ''}); push it first or choose another with --branch`,
        EXIT.notFound,
      );
  }
  const defaultBranch =
    branch ??
    (head && branches.includes(head)
      ? head
      : (['main', 'master'].find((b) => branches.includes(b)) ?? branches[0]));
  return { url, local, default_branch: defaultBranch, branches };
}

/** Uncommitted and unpushed work in a clone or worktree. */
export interface WorkState {
  path: string;
  branch: string | null;
  /** `git status --porcelain` lines (untracked files count: they are work too). */
  uncommitted: string[];
  /** Commits on local branches that no remote-tracking branch contains. */
  unpushed: number;
  stashes: number;
}

export function workState(dir: string): WorkState {
  const status = git(dir, ['status', '--porcelain']).split('\n').filter(Boolean);
  const branch = git(dir, ['symbolic-ref', '-q', '--short', 'HEAD'], { okCodes: [1] }).trim() || null;
  const unpushed = Number(git(dir, ['rev-list', '--count', '--branches', '--not', '--remotes']).trim()) || 0;
  const stashes = git(dir, ['stash', 'list']).split('\n').filter(Boolean).length;
  return { path: dir, branch, uncommitted: status, unpushed, stashes };
}

export function hasWork(s: WorkState, unpushedToo = true): boolean {
  return s.uncommitted.length > 0 || s.stashes > 0 || (unpushedToo && s.unpushed > 0);
}

export function describeWork(s: WorkState): string {
  const parts: string[] = [];
  if (s.uncommitted.length) parts.push(`${s.uncommitted.length} uncommitted change(s)`);
  if (s.unpushed) parts.push(`${s.unpushed} unpushed commit(s)`);
  if (s.stashes) parts.push(`${s.stashes} stash(es)`);
  return parts.join(', ') || 'clean';
}

// ---- rollback ---------------------------------------------------------------------------------

/** Undo steps run in reverse order when a multi-step operation fails. */
class Undo {
  private steps: { what: string; fn: () => void }[] = [];
  push(what: string, fn: () => void): void {
    this.steps.push({ what, fn });
  }
  run(): string[] {
    const problems: string[] = [];
    for (const s of this.steps.reverse()) {
      try {
        s.fn();
      } catch (e: any) {
        problems.push(`${s.what}: ${e?.message ?? e}`);
      }
    }
    this.steps = [];
    return problems;
  }
}

/**
 * Test hook: GT_FAULT_INJECT=<op>:<step> makes that step fail, and <op>:pause-<step> waits
 * there in a child process (so an interrupt can be delivered mid-operation).
 */
export function fault(op: string, step: string): void {
  const spec = process.env.GT_FAULT_INJECT?.split(',');
  if (!spec) return;
  if (spec.includes(`${op}:${step}`)) throw new GtError(`injected fault at ${op}:${step} (GT_FAULT_INJECT)`);
  if (spec.includes(`${op}:pause-${step}`)) {
    const r = spawnSync('sleep', ['10'], { stdio: 'ignore' });
    if (r.signal) throw new GtError(`interrupted (${r.signal})`, 130);
  }
}

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * While a multi-step operation runs, a signal must not kill the process between two steps: it
 * either stops the git child that is running (Ctrl-C reaches the whole process group), which
 * fails that step and rolls everything back, or it waits until the operation is complete.
 * Returns the function that ends the guard.
 */
export function guardSignals(): () => void {
  const ignore = () => {};
  for (const s of SIGNALS) process.on(s, ignore);
  return () => {
    for (const s of SIGNALS) process.off(s, ignore);
  };
}

/** A git child killed by a signal means the user interrupted us. */
export function interrupted(e: unknown): boolean {
  return e instanceof GitError && e.status === null;
}

function townHead(townRoot: string): string | null {
  const r = spawnSync('git', ['rev-parse', '-q', '--verify', 'HEAD'], { cwd: townRoot, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/**
 * Take back a commit made by commitTownFiles: move the branch back when nothing was committed
 * on top (compare-and-swap on the ref), else commit the restored files.
 */
function undoTownCommit(
  townRoot: string,
  before: string | null,
  after: string,
  files: string[],
  restore: () => void,
): void {
  restore();
  if (before && townHead(townRoot) === after) {
    git(townRoot, ['update-ref', '-m', 'gt: roll back a failed rig operation', 'HEAD', before, after]);
    git(townRoot, ['reset', '-q', '--', ...files]);
  } else {
    commitTownFiles(townRoot, files, 'gt: roll back a failed rig operation');
  }
}

function rigsLock(townRoot: string): FileLock {
  return new FileLock(path.join(townPaths(townRoot).runtimeDir, 'locks', 'rigs.lock'));
}

// ---- rig add ----------------------------------------------------------------------------------

export interface AddRigOptions {
  prefix?: string;
  branch?: string;
  pushUrl?: string;
  actor?: string;
  /** Where relative paths are resolved (default: process.cwd()). */
  cwd?: string;
}

export interface AddRigResult {
  name: string;
  prefix: string;
  git_url: string;
  push_url?: string;
  default_branch: string;
  head: string;
  paths: { dir: string; repo_git: string; mayor_rig: string; refinery_rig: string };
  agent_beads: string[];
  rig_bead: string;
  theme: string;
}

/** Refuse a prefix that another rig (or the town) uses, naming it and the fix. */
export function checkPrefix(townRoot: string, name: string, prefix: string, given: boolean): void {
  try {
    validateBeadPrefix(prefix);
  } catch (e: any) {
    if (given) throw e;
    throw new UsageError(
      `the prefix derived from "${name}" (${JSON.stringify(prefix)}) is not usable: ${e.message}; choose one with --prefix`,
    );
  }
  for (const [other, entry] of Object.entries(loadRigs(townRoot).rigs)) {
    if (other !== name && entry.beads?.prefix === prefix)
      throw new ConflictError(
        `the prefix "${prefix}" is already used by rig "${other}"; choose another with --prefix (e.g. --prefix ${suggestPrefix(townRoot, name, prefix)})`,
      );
  }
}

function suggestPrefix(townRoot: string, name: string, taken: string): string {
  const used = new Set(['hq', ...Object.values(loadRigs(townRoot).rigs).map((e) => e.beads?.prefix)]);
  const base = name.toLowerCase().replace(/[^a-z0-9]/g, '');
  for (const cand of [base.slice(0, 3), base.slice(0, 4), `${taken}2`, `${taken}3`, `${taken}x`]) {
    if (/^[a-z][a-z0-9]{0,9}$/.test(cand) && !used.has(cand)) return cand;
  }
  return `${taken}${Date.now() % 100}`;
}

function addPrefix(tx: BeadTx, prefix: string): void {
  const cfg = { ...((tx.ltx.get(CONFIG_PATH) as Record<string, string> | undefined) ?? {}) };
  const list = (cfg.allowed_prefixes ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (list.includes(prefix)) return;
  cfg.allowed_prefixes = [...list, prefix].join(',');
  tx.ltx.put(CONFIG_PATH, cfg);
  tx.note(`allow prefix ${prefix}`);
}

function ensureRigBead(tx: BeadTx, name: string, prefix: string, meta: Record<string, unknown>): Bead {
  const id = rigBeadId(prefix, name);
  const existing = tx.get(id);
  if (existing) {
    existing.metadata = { ...(existing.metadata ?? {}), ...meta };
    if (existing.status === 'closed') {
      existing.status = 'open';
      existing.closed_at = undefined;
      existing.close_reason = undefined;
    }
    existing.updated_at = tx.now;
    tx.put(existing);
    return existing;
  }
  const bead: Bead = {
    id,
    title: `rig ${name}`,
    description: `Identity of the rig ${name}: its persistent flags (labels such as ${DOCKED_LABEL}).`,
    status: 'open',
    priority: 2,
    issue_type: 'rig',
    created_at: tx.now,
    created_by: tx.actor,
    updated_at: tx.now,
    labels: ['gt:rig', `rig:${name}`],
    metadata: { rig: name, prefix, ...meta },
    dependencies: [],
  };
  tx.put(bead);
  tx.note(`rig ${id}`);
  return bead;
}

/**
 * `gt rig add NAME URL|PATH`: every step of spec §2.2 that applies without Dolt, rolled back
 * completely (directories, rigs.json, town commit; the ledger commit is the last step) on failure.
 */
export async function addRig(
  townRoot: string,
  name: string,
  source: string,
  opts: AddRigOptions = {},
): Promise<AddRigResult> {
  validateRigName(name);
  const t = townPaths(townRoot);
  const p = rigPaths(townRoot, name);
  const prefix = opts.prefix ?? deriveBeadsPrefix(name);
  if (opts.pushUrl !== undefined) checkUrlText(opts.pushUrl, '--push-url');
  await loadCodec();
  const store = BeadStore.open(townRoot, { actor: opts.actor });

  const lock = rigsLock(townRoot);
  lock.acquire();
  const undo = new Undo();
  const unguard = guardSignals();
  try {
    const before = loadRigs(townRoot);
    if (Object.hasOwn(before.rigs, name))
      throw new ConflictError(`a rig named "${name}" already exists (gt rig status ${name})`);
    checkPrefix(townRoot, name, prefix, opts.prefix !== undefined);
    if (fs.existsSync(p.dir))
      throw new ConflictError(
        `${p.dir} already exists (files of a removed rig?); delete it, or choose another rig name`,
      );
    const src = probeSource(source, opts.cwd ?? process.cwd(), opts.branch);
    const branch = src.default_branch;
    const rigsJsonBefore = fs.readFileSync(t.rigsJson);

    // 1. The rig directory: removing it undoes every file step below.
    fs.mkdirSync(p.dir);
    undo.push('remove the rig directory', () => fs.rmSync(p.dir, { recursive: true, force: true }));

    // 2. The shared bare repository.
    fault('rig-add', 'clone');
    git(townRoot, ['clone', '-q', '--bare', '--', src.url, p.repoGit], { env: remoteEnv() });
    git(p.repoGit, ['config', 'remote.origin.fetch', '+refs/heads/*:refs/remotes/origin/*']);
    git(p.repoGit, ['fetch', '-q', 'origin'], { env: remoteEnv() });
    if (opts.pushUrl) git(p.repoGit, ['remote', 'set-url', '--push', 'origin', opts.pushUrl]);
    const head = git(p.repoGit, ['rev-parse', '--verify', '-q', `refs/heads/${branch}^{commit}`], {
      okCodes: [1],
    }).trim();
    if (!head)
      throw new GtError(`the clone of ${src.url} has no branch ${branch}; check the repository's HEAD`);

    // 3. The mayor's clone, sharing objects with the bare repository.
    fault('rig-add', 'mayor');
    git(townRoot, ['clone', '-q', '--reference', p.repoGit, '--branch', branch, '--', src.url, p.mayorRig], {
      env: remoteEnv(),
    });
    if (opts.pushUrl) git(p.mayorRig, ['remote', 'set-url', '--push', 'origin', opts.pushUrl]);

    // 4. The refinery's worktree on the default branch (polecats get their own branches).
    fault('rig-add', 'refinery');
    fs.mkdirSync(p.refineryDir, { recursive: true });
    git(p.repoGit, ['worktree', 'add', '-q', p.refineryRig, branch]);

    // 5. Agent homes and the operational plane.
    for (const d of [p.crewDir, p.witnessDir, p.polecatsDir, p.runtimeDir])
      fs.mkdirSync(d, { recursive: true });
    // gt's git hooks on the shared repository (the refinery's and polecats' worktrees share them).
    installHooks(p.repoGit, { townRoot, defaultBranch: branch, wakeRig: name });

    // 6. Configuration: rig identity, rig settings, registry entry.
    fault('rig-add', 'files');
    const now = new Date().toISOString();
    const config: RigConfigJson = {
      type: 'rig',
      version: 1,
      name,
      git_url: src.url,
      ...(opts.pushUrl ? { push_url: opts.pushUrl } : {}),
      created_at: now,
      beads: { prefix },
      default_branch: branch,
    };
    writeJson(p.configJson, config);
    writeJson(p.settingsJson, { type: 'rig-settings', version: 1 });
    const rigs = loadRigs(townRoot);
    rigs.rigs[name] = {
      git_url: src.url,
      ...(opts.pushUrl ? { push_url: opts.pushUrl } : {}),
      added_at: now,
      beads: { prefix },
      default_branch: branch,
    };
    writeJson(t.rigsJson, rigs);
    const restoreRigs = () => writeFileAtomic(t.rigsJson, rigsJsonBefore.toString('utf8'));
    undo.push('restore mayor/rigs.json', restoreRigs);
    const restoreFiles = () => {
      restoreRigs();
      fs.rmSync(p.configJson, { force: true });
      fs.rmSync(p.settingsJson, { force: true });
    };

    // 7. The polecat name pool picks its theme now, so later rigs avoid it.
    const theme = ensureNamepoolState(townRoot, name).theme;

    // 8. Commit the town files.
    fault('rig-add', 'commit');
    const files = [p.configJson, p.settingsJson, t.rigsJson].map((f) => path.relative(townRoot, f));
    const headBefore = townHead(townRoot);
    commitTownFiles(townRoot, files, `gt rig add ${name} (prefix ${prefix})`, opts.actor);
    const headAfter = townHead(townRoot)!;
    undo.push('take back the town commit', () =>
      undoTownCommit(townRoot, headBefore, headAfter, files, restoreFiles),
    );

    // 9. The ledger, last and in one commit: prefix, agent beads, rig identity bead.
    const beads = store.transact(`rig add: ${name} (prefix ${prefix})`, (tx) => {
      fault('rig-add', 'ledger');
      addPrefix(tx, prefix);
      const w = ensureAgentBead(tx, { role: 'witness', rig: name }, prefix);
      const r = ensureAgentBead(tx, { role: 'refinery', rig: name }, prefix);
      const rb = ensureRigBead(tx, name, prefix, { git_url: src.url, default_branch: branch });
      return { agents: [w.id, r.id], rig: rb.id };
    });
    return {
      name,
      prefix,
      git_url: src.url,
      ...(opts.pushUrl ? { push_url: opts.pushUrl } : {}),
      default_branch: branch,
      head,
      paths: { dir: p.dir, repo_git: p.repoGit, mayor_rig: p.mayorRig, refinery_rig: p.refineryRig },
      agent_beads: beads.agents,
      rig_bead: beads.rig,
      theme,
    };
  } catch (e: any) {
    const problems = undo.run();
    if (problems.length && e instanceof Error)
      e.message += `\n(the rollback was incomplete: ${problems.join('; ')}; run \`gt doctor --fix\`)`;
    if (interrupted(e)) throw new GtError(`gt rig add ${name} was interrupted; nothing was added`, 130);
    if (e instanceof GitError) throw new GtError(`gt rig add ${name}: ${e.message}`);
    throw e;
  } finally {
    unguard();
    lock.release();
    store.flush();
  }
}

// ---- park (operational) and dock (ledger) -------------------------------------------------------

export interface ParkInfo {
  parked_at: string;
  by: string;
}

function parkFile(townRoot: string, rig: string): string {
  return path.join(rigPaths(townRoot, rig).runtimeDir, 'parked.json');
}

export function parkInfo(townRoot: string, rig: string): ParkInfo | null {
  return readJsonOr<ParkInfo | null>(parkFile(townRoot, rig), `${rig}/.runtime/parked.json`, null);
}

export function isParked(townRoot: string, rig: string): boolean {
  return parkInfo(townRoot, rig) !== null;
}

/** Park a rig on this machine: its agents are not restarted automatically. Not committed. */
export function parkRig(
  townRoot: string,
  rig: string,
  by = 'overseer',
): { changed: boolean; info: ParkInfo } {
  getRig(townRoot, rig);
  const existing = parkInfo(townRoot, rig);
  if (existing) return { changed: false, info: existing };
  const info = { parked_at: new Date().toISOString(), by };
  writeJson(parkFile(townRoot, rig), info);
  return { changed: true, info };
}

export function unparkRig(townRoot: string, rig: string): { changed: boolean } {
  getRig(townRoot, rig);
  const file = parkFile(townRoot, rig);
  if (!fs.existsSync(file)) return { changed: false };
  fs.rmSync(file, { force: true });
  return { changed: true };
}

/** Whether the rig identity bead carries status:docked (reads the index; codec must be loaded). */
export function isDocked(store: BeadStore, prefix: string, rig: string): boolean {
  return !!store.summary(rigBeadId(prefix, rig))?.labels?.includes(DOCKED_LABEL);
}

/** Dock or undock a rig: the status:docked label on its identity bead, one ledger commit. */
export async function setDocked(
  townRoot: string,
  rig: string,
  docked: boolean,
  actor?: string,
): Promise<{ changed: boolean; bead: string }> {
  const info = getRig(townRoot, rig);
  await loadCodec();
  const store = BeadStore.open(townRoot, { actor });
  try {
    const id = rigBeadId(info.prefix, rig);
    if (isDocked(store, info.prefix, rig) === docked && store.summary(id))
      return { changed: false, bead: id };
    store.transact(`rig ${docked ? 'dock' : 'undock'}: ${rig}`, (tx) => {
      const b = ensureRigBead(tx, rig, info.prefix, {});
      const labels = new Set(b.labels ?? []);
      if (docked) labels.add(DOCKED_LABEL);
      else labels.delete(DOCKED_LABEL);
      b.labels = [...labels].sort();
      b.updated_at = tx.now;
      tx.put(b);
      tx.note(`${docked ? 'dock' : 'undock'} rig ${rig}`);
    });
    return { changed: true, bead: id };
  } finally {
    store.flush();
  }
}

// ---- list and status ----------------------------------------------------------------------------

export interface RigSummary {
  name: string;
  prefix: string;
  git_url: string;
  default_branch: string;
  added_at: string;
  parked: boolean;
  docked: boolean;
}

export async function listRigs(townRoot: string): Promise<RigSummary[]> {
  const rigs = loadRigs(townRoot).rigs;
  const names = Object.keys(rigs).sort();
  let store: BeadStore | null = null;
  if (names.length) {
    await loadCodec();
    store = BeadStore.open(townRoot);
  }
  return names.map((name) => {
    const info = getRig(townRoot, name);
    return {
      name,
      prefix: info.prefix,
      git_url: info.entry.git_url,
      default_branch: info.default_branch,
      added_at: info.entry.added_at,
      parked: isParked(townRoot, name),
      docked: store ? isDocked(store, info.prefix, name) : false,
    };
  });
}

export interface WorktreeInfo {
  path: string;
  head: string | null;
  branch: string | null;
}

function listWorktrees(repoGit: string): WorktreeInfo[] {
  const out: WorktreeInfo[] = [];
  let cur: (WorktreeInfo & { bare?: boolean }) | null = null;
  for (const line of git(repoGit, ['worktree', 'list', '--porcelain']).split('\n')) {
    if (line.startsWith('worktree ')) {
      if (cur && !cur.bare) out.push(cur);
      cur = { path: line.slice('worktree '.length), head: null, branch: null };
    } else if (cur && line.startsWith('HEAD ')) cur.head = line.slice(5);
    else if (cur && line.startsWith('branch ')) cur.branch = line.slice(7).replace(/^refs\/heads\//, '');
    else if (cur && line === 'bare') cur.bare = true;
  }
  if (cur && !cur.bare) out.push(cur);
  return out;
}

/** Visible subdirectories of a folder, sorted (none when it does not exist). */
export function subdirs(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}

export interface RigStatus {
  name: string;
  prefix: string;
  git_url: string;
  push_url?: string;
  default_branch: string;
  /** Tip of the default branch in the shared bare repository. */
  head: string | null;
  paths: {
    dir: string;
    repo_git: string;
    mayor_rig: string;
    refinery_rig: string;
    witness: string;
    crew: string;
    polecats: string;
    settings: string;
  };
  /** Paths that should exist and do not (`gt doctor` repairs them). */
  missing: string[];
  worktrees: WorktreeInfo[];
  polecats: string[];
  crew: string[];
  parked: ParkInfo | null;
  docked: boolean;
  rig_bead: string;
}

export async function rigStatus(townRoot: string, rig: string): Promise<RigStatus> {
  const info = getRig(townRoot, rig);
  const p = info.paths;
  await loadCodec();
  const store = BeadStore.open(townRoot);
  const paths = {
    dir: p.dir,
    repo_git: p.repoGit,
    mayor_rig: p.mayorRig,
    refinery_rig: p.refineryRig,
    witness: p.witnessDir,
    crew: p.crewDir,
    polecats: p.polecatsDir,
    settings: p.settingsJson,
  };
  const missing = Object.values(paths).filter((x) => !fs.existsSync(x));
  let head: string | null = null;
  let worktrees: WorktreeInfo[] = [];
  if (fs.existsSync(p.repoGit)) {
    head =
      git(p.repoGit, ['rev-parse', '--verify', '-q', `refs/heads/${info.default_branch}^{commit}`], {
        okCodes: [1],
      }).trim() || null;
    worktrees = listWorktrees(p.repoGit);
  }
  return {
    name: rig,
    prefix: info.prefix,
    git_url: info.entry.git_url,
    ...(info.entry.push_url ? { push_url: info.entry.push_url } : {}),
    default_branch: info.default_branch,
    head,
    paths,
    missing,
    worktrees,
    polecats: subdirs(p.polecatsDir),
    crew: subdirs(p.crewDir),
    parked: parkInfo(townRoot, rig),
    docked: isDocked(store, info.prefix, rig),
    rig_bead: rigBeadId(info.prefix, rig),
  };
}

// ---- rig remove -----------------------------------------------------------------------------------

export interface RemoveRigOptions {
  force?: boolean;
  /** Also delete the rig's directory (clones, worktrees, bare repository) and its committed files. */
  purge?: boolean;
  actor?: string;
}

export interface RemoveRigResult {
  name: string;
  purged: boolean;
  kept: string | null;
  dirty: WorkState[];
}

/** The polecats' working copies: `polecats/<name>/<rig>/` (or `polecats/<name>/` itself). */
function polecatClones(townRoot: string, rig: string): string[] {
  const p = rigPaths(townRoot, rig);
  const out: string[] = [];
  for (const n of subdirs(p.polecatsDir)) {
    for (const d of [path.join(p.polecatsDir, n, rig), path.join(p.polecatsDir, n)]) {
      if (fs.existsSync(path.join(d, '.git'))) {
        out.push(d);
        break;
      }
    }
  }
  return out;
}

function crewClones(townRoot: string, rig: string): string[] {
  const dir = rigPaths(townRoot, rig).crewDir;
  return subdirs(dir)
    .map((n) => path.join(dir, n))
    .filter((d) => fs.existsSync(path.join(d, '.git')));
}

/**
 * Unregister a rig. By default its files stay where they are (spec: "files kept"); `purge`
 * deletes the rig directory and its committed config too. Refused while polecats (and, for a
 * purge, crew) have work that is not committed (or not pushed), unless `force`.
 */
export async function removeRig(
  townRoot: string,
  rig: string,
  opts: RemoveRigOptions = {},
): Promise<RemoveRigResult> {
  const info = getRig(townRoot, rig);
  const t = townPaths(townRoot);
  const p = info.paths;
  const dirty: WorkState[] = [];
  for (const d of polecatClones(townRoot, rig)) {
    const s = workState(d);
    if (hasWork(s, false)) dirty.push(s);
  }
  if (opts.purge) {
    for (const d of crewClones(townRoot, rig)) {
      const s = workState(d);
      if (hasWork(s)) dirty.push(s);
    }
  }
  if (dirty.length && !opts.force) {
    throw new ConflictError(
      `rig ${rig} has work that would be ${opts.purge ? 'lost' : 'orphaned'}: ${dirty
        .map((s) => `${path.relative(townRoot, s.path)} (${describeWork(s)})`)
        .join('; ')}; commit and push it (or \`gt polecat nuke\`), or use --force`,
    );
  }
  await loadCodec();
  const store = BeadStore.open(townRoot, { actor: opts.actor });
  const lock = rigsLock(townRoot);
  lock.acquire();
  const undo = new Undo();
  try {
    const rigsText = fs.readFileSync(t.rigsJson, 'utf8');
    const rigs = loadRigs(townRoot);
    delete rigs.rigs[rig];
    writeJson(t.rigsJson, rigs);
    const restore = () => writeFileAtomic(t.rigsJson, rigsText);
    undo.push('restore mayor/rigs.json', restore);
    const files = [path.relative(townRoot, t.rigsJson)];
    let trash: string | null = null;
    if (opts.purge) {
      // Move the rig aside (one rename, undone by renaming it back) so the commit records the
      // deletion of its tracked files; the moved copy is deleted once everything else is done.
      const tracked = git(townRoot, ['ls-files', '-z', '--', path.relative(townRoot, p.dir)])
        .split('\0')
        .filter(Boolean);
      files.push(...tracked);
      const moved = path.join(t.runtimeDir, 'trash', `${rig}-${process.pid}-${Date.now()}`);
      if (fs.existsSync(p.dir)) {
        fs.mkdirSync(path.dirname(moved), { recursive: true });
        fs.renameSync(p.dir, moved);
        trash = moved;
      }
      undo.push('move the rig back', () => {
        if (fs.existsSync(moved)) fs.renameSync(moved, p.dir);
      });
    }
    fault('rig-remove', 'commit');
    const headBefore = townHead(townRoot);
    commitTownFiles(
      townRoot,
      files,
      `gt rig remove ${rig}${opts.purge ? ' --purge' : ''}${opts.force ? ' --force' : ''}`,
      opts.actor,
    );
    const headAfter = townHead(townRoot)!;
    undo.push('take back the town commit', () =>
      undoTownCommit(townRoot, headBefore, headAfter, files, () => {
        restore();
        if (trash && fs.existsSync(trash)) fs.renameSync(trash, p.dir);
      }),
    );
    store.transact(`rig remove: ${rig}`, (tx) => {
      fault('rig-remove', 'ledger');
      const id = rigBeadId(info.prefix, rig);
      const b = tx.get(id);
      if (b && b.status !== 'closed') {
        b.status = 'closed';
        b.closed_at = tx.now;
        b.close_reason = opts.purge ? 'rig removed and purged' : 'rig removed (files kept)';
        b.updated_at = tx.now;
        tx.put(b);
        tx.note(`close ${id}: rig removed`);
      }
    });
    if (trash) fs.rmSync(trash, { recursive: true, force: true });
    return { name: rig, purged: !!opts.purge, kept: opts.purge ? null : p.dir, dirty };
  } catch (e: any) {
    const problems = undo.run();
    if (problems.length && e instanceof Error)
      e.message += `\n(the rollback was incomplete: ${problems.join('; ')})`;
    throw e;
  } finally {
    lock.release();
    store.flush();
  }
}
