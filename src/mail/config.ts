// Queues, groups, lists and channels in config/messaging.json (spec §3.3): created, edited and
// deleted here, written atomically and committed to the town repository.
import { ConflictError, NotFoundError, UsageError } from '../errors.ts';
import { commitTownFiles, writeJson } from '../town/files.ts';
import { townPaths } from '../town/paths.ts';
import { type MessagingConfig, validateName } from './address.ts';
import { readMessaging } from './message.ts';

export type MessagingKind = 'queue' | 'group' | 'list' | 'channel' | 'announce';
const TABLE: Record<MessagingKind, 'queues' | 'groups' | 'lists' | 'channels' | 'announces'> = {
  announce: 'announces',
  queue: 'queues',
  group: 'groups',
  list: 'lists',
  channel: 'channels',
};

function membersOf(kind: MessagingKind, entry: unknown): string[] {
  if (kind === 'queue') return [...((entry as { workers?: string[] })?.workers ?? [])];
  if (kind === 'channel') return [...((entry as { subscribers?: string[] })?.subscribers ?? [])];
  if (kind === 'announce') return [...((entry as { readers?: string[] })?.readers ?? [])];
  return [...((entry as string[]) ?? [])];
}

function withMembers(kind: MessagingKind, entry: unknown, members: string[]): unknown {
  if (kind === 'queue') return { ...((entry as object) ?? {}), workers: members };
  if (kind === 'channel') return { ...((entry as object) ?? {}), subscribers: members };
  if (kind === 'announce') return { ...((entry as object) ?? {}), readers: members };
  return members;
}

export function showMessaging(
  townRoot: string,
  kind: MessagingKind,
  name?: string,
): { data: unknown; text: string } {
  const cfg = readMessaging(townRoot);
  const table = (cfg[TABLE[kind]] ?? {}) as Record<string, unknown>;
  if (!name) {
    const rows = Object.keys(table)
      .sort()
      .map((n) => ({ name: n, members: membersOf(kind, table[n]) }));
    return {
      data: rows,
      text: rows.length
        ? rows.map((r) => `${r.name}: ${r.members.join(', ') || '(empty)'}`).join('\n')
        : `(no ${kind}s)`,
    };
  }
  if (!Object.hasOwn(table, name)) {
    throw new NotFoundError(`no ${kind} "${name}" (${Object.keys(table).join(', ') || `no ${kind}s yet`})`);
  }
  const entry = table[name];
  const members = membersOf(kind, entry);
  return {
    data: { name, kind, members, ...(typeof entry === 'object' && !Array.isArray(entry) ? entry : {}) },
    text: `${kind} ${name}\n${members.map((m) => `  ${m}`).join('\n') || '  (empty)'}`,
  };
}

export function editMessaging(
  townRoot: string,
  kind: MessagingKind,
  op: 'create' | 'add' | 'remove' | 'delete',
  name: string,
  members: string[],
  opts: { maxClaims?: number; retainCount?: number; retainHours?: number; actor?: string } = {},
): { kind: MessagingKind; name: string; members: string[]; committed: boolean; text: string } {
  validateName(name, kind);
  for (const m of members) {
    if (!m || /[\s,\0]/.test(m) || m.length > 200)
      throw new UsageError(`invalid member ${JSON.stringify(m)}`);
  }
  const file = townPaths(townRoot).messagingJson;
  const cfg: MessagingConfig = readMessaging(townRoot);
  const key = TABLE[kind];
  const table = { ...((cfg[key] ?? {}) as Record<string, unknown>) };
  const exists = Object.hasOwn(table, name);
  let next: string[] = [];
  let text = '';
  if (op === 'create') {
    if (exists)
      throw new ConflictError(`${kind} "${name}" already exists; add members with gt mail ${kind} add`);
    for (const k of Object.keys(TABLE) as MessagingKind[]) {
      if (k !== kind && Object.hasOwn((cfg[TABLE[k]] ?? {}) as object, name)) {
        throw new ConflictError(
          `"${name}" is already a ${k}; a bare name must mean one thing, so pick another name`,
        );
      }
    }
    for (const [flag, v] of [
      ['--max-claims', opts.maxClaims],
      ['--retain-count', opts.retainCount],
      ['--retain-hours', opts.retainHours],
    ] as const) {
      if (v !== undefined && (!Number.isInteger(v) || v < 1))
        throw new UsageError(`${flag} must be a positive whole number`);
    }
    next = [...new Set(members)];
    const base: Record<string, number> = {};
    if (kind === 'queue' && opts.maxClaims) base.max_claims = opts.maxClaims;
    if (kind === 'channel' && opts.retainCount) base.retention_count = opts.retainCount;
    if (kind === 'channel' && opts.retainHours) base.retention_hours = opts.retainHours;
    if (kind === 'announce' && opts.retainCount) base.retain_count = opts.retainCount;
    table[name] = withMembers(kind, base, kind === 'queue' && next.length === 0 ? ['*'] : next);
    next = membersOf(kind, table[name]);
    text = `created ${kind} ${name}`;
  } else {
    if (!exists)
      throw new NotFoundError(`no ${kind} "${name}"; create it with gt mail ${kind} create ${name}`);
    const cur = membersOf(kind, table[name]);
    if (op === 'delete') {
      delete table[name];
      text = `deleted ${kind} ${name}`;
    } else if (op === 'add') {
      next = [...new Set([...cur, ...members])];
      table[name] = withMembers(kind, table[name], next);
      text = `${kind} ${name}: ${next.join(', ')}`;
    } else {
      const missing = members.filter((m) => !cur.includes(m));
      if (missing.length)
        throw new NotFoundError(
          `${missing.join(', ')} not in ${kind} "${name}" (members: ${cur.join(', ') || 'none'})`,
        );
      next = cur.filter((m) => !members.includes(m));
      table[name] = withMembers(kind, table[name], next);
      text = `${kind} ${name}: ${next.join(', ') || '(empty)'}`;
    }
  }
  const out = { type: 'messaging', version: 1, ...cfg, [key]: table };
  writeJson(file, out);
  const committed = commitTownFiles(townRoot, [file], `gt mail ${kind} ${op} ${name}`, opts.actor);
  return { kind, name, members: next, committed, text };
}
