// The witness (spec §2.10, §5.4, §5.5): observe every polecat of each rig, run the pure
// detectors of src/patrol/detect.ts, and act on what they find. Restart-first: a dead, hung or
// stuck session is restarted in the same worktree through the sessions module (the agent gets
// its env back and continues its molecule, which is the state); work is never deleted.
//
// Acting, per finding:
// - restart kinds: backoff and crash-loop state (src/patrol/backoff.ts) decide; a crash loop
//   files a bug bead naming the agent and its bead and mails the mayor (HELP), once; agents
//   with a pending merge request are never restarted (the detector reports them with action
//   none). Right before restarting, the session and the hook are looked at again (TOCTOU: the
//   session may have been recreated, or the work finished, since the observation).
// - orphaned-bead: reset to open and unassigned in one ledger transaction (re-checked under the
//   ledger lock), then RECOVERED_BEAD mail to the deacon (the mayor when that fails).
// - gupp-violation: a nudge to the agent and GUPP_VIOLATION mail to the rig's witness, at most
//   once per gupp_violation period per agent.
// - mass-death: an escalation (high), at most once per mass_death_window per rig.
// One rig's failure is recorded in the report's errors and never stops the others.
import fs from 'node:fs';
import path from 'node:path';
import type { Graph } from '../beads/graph.ts';
import { addComment, addDependency, createBead, setStatus } from '../beads/ops.ts';
import type { BeadSummary } from '../beads/record.ts';
import { BeadStore } from '../beads/store.ts';
import { loadCodec } from '../ledger/codec.ts';
import {
  classify,
  heartbeatFile,
  readDeath,
  readSessionRecord,
  restartSession,
  type SessionRecord,
  shutdownLockFile,
  townTmux,
} from '../runtime/sessions.ts';
import { type PaneInfo, pidAlive, type Tmux } from '../runtime/tmux.ts';
import { agentMeta, updateAgentMeta } from '../town/agents.ts';
import { actorOf, agentBeadIdOf, type Identity, sessionNameOf } from '../town/identity.ts';
import { doneIntentFile, polecatWorktree, rigPaths, townPaths } from '../town/paths.ts';
import { getRig, rigNames, subdirs } from '../town/rigs.ts';
import { durationMs, settingValue } from '../town/settings.ts';
import { findHookIn } from '../work/hook.ts';
import {
  afterRestart,
  agentStateFile,
  type BackoffConfig,
  decide,
  loadRigState,
  loadState,
  markCrashLoop,
  markTrouble,
  pruneDeaths,
  type RestartState,
  saveRigState,
  saveState,
  settle,
  witnessDir,
} from './backoff.ts';
import {
  type AgentObservation,
  type AssignedBead,
  detectRig,
  type Finding,
  fmtDuration,
  hasWork,
  inSpawnGrace,
  RESTART_KINDS,
  type RigObservation,
  type Thresholds,
} from './detect.ts';

export interface WitnessAction {
  kind: Finding['kind'];
  agent: string;
  bead?: string;
  result: string;
}

export interface WitnessReport {
  findings: Finding[];
  actions: WitnessAction[];
  errors: string[];
}

export interface WitnessOptions {
  rig?: string;
  env?: NodeJS.ProcessEnv;
  now?: number;
  act?: boolean;
  /** Called right before the re-check of each restart (tests use it to race the witness). */
  beforeRestart?: (f: Finding) => void | Promise<void>;
}

// ---- settings ---------------------------------------------------------------------------------

function dur(townRoot: string, rig: string, env: NodeJS.ProcessEnv, key: string): number {
  return durationMs(settingValue(key, { townRoot, rig, env }), key);
}

function num(townRoot: string, rig: string, env: NodeJS.ProcessEnv, key: string): number {
  const v = Number(settingValue(key, { townRoot, rig, env }));
  if (!Number.isFinite(v) || v < 0)
    throw new Error(`setting ${key} must be a number ≥ 0 (gt config set ${key} 3)`);
  return v;
}

export function witnessThresholds(townRoot: string, rig: string, env: NodeJS.ProcessEnv): Thresholds {
  return {
    hung_session: dur(townRoot, rig, env, 'operational.session.hung_session'),
    gupp_violation: dur(townRoot, rig, env, 'operational.session.gupp_violation'),
    stuck_in_done: dur(townRoot, rig, env, 'operational.session.stuck_in_done'),
    self_stuck: dur(townRoot, rig, env, 'operational.session.self_stuck'),
    spawn_grace: dur(townRoot, rig, env, 'operational.session.spawn_grace'),
    mass_death_count: num(townRoot, rig, env, 'operational.witness.mass_death_count'),
    mass_death_window: dur(townRoot, rig, env, 'operational.witness.mass_death_window'),
  };
}

export function backoffConfig(townRoot: string, rig: string, env: NodeJS.ProcessEnv): BackoffConfig {
  return {
    base: dur(townRoot, rig, env, 'operational.witness.restart_backoff_base'),
    max: dur(townRoot, rig, env, 'operational.witness.restart_backoff_max'),
    crash_loop_count: num(townRoot, rig, env, 'operational.witness.crash_loop_count'),
    crash_loop_window: dur(townRoot, rig, env, 'operational.witness.crash_loop_window'),
    crash_loop_reset: dur(townRoot, rig, env, 'operational.witness.crash_loop_reset'),
  };
}

// ---- observation ------------------------------------------------------------------------------

function readJsonFile(file: string): Record<string, unknown> | null {
  try {
    const v = JSON.parse(fs.readFileSync(file, 'utf8'));
    return v && typeof v === 'object' ? v : null;
  } catch {
    return null;
  }
}

/** A time from a JSON field: ISO text, or a number in ms (or in s when small). */
export function timeOf(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v < 1e12 ? v * 1000 : v;
  if (typeof v === 'string' && v) {
    const t = Date.parse(v);
    if (Number.isFinite(t)) return t;
    if (/^\d+(\.\d+)?$/.test(v)) return timeOf(Number(v));
  }
  return null;
}

function parseTime(s: string | undefined | null): number | null {
  return s ? timeOf(s) : null;
}

/** The heartbeat of a session (`.runtime/heartbeats/<session>.json`, else the actor-keyed one). */
function readHeartbeat(townRoot: string, session: string, actor: string): AgentObservation['heartbeat'] {
  const files = [heartbeatFile(townRoot, session)];
  files.push(path.join(townPaths(townRoot).runtimeDir, 'heartbeats', `${actor.replace(/\//g, '-')}.json`));
  let best: AgentObservation['heartbeat'] = null;
  for (const f of files) {
    const j = readJsonFile(f);
    if (!j) continue;
    const time = timeOf(j.time ?? j.timestamp ?? j.at);
    if (time !== null && (!best || time > best.time))
      best = { time, state: typeof j.state === 'string' ? j.state : null };
  }
  return best;
}

/** The last commit the post-commit hook recorded for a bead (`.runtime/progress/<bead>.json`). */
function readProgress(townRoot: string, bead: string): number | null {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(bead)) return null;
  const j = readJsonFile(path.join(townPaths(townRoot).runtimeDir, 'progress', `${bead}.json`));
  return j ? timeOf(j.time ?? j.at) : null;
}

/**
 * When the agent started finishing: gt done's intent file (`.runtime/done-intent/<agent bead>.json`,
 * see src/work/done.ts), a `done-intent:<EXIT>:<unix>` label on the agent bead (spec §2.9 step 3),
 * or an agent_state of done/finishing.
 */
function doneIntentOf(townRoot: string, b: BeadSummary): number | null {
  const file = readJsonFile(doneIntentFile(townRoot, b.id));
  if (file) {
    const at = timeOf(file.at);
    if (at !== null) return at;
  }
  let best: number | null = null;
  for (const l of b.labels ?? []) {
    const m = /^done-intent:[A-Za-z_]+:(\d+)$/.exec(l);
    if (!m) continue;
    const t = timeOf(Number(m[1]));
    if (t !== null && (best === null || t > best)) best = t;
  }
  if (best !== null) return best;
  const st = agentMeta(b).agent_state as string;
  return st === 'done' || st === 'finishing' ? parseTime(b.updated_at) : null;
}

const NOT_WORK = new Set(['agent', 'message', 'merge-request', 'molecule', 'convoy', 'event']);

function isOpen(b: BeadSummary | undefined): boolean {
  return !!b && b.status !== 'closed' && b.status !== 'tombstone';
}

function isMR(b: BeadSummary): boolean {
  return b.issue_type === 'merge-request' || (b.labels ?? []).includes('gt:merge-request');
}

interface MRIndex {
  byWorker: Map<string, string>;
  byIssue: Map<string, string>;
}

function mrIndex(g: Graph): MRIndex {
  const byWorker = new Map<string, string>();
  const byIssue = new Map<string, string>();
  for (const b of g.byId.values()) {
    if (!isMR(b) || !isOpen(b)) continue;
    const m = (b.metadata ?? {}) as Record<string, unknown>;
    if (typeof m.worker === 'string') byWorker.set(m.worker, b.id);
    if (typeof m.source_issue === 'string') byIssue.set(m.source_issue, b.id);
  }
  return { byWorker, byIssue };
}

function activeMR(g: Graph, b: BeadSummary | undefined): string | null {
  const id = (b?.metadata as Record<string, unknown> | undefined)?.active_mr;
  return typeof id === 'string' && isOpen(g.byId.get(id)) ? id : null;
}

export interface TmuxSnapshot {
  panes: Map<string, PaneInfo>;
  /** Last output per session (window_activity, ms). */
  activity: Map<string, number>;
}

/** Every session on the town's socket with its last output time (two tmux calls). */
export function tmuxSnapshot(tmux: Tmux): TmuxSnapshot {
  const list = tmux.listSessions();
  if (list.some((p) => p.paneDead && p.paneDeadStatus === null)) tmux.nudgeReap();
  const panes = new Map(list.map((p) => [p.session, p]));
  const activity = new Map<string, number>();
  if (list.length) {
    const r = tmux.run([['list-sessions', '-F', '#{session_name}\t#{window_activity}']], { check: false });
    if (r.code === 0)
      for (const line of r.stdout.split('\n')) {
        const [s, t] = line.split('\t');
        if (s && Number(t) > 0) activity.set(s, Number(t) * 1000);
      }
  }
  return { panes, activity };
}

/** The extra facts the witness keeps about an observation (not used by the detectors). */
interface Extra {
  id: Identity;
  record: SessionRecord | null;
  agentName: string | null;
  branch: string | null;
  molecule: string | null;
  /** Signature of the current death (dead or zombie pane), null when alive. */
  deathSig: string | null;
  deathAt: number | null;
}

export interface RigSnapshot {
  observation: RigObservation;
  extra: Map<string, Extra>;
}

/** Observe one rig: its polecats (from their agent beads), assigned beads and deaths. */
export function observeRig(
  townRoot: string,
  rig: string,
  g: Graph,
  snap: TmuxSnapshot,
  now: number,
): RigSnapshot {
  const info = getRig(townRoot, rig);
  const mrs = mrIndex(g);
  const agents: AgentObservation[] = [];
  const extra = new Map<string, Extra>();
  const known: string[] = [];
  const polecatDirs = new Set(subdirs(rigPaths(townRoot, rig).polecatsDir));
  for (const b of g.byId.values()) {
    if (b.issue_type !== 'agent') continue;
    const m = agentMeta(b);
    if (m.role !== 'polecat' || m.rig !== rig || typeof m.name !== 'string') continue;
    const id: Identity = { role: 'polecat', rig, name: m.name };
    const actor = actorOf(id);
    const session = sessionNameOf(id, info.prefix);
    const worktree = polecatWorktree(townRoot, rig, m.name);
    const worktreeExists = polecatDirs.has(m.name) && fs.existsSync(worktree);
    if (worktreeExists) known.push(actor);
    const pane = snap.panes.get(session) ?? null;
    const rec = readSessionRecord(townRoot, session);
    // Without a registry entry the pane's pid is the only liveness evidence there is.
    const state = classify(pane, rec?.process_names ?? [], rec ? rec.agent === 'scripted' : true);
    const hookRef = findHookIn(g, actor);
    const hooked = hookRef ? g.byId.get(hookRef.beadId) : undefined;
    const openMr =
      activeMR(g, b) ??
      mrs.byWorker.get(actor) ??
      (hooked ? (activeMR(g, hooked) ?? mrs.byIssue.get(hooked.id) ?? null) : null);
    const panePid = pane?.panePid ?? rec?.pane_pid ?? null;
    const started = parseTime(rec?.started_at) ?? (pane?.created ? pane.created * 1000 : null);
    const o: AgentObservation = {
      agent: actor,
      rig,
      name: m.name,
      session,
      agent_bead: b.id,
      agent_state: typeof m.agent_state === 'string' ? m.agent_state : null,
      agent_updated_at: parseTime(b.updated_at),
      // A hook_bead naming a closed or missing bead is a stale pointer, not work.
      hook_bead: typeof m.hook_bead === 'string' && isOpen(g.byId.get(m.hook_bead)) ? m.hook_bead : null,
      hooked: hooked
        ? { id: hooked.id, status: hooked.status, updated_at: parseTime(hooked.updated_at) }
        : null,
      session_state: state,
      pane_pid: panePid,
      session_started_at: started,
      pane_activity: snap.activity.get(session) ?? null,
      heartbeat: readHeartbeat(townRoot, session, actor),
      progress_at: hooked ? readProgress(townRoot, hooked.id) : null,
      done_intent_at: doneIntentOf(townRoot, b),
      open_mr: openMr,
      worktree_exists: worktreeExists,
    };
    agents.push(o);
    let deathSig: string | null = null;
    let deathAt: number | null = null;
    if (state !== 'alive') {
      const death = readDeath(townRoot, session);
      deathSig = `${session}:${panePid ?? `gone-${b.updated_at}`}`;
      deathAt =
        death && (death.pane_pid === null || death.pane_pid === panePid) ? (parseTime(death.at) ?? now) : now;
    }
    extra.set(actor, {
      id,
      record: rec,
      agentName: rec?.agent ?? (typeof m.agent === 'string' ? m.agent : null),
      branch: typeof m.branch === 'string' ? m.branch : null,
      molecule: hookRef?.molecule ?? null,
      deathSig,
      deathAt,
    });
  }
  const assigned: AssignedBead[] = [];
  for (const b of g.byId.values()) {
    if (b.status !== 'hooked' && b.status !== 'in_progress') continue;
    if (!b.assignee?.startsWith(`${rig}/polecats/`)) continue;
    const meta = (b.metadata ?? {}) as Record<string, unknown>;
    // Molecule steps, messages, MRs and the like are not work items of their own.
    if (NOT_WORK.has(b.issue_type) || b.mol_type || typeof meta.step === 'string' || meta.formula) continue;
    assigned.push({
      id: b.id,
      status: b.status,
      assignee: b.assignee,
      open_mr: activeMR(g, b) ?? mrs.byIssue.get(b.id) ?? null,
    });
  }
  return {
    observation: { rig, agents, assigned, known_polecats: known.sort(), deaths: [] },
    extra,
  };
}

// ---- the tick ---------------------------------------------------------------------------------

const msg = (e: unknown) => String((e as Error)?.message ?? e);

/**
 * One witness pass over the town (or one rig): observe, detect, and (unless act is false)
 * act. Never throws for a rig's failure: it is recorded in `errors`.
 */
export async function witnessTick(townRoot: string, opts: WitnessOptions = {}): Promise<WitnessReport> {
  const env = opts.env ?? process.env;
  let act = opts.act !== false;
  const now = opts.now ?? Date.now();
  const report: WitnessReport = { findings: [], actions: [], errors: [] };
  // `gt down` is stopping the town: restarting what it stops would undo it (spec §5.1).
  if (act && fs.existsSync(shutdownLockFile(townRoot))) {
    act = false;
    report.errors.push('shutdown in progress (daemon/shutdown.lock): findings reported, not acted on');
  }
  let rigs: string[];
  try {
    rigs = opts.rig ? [getRig(townRoot, opts.rig).name] : rigNames(townRoot);
  } catch (e) {
    report.errors.push(msg(e));
    return report;
  }
  if (rigs.length === 0) return report;
  // Acting passes never overlap (the daemon's tick and a `gt patrol scan --act`): two would
  // restart the same agent twice.
  const release = act ? takeTickLock(townRoot) : () => {};
  if (!release) {
    report.errors.push('another witness pass is acting right now; try again in a moment');
    return report;
  }
  try {
    await tickRigs(townRoot, rigs, { env, act, now, report, beforeRestart: opts.beforeRestart });
  } finally {
    release();
  }
  return report;
}

/** `.runtime/witness/tick.lock` holding the pid; a dead holder's or an old lock is taken over. */
function takeTickLock(townRoot: string): (() => void) | null {
  const file = path.join(witnessDir(townRoot), 'tick.lock');
  fs.mkdirSync(path.dirname(file), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, `${process.pid}\n`, { flag: 'wx' });
      return () => fs.rmSync(file, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let pid = 0;
      let age = 0;
      try {
        pid = Number(fs.readFileSync(file, 'utf8').trim());
        age = Date.now() - fs.statSync(file).mtimeMs;
      } catch {
        continue; // released meanwhile
      }
      if (pidAlive(pid) && age < 15 * 60_000) return null;
      fs.rmSync(file, { force: true });
    }
  }
  return null;
}

async function tickRigs(townRoot: string, rigs: string[], o: Omit<RigCtx, 'snap' | 'tmux'>): Promise<void> {
  const { env, report } = o;
  await loadCodec();
  let snap: TmuxSnapshot;
  const tmux = townTmux(townRoot, env);
  try {
    snap = tmuxSnapshot(tmux);
  } catch (e) {
    report.errors.push(`tmux: ${msg(e)}`);
    return;
  }
  for (const rig of rigs) {
    try {
      await tickRig(townRoot, rig, { ...o, snap, tmux });
    } catch (e) {
      report.errors.push(`rig ${rig}: ${msg(e)}`);
    }
  }
}

interface RigCtx {
  beforeRestart?: WitnessOptions['beforeRestart'];
  env: NodeJS.ProcessEnv;
  act: boolean;
  now: number;
  snap: TmuxSnapshot;
  tmux: Tmux;
  report: WitnessReport;
}

async function tickRig(townRoot: string, rig: string, c: RigCtx): Promise<void> {
  const t = witnessThresholds(townRoot, rig, c.env);
  const cfg = backoffConfig(townRoot, rig, c.env);
  const witness = `${rig}/witness`;
  const store = BeadStore.open(townRoot, { actor: witness });
  let snapRig: RigSnapshot;
  try {
    snapRig = observeRig(townRoot, rig, store.graph(), c.snap, c.now);
  } finally {
    store.flush();
  }
  const { observation, extra } = snapRig;

  // Deaths: each dead pane counts once (remembered by its signature in the agent's state).
  const rigState = loadRigState(townRoot, rig);
  const states = new Map<string, RestartState>();
  const stateOf = (o: AgentObservation) => {
    let s = states.get(o.agent);
    if (!s) {
      s = loadState(townRoot, o.agent, o.session);
      states.set(o.agent, s);
    }
    return s;
  };
  let newDeaths = false;
  for (const o of observation.agents) {
    const x = extra.get(o.agent)!;
    if (!x.deathSig || !hasWork(o) || inSpawnGrace(o, c.now, t) || !o.worktree_exists) continue;
    const s = stateOf(o);
    if (s.deaths_seen.includes(x.deathSig)) continue;
    states.set(o.agent, { ...s, deaths_seen: [...s.deaths_seen, x.deathSig].slice(-20) });
    rigState.deaths.push(x.deathAt ?? c.now);
    newDeaths = true;
  }
  rigState.deaths = pruneDeaths(rigState.deaths, c.now, t.mass_death_window);
  observation.deaths = rigState.deaths;

  const findings = detectRig(observation, c.now, t);
  c.report.findings.push(...findings);
  if (!c.act) return;

  const byAgent = new Map(observation.agents.map((o) => [o.agent, o]));
  const restarted = new Set<string>();
  for (const f of findings) {
    try {
      if (RESTART_KINDS.has(f.kind)) {
        const o = byAgent.get(f.agent)!;
        if (f.action !== 'restart' || restarted.has(f.agent)) {
          states.set(f.agent, markTrouble(stateOf(o), c.now));
          continue;
        }
        restarted.add(f.agent);
        const r = await actRestart(townRoot, f, o, extra.get(f.agent)!, stateOf(o), cfg, c);
        states.set(f.agent, r.state);
        c.report.actions.push({
          kind: f.kind,
          agent: f.agent,
          ...(f.bead ? { bead: f.bead } : {}),
          result: r.result,
        });
      } else if (f.kind === 'orphaned-bead') {
        const result = await actOrphan(townRoot, rig, f, c);
        c.report.actions.push({ kind: f.kind, agent: f.agent, bead: f.bead, result });
      } else if (f.kind === 'gupp-violation') {
        const o = byAgent.get(f.agent)!;
        const r = await actGupp(townRoot, f, o, extra.get(f.agent)!, stateOf(o), t, c);
        states.set(f.agent, r.state);
        c.report.actions.push({ kind: f.kind, agent: f.agent, bead: f.bead, result: r.result });
      } else if (f.kind === 'mass-death') {
        if (rigState.mass_death_at !== null && c.now - rigState.mass_death_at < t.mass_death_window) {
          c.report.actions.push({ kind: f.kind, agent: f.agent, result: 'already escalated in this window' });
          continue;
        }
        const { createEscalation } = await import('../escalation/escalate.ts');
        const r = await createEscalation(
          townRoot,
          {
            description: `Mass death in rig ${rig}: ${f.detail}`,
            severity: 'high',
            reason: 'witness: mass death',
          },
          { actor: witness, env: c.env },
        );
        rigState.mass_death_at = c.now;
        newDeaths = true;
        c.report.actions.push({ kind: f.kind, agent: f.agent, result: `escalated: ${r.escalation.id}` });
      }
    } catch (e) {
      c.report.errors.push(`${f.kind} ${f.agent}${f.bead ? ` (${f.bead})` : ''}: ${msg(e)}`);
      c.report.actions.push({
        kind: f.kind,
        agent: f.agent,
        ...(f.bead ? { bead: f.bead } : {}),
        result: `failed: ${msg(e)}`,
      });
    }
  }

  // State files: agents with trouble keep theirs; trouble-free ones are forgotten after the reset time.
  const troubled = new Set(findings.filter((f) => RESTART_KINDS.has(f.kind)).map((f) => f.agent));
  for (const o of observation.agents) {
    const s = states.get(o.agent) ?? (fs.existsSync(agentStateFile(townRoot, o.session)) ? stateOf(o) : null);
    if (!s) continue;
    saveState(townRoot, o.session, troubled.has(o.agent) ? s : settle(s, c.now, cfg));
  }
  if (newDeaths || rigState.deaths.length) saveRigState(townRoot, rigState);
}

// ---- actions ----------------------------------------------------------------------------------

/** Look again right before restarting: null to go ahead, else why not. */
async function recheck(townRoot: string, f: Finding, o: AgentObservation, c: RigCtx): Promise<string | null> {
  const pane = c.tmux.paneInfo(o.session);
  const rec = readSessionRecord(townRoot, o.session);
  const state = classify(pane, rec?.process_names ?? [], rec ? rec.agent === 'scripted' : true);
  if (f.kind === 'session-dead-active' || f.kind === 'agent-dead-in-session') {
    if (state === 'alive') return `session ${o.session} is running again (recreated since the scan)`;
  } else if (pane && o.pane_pid !== null && pane.panePid !== o.pane_pid && state === 'alive') {
    return `session ${o.session} was recreated since the scan`;
  }
  // The ledger again: stopped on purpose, or the work finished meanwhile.
  const store = BeadStore.open(townRoot, { actor: `${o.rig}/witness` });
  try {
    const g = store.graph();
    const b = o.agent_bead ? g.byId.get(o.agent_bead) : undefined;
    if (!b) return `${o.agent} has no agent bead any more`;
    const m = agentMeta(b);
    if (m.agent_state === 'stopped') return `${o.agent} was stopped (gt stop) since the scan`;
    const fresh = {
      ...o,
      agent_state: m.agent_state,
      // A hook_bead naming a closed or missing bead is a stale pointer, not work.
      hook_bead: typeof m.hook_bead === 'string' && isOpen(g.byId.get(m.hook_bead)) ? m.hook_bead : null,
      hooked: findHookIn(g, o.agent) ? o.hooked : null,
    };
    if (f.kind !== 'stuck-in-done' && !hasWork(fresh)) return `${o.agent} has no work on its hook any more`;
    const mr = activeMR(g, b);
    if (mr) return `merge request ${mr} is pending`;
  } finally {
    store.flush();
  }
  return null;
}

async function actRestart(
  townRoot: string,
  f: Finding,
  o: AgentObservation,
  x: Extra,
  state: RestartState,
  cfg: BackoffConfig,
  c: RigCtx,
): Promise<{ state: RestartState; result: string }> {
  let s = markTrouble(state, c.now);
  const v = decide(s, c.now, cfg);
  if (v.verdict === 'backoff')
    return { state: s, result: `backoff: next restart allowed in ${fmtDuration(v.until - c.now)}` };
  if (v.verdict === 'crash-loop') {
    if (!v.first)
      return {
        state: s,
        result: `crash loop: restarts stopped (bug ${s.crash_loop?.bug ?? '?'}); clear with gt patrol clear-backoff ${o.agent}`,
      };
    const bug = await fileCrashLoop(townRoot, o, v.restarts, cfg);
    s = markCrashLoop(s, c.now, bug, f.bead ?? null);
    return {
      state: s,
      result: `crash loop: ${v.restarts} restarts in ${fmtDuration(cfg.crash_loop_window)}; bug ${bug} filed, mayor mailed, restarts stopped`,
    };
  }
  await c.beforeRestart?.(f);
  const why = await recheck(townRoot, f, o, c);
  if (why) return { state: s, result: `skipped: ${why}` };
  s = afterRestart(s, c.now, cfg);
  try {
    const r = await restartSession(townRoot, x.id, {
      processEnv: c.env,
      actor: `${o.rig}/witness`,
      sender: `${o.rig}/witness`,
      ...(x.agentName ? { agent: x.agentName } : {}),
      ...(x.molecule || f.bead ? { assigned: x.molecule ?? f.bead } : {}),
      ...(x.branch ? { env: { GT_BRANCH: x.branch } } : {}),
    });
    return { state: s, result: `${r.action} (${r.session}, ${r.agent}, restart ${s.streak})` };
  } catch (e) {
    c.report.errors.push(`restart of ${o.agent}: ${msg(e)}`);
    return { state: s, result: `restart failed: ${msg(e)}` };
  }
}

/** A crash loop: a bug bead naming the agent and its bead, and HELP mail to the mayor. */
async function fileCrashLoop(
  townRoot: string,
  o: AgentObservation,
  restarts: number,
  cfg: BackoffConfig,
): Promise<string> {
  const witness = `${o.rig}/witness`;
  const bead = o.hooked?.id ?? o.hook_bead ?? null;
  const store = BeadStore.open(townRoot, { actor: witness });
  let bugId: string;
  try {
    bugId = store.transact(`witness: crash loop of ${o.agent}`, (tx) => {
      const bug = createBead(tx, {
        title: `Crash loop: ${o.agent}${bead ? ` on ${bead}` : ''}`,
        description: [
          `The witness restarted ${o.agent} (session ${o.session}) ${restarts} times within ${fmtDuration(cfg.crash_loop_window)} and stopped restarting it.`,
          bead ? `Work on its hook: ${bead} (left as it is: hooked, worktree kept).` : 'No work on its hook.',
          `Look at the session (gt peek ${o.agent}) and the worktree, fix the cause, then \`gt patrol clear-backoff ${o.agent}\` (or restart it by hand).`,
        ].join('\n\n'),
        type: 'bug',
        priority: 1,
        labels: ['gt:crash-loop', `rig:${o.rig}`],
        metadata: { agent: o.agent, session: o.session, ...(bead ? { bead } : {}), restarts },
      });
      if (bead && tx.exists(bead)) addDependency(tx, bug, bead, 'related');
      tx.put(bug);
      tx.note(`bug ${bug.id}: crash loop of ${o.agent}`);
      return bug.id;
    });
  } finally {
    store.flush();
  }
  const { sendMail } = await import('../mail/send.ts');
  const { help } = await import('../mail/protocol.ts');
  const m = help({
    description: `${o.agent} is crash-looping`,
    agent: o.agent,
    ...(bead ? { issue: bead } : {}),
    problem: `${restarts} restarts within ${fmtDuration(cfg.crash_loop_window)}; bug ${bugId} filed`,
    tried: 'restart with backoff; restarts are stopped now',
  });
  await sendMail(
    townRoot,
    { from: witness, to: 'mayor/', subject: m.subject, body: m.body },
    { actor: witness },
  );
  return bugId;
}

/** Reset an orphaned bead to open/unassigned (one transaction, re-checked), then RECOVERED_BEAD. */
async function actOrphan(townRoot: string, rig: string, f: Finding, c: RigCtx): Promise<string> {
  const witness = `${rig}/witness`;
  const beadId = f.bead!;
  const store = BeadStore.open(townRoot, { actor: witness });
  let previous: string | null;
  try {
    previous = store.transact(`witness: recover ${beadId} from ${f.agent}`, (tx) => {
      const b = tx.get(beadId);
      if (!b || (b.status !== 'hooked' && b.status !== 'in_progress') || b.assignee !== f.agent) return null;
      const prev = b.status;
      setStatus(tx, b, 'open');
      b.assignee = undefined;
      addComment(
        tx,
        b,
        `witness: recovered from ${f.agent}, which does not exist in rig ${rig} (was ${prev}); open for re-dispatch`,
      );
      tx.put(b);
      // A leftover agent bead pointing at it lets go too.
      const name = f.agent.split('/').pop()!;
      const agentId = agentBeadIdOf({ role: 'polecat', rig, name }, getRig(townRoot, rig).prefix);
      const a = tx.get(agentId);
      if (a && agentMeta(a).hook_bead === beadId) updateAgentMeta(tx, agentId, { hook_bead: null });
      tx.note(`${beadId}: ${prev} → open (orphaned by ${f.agent})`);
      return prev;
    });
  } finally {
    store.flush();
  }
  if (!previous) return 'skipped: changed since the scan';
  const { sendMail } = await import('../mail/send.ts');
  const { recoveredBead } = await import('../mail/protocol.ts');
  const m = recoveredBead({ bead: beadId, polecat: f.agent, previousStatus: previous });
  let to = 'deacon/';
  try {
    await sendMail(townRoot, { from: witness, to, subject: m.subject, body: m.body }, { actor: witness });
  } catch (e) {
    to = 'mayor/';
    c.report.errors.push(`RECOVERED_BEAD to deacon/: ${msg(e)}; sent to mayor/`);
    await sendMail(townRoot, { from: witness, to, subject: m.subject, body: m.body }, { actor: witness });
  }
  return `reset to open (was ${previous}); RECOVERED_BEAD mailed to ${to}`;
}

async function actGupp(
  townRoot: string,
  f: Finding,
  o: AgentObservation,
  x: Extra,
  state: RestartState,
  t: Thresholds,
  c: RigCtx,
): Promise<{ state: RestartState; result: string }> {
  if (state.last_gupp !== null && c.now - state.last_gupp < t.gupp_violation)
    return { state, result: `already reported ${fmtDuration(c.now - state.last_gupp)} ago` };
  const witness = `${o.rig}/witness`;
  const { nudgeAgent } = await import('../nudge/nudge.ts');
  const stale = f.detail.match(/for (\S+) \(threshold/)?.[1] ?? fmtDuration(t.gupp_violation);
  const n = await nudgeAgent(
    townRoot,
    x.id,
    {
      sender: witness,
      message: `GUPP: ${f.bead} is on your hook with no progress for ${stale}. If there is work on your hook, you must run it: \`gt prime --hook\`, then work it (or gt done / gt escalate).`,
      mode: 'immediate',
    },
    { env: c.env, settleTimeoutMs: 2000 },
  );
  const { sendMail } = await import('../mail/send.ts');
  const { guppViolation } = await import('../mail/protocol.ts');
  const m = guppViolation({ agent: o.agent, hookBead: f.bead, duration: stale });
  await sendMail(
    townRoot,
    { from: 'daemon', to: witness, subject: m.subject, body: m.body },
    { actor: 'daemon' },
  );
  return {
    state: { ...state, last_gupp: c.now },
    result: `nudged (${n.delivered}${n.reason ? `: ${n.reason}` : ''}); GUPP_VIOLATION mailed to ${witness}`,
  };
}
