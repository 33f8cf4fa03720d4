// Sending mail: resolve the recipients (nothing written when one is bad), write one message
// bead per delivery in ONE ledger commit (wisp mail goes to the operational plane instead and
// is never committed), then notify the recipients' live sessions (failures never fail a send).
import crypto from 'node:crypto';
import { BeadStore, type BeadTx } from '../beads/store.ts';
import type { Bead } from '../beads/types.ts';
import { UsageError } from '../errors.ts';
import { loadCodec } from '../ledger/codec.ts';
import { actorOf, parseIdentity } from '../town/identity.ts';
import { type AnnounceConfig, type ChannelConfig, type Delivery, resolveRecipients } from './address.ts';
import {
  isRead,
  type Message,
  type Priority,
  parseMsgType,
  parsePriority,
  priorityNumber,
  READ,
  toMessage,
  townView,
} from './message.ts';
import { notifyRecipients } from './notify.ts';
import { isWispSubject } from './protocol.ts';

export interface SendInput {
  from: string;
  to: string | string[];
  subject: string;
  body?: string;
  priority?: Priority;
  type?: string;
  cc?: string[];
  replyTo?: string;
  thread?: string;
  pinned?: boolean;
  wisp?: boolean;
  notify?: boolean;
  /** `queue` (default: notified when idle) or `interrupt` (typed into the session at once). */
  delivery?: 'queue' | 'interrupt';
}

export interface SendResult {
  ids: string[];
  recipients: string[];
  wisp: boolean;
}

export function newThreadId(): string {
  return `thread-${crypto.randomBytes(6).toString('hex')}`;
}

function checkLabelValue(v: string, what: string): string {
  const s = v.trim();
  if (!s || /[\n\r\0,]/.test(s) || s.length > 200) {
    throw new UsageError(`invalid ${what} ${JSON.stringify(v)}: one line, no commas, up to 200 characters`);
  }
  return s;
}

/** Send a message; returns the ids written (one per delivery) and the resolved recipients. */
export async function sendMail(
  townRoot: string,
  input: SendInput,
  opts: { actor?: string } = {},
): Promise<SendResult> {
  const subject = (input.subject ?? '').trim();
  if (!subject) throw new UsageError('a subject is required: gt mail send <to> -s "Subject" -m "Body"');
  if (/[\r\n]/.test(subject)) throw new UsageError('the subject must be one line (put the rest in the body)');
  const from = checkLabelValue(input.from, 'sender');
  const priority = parsePriority(input.priority);
  const delivery = input.delivery ?? 'queue';
  if (delivery !== 'queue' && delivery !== 'interrupt') {
    throw new UsageError(`delivery must be queue or interrupt, got "${String(delivery)}"`);
  }
  const type = parseMsgType(input.type);
  const to = Array.isArray(input.to) ? input.to : [input.to];
  if (to.length === 0) throw new UsageError('no recipient: gt mail send <address...> -s SUBJECT');
  await loadCodec();
  const store = BeadStore.open(townRoot, { actor: opts.actor ?? actorFor(from) });
  const view = townView(townRoot, store);
  const deliveries = resolveRecipients(to, view, { exclude: from });
  const cc = input.cc?.length ? resolveRecipients(input.cc, view).filter((d) => d.kind === 'direct') : [];
  // Each CC'd reader gets a copy of its own (labelled cc:), so reading or archiving it never
  // touches another reader's copy.
  for (const c of cc) if (!deliveries.some((d) => d.to === c.to)) deliveries.push(c);
  // wisp: true forces a wisp, false forces durable mail (--permanent), undefined follows the subject.
  const wisp = input.wisp ?? isWispSubject(subject);
  const thread = input.thread ? checkLabelValue(input.thread, 'thread id') : newThreadId();
  const replyTo = input.replyTo ? checkLabelValue(input.replyTo, 'reply-to id') : undefined;
  const ids = store.transact(`mail: ${subject.slice(0, 60)}`, (tx) => {
    const out: string[] = [];
    const wispAlloc = tx.idAllocator({ infix: 'wisp' });
    const durableAlloc = tx.idAllocator({});
    for (const d of deliveries) {
      // Queue copies are always durable: a claim is a compare-and-swap through the ledger
      // transaction, which wisps (written after the ledger lock is released) cannot give.
      const ephemeral = wisp && d.kind !== 'queue';
      const alloc = ephemeral ? wispAlloc : durableAlloc;
      const labels = new Set<string>([
        `from:${from}`,
        `thread:${thread}`,
        `msg-type:${type}`,
        // Two-phase delivery (spec §3.1): pending until the recipient reads it.
        'delivery:pending',
        `delivery-mode:${delivery}`,
      ]);
      if (replyTo) labels.add(`reply-to:${replyTo}`);
      for (const c of cc) labels.add(`cc:${c.to}`);
      if (d.kind === 'queue') labels.add(`queue:${d.name}`);
      if (d.kind === 'channel') labels.add(`channel:${d.name}`);
      if (d.kind === 'announce') labels.add(`announce:${d.name}`);
      const id = alloc(subject, `${d.to}\n${input.body ?? ''}`);
      const bead: Bead = {
        id,
        title: subject,
        description: input.body ?? '',
        status: 'open',
        priority: priorityNumber(priority),
        issue_type: 'message',
        assignee: d.to,
        owner: tx.store.email(),
        created_at: tx.now,
        created_by: tx.actor,
        updated_at: tx.now,
        labels: [...labels].sort(),
        dependencies: [],
        sender: from,
        ...(ephemeral ? { ephemeral: true } : {}),
        ...(input.pinned ? { pinned: true } : {}),
      };
      tx.put(bead);
      if (!ephemeral) tx.note(`message ${id} to ${d.to}`);
      out.push(id);
    }
    for (const d of deliveries) {
      if (d.kind !== 'channel' && d.kind !== 'announce') continue;
      const cfg =
        d.kind === 'channel' ? view.messaging.channels?.[d.name!] : view.messaging.announces?.[d.name!];
      const keep =
        d.kind === 'channel'
          ? (cfg as ChannelConfig)?.retention_count
          : (cfg as AnnounceConfig)?.retain_count;
      const hours = d.kind === 'channel' ? (cfg as ChannelConfig)?.retention_hours : undefined;
      enforceRetention(tx, `${d.kind}:${d.name}`, keep, hours);
    }
    return out;
  });
  store.flush();
  const recipients = deliveries.map((d) => d.to);
  if (input.notify !== false) {
    const notify = new Map<string, Delivery>();
    for (const d of deliveries) if (d.kind === 'direct') notify.set(d.to, d);
    // Channel subscribers hear about new posts too (patterns that match no one are skipped).
    for (const d of deliveries) {
      if (d.kind !== 'channel') continue;
      for (const sub of view.messaging.channels?.[d.name!]?.subscribers ?? []) {
        try {
          for (const r of resolveRecipients([sub], view, { exclude: from }))
            if (r.kind === 'direct') notify.set(r.to, r);
        } catch {
          // a stale subscriber entry: `gt mail channel show` lists it
        }
      }
    }
    await notifyRecipients(townRoot, {
      from,
      subject,
      delivery,
      recipients: [...notify.values()].map((d) => ({ to: d.to, identity: d.identity })),
    });
  }
  return { ids, recipients, wisp: wisp && deliveries.some((d) => d.kind !== 'queue') };
}

/** The messages addressed to `address` (or CC'd to it), newest first; `all` includes read ones. */
export function inboxOf(
  townRoot: string,
  address: string,
  opts: { all?: boolean; unread?: boolean; also?: string[] } = {},
): Message[] {
  const store = BeadStore.open(townRoot);
  return inboxFrom(store, [address, ...(opts.also ?? [])], opts);
}

export function inboxFrom(
  store: BeadStore,
  who: string[],
  opts: { all?: boolean; unread?: boolean } = {},
): Message[] {
  const rows = store
    .summaries()
    .filter(
      (s) => s.issue_type === 'message' && s.status !== 'closed' && !!s.assignee && who.includes(s.assignee),
    )
    .filter((s) => !opts.unread || !isRead(s))
    .sort((a, b) => b.ct - a.ct || (a.id < b.id ? 1 : -1));
  return rows.map((s) => toMessage(s));
}

export { READ };

/**
 * Channel and board retention (spec §3.3), enforced on write inside the sending transaction:
 * beyond `keep` open posts (with a 10% buffer) the oldest are archived down to `keep`; posts
 * older than `hours` are archived.
 */
export function enforceRetention(tx: BeadTx, key: string, keep?: number, hours?: number): string[] {
  const open = tx
    .summaries()
    .filter((s) => s.issue_type === 'message' && s.status !== 'closed' && s.labels?.includes(key))
    .sort((a, b) => a.ct - b.ct || (a.id < b.id ? -1 : 1));
  const drop = new Set<string>();
  if (keep && keep > 0 && open.length > Math.floor(keep * 1.1)) {
    for (const s of open.slice(0, open.length - keep)) drop.add(s.id);
  }
  if (hours && hours > 0) {
    const cutoff = Date.parse(tx.now) - hours * 3_600_000;
    for (const s of open) if (s.ct < cutoff) drop.add(s.id);
  }
  for (const id of drop) {
    const b = tx.must(id);
    if (b.ephemeral) {
      tx.delete(id);
      continue;
    }
    b.status = 'closed';
    b.closed_at = tx.now;
    b.close_reason = 'archived';
    b.updated_at = tx.now;
    tx.put(b);
    tx.note(`retention: archive ${id} from ${key}`);
  }
  return [...drop];
}

/** The open posts of a channel, board or queue, newest first. */
export function postsOf(store: BeadStore, key: string): Message[] {
  return store
    .summaries()
    .filter((s) => s.issue_type === 'message' && s.status !== 'closed' && s.labels?.includes(key))
    .sort((a, b) => b.ct - a.ct || (a.id < b.id ? 1 : -1))
    .map((s) => toMessage(s));
}

/** The actor (commit author) for a sender address: `myrig/polecats/nux` for `myrig/nux`, ... */
function actorFor(from: string): string {
  try {
    return actorOf(parseIdentity(from));
  } catch {
    return from;
  }
}
