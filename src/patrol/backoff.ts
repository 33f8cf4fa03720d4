// Restart backoff and crash-loop state of the witness (spec §5.1, Appendix A), kept in the
// operational plane: one file per agent session under `.runtime/witness/agents/`, plus
// `.runtime/witness/rigs/<rig>.json` for the deaths the witness saw (mass-death detection).
// Files are written atomically (temp + rename). The decisions are pure functions of the state,
// a `now` and the thresholds, so they are unit-tested without a clock.
//
// Policy: the n-th restart in a streak is followed by a wait of base·2^(n-1), capped at max.
// crash_loop_count restarts within crash_loop_window make a crash loop: no more restarts (the
// witness files a bug bead and mails the mayor once). The whole state is forgotten when the
// agent has been trouble-free for crash_loop_reset, or with `gt patrol clear-backoff`.
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../beads/wisps.ts';
import { townPaths } from '../town/paths.ts';

export interface BackoffConfig {
  base: number;
  max: number;
  crash_loop_count: number;
  crash_loop_window: number;
  crash_loop_reset: number;
}

export interface RestartState {
  agent: string;
  session: string;
  /** Restart times (ms) within the crash-loop window. */
  restarts: number[];
  /** Restarts since the state was last reset (drives the doubling). */
  streak: number;
  last_restart: number | null;
  /** No restart before this time (ms). */
  next_allowed: number | null;
  /** Last time a restart-worthy finding was seen for the agent. */
  last_trouble: number | null;
  crash_loop: { at: number; bug: string | null; bead: string | null } | null;
  /** Last GUPP nudge/mail (ms): they are repeated at most once per gupp_violation. */
  last_gupp: number | null;
  /** Deaths already counted (signature of the dead pane), so one death counts once. */
  deaths_seen: string[];
}

export type Verdict =
  | { verdict: 'restart' }
  | { verdict: 'backoff'; until: number }
  | { verdict: 'crash-loop'; first: boolean; restarts: number };

export function emptyState(agent: string, session: string): RestartState {
  return {
    agent,
    session,
    restarts: [],
    streak: 0,
    last_restart: null,
    next_allowed: null,
    last_trouble: null,
    crash_loop: null,
    last_gupp: null,
    deaths_seen: [],
  };
}

/** The wait after the n-th restart of a streak: base·2^(n-1), capped at max. */
export function backoffDelay(streak: number, cfg: Pick<BackoffConfig, 'base' | 'max'>): number {
  if (streak <= 0) return 0;
  const d = cfg.base * 2 ** Math.min(streak - 1, 40);
  return Math.min(cfg.max, d);
}

/** May the agent be restarted now? */
export function decide(s: RestartState, now: number, cfg: BackoffConfig): Verdict {
  const recent = s.restarts.filter((t) => now - t < cfg.crash_loop_window);
  if (s.crash_loop) return { verdict: 'crash-loop', first: false, restarts: recent.length };
  if (cfg.crash_loop_count > 0 && recent.length >= cfg.crash_loop_count)
    return { verdict: 'crash-loop', first: true, restarts: recent.length };
  if (s.next_allowed !== null && now < s.next_allowed) return { verdict: 'backoff', until: s.next_allowed };
  return { verdict: 'restart' };
}

/** The state after a restart attempt at `now` (a failed attempt counts: it backs off too). */
export function afterRestart(s: RestartState, now: number, cfg: BackoffConfig): RestartState {
  const streak = s.streak + 1;
  return {
    ...s,
    restarts: [...s.restarts.filter((t) => now - t < cfg.crash_loop_window), now],
    streak,
    last_restart: now,
    next_allowed: now + backoffDelay(streak, cfg),
    last_trouble: now,
  };
}

export function markTrouble(s: RestartState, now: number): RestartState {
  return { ...s, last_trouble: now };
}

export function markCrashLoop(
  s: RestartState,
  now: number,
  bug: string | null,
  bead: string | null,
): RestartState {
  return { ...s, crash_loop: { at: now, bug, bead }, last_trouble: now };
}

/**
 * Called when the agent shows no restart-worthy finding: null (forget everything) once it has
 * been trouble-free for crash_loop_reset, else the state unchanged.
 */
export function settle(s: RestartState, now: number, cfg: BackoffConfig): RestartState | null {
  const times = [s.last_trouble, s.last_restart, s.last_gupp].filter((t): t is number => t !== null);
  if (times.length === 0 || now - Math.max(...times) >= cfg.crash_loop_reset) return null;
  return s;
}

// ---- files ------------------------------------------------------------------------------------

const KEY_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,150}$/;

function safeKey(key: string, what: string): string {
  if (!KEY_RE.test(key)) throw new Error(`invalid ${what} "${key}" for a witness state file`);
  return key;
}

export function witnessDir(townRoot: string): string {
  return path.join(townPaths(townRoot).runtimeDir, 'witness');
}

export function agentStateFile(townRoot: string, session: string): string {
  return path.join(witnessDir(townRoot), 'agents', `${safeKey(session, 'session name')}.json`);
}

function readJson<T>(file: string): T | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

export function loadState(townRoot: string, agent: string, session: string): RestartState {
  const s = readJson<Partial<RestartState>>(agentStateFile(townRoot, session));
  if (!s || typeof s !== 'object') return emptyState(agent, session);
  return { ...emptyState(agent, session), ...s, agent, session };
}

/** Write the state (or remove the file when null). */
export function saveState(townRoot: string, session: string, s: RestartState | null): void {
  const file = agentStateFile(townRoot, session);
  if (s === null) {
    fs.rmSync(file, { force: true });
    return;
  }
  writeFileAtomic(file, `${JSON.stringify(s, null, 2)}\n`);
}

/** Every agent with witness state (for `gt patrol` listings and clear-backoff). */
export function listStates(townRoot: string): RestartState[] {
  const dir = path.join(witnessDir(townRoot), 'agents');
  if (!fs.existsSync(dir)) return [];
  const out: RestartState[] = [];
  for (const f of fs.readdirSync(dir).sort()) {
    if (!f.endsWith('.json')) continue;
    const s = readJson<RestartState>(path.join(dir, f));
    if (s?.agent && s.session) out.push(s);
  }
  return out;
}

export interface RigWitnessState {
  rig: string;
  /** Death times (ms) within the mass-death window. */
  deaths: number[];
  /** Last mass-death escalation (ms): one per window. */
  mass_death_at: number | null;
}

export function rigStateFile(townRoot: string, rig: string): string {
  return path.join(witnessDir(townRoot), 'rigs', `${safeKey(rig, 'rig name')}.json`);
}

export function loadRigState(townRoot: string, rig: string): RigWitnessState {
  const s = readJson<Partial<RigWitnessState>>(rigStateFile(townRoot, rig));
  return {
    rig,
    deaths: Array.isArray(s?.deaths) ? s.deaths.filter((d) => typeof d === 'number') : [],
    mass_death_at: typeof s?.mass_death_at === 'number' ? s.mass_death_at : null,
  };
}

export function saveRigState(townRoot: string, s: RigWitnessState): void {
  writeFileAtomic(rigStateFile(townRoot, s.rig), `${JSON.stringify(s, null, 2)}\n`);
}

/** Deaths kept: those inside the window (plus a margin), newest last. */
export function pruneDeaths(deaths: number[], now: number, window: number): number[] {
  return deaths.filter((d) => now - d <= Math.max(window, 1000) * 2).sort((a, b) => a - b);
}
