// The town's JSON files: read with errors that name the file and the fix, written atomically
// (temp + rename), and committed to the town repository so configuration is durable too.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../beads/wisps.ts';
import { GtError } from '../errors.ts';

export function readJson<T>(file: string, what: string): T {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e: any) {
    if (e.code === 'ENOENT') throw new GtError(`${what} is missing (${file}); run \`gt doctor --fix\``);
    throw new GtError(`cannot read ${what} (${file}): ${e.message}`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (e: any) {
    throw new GtError(
      `${what} is not valid JSON (${file}): ${e.message}; fix the file or restore it with git`,
    );
  }
}

export function readJsonOr<T>(file: string, what: string, fallback: T): T {
  return fs.existsSync(file) ? readJson<T>(file, what) : fallback;
}

export function writeJson(file: string, data: unknown): void {
  writeFileAtomic(file, `${JSON.stringify(data, null, 2)}\n`);
}

export interface TownJson {
  type: 'town';
  version: number;
  name: string;
  owner: string;
  public_name?: string;
  created_at: string;
}

export interface RigEntry {
  git_url: string;
  push_url?: string;
  upstream_url?: string;
  local_repo?: string;
  added_at: string;
  beads: { prefix: string };
  default_branch?: string;
}

export interface RigsJson {
  version: number;
  rigs: Record<string, RigEntry>;
}

/** Registered rigs (mayor/rigs.json); none when the file is missing, an error when it is invalid. */
export function readRigs(townRoot: string): Record<string, RigEntry> {
  const file = path.join(townRoot, 'mayor', 'rigs.json');
  return readJsonOr<RigsJson>(file, 'mayor/rigs.json', { version: 1, rigs: {} }).rigs ?? {};
}

export interface RigConfigJson {
  type: 'rig';
  version: number;
  name: string;
  git_url: string;
  push_url?: string;
  upstream_url?: string;
  local_repo?: string;
  created_at: string;
  beads: { prefix: string };
  default_branch: string;
}

/**
 * Commit the given town files (paths relative to the town root) on the town repository's
 * current branch, if they changed. Configuration is durable state: it lives in git like the ledger.
 */
export function commitTownFiles(
  townRoot: string,
  files: string[],
  message: string,
  author?: string,
): boolean {
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: author ?? process.env.GIT_AUTHOR_NAME ?? 'gt',
    GIT_COMMITTER_NAME: author ?? process.env.GIT_COMMITTER_NAME ?? 'gt',
    GIT_AUTHOR_EMAIL: process.env.GIT_AUTHOR_EMAIL ?? 'gt@localhost',
    GIT_COMMITTER_EMAIL: process.env.GIT_COMMITTER_EMAIL ?? 'gt@localhost',
  };
  const run = (args: string[]) => spawnSync('git', args, { cwd: townRoot, env, encoding: 'utf8' });
  const rel = files.map((f) => (path.isAbsolute(f) ? path.relative(townRoot, f) : f));
  const add = run(['add', '-A', '--', ...rel]);
  if (add.status !== 0) throw new GtError(`git add in the town failed: ${add.stderr.trim()}`);
  const diff = run(['diff', '--cached', '--quiet', '--', ...rel]);
  if (diff.status === 0) return false;
  const commit = run(['commit', '-q', '--no-verify', '-m', message, '--', ...rel]);
  if (commit.status !== 0)
    throw new GtError(`git commit in the town failed: ${commit.stderr.trim() || commit.stdout.trim()}`);
  return true;
}
