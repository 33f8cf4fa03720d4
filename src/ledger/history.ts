// The history of one record on a ledger ref: the commits that touched its path, each with who,
// when, the subject, and the record before and after. Two git spawns at most whatever the
// length of the history: one `git log --raw` over the path, then one batch read of the blobs
// (loose ones are read in process, so often only the log). Plus a field-level diff of two
// parsed records, generic over record shapes (the bead layer says how to name list elements).
import { readObjects } from '../git/objects.ts';
import { git } from '../git/repo.ts';
import { parseRecord } from './codec.ts';

const ZERO_OID = '0'.repeat(40);

export interface PathChange {
  commit: string;
  author: { name: string; email: string };
  /** Author date, ISO 8601. */
  date: string;
  subject: string;
  /** A added, M modified, D deleted, T type changed. */
  status: string;
  /** Blob before the commit (null when the path was added). */
  before: string | null;
  /** Blob after the commit (null when the path was deleted). */
  after: string | null;
}

/**
 * Commits on `ref` that changed `filePath`, newest first. Merge commits are compared with their
 * first parent (what the merge changed on the ledger's own line).
 */
export function pathLog(
  commonDir: string,
  ref: string,
  filePath: string,
  opts: { limit?: number } = {},
): PathChange[] {
  const args = [
    '--git-dir',
    commonDir,
    '-c',
    'log.showSignature=false',
    'log',
    '-z',
    '--raw',
    '--no-abbrev',
    '--no-renames',
    '--no-color',
    '--diff-merges=first-parent',
    '--format=%x1e%H%x1f%an%x1f%ae%x1f%aI%x1f%s',
  ];
  if (opts.limit && opts.limit > 0) args.push(`--max-count=${opts.limit}`);
  args.push(ref, '--', filePath);
  const out = git(commonDir, args);
  return parseRawLog(out, filePath);
}

/** Parse `git log -z --raw --format=%x1e%H%x1f%an%x1f%ae%x1f%aI%x1f%s` output. */
export function parseRawLog(out: string, filePath: string): PathChange[] {
  const entries: PathChange[] = [];
  for (const chunk of out.split('\x1e')) {
    if (!chunk) continue;
    const headerEnd = chunk.indexOf('\0');
    const header = headerEnd < 0 ? chunk : chunk.slice(0, headerEnd);
    const [commit, name, email, date, ...subject] = header.split('\x1f');
    if (!/^[0-9a-f]{40}$/.test(commit ?? '')) continue;
    const entry: PathChange = {
      commit,
      author: { name: name ?? '', email: email ?? '' },
      date: date ?? '',
      subject: subject.join('\x1f'),
      status: '',
      before: null,
      after: null,
    };
    // Then `\n:<old mode> <new mode> <old oid> <new oid> <status>\0<path>\0` per changed path.
    const rest = headerEnd < 0 ? [] : chunk.slice(headerEnd + 1).split('\0');
    for (let i = 0; i < rest.length; i++) {
      const meta = rest[i].replace(/^\n/, '');
      if (!meta.startsWith(':')) continue;
      const p = rest[++i];
      if (p !== filePath) continue;
      const [, , oldOid, newOid, status] = meta.slice(1).split(' ');
      entry.status = status.charAt(0);
      entry.before = oldOid === ZERO_OID ? null : oldOid;
      entry.after = newOid === ZERO_OID ? null : newOid;
    }
    if (entry.status) entries.push(entry);
  }
  return entries;
}

export interface RecordVersion {
  /** Parsed record, or undefined when absent (before an add, after a delete) or unparsable. */
  data?: any;
  /** Why the blob could not be read or parsed. */
  error?: string;
}

export interface RecordHistoryEntry extends PathChange {
  action: 'created' | 'updated' | 'deleted';
  beforeRecord: RecordVersion;
  afterRecord: RecordVersion;
}

/**
 * History of a record with both versions parsed (the codec must be loaded). One `git log` and
 * at most one `git cat-file --batch`, for packed blobs.
 */
export function recordHistory(
  commonDir: string,
  ref: string,
  filePath: string,
  opts: { limit?: number } = {},
): RecordHistoryEntry[] {
  const log = pathLog(commonDir, ref, filePath, opts);
  const oids = new Set<string>();
  for (const e of log) {
    if (e.before) oids.add(e.before);
    if (e.after) oids.add(e.after);
  }
  const objs = readObjects(commonDir, [...oids]);
  const parsed = new Map<string, RecordVersion>();
  const version = (oid: string | null): RecordVersion => {
    if (!oid) return {};
    let v = parsed.get(oid);
    if (!v) {
      const obj = objs.get(oid);
      if (!obj) v = { error: `blob ${oid} is missing` };
      else {
        try {
          v = { data: parseRecord(obj.body.toString('utf8')) };
        } catch (e: any) {
          v = { error: String(e.message).split('\n')[0] };
        }
      }
      parsed.set(oid, v);
    }
    return v;
  };
  return log.map((e) => ({
    ...e,
    action: e.before === null ? 'created' : e.after === null ? 'deleted' : 'updated',
    beforeRecord: version(e.before),
    afterRecord: version(e.after),
  }));
}

// ---- field-level diff ------------------------------------------------------------------------

export interface FieldChange {
  /** Field name; nested object keys are dotted (`metadata.team`). */
  field: string;
  /** set: was empty; unset: became empty; change: scalar changed; list: elements added/removed. */
  op: 'set' | 'unset' | 'change' | 'list';
  from?: unknown;
  to?: unknown;
  added?: string[];
  removed?: string[];
  /** Elements present on both sides whose content changed (lists of objects). */
  modified?: string[];
  /** One line for people, e.g. `status: open → closed`, `labels: +auth -ui`, `comments: +1`. */
  text: string;
}

export interface DiffOptions {
  /** Fields left out (e.g. a timestamp bumped on every write). */
  ignore?: Iterable<string>;
  /** How to name an element of a list of objects (default: its `id`, else its JSON). */
  keyOf?: Record<string, (item: any) => string>;
  /** Lists shown as counts (`comments: +1`) rather than element by element. */
  counted?: Iterable<string>;
}

function isEmptyValue(v: unknown): boolean {
  if (v === undefined || v === null || v === '') return true;
  if (Array.isArray(v)) return v.length === 0;
  if (isPlainObject(v)) return Object.keys(v).length === 0;
  return false;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** JSON with sorted object keys, so equal values compare equal whatever their key order. */
export function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(',')}]`;
  if (isPlainObject(v)) {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableJson(v[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

const SHORT_TEXT = 60;

function isLongText(v: unknown): boolean {
  return typeof v === 'string' && (v.length > SHORT_TEXT || v.includes('\n'));
}

function lineCount(s: string): number {
  return s === '' ? 0 : s.split('\n').length;
}

function show(v: unknown): string {
  if (isEmptyValue(v)) return '(none)';
  if (typeof v === 'string') return v;
  return stableJson(v);
}

function scalarText(field: string, from: unknown, to: unknown): string {
  if (isLongText(from) || isLongText(to)) {
    const a = typeof from === 'string' ? from : isEmptyValue(from) ? '' : stableJson(from);
    const b = typeof to === 'string' ? to : isEmptyValue(to) ? '' : stableJson(to);
    if (a === '') return `${field}: set (${lineCount(b)} line${lineCount(b) === 1 ? '' : 's'})`;
    if (b === '') return `${field}: cleared`;
    if (b.startsWith(a)) {
      const extra = lineCount(b) - lineCount(a);
      return extra > 0
        ? `${field}: +${extra} line${extra === 1 ? '' : 's'}`
        : `${field}: appended ${b.length - a.length} chars`;
    }
    return `${field}: edited (${lineCount(a)} → ${lineCount(b)} lines)`;
  }
  return `${field}: ${show(from)} → ${show(to)}`;
}

/**
 * What changed between two versions of a record, field by field, in the record's own key
 * order (fields of `after` first, then the ones only `before` had). Empty values (absent,
 * null, '', [] and {}) are all "none".
 */
export function diffRecords(before: unknown, after: unknown, opts: DiffOptions = {}): FieldChange[] {
  const ignore = new Set(opts.ignore ?? []);
  const counted = new Set(opts.counted ?? []);
  const out: FieldChange[] = [];
  const walk = (a: Record<string, unknown>, b: Record<string, unknown>, prefix: string) => {
    const keys = [...Object.keys(b), ...Object.keys(a).filter((k) => !(k in b))];
    for (const k of keys) {
      const field = prefix + k;
      if (ignore.has(field)) continue;
      const from = a[k];
      const to = b[k];
      const emptyA = isEmptyValue(from);
      const emptyB = isEmptyValue(to);
      if (emptyA && emptyB) continue;
      if (stableJson(from) === stableJson(to)) continue;
      if (Array.isArray(from) || Array.isArray(to)) {
        out.push(listChange(field, emptyA ? [] : from, emptyB ? [] : to, opts.keyOf?.[field], counted));
      } else if ((isPlainObject(from) || emptyA) && (isPlainObject(to) || emptyB)) {
        walk(isPlainObject(from) ? from : {}, isPlainObject(to) ? to : {}, `${field}.`);
      } else {
        out.push({
          field,
          op: emptyA ? 'set' : emptyB ? 'unset' : 'change',
          ...(emptyA ? {} : { from }),
          ...(emptyB ? {} : { to }),
          text: scalarText(field, from, to),
        });
      }
    }
  };
  walk(isPlainObject(before) ? before : {}, isPlainObject(after) ? after : {}, '');
  return out;
}

function listChange(
  field: string,
  from: unknown,
  to: unknown,
  keyOf: ((item: any) => string) | undefined,
  counted: Set<string>,
): FieldChange {
  const a = Array.isArray(from) ? from : [from];
  const b = Array.isArray(to) ? to : [to];
  const key = (item: unknown): string => {
    if (keyOf && isPlainObject(item)) {
      try {
        return keyOf(item);
      } catch {
        return stableJson(item);
      }
    }
    if (isPlainObject(item) && typeof item.id === 'string') return item.id;
    return typeof item === 'string' ? item : stableJson(item);
  };
  const before = new Map(a.map((x) => [key(x), stableJson(x)]));
  const after = new Map(b.map((x) => [key(x), stableJson(x)]));
  const added = [...after.keys()].filter((k) => !before.has(k));
  const removed = [...before.keys()].filter((k) => !after.has(k));
  const modified = [...after.keys()].filter((k) => before.has(k) && before.get(k) !== after.get(k));
  const parts: string[] = [];
  if (counted.has(field)) {
    if (added.length) parts.push(`+${added.length}`);
    if (removed.length) parts.push(`-${removed.length}`);
    if (modified.length) parts.push(`~${modified.length}`);
  } else {
    parts.push(...added.map((k) => `+${k}`), ...removed.map((k) => `-${k}`), ...modified.map((k) => `~${k}`));
  }
  if (parts.length === 0) parts.push('reordered');
  return {
    field,
    op: 'list',
    added,
    removed,
    ...(modified.length ? { modified } : {}),
    text: `${field}: ${parts.join(' ')}`,
  };
}
