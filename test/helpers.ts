// Shared test helpers: throwaway git repositories with an isolated environment, and a
// runner for the built CLIs (tests exercise the real bundle, as users do).
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
export const BD = path.join(ROOT, 'dist', 'bd.mjs');
export const GT = path.join(ROOT, 'dist', 'gt.mjs');

const tmpRoots: string[] = [];
process.on('exit', () => {
  if (process.env.KEEP_TMP) return;
  for (const d of tmpRoots) fs.rmSync(d, { recursive: true, force: true });
});

/** Environment for child processes: own HOME, no system git config, fixed identity, no gc. */
export function testEnv(home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: home,
    USER: 'tester',
    LANG: 'C.UTF-8',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 'Tester',
    GIT_AUTHOR_EMAIL: 'tester@example.com',
    GIT_COMMITTER_NAME: 'Tester',
    GIT_COMMITTER_EMAIL: 'tester@example.com',
    NO_COLOR: '1',
    ...extra,
  };
  return env;
}

export function tmpDir(prefix = 'gt-test-'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpRoots.push(d);
  return d;
}

export interface TmpRepo {
  dir: string;
  home: string;
  env: NodeJS.ProcessEnv;
  git(...args: string[]): string;
}

/** A fresh git repository (not yet `bd init`ed) with its own HOME and gc disabled. */
export function tmpRepo(): TmpRepo {
  const base = tmpDir();
  const home = path.join(base, 'home');
  const dir = path.join(base, 'repo');
  fs.mkdirSync(home);
  fs.mkdirSync(dir);
  const env = testEnv(home);
  const git = (...args: string[]) => {
    const r = spawnSync('git', args, { cwd: dir, env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  git('init', '-q', '-b', 'main');
  git('config', 'gc.auto', '0');
  git('config', 'maintenance.auto', 'false');
  return { dir, home, env, git };
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  json(): any;
}

export function run(
  bin: string,
  args: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; input?: string },
): RunResult {
  const r: SpawnSyncReturns<string> = spawnSync(process.execPath, [bin, ...args], {
    cwd: opts.cwd,
    env: opts.env,
    input: opts.input,
    encoding: 'utf8',
  });
  return {
    code: r.status ?? -1,
    stdout: r.stdout,
    stderr: r.stderr,
    json() {
      try {
        return JSON.parse(r.stdout);
      } catch {
        throw new Error(`not JSON (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
      }
    },
  };
}

/** A repo with `bd init --prefix bd` done, and a `bd` runner bound to it. */
export function bdRepo(prefix = 'bd') {
  const repo = tmpRepo();
  const bd = (...args: string[]) => run(BD, args, { cwd: repo.dir, env: repo.env });
  const r = bd('init', '--prefix', prefix);
  if (r.code !== 0) throw new Error(`bd init failed: ${r.stderr}`);
  /** Run bd and require success; returns parsed JSON when --json is among the args. */
  const ok = (...args: string[]) => {
    const res = bd(...args);
    if (res.code !== 0)
      throw new Error(`bd ${args.join(' ')} exited ${res.code}: ${res.stderr}${res.stdout}`);
    return args.includes('--json') ? res.json() : res.stdout;
  };
  return { ...repo, bd, ok };
}

export type BdRepo = ReturnType<typeof bdRepo>;

/** Number of commits on a repo's ledger ref (every bd write is exactly one). */
export function ledgerCommits(r: { git(...a: string[]): string }, ref = 'refs/beads/ledger'): number {
  return Number(r.git('rev-list', '--count', ref).trim());
}

/** `bd q`: create and return the new id. */
export function quick(r: BdRepo, ...args: string[]): string {
  return (r.ok('q', ...args) as string).trim();
}

/** Run a command that must fail with `code` (and `msg`) and must not commit anything. */
export function refused(r: BdRepo, code: number, args: string[], msg?: RegExp): RunResult {
  const before = ledgerCommits(r);
  const res = r.bd(...args);
  if (res.code !== code)
    throw new Error(`bd ${args.join(' ')} → ${res.code}, expected ${code}\n${res.stderr}${res.stdout}`);
  if (msg && !msg.test(res.stderr))
    throw new Error(`bd ${args.join(' ')}: stderr does not match ${msg}\n${res.stderr}`);
  if (ledgerCommits(r) !== before) throw new Error(`bd ${args.join(' ')} must not commit`);
  return res;
}
