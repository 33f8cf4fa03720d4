// The parts of a daemon tick (spec §5.1, §2.12): each one a deterministic, idempotent pass that
// the daemon runs on its heartbeat and when a watched file says something changed. The daemon
// times each part and isolates it: a part that throws is logged and recorded, the others run.
// Heavy modules are imported inside the parts, so loading this list costs nothing.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { readRigs } from '../town/files.ts';
import { rigPaths, townPaths } from '../town/paths.ts';
import { fault } from '../town/rigs.ts';
import { durationMs, settingValue } from '../town/settings.ts';

export interface PartContext {
  townRoot: string;
  env: NodeJS.ProcessEnv;
  /** Only these rigs (rig-scoped parts); undefined: every rig. */
  rigs?: string[];
  /** Why this tick runs (`heartbeat`, `startup`, `ledger`, `repo:<rig>`, `wake:<file>`, ...). */
  reasons: string[];
  /** The actor the daemon writes as. */
  actor: string;
  log(msg: string, extra?: Record<string, unknown>): void;
}

export interface PartOutcome {
  /** One line for the log and `gt daemon status`. */
  summary: string;
  data?: unknown;
  /** Problems the part handled without throwing (a rig that failed, a bead not fed). */
  errors?: string[];
  /** Run this part again after a while (the refinery holding a batch open), for one rig or all. */
  again?: { afterMs: number; rig?: string }[];
}

export interface Part {
  name: string;
  /** Runs per rig (a rig's repository change wakes only that rig). */
  rigScoped?: boolean;
  run(ctx: PartContext): Promise<PartOutcome>;
}

function rigList(ctx: PartContext): string[] {
  const all = Object.keys(readRigs(ctx.townRoot));
  return ctx.rigs ? ctx.rigs.filter((r) => all.includes(r)) : all;
}

function count(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

// ---- witness ----------------------------------------------------------------------------------

const witness: Part = {
  name: 'witness',
  rigScoped: true,
  async run(ctx) {
    // `gt down` is stopping the town: restarting what it stops would undo it (spec §5.1).
    const { shutdownLockFile } = await import('../runtime/sessions.ts');
    if (fs.existsSync(shutdownLockFile(ctx.townRoot)))
      return { summary: 'skipped: shutdown in progress (daemon/shutdown.lock)' };
    const { witnessTick } = await import('./witness.ts');
    const findings: unknown[] = [];
    const actions: unknown[] = [];
    const errors: string[] = [];
    const rigs = ctx.rigs ? rigList(ctx) : [undefined];
    for (const rig of rigs) {
      const r = await witnessTick(ctx.townRoot, { rig, env: ctx.env, act: true });
      findings.push(...r.findings);
      actions.push(...r.actions);
      errors.push(...r.errors);
    }
    // What was done goes into the log line itself: `gt daemon logs` is where people look.
    const done = (actions as { kind?: string; agent?: string; result?: string }[])
      .map((a) => `${a.kind} ${a.agent}${a.result ? ` (${a.result})` : ''}`)
      .join('; ');
    return {
      summary: `${count(findings.length, 'finding')}, ${count(actions.length, 'action')}${done ? `: ${done}` : ''}`,
      data: { findings, actions },
      errors,
    };
  },
};

// ---- refinery ---------------------------------------------------------------------------------

const refinery: Part = {
  name: 'refinery',
  rigScoped: true,
  async run(ctx) {
    const { refineryTick } = await import('../refinery/engine.ts');
    const rigs = ctx.rigs ? rigList(ctx) : [undefined];
    const reports: Record<string, any> = {};
    for (const rig of rigs)
      Object.assign(reports, (await refineryTick(ctx.townRoot, { rig, env: ctx.env })).rigs);
    let merged = 0;
    let failed = 0;
    const errors: string[] = [];
    const details: string[] = [];
    for (const [rig, r] of Object.entries(reports)) {
      merged += r.merged?.length ?? 0;
      failed += r.failed?.length ?? 0;
      if (r.error) errors.push(`${rig}: ${r.error}`);
      if (r.merged?.length) details.push(`${rig} merged ${r.merged.join(', ')}`);
      for (const f of r.failed ?? []) details.push(`${rig} ${f.mr} failed: ${f.reason}`);
      for (const n of r.notes ?? []) details.push(`${rig}: ${n}`);
    }
    const again: { afterMs: number; rig: string }[] = [];
    for (const [rig, r] of Object.entries(reports)) {
      if (typeof r.wake_after_ms === 'number') again.push({ afterMs: r.wake_after_ms, rig });
      if (r.skipped && r.wake_after_ms) details.push(`${rig}: ${r.skipped}`);
    }
    return {
      again,
      summary: `${count(Object.keys(reports).length, 'rig')}: ${merged} merged, ${failed} failed${details.length ? `; ${details.join('; ')}` : ''}`,
      data: reports,
      errors,
    };
  },
};

// ---- convoys: landing, then feeding the stranded ones -----------------------------------------

/**
 * What the daemon has seen of each stranded convoy (per daemon process): when it was first seen
 * stranded, how much of it was done then, when it was last fed. Feeding a convoy the moment it
 * looks stranded would race whoever created it and is about to sling its beads by hand, so:
 * a convoy is fed at once when tracked work completes (the next bead follows the finished one,
 * spec §2.12), and otherwise only once it has stayed stranded for the feed cooldown
 * (operational.deacon.feed_stranded_cooldown), then at most once per cooldown.
 */
interface FeedSeen {
  since: number;
  done: number;
  fedAt: number | null;
}
const feedSeen = new Map<string, FeedSeen>();

const convoy: Part = {
  name: 'convoy',
  async run(ctx) {
    const [{ loadCodec }, { BeadStore }, { checkConvoys, convoyStatus, feedConvoys }] = await Promise.all([
      import('../ledger/codec.ts'),
      import('../beads/store.ts'),
      import('../work/convoy.ts'),
    ]);
    await loadCodec();
    const store = BeadStore.open(ctx.townRoot, { actor: ctx.actor });
    let r: Awaited<ReturnType<typeof checkConvoys>>;
    const done = new Map<string, number>();
    try {
      r = await checkConvoys(store, ctx.townRoot, { actor: ctx.actor });
      for (const f of r.fed) done.set(f.convoy, convoyStatus(store, f.convoy).done);
    } finally {
      store.flush();
    }
    const errors = r.mail.filter((m) => m.error).map((m) => `landed mail for ${m.convoy}: ${m.error}`);
    const maxKey = 'operational.deacon.feed_stranded_max';
    const coolKey = 'operational.deacon.feed_stranded_cooldown';
    const max = Number(settingValue(maxKey, { townRoot: ctx.townRoot, env: ctx.env }));
    const cool = durationMs(settingValue(coolKey, { townRoot: ctx.townRoot, env: ctx.env }), coolKey);
    const now = Date.now();
    for (const id of [...feedSeen.keys()]) if (!done.has(id)) feedSeen.delete(id); // not stranded now
    const todo = r.fed.filter((f) => {
      const d = done.get(f.convoy) ?? 0;
      const seen = feedSeen.get(f.convoy);
      if (!seen) {
        feedSeen.set(f.convoy, { since: now, done: d, fedAt: null });
        return cool === 0;
      }
      const progressed = d > seen.done;
      seen.done = d;
      if (progressed) return true;
      return now - seen.since >= cool && (seen.fedAt === null || now - seen.fedAt >= cool);
    });
    const fed = await feedConvoys(ctx.townRoot, todo.slice(0, Math.max(0, max)), { env: ctx.env });
    for (const f of fed) {
      const seen = feedSeen.get(f.convoy);
      if (seen) seen.fedAt = now;
      if (f.error) errors.push(`feed ${f.convoy} with ${f.bead}: ${f.error}`);
    }
    for (const id of r.landed) ctx.log(`convoy ${id} landed`, { convoy: id });
    for (const f of fed) if (!f.error) ctx.log(`convoy ${f.convoy} fed ${f.bead} → ${f.agent}`, { ...f });
    return {
      summary: `${count(r.landed.length, 'convoy')} landed, ${fed.filter((f) => !f.error).length} fed`,
      data: { landed: r.landed, fed },
      errors,
    };
  },
};

// ---- scheduler: dispatch queued work within capacity ------------------------------------------

const scheduler: Part = {
  name: 'scheduler',
  async run(ctx) {
    const { schedulerRun } = await import('./scheduler.ts');
    const r = await schedulerRun(ctx.townRoot, { env: ctx.env });
    if (r.paused) return { summary: 'paused', data: r };
    if (r.skipped) return { summary: `skipped: ${r.skipped}`, data: r };
    return {
      summary: `${r.dispatched.length} dispatched, ${r.failed.length} failed (${r.ready} ready, capacity ${r.capacity})`,
      data: r,
      errors: r.failed.map((f) => `${f.bead}: ${f.error}${f.circuit_broken ? ' (circuit broken)' : ''}`),
    };
  },
};

// ---- escalation staleness ---------------------------------------------------------------------

const escalations: Part = {
  name: 'escalation',
  async run(ctx) {
    const { staleEscalations } = await import('../escalation/escalate.ts');
    const r = await staleEscalations(ctx.townRoot, { env: ctx.env, actor: ctx.actor });
    const re = r.entries.filter((e) => e.outcome === 'reescalated');
    return { summary: `${r.checked} open, ${re.length} re-escalated`, data: r };
  },
};

// ---- gates: close the ones whose condition is met, tell their waiters --------------------------

const gates: Part = {
  name: 'gates',
  async run(ctx) {
    const { gatePatrol } = await import('./gates.ts');
    const r = await gatePatrol(ctx.townRoot, { actor: ctx.actor });
    const told = r.notified.map((n) => `${n.gate} → ${n.to.join(', ')}`).join('; ');
    return {
      summary: `${count(r.checked, 'open gate')} checked, ${r.resolved.length} resolved, ${count(r.notified.length, 'notification')}${told ? `: ${told}` : ''}`,
      data: r,
      errors: r.errors,
    };
  },
};

// ---- nudge queues of agents without a turn-boundary hook -------------------------------------

const nudges: Part = {
  name: 'nudges',
  async run(ctx) {
    const base = path.join(townPaths(ctx.townRoot).runtimeDir, 'nudge_queue');
    let sessions: string[] = [];
    try {
      sessions = fs.readdirSync(base).filter((s) => {
        try {
          return fs.readdirSync(path.join(base, s)).some((f) => f.endsWith('.json'));
        } catch {
          return false;
        }
      });
    } catch {
      return { summary: 'no queued nudges' };
    }
    if (sessions.length === 0) return { summary: 'no queued nudges' };
    const [{ identityOfSession, readSessionRecord }, { loadAgents }, { pollOnce }] = await Promise.all([
      import('../runtime/sessions.ts'),
      import('../runtime/presets.ts'),
      import('../nudge/poller.ts'),
    ]);
    // Agents with hooks drain their own queue at each turn (gt mail check --inject); the rest
    // get theirs typed in when idle, as `gt nudge-poller` would.
    const jobs = sessions.flatMap((session) => {
      const id = identityOfSession(ctx.townRoot, session);
      const rec = readSessionRecord(ctx.townRoot, session);
      if (!id || !rec) return [];
      const preset = loadAgents(ctx.townRoot, rec.rig).get(rec.agent);
      if (preset?.hooks?.inject === 'settings-flag') return [];
      return [pollOnce(ctx.townRoot, id, { env: ctx.env })];
    });
    const results = await Promise.allSettled(jobs);
    const delivered = results.reduce((n, r) => n + (r.status === 'fulfilled' ? r.value.delivered : 0), 0);
    const errors = results
      .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
      .map((r) => String(r.reason?.message ?? r.reason));
    return { summary: `${count(delivered, 'nudge')} delivered to ${count(jobs.length, 'session')}`, errors };
  },
};

// ---- git maintenance --------------------------------------------------------------------------

function gitAsync(cwd: string, args: string[], env: NodeJS.ProcessEnv): Promise<string | null> {
  return new Promise((resolve) => {
    const p = spawn('git', args, { cwd, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => {
      err += d;
    });
    p.on('error', (e) => resolve(e.message));
    p.on('close', (code) => resolve(code === 0 ? null : err.trim() || `exit ${code}`));
  });
}

const maintenance: Part = {
  name: 'maintenance',
  async run(ctx) {
    // Tests and CI turn it off: it would run gc in throwaway repositories (DESIGN §4).
    if (ctx.env.GT_NO_MAINTENANCE === '1') return { summary: 'skipped (GT_NO_MAINTENANCE=1)' };
    const repos = [
      ctx.townRoot,
      ...Object.keys(readRigs(ctx.townRoot))
        .map((r) => rigPaths(ctx.townRoot, r).repoGit)
        .filter((d) => fs.existsSync(d)),
    ];
    const errors: string[] = [];
    for (const repo of repos) {
      const e = await gitAsync(repo, ['maintenance', 'run', '--auto', '--quiet'], ctx.env);
      if (e) errors.push(`${repo}: ${e}`);
    }
    return { summary: `${count(repos.length, 'repository')} checked`, errors };
  },
};

/** The parts in the order a full tick runs them. */
export const PARTS: Part[] = [witness, refinery, convoy, scheduler, gates, escalations, nudges, maintenance];

export const PART_NAMES = PARTS.map((p) => p.name);

/** Run one part with the test fault hook (GT_FAULT_INJECT=daemon:<part>). */
export async function runPart(part: Part, ctx: PartContext): Promise<PartOutcome> {
  fault('daemon', part.name);
  return part.run(ctx);
}
