// Health checks of a ledger, each reported as {name, status, message, fix?}: the ref and its
// objects (git fsck), the index cache (against a fresh build from the tip's tree), leftover
// locks and temp files of killed writers, records that fail to parse, and loose objects.
// `fix` repairs only what lives outside the committed history: the cache, locks, temp files
// and object packing. Committed records are never modified.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { git } from '../git/repo.ts';
import type { IndexData } from './index-cache.ts';
import { loadIndex, saveIndex } from './index-cache.ts';
import type { Ledger } from './ledger.ts';
import { describeHolder, pidAlive, staleReason } from './lock.ts';

export type CheckStatus = 'ok' | 'warn' | 'error';

export interface Check {
  name: string;
  status: CheckStatus;
  message: string;
  /** What repairs it (a command or an action), when it is not ok. */
  fix?: string;
  /** Set when `--fix` repaired it during this run. */
  fixed?: boolean;
  /** The individual findings (paths with their errors, ids, files). */
  details?: string[];
}

export interface LedgerDoctorOptions {
  fix?: boolean;
  /** Warn above this many loose objects (default: git's gc.auto, else 6700). */
  maxLoose?: number;
  /** The command users run to apply fixes, for messages. */
  fixCommand?: string;
}

export interface LedgerDoctorResult {
  checks: Check[];
  tip: string | null;
  /** The index built from the tip's tree during the checks (null when that failed). */
  fresh: IndexData | null;
}

/** A git ref `.lock` older than this was left by a killed process (refs.ts uses the same). */
const STALE_REF_LOCK_MS = 2000;
/** Findings listed per check, at most. */
const MAX_DETAILS = 50;

function ok(name: string, message: string): Check {
  return { name, status: 'ok', message };
}

function errText(e: unknown): string {
  return String((e as any)?.message ?? e)
    .split('\n')[0]
    .trim();
}

export function doctorLedger(ledger: Ledger, opts: LedgerDoctorOptions = {}): LedgerDoctorResult {
  const fixCmd = opts.fixCommand ?? 'doctor --fix';
  const checks: Check[] = [];
  let tip: string | null;
  try {
    tip = ledger.tip();
  } catch (e) {
    checks.push({
      name: 'ledger-ref',
      status: 'error',
      message: `${ledger.ref} cannot be read: ${errText(e)}`,
      fix: `restore the ref from a clone or from \`git reflog\` (git update-ref ${ledger.ref} <commit>)`,
    });
    checks.push(checkLocks(ledger, !!opts.fix, fixCmd));
    return { checks, tip: null, fresh: null };
  }
  if (!tip) {
    checks.push({ name: 'ledger-ref', status: 'error', message: `${ledger.ref} does not exist` });
    checks.push(checkLocks(ledger, !!opts.fix, fixCmd));
    return { checks, tip: null, fresh: null };
  }
  checks.push(checkFsck(ledger, tip));
  let fresh: IndexData | null = null;
  let freshError: string | null = null;
  try {
    fresh = ledger.rebuild(tip);
  } catch (e) {
    freshError = errText(e);
  }
  checks.unshift(
    fresh
      ? ok(
          'ledger-ref',
          `${ledger.ref} at ${tip.slice(0, 12)}: ${Object.keys(fresh.files).length} files in ${Object.keys(fresh.trees).length} trees`,
        )
      : {
          name: 'ledger-ref',
          status: 'error',
          message: `${ledger.ref} at ${tip.slice(0, 12)}, but its tree cannot be read: ${freshError}`,
          fix: 'see the fsck check; restore the missing objects from a clone',
        },
  );
  checks.push(checkCache(ledger, tip, fresh, !!opts.fix, fixCmd));
  checks.push(checkLocks(ledger, !!opts.fix, fixCmd));
  checks.push(checkTempFiles(ledger, !!opts.fix, fixCmd));
  if (fresh) checks.push(checkRecords(fresh));
  checks.push(checkLooseObjects(ledger, !!opts.fix, fixCmd, opts.maxLoose));
  return { checks, tip, fresh };
}

/** Connectivity of everything reachable from the tip: every commit, tree and blob present and well-formed. */
export function checkFsck(ledger: Ledger, tip: string): Check {
  const dir = ledger.commonDir;
  // Run directly rather than through git(): fsck reports its findings on stdout.
  const r = spawnSync(
    'git',
    ['--git-dir', dir, 'fsck', '--connectivity-only', '--no-dangling', '--no-progress', '--no-reflogs', tip],
    { cwd: dir, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  if (r.error) return { name: 'fsck', status: 'warn', message: `git fsck could not run: ${r.error.message}` };
  const problems = `${r.stdout}\n${r.stderr}`
    .split('\n')
    .map((l) => l.replace(/\s+/g, ' ').trim())
    .filter((l) => l && !/^(notice|checking|dangling)/i.test(l));
  if (r.status !== 0 || problems.length) {
    return {
      name: 'fsck',
      status: 'error',
      message: `git fsck found ${problems.length || 'unnamed'} problem(s) in the objects reachable from ${ledger.ref}`,
      fix: 'fetch the ledger ref from another clone (missing objects cannot be recreated here)',
      details: problems.slice(0, MAX_DETAILS),
    };
  }
  return ok('fsck', `every object reachable from ${ledger.ref} is present`);
}

/** Where two indexes disagree (oids of trees and files, summaries, parse errors). */
export function compareIndexes(cached: IndexData, fresh: IndexData, withSummaries: boolean): string[] {
  const out: string[] = [];
  const cmp = <T>(
    kind: string,
    a: Record<string, T>,
    b: Record<string, T>,
    same: (x: T, y: T) => boolean,
  ) => {
    for (const k of Object.keys(b)) {
      if (!(k in a)) out.push(`${kind} ${k || '/'} is missing from the cache`);
      else if (!same(a[k], b[k])) out.push(`${kind} ${k || '/'} differs from the tree`);
    }
    for (const k of Object.keys(a))
      if (!(k in b)) out.push(`${kind} ${k || '/'} is in the cache but not in the tree`);
  };
  cmp('tree', cached.trees ?? {}, fresh.trees, (x, y) => x === y);
  cmp(
    'file',
    cached.files ?? {},
    fresh.files,
    (x, y) =>
      x?.oid === y.oid &&
      x?.mode === y.mode &&
      (!withSummaries || (JSON.stringify(x.s) === JSON.stringify(y.s) && (x.err ?? '') === (y.err ?? ''))),
  );
  return out;
}

/** The listing of a commit's tree as an index without summaries (for checking a stale cache). */
function treeListing(commonDir: string, commit: string): IndexData {
  const listing = git(commonDir, ['--git-dir', commonDir, 'ls-tree', '-r', '-t', '-z', commit]);
  const root = git(commonDir, ['--git-dir', commonDir, 'rev-parse', `${commit}^{tree}`]).trim();
  const out: IndexData = { version: 0, ref: '', commit, trees: { '': root }, files: {}, schema: '' };
  for (const rec of listing.split('\0')) {
    if (!rec) continue;
    const tab = rec.indexOf('\t');
    const [mode, type, oid] = rec.slice(0, tab).split(' ');
    const p = rec.slice(tab + 1);
    if (type === 'tree') out.trees[p] = oid;
    else if (type === 'blob') out.files[p] = { oid, mode, s: null };
  }
  return out;
}

export function checkCache(
  ledger: Ledger,
  tip: string,
  fresh: IndexData | null,
  fix: boolean,
  fixCmd: string,
): Check {
  const name = 'index-cache';
  const file = ledger.cachePath;
  const schema = fresh?.schema ?? '';
  const loaded = loadIndex(file, ledger.ref, schema);
  let problem: { status: CheckStatus; message: string; details?: string[] } | null = null;
  if (!loaded.ok) {
    problem =
      loaded.reason === 'missing'
        ? { status: 'warn', message: 'no index cache yet; the next read builds it' }
        : { status: 'warn', message: `the cache file is invalid (${loaded.reason}); readers rebuild it` };
  } else {
    const cached = loaded.index;
    if (cached.commit === tip) {
      if (fresh) {
        const diffs = compareIndexes(cached, fresh, true);
        if (diffs.length) {
          problem = {
            status: 'error',
            message: `the cache claims ${tip.slice(0, 12)} but ${diffs.length} entr${diffs.length === 1 ? 'y disagrees' : 'ies disagree'} with its tree (edited or corrupted): readers would trust it`,
            details: diffs.slice(0, MAX_DETAILS),
          };
        }
      }
    } else if (!cached.commit) {
      problem = { status: 'warn', message: `the cache is empty but ${ledger.ref} has commits; it is stale` };
    } else {
      let diffs: string[];
      try {
        diffs = compareIndexes(cached, treeListing(ledger.commonDir, cached.commit), false);
      } catch (e) {
        diffs = [`commit ${cached.commit.slice(0, 12)} cannot be read: ${errText(e)}`];
      }
      problem = diffs.length
        ? {
            status: 'error',
            message: `the cache claims ${cached.commit.slice(0, 12)} but disagrees with that commit's tree (edited or corrupted)`,
            details: diffs.slice(0, MAX_DETAILS),
          }
        : {
            status: 'warn',
            message: `the cache reflects ${cached.commit.slice(0, 12)}, the ledger is at ${tip.slice(0, 12)}; the next read refreshes it`,
          };
    }
  }
  if (!problem) return ok(name, `fresh at ${tip.slice(0, 12)} and agrees with the tree`);
  if (fix && fresh && ledger.tip() === tip) {
    try {
      ledger.dropCache();
      saveIndex(file, fresh);
      return {
        name,
        status: 'ok',
        message: `rebuilt from ${tip.slice(0, 12)} (was: ${problem.message})`,
        fixed: true,
        ...(problem.details ? { details: problem.details } : {}),
      };
    } catch (e) {
      return {
        name,
        status: 'error',
        message: `could not rebuild the cache: ${errText(e)}`,
        fix: `remove ${file}`,
      };
    }
  }
  return { name, ...problem, fix: `${fixCmd} rebuilds it from the tree` };
}

export function refLockPath(ledger: Ledger): string {
  return path.join(ledger.commonDir, ...ledger.ref.split('/')) + '.lock';
}

export function checkLocks(ledger: Ledger, fix: boolean, fixCmd: string): Check {
  const name = 'locks';
  const found: string[] = [];
  const removed: string[] = [];
  const busy: string[] = [];
  const lockFile = ledger.lockPath;
  if (fs.existsSync(lockFile)) {
    const why = staleReason(lockFile);
    if (!why) busy.push(`ledger lock held by ${describeHolder(lockFile)} (a write is in progress)`);
    else {
      const line = `stale ledger lock ${lockFile}: ${why}`;
      // Check again right before removing: a live writer may have replaced it meanwhile.
      if (fix && staleReason(lockFile)) {
        fs.rmSync(lockFile, { force: true });
        removed.push(line);
      } else found.push(line);
    }
  }
  const refLock = refLockPath(ledger);
  let age = -1;
  try {
    age = Date.now() - fs.statSync(refLock).mtimeMs;
  } catch {
    // no ref lock: the normal case
  }
  if (age >= 0) {
    if (age <= STALE_REF_LOCK_MS) busy.push(`${refLock} is fresh (an update is in progress)`);
    else {
      const line = `leftover git ref lock ${refLock} (${Math.round(age / 1000)}s old)`;
      if (fix) {
        fs.rmSync(refLock, { force: true });
        removed.push(line);
      } else found.push(line);
    }
  }
  if (found.length) {
    return {
      name,
      status: 'warn',
      message: `${found.length} stale lock${found.length === 1 ? '' : 's'} left by a killed process (the next writer also clears them)`,
      fix: `${fixCmd} removes them`,
      details: found,
    };
  }
  if (removed.length)
    return {
      name,
      status: 'ok',
      message: `removed ${removed.length} stale lock(s)`,
      fixed: true,
      details: removed,
    };
  return {
    ...ok(name, busy.length ? busy.join('; ') : 'no stale locks'),
    ...(busy.length ? { details: busy } : {}),
  };
}

/** Temp files of our own writers (`tmp_obj_<pid>_<n>`, `<cache>.tmp.<pid>.<n>`) whose process is gone. */
function leftoverTempFiles(ledger: Ledger): string[] {
  const out: string[] = [];
  const objects = path.join(ledger.commonDir, 'objects');
  let dirs: string[] = [];
  try {
    dirs = fs.readdirSync(objects).filter((d) => /^[0-9a-f]{2}$/.test(d));
  } catch {
    // no objects directory: nothing to report here (fsck reports it)
  }
  for (const d of dirs) {
    let names: string[] = [];
    try {
      names = fs.readdirSync(path.join(objects, d));
    } catch {
      continue;
    }
    for (const n of names) {
      const m = /^tmp_obj_(\d+)_\d+$/.exec(n);
      if (m && !pidAlive(Number(m[1]))) out.push(path.join(objects, d, n));
    }
  }
  const cacheDir = path.dirname(ledger.cachePath);
  const base = path.basename(ledger.cachePath);
  try {
    for (const n of fs.readdirSync(cacheDir)) {
      const m = /\.tmp\.(\d+)\.\d+$/.exec(n);
      if (m && n.startsWith(`${base}.tmp.`) && !pidAlive(Number(m[1]))) out.push(path.join(cacheDir, n));
    }
  } catch {
    // no cache directory yet
  }
  return out;
}

export function checkTempFiles(ledger: Ledger, fix: boolean, fixCmd: string): Check {
  const name = 'temp-files';
  const files = leftoverTempFiles(ledger);
  if (files.length === 0) return ok(name, 'no temp files left by interrupted writes');
  if (fix) {
    for (const f of files) fs.rmSync(f, { force: true });
    return {
      name,
      status: 'ok',
      message: `removed ${files.length} temp file(s) left by interrupted writes`,
      fixed: true,
      details: files.slice(0, MAX_DETAILS),
    };
  }
  return {
    name,
    status: 'warn',
    message: `${files.length} temp file(s) left by interrupted writes (harmless)`,
    fix: `${fixCmd} removes them`,
    details: files.slice(0, MAX_DETAILS),
  };
}

/** Records at the tip that fail to parse, each named with its path and the parse error. */
export function checkRecords(fresh: IndexData): Check {
  const bad = Object.entries(fresh.files)
    .filter(([, e]) => e.err)
    .map(([p, e]) => `${p}: ${e.err}`)
    .sort();
  const total = Object.keys(fresh.files).filter((p) => p.endsWith('.yaml')).length;
  if (bad.length === 0) return ok('records', `${total} records parse`);
  return {
    name: 'records',
    status: 'error',
    message: `${bad.length} of ${total} record(s) fail to parse; commands skip them`,
    fix: 'fix the YAML in a new commit on the ledger ref (or restore the previous version from its history)',
    details: bad.slice(0, MAX_DETAILS),
  };
}

function countLoose(commonDir: string): number {
  const out = git(commonDir, ['--git-dir', commonDir, 'count-objects', '-v']);
  return Number(/^count:\s*(\d+)/m.exec(out)?.[1] ?? 0);
}

function gcAutoSetting(commonDir: string): number | null {
  const out = git(commonDir, ['--git-dir', commonDir, 'config', '--get', 'gc.auto'], { okCodes: [1] }).trim();
  return /^\d+$/.test(out) ? Number(out) : null;
}

export function checkLooseObjects(ledger: Ledger, fix: boolean, fixCmd: string, maxLoose?: number): Check {
  const name = 'loose-objects';
  const dir = ledger.commonDir;
  let count: number;
  let limit: number;
  try {
    count = countLoose(dir);
    const auto = gcAutoSetting(dir);
    limit = maxLoose ?? (auto && auto > 0 ? auto : 6700);
  } catch (e) {
    return { name, status: 'warn', message: `git count-objects failed: ${errText(e)}` };
  }
  if (count <= limit) return ok(name, `${count} loose objects (limit ${limit})`);
  if (!fix) {
    return {
      name,
      status: 'warn',
      message: `${count} loose objects (over ${limit}); reads and clones slow down`,
      fix: `${fixCmd} runs \`git maintenance run --auto\``,
    };
  }
  try {
    // In the foreground: the user asked for it and waits for the result.
    git(dir, ['--git-dir', dir, '-c', 'gc.autoDetach=false', 'maintenance', 'run', '--auto', '--quiet']);
    let after = countLoose(dir);
    let how = 'git maintenance run --auto';
    if (after > limit) {
      // Auto maintenance judged it not needed (or gc.auto=0 disables it): pack the loose
      // objects anyway. This never deletes anything that is not already in a pack.
      // The task packs loose objects and drops those already packed by an earlier run; the
      // prune-packed that follows drops the ones it just packed.
      git(dir, ['--git-dir', dir, 'maintenance', 'run', '--task=loose-objects', '--quiet']);
      git(dir, ['--git-dir', dir, 'prune-packed', '--quiet']);
      after = countLoose(dir);
      how = 'git maintenance run --task=loose-objects';
    }
    return {
      name,
      status: after > limit ? 'warn' : 'ok',
      message: `ran \`${how}\`: ${count} → ${after} loose objects (limit ${limit})`,
      fixed: after <= limit,
      ...(after > limit ? { fix: 'run `git gc`' } : {}),
    };
  } catch (e) {
    return { name, status: 'warn', message: `git maintenance failed: ${errText(e)}`, fix: 'run `git gc`' };
  }
}
