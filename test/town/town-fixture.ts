// Shared set-up for the town tests: a source repository with commits, a town installed next to
// it, `gt`/`bd`/`git` runners bound to the town, and a snapshot of everything a failed
// command must leave unchanged.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BD, GT, ROOT, type RunResult, run, tmpRepo } from '../helpers.ts';

export interface Town {
  base: string;
  root: string;
  src: string;
  env: NodeJS.ProcessEnv;
  gt(...args: string[]): RunResult;
  /** gt that must succeed; parsed JSON when --json is given. */
  ok(...args: string[]): any;
  bd(...args: string[]): RunResult;
  git(cwd: string, ...args: string[]): string;
}

export function gitIn(cwd: string, env: NodeJS.ProcessEnv, ...args: string[]): string {
  const r = spawnSync('git', args, { cwd, env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')} in ${cwd}: ${r.stderr}`);
  return r.stdout;
}

/** A source repository (default branch `branch`) with one commit, and a town beside it. */
export function makeTown(opts: { branch?: string; extraEnv?: NodeJS.ProcessEnv } = {}): Town {
  const src = tmpRepo();
  if (opts.branch && opts.branch !== 'main') src.git('symbolic-ref', 'HEAD', `refs/heads/${opts.branch}`);
  fs.writeFileSync(path.join(src.dir, 'README.md'), '# project\n');
  src.git('add', 'README.md');
  src.git('commit', '-q', '-m', 'first commit');
  const base = path.dirname(src.dir);
  const root = path.join(base, 'town');
  const env = { ...src.env, ...opts.extraEnv };
  const gt = (...args: string[]) => run(GT, args, { cwd: root, env });
  const inst = run(GT, ['install', root], { cwd: base, env });
  if (inst.code !== 0) throw new Error(`gt install failed: ${inst.stderr}`);
  gitIn(root, env, 'config', 'gc.auto', '0');
  return {
    base,
    root,
    src: src.dir,
    env,
    gt,
    ok(...args: string[]) {
      const r = gt(...args);
      if (r.code !== 0) throw new Error(`gt ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
      return args.includes('--json') ? r.json() : r.stdout;
    },
    bd: (...args: string[]) => run(BD, args, { cwd: root, env }),
    git: (cwd: string, ...args: string[]) => gitIn(cwd, env, ...args),
  };
}

function listing(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (p === '.git' || p === '.runtime') continue;
    if (e.isDirectory()) out.push(`${p}/`, ...listing(dir, p));
    else out.push(`${p} ${fs.readFileSync(path.join(dir, p)).length}`);
  }
  return out.sort();
}

/** Files (with sizes), the town's branch, index and ledger: what a refused command must not touch. */
export function snapshot(t: Town): string {
  const head = t.git(t.root, 'rev-parse', 'HEAD').trim();
  const ledger = t.git(t.root, 'rev-parse', 'refs/gt/ledger').trim();
  const status = t.git(t.root, 'status', '--porcelain', '--untracked-files=all');
  const worktrees = fs.existsSync(path.join(t.root, '.git', 'worktrees'))
    ? fs.readdirSync(path.join(t.root, '.git', 'worktrees')).join(',')
    : '';
  return JSON.stringify({ files: listing(t.root), head, ledger, status, worktrees }, null, 1);
}

export function ledgerCount(t: Town): number {
  return Number(t.git(t.root, 'rev-list', '--count', 'refs/gt/ledger').trim());
}

export function townCommits(t: Town): number {
  return Number(t.git(t.root, 'rev-list', '--count', 'HEAD').trim());
}

/** `bd create TITLE` run in `dir` (a rig's directory gives the rig's prefix); the new bead's id. */
export function createBeadIn(t: Town, dir: string, title: string): string {
  const r = run(BD, ['create', title, '--json'], { cwd: dir, env: t.env });
  if (r.code !== 0) throw new Error(`bd create ${title}: ${r.stderr}`);
  const j = r.json();
  return (Array.isArray(j) ? j[0] : j).id as string;
}

/** `bd show ID --json` as one record. */
export function showBead(t: Town, id: string): any {
  const j = t.bd('show', id, '--json').json();
  return Array.isArray(j) ? j[0] : j;
}

/**
 * The fake agent CLI (test/runtime/fixtures/fake-agent.mjs) as the town's agent preset `fake`,
 * logging under `<base>/agent-logs`, a 15 s start timeout, and `extra` top-level settings.
 */
export function useFakeAgent(t: Town, extra: Record<string, unknown> = {}): string {
  const logs = path.join(t.base, 'agent-logs');
  fs.mkdirSync(logs, { recursive: true });
  const file = path.join(t.root, 'settings', 'config.json');
  const settings = JSON.parse(fs.readFileSync(file, 'utf8'));
  settings.agents = {
    fake: {
      command: process.execPath,
      args: [path.join(ROOT, 'test', 'runtime', 'fixtures', 'fake-agent.mjs')],
      env: { FAKE_AGENT_DIR: logs },
      process_names: ['node'],
      ready_prompt_prefix: '❯ ',
    },
  };
  settings.operational = { session: { start_timeout: '15s' } };
  Object.assign(settings, extra);
  fs.writeFileSync(file, `${JSON.stringify(settings, null, 2)}\n`);
  return logs;
}
