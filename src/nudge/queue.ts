// The nudge queue (spec §3.6): nudges that could not be typed into a session right away wait as
// one JSON file each under `<town>/.runtime/nudge_queue/<session>/<ts>-<rand>.json`, in the
// operational plane (never committed). They are drained at the agent's next turn boundary
// (`gt mail check --inject`) or by `gt nudge-poller` for agents without hooks.
//
// Rules, all decided here:
//  - Files are written atomically (temp + rename); only names `<digits>-<hex>.json` count, so a
//    temp file is never read half-written.
//  - TTL from settings: `operational.nudge.ttl_normal` (30m) and `ttl_urgent` (2h). Expired
//    nudges are discarded by every enqueue and every drain, never delivered.
//  - Depth limit `operational.nudge.queue_depth` (50) pending nudges. A full queue drops its
//    *oldest normal* nudge to make room (the newest news wins, urgent ones are kept); when every
//    pending nudge is urgent the new one is refused with a ConflictError (exit 4), nothing
//    written. The check is not atomic with other writers: two concurrent enqueues may overshoot
//    the limit by one each, which is harmless for a soft cap.
//  - Claiming = renaming `<name>.json` to `<name>.json.claimed` (atomic: of two drainers one
//    wins, the other gets ENOENT and skips it). A `.claimed` file whose change time is older
//    than 5 minutes belongs to a drainer that died: it is renamed back and delivered again.
//    (rename updates the change time, so a fresh claim never looks orphaned.)
//  - Drain order: urgent first, then oldest first. Nudges whose `deliver_after` is in the future
//    stay queued.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../beads/wisps.ts';
import { ConflictError, UsageError } from '../errors.ts';
import { validateSessionName } from '../runtime/tmux.ts';
import { townPaths } from '../town/paths.ts';
import { durationMs, settingValue } from '../town/settings.ts';

export type NudgePriority = 'normal' | 'urgent';

/** What a caller gives to enqueue. */
export interface NudgeInput {
  sender: string;
  message: string;
  priority?: NudgePriority;
  kind?: string;
  thread_id?: string;
  severity?: string;
  /** ISO time before which the nudge is not delivered. */
  deliver_after?: string;
}

/** One queued nudge as stored on disk. */
export interface QueuedNudge {
  sender: string;
  message: string;
  priority: NudgePriority;
  kind: string;
  thread_id?: string;
  severity?: string;
  timestamp: string;
  expires_at: string;
  deliver_after?: string;
}

export interface QueueOptions {
  env?: NodeJS.ProcessEnv;
  /** The current time in ms (tests). */
  now?: number;
}

export const ORPHAN_CLAIM_MS = 5 * 60 * 1000;
const FILE_RE = /^\d{16}-[0-9a-f]{8}\.json$/;
const CLAIMED_RE = /^\d{16}-[0-9a-f]{8}\.json\.claimed$/;

export function queueDir(townRoot: string, session: string): string {
  validateSessionName(session);
  return path.join(townPaths(townRoot).runtimeDir, 'nudge_queue', session);
}

function ttlMs(townRoot: string, priority: NudgePriority, env?: NodeJS.ProcessEnv): number {
  const key = priority === 'urgent' ? 'operational.nudge.ttl_urgent' : 'operational.nudge.ttl_normal';
  return durationMs(settingValue(key, { townRoot, env }), key);
}

export function queueDepthLimit(townRoot: string, env?: NodeJS.ProcessEnv): number {
  const key = 'operational.nudge.queue_depth';
  const v = Number(settingValue(key, { townRoot, env }));
  if (!Number.isInteger(v) || v < 1) throw new UsageError(`setting ${key} = ${v} must be a whole number ≥ 1`);
  return v;
}

let seq = 0;
/** A sortable stamp: milliseconds × 1000 plus a per-process sequence, 16 digits. */
function stamp(now: number): string {
  seq = (seq + 1) % 1000;
  return String(now * 1000 + seq).padStart(16, '0');
}

function readNudge(file: string): QueuedNudge | null {
  try {
    const n = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (!n || typeof n.message !== 'string' || typeof n.sender !== 'string') return null;
    return n as QueuedNudge;
  } catch {
    return null;
  }
}

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch (e: any) {
    if (e.code === 'ENOENT') return [];
    throw e;
  }
}

const expired = (n: QueuedNudge, now: number) => !(Date.parse(n.expires_at) > now);

/** Rename orphaned claims (a drainer died holding them) back into the queue; returns how many. */
export function recoverOrphanedClaims(townRoot: string, session: string, o: QueueOptions = {}): number {
  const dir = queueDir(townRoot, session);
  const now = o.now ?? Date.now();
  let n = 0;
  for (const f of listDir(dir)) {
    if (!CLAIMED_RE.test(f)) continue;
    const p = path.join(dir, f);
    try {
      const st = fs.statSync(p);
      if (now - Math.max(st.mtimeMs, st.ctimeMs) < ORPHAN_CLAIM_MS) continue;
      fs.renameSync(p, p.slice(0, -'.claimed'.length));
      n++;
    } catch (e: any) {
      if (e.code !== 'ENOENT') throw e;
    }
  }
  return n;
}

/** The pending (unclaimed) nudges with their files, expired ones removed. */
function pending(dir: string, now: number): { file: string; n: QueuedNudge }[] {
  const out: { file: string; n: QueuedNudge }[] = [];
  for (const f of listDir(dir)) {
    if (!FILE_RE.test(f)) continue;
    const file = path.join(dir, f);
    const n = readNudge(file);
    if (!n || expired(n, now)) {
      fs.rmSync(file, { force: true });
      continue;
    }
    out.push({ file, n });
  }
  return out;
}

const order = (a: { file: string; n: QueuedNudge }, b: { file: string; n: QueuedNudge }) =>
  (a.n.priority === 'urgent' ? 0 : 1) - (b.n.priority === 'urgent' ? 0 : 1) ||
  (path.basename(a.file) < path.basename(b.file) ? -1 : 1);

/** Put a nudge in a session's queue; returns the stored nudge and what made room for it. */
export function enqueueNudge(
  townRoot: string,
  session: string,
  input: NudgeInput,
  o: QueueOptions = {},
): { file: string; nudge: QueuedNudge; dropped: string[] } {
  const dir = queueDir(townRoot, session);
  const priority = input.priority ?? 'normal';
  if (priority !== 'normal' && priority !== 'urgent')
    throw new UsageError(`priority ${JSON.stringify(priority)} must be normal or urgent`);
  if (typeof input.message !== 'string' || input.message.trim() === '')
    throw new UsageError('a nudge needs a message');
  if (input.deliver_after !== undefined && Number.isNaN(Date.parse(input.deliver_after)))
    throw new UsageError(`deliver_after ${JSON.stringify(input.deliver_after)} is not a date`);
  const now = o.now ?? Date.now();
  const limit = queueDepthLimit(townRoot, o.env);
  const ttl = ttlMs(townRoot, priority, o.env);
  const dropped: string[] = [];
  const waiting = pending(dir, now).sort((a, b) => (path.basename(a.file) < path.basename(b.file) ? -1 : 1));
  let excess = waiting.length + 1 - limit;
  if (excess > 0) {
    const normals = waiting.filter((w) => w.n.priority === 'normal');
    if (normals.length < excess)
      throw new ConflictError(
        `the nudge queue of ${session} is full (${waiting.length} of ${limit}, all urgent): the agent is not draining it; check it with \`gt peek\` or raise operational.nudge.queue_depth`,
      );
    for (const w of normals) {
      if (excess <= 0) break;
      fs.rmSync(w.file, { force: true });
      dropped.push(path.basename(w.file));
      excess--;
    }
  }
  const nudge: QueuedNudge = {
    sender: input.sender,
    message: input.message,
    priority,
    kind: input.kind ?? 'nudge',
    ...(input.thread_id ? { thread_id: input.thread_id } : {}),
    ...(input.severity ? { severity: input.severity } : {}),
    timestamp: new Date(now).toISOString(),
    expires_at: new Date(now + ttl).toISOString(),
    ...(input.deliver_after ? { deliver_after: new Date(input.deliver_after).toISOString() } : {}),
  };
  const file = path.join(dir, `${stamp(now)}-${crypto.randomBytes(4).toString('hex')}.json`);
  writeFileAtomic(file, `${JSON.stringify(nudge, null, 2)}\n`);
  return { file, nudge, dropped };
}

/** The pending nudges of a session in drain order, without claiming them. */
export function listQueue(townRoot: string, session: string, o: QueueOptions = {}): QueuedNudge[] {
  const now = o.now ?? Date.now();
  return pending(queueDir(townRoot, session), now)
    .sort(order)
    .map((p) => p.n);
}

/**
 * Claim every deliverable nudge of a session, delete them and return them in drain order
 * (urgent first, then oldest). Expired ones are discarded; `deliver_after` in the future stays.
 */
export function drainQueue(townRoot: string, session: string, o: QueueOptions = {}): QueuedNudge[] {
  const dir = queueDir(townRoot, session);
  const now = o.now ?? Date.now();
  recoverOrphanedClaims(townRoot, session, o);
  const claimed: { file: string; n: QueuedNudge }[] = [];
  for (const p of pending(dir, now)) {
    if (p.n.deliver_after && Date.parse(p.n.deliver_after) > now) continue;
    const c = `${p.file}.claimed`;
    try {
      fs.renameSync(p.file, c);
    } catch (e: any) {
      if (e.code === 'ENOENT') continue; // another drainer won it
      throw e;
    }
    const n = readNudge(c);
    if (n && !expired(n, now)) claimed.push({ file: c, n });
    else fs.rmSync(c, { force: true });
  }
  claimed.sort((a, b) => order({ file: a.file, n: a.n }, { file: b.file, n: b.n }));
  for (const c of claimed) fs.rmSync(c.file, { force: true });
  return claimed.map((c) => c.n);
}
