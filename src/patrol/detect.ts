// The witness's detectors (spec §5.4, §5.5): pure functions over plain observation objects and
// a `now`, so every rule is unit-tested without tmux or git. src/patrol/witness.ts gathers the
// observations and acts on the findings; nothing here reads a file or a clock.
//
// Rules, per polecat (spawn grace first: an agent in `spawning` younger than spawn_grace is
// never a finding):
// - session-dead-active: no session (or no pane) but work on the hook / agent_state working
//   → restart.
// - agent-dead-in-session: the session is there but the agent process is gone (pane dead, or
//   pane_current_command is not the agent) with work → restart.
// - hung-session: a live agent with work whose pane has shown no output (and whose heartbeat
//   has not moved) for operational.session.hung_session → restart.
// - stuck-in-done: a done-intent (label `done-intent:<EXIT>:<unix>`, or agent_state
//   done/finishing) older than operational.session.stuck_in_done with a live session → restart.
// - agent-self-reported-stuck: a live agent whose heartbeat says `stuck` (it stopped on a failed
//   step and waits for help) and whose work has not moved for operational.session.self_stuck
//   → restart (a fresh agent retries the step; backoff and crash-loop detection bound it).
// - gupp-violation: hooked work with no progress (bead update, heartbeat, commit) for
//   operational.session.gupp_violation → nudge the agent, mail the rig's witness.
// Per rig: orphaned-bead (a hooked/in_progress bead whose polecat assignee does not exist →
// reset to open), mass-death (≥ mass_death_count deaths within mass_death_window → escalate).
// Restarts are never proposed for an agent with a pending (open) merge request: the finding is
// reported with action `none`.

export type FindingKind =
  | 'session-dead-active'
  | 'agent-dead-in-session'
  | 'hung-session'
  | 'stuck-in-done'
  | 'agent-self-reported-stuck'
  | 'orphaned-bead'
  | 'gupp-violation'
  | 'mass-death';

export type FindingAction = 'restart' | 'reset-bead' | 'nudge' | 'escalate' | 'none';

export interface Finding {
  kind: FindingKind;
  /** The agent's actor (`myrig/polecats/nux`); for mass-death, `<rig>/witness`. */
  agent: string;
  bead?: string;
  session?: string;
  detail: string;
  action: FindingAction;
}

export type SessionState = 'alive' | 'dead' | 'zombie';

/** What the witness saw of one polecat (times in ms since the epoch, null when unknown). */
export interface AgentObservation {
  agent: string;
  rig: string;
  name: string;
  session: string;
  /** The agent bead's id, null when the polecat has none. */
  agent_bead: string | null;
  agent_state: string | null;
  /** When the agent bead last changed (the spawn time while `spawning`). */
  agent_updated_at: number | null;
  hook_bead: string | null;
  /** The bead hooked to this agent (status hooked, assignee = agent), if any. */
  hooked: { id: string; status: string; updated_at: number | null } | null;
  session_state: SessionState;
  pane_pid: number | null;
  session_started_at: number | null;
  /** Last output in the pane (tmux window_activity). */
  pane_activity: number | null;
  heartbeat: { time: number; state: string | null } | null;
  /** Last commit recorded by the post-commit hook for the hooked bead. */
  progress_at: number | null;
  /** When the agent announced it was finishing (done-intent), null when it has not. */
  done_intent_at: number | null;
  /** An open merge request of this agent (restarts are skipped while one is pending). */
  open_mr: string | null;
  worktree_exists: boolean;
}

/** A hooked or in-progress bead assigned to a polecat of the rig. */
export interface AssignedBead {
  id: string;
  status: string;
  assignee: string;
  /** An open merge request for the bead: the work is in the queue, not orphaned. */
  open_mr: string | null;
}

export interface RigObservation {
  rig: string;
  agents: AgentObservation[];
  assigned: AssignedBead[];
  /** Polecats that exist: an agent bead and a worktree. */
  known_polecats: string[];
  /** Session deaths remembered by the witness (ms), for mass-death. */
  deaths: number[];
}

export interface Thresholds {
  hung_session: number;
  gupp_violation: number;
  stuck_in_done: number;
  self_stuck: number;
  spawn_grace: number;
  mass_death_count: number;
  mass_death_window: number;
}

/** The kinds that are answered with a restart. */
export const RESTART_KINDS = new Set<FindingKind>([
  'session-dead-active',
  'agent-dead-in-session',
  'hung-session',
  'stuck-in-done',
  'agent-self-reported-stuck',
]);

export function fmtDuration(ms: number): string {
  if (!Number.isFinite(ms)) return 'ever';
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.round(s / 60);
  if (m < 120) return `${m}m`;
  return `${Math.round(m / 60)}h`;
}

function latest(...times: (number | null | undefined)[]): number | null {
  let best: number | null = null;
  for (const t of times)
    if (typeof t === 'number' && Number.isFinite(t) && (best === null || t > best)) best = t;
  return best;
}

const WORKING_STATES = new Set(['working', 'running', 'spawning']);

/** Is the agent expected to be running (work on the hook, or a working state)? */
export function hasWork(o: AgentObservation): boolean {
  if (o.agent_state === 'stopped') return false; // stopped on purpose (`gt stop`): not ours to revive
  return !!o.hooked || !!o.hook_bead || WORKING_STATES.has(o.agent_state ?? '');
}

export function inSpawnGrace(o: AgentObservation, now: number, t: Thresholds): boolean {
  return (
    o.agent_state === 'spawning' && o.agent_updated_at !== null && now - o.agent_updated_at < t.spawn_grace
  );
}

function restartFinding(o: AgentObservation, kind: FindingKind, detail: string): Finding {
  const bead = o.hooked?.id ?? o.hook_bead ?? undefined;
  if (o.open_mr)
    return {
      kind,
      agent: o.agent,
      ...(bead ? { bead } : {}),
      session: o.session,
      detail: `${detail}; not restarted: merge request ${o.open_mr} is pending`,
      action: 'none',
    };
  return { kind, agent: o.agent, ...(bead ? { bead } : {}), session: o.session, detail, action: 'restart' };
}

/** The findings for one polecat (at most one restart finding, the most telling one). */
export function detectAgent(o: AgentObservation, now: number, t: Thresholds): Finding[] {
  // Spawn grace; and without a worktree there is nothing to restart in (its bead is orphaned).
  if (inSpawnGrace(o, now, t) || !o.worktree_exists) return [];
  const out: Finding[] = [];
  const work = hasWork(o);
  const what = o.hooked ? `with ${o.hooked.id} hooked` : `in state ${o.agent_state ?? 'unknown'}`;
  if (o.session_state === 'dead' && work) {
    out.push(restartFinding(o, 'session-dead-active', `session ${o.session} is gone ${what}`));
  } else if (o.session_state === 'zombie' && work) {
    out.push(
      restartFinding(
        o,
        'agent-dead-in-session',
        `session ${o.session} is up but its agent process is gone ${what}`,
      ),
    );
  } else if (o.session_state === 'alive') {
    const doneFor = o.done_intent_at === null ? null : now - o.done_intent_at;
    if (doneFor !== null && doneFor > t.stuck_in_done) {
      out.push(
        restartFinding(
          o,
          'stuck-in-done',
          `finishing (done-intent) for ${fmtDuration(doneFor)} with a live session (threshold ${fmtDuration(t.stuck_in_done)})`,
        ),
      );
    } else if (work && o.heartbeat?.state === 'stuck') {
      // The heartbeat is fresh while it waits: measure from the work's last movement instead.
      const moved = latest(o.hooked?.updated_at, o.progress_at, o.session_started_at);
      const still = moved === null ? Number.POSITIVE_INFINITY : now - moved;
      if (still > t.self_stuck)
        out.push(
          restartFinding(
            o,
            'agent-self-reported-stuck',
            `the agent reports itself stuck ${what}, with no progress for ${fmtDuration(still)} (threshold ${fmtDuration(t.self_stuck)})`,
          ),
        );
    } else if (work) {
      const last = latest(o.pane_activity, o.heartbeat?.time, o.session_started_at);
      const quiet = last === null ? Number.POSITIVE_INFINITY : now - last;
      if (quiet > t.hung_session)
        out.push(
          restartFinding(
            o,
            'hung-session',
            `no output in ${o.session} for ${fmtDuration(quiet)} ${what} (threshold ${fmtDuration(t.hung_session)})`,
          ),
        );
    }
  }
  // GUPP: work on the hook that does not move. Only when no restart is already due.
  if (o.hooked && !out.some((f) => RESTART_KINDS.has(f.kind)) && o.session_state === 'alive') {
    const last = latest(o.hooked.updated_at, o.heartbeat?.time, o.progress_at);
    const still = last === null ? Number.POSITIVE_INFINITY : now - last;
    if (still > t.gupp_violation)
      out.push({
        kind: 'gupp-violation',
        agent: o.agent,
        bead: o.hooked.id,
        session: o.session,
        detail: `${o.hooked.id} on the hook without progress for ${fmtDuration(still)} (threshold ${fmtDuration(t.gupp_violation)})`,
        action: 'nudge',
      });
  }
  return out;
}

/** Hooked/in-progress beads whose polecat assignee does not exist in the rig. */
export function detectOrphans(r: RigObservation): Finding[] {
  const known = new Set(r.known_polecats);
  const out: Finding[] = [];
  for (const b of r.assigned) {
    if (b.status !== 'hooked' && b.status !== 'in_progress') continue;
    if (!b.assignee.startsWith(`${r.rig}/polecats/`) || known.has(b.assignee)) continue;
    if (b.open_mr) continue; // in the merge queue: the refinery owns it now
    out.push({
      kind: 'orphaned-bead',
      agent: b.assignee,
      bead: b.id,
      detail: `${b.id} is ${b.status} by ${b.assignee}, which does not exist in rig ${r.rig}`,
      action: 'reset-bead',
    });
  }
  return out;
}

/** ≥ mass_death_count deaths within mass_death_window ending now. */
export function detectMassDeath(rig: string, deaths: number[], now: number, t: Thresholds): Finding[] {
  const recent = deaths.filter((d) => d <= now && now - d <= t.mass_death_window);
  if (t.mass_death_count <= 0 || recent.length < t.mass_death_count) return [];
  return [
    {
      kind: 'mass-death',
      agent: `${rig}/witness`,
      detail: `${recent.length} session deaths in rig ${rig} within ${fmtDuration(t.mass_death_window)} (threshold ${t.mass_death_count})`,
      action: 'escalate',
    },
  ];
}

/** Every finding for a rig, in a stable order (agents by name, then orphans, then mass death). */
export function detectRig(r: RigObservation, now: number, t: Thresholds): Finding[] {
  const agents = [...r.agents].sort((a, b) => a.agent.localeCompare(b.agent));
  return [
    ...agents.flatMap((o) => detectAgent(o, now, t)),
    ...detectOrphans(r),
    ...detectMassDeath(r.rig, r.deaths, now, t),
  ];
}
