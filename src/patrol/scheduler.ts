// The scheduler, a capacity governor for polecats (spec §1.9, §6).
//
// Settings: `scheduler.max_polecats` (≤ 0: gt sling dispatches at once; N > 0: deferred),
// `scheduler.batch_size` (contexts dispatched per cycle), `scheduler.spawn_delay` (between the
// spawns of one cycle).
//
// Deferred `gt sling` (src/work/sling.ts, after its guards) creates one SLING CONTEXT per bead
// instead of spawning: an ephemeral bead (operational plane, like the original's) labelled
// `gt:sling-context` with a `tracks` dependency on the work bead and the context JSON in its
// description (version, work_bead_id, target_rig, formula, args, vars, enqueued_at, merge,
// convoy, base_branch, no_merge, account, agent, hook_raw_bead, owned, mode, dispatch_failures,
// last_failure). The work bead itself is not touched; an open context for a bead makes a second
// sling of it a no-op. Only slings to a rig (fresh polecats) are deferred: a named polecat, crew,
// the mayor or self get the work at once, and so does the scheduler's own dispatch.
//
// A dispatch cycle (`gt scheduler run`, or the daemon each heartbeat via `schedulerRun`), under
// the lock file `.runtime/scheduler-dispatch.lock` (a second cycle at the same time skips):
// paused? → stop. capacity = max_polecats − working polecats (agent beads with a hook or
// working/spawning) → ready = open contexts whose work bead is in `bd ready` (open, unblocked),
// highest priority then oldest first → dispatch min(capacity, batch, ready) through gt sling,
// `spawn_delay` apart. Success: the context is closed `dispatched`. Failure: dispatch_failures+1
// and last_failure recorded; at 3 the context is closed `circuit-broken` (no automatic reset:
// sling the bead again). Contexts whose work bead was closed meanwhile are closed `cleared`.
// States: SCHEDULED (open) → DISPATCHED | CIRCUIT-BROKEN | CLEARED (closed with that reason).
//
// Pause state: `.runtime/scheduler-state.json` ({paused, actor, at}), written atomically.
import fs from 'node:fs';
import path from 'node:path';
import { computeBlocked, readyWork } from '../beads/graph.ts';
import { addDependency, closeBead, createBead } from '../beads/ops.ts';
import type { BeadSummary } from '../beads/record.ts';
import { BeadStore, type BeadTx } from '../beads/store.ts';
import type { Bead } from '../beads/types.ts';
import { writeFileAtomic } from '../beads/wisps.ts';
import { GtError, NotFoundError, UsageError } from '../errors.ts';
import { loadCodec } from '../ledger/codec.ts';
import { FileLock, LockTimeoutError } from '../ledger/lock.ts';
import { townPaths } from '../town/paths.ts';
import { durationMs, settingValue } from '../town/settings.ts';

export const CONTEXT_LABEL = 'gt:sling-context';
export const CIRCUIT_BREAKER = 3;
export const REASON_DISPATCHED = 'dispatched';
export const REASON_CIRCUIT = 'circuit-broken';
export const REASON_CLEARED = 'cleared';

export interface SlingContext {
  version: 1;
  work_bead_id: string;
  target_rig: string;
  formula: string | null;
  args: string | null;
  vars: Record<string, string>;
  enqueued_at: string;
  merge: string | null;
  convoy: string | null;
  base_branch: string | null;
  no_merge: boolean;
  account: string | null;
  agent: string | null;
  hook_raw_bead: boolean;
  owned: boolean;
  mode: string | null;
  dispatch_failures: number;
  last_failure: string | null;
}

export interface ContextRow {
  id: string;
  status: string;
  close_reason?: string;
  context: SlingContext;
  /** The work bead is in `bd ready` now (open, unblocked). */
  ready: boolean;
  work_status: string | null;
  work_title: string | null;
  priority: number;
}

export interface SchedulerConfig {
  max_polecats: number;
  batch_size: number;
  spawn_delay_ms: number;
}

export interface SchedulerState {
  paused: boolean;
  actor?: string;
  at?: string;
}

export interface DispatchedItem {
  context: string;
  bead: string;
  rig: string;
  polecat?: string;
  session?: string | null;
}

export interface FailedItem {
  context: string;
  bead: string;
  rig: string;
  error: string;
  dispatch_failures: number;
  circuit_broken: boolean;
}

export interface SchedulerRunResult {
  paused: boolean;
  /** Set when the cycle did not run (another one holds the lock, or the scheduler is off). */
  skipped?: string;
  dry_run: boolean;
  max_polecats: number;
  active_polecats: number;
  capacity: number;
  batch: number;
  ready: number;
  /** What the cycle dispatches (dry run: would dispatch). */
  planned: { context: string; bead: string; rig: string }[];
  dispatched: DispatchedItem[];
  failed: FailedItem[];
  cleared: string[];
}

// ---- settings and state ------------------------------------------------------------------

function intSetting(key: string, townRoot: string, env: NodeJS.ProcessEnv): number {
  const v = settingValue<unknown>(key, { townRoot, env });
  const n = typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n))
    throw new UsageError(`setting ${key} = ${JSON.stringify(v)} must be a whole number`);
  return n;
}

export function schedulerConfig(townRoot: string, env: NodeJS.ProcessEnv = process.env): SchedulerConfig {
  const batch = intSetting('scheduler.batch_size', townRoot, env);
  if (batch < 1) throw new UsageError(`setting scheduler.batch_size must be at least 1, not ${batch}`);
  return {
    max_polecats: intSetting('scheduler.max_polecats', townRoot, env),
    batch_size: batch,
    spawn_delay_ms: durationMs(
      settingValue('scheduler.spawn_delay', { townRoot, env }),
      'scheduler.spawn_delay',
    ),
  };
}

/** Deferred dispatch is on: `scheduler.max_polecats` > 0. */
export function schedulerDeferring(townRoot: string, env: NodeJS.ProcessEnv = process.env): boolean {
  return intSetting('scheduler.max_polecats', townRoot, env) > 0;
}

export function stateFile(townRoot: string): string {
  return path.join(townPaths(townRoot).runtimeDir, 'scheduler-state.json');
}

export function readState(townRoot: string): SchedulerState {
  try {
    const j = JSON.parse(fs.readFileSync(stateFile(townRoot), 'utf8'));
    return {
      paused: j?.paused === true,
      ...(j?.actor ? { actor: j.actor } : {}),
      ...(j?.at ? { at: j.at } : {}),
    };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { paused: false };
    throw new GtError(
      `cannot read ${stateFile(townRoot)}: ${(e as Error).message}; fix or delete it (gt scheduler resume rewrites it)`,
    );
  }
}

function writeState(townRoot: string, s: SchedulerState): void {
  fs.mkdirSync(path.dirname(stateFile(townRoot)), { recursive: true });
  writeFileAtomic(stateFile(townRoot), `${JSON.stringify(s, null, 2)}\n`);
}

/** gt scheduler pause|resume: the town-wide flag (idempotent). */
export function setPaused(
  townRoot: string,
  paused: boolean,
  actor: string,
): SchedulerState & { changed: boolean } {
  const was = readState(townRoot).paused;
  const s: SchedulerState = { paused, actor, at: new Date().toISOString() };
  writeState(townRoot, s);
  return { ...s, changed: was !== paused };
}

// ---- contexts ----------------------------------------------------------------------------

export function isContext(b: Pick<BeadSummary, 'labels'>): boolean {
  return (b.labels ?? []).includes(CONTEXT_LABEL);
}

/** The context JSON of a sling-context bead (its description); null when unreadable. */
export function parseContext(description: string | undefined): SlingContext | null {
  try {
    const j = JSON.parse(description ?? '');
    if (!j || typeof j !== 'object' || typeof j.work_bead_id !== 'string' || typeof j.target_rig !== 'string')
      return null;
    return {
      version: 1,
      formula: null,
      args: null,
      vars: {},
      enqueued_at: '',
      merge: null,
      convoy: null,
      base_branch: null,
      no_merge: false,
      account: null,
      agent: null,
      hook_raw_bead: false,
      owned: false,
      mode: null,
      dispatch_failures: 0,
      last_failure: null,
      ...j,
    } as SlingContext;
  } catch {
    return null;
  }
}

/** The open context of a work bead, if any (inside a transaction). */
export function openContextFor(tx: BeadTx, beadId: string): string | null {
  for (const s of tx.summaries()) {
    if (!isContext(s) || s.status === 'closed') continue;
    if ((s.dependencies ?? []).some((d) => d.type === 'tracks' && d.depends_on_id === beadId)) return s.id;
  }
  return null;
}

export type ContextInput = Omit<
  SlingContext,
  'version' | 'enqueued_at' | 'dispatch_failures' | 'last_failure'
>;

/**
 * Create a sling context for `input.work_bead_id` inside `tx` (the work bead is only read).
 * `order` (the bead's place in a batch) is added in milliseconds to enqueued_at, so the contexts
 * of one sling keep their order (FIFO) although they share one commit time.
 */
export function createContextTx(tx: BeadTx, input: ContextInput, order = 0): Bead {
  const work = tx.must(input.work_bead_id);
  const ctx: SlingContext = {
    version: 1,
    ...input,
    enqueued_at: new Date(Date.parse(String(tx.now)) + order).toISOString(),
    dispatch_failures: 0,
    last_failure: null,
  };
  const b = createBead(tx, {
    title: `Sling context: ${work.id} → ${input.target_rig}`,
    description: JSON.stringify(ctx, null, 2),
    type: 'task',
    priority: work.priority,
    labels: [CONTEXT_LABEL],
    ephemeral: true,
  });
  addDependency(tx, b, work.id, 'tracks', { sourceIsNew: true });
  tx.put(b);
  tx.note(`scheduler_enqueue ${work.id} → ${input.target_rig} (${b.id})`);
  return b;
}

/** Every sling context (open first, then closed), with the readiness of its work bead. */
export function contextRows(store: BeadStore, opts: { all?: boolean } = {}): ContextRow[] {
  const g = store.graph();
  const ready = new Set(readyWork(g, computeBlocked(g)).map((b) => b.id));
  const rows: ContextRow[] = [];
  for (const s of g.byId.values()) {
    if (!isContext(s)) continue;
    if (!opts.all && s.status === 'closed') continue;
    const full = store.get(s.id);
    const ctx = parseContext(full?.description);
    if (!ctx) continue;
    const w = g.byId.get(ctx.work_bead_id);
    rows.push({
      id: s.id,
      status: s.status,
      ...(s.close_reason ? { close_reason: s.close_reason } : {}),
      context: ctx,
      ready: s.status !== 'closed' && ready.has(ctx.work_bead_id),
      work_status: w?.status ?? null,
      work_title: w?.title ?? null,
      priority: w?.priority ?? s.priority ?? 2,
    });
  }
  return rows.sort(
    (a, b) =>
      Number(a.status === 'closed') - Number(b.status === 'closed') ||
      a.priority - b.priority ||
      a.context.enqueued_at.localeCompare(b.context.enqueued_at) ||
      a.id.localeCompare(b.id),
  );
}

/** Polecats at work town-wide (agent beads with a hook, or working/spawning). */
async function activePolecats(store: BeadStore): Promise<number> {
  const { workingPolecats } = await import('../work/spawn.ts');
  return workingPolecats(store.graph()).length;
}

// ---- status, list, clear -----------------------------------------------------------------

export interface SchedulerStatus extends SchedulerConfig {
  paused: boolean;
  paused_by?: string;
  paused_at?: string;
  deferring: boolean;
  active_polecats: number;
  capacity: number;
  queued: number;
  ready: number;
  blocked: number;
  by_rig: Record<string, { queued: number; ready: number; blocked: number }>;
}

function openStore(townRoot: string, env: NodeJS.ProcessEnv): BeadStore {
  return BeadStore.open(townRoot, { actor: env.BD_ACTOR || env.GT_ROLE || 'overseer' });
}

export async function schedulerStatus(
  townRoot: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<SchedulerStatus> {
  await loadCodec();
  const cfg = schedulerConfig(townRoot, env);
  const st = readState(townRoot);
  const store = openStore(townRoot, env);
  const rows = contextRows(store);
  const active = await activePolecats(store);
  const byRig: SchedulerStatus['by_rig'] = {};
  for (const r of rows) {
    const k = r.context.target_rig;
    byRig[k] ??= { queued: 0, ready: 0, blocked: 0 };
    byRig[k].queued++;
    if (r.ready) byRig[k].ready++;
    else byRig[k].blocked++;
  }
  const ready = rows.filter((r) => r.ready).length;
  return {
    ...cfg,
    paused: st.paused,
    ...(st.paused && st.actor ? { paused_by: st.actor } : {}),
    ...(st.paused && st.at ? { paused_at: st.at } : {}),
    deferring: cfg.max_polecats > 0,
    active_polecats: active,
    capacity: cfg.max_polecats > 0 ? Math.max(0, cfg.max_polecats - active) : 0,
    queued: rows.length,
    ready,
    blocked: rows.length - ready,
    by_rig: byRig,
  };
}

export async function schedulerList(
  townRoot: string,
  opts: { all?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<ContextRow[]> {
  await loadCodec();
  return contextRows(openStore(townRoot, opts.env ?? process.env), { all: opts.all });
}

/** gt scheduler clear [--bead ID]: close open contexts (all, or the one of a work bead) as `cleared`. */
export async function schedulerClear(
  townRoot: string,
  opts: { bead?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ cleared: string[] }> {
  const env = opts.env ?? process.env;
  await loadCodec();
  const store = openStore(townRoot, env);
  try {
    const rows = contextRows(store);
    let ids = rows.map((r) => r.id);
    if (opts.bead) {
      const bead = store.resolve(opts.bead);
      ids = rows.filter((r) => r.context.work_bead_id === bead || r.id === bead).map((r) => r.id);
      if (ids.length === 0)
        throw new NotFoundError(
          `no open sling context for ${bead}; \`gt scheduler list\` shows what is scheduled`,
        );
    }
    if (ids.length)
      store.transact(`scheduler: clear ${ids.length} sling context(s)`, (tx) => {
        for (const id of ids) {
          const b = tx.get(id);
          if (b && b.status !== 'closed') closeBead(tx, b, { reason: REASON_CLEARED, force: true });
        }
      });
    return { cleared: ids };
  } finally {
    store.flush();
  }
}

// ---- the dispatch cycle ------------------------------------------------------------------

function lockFile(townRoot: string): string {
  return path.join(townPaths(townRoot).runtimeDir, 'scheduler-dispatch.lock');
}

/** One dispatch cycle (spec §6). The daemon calls this each heartbeat. */
export async function schedulerRun(
  townRoot: string,
  opts: { batch?: number; dryRun?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<SchedulerRunResult> {
  const env = opts.env ?? process.env;
  if (opts.batch !== undefined && (!Number.isInteger(opts.batch) || opts.batch < 1))
    throw new UsageError(`--batch must be a whole number of at least 1, not ${opts.batch}`);
  const cfg = schedulerConfig(townRoot, env);
  const batch = opts.batch ?? cfg.batch_size;
  const base: SchedulerRunResult = {
    paused: false,
    dry_run: !!opts.dryRun,
    max_polecats: cfg.max_polecats,
    active_polecats: 0,
    capacity: 0,
    batch,
    ready: 0,
    planned: [],
    dispatched: [],
    failed: [],
    cleared: [],
  };
  fs.mkdirSync(townPaths(townRoot).runtimeDir, { recursive: true });
  const lock = new FileLock(lockFile(townRoot));
  if (!opts.dryRun) {
    try {
      lock.acquire(0);
    } catch (e) {
      if (e instanceof LockTimeoutError)
        return { ...base, skipped: 'another dispatch cycle is running (.runtime/scheduler-dispatch.lock)' };
      throw e;
    }
  }
  try {
    if (readState(townRoot).paused) return { ...base, paused: true, skipped: 'paused (gt scheduler resume)' };
    await loadCodec();
    const store = openStore(townRoot, env);
    let rows: ContextRow[];
    let active: number;
    try {
      rows = contextRows(store);
      active = await activePolecats(store);
      // Contexts whose work is gone or finished are cleared.
      const gone = rows.filter(
        (r) => !r.work_status || r.work_status === 'closed' || r.work_status === 'tombstone',
      );
      if (gone.length && !opts.dryRun) {
        store.transact(`scheduler: clear ${gone.length} context(s) whose work is closed`, (tx) => {
          for (const r of gone) {
            const b = tx.get(r.id);
            if (b && b.status !== 'closed')
              closeBead(tx, b, {
                reason: `${REASON_CLEARED}: work bead ${r.work_status ?? 'missing'}`,
                force: true,
              });
          }
        });
        base.cleared = gone.map((r) => r.id);
      }
    } finally {
      store.flush();
    }
    const capacity = cfg.max_polecats > 0 ? Math.max(0, cfg.max_polecats - active) : Number.POSITIVE_INFINITY;
    const ready = rows.filter((r) => r.ready);
    const n = Math.min(capacity, batch, ready.length);
    const chosen = ready.slice(0, n);
    const result: SchedulerRunResult = {
      ...base,
      active_polecats: active,
      capacity: Number.isFinite(capacity) ? capacity : -1,
      ready: ready.length,
      planned: chosen.map((r) => ({
        context: r.id,
        bead: r.context.work_bead_id,
        rig: r.context.target_rig,
      })),
    };
    if (opts.dryRun) return result;
    const { sling } = await import('../work/sling.ts');
    for (const [i, r] of chosen.entries()) {
      if (i > 0 && cfg.spawn_delay_ms > 0) await new Promise((res) => setTimeout(res, cfg.spawn_delay_ms));
      const c = r.context;
      try {
        const s = await sling(townRoot, {
          cwd: townRoot,
          beads: [c.work_bead_id],
          target: c.target_rig,
          ...(c.formula ? { formula: c.formula } : {}),
          ...(Object.keys(c.vars ?? {}).length ? { vars: c.vars } : {}),
          ...(c.args !== null ? { args: c.args } : {}),
          ...(c.hook_raw_bead ? { hookRawBead: true } : {}),
          ...(c.no_merge
            ? { merge: 'no_merge' as const }
            : c.merge
              ? { merge: c.merge as 'direct' | 'mr' | 'local' }
              : {}),
          ...(c.base_branch ? { baseBranch: c.base_branch } : {}),
          ...(c.agent ? { agent: c.agent } : {}),
          noConvoy: true,
          ...(c.convoy ? { convoyId: c.convoy } : {}),
          fromScheduler: true,
          env,
        });
        const it = s.items[0];
        closeContext(townRoot, env, r.id, REASON_DISPATCHED);
        result.dispatched.push({
          context: r.id,
          bead: c.work_bead_id,
          rig: c.target_rig,
          ...(it?.polecat ? { polecat: it.agent } : {}),
          session: it?.session?.name ?? null,
        });
      } catch (e) {
        const msg = (e as Error).message;
        const f = recordFailure(townRoot, env, r.id, msg);
        result.failed.push({
          context: r.id,
          bead: c.work_bead_id,
          rig: c.target_rig,
          error: msg,
          dispatch_failures: f,
          circuit_broken: f >= CIRCUIT_BREAKER,
        });
      }
    }
    return result;
  } finally {
    if (!opts.dryRun) lock.release();
  }
}

function closeContext(townRoot: string, env: NodeJS.ProcessEnv, id: string, reason: string): void {
  const store = openStore(townRoot, env);
  try {
    store.transact(`scheduler: ${reason} ${id}`, (tx) => {
      const b = tx.get(id);
      if (b && b.status !== 'closed') closeBead(tx, b, { reason, force: true });
    });
  } finally {
    store.flush();
  }
}

/** One more failed dispatch; the context is closed circuit-broken at CIRCUIT_BREAKER. */
function recordFailure(townRoot: string, env: NodeJS.ProcessEnv, id: string, error: string): number {
  const store = openStore(townRoot, env);
  let failures = 0;
  try {
    store.transact(`scheduler: dispatch of ${id} failed`, (tx) => {
      const b = tx.must(id);
      const ctx = parseContext(b.description);
      if (!ctx) return;
      ctx.dispatch_failures = (ctx.dispatch_failures ?? 0) + 1;
      ctx.last_failure = error.slice(0, 2000);
      failures = ctx.dispatch_failures;
      b.description = JSON.stringify(ctx, null, 2);
      b.updated_at = tx.now;
      tx.put(b);
      if (failures >= CIRCUIT_BREAKER && b.status !== 'closed')
        closeBead(tx, b, { reason: REASON_CIRCUIT, force: true });
    });
  } finally {
    store.flush();
  }
  return failures;
}
