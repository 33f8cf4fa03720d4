// Agent sessions: start, stop, restart and inspect the tmux session of any identity (mayor,
// deacon, boot, dogs, witness, refinery, polecats, crew). Operational state (pid, heartbeat,
// session registry, deaths) is plain files under `<town>/.runtime/`; the agent bead's
// `agent_state` and `session` change in one ledger transaction per command.
import fs from 'node:fs';
import path from 'node:path';
import { BeadStore } from '../beads/store.ts';
import { writeFileAtomic } from '../beads/wisps.ts';
import { GtError, UsageError } from '../errors.ts';
import { loadCodec } from '../ledger/codec.ts';
import {
  type AgentMeta,
  type AgentState,
  agentMeta,
  ensureAgentBead,
  updateAgentMeta,
} from '../town/agents.ts';
import { readJson, readRigs, type TownJson } from '../town/files.ts';
import {
  actorOf,
  agentBeadIdOf,
  agentEnv,
  type Identity,
  parseIdentity,
  sessionNameOf,
  TOWN_ROLES,
  tmuxSocketOf,
  workDirOf,
} from '../town/identity.ts';
import { validateAgentName } from '../town/names.ts';
import { rigPaths, townPaths } from '../town/paths.ts';
import { durationMs, loadTownSettings, settingValue } from '../town/settings.ts';
import {
  type AgentChoice,
  type AgentPreset,
  agentArgv,
  gtBinPath,
  materializeAgentSettings,
  requireInstalled,
  resolveAgent,
} from './presets.ts';
import { type PaneInfo, pidAlive, shellQuote, Tmux, validateSessionName } from './tmux.ts';

export type Liveness = 'alive' | 'dead' | 'zombie';

/** Everything gt needs to know to run one identity's session. */
export interface AgentTarget {
  id: Identity;
  /** Actor form of the address (`mayor`, `myrig/witness`, `myrig/polecats/nux`). */
  address: string;
  session: string;
  prefix?: string;
  beadId: string;
  cwd: string;
}

/** The session registry entry `.runtime/sessions/<session>.json`. */
export interface SessionRecord {
  session: string;
  address: string;
  role: Identity['role'];
  rig?: string;
  name?: string;
  agent: string;
  process_names: string[];
  cwd: string;
  pane_pid: number;
  socket: string;
  bead: string;
  started_at: string;
  restarts: number;
}

export interface SessionStatus {
  session: string;
  address: string | null;
  role: Identity['role'] | null;
  rig: string | null;
  name: string | null;
  agent: string | null;
  state: Liveness;
  pane_pid: number | null;
  pane_command: string | null;
  exit_status: number | null;
  started_at: string | null;
  last_death: DeathRecord | null;
}

export interface DeathRecord {
  session: string;
  pane_pid: number | null;
  exit_status: number | null;
  signal: string | null;
  at: string;
  count: number;
}

export interface LaunchOptions {
  /** `--agent`: wins over every setting. */
  agent?: string;
  /** Extra environment for the session. */
  env?: Record<string, string>;
  /** Wait for the agent's prompt (default true). */
  wait?: boolean;
  /** Ready timeout (default: operational.session.start_timeout). */
  timeoutMs?: number;
  /** For the beacon: who sent the work, and the attached molecule. */
  sender?: string;
  assigned?: string;
  /** Environment used to find tmux and the agent CLI (default process.env). */
  processEnv?: NodeJS.ProcessEnv;
}

export type LaunchAction = 'started' | 'running' | 'restarted';

export interface LaunchResult {
  session: string;
  address: string;
  action: LaunchAction;
  agent: string;
  agent_source: string;
  pane_pid: number;
  cwd: string;
  beacon: string;
  settings_file: string | null;
  bead: string;
  /** Start-up dialogs answered on the agent's behalf (workspace trust, ...). */
  dialogs_dismissed?: string[];
}

export interface StopResult {
  session: string;
  address: string;
  action: 'stopped' | 'not-running';
  bead: string;
}

// ---- targets ------------------------------------------------------------------------------

function crewNamesOf(townRoot: string, rig: string): string[] {
  if (!/^[A-Za-z][A-Za-z0-9_]*$/.test(rig)) return [];
  try {
    return fs
      .readdirSync(rigPaths(townRoot, rig).crewDir, { withFileTypes: true })
      .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
      .map((e) => e.name);
  } catch {
    return [];
  }
}

/** Parse an agent address given on the command line (`mayor`, `myrig/witness`, `myrig/crew/bob`, `myrig/nux`). */
export function parseAgentAddress(townRoot: string, input: string): Identity {
  return parseIdentity(input, { crewNames: (rig) => crewNamesOf(townRoot, rig) });
}

/** Validate an identity against the town (rig registered, names safe) and derive its session. */
export function targetOf(townRoot: string, id: Identity): AgentTarget {
  if (id.role === 'overseer')
    throw new UsageError('the overseer is you: it has no agent session (try mayor or <rig>/witness)');
  if (id.name !== undefined) validateAgentName(id.name, id.role);
  let prefix: string | undefined;
  if (!TOWN_ROLES.has(id.role)) {
    const rigs = readRigs(townRoot);
    if (!id.rig || !Object.hasOwn(rigs, id.rig))
      throw new UsageError(
        `no rig named ${JSON.stringify(id.rig ?? '')} (rigs: ${Object.keys(rigs).join(', ') || 'none'}); add one with \`gt rig add NAME URL\``,
      );
    prefix = rigs[id.rig].beads?.prefix;
    if (!prefix)
      throw new GtError(`rig ${id.rig} has no beads.prefix in mayor/rigs.json; run \`gt doctor --fix\``);
  }
  const session = sessionNameOf(id, prefix);
  validateSessionName(session);
  return {
    id,
    address: actorOf(id),
    session,
    prefix,
    beadId: agentBeadIdOf(id, prefix),
    cwd: workDirOf(id, townRoot),
  };
}

/** The town's tmux server (`-L <socket>`, GT_TMUX_SOCKET overrides). */
export function townTmux(townRoot: string, env: NodeJS.ProcessEnv = process.env): Tmux {
  return new Tmux(tmuxSocketOf(townRoot, env), { env });
}

// ---- operational files ----------------------------------------------------------------------

function runtimeFile(townRoot: string, kind: 'pids' | 'heartbeats' | 'sessions' | 'deaths', session: string) {
  validateSessionName(session);
  const ext = kind === 'pids' ? 'pid' : 'json';
  return path.join(townPaths(townRoot).runtimeDir, kind, `${session}.${ext}`);
}

export function pidFile(townRoot: string, session: string): string {
  return runtimeFile(townRoot, 'pids', session);
}
export function heartbeatFile(townRoot: string, session: string): string {
  return runtimeFile(townRoot, 'heartbeats', session);
}

function readJsonFile<T>(file: string): T | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

export function readSessionRecord(townRoot: string, session: string): SessionRecord | null {
  return readJsonFile<SessionRecord>(runtimeFile(townRoot, 'sessions', session));
}

export function readDeath(townRoot: string, session: string): DeathRecord | null {
  return readJsonFile<DeathRecord>(runtimeFile(townRoot, 'deaths', session));
}

/** Touch an agent's heartbeat `.runtime/heartbeats/<session>.json`. */
export function touchHeartbeat(townRoot: string, session: string, extra: Record<string, unknown> = {}): void {
  writeFileAtomic(
    heartbeatFile(townRoot, session),
    `${JSON.stringify({ session, at: new Date().toISOString(), ...extra })}\n`,
  );
}

function removeRuntimeFiles(townRoot: string, session: string): void {
  for (const kind of ['pids', 'heartbeats', 'sessions'] as const)
    fs.rmSync(runtimeFile(townRoot, kind, session), { force: true });
}

/** Called by the pane-died hook: remember the death for the daemon and `gt agents`. */
export function recordDeath(
  townRoot: string,
  session: string,
  o: { pid?: number | null; status?: number | null; signal?: string | null } = {},
): DeathRecord {
  const file = runtimeFile(townRoot, 'deaths', session);
  const prev = readJsonFile<DeathRecord>(file);
  // The same death reported twice (the hook, and a reap nudged later) counts once.
  if (prev && o.pid && prev.pane_pid === o.pid) return prev;
  const rec: DeathRecord = {
    session,
    pane_pid: o.pid ?? null,
    exit_status: o.status ?? null,
    signal: o.signal || null,
    at: new Date().toISOString(),
    count: (prev?.count ?? 0) + 1,
  };
  writeFileAtomic(file, `${JSON.stringify(rec, null, 2)}\n`);
  return rec;
}

// ---- liveness -------------------------------------------------------------------------------

/** alive: the agent runs; zombie: the session is there but the agent is gone; dead: no session. */
export function classify(pane: PaneInfo | null, processNames: string[], pidFallback: boolean): Liveness {
  if (!pane) return 'dead';
  if (pane.paneDead) return 'zombie';
  if (processNames.includes(pane.paneCommand)) return 'alive';
  if (pidFallback && pidAlive(pane.panePid)) return 'alive';
  return 'zombie';
}

function processNamesFor(
  townRoot: string,
  t: AgentTarget,
  rec: SessionRecord | null,
  env: NodeJS.ProcessEnv,
) {
  if (rec) return { names: rec.process_names, agent: rec.agent, scripted: rec.agent === 'scripted' };
  try {
    const p = resolveAgent(townRoot, t.id, { env }).preset;
    return { names: p.process_names, agent: p.name, scripted: p.provider === 'scripted' };
  } catch {
    return { names: [] as string[], agent: null, scripted: false };
  }
}

function statusRow(
  townRoot: string,
  session: string,
  pane: PaneInfo | null,
  t: AgentTarget | null,
  rec: SessionRecord | null,
  env: NodeJS.ProcessEnv,
): SessionStatus {
  const pn = t ? processNamesFor(townRoot, t, rec, env) : { names: [], agent: null, scripted: false };
  return {
    session,
    address: t?.address ?? rec?.address ?? null,
    role: t?.id.role ?? rec?.role ?? null,
    rig: t?.id.rig ?? rec?.rig ?? null,
    name: t?.id.name ?? rec?.name ?? null,
    agent: pn.agent,
    state: classify(pane, pn.names, pn.scripted),
    pane_pid: pane?.panePid ?? null,
    pane_command: pane ? pane.paneCommand : null,
    exit_status: pane?.paneDead ? pane.paneDeadStatus : null,
    started_at: rec?.started_at ?? null,
    last_death: readDeath(townRoot, session),
  };
}

/** The liveness of one identity's session. */
export function sessionStatus(
  townRoot: string,
  id: Identity,
  env: NodeJS.ProcessEnv = process.env,
): SessionStatus {
  const t = targetOf(townRoot, id);
  const tmux = townTmux(townRoot, env);
  const pane = tmux.paneInfo(t.session);
  // A dead pane without an exit status has not been reaped: let tmux do it (and fire pane-died).
  if (pane?.paneDead && pane.paneDeadStatus === null) tmux.nudgeReap();
  return statusRow(townRoot, t.session, pane, t, readSessionRecord(townRoot, t.session), env);
}

/** The identity behind a session name, from the registry or the naming scheme of spec §2.5. */
export function identityOfSession(townRoot: string, session: string): Identity | null {
  const rec = readSessionRecord(townRoot, session);
  if (rec)
    return { role: rec.role, ...(rec.rig ? { rig: rec.rig } : {}), ...(rec.name ? { name: rec.name } : {}) };
  if (session === 'hq-mayor') return { role: 'mayor' };
  if (session === 'hq-deacon') return { role: 'deacon' };
  if (session === 'hq-boot') return { role: 'boot' };
  if (session.startsWith('hq-dog-')) return { role: 'dog', name: session.slice(7) };
  for (const [rig, e] of Object.entries(readRigs(townRoot))) {
    const p = `${e.beads?.prefix}-`;
    if (!session.startsWith(p)) continue;
    const rest = session.slice(p.length);
    if (rest === 'witness' || rest === 'refinery') return { role: rest, rig };
    if (rest.startsWith('crew-')) return { role: 'crew', rig, name: rest.slice(5) };
    if (rest) return { role: 'polecat', rig, name: rest };
  }
  return null;
}

/** Every session on the town's socket plus every registered one (dead ones included). */
export function listAgentSessions(townRoot: string, env: NodeJS.ProcessEnv = process.env): SessionStatus[] {
  const tmux = townTmux(townRoot, env);
  const panes = new Map(tmux.listSessions().map((p) => [p.session, p]));
  if ([...panes.values()].some((p) => p.paneDead && p.paneDeadStatus === null)) tmux.nudgeReap();
  const names = new Set(panes.keys());
  const regDir = path.join(townPaths(townRoot).runtimeDir, 'sessions');
  if (fs.existsSync(regDir))
    for (const f of fs.readdirSync(regDir)) if (f.endsWith('.json')) names.add(f.slice(0, -5));
  const rows: SessionStatus[] = [];
  for (const session of [...names].sort()) {
    try {
      validateSessionName(session);
    } catch {
      continue;
    }
    const id = identityOfSession(townRoot, session);
    let t: AgentTarget | null = null;
    try {
      t = id ? targetOf(townRoot, id) : null;
    } catch {
      t = null;
    }
    rows.push(
      statusRow(townRoot, session, panes.get(session) ?? null, t, readSessionRecord(townRoot, session), env),
    );
  }
  return rows;
}

// ---- start / stop ------------------------------------------------------------------------------

/** The start-up beacon (spec §2.7): identifies the session in transcripts and starts the work. */
export function beaconOf(id: Identity, o: { sender?: string; assigned?: string; at?: Date } = {}): string {
  const stamp = (o.at ?? new Date()).toISOString().slice(0, 16);
  const who = [id.role, id.name].filter(Boolean).join(' ');
  const rig = id.rig && !TOWN_ROLES.has(id.role) ? ` (rig: ${id.rig})` : '';
  const from = o.sender ? ` <- ${o.sender}` : '';
  const assigned = o.assigned ? ` • assigned:${o.assigned}` : '';
  return `[GAS TOWN] ${who}${rig}${from} • ${stamp}${assigned} • Run \`gt prime --hook\` and begin work on your hook.`;
}

/** Make sure the working directory exists: town-role and witness homes are created, worktrees are not. */
function ensureWorkDir(_townRoot: string, t: AgentTarget): void {
  if (fs.existsSync(t.cwd)) {
    if (!fs.statSync(t.cwd).isDirectory()) throw new GtError(`${t.cwd} is not a directory`);
    return;
  }
  if (TOWN_ROLES.has(t.id.role) || t.id.role === 'witness') {
    fs.mkdirSync(t.cwd, { recursive: true });
    return;
  }
  const fix =
    t.id.role === 'refinery'
      ? `the rig's refinery worktree is missing; run \`gt doctor --fix\` or re-add the rig`
      : t.id.role === 'crew'
        ? `create the workspace with \`gt crew add ${t.id.name} --rig ${t.id.rig}\``
        : 'polecats get their worktree from `gt sling`';
  throw new GtError(`${t.address} has no working directory (${t.cwd}): ${fix}`);
}

function ownerEmail(townRoot: string): string | undefined {
  try {
    const owner = readJson<TownJson>(townPaths(townRoot).townJson, 'mayor/town.json').owner;
    return owner?.includes('@') ? owner : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `<town>/.runtime/bin/{gt,bd}`: tiny scripts running this installation's bundles with this
 * node, so agents (and the step commands they run) find `gt done`, `bd close`... on their PATH
 * whether or not the package is installed globally. Rewritten only when they change.
 */
export function commandShims(townRoot: string): string {
  const dir = path.join(townPaths(townRoot).runtimeDir, 'bin');
  const dist = path.dirname(gtBinPath({ check: false }));
  fs.mkdirSync(dir, { recursive: true });
  for (const name of ['gt', 'bd']) {
    const text = `#!/bin/sh\nexec ${shellQuote(process.execPath)} ${shellQuote(path.join(dist, `${name}.mjs`))} "$@"\n`;
    const file = path.join(dir, name);
    let old = '';
    try {
      old = fs.readFileSync(file, 'utf8');
    } catch {}
    if (old !== text) {
      // Executable before it appears under its name: a starting agent never sees it half made.
      const tmp = `${file}.tmp.${process.pid}`;
      fs.writeFileSync(tmp, text, { mode: 0o755 });
      fs.renameSync(tmp, file);
    }
  }
  return dir;
}

function sessionEnv(
  townRoot: string,
  t: AgentTarget,
  p: AgentPreset,
  tmux: Tmux,
  beacon: string,
  extra: Record<string, string>,
  caller: NodeJS.ProcessEnv,
): Record<string, string> {
  const shims = commandShims(townRoot);
  const env: Record<string, string> = {
    // The tmux server keeps the environment of whoever started it: the agent gets the PATH
    // (and HOME) it was found with instead, with `gt` and `bd` of this installation first.
    PATH: caller.PATH ? `${shims}${path.delimiter}${caller.PATH}` : shims,
    ...(caller.HOME ? { HOME: caller.HOME } : {}),
    ...agentEnv(t.id, townRoot, {
      rigPrefix: t.prefix,
      session: t.session,
      agent: p.name,
      ownerEmail: ownerEmail(townRoot),
    }),
    GT_TMUX_SOCKET: tmux.socket,
    GT_PROCESS_NAMES: p.process_names.join(','),
    GT_BEACON: beacon,
    NODE_OPTIONS: '',
    CLAUDECODE: '',
  };
  if (p.provider === 'claude') {
    const effort = loadTownSettings(townRoot).role_effort?.[t.id.role];
    env.CLAUDE_CODE_EFFORT_LEVEL = typeof effort === 'string' ? effort : 'high';
  }
  return { ...env, ...p.env, ...extra };
}

/** The fixed pane-died hook: data reaches the shell only through tmux's own `#{q:...}` quoting. */
export const PANE_DIED_HOOK =
  'run-shell -b "#{q:@gt_node} #{q:@gt_bin} session record-death #{q:session_name} --town #{q:@gt_town} --pid=#{pane_pid} --status=#{pane_dead_status} --signal=#{pane_dead_signal}"';

function startTimeout(townRoot: string, t: AgentTarget, o: LaunchOptions): number {
  if (o.timeoutMs !== undefined) return o.timeoutMs;
  const key = 'operational.session.start_timeout';
  return durationMs(settingValue(key, { townRoot, rig: t.id.rig, env: o.processEnv }), key);
}

/**
 * Start (or, when `restart`, respawn) one identity's session and wait for it to be ready.
 * Writes the pid, heartbeat and registry files; does not touch the ledger (see
 * recordAgentStates). An alive session is left alone (`running`); a zombie is respawned.
 */
export async function launchSession(
  townRoot: string,
  id: Identity,
  o: LaunchOptions & { restart?: boolean } = {},
): Promise<LaunchResult> {
  const env = o.processEnv ?? process.env;
  const t = targetOf(townRoot, id);
  const tmux = townTmux(townRoot, env);
  tmux.ensureAvailable();
  const rec = readSessionRecord(townRoot, t.session);
  const existing = tmux.paneInfo(t.session);
  const choice: AgentChoice = resolveAgent(townRoot, id, { flag: o.agent, env });
  const p = choice.preset;
  if (existing && !o.restart) {
    const pn = processNamesFor(townRoot, t, rec, env);
    if (classify(existing, pn.names, pn.scripted) === 'alive') {
      return {
        session: t.session,
        address: t.address,
        action: 'running',
        agent: pn.agent ?? p.name,
        agent_source: rec ? 'running session' : choice.source,
        pane_pid: existing.panePid,
        cwd: rec?.cwd ?? t.cwd,
        beacon: '',
        settings_file: null,
        bead: t.beadId,
      };
    }
  }
  requireInstalled(choice, env.PATH);
  ensureWorkDir(townRoot, t);
  const settingsFile = materializeAgentSettings(townRoot, id, p);
  const beacon = beaconOf(id, { sender: o.sender, assigned: o.assigned });
  const argv = agentArgv(p, { settingsFile, prompt: beacon });
  const senv = sessionEnv(townRoot, t, p, tmux, beacon, o.env ?? {}, env);
  const gtBin = gtBinPath({ check: false });
  const hookOptions = { gt_node: process.execPath, gt_bin: gtBin, gt_town: path.resolve(townRoot) };
  const respawn = !!existing;
  if (respawn) {
    tmux.respawnPane(t.session, { command: argv, cwd: t.cwd, env: senv });
  } else {
    tmux.newSession({
      name: t.session,
      cwd: t.cwd,
      command: argv,
      env: senv,
      remainOnExit: true,
      userOptions: hookOptions,
      paneDiedHook: fs.existsSync(gtBin) ? PANE_DIED_HOOK : undefined,
    });
  }
  const dialogs: string[] = [];
  try {
    if (o.wait !== false) {
      await tmux.waitForReady(t.session, {
        promptPrefix: p.ready_prompt_prefix,
        delayMs: p.ready_delay_ms,
        timeoutMs: startTimeout(townRoot, t, o),
        label: `${t.address} (${p.name})`,
        // Unattended sessions must not sit at a trust question (src/runtime/dialogs.ts).
        dismissDialogs: p.provider !== 'scripted',
        onDialog: (name) => dialogs.push(name),
      });
      // Agents that take no prompt argument get the beacon typed in once they are ready.
      if (p.prompt_mode === 'none' && p.provider !== 'scripted') await tmux.sendText(t.session, beacon);
    }
  } catch (e) {
    // Nothing half-made: a session that did not come up is removed with its files.
    tmux.killSession(t.session);
    removeRuntimeFiles(townRoot, t.session);
    throw e;
  }
  const pane = tmux.paneInfo(t.session);
  const panePid = pane?.panePid ?? 0;
  const record: SessionRecord = {
    session: t.session,
    address: t.address,
    role: id.role,
    ...(id.rig ? { rig: id.rig } : {}),
    ...(id.name ? { name: id.name } : {}),
    agent: p.name,
    process_names: p.process_names,
    cwd: t.cwd,
    pane_pid: panePid,
    socket: tmux.socket,
    bead: t.beadId,
    started_at: new Date().toISOString(),
    restarts: respawn ? (rec?.restarts ?? 0) + 1 : 0,
  };
  writeFileAtomic(runtimeFile(townRoot, 'sessions', t.session), `${JSON.stringify(record, null, 2)}\n`);
  writeFileAtomic(pidFile(townRoot, t.session), `${panePid}\n`);
  touchHeartbeat(townRoot, t.session, { state: 'started', agent: p.name });
  return {
    session: t.session,
    address: t.address,
    action: respawn ? 'restarted' : 'started',
    agent: p.name,
    agent_source: choice.source,
    pane_pid: panePid,
    cwd: t.cwd,
    beacon,
    settings_file: settingsFile,
    bead: t.beadId,
    ...(dialogs.length ? { dialogs_dismissed: dialogs } : {}),
  };
}

export interface AgentStateChange {
  id: Identity;
  agent_state: AgentState;
  session: string | null;
  agent?: string;
}

/**
 * Record agent states on their beads in one ledger commit (none when nothing changes). A
 * started agent with work on its hook is `working`, else `idle`.
 */
export async function recordAgentStates(
  townRoot: string,
  changes: AgentStateChange[],
  subject: string,
  actor?: string,
): Promise<void> {
  if (changes.length === 0) return;
  await loadCodec();
  const store = BeadStore.open(townRoot, { actor: actor ?? process.env.BD_ACTOR ?? 'gt' });
  try {
    store.transact(subject, (tx) => {
      for (const c of changes) {
        const t = targetOf(townRoot, c.id);
        const meta = agentMeta(ensureAgentBead(tx, c.id, t.prefix));
        const patch: Record<string, unknown> = { agent_state: c.agent_state, session: c.session };
        if (c.agent) patch.agent = c.agent;
        if (c.agent_state === 'idle' && meta.hook_bead) patch.agent_state = 'working';
        if (Object.entries(patch).some(([k, v]) => (meta[k] ?? null) !== v))
          updateAgentMeta(tx, t.beadId, patch as Partial<AgentMeta>);
      }
    });
  } finally {
    store.flush();
  }
}

/** Start a session and record it on the agent bead (one commit). Idempotent. */
export async function startSession(
  townRoot: string,
  id: Identity,
  o: LaunchOptions & { actor?: string } = {},
): Promise<LaunchResult> {
  return (await startSessions(townRoot, [id], o, 'start'))[0] as LaunchResult;
}

/** Restart: respawn the pane of an existing session (alive or not), else start it. */
export async function restartSession(
  townRoot: string,
  id: Identity,
  o: LaunchOptions & { actor?: string } = {},
): Promise<LaunchResult> {
  return (await startSessions(townRoot, [id], { ...o, restart: true }, 'restart'))[0] as LaunchResult;
}

export interface BatchFailure {
  session: string | null;
  address: string;
  action: 'failed';
  error: string;
}

/**
 * Start several sessions concurrently, then record every change in one ledger commit. With
 * one identity an error is thrown; with several, failures are reported per session.
 */
export async function startSessions(
  townRoot: string,
  ids: Identity[],
  o: LaunchOptions & { actor?: string; restart?: boolean } = {},
  verb = 'start',
): Promise<(LaunchResult | BatchFailure)[]> {
  const results = await Promise.all(
    ids.map(async (id) => {
      try {
        return await launchSession(townRoot, id, o);
      } catch (e: any) {
        if (ids.length === 1) throw e;
        let session: string | null = null;
        try {
          session = targetOf(townRoot, id).session;
        } catch {
          session = null;
        }
        return { session, address: actorOf(id), action: 'failed' as const, error: String(e.message ?? e) };
      }
    }),
  );
  const changes: AgentStateChange[] = [];
  const fresh: LaunchResult[] = [];
  results.forEach((r, i) => {
    if (r.action !== 'started' && r.action !== 'restarted') return;
    fresh.push(r);
    changes.push({ id: ids[i], agent_state: 'idle', session: r.session, agent: r.agent });
  });
  try {
    await recordAgentStates(
      townRoot,
      changes,
      `gt ${verb}: ${fresh.map((r) => r.address).join(', ')}`,
      o.actor,
    );
  } catch (e) {
    // The ledger refused: take the new sessions down again so nothing is half-made.
    const tmux = townTmux(townRoot, o.processEnv);
    for (const r of fresh) {
      tmux.killSession(r.session);
      removeRuntimeFiles(townRoot, r.session);
    }
    throw e;
  }
  return results;
}

/** Stop sessions (kill, clear runtime files) and mark their beads stopped in one commit. */
export async function stopSessions(
  townRoot: string,
  ids: Identity[],
  o: { actor?: string; processEnv?: NodeJS.ProcessEnv } = {},
): Promise<StopResult[]> {
  await loadCodec();
  const tmux = townTmux(townRoot, o.processEnv);
  tmux.ensureAvailable();
  const targets = ids.map((id) => targetOf(townRoot, id));
  const results: StopResult[] = targets.map((t) => {
    const killed = tmux.killSession(t.session);
    removeRuntimeFiles(townRoot, t.session);
    return {
      session: t.session,
      address: t.address,
      action: killed ? 'stopped' : 'not-running',
      bead: t.beadId,
    };
  });
  const store = BeadStore.open(townRoot, { actor: o.actor ?? process.env.BD_ACTOR ?? 'gt' });
  try {
    store.transact(`gt stop: ${results.map((r) => r.address).join(', ')}`, (tx) => {
      targets.forEach((t) => {
        const b = tx.get(t.beadId);
        if (!b) return; // never started: nothing to record
        const m = agentMeta(b);
        if (m.agent_state !== 'stopped' || (m.session ?? null) !== null)
          updateAgentMeta(tx, t.beadId, { agent_state: 'stopped', session: null });
      });
    });
  } finally {
    store.flush();
  }
  return results;
}

export async function stopSession(
  townRoot: string,
  id: Identity,
  o: { actor?: string; processEnv?: NodeJS.ProcessEnv } = {},
): Promise<StopResult> {
  return (await stopSessions(townRoot, [id], o))[0];
}

// ---- up / down ----------------------------------------------------------------------------------

/** The town's infrastructure: mayor, deacon, and every rig's witness and refinery. */
export function infrastructureIdentities(townRoot: string): Identity[] {
  const ids: Identity[] = [{ role: 'mayor' }, { role: 'deacon' }];
  for (const rig of Object.keys(readRigs(townRoot)).sort()) {
    ids.push({ role: 'witness', rig }, { role: 'refinery', rig });
  }
  return ids;
}

export function shutdownLockFile(townRoot: string): string {
  return path.join(townPaths(townRoot).daemonDir, 'shutdown.lock');
}
