// The ledger's read index: for the commit it reflects, every file's blob oid plus a small
// summary of its record, and every directory's tree oid. It lives outside the ref (under
// `<git-common-dir>/gt/cache/`), is disposable, and carries a checksum so a torn or edited
// file is detected and rebuilt rather than trusted.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const INDEX_VERSION = 3;

export interface FileEntry {
  oid: string;
  mode: string;
  /** Summary of the parsed record (what list/ready need), or null for files that are not records. */
  s: any;
  /** Set when the record failed to parse; the message names the problem. */
  err?: string;
}

export interface IndexData {
  version: number;
  ref: string;
  commit: string | null;
  /** Directory path ('' is the root) → tree oid. */
  trees: Record<string, string>;
  /** File path → entry. */
  files: Record<string, FileEntry>;
  /** Version tag of the summarizer that produced `s`; a change forces a rebuild. */
  schema: string;
}

export function emptyIndex(ref: string, schema: string): IndexData {
  return { version: INDEX_VERSION, ref, commit: null, trees: {}, files: {}, schema };
}

export function indexPath(commonDir: string, ref: string): string {
  return path.join(commonDir, 'gt', 'cache', `${ref.replace(/\//g, '_')}.json`);
}

export type LoadResult = { ok: true; index: IndexData } | { ok: false; reason: string };

export function loadIndex(file: string, ref: string, schema: string): LoadResult {
  // Read and checksum bytes, not a string: hashing a 5 MB string re-encodes it to UTF-8 first.
  let raw: Buffer;
  try {
    raw = fs.readFileSync(file);
  } catch {
    return { ok: false, reason: 'missing' };
  }
  const nl = raw.lastIndexOf(10);
  if (nl < 0 || sha1(raw.subarray(0, nl)) !== raw.toString('latin1', nl + 1)) {
    return { ok: false, reason: 'checksum mismatch (torn or edited cache file)' };
  }
  const body = raw.toString('utf8', 0, nl);
  let index: IndexData;
  try {
    index = JSON.parse(body);
  } catch (e: any) {
    return { ok: false, reason: `unparsable: ${e.message}` };
  }
  if (index.version !== INDEX_VERSION) return { ok: false, reason: `old cache version ${index.version}` };
  if (index.ref !== ref) return { ok: false, reason: `cache is for ${index.ref}` };
  if (index.schema !== schema) return { ok: false, reason: 'record summary format changed' };
  return { ok: true, index };
}

let tmpCounter = 0;

export function saveIndex(file: string, index: IndexData): void {
  const body = Buffer.from(JSON.stringify(index), 'utf8');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp.${process.pid}.${++tmpCounter}`;
  fs.writeFileSync(tmp, Buffer.concat([body, Buffer.from(`\n${sha1(body)}`, 'latin1')]));
  fs.renameSync(tmp, file);
}

function sha1(data: Buffer): string {
  return crypto.createHash('sha1').update(data).digest('hex');
}
