// The message model: a bead of type `message` in the town ledger (or a wisp in the operational
// plane). title = subject, description = body, assignee = the recipient's address, sender = from;
// labels carry the rest (spec §3.1): from:, thread:, reply-to:, msg-type:, cc:, queue:, channel:,
// claimed-by:, claimed-at:, read. Priority maps low 3, normal 2, high 1, urgent 0.
import fs from 'node:fs';
import path from 'node:path';
import type { BeadStore } from '../beads/store.ts';
import type { Bead } from '../beads/types.ts';
import { UsageError } from '../errors.ts';
import { readJsonOr, readRigs } from '../town/files.ts';
import { type Identity, ROLES, workDirOf } from '../town/identity.ts';
import { rigPaths, townPaths } from '../town/paths.ts';
import type { MessagingConfig, TownView } from './address.ts';

export const READ = 'read';
export type Priority = 'low' | 'normal' | 'high' | 'urgent';
export const PRIORITIES: Priority[] = ['urgent', 'high', 'normal', 'low'];
export const MSG_TYPES = ['task', 'escalation', 'scavenge', 'notification', 'reply'] as const;

export function priorityNumber(p: Priority): number {
  return { urgent: 0, high: 1, normal: 2, low: 3 }[p];
}
export function priorityName(n: number | undefined): Priority {
  return n === 0 ? 'urgent' : n === 1 ? 'high' : n === 3 || n === 4 ? 'low' : 'normal';
}

export function parsePriority(v: string | undefined): Priority {
  const p = (v ?? 'normal').toLowerCase();
  if ((PRIORITIES as string[]).includes(p)) return p as Priority;
  const n = /^p?([0-4])$/i.exec(p);
  if (n) return priorityName(Number(n[1]));
  throw new UsageError(`invalid priority "${v}": use low, normal, high or urgent`);
}

export function parseMsgType(v: string | undefined): string {
  const t = (v ?? 'notification').toLowerCase();
  if (!(MSG_TYPES as readonly string[]).includes(t)) {
    throw new UsageError(`invalid message type "${v}": use ${MSG_TYPES.join(', ')}`);
  }
  return t;
}

/** A message as commands show it. */
export interface Message {
  id: string;
  from: string;
  to: string;
  subject: string;
  body?: string;
  timestamp: string;
  read: boolean;
  status: string;
  priority: Priority;
  type: string;
  thread_id?: string;
  reply_to?: string;
  pinned: boolean;
  wisp: boolean;
  cc: string[];
  queue?: string;
  channel?: string;
  claimed_by?: string;
  claimed_at?: string;
  /** How it interrupts: `queue` (notify when idle) or `interrupt` (typed at once). */
  delivery: 'queue' | 'interrupt';
  /** Two-phase delivery: pending until the recipient reads it. */
  delivery_state: 'pending' | 'acked';
  delivery_acked_by?: string;
  delivery_acked_at?: string;
}

type MsgLike = Pick<Bead, 'id' | 'title' | 'status' | 'assignee' | 'created_at' | 'priority' | 'labels'> &
  Partial<Pick<Bead, 'description' | 'sender' | 'created_by' | 'pinned' | 'ephemeral'>>;

export function label(b: { labels?: string[] }, key: string): string | undefined {
  const l = (b.labels ?? []).find((x) => x.startsWith(`${key}:`));
  return l?.slice(key.length + 1);
}
export function labelsOf(b: { labels?: string[] }, key: string): string[] {
  return (b.labels ?? []).filter((x) => x.startsWith(`${key}:`)).map((x) => x.slice(key.length + 1));
}

export function isRead(b: { status: string; labels?: string[] }): boolean {
  return b.status === 'closed' || (b.labels ?? []).includes(READ);
}

export function toMessage(b: MsgLike): Message {
  return {
    id: b.id,
    from: label(b, 'from') ?? b.sender ?? b.created_by ?? '',
    to: b.assignee ?? '',
    subject: b.title,
    ...(b.description !== undefined ? { body: b.description ?? '' } : {}),
    timestamp: b.created_at,
    read: isRead(b),
    status: b.status,
    priority: priorityName(b.priority),
    type: label(b, 'msg-type') ?? 'notification',
    thread_id: label(b, 'thread'),
    reply_to: label(b, 'reply-to'),
    pinned: !!b.pinned,
    wisp: !!b.ephemeral,
    cc: labelsOf(b, 'cc'),
    queue: label(b, 'queue'),
    channel: label(b, 'channel'),
    claimed_by: label(b, 'claimed-by'),
    claimed_at: label(b, 'claimed-at'),
    delivery: label(b, 'delivery-mode') === 'interrupt' ? 'interrupt' : 'queue',
    delivery_state:
      label(b, 'delivery') === 'acked' || (!label(b, 'delivery') && isRead(b)) ? 'acked' : 'pending',
    delivery_acked_by: label(b, 'delivery-acked-by'),
    delivery_acked_at: label(b, 'delivery-acked-at'),
  };
}

/** The town as address resolution sees it: rigs, agent beads, crew clones, messaging config. */
export function townView(townRoot: string, store: BeadStore): TownView {
  const rigs = Object.keys(readRigs(townRoot)).sort();
  const agents: Identity[] = [];
  for (const s of store.summaries()) {
    if (s.issue_type !== 'agent' || s.status === 'closed') continue;
    const m = (s.metadata ?? {}) as { role?: string; rig?: string; name?: string };
    if (!m.role || !(ROLES as string[]).includes(m.role)) continue;
    agents.push({
      role: m.role as Identity['role'],
      ...(m.rig ? { rig: m.rig } : {}),
      ...(m.name ? { name: m.name } : {}),
    });
  }
  const crewCache = new Map<string, string[]>();
  return {
    rigs,
    agents,
    crew(rig) {
      let c = crewCache.get(rig);
      if (!c) {
        c = rigs.includes(rig) ? listDirs(rigPaths(townRoot, rig).crewDir) : [];
        crewCache.set(rig, c);
      }
      return c;
    },
    messaging: readMessaging(townRoot),
    workspaceExists(id) {
      if (id.rig && !rigs.includes(id.rig)) return false;
      try {
        const dir = workDirOf(id, townRoot);
        return path.resolve(dir).startsWith(path.resolve(townRoot) + path.sep) && fs.existsSync(dir);
      } catch {
        return false;
      }
    },
  };
}

function listDirs(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}

export function readMessaging(townRoot: string): MessagingConfig {
  return readJsonOr<MessagingConfig>(townPaths(townRoot).messagingJson, 'config/messaging.json', {
    type: 'messaging',
    version: 1,
  });
}
