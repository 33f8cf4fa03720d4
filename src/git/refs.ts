// Reading refs and moving them with compare-and-swap, following git's own protocol:
// create `<ref>.lock` exclusively, check the old value, write the new one, rename over the ref.
// The rename is atomic, so a kill at any moment leaves the ref on the old or the new commit.
import fs from 'node:fs';
import path from 'node:path';

const OID = /^[0-9a-f]{40}$/;

export function isValidRefName(ref: string): boolean {
  return (
    /^refs\/[A-Za-z0-9._/-]+$/.test(ref) &&
    !ref.includes('..') &&
    !ref.includes('//') &&
    !ref.endsWith('/') &&
    !ref.endsWith('.lock') &&
    !/(^|\/)\./.test(ref)
  );
}

function refPath(commonDir: string, ref: string): string {
  if (!isValidRefName(ref)) throw new Error(`invalid ref name: ${ref}`);
  return path.join(commonDir, ...ref.split('/'));
}

/** Current oid of a ref (loose file first, then packed-refs), or null when it does not exist. */
export function readRef(commonDir: string, ref: string): string | null {
  try {
    const v = fs.readFileSync(refPath(commonDir, ref), 'utf8').trim();
    if (OID.test(v)) return v;
    if (v === '') return null;
    throw new Error(`ref ${ref} holds an unexpected value: ${v.slice(0, 60)}`);
  } catch (e: any) {
    if (e.code !== 'ENOENT' && e.code !== 'ENOTDIR') throw e;
  }
  let packed: string;
  try {
    packed = fs.readFileSync(path.join(commonDir, 'packed-refs'), 'utf8');
  } catch {
    return null;
  }
  for (const line of packed.split('\n')) {
    if (line.length > 41 && line.charCodeAt(40) === 32 && line.slice(41) === ref) return line.slice(0, 40);
  }
  return null;
}

export class RefLockedError extends Error {}

/** A git ref `.lock` older than this is left over from a killed process: updates take microseconds. */
const STALE_REF_LOCK_MS = 2000;

/**
 * Move `ref` from `oldOid` (null = must not exist) to `newOid`. Returns false when the ref
 * no longer holds `oldOid` (the race was lost); throws RefLockedError when another update
 * holds git's lock right now.
 */
export function compareAndSwapRef(
  commonDir: string,
  ref: string,
  newOid: string,
  oldOid: string | null,
): boolean {
  if (!OID.test(newOid)) throw new Error(`not an object id: ${newOid}`);
  const file = refPath(commonDir, ref);
  const lock = `${file}.lock`;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  let fd: number;
  try {
    fd = fs.openSync(lock, 'wx');
  } catch (e: any) {
    if (e.code !== 'EEXIST') throw e;
    let age = 0;
    try {
      age = Date.now() - fs.statSync(lock).mtimeMs;
    } catch {
      // vanished meanwhile: just report busy and let the caller retry
    }
    if (age > STALE_REF_LOCK_MS) fs.rmSync(lock, { force: true });
    throw new RefLockedError(`ref ${ref} is locked by another update (${lock})`);
  }
  try {
    const current = readRef(commonDir, ref);
    if (current !== oldOid) {
      fs.closeSync(fd);
      fs.rmSync(lock, { force: true });
      return false;
    }
    fs.writeSync(fd, `${newOid}\n`);
    fs.closeSync(fd);
    fs.renameSync(lock, file);
    return true;
  } catch (e) {
    try {
      fs.closeSync(fd);
    } catch {
      // already closed
    }
    fs.rmSync(lock, { force: true });
    throw e;
  }
}
