// Git object encoding and loose-object I/O. Writing a loose object is a hash, a deflate and
// an atomic rename; doing it in process with node:zlib avoids a git spawn per object and is
// several times faster than isomorphic-git's pure-JS deflate. Reads fall back to
// `git cat-file --batch` for objects that live in packs.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { git } from './repo.ts';

export type ObjectType = 'blob' | 'tree' | 'commit';

export interface TreeEntry {
  mode: string; // '100644' | '100755' | '40000' | '120000' | '160000'
  name: string;
  oid: string;
}

export const TREE_MODE = '40000';
export const FILE_MODE = '100644';

export function encodeObject(type: ObjectType, body: Buffer): { oid: string; raw: Buffer } {
  const raw = Buffer.concat([Buffer.from(`${type} ${body.length}\0`), body]);
  const oid = crypto.createHash('sha1').update(raw).digest('hex');
  return { oid, raw };
}

export function hashObject(type: ObjectType, body: Buffer): string {
  return encodeObject(type, body).oid;
}

export function loosePath(commonDir: string, oid: string): string {
  return path.join(commonDir, 'objects', oid.slice(0, 2), oid.slice(2));
}

let tmpCounter = 0;

/** Write an object as a loose file (temp + rename, so a crash never leaves a torn object). */
export function writeObject(commonDir: string, type: ObjectType, body: Buffer): string {
  const { oid, raw } = encodeObject(type, body);
  const file = loosePath(commonDir, oid);
  if (fs.existsSync(file)) return oid;
  const dir = path.dirname(file);
  fs.mkdirSync(dir, { recursive: true });
  const tmp = path.join(dir, `tmp_obj_${process.pid}_${++tmpCounter}`);
  fs.writeFileSync(tmp, zlib.deflateSync(raw, { level: 1 }), { mode: 0o444 });
  fs.renameSync(tmp, file);
  return oid;
}

/** Read a loose object in process; null when it is not loose (packed or missing). */
export function readLooseObject(commonDir: string, oid: string): { type: string; body: Buffer } | null {
  let data: Buffer;
  try {
    data = fs.readFileSync(loosePath(commonDir, oid));
  } catch {
    return null;
  }
  const raw = zlib.inflateSync(data);
  const nul = raw.indexOf(0);
  const header = raw.subarray(0, nul).toString('latin1');
  const [type, size] = header.split(' ');
  const body = raw.subarray(nul + 1);
  if (Number(size) !== body.length) throw new Error(`corrupt loose object ${oid}: size mismatch`);
  return { type, body };
}

/**
 * Read many objects: loose ones in process, the rest through one `git cat-file --batch`.
 * Missing objects are absent from the result.
 */
export function readObjects(commonDir: string, oids: string[]): Map<string, { type: string; body: Buffer }> {
  const out = new Map<string, { type: string; body: Buffer }>();
  const packed: string[] = [];
  for (const oid of oids) {
    if (out.has(oid)) continue;
    const obj = readLooseObject(commonDir, oid);
    if (obj) out.set(oid, obj);
    else packed.push(oid);
  }
  if (packed.length === 0) return out;
  const buf = git(commonDir, ['--git-dir', commonDir, 'cat-file', '--batch'], {
    input: `${packed.join('\n')}\n`,
    raw: true,
  });
  let pos = 0;
  while (pos < buf.length) {
    const nl = buf.indexOf(10, pos);
    if (nl < 0) break;
    const header = buf.subarray(pos, nl).toString('latin1');
    pos = nl + 1;
    const parts = header.split(' ');
    if (parts[1] === 'missing' || parts.length < 3) continue;
    const size = Number(parts[2]);
    out.set(parts[0], { type: parts[1], body: buf.subarray(pos, pos + size) });
    pos += size + 1;
  }
  return out;
}

export function readObject(commonDir: string, oid: string): { type: string; body: Buffer } | null {
  return readObjects(commonDir, [oid]).get(oid) ?? null;
}

/** Git orders tree entries by name, comparing directories as if their name ended in '/'. */
function treeSortKey(e: TreeEntry): string {
  return e.mode === TREE_MODE ? `${e.name}/` : e.name;
}

export function serializeTree(entries: TreeEntry[]): Buffer {
  const sorted = [...entries].sort((a, b) => {
    const ka = treeSortKey(a);
    const kb = treeSortKey(b);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
  const parts: Buffer[] = [];
  for (const e of sorted) {
    parts.push(Buffer.from(`${e.mode} ${e.name}\0`), Buffer.from(e.oid, 'hex'));
  }
  return Buffer.concat(parts);
}

export function parseTree(body: Buffer): TreeEntry[] {
  const out: TreeEntry[] = [];
  let pos = 0;
  while (pos < body.length) {
    const sp = body.indexOf(32, pos);
    const nul = body.indexOf(0, sp);
    const mode = body.subarray(pos, sp).toString('latin1');
    const name = body.subarray(sp + 1, nul).toString('utf8');
    const oid = body.subarray(nul + 1, nul + 21).toString('hex');
    out.push({ mode, name, oid });
    pos = nul + 21;
  }
  return out;
}

export interface Signature {
  name: string;
  email: string;
  /** Seconds since the epoch. */
  time: number;
}

function formatSignature(s: Signature): string {
  // Angle brackets and newlines would corrupt the header; git strips them the same way.
  const clean = (v: string) => v.replace(/[<>\n]/g, '').trim();
  return `${clean(s.name) || 'unknown'} <${clean(s.email)}> ${s.time} +0000`;
}

export function serializeCommit(c: {
  tree: string;
  parents: string[];
  author: Signature;
  committer: Signature;
  message: string;
}): Buffer {
  const lines = [`tree ${c.tree}`];
  for (const p of c.parents) lines.push(`parent ${p}`);
  lines.push(`author ${formatSignature(c.author)}`, `committer ${formatSignature(c.committer)}`, '');
  const msg = c.message.endsWith('\n') ? c.message : `${c.message}\n`;
  return Buffer.from(lines.join('\n') + '\n' + msg, 'utf8');
}

export function parseCommitTree(body: Buffer): string {
  const m = /^tree ([0-9a-f]{40})/.exec(body.toString('latin1'));
  if (!m) throw new Error('commit without a tree');
  return m[1];
}
