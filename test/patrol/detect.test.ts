// The witness detectors (src/patrol/detect.ts) and the restart backoff (src/patrol/backoff.ts)
// as pure functions: fabricated observations, a fixed `now`.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  afterRestart,
  backoffDelay,
  decide,
  emptyState,
  markCrashLoop,
  markTrouble,
  settle,
} from '../../src/patrol/backoff.ts';
import {
  type AgentObservation,
  detectAgent,
  detectMassDeath,
  detectOrphans,
  detectRig,
  type Thresholds,
} from '../../src/patrol/detect.ts';

const NOW = Date.parse('2026-11-22T12:00:00Z');
const S = 1000;
const M = 60 * S;

const T: Thresholds = {
  hung_session: 30 * M,
  gupp_violation: 30 * M,
  stuck_in_done: 60 * S,
  self_stuck: 10 * M,
  spawn_grace: 5 * M,
  mass_death_count: 3,
  mass_death_window: 30 * S,
};

/** A healthy working polecat; tests change one thing at a time. */
function obs(patch: Partial<AgentObservation> = {}): AgentObservation {
  return {
    agent: 'myrig/polecats/nux',
    rig: 'myrig',
    name: 'nux',
    session: 'my-nux',
    agent_bead: 'my-myrig-polecat-nux',
    agent_state: 'working',
    agent_updated_at: NOW - 10 * M,
    hook_bead: 'my-abc',
    hooked: { id: 'my-abc', status: 'hooked', updated_at: NOW - 2 * M },
    session_state: 'alive',
    pane_pid: 4242,
    session_started_at: NOW - 20 * M,
    pane_activity: NOW - 5 * S,
    heartbeat: { time: NOW - 10 * S, state: 'working' },
    progress_at: null,
    done_intent_at: null,
    open_mr: null,
    worktree_exists: true,
    ...patch,
  };
}

const kinds = (fs: { kind: string }[]) => fs.map((f) => f.kind);

test('a healthy working polecat and an idle one without work: no findings', () => {
  assert.equal(detectAgent(obs(), NOW, T), []);
  const idle = obs({ agent_state: 'idle', hook_bead: null, hooked: null, session_state: 'dead' });
  assert.equal(detectAgent(idle, NOW, T), [], 'a dead idle polecat has nothing to recover');
});

test('session-dead-active: dead session with hooked work, or working state without a hook', () => {
  const f = detectAgent(obs({ session_state: 'dead', pane_pid: null }), NOW, T);
  assert.equal(kinds(f), ['session-dead-active']);
  assert.is(f[0].action, 'restart');
  assert.is(f[0].bead, 'my-abc');
  assert.is(f[0].session, 'my-nux');
  assert.match(f[0].detail, /my-nux is gone with my-abc hooked/);
  const noHook = detectAgent(obs({ session_state: 'dead', hooked: null, hook_bead: null }), NOW, T);
  assert.equal(kinds(noHook), ['session-dead-active']);
  // Stopped on purpose: left alone.
  assert.equal(detectAgent(obs({ session_state: 'dead', agent_state: 'stopped' }), NOW, T), []);
});

test('agent-dead-in-session: zombie pane with work; none without work', () => {
  assert.equal(kinds(detectAgent(obs({ session_state: 'zombie' }), NOW, T)), ['agent-dead-in-session']);
  assert.equal(
    detectAgent(obs({ session_state: 'zombie', agent_state: 'idle', hooked: null, hook_bead: null }), NOW, T),
    [],
  );
});

test('spawn grace: a spawning polecat is left alone for spawn_grace, then judged', () => {
  const young = obs({ agent_state: 'spawning', agent_updated_at: NOW - 4 * M, session_state: 'dead' });
  assert.equal(detectAgent(young, NOW, T), []);
  const old = obs({ agent_state: 'spawning', agent_updated_at: NOW - 6 * M, session_state: 'dead' });
  assert.equal(kinds(detectAgent(old, NOW, T)), ['session-dead-active']);
});

test('hung-session: no output and no heartbeat past hung_session; either one keeps it alive', () => {
  const quiet = { pane_activity: NOW - 31 * M, heartbeat: { time: NOW - 40 * M, state: 'working' } };
  const f = detectAgent(obs({ ...quiet, session_started_at: NOW - 60 * M }), NOW, T);
  assert.equal(kinds(f), ['hung-session']);
  assert.is(f[0].action, 'restart');
  assert.match(f[0].detail, /no output in my-nux for 31m/);
  assert.equal(detectAgent(obs({ ...quiet, pane_activity: NOW - 29 * M }), NOW, T), []);
  assert.equal(
    detectAgent(obs({ ...quiet, heartbeat: { time: NOW - M, state: 'working' } }), NOW, T),
    [],
    'a fresh heartbeat is activity',
  );
  // An idle agent with nothing hooked is quiet by design.
  assert.equal(
    detectAgent(obs({ ...quiet, agent_state: 'idle', hooked: null, hook_bead: null }), NOW, T),
    [],
  );
});

test('stuck-in-done: done-intent older than stuck_in_done with a live session', () => {
  assert.equal(detectAgent(obs({ done_intent_at: NOW - 30 * S }), NOW, T), []);
  const f = detectAgent(obs({ done_intent_at: NOW - 90 * S }), NOW, T);
  assert.equal(kinds(f), ['stuck-in-done']);
  assert.is(f[0].action, 'restart');
  // A dead session during done is a dead session.
  assert.equal(kinds(detectAgent(obs({ done_intent_at: NOW - 90 * S, session_state: 'dead' }), NOW, T)), [
    'session-dead-active',
  ]);
});

test('agent-self-reported-stuck: a stuck heartbeat with work that has not moved past self_stuck', () => {
  const stuck = { heartbeat: { time: NOW - 5 * S, state: 'stuck' } };
  // Recently moved: give it time (someone may be answering it).
  assert.equal(detectAgent(obs(stuck), NOW, T), []);
  const still = { ...stuck, hooked: { id: 'my-abc', status: 'hooked', updated_at: NOW - 15 * M } };
  const f = detectAgent(obs(still), NOW, T);
  assert.equal(kinds(f), ['agent-self-reported-stuck']);
  assert.is(f[0].action, 'restart');
  assert.match(
    f[0].detail,
    /reports itself stuck with my-abc hooked, with no progress for 15m \(threshold 10m\)/,
  );
  // A recent commit is progress.
  assert.equal(detectAgent(obs({ ...still, progress_at: NOW - M }), NOW, T), []);
  // Stuck with nothing to do is not ours to restart.
  assert.equal(
    detectAgent(obs({ ...still, agent_state: 'idle', hooked: null, hook_bead: null }), NOW, T),
    [],
  );
});

test('a pending merge request: reported, never restarted', () => {
  const f = detectAgent(obs({ session_state: 'dead', open_mr: 'my-mr1' }), NOW, T);
  assert.equal(kinds(f), ['session-dead-active']);
  assert.is(f[0].action, 'none');
  assert.match(f[0].detail, /merge request my-mr1 is pending/);
});

test('no worktree: no restart proposed (the orphan rule owns its bead)', () => {
  assert.equal(detectAgent(obs({ session_state: 'dead', worktree_exists: false }), NOW, T), []);
});

test('gupp-violation: hooked work without progress; heartbeat, bead update or commit count', () => {
  const stale = {
    hooked: { id: 'my-abc', status: 'hooked', updated_at: NOW - 45 * M },
    heartbeat: { time: NOW - 40 * M, state: 'idle' },
    pane_activity: NOW - S,
  };
  const f = detectAgent(obs(stale), NOW, T);
  assert.equal(kinds(f), ['gupp-violation']);
  assert.is(f[0].action, 'nudge');
  assert.is(f[0].bead, 'my-abc');
  assert.match(f[0].detail, /without progress for 40m/);
  assert.equal(detectAgent(obs({ ...stale, progress_at: NOW - 5 * M }), NOW, T), [], 'a recent commit');
  assert.equal(
    detectAgent(obs({ ...stale, heartbeat: { time: NOW - 5 * M, state: 'working' } }), NOW, T),
    [],
  );
  // A hung session is restarted, not nudged as well.
  assert.equal(
    kinds(
      detectAgent(obs({ ...stale, pane_activity: NOW - 50 * M, session_started_at: NOW - 60 * M }), NOW, T),
    ),
    ['hung-session'],
  );
});

test('orphaned beads: assignee polecat unknown, not in the merge queue, this rig only', () => {
  const f = detectOrphans({
    rig: 'myrig',
    agents: [],
    known_polecats: ['myrig/polecats/nux'],
    deaths: [],
    assigned: [
      { id: 'my-1', status: 'hooked', assignee: 'myrig/polecats/ghost', open_mr: null },
      { id: 'my-2', status: 'in_progress', assignee: 'myrig/polecats/ghost', open_mr: 'my-mr' },
      { id: 'my-3', status: 'hooked', assignee: 'myrig/polecats/nux', open_mr: null },
      { id: 'my-4', status: 'in_progress', assignee: 'other/polecats/x', open_mr: null },
      { id: 'my-5', status: 'open', assignee: 'myrig/polecats/ghost', open_mr: null },
    ],
  });
  assert.equal(
    f.map((x) => [x.kind, x.bead, x.agent, x.action]),
    [['orphaned-bead', 'my-1', 'myrig/polecats/ghost', 'reset-bead']],
  );
});

test('mass death: count deaths inside the window only', () => {
  assert.equal(detectMassDeath('myrig', [NOW - 5 * S, NOW - 10 * S], NOW, T), []);
  assert.equal(detectMassDeath('myrig', [NOW - 5 * S, NOW - 10 * S, NOW - 31 * S], NOW, T), []);
  const f = detectMassDeath('myrig', [NOW - 5 * S, NOW - 10 * S, NOW - 29 * S], NOW, T);
  assert.equal(kinds(f), ['mass-death']);
  assert.is(f[0].action, 'escalate');
  assert.is(f[0].agent, 'myrig/witness');
  const all = detectRig(
    {
      rig: 'myrig',
      agents: [obs({ agent: 'myrig/polecats/b', session_state: 'dead' }), obs({ agent: 'myrig/polecats/a' })],
      assigned: [],
      known_polecats: [],
      deaths: [NOW, NOW, NOW],
    },
    NOW,
    T,
  );
  assert.equal(kinds(all), ['session-dead-active', 'mass-death']);
});

test('backoff: base doubling to max; crash loop after N restarts in the window; reset when stable', () => {
  const cfg = {
    base: 30 * S,
    max: 10 * M,
    crash_loop_count: 3,
    crash_loop_window: 15 * M,
    crash_loop_reset: 30 * M,
  };
  assert.equal(
    [1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelay(n, cfg) / S),
    [30, 60, 120, 240, 480, 600, 600],
  );
  let s = emptyState('myrig/polecats/nux', 'my-nux');
  assert.equal(decide(s, NOW, cfg), { verdict: 'restart' });
  s = afterRestart(s, NOW, cfg);
  assert.equal(decide(s, NOW + 10 * S, cfg), { verdict: 'backoff', until: NOW + 30 * S });
  assert.equal(decide(s, NOW + 30 * S, cfg), { verdict: 'restart' });
  s = afterRestart(s, NOW + 30 * S, cfg);
  assert.is(s.next_allowed, NOW + 90 * S, 'second wait is doubled');
  s = afterRestart(s, NOW + 2 * M, cfg);
  const v = decide(s, NOW + 10 * M, cfg);
  assert.equal(v, { verdict: 'crash-loop', first: true, restarts: 3 });
  s = markCrashLoop(s, NOW + 10 * M, 'hq-bug', 'my-abc');
  assert.equal(decide(s, NOW + 11 * M, cfg), { verdict: 'crash-loop', first: false, restarts: 3 });
  // Restarts outside the window do not count towards a loop.
  let spread = emptyState('a', 'b');
  for (const at of [0, 16, 32]) spread = afterRestart(spread, NOW + at * M, cfg);
  assert.is(decide(spread, NOW + 50 * M, cfg).verdict, 'restart');
  // Stable for crash_loop_reset: forgotten; still in trouble: kept.
  assert.is(settle(s, NOW + 10 * M + 29 * M, cfg), s);
  assert.is(settle(s, NOW + 10 * M + 30 * M, cfg), null);
  const troubled = markTrouble(s, NOW + 35 * M);
  assert.is(settle(troubled, NOW + 41 * M, cfg), troubled);
});

test.run();
