// Mail addressing (spec §3.2): turn what a sender typed into deliveries. Pure logic over an
// injected view of the town (rigs, agents, crew, config/messaging.json), so every form is
// unit-tested without a town. Resolution order: explicit prefix (group:, queue:, channel:,
// list:, announce:), then anything with `/` (agent addresses, short forms, wildcards), then `@`
// specials, then bare names (group/list → queue → channel; ambiguity is an error).
import { type GtError, NotFoundError, UsageError } from '../errors.ts';
import { addressOf, type Identity } from '../town/identity.ts';
import { editDistance } from '../util/suggest.ts';

export interface QueueConfig {
  workers?: string[];
  max_claims?: number;
}
export interface ChannelConfig {
  subscribers?: string[];
  retention_count?: number;
  retention_hours?: number;
}
export interface AnnounceConfig {
  readers?: string[];
  retain_count?: number;
}
export interface MessagingConfig {
  type?: 'messaging';
  version?: number;
  lists?: Record<string, string[]>;
  groups?: Record<string, string[]>;
  queues?: Record<string, QueueConfig>;
  channels?: Record<string, ChannelConfig>;
  announces?: Record<string, AnnounceConfig>;
  nudge_channels?: Record<string, string[]>;
  [k: string]: unknown;
}

/** What resolution needs to know about the town. */
export interface TownView {
  rigs: string[];
  /** Every known agent (from agent beads, plus workspaces found on disk). */
  agents: Identity[];
  crew(rig: string): string[];
  messaging: MessagingConfig;
  /** Fallback validation: the agent's workspace directory exists. */
  workspaceExists?(id: Identity): boolean;
}

/** One copy of a message: to an agent address, or to a queue/channel/announce board. */
export interface Delivery {
  /** The assignee: a canonical agent address, `overseer`, `queue:<q>`, `channel:<c>` or `announce:<a>`. */
  to: string;
  kind: 'direct' | 'queue' | 'channel' | 'announce';
  /** The name of the queue, channel or board. */
  name?: string;
  /** What the sender typed that produced it (a list, a group, a wildcard). */
  via: string;
  /** The agent, for direct deliveries. */
  identity?: Identity;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** A group, list, queue or channel name (also used as a config key): safe and short. */
export function validateName(name: string, what: string): string {
  if (!NAME_RE.test(name)) {
    throw new UsageError(
      `invalid ${what} name ${JSON.stringify(name)}: use letters, digits, '.', '_' or '-' (up to 64, starting with a letter or digit)`,
    );
  }
  return name;
}

/** Every address you can send to, for `gt mail directory` and "did you mean". */
export function directory(view: TownView): { address: string; kind: string }[] {
  const out: { address: string; kind: string }[] = [];
  const seen = new Set<string>();
  const add = (address: string, kind: string) => {
    if (seen.has(address)) return;
    seen.add(address);
    out.push({ address, kind });
  };
  add('overseer', 'human');
  for (const a of view.agents) add(addressOf(a), a.role);
  add('@town', 'special');
  add('@witnesses', 'special');
  add('@dogs', 'special');
  add('@overseer', 'special');
  for (const r of view.rigs) {
    add(`@rig/${r}`, 'special');
    add(`@crew/${r}`, 'special');
    add(`@polecats/${r}`, 'special');
  }
  const m = view.messaging;
  for (const n of Object.keys(m.lists ?? {})) add(`list:${n}`, 'list');
  for (const n of Object.keys(m.groups ?? {})) add(`group:${n}`, 'group');
  for (const n of Object.keys(m.queues ?? {})) add(`queue:${n}`, 'queue');
  for (const n of Object.keys(m.channels ?? {})) add(`channel:${n}`, 'channel');
  for (const n of Object.keys(m.announces ?? {})) add(`announce:${n}`, 'announce');
  return out;
}

function closeMatches(input: string, view: TownView): string {
  const all = directory(view).map((d) => d.address);
  const needle = input.toLowerCase().replace(/^[@]/, '');
  const scored: [number, string][] = [];
  for (const a of all) {
    const al = a.toLowerCase();
    const bare = al.replace(/^(list|group|queue|channel|announce):|^@/, '');
    let d = Math.min(editDistance(needle, al, 6), editDistance(needle, bare, 6));
    if (al.includes(needle) || (needle.length >= 3 && needle.includes(bare))) d = Math.min(d, 1);
    if (d <= Math.max(2, Math.floor(needle.length / 3))) scored.push([d, a]);
  }
  const best = scored
    .sort((x, y) => x[0] - y[0] || (x[1] < y[1] ? -1 : 1))
    .slice(0, 4)
    .map((s) => s[1]);
  return best.length ? `; did you mean ${best.join(', ')}?` : '';
}

function unknown(input: string, view: TownView, what = 'recipient'): GtError {
  return new NotFoundError(
    `unknown ${what} "${input}"${closeMatches(input, view)} (\`gt mail directory\` lists every address)`,
  );
}

const same = (a: Identity, b: Identity) => a.role === b.role && a.rig === b.rig && a.name === b.name;

/** Is this agent known (an agent bead, or its workspace on disk)? */
function known(view: TownView, id: Identity): boolean {
  if (id.role === 'overseer') return true;
  if (view.agents.some((a) => same(a, id))) return true;
  if (id.role === 'crew' && id.rig && id.name && view.crew(id.rig).includes(id.name)) return true;
  return !!view.workspaceExists?.(id);
}

/** Resolve one agent address, short form or wildcard to identities. */
function resolveSlash(input: string, view: TownView): Identity[] {
  const s = input.trim();
  const parts = s.split('/');
  if (parts.some((p) => p === '.' || p === '..') || /[\s\\\0]/.test(s)) {
    throw new UsageError(
      `invalid address ${JSON.stringify(input)}: addresses contain no spaces, '\\', '.' or '..' parts`,
    );
  }
  const clean = parts.filter(Boolean);
  if (clean.length === 0) throw new UsageError(`empty address "${input}"`);
  // Town agents.
  if (clean.length === 1 && (clean[0] === 'mayor' || clean[0] === 'deacon')) return [{ role: clean[0] }];
  if (clean[0] === 'deacon') {
    if (clean.length === 2 && clean[1] === 'boot') return [{ role: 'boot' }];
    if (clean.length === 2 && clean[1] === 'dogs') return view.agents.filter((a) => a.role === 'dog');
    if (clean.length === 3 && clean[1] === 'dogs') {
      if (clean[2] === '*') return view.agents.filter((a) => a.role === 'dog');
      return [{ role: 'dog', name: clean[2] }];
    }
    throw new UsageError(`invalid address "${input}": use deacon/, deacon/boot or deacon/dogs/<name>`);
  }
  // `*/witness`, `*/refinery`, `*/crew/*`...
  if (clean[0] === '*') {
    return view.rigs.flatMap((rig) => {
      try {
        return resolveSlash([rig, ...clean.slice(1)].join('/'), view);
      } catch {
        return [];
      }
    });
  }
  // `crew/bob` and `polecats/nux`: scan rigs.
  if (
    (clean[0] === 'crew' || clean[0] === 'polecats') &&
    clean.length === 2 &&
    !view.rigs.includes(clean[0])
  ) {
    const role = clean[0] === 'crew' ? 'crew' : 'polecat';
    const hits: Identity[] = [];
    for (const rig of view.rigs) {
      const id: Identity = { role, rig, name: clean[1] };
      if (role === 'crew' ? view.crew(rig).includes(clean[1]) || known(view, id) : known(view, id))
        hits.push(id);
    }
    if (hits.length > 1) {
      throw new UsageError(
        `ambiguous address "${input}": it matches ${hits.map(addressOf).join(', ')}; give the rig (<rig>/${clean[0]}/${clean[1]})`,
      );
    }
    if (hits.length === 0) throw unknown(input, view);
    return hits;
  }
  const rig = clean[0];
  if (!view.rigs.includes(rig)) throw unknown(input, view);
  const inRig = view.agents.filter((a) => a.rig === rig);
  if (clean.length === 2) {
    const n = clean[1];
    if (n === 'witness' || n === 'refinery') return [{ role: n, rig }];
    if (n === '*') return inRig;
    if (n === 'crew') return crewOf(rig, view);
    if (n === 'polecats') return inRig.filter((a) => a.role === 'polecat');
    const crewHit = view.crew(rig).includes(n) || inRig.some((a) => a.role === 'crew' && a.name === n);
    const polecatHit = inRig.some((a) => a.role === 'polecat' && a.name === n);
    if (crewHit && polecatHit) {
      throw new UsageError(
        `ambiguous address "${input}": ${rig} has a crew member and a polecat named ${n}; use ${rig}/crew/${n} or ${rig}/polecats/${n}`,
      );
    }
    return [{ role: crewHit ? 'crew' : 'polecat', rig, name: n }];
  }
  if (clean.length === 3 && (clean[1] === 'crew' || clean[1] === 'polecats')) {
    const role = clean[1] === 'crew' ? 'crew' : 'polecat';
    if (clean[2] === '*')
      return role === 'crew' ? crewOf(rig, view) : inRig.filter((a) => a.role === 'polecat');
    return [{ role, rig, name: clean[2] }];
  }
  throw new UsageError(
    `cannot read "${input}" as an address: use mayor/, deacon/, <rig>/witness, <rig>/refinery, <rig>/<name>, <rig>/crew/<name>, <rig>/polecats/<name> or a wildcard (*/witness, <rig>/crew/*)`,
  );
}

function crewOf(rig: string, view: TownView): Identity[] {
  const names = new Set(view.crew(rig));
  for (const a of view.agents) if (a.role === 'crew' && a.rig === rig && a.name) names.add(a.name);
  return [...names].sort().map((name) => ({ role: 'crew', rig, name }));
}

function resolveSpecial(input: string, view: TownView): Identity[] {
  const s = input.slice(1);
  const [head, arg, ...rest] = s.split('/');
  const needRig = () => {
    if (!arg || rest.length) throw new UsageError(`"${input}" needs one rig: @${head}/<rig>`);
    if (!view.rigs.includes(arg)) {
      throw new NotFoundError(`no rig named "${arg}" in ${input} (rigs: ${view.rigs.join(', ') || 'none'})`);
    }
    return arg;
  };
  switch (head) {
    case 'town': {
      if (arg) break;
      const ids = view.agents.filter((a) => a.role !== 'overseer');
      for (const rig of view.rigs)
        for (const c of crewOf(rig, view)) if (!ids.some((b) => same(b, c))) ids.push(c);
      return ids;
    }
    case 'witnesses':
      if (arg) break;
      return view.rigs.map((rig) => ({ role: 'witness', rig }) as Identity);
    case 'dogs':
      if (arg) break;
      return view.agents.filter((a) => a.role === 'dog');
    case 'overseer':
      if (arg) break;
      return [{ role: 'overseer' }];
    case 'rig': {
      const rig = needRig();
      const ids: Identity[] = [
        { role: 'witness', rig },
        { role: 'refinery', rig },
      ];
      for (const a of view.agents) if (a.rig === rig && !ids.some((b) => same(a, b))) ids.push(a);
      for (const c of crewOf(rig, view)) if (!ids.some((b) => same(c, b))) ids.push(c);
      return ids;
    }
    case 'crew':
      return crewOf(needRig(), view);
    case 'polecats': {
      const rig = needRig();
      return view.agents.filter((a) => a.role === 'polecat' && a.rig === rig);
    }
  }
  throw unknown(input, view, 'special address');
}

type Kind = 'list' | 'group' | 'queue' | 'channel' | 'announce';

function lookup(kind: Kind, name: string, view: TownView): boolean {
  const m = view.messaging;
  const table = {
    list: m.lists,
    group: m.groups,
    queue: m.queues,
    channel: m.channels,
    announce: m.announces,
  }[kind];
  return !!table && Object.hasOwn(table, name);
}

/**
 * Resolve addresses to deliveries: one per agent (duplicates removed), one per queue, channel
 * or board. Unknown or ambiguous addresses throw (NotFoundError / UsageError) before anything
 * is written. `exclude` (the sender) is left out of fan-outs, never out of direct mail.
 */
export function resolveRecipients(
  inputs: string[],
  view: TownView,
  opts: { exclude?: string } = {},
): Delivery[] {
  const out: Delivery[] = [];
  const seen = new Set<string>();
  const push = (d: Delivery) => {
    if (seen.has(d.to)) return;
    seen.add(d.to);
    out.push(d);
  };
  const agents = (ids: Identity[], via: string, fanout: boolean) => {
    for (const id of ids) {
      if (!known(view, id)) {
        if (fanout) continue;
        throw unknown(via, view);
      }
      const to = addressOf(id);
      if (fanout && opts.exclude && to === opts.exclude) continue;
      push({ to, kind: 'direct', via, identity: id });
    }
  };
  const walk = (input: string, stack: string[]) => {
    const raw = input.trim();
    if (!raw) throw new UsageError('an empty recipient: give an address such as mayor/ or myrig/witness');
    if (/[\s,\0]/.test(raw)) {
      throw new UsageError(
        `invalid recipient ${JSON.stringify(input)}: one address per argument, no spaces or commas`,
      );
    }
    const via = stack[0] ?? raw;
    const fanout = stack.length > 0;
    const colon = /^(group|queue|channel|list|announce):(.*)$/.exec(raw);
    if (colon) {
      const kind = colon[1] as Kind;
      const name = validateName(colon[2], kind);
      if (!lookup(kind, name, view)) throw unknown(raw, view, kind);
      return expand(kind, name, stack.length ? stack : [raw], stack);
    }
    if (raw.startsWith('@')) {
      const ids = resolveSpecial(raw, view);
      return agents(ids, via, fanout || raw !== '@overseer');
    }
    if (raw === 'overseer') return agents([{ role: 'overseer' }], via, fanout);
    if (raw.includes('/')) {
      const wild = raw.includes('*') || /^[^/]+\/(crew|polecats)\/?$/.test(raw) || raw === 'deacon/dogs';
      return agents(resolveSlash(raw, view), via, fanout || wild);
    }
    if (raw === 'mayor' || raw === 'deacon') return agents([{ role: raw }], via, fanout);
    const name = raw;
    const kinds = (['group', 'list', 'queue', 'channel'] as Kind[]).filter((k) => lookup(k, name, view));
    if (kinds.length > 1) {
      throw new UsageError(
        `ambiguous address "${raw}": it names a ${kinds.join(' and a ')}; write ${kinds.map((k) => `${k}:${name}`).join(' or ')}`,
      );
    }
    if (kinds.length === 0) throw unknown(raw, view);
    return expand(kinds[0], name, stack.length ? stack : [raw], stack);
  };
  const expand = (kind: Kind, name: string, viaStack: string[], stack: string[]) => {
    const key = `${kind}:${name}`;
    if (stack.includes(key))
      throw new UsageError(`${kind} "${name}" contains itself (${[...stack, key].join(' → ')})`);
    if (kind === 'queue' || kind === 'channel' || kind === 'announce') {
      push({ to: key, kind, name, via: viaStack[0] });
      return;
    }
    const members = (kind === 'list' ? view.messaging.lists : view.messaging.groups)?.[name] ?? [];
    const next = stack.length ? [...stack, key] : [viaStack[0], key];
    for (const m of members) walk(m, next);
  };
  for (const i of inputs) walk(i, []);
  if (out.length === 0) {
    throw new NotFoundError(
      `no recipients: ${inputs.join(', ')} ${inputs.length === 1 ? 'matches' : 'match'} no agent (nothing sent)`,
    );
  }
  return out;
}

/** Does `address` match a worker pattern (`*`, `<rig>/<star>`, `<star>/witness`, exact)? `*` matches one segment. */
export function matchesPattern(pattern: string, address: string, actor?: string): boolean {
  const p = pattern.trim();
  if (p === '*' || p === address || (actor && p === actor)) return true;
  const toRe = (s: string) =>
    new RegExp(
      `^${s
        .split('*')
        .map((x) => x.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
        .join('[^/]+')}/?$`,
    );
  const re = toRe(p.replace(/\/$/, ''));
  return re.test(address.replace(/\/$/, '')) || (!!actor && re.test(actor));
}
