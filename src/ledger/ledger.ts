// A record store on a git ref. One YAML file per record; every write is one commit made in
// process (loose objects) and published with a compare-and-swap of the ref, under the
// ledger lock. Reads go through the index cache, refreshed incrementally from tree diffs.
import fs from 'node:fs';
import path from 'node:path';
import {
  FILE_MODE,
  parseCommitTree,
  parseTree,
  readObject,
  readObjects,
  serializeCommit,
  serializeTree,
  TREE_MODE,
  type TreeEntry,
  writeObject,
} from '../git/objects.ts';
import { compareAndSwapRef, RefLockedError, readRef } from '../git/refs.ts';
import { git, type Repo } from '../git/repo.ts';
import { codecLoaded, formatRecord, parseRecord } from './codec.ts';
import {
  emptyIndex,
  type FileEntry,
  type IndexData,
  indexPath,
  loadIndex,
  saveIndex,
} from './index-cache.ts';
import { FileLock, sleepSync } from './lock.ts';

export class CasLostError extends Error {}

/** What a transaction changes in the index: file entries and tree oids (null = removed). */
interface IndexDelta {
  files: Map<string, FileEntry | null>;
  trees: Map<string, string | null>;
  root: string;
}

/** How long a write waits for git's `<ref>.lock`: longer than refs.ts takes to call one stale (2 s). */
const REF_LOCK_WAIT_MS = 5000;

export interface LedgerOptions {
  /** Summary kept in the index for each record (what list/ready need without reading blobs). */
  summarize?: (filePath: string, data: any) => any;
  /** Changes when the summarizer changes, so old caches are rebuilt. */
  schema?: string;
  /** How long a writer waits for the lock. */
  lockTimeoutMs?: number;
}

export interface Author {
  name: string;
  email: string;
}

export interface CommitInfo {
  commit: string | null;
  changed: string[];
}

type Change = { kind: 'put'; data: any } | { kind: 'delete' };

export class Transaction {
  readonly changes = new Map<string, Change>();
  private lines: string[] = [];
  constructor(
    private readonly ledger: Ledger,
    readonly index: IndexData,
  ) {}

  get(filePath: string): any {
    const c = this.changes.get(filePath);
    if (c) return c.kind === 'put' ? c.data : undefined;
    return this.ledger.readFrom(this.index, filePath);
  }
  has(filePath: string): boolean {
    const c = this.changes.get(filePath);
    if (c) return c.kind === 'put';
    return filePath in this.index.files;
  }
  put(filePath: string, data: any): void {
    assertRecordPath(filePath);
    this.changes.set(filePath, { kind: 'put', data });
  }
  delete(filePath: string): void {
    this.changes.set(filePath, { kind: 'delete' });
  }
  /** Summary of a record as it stands inside this transaction. */
  summary(filePath: string): any {
    const c = this.changes.get(filePath);
    if (c) return c.kind === 'put' ? this.ledger.summarize(filePath, c.data) : undefined;
    return this.index.files[filePath]?.s;
  }
  /** Paths under a directory prefix, including this transaction's additions. */
  paths(prefix = ''): string[] {
    const files = this.index.files;
    // Nothing changed under the prefix (the usual case): a plain scan, without a 10k-entry Set.
    let touched = false;
    for (const p of this.changes.keys()) if (p.startsWith(prefix)) touched = true;
    if (!touched) {
      const list: string[] = [];
      for (const p in files) if (p.startsWith(prefix)) list.push(p);
      return list;
    }
    const out = new Set<string>();
    for (const p in files) if (p.startsWith(prefix)) out.add(p);
    for (const [p, c] of this.changes) {
      if (!p.startsWith(prefix)) continue;
      if (c.kind === 'put') out.add(p);
      else out.delete(p);
    }
    return [...out];
  }
  /** A line for the commit message body (the first one also becomes the subject unless set). */
  note(line: string): void {
    this.lines.push(line);
  }
  message(fallback: string): string {
    if (this.lines.length === 0) return fallback;
    if (this.lines.length === 1) return this.lines[0];
    return `${fallback}\n\n${this.lines.join('\n')}`;
  }
}

export function assertRecordPath(p: string): void {
  if (
    !p ||
    p.startsWith('/') ||
    p.includes('\\') ||
    p.includes('\0') ||
    p.split('/').some((s) => s === '' || s === '.' || s === '..' || s === '.git')
  ) {
    throw new Error(`invalid record path: ${JSON.stringify(p)}`);
  }
}

export class Ledger {
  private index: IndexData | null = null;
  private dirty = false;
  private recordMemo = new Map<string, any>();
  private readonly schema: string;
  private readonly summarizer: (filePath: string, data: any) => any;
  private readonly lock: FileLock;
  /** Why the last load had to rebuild or refresh (for doctor). */
  lastRefresh: string | null = null;

  constructor(
    readonly repo: Repo,
    readonly ref: string,
    private readonly opts: LedgerOptions = {},
  ) {
    this.schema = opts.schema ?? 'none';
    this.summarizer = opts.summarize ?? (() => null);
    this.lock = new FileLock(this.lockPath);
  }

  get commonDir(): string {
    return this.repo.commonDir;
  }
  get lockPath(): string {
    return path.join(this.commonDir, 'gt', 'locks', `${this.ref.replace(/\//g, '_')}.lock`);
  }
  get cachePath(): string {
    return indexPath(this.commonDir, this.ref);
  }

  summarize(filePath: string, data: any): any {
    return filePath.endsWith('.yaml') ? this.summarizer(filePath, data) : null;
  }

  tip(): string | null {
    return readRef(this.commonDir, this.ref);
  }

  exists(): boolean {
    return this.tip() !== null;
  }

  /** The index this process holds in memory (null when it never loaded one). */
  get loadedIndex(): IndexData | null {
    return this.index;
  }

  /** True when the index on disk (or in memory) already reflects the tip: reads need no blobs. */
  indexIsFresh(): boolean {
    const tip = this.tip();
    if (this.index) return this.index.commit === tip;
    const loaded = loadIndex(this.cachePath, this.ref, this.schema);
    if (!loaded.ok) return false;
    this.index = loaded.index;
    return loaded.index.commit === tip;
  }

  /** The index, brought up to date with the ref tip. */
  snapshot(): IndexData {
    const tip = this.tip();
    if (this.index && this.index.commit === tip) return this.index;
    if (!this.index) {
      const loaded = loadIndex(this.cachePath, this.ref, this.schema);
      if (loaded.ok) this.index = loaded.index;
      else if (loaded.reason !== 'missing') this.lastRefresh = `cache rebuilt: ${loaded.reason}`;
    }
    if (this.index && this.index.commit === tip) return this.index;
    this.index = this.refresh(this.index, tip);
    this.dirty = true;
    return this.index;
  }

  /** Bring `from` to `tip`: a tree diff when possible, a full rebuild otherwise. */
  private refresh(from: IndexData | null, tip: string | null): IndexData {
    if (!tip) return emptyIndex(this.ref, this.schema);
    if (from?.commit) {
      try {
        const out = this.applyDiff(from, tip);
        this.lastRefresh = `cache refreshed from ${from.commit.slice(0, 8)} to ${tip.slice(0, 8)}`;
        return out;
      } catch (e: any) {
        this.lastRefresh = `cache rebuilt: incremental refresh failed (${e.message})`;
      }
    }
    return this.rebuild(tip);
  }

  /** Full rebuild: one `ls-tree` and one batch read of every blob. */
  rebuild(tip: string): IndexData {
    const out = emptyIndex(this.ref, this.schema);
    out.commit = tip;
    const listing = git(this.commonDir, ['--git-dir', this.commonDir, 'ls-tree', '-r', '-t', '-z', tip]);
    const blobs: [string, string, string][] = [];
    for (const rec of listing.split('\0')) {
      if (!rec) continue;
      const tab = rec.indexOf('\t');
      const [mode, type, oid] = rec.slice(0, tab).split(' ');
      const p = rec.slice(tab + 1);
      if (type === 'tree') out.trees[p] = oid;
      else if (type === 'blob') blobs.push([p, oid, mode]);
    }
    out.trees[''] = this.commitTree(tip);
    this.loadBlobs(
      out,
      blobs.map(([p, oid, mode]) => ({ p, oid, mode })),
    );
    return out;
  }

  private commitTree(commit: string): string {
    const obj = readObject(this.commonDir, commit);
    if (obj?.type !== 'commit')
      throw new Error(`ledger ref ${this.ref} points at a missing commit ${commit}`);
    return parseCommitTree(obj.body);
  }

  private loadBlobs(index: IndexData, items: { p: string; oid: string; mode: string }[]): void {
    // Without the codec every record would look unparseable and a wrong index would be saved
    // for this commit: fail loudly instead (in process, `await loadCodec()` before reading).
    if (!codecLoaded() && items.some((i) => i.p.endsWith('.yaml'))) parseRecord('');
    const objs = readObjects(
      this.commonDir,
      items.map((i) => i.oid),
    );
    for (const { p, oid, mode } of items) {
      const entry: FileEntry = { oid, mode, s: null };
      const obj = objs.get(oid);
      if (p.endsWith('.yaml')) {
        try {
          if (!obj) throw new Error(`blob ${oid} is missing`);
          const data = parseRecord(obj.body.toString('utf8'));
          this.recordMemo.set(oid, data);
          entry.s = this.summarize(p, data);
        } catch (e: any) {
          entry.err = String(e.message).split('\n')[0];
        }
      }
      index.files[p] = entry;
    }
  }

  private applyDiff(from: IndexData, tip: string): IndexData {
    const out: IndexData = {
      ...from,
      commit: tip,
      trees: { ...from.trees },
      files: { ...from.files },
    };
    const diff = git(this.commonDir, [
      '--git-dir',
      this.commonDir,
      'diff-tree',
      '-r',
      '-t',
      '-z',
      '--no-renames',
      from.commit!,
      tip,
    ]);
    const parts = diff.split('\0');
    const changedBlobs: { p: string; oid: string; mode: string }[] = [];
    for (let i = 0; i < parts.length; i++) {
      const meta = parts[i];
      if (!meta.startsWith(':')) continue;
      const p = parts[++i];
      const [oldMode, newMode, , newOid, status] = meta.slice(1).split(' ');
      if (status === 'D') {
        if (isTreeMode(oldMode)) delete out.trees[p];
        else delete out.files[p];
      } else if (isTreeMode(newMode)) {
        out.trees[p] = newOid;
      } else {
        if (isTreeMode(oldMode)) delete out.trees[p];
        changedBlobs.push({ p, oid: newOid, mode: newMode });
      }
    }
    out.trees[''] = this.commitTree(tip);
    this.loadBlobs(out, changedBlobs);
    return out;
  }

  /** Full parsed record at `filePath` in the given index, or undefined. */
  readFrom(index: IndexData, filePath: string): any {
    const entry = index.files[filePath];
    if (!entry) return undefined;
    const memo = this.recordMemo.get(entry.oid);
    if (memo !== undefined) return memo;
    const obj = readObject(this.commonDir, entry.oid);
    if (!obj) throw new Error(`ledger blob ${entry.oid} for ${filePath} is missing; run \`bd doctor\``);
    const data = parseRecord(obj.body.toString('utf8'));
    this.recordMemo.set(entry.oid, data);
    return data;
  }

  /** The record in one blob, by oid (memoised); undefined when the object is missing. */
  readBlobRecord(oid: string): any {
    const memo = this.recordMemo.get(oid);
    if (memo !== undefined) return memo;
    const obj = readObject(this.commonDir, oid);
    if (!obj) return undefined;
    const data = parseRecord(obj.body.toString('utf8'));
    this.recordMemo.set(oid, data);
    return data;
  }

  read(filePath: string): any {
    return this.readFrom(this.snapshot(), filePath);
  }

  /** Read many records at once (one batch for packed objects). */
  readMany(paths: string[]): Map<string, any> {
    const index = this.snapshot();
    const missing = paths
      .map((p) => index.files[p]?.oid)
      .filter((oid): oid is string => !!oid && !this.recordMemo.has(oid));
    if (missing.length > 0) {
      const objs = readObjects(this.commonDir, missing);
      for (const [oid, obj] of objs) this.recordMemo.set(oid, parseRecord(obj.body.toString('utf8')));
    }
    const out = new Map<string, any>();
    for (const p of paths) {
      const v = this.readFrom(index, p);
      if (v !== undefined) out.set(p, v);
    }
    return out;
  }

  /**
   * Run `fn` as one transaction: one commit, whatever it changes. `fn` may be re-run if the
   * ref moved under us (only possible when something bypassed the lock), so it must only act
   * through `tx`.
   */
  transact<T>(author: Author, subject: string, fn: (tx: Transaction) => T): { result: T } & CommitInfo {
    this.lock.acquire(this.opts.lockTimeoutMs);
    try {
      for (let attempt = 0; ; attempt++) {
        const index = this.snapshot();
        const tx = new Transaction(this, index);
        const result = fn(tx);
        if (tx.changes.size === 0) return { result, commit: index.commit, changed: [] };
        const delta = this.applyChanges(index, tx);
        const now = Math.floor(Date.now() / 1000);
        const sig = { name: author.name, email: author.email, time: now };
        const commit = writeObject(
          this.commonDir,
          'commit',
          serializeCommit({
            tree: delta.root,
            parents: index.commit ? [index.commit] : [],
            author: sig,
            committer: sig,
            message: tx.message(subject),
          }),
        );
        // Git's `<ref>.lock` held: by a concurrent non-ledger update (pack-refs, update-ref), or
        // left by a writer killed inside compareAndSwapRef, which treats it as stale after 2 s.
        // Wait past that (retrying only the swap, not the transaction) rather than fail.
        let swapped: boolean;
        const refLockDeadline = Date.now() + REF_LOCK_WAIT_MS;
        for (;;) {
          try {
            swapped = compareAndSwapRef(this.commonDir, this.ref, commit, index.commit);
            break;
          } catch (e) {
            if (!(e instanceof RefLockedError) || Date.now() > refLockDeadline) throw e;
            sleepSync(2 + Math.random() * 5);
          }
        }
        if (!swapped) {
          if (attempt > 50) throw new CasLostError(`could not update ${this.ref}: it kept moving under us`);
          continue;
        }
        // The ref moved: update the index in place (copying 10,000 entries per commit costs more
        // than the rest of a small transaction).
        for (const [p, e] of delta.files) {
          if (e) index.files[p] = e;
          else delete index.files[p];
        }
        for (const [d, oid] of delta.trees) {
          if (oid) index.trees[d] = oid;
          else delete index.trees[d];
        }
        index.commit = commit;
        this.index = index;
        this.dirty = true;
        return { result, commit, changed: [...tx.changes.keys()] };
      }
    } finally {
      this.lock.release();
    }
  }

  /**
   * Write the changed blobs and only the trees on their paths, starting from the old tree
   * objects of those directories (so the cost does not grow with the ledger). Returns the
   * changes for the index, applied by the caller once the ref has moved.
   */
  private applyChanges(index: IndexData, tx: Transaction): IndexDelta {
    const files = new Map<string, FileEntry | null>();
    const trees = new Map<string, string | null>();
    const dirtyDirs = new Set<string>();
    for (const [p, c] of tx.changes) {
      if (c.kind === 'put') {
        const text = formatRecord(c.data);
        const oid = writeObject(this.commonDir, 'blob', Buffer.from(text, 'utf8'));
        this.recordMemo.set(oid, c.data);
        files.set(p, { oid, mode: FILE_MODE, s: this.summarize(p, c.data) });
      } else {
        files.set(p, null);
      }
      let d = p;
      do {
        d = parentDir(d);
        dirtyDirs.add(d);
      } while (d !== '');
    }
    // The current entries of each dirty directory, from its tree object (one batch read).
    const old = readObjects(
      this.commonDir,
      [...dirtyDirs].map((d) => index.trees[d]).filter((oid): oid is string => !!oid),
    );
    const children = new Map<string, Map<string, TreeEntry>>();
    for (const d of dirtyDirs) {
      const kids = new Map<string, TreeEntry>();
      const oid = index.trees[d];
      if (oid) {
        const obj = old.get(oid);
        if (obj?.type !== 'tree') {
          throw new Error(`ledger tree ${oid} (${d || 'root'}) is missing; run \`bd doctor --fix\``);
        }
        for (const e of parseTree(obj.body)) kids.set(e.name, e);
      }
      children.set(d, kids);
    }
    for (const [p, e] of files) {
      const kids = children.get(parentDir(p))!;
      if (e) kids.set(baseName(p), { mode: e.mode, name: baseName(p), oid: e.oid });
      else kids.delete(baseName(p));
    }
    // Deepest first, so each directory sees its children's new oids.
    const order = [...dirtyDirs].sort((a, b) => depth(b) - depth(a));
    for (const d of order) {
      const kids = children.get(d)!;
      if (kids.size === 0 && d !== '') {
        trees.set(d, null);
        children.get(parentDir(d))!.delete(baseName(d));
        continue;
      }
      const oid = writeObject(this.commonDir, 'tree', serializeTree([...kids.values()]));
      trees.set(d, oid);
      if (d !== '') children.get(parentDir(d))!.set(baseName(d), { mode: TREE_MODE, name: baseName(d), oid });
    }
    return { files, trees, root: trees.get('')! };
  }

  /** Persist the index if it changed (call once at the end of a command). */
  flush(): void {
    if (!this.dirty || !this.index) return;
    try {
      saveIndex(this.cachePath, this.index);
    } catch {
      // The cache is disposable: failing to save it only costs the next command a refresh.
    }
    this.dirty = false;
  }

  /** Drop the on-disk and in-memory cache (doctor --fix, tests), with everything derived from it. */
  dropCache(): void {
    fs.rmSync(this.cachePath, { force: true });
    // Caches derived from the index (the bead layer's read views) sit beside it as `<name>.*`.
    const dir = path.dirname(this.cachePath);
    const stem = `${path.basename(this.cachePath, '.json')}.`;
    try {
      for (const f of fs.readdirSync(dir)) {
        if (f.startsWith(stem) && !f.includes('.tmp.') && !f.endsWith('.lock'))
          fs.rmSync(path.join(dir, f), { force: true });
      }
    } catch {
      // no cache directory yet
    }
    this.index = null;
    this.recordMemo.clear();
  }
}

/** Raw diff output writes tree modes as 040000, tree objects as 40000. */
function isTreeMode(mode: string): boolean {
  return mode === TREE_MODE || mode === `0${TREE_MODE}`;
}

function parentDir(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : p.slice(0, i);
}
function baseName(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}
function depth(p: string): number {
  return p === '' ? 0 : p.split('/').length;
}
