// Nudges (spec §3.4, §3.6): short ephemeral messages typed into an agent's tmux session, or
// queued (src/nudge/queue.ts) when they cannot be typed safely right now.
//
// Decisions, documented here and in the CLI help:
//  - Typing is `send-keys -l` (literal: no key names, no tmux parsing, no shell anywhere), then
//    Enter as a separate send-keys after a short debounce. Text reaches the agent byte for byte.
//  - Multi-line text is typed as it is: each newline goes in as a literal line feed (Ctrl-J),
//    which line-reading agents see as the end of a line and TUIs such as Claude Code treat as
//    "new line in the prompt"; one Enter at the end submits. CR and CRLF become LF first (a CR
//    would submit early), trailing blank lines are dropped, and every other control character
//    (tab, escape, C1 controls, DEL) becomes a space so a message can never press keys.
//  - Idle = the preset's ready prompt is visible in the last 5 non-blank lines of the pane, no
//    "esc to interrupt" is shown, and the pane did not change between 2 consecutive polls.
//    Presets without a prompt prefix are idle when the pane is stable.
//  - Modes: `wait-idle` (default) polls up to the idle timeout and types when idle, else
//    queues. `queue` always queues. `immediate` still never types mid-output: it waits up to
//    the settle timeout for the pane to stop changing, and queues when it never does.
//  - No live session (none, or a dead pane) → queued, whatever the mode.
//  - Notification preferences live on the agent bead: `notification_level` verbose|normal|muted
//    and `dnd` true|false. DND or muted → a normal nudge is `skipped`; an urgent one is queued
//    (never typed, so it interrupts nothing, and the agent sees it at its next turn boundary).
//    `force` ignores both.
//  - The overseer (a human) gets a tmux banner (display-message, `#` doubled so tmux expands no
//    format) on every client attached to the town's tmux server; with no client it is queued
//    under `hq-overseer`.
//  - Library default idle timeout is `operational.nudge.idle_notify_timeout` (3 s: the mail
//    and escalation routers must not block); `gt nudge` passes `operational.nudge.idle_poll`
//    (15 s). Both can be given in the options.
import fs from 'node:fs';
import path from 'node:path';
import { BeadStore } from '../beads/store.ts';
import { ConflictError, GtError, NotFoundError, UsageError } from '../errors.ts';
import { loadCodec } from '../ledger/codec.ts';
import { loadAgents, resolveAgent } from '../runtime/presets.ts';
import {
  listAgentSessions,
  parseAgentAddress,
  readSessionRecord,
  targetOf,
  townTmux,
} from '../runtime/sessions.ts';
import { sleep, type Tmux, validateSessionName } from '../runtime/tmux.ts';
import { type AgentMeta, agentMeta, ensureAgentBead, updateAgentMeta } from '../town/agents.ts';
import { readJsonOr, readRigs } from '../town/files.ts';
import {
  actorOf,
  addressOf,
  agentBeadIdOf,
  detectIdentity,
  type Identity,
  TOWN_ROLES,
} from '../town/identity.ts';
import { rigPaths, townPaths } from '../town/paths.ts';
import { subdirs } from '../town/rigs.ts';
import { durationMs, settingValue } from '../town/settings.ts';
import { enqueueNudge, type NudgePriority } from './queue.ts';

export type NudgeMode = 'wait-idle' | 'queue' | 'immediate';
export const NUDGE_MODES: NudgeMode[] = ['wait-idle', 'queue', 'immediate'];
export type NotificationLevel = 'verbose' | 'normal' | 'muted';
export const NOTIFICATION_LEVELS: NotificationLevel[] = ['verbose', 'normal', 'muted'];

export interface NudgeResult {
  delivered: 'immediate' | 'queued' | 'skipped';
  reason?: string;
}

export interface NudgeOptions {
  env?: NodeJS.ProcessEnv;
  /** wait-idle: how long to wait for the agent to be idle (default idle_notify_timeout). */
  idleTimeoutMs?: number;
  /** immediate: how long to wait for the pane to stop changing (default 10 s). */
  settleTimeoutMs?: number;
  /** Between two pane captures (default 200 ms). */
  pollMs?: number;
}

const OVERSEER_SESSION = 'hq-overseer';

/** The text as it will be typed (see the header: newlines kept, other controls neutralised). */
export function typedText(message: string): string {
  return message
    .replace(/\r\n?/g, '\n')
    .replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/g, ' ')
    .replace(/\n+$/, '');
}

function validateInput(input: { message: string; mode?: string; priority?: string }): void {
  if (typeof input.message !== 'string' || input.message.trim() === '')
    throw new UsageError('a nudge needs a message (give it as an argument or with --stdin)');
  if (input.mode !== undefined && !NUDGE_MODES.includes(input.mode as NudgeMode))
    throw new UsageError(`--mode ${JSON.stringify(input.mode)} must be one of ${NUDGE_MODES.join(', ')}`);
  if (input.priority !== undefined && input.priority !== 'normal' && input.priority !== 'urgent')
    throw new UsageError(`--priority ${JSON.stringify(input.priority)} must be normal or urgent`);
}

// ---- notification preferences (agent bead metadata) -----------------------------------------

function rigPrefixOf(townRoot: string, id: Identity): string | undefined {
  if (TOWN_ROLES.has(id.role)) return undefined;
  return readRigs(townRoot)[id.rig ?? '']?.beads?.prefix;
}

export interface NotificationPrefs {
  address: string;
  bead: string;
  notification_level: NotificationLevel;
  dnd: boolean;
}

export async function notificationPrefs(townRoot: string, id: Identity): Promise<NotificationPrefs> {
  await loadCodec();
  const bead = agentBeadIdOf(id, rigPrefixOf(townRoot, id));
  const b = BeadStore.open(townRoot).get(bead);
  const m = b ? agentMeta(b) : ({} as Partial<AgentMeta>);
  const level = NOTIFICATION_LEVELS.includes(m.notification_level as NotificationLevel)
    ? (m.notification_level as NotificationLevel)
    : 'normal';
  return { address: actorOf(id), bead, notification_level: level, dnd: m.dnd === true };
}

/** Change DND and/or the notification level on the agent's bead (one commit; none if unchanged). */
export async function setNotificationPrefs(
  townRoot: string,
  id: Identity,
  patch: { dnd?: boolean; notification_level?: NotificationLevel },
  actor?: string,
): Promise<NotificationPrefs & { changed: boolean }> {
  if (patch.notification_level !== undefined && !NOTIFICATION_LEVELS.includes(patch.notification_level))
    throw new UsageError(
      `notification level ${JSON.stringify(patch.notification_level)} must be one of ${NOTIFICATION_LEVELS.join(', ')}`,
    );
  if (id.role !== 'overseer') targetOf(townRoot, id);
  const before = await notificationPrefs(townRoot, id);
  const changed =
    (patch.dnd !== undefined && patch.dnd !== before.dnd) ||
    (patch.notification_level !== undefined && patch.notification_level !== before.notification_level);
  if (changed) {
    const store = BeadStore.open(townRoot, { actor: actor ?? actorOf(id) });
    try {
      const what = [
        patch.dnd !== undefined ? `dnd ${patch.dnd ? 'on' : 'off'}` : '',
        patch.notification_level ? `notify ${patch.notification_level}` : '',
      ]
        .filter(Boolean)
        .join(', ');
      store.transact(`gt ${what}: ${actorOf(id)}`, (tx) => {
        ensureAgentBead(tx, id, rigPrefixOf(townRoot, id));
        updateAgentMeta(tx, before.bead, patch as Partial<AgentMeta>);
      });
    } finally {
      store.flush();
    }
  }
  return { ...(await notificationPrefs(townRoot, id)), changed };
}

// ---- pane idleness ----------------------------------------------------------------------------

export function looksIdle(screen: string, promptPrefix: string | null): boolean {
  if (/esc to interrupt/i.test(screen)) return false;
  const prefix = promptPrefix?.trim();
  if (!prefix) return true;
  const lines = screen.split('\n').filter((l) => l.trim() !== '');
  return lines.slice(-5).some((l) => l.replace(/^[\s│┃]+/u, '').startsWith(prefix));
}

/** The ready prompt of the agent running in (or configured for) a session. */
export function promptPrefixOf(townRoot: string, id: Identity, session: string, env?: NodeJS.ProcessEnv) {
  const rig = id.rig && !TOWN_ROLES.has(id.role) ? id.rig : undefined;
  const rec = readSessionRecord(townRoot, session);
  try {
    const p = rec ? loadAgents(townRoot, rig).get(rec.agent) : undefined;
    return (p ?? resolveAgent(townRoot, id, { env }).preset).ready_prompt_prefix;
  } catch {
    return null;
  }
}

/**
 * Poll the pane until `ok(screen)` holds on two consecutive identical captures; false when the
 * timeout passes first (or the session goes away). At least two captures are always taken.
 */
export async function waitForPane(
  tmux: Tmux,
  session: string,
  ok: (screen: string) => boolean,
  timeoutMs: number,
  pollMs = 200,
): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  let prev: string | null = null;
  for (;;) {
    const pane = tmux.paneInfo(session);
    if (!pane || pane.paneDead) return false;
    const screen = tmux.capturePane(session, 60);
    if (prev !== null && screen === prev && ok(screen)) return true;
    if (prev !== null && Date.now() >= end) return false;
    prev = screen;
    await sleep(pollMs);
  }
}

/** Code points per send-keys: tmux refuses commands over ~16 KB ("command too long"). */
const CHUNK = 2000;

/**
 * Type a message into a session: literal text (in chunks of whole code points, so long
 * messages pass tmux's command size limit), then Enter as its own key after a short pause.
 */
export async function typeInto(tmux: Tmux, session: string, message: string): Promise<void> {
  const text = typedText(message);
  if (text === '') throw new UsageError('the nudge is empty once control characters are removed');
  const cps = Array.from(text);
  for (let i = 0; i < cps.length; i += CHUNK) tmux.sendLiteral(session, cps.slice(i, i + CHUNK).join(''));
  await sleep(150);
  tmux.sendEnter(session);
}

const LOCK_WAIT_MS = 10000;
const LOCK_STALE_MS = 30000;

/**
 * Run `fn` holding the session's typing lock (`.runtime/nudge_locks/<session>.lock`, a
 * directory: mkdir is atomic), so two nudges typed at once never interleave their text and
 * Enters. The lock is held only while typing; one older than 30 s belongs to a dead typer and
 * is broken. Throws ConflictError when it cannot be taken within 10 s.
 */
export async function withTypingLock<T>(townRoot: string, session: string, fn: () => Promise<T>): Promise<T> {
  validateSessionName(session);
  const dir = path.join(townPaths(townRoot).runtimeDir, 'nudge_locks', `${session}.lock`);
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const end = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      fs.mkdirSync(dir);
      break;
    } catch (e: any) {
      if (e.code !== 'EEXIST') throw e;
    }
    try {
      if (Date.now() - fs.statSync(dir).mtimeMs > LOCK_STALE_MS) {
        fs.rmSync(dir, { recursive: true, force: true });
        continue;
      }
    } catch {
      continue; // released meanwhile
    }
    if (Date.now() > end) throw new ConflictError(`another nudge is still being typed into ${session}`);
    await sleep(25);
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function idleTimeout(townRoot: string, o: NudgeOptions): number {
  if (o.idleTimeoutMs !== undefined) return o.idleTimeoutMs;
  const key = 'operational.nudge.idle_notify_timeout';
  return durationMs(settingValue(key, { townRoot, env: o.env }), key);
}

function listClients(tmux: Tmux): string[] {
  const r = tmux.run([['list-clients', '-F', '#{client_name}']], { check: false });
  if (r.code !== 0) return [];
  return r.stdout.split('\n').filter(Boolean);
}

/** A banner for the human: every attached client of the town's tmux server; false when none. */
function overseerBanner(tmux: Tmux, sender: string, message: string): boolean {
  const clients = listClients(tmux);
  if (clients.length === 0) return false;
  // display-message expands formats (#{...}, #(cmd)): doubling every # makes them literal.
  const text = `[nudge from ${sender}] ${typedText(message).replace(/\n/g, ' ⏎ ')}`.replace(/#/g, '##');
  let shown = 0;
  for (const c of clients) {
    const r = tmux.run([['display-message', '-c', c, '-d', '10000', text]], { check: false });
    if (r.code === 0) shown++;
  }
  return shown > 0;
}

function queueIt(
  townRoot: string,
  session: string,
  input: { sender: string; message: string; priority?: NudgePriority; kind?: string },
  reason: string,
  env?: NodeJS.ProcessEnv,
): NudgeResult {
  try {
    enqueueNudge(
      townRoot,
      session,
      { sender: input.sender, message: input.message, priority: input.priority, kind: input.kind },
      { env },
    );
    return { delivered: 'queued', reason };
  } catch (e: any) {
    if (e instanceof UsageError) throw e;
    return { delivered: 'skipped', reason: `could not queue: ${e.message ?? e}` };
  }
}

/**
 * Deliver one nudge to an agent (see the header for the rules). Never throws for a busy, dead
 * or muted agent: that is a result. Throws UsageError for bad input or an invalid target.
 */
export async function nudgeAgent(
  townRoot: string,
  target: Identity,
  input: {
    sender: string;
    message: string;
    mode?: 'wait-idle' | 'queue' | 'immediate';
    priority?: 'normal' | 'urgent';
    force?: boolean;
    kind?: string;
  },
  o: NudgeOptions = {},
): Promise<NudgeResult> {
  validateInput(input);
  const env = o.env ?? process.env;
  const mode = input.mode ?? 'wait-idle';
  const tmux = townTmux(townRoot, env);
  const session = target.role === 'overseer' ? OVERSEER_SESSION : targetOf(townRoot, target).session;

  const prefs = await notificationPrefs(townRoot, target);
  if (!input.force && (prefs.dnd || prefs.notification_level === 'muted')) {
    const why = prefs.dnd ? 'do not disturb is on' : 'notifications are muted';
    if (input.priority !== 'urgent') return { delivered: 'skipped', reason: `${why} (use --force)` };
    return queueIt(townRoot, session, input, `${why}: urgent nudge queued for the next turn`, env);
  }

  if (target.role === 'overseer') {
    if (mode !== 'queue' && overseerBanner(tmux, input.sender, input.message))
      return { delivered: 'immediate', reason: 'shown as a tmux banner' };
    return queueIt(
      townRoot,
      session,
      input,
      mode === 'queue' ? 'queue mode' : 'no tmux client attached',
      env,
    );
  }

  if (mode === 'queue') return queueIt(townRoot, session, input, 'queue mode', env);
  const pane = tmux.paneInfo(session);
  if (!pane || pane.paneDead) return queueIt(townRoot, session, input, 'no live session', env);

  const poll = o.pollMs ?? 200;
  if (mode === 'immediate') {
    const settled = await waitForPane(tmux, session, () => true, o.settleTimeoutMs ?? 10000, poll);
    if (!settled) return queueIt(townRoot, session, input, 'the pane never stopped changing', env);
  } else {
    const prefix = promptPrefixOf(townRoot, target, session, env);
    const idle = await waitForPane(
      tmux,
      session,
      (s) => looksIdle(s, prefix),
      idleTimeout(townRoot, o),
      poll,
    );
    if (!idle) return queueIt(townRoot, session, input, 'agent busy', env);
  }
  const prefix = mode === 'wait-idle' ? promptPrefixOf(townRoot, target, session, env) : null;
  try {
    return await withTypingLock(townRoot, session, async (): Promise<NudgeResult> => {
      // Another nudge may have been typed while this one waited: the agent must still be idle.
      if (mode === 'wait-idle' && !looksIdle(tmux.capturePane(session, 60), prefix))
        return queueIt(townRoot, session, input, 'agent busy', env);
      await typeInto(tmux, session, input.message);
      return { delivered: 'immediate' };
    });
  } catch (e) {
    if (e instanceof ConflictError) return queueIt(townRoot, session, input, e.message, env);
    throw e;
  }
}

// ---- targets --------------------------------------------------------------------------------

/** A glob over addresses: `*` matches within one path segment. */
export function addressPattern(pattern: string): RegExp {
  const p = pattern.trim().replace(/\/+$/, '');
  const re = p
    .split('*')
    .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('[^/]*');
  return new RegExp(`^${re}$`);
}

/** Every agent the town knows: town roles, each rig's witness, refinery, crew and polecats, live sessions. */
export function knownAgents(townRoot: string, env?: NodeJS.ProcessEnv): Identity[] {
  const ids: Identity[] = [{ role: 'mayor' }, { role: 'deacon' }];
  for (const rig of Object.keys(readRigs(townRoot)).sort()) {
    const rp = rigPaths(townRoot, rig);
    ids.push({ role: 'witness', rig }, { role: 'refinery', rig });
    for (const n of subdirs(rp.crewDir)) ids.push({ role: 'crew', rig, name: n });
    for (const n of subdirs(rp.polecatsDir)) ids.push({ role: 'polecat', rig, name: n });
  }
  for (const s of listAgentSessions(townRoot, env)) {
    if (!s.role) continue;
    const id: Identity = {
      role: s.role,
      ...(s.rig ? { rig: s.rig } : {}),
      ...(s.name ? { name: s.name } : {}),
    };
    if (!ids.some((x) => actorOf(x) === actorOf(id))) ids.push(id);
  }
  return ids.filter((id) => {
    try {
      targetOf(townRoot, id);
      return true;
    } catch {
      return false;
    }
  });
}

/** Members of `nudge_channels[name]` in config/messaging.json. */
export function channelMembers(townRoot: string, name: string, env?: NodeJS.ProcessEnv): Identity[] {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name))
    throw new UsageError(`invalid channel name ${JSON.stringify(name)}`);
  const file = townPaths(townRoot).messagingJson;
  const cfg = readJsonOr<Record<string, any>>(file, 'config/messaging.json', {});
  const channels = cfg.nudge_channels ?? {};
  if (typeof channels !== 'object' || Array.isArray(channels))
    throw new GtError(`nudge_channels in ${file} must be an object of name → [patterns]`);
  const patterns = Object.hasOwn(channels, name) ? channels[name] : undefined;
  if (!Array.isArray(patterns) || !patterns.every((p) => typeof p === 'string'))
    throw new NotFoundError(
      `no nudge channel "${name}" (channels: ${Object.keys(channels).join(', ') || 'none'}); add it to nudge_channels in config/messaging.json`,
    );
  const res = patterns.map(addressPattern);
  const members = knownAgents(townRoot, env).filter((id) => {
    const forms = [actorOf(id), addressOf(id).replace(/\/$/, '')];
    return res.some((re) => forms.some((f) => re.test(f)));
  });
  if (members.length === 0)
    throw new NotFoundError(`nudge channel "${name}" (${patterns.join(', ')}) matches no agent`);
  return members;
}

/** Does an agent exist: a session on the socket, or its home directory? */
function agentExists(townRoot: string, id: Identity, tmux: Tmux): boolean {
  if (id.role === 'overseer' || id.role === 'mayor' || id.role === 'deacon') return true;
  if (id.role === 'witness' || id.role === 'refinery') return true; // the rig was validated
  const t = targetOf(townRoot, id);
  if (tmux.hasSession(t.session)) return true;
  const home = id.role === 'polecat' ? path.dirname(t.cwd) : t.cwd;
  return fs.existsSync(home);
}

/**
 * The agents a `gt nudge` target names: an agent address, `mayor`, `deacon`, `overseer`,
 * `witness`/`refinery` (of the caller's rig), or `channel:<name>`.
 */
export function resolveNudgeTargets(
  townRoot: string,
  spec: string,
  o: { cwd: string; env?: NodeJS.ProcessEnv },
): Identity[] {
  const env = o.env ?? process.env;
  const s = spec.trim();
  if (s === '') throw new UsageError('give a nudge target: an agent address, a role or channel:<name>');
  if (s.startsWith('channel:')) return channelMembers(townRoot, s.slice('channel:'.length), env);
  if (s === 'witness' || s === 'refinery') {
    const rig = env.GT_RIG || detectIdentity(townRoot, o.cwd, env).rig;
    if (!rig) throw new UsageError(`"${s}" means the ${s} of your rig, and you are in none: give <rig>/${s}`);
    const id: Identity = { role: s, rig };
    targetOf(townRoot, id);
    return [id];
  }
  const id = parseAgentAddress(townRoot, s);
  if (id.role !== 'overseer') targetOf(townRoot, id);
  if (!agentExists(townRoot, id, townTmux(townRoot, env)))
    throw new NotFoundError(
      `no agent ${actorOf(id)} in this town (no session, no workspace); see \`gt agents\``,
    );
  return [id];
}

/** Live agents for `gt broadcast`: workers (polecats, crew) by default, everyone with `all`. */
export function broadcastTargets(
  townRoot: string,
  o: { rig?: string; all?: boolean; env?: NodeJS.ProcessEnv; exclude?: string },
): Identity[] {
  if (o.rig !== undefined && !Object.hasOwn(readRigs(townRoot), o.rig))
    throw new NotFoundError(`no rig named ${JSON.stringify(o.rig)}`);
  const out: Identity[] = [];
  for (const s of listAgentSessions(townRoot, o.env)) {
    if (s.state !== 'alive' || !s.role) continue;
    if (!o.all && s.role !== 'polecat' && s.role !== 'crew') continue;
    if (o.rig !== undefined && s.rig !== o.rig) continue;
    const id: Identity = {
      role: s.role,
      ...(s.rig ? { rig: s.rig } : {}),
      ...(s.name ? { name: s.name } : {}),
    };
    if (o.exclude && actorOf(id) === o.exclude) continue;
    out.push(id);
  }
  return out;
}
