// `gt agent resolve-union`: the scripted agent's mechanical conflict resolution (used by the
// mol-polecat-conflict-resolve formula). In a worktree stopped on a conflicted merge, every
// conflicted file is resolved by keeping both sides (`git merge-file --union` on the index
// stages: base, ours, theirs), added, and the merge is committed. A file one side deleted keeps
// the side that still has it; a binary file keeps ours. No shell: argument arrays only.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConflictError, GtError } from '../errors.ts';

function git(cwd: string, args: string[], input?: Buffer): { code: number; stdout: Buffer; stderr: string } {
  const r = spawnSync('git', args, { cwd, input, maxBuffer: 256 * 1024 * 1024 });
  return { code: r.status ?? 1, stdout: r.stdout ?? Buffer.alloc(0), stderr: (r.stderr ?? '').toString() };
}

function ok(cwd: string, args: string[]): string {
  const r = git(cwd, args);
  if (r.code !== 0) throw new GtError(`git ${args.join(' ')} failed in ${cwd}: ${r.stderr.trim()}`);
  return r.stdout.toString('utf8').trim();
}

export interface ResolveResult {
  worktree: string;
  resolved: { path: string; how: 'union' | 'ours' | 'theirs' | 'deleted' }[];
  commit: string;
}

export function resolveUnion(cwd: string): ResolveResult {
  const top = git(cwd, ['rev-parse', '--show-toplevel']);
  if (top.code !== 0)
    throw new ConflictError(`${cwd} is not inside a git worktree; run it where the merge stopped`);
  const wt = top.stdout.toString().trim();
  if (git(wt, ['rev-parse', '-q', '--verify', 'MERGE_HEAD']).code !== 0)
    throw new ConflictError(
      `no merge in progress in ${wt}: run it after a \`git merge\` that stopped on conflicts`,
    );
  // Unmerged index entries: "<mode> <sha> <stage>\t<path>", NUL-terminated.
  const stages = new Map<string, Map<number, string>>();
  for (const rec of git(wt, ['ls-files', '-u', '-z']).stdout.toString('utf8').split('\0')) {
    const m = /^\d+ ([0-9a-f]+) ([123])\t(.+)$/s.exec(rec);
    if (!m) continue;
    const e = stages.get(m[3]) ?? new Map<number, string>();
    e.set(Number(m[2]), m[1]);
    stages.set(m[3], e);
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gt-union-'));
  const resolved: ResolveResult['resolved'] = [];
  try {
    for (const [file, st] of [...stages].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      const blob = (sha: string | undefined) =>
        sha ? git(wt, ['cat-file', 'blob', sha]).stdout : Buffer.alloc(0);
      const ours = st.get(2);
      const theirs = st.get(3);
      const abs = path.join(wt, file);
      if (!ours && !theirs) {
        ok(wt, ['rm', '-q', '--cached', '--ignore-unmatch', '--', file]);
        fs.rmSync(abs, { force: true });
        resolved.push({ path: file, how: 'deleted' });
        continue;
      }
      if (!ours || !theirs) {
        // Deleted on one side, changed on the other: the change is the work to keep.
        fs.mkdirSync(path.dirname(abs), { recursive: true });
        fs.writeFileSync(abs, blob(ours ?? theirs));
        ok(wt, ['add', '--', file]);
        resolved.push({ path: file, how: ours ? 'ours' : 'theirs' });
        continue;
      }
      const [b, o, t] = ['base', 'ours', 'theirs'].map((n) => path.join(tmp, n));
      fs.writeFileSync(b, blob(st.get(1)));
      fs.writeFileSync(o, blob(ours));
      fs.writeFileSync(t, blob(theirs));
      const r = git(wt, ['merge-file', '-p', '--union', '-L', 'ours', '-L', 'base', '-L', 'theirs', o, b, t]);
      if (r.code < 0 || r.code > 127 || r.stderr.includes('binary')) {
        fs.writeFileSync(abs, blob(ours));
        resolved.push({ path: file, how: 'ours' });
      } else {
        fs.writeFileSync(abs, r.stdout);
        resolved.push({ path: file, how: 'union' });
      }
      ok(wt, ['add', '--', file]);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  const left = ok(wt, ['diff', '--name-only', '--diff-filter=U']);
  if (left)
    throw new GtError(`conflicts left in ${wt}: ${left.split('\n').join(', ')}; resolve them by hand`);
  ok(wt, ['commit', '--no-edit', '--quiet']);
  return { worktree: wt, resolved, commit: ok(wt, ['rev-parse', 'HEAD']) };
}
