// The ledger's writer lock: a file created exclusively, holding the owner's pid and host.
// Why not proper-lockfile: it can only detect a dead owner by an mtime timeout (seconds),
// while a pid check on the same host recovers a lock left by `kill -9` at once. Stealing a
// stale lock can race with another stealer; that is harmless because the ref itself moves by
// compare-and-swap, so two writers can never both win.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EXIT, GtError } from '../errors.ts';

export class LockTimeoutError extends GtError {
  constructor(
    readonly lockPath: string,
    readonly holder: string,
  ) {
    super(
      `the ledger lock is held (${holder}); another command is writing. ` +
        `If no gt/bd process is running, run \`bd doctor --fix\` to clear it (${lockPath})`,
      EXIT.lockHeld,
    );
  }
}

interface Holder {
  pid: number;
  host: string;
  time: number;
  nonce: string;
}

/** A lock older than this is considered abandoned even when its owner looks alive (e.g. another host). */
const ABANDONED_MS = 120_000;

const sleeper = new Int32Array(new SharedArrayBuffer(4));
export function sleepSync(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e: any) {
    return e.code === 'EPERM';
  }
}

function readHolder(file: string): { holder: Holder | null; ageMs: number } | null {
  let raw: string;
  let ageMs: number;
  try {
    raw = fs.readFileSync(file, 'utf8');
    ageMs = Date.now() - fs.statSync(file).mtimeMs;
  } catch {
    return null;
  }
  try {
    return { holder: JSON.parse(raw) as Holder, ageMs };
  } catch {
    return { holder: null, ageMs };
  }
}

/** Why a lock file is stale, or null when its owner may still be working. */
export function staleReason(file: string): string | null {
  const info = readHolder(file);
  if (!info) return null;
  const { holder, ageMs } = info;
  if (!holder) return ageMs > 1000 ? 'unreadable lock file' : null;
  if (holder.host === os.hostname() && !pidAlive(holder.pid)) return `owner pid ${holder.pid} is dead`;
  if (ageMs > ABANDONED_MS) return `held for ${Math.round(ageMs / 1000)}s`;
  return null;
}

export function describeHolder(file: string): string {
  const info = readHolder(file);
  if (!info?.holder) return 'unknown owner';
  return `pid ${info.holder.pid} on ${info.holder.host}, ${Math.round(info.ageMs / 1000)}s`;
}

export class FileLock {
  private nonce: string | null = null;
  constructor(readonly file: string) {}

  acquire(timeoutMs = 30_000): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const deadline = Date.now() + timeoutMs;
    let wait = 1;
    for (;;) {
      const nonce = crypto.randomBytes(6).toString('hex');
      const holder: Holder = { pid: process.pid, host: os.hostname(), time: Date.now(), nonce };
      try {
        fs.writeFileSync(this.file, JSON.stringify(holder), { flag: 'wx' });
        this.nonce = nonce;
        return;
      } catch (e: any) {
        if (e.code !== 'EEXIST') throw e;
      }
      if (staleReason(this.file)) {
        fs.rmSync(this.file, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new LockTimeoutError(this.file, describeHolder(this.file));
      sleepSync(wait + Math.random() * wait);
      wait = Math.min(wait * 2, 20);
    }
  }

  release(): void {
    if (!this.nonce) return;
    const info = readHolder(this.file);
    // Only remove our own lock: after a steal it may belong to someone else.
    if (info?.holder?.nonce === this.nonce) fs.rmSync(this.file, { force: true });
    this.nonce = null;
  }
}
