// Locating a git repository and running native git. Every git call takes an
// argument array (never a shell string) so data can never be interpreted by a shell.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export class GitError extends Error {
  constructor(
    message: string,
    readonly args: string[],
    readonly stderr: string,
    readonly status: number | null,
  ) {
    super(message);
  }
}

export interface Repo {
  /** Directory holding the working tree (the folder with `.git`), or the git dir of a bare repo. */
  workTree: string;
  /** The per-worktree git dir (`.git` or `.git/worktrees/<name>`). */
  gitDir: string;
  /** The shared git dir: objects and refs live here. */
  commonDir: string;
}

/** Walk up from `start` to the nearest git repository, reading `.git` files and `commondir` as git does. */
export function findRepo(start: string): Repo | null {
  let dir = path.resolve(start);
  for (;;) {
    const dotGit = path.join(dir, '.git');
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(dotGit);
    } catch {
      st = undefined;
    }
    if (st) {
      let gitDir = dotGit;
      if (st.isFile()) {
        const m = /^gitdir:\s*(.+)$/m.exec(fs.readFileSync(dotGit, 'utf8'));
        if (!m) return null;
        gitDir = path.resolve(dir, m[1].trim());
      }
      return { workTree: dir, gitDir, commonDir: resolveCommonDir(gitDir) };
    }
    if (isBareGitDir(dir)) return { workTree: dir, gitDir: dir, commonDir: resolveCommonDir(dir) };
    const parent = path.dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

function isBareGitDir(dir: string): boolean {
  return (
    fs.existsSync(path.join(dir, 'HEAD')) &&
    fs.existsSync(path.join(dir, 'objects')) &&
    fs.existsSync(path.join(dir, 'refs'))
  );
}

function resolveCommonDir(gitDir: string): string {
  try {
    const rel = fs.readFileSync(path.join(gitDir, 'commondir'), 'utf8').trim();
    return path.resolve(gitDir, rel);
  } catch {
    return gitDir;
  }
}

export interface GitRunOptions {
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  /** Return stdout as a Buffer instead of a string. */
  raw?: boolean;
  /** Exit codes that are not errors (e.g. 1 for `git config --get`). */
  okCodes?: number[];
}

/** Run git synchronously with an argument array; throws GitError on failure. */
export function git(cwd: string, args: string[], opts: GitRunOptions & { raw: true }): Buffer;
export function git(cwd: string, args: string[], opts?: GitRunOptions): string;
export function git(cwd: string, args: string[], opts: GitRunOptions = {}): string | Buffer {
  const res = spawnSync('git', args, {
    cwd,
    // spawnSync encodes a string input with `encoding`, and 'buffer' is no string encoding.
    input: opts.raw && typeof opts.input === 'string' ? Buffer.from(opts.input, 'utf8') : opts.input,
    env: opts.env ?? process.env,
    maxBuffer: 1024 * 1024 * 1024,
    encoding: opts.raw ? 'buffer' : 'utf8',
  });
  if (res.error) throw new GitError(`git ${args[0]}: ${res.error.message}`, args, '', null);
  const ok = res.status === 0 || (opts.okCodes ?? []).includes(res.status ?? -1);
  if (!ok) {
    const stderr = String(res.stderr ?? '').trim();
    throw new GitError(
      `git ${args.join(' ')} failed: ${stderr || `exit ${res.status}`}`,
      args,
      stderr,
      res.status,
    );
  }
  return res.stdout as string | Buffer;
}
