// gt mail: send, read and manage mail (spec §1.5, §3), plus queues, groups and channels kept in
// config/messaging.json. Every command takes --json; `check` exits 1 when there is no new mail.
import fs from 'node:fs';
import { BeadStore } from '../../beads/store.ts';
import { UsageError } from '../../errors.ts';
import { loadCodec } from '../../ledger/codec.ts';
import { directory, resolveRecipients } from '../../mail/address.ts';
import { editMessaging, type MessagingKind, showMessaging } from '../../mail/config.ts';
import { injectBlock, sessionOf } from '../../mail/inject.ts';
import {
  archiveByInput,
  archiveMessages,
  claimFromQueue,
  deleteMessages,
  drainable,
  markMessages,
  parseDuration,
  readMessage,
  releaseClaim,
  replyTo,
  resolveMessage,
  searchMail,
  staleIds,
  threadOf,
} from '../../mail/mailbox.ts';
import { type Message, parsePriority, toMessage, townView } from '../../mail/message.ts';
import { inboxFrom, postsOf, sendMail } from '../../mail/send.ts';
import { readSessionRecord } from '../../runtime/sessions.ts';
import { readRigs } from '../../town/files.ts';
import { actorOf, addressOf, detectIdentity, type Identity, parseIdentity } from '../../town/identity.ts';
import { requireTown } from '../../town/paths.ts';
import { attachHook } from '../../work/hook.ts';
import type { CommandDef, Ctx, OptionDef, Output } from '../framework.ts';

const identityOpt: OptionDef = {
  type: 'string',
  desc: 'act as this agent (default: from GT_ROLE or the directory)',
  arg: 'ADDR',
};

interface Me {
  root: string;
  id: Identity;
  address: string;
  actor: string;
  /** Assignees that mean "me": the address and the actor form. */
  who: string[];
}

function me(ctx: Ctx, flag?: string): Me {
  const root = requireTown(ctx.cwd);
  // `<rig>/<name>` is a crew member when the rig has a crew clone of that name, else a polecat.
  const crewNames = (rig: string) => townView(root, BeadStore.open(root)).crew(rig);
  const id = flag ? parseIdentity(flag, { crewNames }) : detectIdentity(root, ctx.cwd);
  const address = addressOf(id);
  const actor = actorOf(id);
  return { root, id, address, actor, who: [...new Set([address, actor])] };
}

function ago(ts: string): string {
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(ts)) / 1000));
  if (s < 60) return `${s}s ago`;
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

function row(ctx: Ctx, m: Message): string {
  const mark = m.read ? ' ' : ctx.color.cyan('●');
  const pri = m.priority === 'urgent' || m.priority === 'high' ? ctx.color.red(` [${m.priority}]`) : '';
  return `${mark} ${m.id}  ${m.from.padEnd(18)} ${m.subject}${pri}  ${ctx.color.dim(ago(m.timestamp))}`;
}

function listText(ctx: Ctx, msgs: Message[], empty: string): string {
  return msgs.length ? msgs.map((m) => row(ctx, m)).join('\n') : empty;
}

function full(m: Message): string {
  return [
    `From: ${m.from}`,
    `To: ${m.to}`,
    ...(m.cc.length ? [`Cc: ${m.cc.join(', ')}`] : []),
    `Subject: ${m.subject}`,
    `Date: ${m.timestamp}`,
    `Id: ${m.id}  Thread: ${m.thread_id ?? '-'}${m.reply_to ? `  Reply-To: ${m.reply_to}` : ''}`,
    `Priority: ${m.priority}  Type: ${m.type}${m.wisp ? '  (wisp)' : ''}${m.claimed_by ? `  Claimed-By: ${m.claimed_by}` : ''}`,
    '',
    m.body ?? '',
  ].join('\n');
}

function bodyFrom(values: Record<string, any>): string | undefined {
  if (values.stdin && values.message !== undefined)
    throw new UsageError('give the body with -m or --stdin, not both');
  if (values.stdin) return fs.readFileSync(0, 'utf8');
  return values.message;
}

const send: CommandDef = {
  name: 'send',
  summary: 'Send mail to agents, lists, groups, queues or channels',
  usage:
    'gt mail send <to...> [--self] -s SUBJECT [-m BODY | --stdin] [--priority P] [--type T] [--cc ADDR] [--reply-to ID] [--wisp] [--pinned] [--no-notify]',
  args: [0, -1],
  options: {
    subject: { type: 'string', short: 's', desc: 'the subject (one line)', arg: 'SUBJECT' },
    message: { type: 'string', short: 'm', desc: 'the body', arg: 'BODY' },
    body: { type: 'string', desc: 'the body (same as -m)', arg: 'BODY' },
    stdin: { type: 'boolean', desc: 'read the body from stdin' },
    priority: { type: 'string', desc: 'low, normal (default), high or urgent', arg: 'P' },
    urgent: { type: 'boolean', desc: 'same as --priority urgent' },
    type: { type: 'string', desc: 'task, escalation, scavenge, notification (default) or reply', arg: 'T' },
    cc: { type: 'string', multiple: true, desc: 'copy to another address (repeatable)', arg: 'ADDR' },
    'reply-to': { type: 'string', desc: 'the message this answers', arg: 'ID' },
    thread: { type: 'string', desc: 'the thread id (default: a new thread)', arg: 'ID' },
    wisp: { type: 'boolean', desc: 'ephemeral: never committed to the ledger' },
    permanent: { type: 'boolean', desc: 'never a wisp, even for protocol subjects' },
    delivery: {
      type: 'string',
      desc: 'queue (default: notified when idle) or interrupt (typed at once)',
      arg: 'MODE',
    },
    pinned: { type: 'boolean', desc: 'pin the message' },
    'no-notify': { type: 'boolean', desc: "do not nudge the recipients' sessions" },
    from: { type: 'string', desc: 'the sender address (default: you)', arg: 'ADDR' },
    self: { type: 'boolean', desc: 'also send it to yourself' },
    identity: identityOpt,
  },
  async run(ctx, { values, positionals }) {
    const m = me(ctx, values.identity);
    if (values.self) positionals = [...positionals, m.address];
    if (!positionals.length)
      throw new UsageError('no recipient: gt mail send <address...> -s SUBJECT (or --self)');
    if (!values.subject)
      throw new UsageError('a subject is required: gt mail send <to> -s "Subject" -m "Body"');
    if (values.message !== undefined && values.body !== undefined)
      throw new UsageError('give -m or --body, not both');
    const body = bodyFrom({ ...values, message: values.message ?? values.body });
    if (values.wisp && values.permanent) throw new UsageError('--wisp and --permanent contradict each other');
    const r = await sendMail(
      m.root,
      {
        from: values.from ?? m.address,
        to: positionals,
        subject: values.subject,
        body,
        priority: values.urgent ? 'urgent' : parsePriority(values.priority),
        type: values.type,
        cc: values.cc,
        replyTo: values['reply-to'],
        thread: values.thread,
        pinned: values.pinned,
        wisp: values.permanent ? false : values.wisp ? true : undefined,
        notify: !values['no-notify'],
        delivery: values.delivery,
      },
      { actor: ctx.actor ?? m.actor },
    );
    return {
      data: r,
      text: `${ctx.color.green('✓')} Sent to ${r.recipients.join(', ')}${r.wisp ? ' (wisp)' : ''}: ${r.ids.join(', ')}`,
    };
  },
};

const inbox: CommandDef = {
  name: 'inbox',
  summary: 'Your mail, newest first (unread marked ●)',
  usage: 'gt mail inbox [ADDR] [--unread] [--all] [--identity ADDR]',
  args: [0, 1],
  options: {
    unread: { type: 'boolean', desc: 'only unread mail' },
    all: { type: 'boolean', desc: 'include archived mail' },
    identity: identityOpt,
  },
  run(ctx, { values, positionals }) {
    const m = me(ctx, positionals[0] ?? values.identity);
    const store = BeadStore.open(m.root);
    let msgs = inboxFrom(store, m.who, { unread: values.unread });
    if (values.all) {
      const archived = store
        .summaries()
        .filter(
          (s) =>
            s.issue_type === 'message' && s.status === 'closed' && s.assignee && m.who.includes(s.assignee),
        );
      msgs = [...msgs, ...archived.sort((a, b) => b.ct - a.ct).map((x) => toMessage(x))];
    }
    const unread = msgs.filter((x) => !x.read).length;
    return {
      data: { address: m.address, unread, messages: msgs },
      text: `${m.address}: ${msgs.length} message(s), ${unread} unread\n${listText(ctx, msgs, '(no mail)')}`,
    };
  },
};

const read: CommandDef = {
  name: 'read',
  summary: 'Show a message and mark it read',
  usage: 'gt mail read ID|N [--identity ADDR]  (N: the Nth message of your inbox, 1 = newest)',
  args: [1, 1],
  options: { identity: identityOpt },
  run(ctx, { values, positionals }) {
    const m = me(ctx, values.identity);
    const store = BeadStore.open(m.root, { actor: ctx.actor ?? m.actor });
    const msg = readMessage(store, positionals[0], { mark: true, inbox: inboxFrom(store, m.who) });
    return { data: msg, text: full(msg) };
  },
};

const peek: CommandDef = {
  name: 'peek',
  summary: 'Show a message without marking it read',
  usage: 'gt mail peek ID|N [--identity ADDR]',
  args: [1, 1],
  options: { identity: identityOpt },
  run(ctx, { values, positionals }) {
    const m = me(ctx, values.identity);
    const store = BeadStore.open(m.root);
    const msg = readMessage(store, positionals[0], { inbox: inboxFrom(store, m.who) });
    return { data: msg, text: full(msg) };
  },
};

const check: CommandDef = {
  name: 'check',
  summary:
    'Is there new mail? Exit 0 yes, 1 no; --inject prints a <system-reminder> for hooks (always exit 0)',
  usage: 'gt mail check [--inject] [--identity ADDR]',
  options: {
    inject: { type: 'boolean', desc: 'hook mode: print unread mail and queued nudges, always exit 0' },
    identity: identityOpt,
  },
  async run(ctx, { values }) {
    if (values.inject) {
      try {
        const m = me(ctx, values.identity);
        const unread = inboxFrom(BeadStore.open(m.root), m.who, { unread: true });
        const { block, nudges } = await injectBlock(m.root, m.id, unread);
        return { data: { address: m.address, unread: unread.length, messages: unread, nudges }, text: block };
      } catch (e: any) {
        // A hook must never break the agent's prompt: report on stderr and exit 0.
        ctx.warn(`gt mail check --inject: ${e?.message ?? e}`);
        return { data: { error: String(e?.message ?? e), unread: 0, messages: [], nudges: [] }, text: '' };
      }
    }
    const m = me(ctx, values.identity);
    const unread = inboxFrom(BeadStore.open(m.root), m.who, { unread: true });
    return {
      data: { address: m.address, unread: unread.length, messages: unread },
      text: unread.length
        ? `${unread.length} unread message(s) for ${m.address}`
        : `no new mail for ${m.address}`,
      exitCode: unread.length ? 0 : 1,
    };
  },
};

function idsCommand(
  name: string,
  summary: string,
  fn: (store: BeadStore, ids: string[]) => string[],
  aliases?: string[],
): CommandDef {
  return {
    name,
    aliases,
    summary,
    usage: `gt mail ${name} ID... [--identity ADDR]`,
    args: [1, -1],
    options: { identity: identityOpt },
    run(ctx, { values, positionals }) {
      const m = me(ctx, values.identity);
      const done = fn(BeadStore.open(m.root, { actor: ctx.actor ?? m.actor }), positionals);
      return { data: { ids: done }, text: done.length ? `${name}: ${done.join(', ')}` : 'nothing to change' };
    },
  };
}

function markCommand(read: boolean): CommandDef {
  const name = read ? 'mark-read' : 'mark-unread';
  return {
    name,
    aliases: read ? ['ack'] : undefined,
    summary: read ? 'Mark messages read (they stay in the inbox)' : 'Mark messages unread',
    usage: `gt mail ${name} ID|N... | --all [--identity ADDR]`,
    args: [0, -1],
    options: { all: { type: 'boolean', desc: 'every message in your inbox' }, identity: identityOpt },
    run(ctx, { values, positionals }) {
      const m = me(ctx, values.identity);
      const store = BeadStore.open(m.root, { actor: ctx.actor ?? m.actor });
      const inbox = inboxFrom(store, m.who);
      if (values.all && positionals.length) throw new UsageError('give IDs or --all, not both');
      if (!values.all && !positionals.length)
        throw new UsageError(`give the message ids (or --all): gt mail ${name} ID`);
      const done = markMessages(store, values.all ? inbox.map((x) => x.id) : positionals, read, inbox);
      return { data: { ids: done }, text: done.length ? `${name}: ${done.join(', ')}` : 'nothing to change' };
    },
  };
}
const markRead = markCommand(true);
const markUnread = markCommand(false);
const del = idsCommand('delete', 'Delete messages', deleteMessages);

const archive: CommandDef = {
  name: 'archive',
  summary:
    'Archive messages (closed with reason "archived"); --stale: those from before your session started',
  usage: 'gt mail archive ID... | --stale [--identity ADDR]',
  args: [0, -1],
  options: {
    stale: { type: 'boolean', desc: 'archive mail sent before your current session started' },
    identity: identityOpt,
  },
  run(ctx, { values, positionals }) {
    const m = me(ctx, values.identity);
    const store = BeadStore.open(m.root, { actor: ctx.actor ?? m.actor });
    let done: string[];
    if (values.stale) {
      if (positionals.length) throw new UsageError('give IDs or --stale, not both');
      const session = sessionOf(m.root, m.id);
      const rec = session ? readSessionRecord(m.root, session) : null;
      if (!rec)
        throw new UsageError(`${m.address} has no session record, so "stale" has no meaning; archive by id`);
      done = archiveMessages(store, staleIds(inboxFrom(store, m.who), rec.started_at));
    } else {
      if (!positionals.length) throw new UsageError('give the message ids to archive (or --stale)');
      done = archiveByInput(store, positionals);
    }
    return { data: { ids: done }, text: done.length ? `archived ${done.join(', ')}` : 'nothing to archive' };
  },
};

const clear: CommandDef = {
  name: 'clear',
  summary: 'Archive every read message in your inbox',
  usage: 'gt mail clear [--identity ADDR]',
  options: { identity: identityOpt },
  run(ctx, { values }) {
    const m = me(ctx, values.identity);
    const store = BeadStore.open(m.root, { actor: ctx.actor ?? m.actor });
    const ids = inboxFrom(store, m.who)
      .filter((x) => x.read && !x.pinned)
      .map((x) => x.id);
    const done = archiveMessages(store, ids, 'clear');
    return { data: { ids: done }, text: `archived ${done.length} read message(s)` };
  },
};

const drain: CommandDef = {
  name: 'drain',
  summary: 'Archive protocol mail (POLECAT_DONE, LIFECYCLE, MERGED, ...; never HELP or HANDOFF)',
  usage: 'gt mail drain [--max-age 30m] [--identity ADDR]',
  options: {
    'max-age': { type: 'string', desc: 'only messages at least this old (30m, 2h, 1d)', arg: 'AGE' },
    identity: identityOpt,
  },
  run(ctx, { values }) {
    const m = me(ctx, values.identity);
    const age = values['max-age'] ? parseDuration(values['max-age']) : undefined;
    const store = BeadStore.open(m.root, { actor: ctx.actor ?? m.actor });
    const done = archiveMessages(store, drainable(inboxFrom(store, m.who), age), 'drain');
    return { data: { ids: done }, text: `drained ${done.length} protocol message(s)` };
  },
};

const reply: CommandDef = {
  name: 'reply',
  summary: 'Reply to a message (same thread, to its sender)',
  usage: 'gt mail reply ID -m BODY [--stdin] [-s SUBJECT] [--no-notify]',
  args: [1, 1],
  options: {
    message: { type: 'string', short: 'm', desc: 'the body', arg: 'BODY' },
    stdin: { type: 'boolean', desc: 'read the body from stdin' },
    subject: { type: 'string', short: 's', desc: 'the subject (default: Re: <original>)', arg: 'SUBJECT' },
    'no-notify': { type: 'boolean', desc: "do not nudge the recipient's session" },
    identity: identityOpt,
  },
  async run(ctx, { values, positionals }) {
    const m = me(ctx, values.identity);
    const body = bodyFrom(values);
    if (body === undefined) throw new UsageError('a reply needs a body: gt mail reply ID -m "text"');
    const store = BeadStore.open(m.root, { actor: ctx.actor ?? m.actor });
    const r = await replyTo(
      m.root,
      store,
      positionals[0],
      { from: m.address, body, subject: values.subject, notify: !values['no-notify'] },
      ctx.actor ?? m.actor,
    );
    return {
      data: r,
      text: `${ctx.color.green('✓')} Replied to ${r.recipients.join(', ')}: ${r.ids.join(', ')}`,
    };
  },
};

const thread: CommandDef = {
  name: 'thread',
  summary: 'Every message of a thread, oldest first',
  usage: 'gt mail thread THREAD-ID',
  args: [1, 1],
  run(ctx, { positionals }) {
    const msgs = threadOf(BeadStore.open(requireTown(ctx.cwd)), positionals[0]);
    return {
      data: { thread: positionals[0], messages: msgs },
      text: msgs.map((x) => `${full(x)}\n${'-'.repeat(40)}`).join('\n'),
    };
  },
};

const search: CommandDef = {
  name: 'search',
  summary: 'Mail whose subject or body contains TEXT (yours; --everyone for all)',
  usage: 'gt mail search TEXT [--from ADDR] [--subject | --body] [--archive] [--everyone] [--identity ADDR]',
  args: [1, 1],
  options: {
    from: { type: 'string', desc: 'only mail from this sender', arg: 'ADDR' },
    subject: { type: 'boolean', desc: 'match the subject only' },
    body: { type: 'boolean', desc: 'match the body only' },
    archive: { type: 'boolean', desc: 'include archived mail' },
    everyone: { type: 'boolean', desc: 'search every mailbox, not only yours' },
    identity: identityOpt,
  },
  run(ctx, { values, positionals }) {
    const m = me(ctx, values.identity);
    const msgs = searchMail(BeadStore.open(m.root), positionals[0], {
      who: values.everyone ? undefined : m.who,
      archived: values.archive,
      from: values.from,
      field:
        values.subject && values.body
          ? undefined
          : values.subject
            ? 'subject'
            : values.body
              ? 'body'
              : undefined,
    });
    return { data: msgs, text: listText(ctx, msgs, '(no match)') };
  },
};

const hook: CommandDef = {
  name: 'hook',
  summary: 'Put a message on your hook (status hooked): it becomes your work',
  usage: 'gt mail hook ID|N [--force] [--identity ADDR]',
  args: [1, 1],
  options: { force: { type: 'boolean', desc: "take it from another agent's hook" }, identity: identityOpt },
  run(ctx, { values, positionals }) {
    const m = me(ctx, values.identity);
    const store = BeadStore.open(m.root, { actor: ctx.actor ?? m.actor });
    const id = resolveMessage(store, positionals[0], inboxFrom(store, m.who));
    const rigPrefix = m.id.rig ? readRigs(m.root)[m.id.rig]?.beads.prefix : undefined;
    const b = store.transact(`mail hook ${id}`, (tx) =>
      attachHook(tx, id, m.id, { rigPrefix, force: values.force }),
    );
    store.flush();
    const msg = toMessage(b);
    return { data: msg, text: `${ctx.color.green('✓')} ${id} is on ${m.actor}'s hook: ${msg.subject}` };
  },
};

const dir: CommandDef = {
  name: 'directory',
  aliases: ['dir'],
  summary: 'Every address you can send to',
  usage: 'gt mail directory',
  run(ctx) {
    const root = requireTown(ctx.cwd);
    const entries = directory(townView(root, BeadStore.open(root)));
    return {
      data: entries,
      text: entries.map((e) => `${e.address.padEnd(32)} ${ctx.color.dim(e.kind)}`).join('\n'),
    };
  },
};

const claim: CommandDef = {
  name: 'claim',
  summary: 'Claim the next message of a work queue (one claimant per message)',
  usage: 'gt mail claim QUEUE [--identity ADDR]',
  args: [1, 1],
  options: { identity: identityOpt },
  run(ctx, { values, positionals }) {
    const m = me(ctx, values.identity);
    const q = positionals[0].replace(/^queue:/, '');
    const msg = claimFromQueue(m.root, BeadStore.open(m.root, { actor: ctx.actor ?? m.actor }), q, {
      address: m.address,
      actor: m.actor,
    });
    return { data: msg, text: `${ctx.color.green('✓')} claimed ${msg.id}: ${msg.subject}` };
  },
};

const release: CommandDef = {
  name: 'release',
  summary: 'Give a claimed queue message back to its queue',
  usage: 'gt mail release ID [--force] [--identity ADDR]',
  args: [1, 1],
  options: { force: { type: 'boolean', desc: "release another agent's claim" }, identity: identityOpt },
  run(ctx, { values, positionals }) {
    const m = me(ctx, values.identity);
    const msg = releaseClaim(
      BeadStore.open(m.root, { actor: ctx.actor ?? m.actor }),
      positionals[0],
      m.address,
      values.force,
    );
    return { data: msg, text: `released ${msg.id} to queue ${msg.queue}` };
  },
};

const num = (v: string | undefined, flag: string): number | undefined => {
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new UsageError(`${flag} must be a positive whole number, not "${v}"`);
  return Number(v);
};

function configGroup(kind: MessagingKind, summary: string): CommandDef {
  const mk = (
    name: string,
    usage: string,
    args: [number, number],
    desc: string,
    extra: Record<string, OptionDef> = {},
  ): CommandDef => ({
    name,
    summary: desc,
    usage: `gt mail ${kind} ${usage}`,
    args,
    options: extra,
    run(ctx, { values, positionals }): Output {
      const root = requireTown(ctx.cwd);
      if (name === 'list' || name === 'show') {
        const r = showMessaging(root, kind, positionals[0]);
        if (name === 'show' && (kind === 'channel' || kind === 'announce' || kind === 'queue')) {
          const posts = postsOf(BeadStore.open(root), `${kind}:${positionals[0]}`);
          return {
            data: { ...(r.data as object), messages: posts },
            text: `${r.text}\n${listText(ctx, posts, '(no messages)')}`,
          };
        }
        return { data: r.data, text: r.text };
      }
      let op = name as 'create' | 'add' | 'remove' | 'delete';
      let members = positionals.slice(1);
      if (name === 'subscribe' || name === 'unsubscribe') {
        op = name === 'subscribe' ? 'add' : 'remove';
        if (!members.length) members = [me(ctx, values.identity).address];
      }
      if ((op === 'add' || op === 'create') && members.length && kind !== 'queue') {
        // Validate members as addresses now, so a typo is caught at configuration time.
        resolveRecipients(members, townView(root, BeadStore.open(root)));
      }
      const r = editMessaging(root, kind, op, positionals[0], members, {
        maxClaims: num(values['max-claims'], '--max-claims'),
        retainCount: num(values['retain-count'], '--retain-count'),
        retainHours: num(values['retain-hours'], '--retain-hours'),
        actor: ctx.actor,
      });
      return { data: r, text: r.text };
    },
  });
  const memberWord =
    kind === 'queue'
      ? 'WORKER-PATTERN'
      : kind === 'channel'
        ? 'SUBSCRIBER'
        : kind === 'announce'
          ? 'READER'
          : 'MEMBER';
  const createOpts: Record<string, OptionDef> =
    kind === 'queue'
      ? { 'max-claims': { type: 'string', desc: 'claims one worker may hold', arg: 'N' } }
      : kind === 'channel'
        ? {
            'retain-count': { type: 'string', desc: 'keep at most N open posts', arg: 'N' },
            'retain-hours': { type: 'string', desc: 'archive posts older than H hours', arg: 'H' },
          }
        : kind === 'announce'
          ? { 'retain-count': { type: 'string', desc: 'keep at most N open posts', arg: 'N' } }
          : {};
  const sub = [
    mk('list', 'list', [0, 0], `Every ${kind}`),
    mk(
      'show',
      'show NAME',
      [1, 1],
      `One ${kind} with its members${kind === 'group' || kind === 'list' ? '' : ' and messages'}`,
    ),
    mk('create', `create NAME [${memberWord}...]`, [1, -1], `Create a ${kind}`, createOpts),
    mk('add', `add NAME ${memberWord}...`, [2, -1], `Add members to a ${kind}`),
    mk('remove', `remove NAME ${memberWord}...`, [2, -1], `Remove members from a ${kind}`),
    mk('delete', 'delete NAME', [1, 1], `Delete a ${kind}`),
  ];
  if (kind === 'channel') {
    sub.push(
      mk('subscribe', 'subscribe NAME [ADDR...]', [1, -1], 'Subscribe (default: yourself)', {
        identity: identityOpt,
      }),
      mk('unsubscribe', 'unsubscribe NAME [ADDR...]', [1, -1], 'Unsubscribe (default: yourself)', {
        identity: identityOpt,
      }),
    );
  }
  return { name: kind, summary, usage: `gt mail ${kind} ${sub.map((x) => x.name).join('|')}`, sub };
}

/** Reads of full records and every write need the record codec loaded first. */
function withCodec(c: CommandDef): CommandDef {
  if (c.sub) return { ...c, sub: c.sub.map(withCodec) };
  const run = c.run;
  if (!run) return c;
  return {
    ...c,
    async run(ctx, p) {
      await loadCodec();
      return run(ctx, p);
    },
  };
}

export const mailCommand: CommandDef = withCodec({
  name: 'mail',
  summary: 'Mail between agents and the overseer: durable messages in the ledger',
  usage:
    'gt mail send|inbox|read|peek|check|mark-read|mark-unread|archive|delete|clear|drain|reply|thread|search|directory|claim|release|hook|queue|group|list|channel|announce',
  sub: [
    send,
    inbox,
    read,
    peek,
    check,
    markRead,
    markUnread,
    archive,
    del,
    clear,
    drain,
    reply,
    thread,
    search,
    dir,
    claim,
    release,
    hook,
    configGroup('queue', 'Work queues: one claimant per message'),
    configGroup('group', 'Named groups: mail fans out to every member'),
    configGroup('list', 'Mailing lists: mail fans out to every member'),
    configGroup('channel', 'Channels: one copy, read by subscribers'),
    configGroup('announce', 'Bulletin boards: one copy, no claiming'),
  ],
});

export const mailCommands: CommandDef[] = [mailCommand];
