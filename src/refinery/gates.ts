// Merge gates (spec §2.11): the rig's verification commands, run in the refinery worktree.
//
// - Configured gates: `merge_queue.gates: {name: {cmd, timeout, phase: pre-merge|post-squash}}`.
//   pre-merge gates run on the MR's branch head before it is squashed, post-squash gates (the
//   default phase) on the squashed result, which is what lands.
// - Legacy commands: `merge_queue.setup_command` (runs first, alone), then typecheck, lint,
//   test (only with `run_tests`) and build, all post-squash.
// - A gate's command is the user's own configuration (not data from beads or branches), so it
//   runs through `sh -c`, in its own process group: on timeout the whole group is killed.
// - `gates_parallel` runs the gates of a phase at once; the output of each is kept (the last
//   few KB) for the failure report.
import { spawn } from 'node:child_process';
import { UsageError } from '../errors.ts';
import { durationMs, settingValue } from '../town/settings.ts';

export type GatePhase = 'pre-merge' | 'post-squash';

export interface Gate {
  name: string;
  cmd: string;
  timeoutMs: number;
  phase: GatePhase;
  /** Setup runs before the other gates of its phase, alone. */
  first?: boolean;
}

export interface GateResult {
  name: string;
  ok: boolean;
  code: number | null;
  timed_out: boolean;
  duration_ms: number;
  /** The last lines of stdout+stderr. */
  tail: string;
}

const LEGACY = ['setup', 'typecheck', 'lint', 'test', 'build'] as const;
/** Used when a gate names no timeout and merge_queue.gate_timeout is not set. */
const FALLBACK_TIMEOUT = '30m';
const KEEP_BYTES = 16 * 1024;
const TAIL_LINES = 20;

export interface GateContext {
  townRoot: string;
  rig: string;
  env?: NodeJS.ProcessEnv;
}

/** The rig's gates from settings; a malformed entry is a UsageError naming the fix. */
export function resolveGates(ctx: GateContext): Gate[] {
  const s = <T>(key: string) => settingValue<T>(key, { townRoot: ctx.townRoot, rig: ctx.rig, env: ctx.env });
  const defTimeout = durationMs(
    s<unknown>('merge_queue.gate_timeout') ?? FALLBACK_TIMEOUT,
    'merge_queue.gate_timeout',
  );
  const out: Gate[] = [];
  const runTests = s<unknown>('merge_queue.run_tests') !== false;
  for (const k of LEGACY) {
    if (k === 'test' && !runTests) continue;
    const cmd = s<unknown>(`merge_queue.${k}_command`);
    if (typeof cmd === 'string' && cmd.trim())
      out.push({
        name: k,
        cmd,
        timeoutMs: defTimeout,
        phase: 'post-squash',
        ...(k === 'setup' ? { first: true } : {}),
      });
  }
  const gates = s<unknown>('merge_queue.gates') ?? {};
  if (typeof gates !== 'object' || Array.isArray(gates))
    throw new UsageError(
      'merge_queue.gates must be an object {name: {cmd, timeout, phase}}; fix it with gt config set',
    );
  for (const [name, raw] of Object.entries(gates as Record<string, unknown>)) {
    const g = (typeof raw === 'string' ? { cmd: raw } : raw) as Record<string, unknown> | null;
    if (!g || typeof g.cmd !== 'string' || !g.cmd.trim())
      throw new UsageError(`merge_queue.gates.${name} has no cmd; set {"cmd": "...", "timeout": "5m"}`);
    const phase = (g.phase ?? 'post-squash') as string;
    if (phase !== 'pre-merge' && phase !== 'post-squash')
      throw new UsageError(`merge_queue.gates.${name}.phase is "${phase}": use pre-merge or post-squash`);
    out.push({
      name,
      cmd: g.cmd,
      phase,
      timeoutMs:
        g.timeout === undefined ? defTimeout : durationMs(g.timeout, `merge_queue.gates.${name}.timeout`),
    });
  }
  return out;
}

function tailOf(text: string): string {
  const lines = text.replace(/\s+$/, '').split('\n');
  return lines.slice(-TAIL_LINES).join('\n');
}

/** Run one gate in `cwd`; never throws (a spawn failure is a failed gate). */
export function runGate(g: Gate, cwd: string, env?: NodeJS.ProcessEnv): Promise<GateResult> {
  const started = Date.now();
  return new Promise((resolve) => {
    let buf = '';
    const keep = (d: Buffer) => {
      buf += d.toString('utf8');
      if (buf.length > KEEP_BYTES * 2) buf = buf.slice(-KEEP_BYTES);
    };
    let timedOut = false;
    const child = spawn('/bin/sh', ['-c', g.cmd], {
      cwd,
      env: env ?? process.env,
      detached: true, // its own process group, so a timeout kills everything it started
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const kill = () => {
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, g.timeoutMs);
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    const finish = (code: number | null, extra = '') => {
      clearTimeout(timer);
      if (timedOut) kill(); // children that outlived the shell
      const note = timedOut ? `\n[gate ${g.name} timed out after ${g.timeoutMs} ms]` : '';
      resolve({
        name: g.name,
        ok: !timedOut && code === 0,
        code,
        timed_out: timedOut,
        duration_ms: Date.now() - started,
        tail: tailOf(buf + extra + note),
      });
    };
    child.on('error', (e) => finish(null, `\n${e.message}`));
    child.on('close', (code) => finish(code));
  });
}

/**
 * Run gates in `cwd`: `first` gates one by one, then the rest (at once when `parallel`).
 * Stops after a failed `first` gate (the others would fail for the wrong reason).
 */
export async function runGates(
  gates: Gate[],
  cwd: string,
  o: { parallel?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<GateResult[]> {
  const out: GateResult[] = [];
  for (const g of gates.filter((x) => x.first)) {
    const r = await runGate(g, cwd, o.env);
    out.push(r);
    if (!r.ok) return out;
  }
  const rest = gates.filter((x) => !x.first);
  if (o.parallel) out.push(...(await Promise.all(rest.map((g) => runGate(g, cwd, o.env)))));
  else for (const g of rest) out.push(await runGate(g, cwd, o.env));
  return out;
}

/** Run gates, re-running failed ones up to `retries` times (flaky tests; not timeouts). */
export async function runGatesWithRetry(
  gates: Gate[],
  cwd: string,
  o: { parallel?: boolean; env?: NodeJS.ProcessEnv; retries?: number } = {},
): Promise<GateResult[]> {
  let results = await runGates(gates, cwd, o);
  for (let i = 0; i < (o.retries ?? 0); i++) {
    const again = results.filter((r) => !r.ok && !r.timed_out).map((r) => r.name);
    if (again.length === 0) break;
    const rerun = await runGates(
      gates.filter((g) => again.includes(g.name)),
      cwd,
      o,
    );
    results = results.map((r) => rerun.find((x) => x.name === r.name) ?? r);
  }
  return results;
}

export function firstFailure(results: GateResult[]): GateResult | undefined {
  return results.find((r) => !r.ok);
}
