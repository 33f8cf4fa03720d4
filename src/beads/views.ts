// Read views: what `bd ready`, `bd list`, `bd blocked` and `bd show` need, precomputed when the
// index is written (DESIGN §4), so a read with a fresh cache parses a few hundred KB and a
// handful of rows instead of every bead's summary.
//
// Two files beside the index cache:
//   <ref>.views.json   ready order, open order, blocked entries, dependents, and for every bead
//                      where its summary row sits in the rows file (offset, length, version key)
//   <ref>.rows.<gen>.jsonl  one summary per line, appended when a bead changes; rewritten under
//                      a new generation number when mostly garbage (old readers then miss their
//                      file and fall back to the full path, never read wrong rows)
// Views are keyed by the ledger commit, the wisp directory's mtime and the earliest future
// deferral, and carry a checksum; anything off means "not fresh" and the caller takes the slow path.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { FileLock } from '../ledger/lock.ts';
import { blockedEntries, type Graph, readyWork, sortBeads } from './graph.ts';
import type { BeadSummary } from './record.ts';

export const VIEWS_VERSION = 3;

/**
 * The views as stored. Large parts are newline-separated strings rather than JSON arrays and
 * objects: a string parses at memcpy speed, and readers split only what they use.
 */
export interface ViewsFile {
  version: number;
  ref: string;
  commit: string | null;
  wisp_stamp: number;
  /** Epoch ms at which a deferral expires and the ready view goes stale; null when none. */
  valid_until: number | null;
  rows_file: string;
  /** Lines `id \t offset \t length \t version key (blob oid, or wisp:<updated_at>)`. */
  rows: string;
  /** `bd ready` with no filters, in the priority policy's order: lines `id \t offset \t length`. */
  ready: string;
  /** `bd list` with no filters (not closed, not wisps), priority order; lines as `ready`. */
  open: string;
  /** `bd blocked`, in its order: lines `id \t offset \t length \t blocker,blocker`. */
  blocked: string;
  /** Lines `target \t dependent:type,dependent:type`. */
  dependents: string;
}

const lines = (s: string) => (s ? s.split('\n') : []);

/** Read access to views, parsing only what a command touches. */
export class Views {
  private rowsText: string;
  private found = new Map<string, [number, number, string] | undefined>();
  /** Row locations learnt from the ready/open/blocked lists (no version key there). */
  private listed = new Map<string, [number, number]>();
  private readyIds: string[] | null = null;
  private openIds: string[] | null = null;
  private blockedList: [string, string[]][] | null = null;
  private depMap: Map<string, [string, string][]> | null = null;

  constructor(readonly file: ViewsFile) {
    this.rowsText = `\n${file.rows}\n`;
  }

  get rowsFile(): string {
    return this.file.rows_file;
  }

  /** Where a bead's row is: a string search, fast for the few ids a command names. */
  row(id: string): [number, number, string] | undefined {
    if (this.found.has(id)) return this.found.get(id);
    const at = this.rowsText.indexOf(`\n${id}\t`);
    let hit: [number, number, string] | undefined;
    if (at >= 0) {
      const end = this.rowsText.indexOf('\n', at + 1);
      const [, off, len, key] = this.rowsText.slice(at + 1, end).split('\t');
      hit = [Number(off), Number(len), key];
    }
    this.found.set(id, hit);
    return hit;
  }

  /** Offset and length of a bead's row, from a list already read or from the rows index. */
  location(id: string): [number, number] | undefined {
    const listed = this.listed.get(id);
    if (listed) return listed;
    const r = this.row(id);
    return r ? [r[0], r[1]] : undefined;
  }

  /** Every row location (save time: which rows can be reused). */
  allRows(): Map<string, [number, number, string]> {
    const out = new Map<string, [number, number, string]>();
    const s = this.file.rows;
    let p = 0;
    while (p < s.length) {
      let end = s.indexOf('\n', p);
      if (end < 0) end = s.length;
      const t1 = s.indexOf('\t', p);
      const t2 = s.indexOf('\t', t1 + 1);
      const t3 = s.indexOf('\t', t2 + 1);
      out.set(s.slice(p, t1), [
        Number(s.slice(t1 + 1, t2)),
        Number(s.slice(t2 + 1, t3)),
        s.slice(t3 + 1, end),
      ]);
      p = end + 1;
    }
    return out;
  }

  /** A list of `id \t offset \t length [\t extra]` lines; the locations are remembered. */
  private located(text: string): string[][] {
    return lines(text).map((l) => {
      const parts = l.split('\t');
      this.listed.set(parts[0], [Number(parts[1]), Number(parts[2])]);
      return parts;
    });
  }
  get ready(): string[] {
    this.readyIds ??= this.located(this.file.ready).map((p) => p[0]);
    return this.readyIds;
  }
  get open(): string[] {
    this.openIds ??= this.located(this.file.open).map((p) => p[0]);
    return this.openIds;
  }
  get blocked(): [string, string[]][] {
    this.blockedList ??= this.located(this.file.blocked).map((p) => [p[0], p[3] ? p[3].split(',') : []]);
    return this.blockedList;
  }
  dependentsOf(id: string): [string, string][] {
    if (!this.depMap) {
      this.depMap = new Map();
      for (const l of lines(this.file.dependents)) {
        const tab = l.indexOf('\t');
        this.depMap.set(
          l.slice(0, tab),
          l
            .slice(tab + 1)
            .split(',')
            .map((d) => {
              const c = d.lastIndexOf(':');
              return [d.slice(0, c), d.slice(c + 1)] as [string, string];
            }),
        );
      }
    }
    return this.depMap.get(id) ?? [];
  }
}

export function viewsPath(commonDir: string, ref: string): string {
  return path.join(commonDir, 'gt', 'cache', `${ref.replace(/\//g, '_')}.views.json`);
}

export function wispStamp(dir: string): number {
  try {
    return fs.statSync(dir).mtimeMs;
  } catch {
    return 0;
  }
}

function sha1(data: Buffer): string {
  return crypto.createHash('sha1').update(data).digest('hex');
}

/** Views on disk if they are intact and reflect exactly this commit, wisp state and time. */
export function loadFreshViews(
  file: string,
  expect: { ref: string; commit: string | null; wispStamp: number; now?: number },
): Views | null {
  let raw: Buffer;
  try {
    raw = fs.readFileSync(file);
  } catch {
    return null;
  }
  const nl = raw.lastIndexOf(10);
  if (nl < 0 || sha1(raw.subarray(0, nl)) !== raw.toString('latin1', nl + 1)) return null;
  let v: ViewsFile;
  try {
    v = JSON.parse(raw.toString('utf8', 0, nl));
  } catch {
    return null;
  }
  const now = expect.now ?? Date.now();
  if (v.version !== VIEWS_VERSION || v.ref !== expect.ref || v.commit !== expect.commit) return null;
  if (v.wisp_stamp !== expect.wispStamp) return null;
  if (v.valid_until !== null && now >= v.valid_until) return null;
  return new Views(v);
}

/** Rows of the given ids from the rows file; null if the file is gone or a row does not match. */
export function readRows(file: string, views: Views, ids: string[]): Map<string, BeadSummary> | null {
  const dir = path.dirname(file);
  let fd: number;
  try {
    fd = fs.openSync(path.join(dir, views.rowsFile), 'r');
  } catch {
    return null;
  }
  try {
    const out = new Map<string, BeadSummary>();
    for (const id of ids) {
      const at = views.location(id);
      if (!at) continue;
      const buf = Buffer.allocUnsafe(at[1]);
      if (fs.readSync(fd, buf, 0, at[1], at[0]) !== at[1]) return null;
      let row: BeadSummary;
      try {
        row = JSON.parse(buf.toString('utf8'));
      } catch {
        return null;
      }
      if (row.id !== id) return null;
      out.set(id, row);
    }
    return out;
  } finally {
    fs.closeSync(fd);
  }
}

let tmpCounter = 0;

function writeAtomic(file: string, data: Buffer): void {
  const tmp = `${file}.tmp.${process.pid}.${++tmpCounter}`;
  fs.writeFileSync(tmp, data);
  fs.renameSync(tmp, file);
}

export interface ViewsInput {
  ref: string;
  commit: string | null;
  wispStamp: number;
  graph: Graph;
  blocked: Set<string>;
  /** Version key of each bead's row (blob oid; wisps: their updated_at). */
  keyOf(id: string): string;
  now?: number;
}

/**
 * Compute and save the views; returns false when another process holds the views lock (it is
 * saving the same thing) or on any I/O error (views are disposable).
 */
export function saveViews(file: string, input: ViewsInput): boolean {
  const lock = new FileLock(`${file}.lock`);
  try {
    lock.acquire(50);
  } catch {
    return false;
  }
  try {
    const now = input.now ?? Date.now();
    const g = input.graph;
    const prev = loadAnyViews(file, input.ref);
    const dir = path.dirname(file);
    // Reuse rows whose version key did not change; append the rest.
    const rows: Record<string, [number, number, string]> = {};
    const fresh: BeadSummary[] = [];
    let live = 0;
    const prevRows = prev?.allRows();
    for (const b of g.byId.values()) {
      const key = input.keyOf(b.id);
      const old = prevRows?.get(b.id);
      if (old && old[2] === key) {
        rows[b.id] = old;
        live += old[1] + 1;
      } else fresh.push(b);
    }
    let rowsFile = prev?.rowsFile ?? `${path.basename(file, '.views.json')}.rows.1.jsonl`;
    let size = 0;
    try {
      size = fs.statSync(path.join(dir, rowsFile)).size;
    } catch {
      size = 0;
    }
    const freshBytes = fresh.map((b) => Buffer.from(JSON.stringify(b), 'utf8'));
    const addBytes = freshBytes.reduce((n, b) => n + b.length + 1, 0);
    const rewrite = !prev || size === 0 || size + addBytes > 2 * (live + addBytes) + 65536;
    if (rewrite) {
      // A new generation: every row written afresh into a new file.
      const gen = Number(/\.rows\.(\d+)\.jsonl$/.exec(rowsFile)?.[1] ?? 0) + 1;
      const oldFile = prev ? path.join(dir, prev.rowsFile) : null;
      rowsFile = `${path.basename(file, '.views.json')}.rows.${gen}.jsonl`;
      const parts: Buffer[] = [];
      let off = 0;
      for (const b of g.byId.values()) {
        const bytes = Buffer.from(JSON.stringify(b), 'utf8');
        rows[b.id] = [off, bytes.length, input.keyOf(b.id)];
        parts.push(bytes, Buffer.from('\n'));
        off += bytes.length + 1;
      }
      writeAtomic(path.join(dir, rowsFile), Buffer.concat(parts));
      if (oldFile && oldFile !== path.join(dir, rowsFile)) fs.rmSync(oldFile, { force: true });
    } else if (fresh.length) {
      const fd = fs.openSync(path.join(dir, rowsFile), 'a');
      try {
        let off = fs.fstatSync(fd).size;
        const parts: Buffer[] = [];
        fresh.forEach((b, i) => {
          rows[b.id] = [off, freshBytes[i].length, input.keyOf(b.id)];
          parts.push(freshBytes[i], Buffer.from('\n'));
          off += freshBytes[i].length + 1;
        });
        fs.writeSync(fd, Buffer.concat(parts));
      } finally {
        fs.closeSync(fd);
      }
    }
    // The views themselves.
    const ready = sortBeads(readyWork(g, input.blocked, { now }), 'priority', now).map((b) => b.id);
    const open = sortBeads(
      [...g.byId.values()].filter((b) => b.status !== 'closed' && !b.ephemeral),
      'priority',
      now,
    ).map((b) => b.id);
    const blocked = blockedEntries(g, input.blocked).map(
      (e) => [e.bead.id, e.blocked_by] as [string, string[]],
    );
    const dependents: string[] = [];
    for (const [target, ids] of g.dependents) {
      const list = ids.map((id) => {
        const edge = g.byId.get(id)?.dependencies?.find((d) => d.depends_on_id === target);
        return `${id}:${edge?.type ?? 'related'}`;
      });
      dependents.push(`${target}\t${list.join(',')}`);
    }
    let validUntil: number | null = null;
    for (const b of g.byId.values()) {
      const t = b.defer_until ? Date.parse(b.defer_until) : Number.NaN;
      if (t > now && (validUntil === null || t < validUntil)) validUntil = t;
    }
    const views: ViewsFile = {
      version: VIEWS_VERSION,
      ref: input.ref,
      commit: input.commit,
      wisp_stamp: input.wispStamp,
      valid_until: validUntil,
      rows_file: rowsFile,
      rows: Object.entries(rows)
        .map(([id, [off, len, key]]) => `${id}\t${off}\t${len}\t${key}`)
        .join('\n'),
      ready: ready.map((id) => `${id}\t${rows[id][0]}\t${rows[id][1]}`).join('\n'),
      open: open.map((id) => `${id}\t${rows[id][0]}\t${rows[id][1]}`).join('\n'),
      blocked: blocked.map(([id, by]) => `${id}\t${rows[id][0]}\t${rows[id][1]}\t${by.join(',')}`).join('\n'),
      dependents: dependents.join('\n'),
    };
    const body = Buffer.from(JSON.stringify(views), 'utf8');
    writeAtomic(file, Buffer.concat([body, Buffer.from(`\n${sha1(body)}`, 'latin1')]));
    return true;
  } catch {
    return false;
  } finally {
    lock.release();
  }
}

/** Previous views of any commit (for row reuse); null when missing or damaged. */
function loadAnyViews(file: string, ref: string): Views | null {
  try {
    const raw = fs.readFileSync(file);
    const nl = raw.lastIndexOf(10);
    if (nl < 0 || sha1(raw.subarray(0, nl)) !== raw.toString('latin1', nl + 1)) return null;
    const v = JSON.parse(raw.toString('utf8', 0, nl)) as ViewsFile;
    return v.version === VIEWS_VERSION && v.ref === ref ? new Views(v) : null;
  } catch {
    return null;
  }
}
