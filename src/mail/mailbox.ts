// Working on received mail: read/peek, mark read/unread, archive (close with reason `archived`;
// wisps are removed), delete, clear, drain protocol chatter, reply, threads, search, and queue
// claims (compare-and-swap through the ledger transaction: two claimers, one winner).
import { type BeadStore, type BeadTx, nearMatches } from '../beads/store.ts';
import type { Bead } from '../beads/types.ts';
import { ConflictError, GtError, NotFoundError, UsageError } from '../errors.ts';
import { matchesPattern } from './address.ts';
import { isRead, label, type Message, READ, readMessaging, toMessage } from './message.ts';
import { isDrainable } from './protocol.ts';
import { type SendResult, sendMail } from './send.ts';

export const ARCHIVED = 'archived';

/**
 * Resolve user input to a message id (exact or unique partial), rejecting non-messages. With
 * `inbox`, a small number N means the Nth message of that inbox as listed (1 = newest).
 */
export function resolveMessage(store: BeadStore, input: string, inbox?: Message[]): string {
  if (inbox && /^[1-9]\d{0,3}$/.test(input.trim())) {
    const m = inbox[Number(input) - 1];
    if (!m) throw new NotFoundError(`no message #${input}: the inbox has ${inbox.length} message(s)`);
    return m.id;
  }
  let id: string;
  try {
    id = store.resolve(input);
  } catch (e) {
    if (e instanceof NotFoundError) {
      throw new NotFoundError(`no message "${input}" (\`gt mail inbox --all\` lists your mail)`);
    }
    throw e;
  }
  const s = store.summary(id);
  if (s?.issue_type !== 'message') {
    throw new UsageError(`${id} is not a message (it is a ${s?.issue_type ?? 'missing bead'})`);
  }
  return id;
}

function mustMessage(tx: BeadTx, id: string): Bead {
  const b = tx.get(id);
  if (b?.issue_type !== 'message') throw new NotFoundError(`no message "${id}"`);
  return b;
}

function setLabels(b: Bead, add: string[], removePrefixes: string[] = [], remove: string[] = []): boolean {
  const before = JSON.stringify(b.labels ?? []);
  const set = new Set(
    (b.labels ?? []).filter((l) => !remove.includes(l) && !removePrefixes.some((p) => l.startsWith(p))),
  );
  for (const a of add) set.add(a);
  b.labels = [...set].sort();
  return JSON.stringify(b.labels) !== before;
}

/**
 * Mark a message read, completing its two-phase delivery (spec §3.1): `delivery:pending` becomes
 * `delivery:acked` with who acknowledged it and when. True when anything changed.
 */
function markRead(m: Bead, reader: string, now: string): boolean {
  const pending = (m.labels ?? []).includes('delivery:pending');
  const ack = pending ? ['delivery:acked', `delivery-acked-by:${reader}`, `delivery-acked-at:${now}`] : [];
  return setLabels(m, [READ, ...ack], [], pending ? ['delivery:pending'] : []);
}

/** Full message (with body); `mark` adds the read label (one commit, none if already read). */
export function readMessage(
  store: BeadStore,
  input: string,
  opts: { mark?: boolean; inbox?: Message[] } = {},
): Message {
  const id = resolveMessage(store, input, opts.inbox);
  if (opts.mark) {
    const b = store.transact(`mail read ${id}`, (tx) => {
      const m = mustMessage(tx, id);
      if (markRead(m, m.assignee ?? tx.actor, tx.now)) {
        m.updated_at = tx.now;
        tx.put(m);
        tx.note(`read ${id}`);
      }
      return m;
    });
    store.flush();
    return toMessage(b);
  }
  const b = store.get(id);
  if (!b) throw new NotFoundError(`no message "${input}"`);
  return toMessage(b);
}

/** Add or remove the read label on several messages: one commit. */
export function markMessages(store: BeadStore, inputs: string[], read: boolean, inbox?: Message[]): string[] {
  const ids = inputs.map((i) => resolveMessage(store, i, inbox));
  const changed = store.transact(`mail mark-${read ? 'read' : 'unread'}`, (tx) => {
    const out: string[] = [];
    for (const id of ids) {
      const m = mustMessage(tx, id);
      if (read ? markRead(m, m.assignee ?? tx.actor, tx.now) : setLabels(m, [], [], [READ])) {
        m.updated_at = tx.now;
        tx.put(m);
        tx.note(`${read ? 'read' : 'unread'} ${id}`);
        out.push(id);
      }
    }
    return out;
  });
  store.flush();
  return changed;
}

function archiveIn(tx: BeadTx, id: string): boolean {
  const m = mustMessage(tx, id);
  if (m.ephemeral) {
    tx.delete(id);
    return true;
  }
  if (m.status === 'closed') return false;
  m.status = 'closed';
  m.closed_at = tx.now;
  m.close_reason = ARCHIVED;
  m.updated_at = tx.now;
  tx.put(m);
  tx.note(`archive ${id}`);
  return true;
}

/** Archive messages (close with reason `archived`; wisps are removed): one commit. */
export function archiveMessages(store: BeadStore, ids: string[], what = 'archive'): string[] {
  if (ids.length === 0) return [];
  const done = store.transact(`mail ${what}`, (tx) => ids.filter((id) => archiveIn(tx, id)));
  store.flush();
  return done;
}

export function archiveByInput(store: BeadStore, inputs: string[]): string[] {
  return archiveMessages(
    store,
    inputs.map((i) => resolveMessage(store, i)),
  );
}

/** Messages in `who`'s inbox created before `before` (ISO): `archive --stale`. */
export function staleIds(inbox: Message[], before: string): string[] {
  const t = Date.parse(before);
  return inbox.filter((m) => Date.parse(m.timestamp) < t).map((m) => m.id);
}

export function deleteMessages(store: BeadStore, inputs: string[]): string[] {
  const ids = inputs.map((i) => resolveMessage(store, i));
  store.transact('mail delete', (tx) => {
    for (const id of ids) {
      mustMessage(tx, id);
      tx.delete(id);
      tx.note(`delete ${id}`);
    }
  });
  store.flush();
  return ids;
}

/** Parse `30m`, `2h`, `45s`, `1d`. */
export function parseDuration(v: string): number {
  const m = /^(\d+)(s|m|h|d)$/.exec(v.trim());
  if (!m) throw new UsageError(`invalid duration "${v}": use a number and a unit, e.g. 30m, 2h, 1d`);
  return Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 's']!;
}

/** Protocol mail to archive (POLECAT_DONE, LIFECYCLE:*, MERGED, ...; never HELP or HANDOFF). */
export function drainable(inbox: Message[], maxAgeMs?: number, now = Date.now()): string[] {
  return inbox
    .filter((m) => isDrainable(m.subject))
    .filter((m) => maxAgeMs === undefined || now - Date.parse(m.timestamp) >= maxAgeMs)
    .map((m) => m.id);
}

/** Reply: same thread, reply-to the original, to its sender. */
export async function replyTo(
  townRoot: string,
  store: BeadStore,
  input: string,
  r: { from: string; body: string; subject?: string; notify?: boolean },
  actor?: string,
): Promise<SendResult> {
  const id = resolveMessage(store, input);
  const orig = store.get(id)!;
  const m = toMessage(orig);
  if (!m.from) throw new GtError(`${id} has no sender to reply to`);
  const subject = r.subject ?? (/^re:/i.test(m.subject) ? m.subject : `Re: ${m.subject}`);
  return sendMail(
    townRoot,
    {
      from: r.from,
      to: m.from,
      subject,
      body: r.body,
      type: 'reply',
      replyTo: id,
      thread: m.thread_id,
      wisp: !!orig.ephemeral,
      notify: r.notify,
    },
    { actor },
  );
}

/** Every message of a thread, oldest first (archived ones included). */
export function threadOf(store: BeadStore, thread: string): Message[] {
  const rows = store
    .summaries()
    .filter((s) => s.issue_type === 'message' && s.labels?.includes(`thread:${thread}`))
    .sort((a, b) => a.ct - b.ct || (a.id < b.id ? -1 : 1));
  if (rows.length === 0) {
    const threads = [
      ...new Set(
        store
          .summaries()
          .filter((s) => s.issue_type === 'message')
          .map((s) => label(s, 'thread'))
          .filter((x): x is string => !!x),
      ),
    ];
    const near = nearMatches(thread, threads);
    throw new NotFoundError(
      `no thread "${thread}"${near.length ? `; did you mean ${near.join(', ')}?` : ''}`,
    );
  }
  return store.getMany(rows.map((r) => r.id)).map(toMessage);
}

/** Messages whose subject or body contains `text` (case-insensitive), visible to `who` unless all. */
export function searchMail(
  store: BeadStore,
  text: string,
  opts: { who?: string[]; archived?: boolean; from?: string; field?: 'subject' | 'body' } = {},
): Message[] {
  const needle = text.toLowerCase();
  if (!needle) throw new UsageError('give some text to search for: gt mail search "deploy"');
  return store
    .allBeads()
    .filter((b) => b.issue_type === 'message')
    .filter((b) => opts.archived || b.status !== 'closed')
    .filter(
      (b) =>
        !opts.who ||
        (b.assignee && opts.who.includes(b.assignee)) ||
        opts.who.includes(label(b, 'from') ?? b.sender ?? '') ||
        opts.who.some((w) => b.labels?.includes(`cc:${w}`)),
    )
    .filter((b) => !opts.from || (label(b, 'from') ?? b.sender) === opts.from)
    .filter(
      (b) =>
        (opts.field !== 'body' && b.title.toLowerCase().includes(needle)) ||
        (opts.field !== 'subject' && (b.description ?? '').toLowerCase().includes(needle)),
    )
    .sort((a, b) => (a.created_at < b.created_at ? 1 : -1))
    .map(toMessage);
}

/**
 * Claim the next unclaimed message of a queue (priority, then oldest). Runs inside the ledger
 * transaction, so concurrent claimers serialise on the lock and see each other's claims: one
 * message, one winner; the loser gets a ConflictError (exit 4) and nothing changes.
 */
export function claimFromQueue(
  townRoot: string,
  store: BeadStore,
  queue: string,
  claimer: { address: string; actor: string },
): Message {
  const cfg = readMessaging(townRoot).queues?.[queue];
  if (!cfg) {
    const names = Object.keys(readMessaging(townRoot).queues ?? {});
    throw new NotFoundError(
      `no queue "${queue}" (queues: ${names.join(', ') || 'none'}; create one with gt mail queue create)`,
    );
  }
  const workers = cfg.workers ?? ['*'];
  if (!workers.some((p) => matchesPattern(p, claimer.address, claimer.actor))) {
    throw new UsageError(
      `${claimer.address} is not a worker of queue "${queue}" (workers: ${workers.join(', ')}); add it with gt mail queue add ${queue} ${claimer.address}`,
    );
  }
  const b = store.transact(`mail claim ${queue}`, (tx) => {
    const inQueue = tx
      .summaries()
      .filter(
        (s) => s.issue_type === 'message' && s.status !== 'closed' && s.labels?.includes(`queue:${queue}`),
      );
    const mine = inQueue.filter((s) => label(s, 'claimed-by') === claimer.address).length;
    if (cfg.max_claims && mine >= cfg.max_claims) {
      throw new ConflictError(
        `${claimer.address} already holds ${mine} claim(s) on queue "${queue}" (max_claims ${cfg.max_claims}); release one first`,
      );
    }
    const next = inQueue
      .filter((s) => !label(s, 'claimed-by'))
      .sort((a, c) => a.priority - c.priority || a.ct - c.ct || (a.id < c.id ? -1 : 1))[0];
    if (!next) throw new ConflictError(`queue "${queue}" has no unclaimed messages`);
    const m = mustMessage(tx, next.id);
    setLabels(m, [`claimed-by:${claimer.address}`, `claimed-at:${tx.now}`], ['claimed-by:', 'claimed-at:']);
    m.assignee = claimer.address;
    m.updated_at = tx.now;
    tx.put(m);
    tx.note(`claim ${m.id} from queue ${queue} by ${claimer.address}`);
    return m;
  });
  store.flush();
  return toMessage(b);
}

/** Give a claimed queue message back to its queue. */
export function releaseClaim(store: BeadStore, input: string, by: string, force = false): Message {
  const id = resolveMessage(store, input);
  const b = store.transact(`mail release ${id}`, (tx) => {
    const m = mustMessage(tx, id);
    const q = label(m, 'queue');
    if (!q) throw new UsageError(`${id} is not a queue message`);
    const holder = label(m, 'claimed-by');
    if (!holder) throw new ConflictError(`${id} is not claimed`);
    if (holder !== by && !force) {
      throw new ConflictError(`${id} is claimed by ${holder}, not ${by}; only the claimer releases it`);
    }
    setLabels(m, [], ['claimed-by:', 'claimed-at:'], [READ]);
    m.assignee = `queue:${q}`;
    m.updated_at = tx.now;
    tx.put(m);
    tx.note(`release ${id} to queue ${q}`);
    return m;
  });
  store.flush();
  return toMessage(b);
}

export { isRead };
