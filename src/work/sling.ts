// gt sling: put work on an agent's hook (spec §1.3, §2.6). For a rig target a polecat is
// spawned (src/work/spawn.ts); the molecule, the hook, the agent bead and the auto-convoy land
// in ONE ledger transaction, which re-reads the bead under the ledger lock: of concurrent
// slings of one bead exactly one hooks it, the rest get ConflictError "already hooked by X".
// The session starts only after the hook is committed (so `gt prime` sees it); if it fails to
// start, the hook is rolled back (unsling) and the worktree and the name are given back.
import type { Graph } from '../beads/graph.ts';
import { BeadStore, type BeadTx } from '../beads/store.ts';
import type { Bead } from '../beads/types.ts';
import { ConflictError, GtError, NotFoundError, UsageError } from '../errors.ts';
import { cook } from '../formula/cook.ts';
import { instantiate } from '../formula/molecule.ts';
import { loadCodec } from '../ledger/codec.ts';
import { createContextTx, openContextFor, schedulerDeferring } from '../patrol/scheduler.ts';
import {
  type LaunchResult,
  parseAgentAddress,
  sessionStatus,
  startSession,
  targetOf,
  townTmux,
} from '../runtime/sessions.ts';
import { agentMeta, ensureAgentBead, updateAgentMeta } from '../town/agents.ts';
import { actorOf, detectIdentity, type Identity, parseIdentity } from '../town/identity.ts';
import { getRig, isDocked, isParked, type RigInfo, rigNames } from '../town/rigs.ts';
import { durationMs, settingValue } from '../town/settings.ts';
import { attachHook, clearHook, findHookIn, formulaLoaderFor } from './hook.ts';
import { checkCaps, fetchOrigin, rollbackSpawn, type Spawned, spawnPolecat } from './spawn.ts';

export interface SlingOptions {
  cwd: string;
  beads: string[];
  /** `<rig>`, `<rig>/<name>`, `<rig>/polecats/<name>`, `<rig>/crew/<name>`, `mayor`, ...; none = self. */
  target?: string;
  force?: boolean;
  agent?: string;
  formula?: string;
  vars?: Record<string, string>;
  args?: string;
  hookRawBead?: boolean;
  noConvoy?: boolean;
  /** gt done's strategy (spec §2.9): stored on the bead as merge_strategy; no_merge = --no-merge. */
  merge?: 'direct' | 'mr' | 'local' | 'no_merge';
  baseBranch?: string;
  dryRun?: boolean;
  /** Hook and provision, but do not start sessions (tests, and a later `gt up`). */
  noStart?: boolean;
  /** The convoy already tracking the bead (the scheduler's dispatch): recorded, none created. */
  convoyId?: string;
  /** Dispatched by the scheduler: never deferred again. */
  fromScheduler?: boolean;
  env?: NodeJS.ProcessEnv;
}

export interface SlingItem {
  bead: string;
  title: string;
  agent: string;
  /** scheduled: a sling context was queued (scheduler.max_polecats > 0), nothing hooked yet. */
  action: 'hooked' | 'already-hooked' | 'planned' | 'scheduled' | 'already-scheduled';
  /** The sling context (deferred dispatch). */
  context?: string;
  molecule?: string;
  formula?: string;
  polecat?: {
    name: string;
    worktree: string;
    branch: string;
    base: string;
    reused: boolean;
    provisioned?: {
      context_file: string | null;
      overlay: string[];
      setup: { command: string; ms: number }[];
    };
  };
  session?: { name: string; action: string; agent: string } | null;
  forced_from?: string;
}

export interface SlingResult {
  items: SlingItem[];
  convoy?: string;
  dry_run: boolean;
  warnings: string[];
}

const MERGES = new Set(['direct', 'mr', 'local', 'no_merge']);
const SLINGABLE_DONE = new Set(['closed', 'tombstone']);

/** Polecats may not sling (spec §2.6 step 1): GT_ROLE first, then BD_ACTOR and GT_POLECAT. */
export function assertMaySling(env: NodeJS.ProcessEnv): void {
  for (const key of ['GT_ROLE', 'BD_ACTOR'] as const) {
    const v = env[key];
    if (!v) continue;
    let role: string | undefined;
    try {
      role = parseIdentity(v).role;
    } catch {
      role = v === 'polecat' ? 'polecat' : undefined;
    }
    if (role === 'polecat')
      throw new UsageError(
        `polecats cannot sling (${key}=${v}): finish your own hook with \`gt done\`, or mail the mayor or your witness to dispatch more work`,
      );
    if (role) return;
  }
  if (env.GT_POLECAT)
    throw new UsageError(
      `polecats cannot sling (GT_POLECAT=${env.GT_POLECAT}): finish your own hook with \`gt done\`, or mail the mayor to dispatch more work`,
    );
}

/** `KEY=VALUE` pairs from --var. */
export function parseVars(list: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of list ?? []) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new UsageError(`--var needs KEY=VALUE, got "${kv}"`);
    const k = kv.slice(0, i);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k))
      throw new UsageError(`--var name "${k}" must be letters, digits and "_" (e.g. --var base_branch=main)`);
    out[k] = kv.slice(i + 1);
  }
  return out;
}

function prefixOf(id: string): string {
  const i = id.indexOf('-');
  return i > 0 ? id.slice(0, i) : id;
}

/** The open, unassigned children of an epic (parent-child) or a convoy (tracks); null for other beads. */
export function slingableChildren(g: Graph, id: string): string[] | null {
  const b = g.byId.get(id);
  if (!b || (b.issue_type !== 'epic' && b.issue_type !== 'convoy')) return null;
  const ids =
    b.issue_type === 'epic'
      ? (g.children.get(id) ?? [])
      : (b.dependencies ?? []).filter((d) => d.type === 'tracks').map((d) => d.depends_on_id);
  return ids.filter((k) => {
    const c = g.byId.get(k);
    return !!c && c.status === 'open' && !c.assignee && c.issue_type !== 'epic' && c.issue_type !== 'convoy';
  });
}

/** The one rig whose prefix all the beads carry; an error naming the fix otherwise. */
function rigOfPrefix(townRoot: string, beads: string[]): string {
  const prefixes = [...new Set(beads.map(prefixOf))];
  const rigs = rigNames(townRoot).filter(
    (r) => prefixes.length === 1 && getRig(townRoot, r).prefix === prefixes[0],
  );
  if (rigs.length !== 1)
    throw new UsageError(
      `no target: the beads' prefix${prefixes.length > 1 ? 'es' : ''} (${prefixes.join(', ')}) name${prefixes.length > 1 ? '' : 's'} no single rig; give one: gt sling <bead>... <rig>`,
    );
  return rigs[0];
}

/** A rig target: `myrig`; a polecat: `myrig/nux` or `myrig/polecats/nux`; else an agent. */
type Target = { kind: 'rig'; rig: RigInfo; name?: string } | { kind: 'agent'; id: Identity };

function resolveTarget(
  townRoot: string,
  cwd: string,
  target: string | undefined,
  env: NodeJS.ProcessEnv,
): Target {
  if (target === undefined || target === '' || target === '.') {
    const me = detectIdentity(townRoot, cwd, env);
    if (me.role === 'overseer')
      throw new UsageError(
        'no target: give a rig (gt sling <bead> <rig>) or an agent (mayor, <rig>/crew/<name>)',
      );
    return { kind: 'agent', id: me };
  }
  const t = target.replace(/\/+$/, '');
  if (!t.includes('/') && rigNames(townRoot).includes(t)) return { kind: 'rig', rig: getRig(townRoot, t) };
  const id = parseAgentAddress(townRoot, t);
  if (id.role === 'polecat') return { kind: 'rig', rig: getRig(townRoot, id.rig!), name: id.name };
  if (id.role === 'overseer')
    throw new UsageError('the overseer has no hook; sling to mayor, a rig, or an agent');
  targetOf(townRoot, id); // validates the rig and names
  return { kind: 'agent', id };
}

/** A dead (or missing) session holding a hook means the bead can be taken (auto-force). */
function holderDead(townRoot: string, actor: string, env: NodeJS.ProcessEnv): boolean {
  try {
    const id = parseIdentity(actor);
    const t = targetOf(townRoot, id);
    if (!townTmux(townRoot, env).hasSession(t.session)) return true;
    return sessionStatus(townRoot, id, env).state !== 'alive';
  } catch {
    return false;
  }
}

/** Read-only guards on one bead (spec §2.6 step 4-5); returns the holder to force out, if any. */
function checkBead(
  townRoot: string,
  g: Graph,
  beadId: string,
  target: Target,
  o: SlingOptions,
  env: NodeJS.ProcessEnv,
): { sameTarget: boolean; forcedFrom?: string } {
  const b = g.byId.get(beadId);
  if (!b) throw new NotFoundError(`no bead with id "${beadId}"; check it with \`bd show ${beadId}\``);
  if (SLINGABLE_DONE.has(b.status))
    throw new ConflictError(
      `${beadId} is ${b.status}; reopen it with \`bd reopen ${beadId}\` before slinging it`,
    );
  if (b.status === 'deferred' && !o.force)
    throw new ConflictError(`${beadId} is deferred; undefer it, or use --force to sling it anyway`);
  if (target.kind === 'rig') {
    const limit = Number(
      settingValue('operational.polecat.respawn_limit', { townRoot, rig: target.rig.name }),
    );
    const count = Number((b.metadata as Record<string, unknown> | undefined)?.respawn_count ?? 0);
    if (limit > 0 && count >= limit)
      throw new ConflictError(
        `${beadId} was slung to polecats ${count} times (operational.polecat.respawn_limit is ${limit}); find out why it keeps failing, then \`gt sling respawn-reset ${beadId}\``,
      );
    const p = prefixOf(beadId);
    if (p !== target.rig.prefix && !o.force)
      throw new UsageError(
        `${beadId} belongs to prefix "${p}" but rig ${target.rig.name} uses "${target.rig.prefix}"; sling it to its own rig, or use --force`,
      );
  }
  if ((b.status === 'hooked' || b.status === 'in_progress' || b.status === 'pinned') && b.assignee) {
    const holder = b.assignee;
    const same =
      target.kind === 'rig'
        ? target.name
          ? holder === `${target.rig.name}/polecats/${target.name}`
          : holder.startsWith(`${target.rig.name}/polecats/`)
        : holder === actorOf(target.id);
    if (same && b.status === 'hooked') return { sameTarget: true };
    if (!o.force && !holderDead(townRoot, holder, env))
      throw new ConflictError(`${beadId} is already hooked by ${holder}; use --force to take it`);
    return { sameTarget: false, forcedFrom: holder };
  }
  return { sameTarget: false };
}

/** Rig command vars (merge_queue.*_command) and base_branch as formula var defaults. */
function rigVars(townRoot: string, rig: string, base: string): Record<string, string> {
  const out: Record<string, string> = { base_branch: base };
  for (const k of ['setup', 'typecheck', 'lint', 'test', 'build']) {
    const v = settingValue<unknown>(`merge_queue.${k}_command`, { townRoot, rig });
    if (typeof v === 'string' && v) out[`${k}_command`] = v;
  }
  return out;
}

/** Auto-convoy call site (src/work/convoy.ts `createConvoyTx`, when that module is present). */
type ConvoyFn = (
  tx: BeadTx,
  input: {
    name: string;
    issues: string[];
    owner?: string;
    merge?: 'direct' | 'mr' | 'local';
    baseBranch?: string;
  },
) => Bead;

async function convoyModule(): Promise<{
  createConvoyTx: ConvoyFn;
  assertNotTracked: (store: BeadStore, ids: string[]) => void;
} | null> {
  try {
    return (await import('./convoy.ts')) as never;
  } catch {
    return null;
  }
}

/** Take a bead off whoever holds it: open, no assignee, their agent bead's hook cleared. */
export function unhookInTx(tx: BeadTx, beadId: string): string | null {
  const b = tx.must(beadId);
  const holder = b.assignee ?? null;
  if (holder) {
    const agentId = findAgentBead(tx, holder);
    if (agentId) {
      const m = agentMeta(tx.must(agentId));
      // A polecat whose session never started goes back to idle (so it can be reused).
      if (m.hook_bead === beadId)
        updateAgentMeta(tx, agentId, {
          hook_bead: null,
          ...(m.role === 'polecat' && m.agent_state === 'spawning' ? { agent_state: 'idle' as const } : {}),
        });
    }
  }
  b.status = 'open';
  b.assignee = undefined;
  const meta: Record<string, unknown> = { ...(b.metadata ?? {}) };
  delete meta.attached_at;
  b.metadata = meta;
  b.updated_at = tx.now;
  tx.put(b);
  tx.note(`unhook ${beadId}${holder ? ` from ${holder}` : ''}`);
  return holder;
}

function findAgentBead(tx: BeadTx, actor: string): string | null {
  for (const s of tx.summaries()) {
    if (s.issue_type === 'agent' && agentMeta(s).actor === actor) return s.id;
  }
  return null;
}

interface Planned {
  beadId: string;
  title: string;
  check: { sameTarget: boolean; forcedFrom?: string };
  spawned?: Spawned;
  who: Identity;
  rigPrefix?: string;
}

/** gt sling: one or more beads to a target (spec §2.6). */
export async function sling(townRoot: string, opts: SlingOptions): Promise<SlingResult> {
  let o = opts;
  const env = o.env ?? process.env;
  assertMaySling(env);
  if (o.beads.length === 0) throw new UsageError('give a bead to sling: gt sling <bead> [target]');
  if (o.merge && !MERGES.has(o.merge))
    throw new UsageError(`--merge must be direct, mr or local (or --no-merge), not "${o.merge}"`);
  if (o.hookRawBead && o.formula) throw new UsageError('--hook-raw-bead and --formula exclude each other');
  if (new Set(o.beads).size !== o.beads.length) throw new UsageError('a bead is named twice');
  await loadCodec();
  const actor = env.BD_ACTOR || env.GT_ROLE || 'overseer';
  const store = BeadStore.open(townRoot, { actor });
  const warnings: string[] = [];
  try {
    const g = store.graph();
    // A single epic or convoy: its slingable children (spec §2.6 step 3).
    if (o.beads.length === 1) {
      const kids = slingableChildren(g, o.beads[0]);
      if (kids) {
        if (kids.length === 0)
          throw new ConflictError(`${o.beads[0]} has no open, unassigned children to sling`);
        o = { ...o, beads: kids };
      }
    }
    // Several beads (or an epic's children) with no target: the rig of their prefix.
    if (o.target === undefined && o.beads.length > 1) o = { ...o, target: rigOfPrefix(townRoot, o.beads) };
    const selfSling = !o.target || o.target === '.';
    const target = resolveTarget(townRoot, o.cwd, o.target, env);
    if (target.kind === 'rig') {
      if (isParked(townRoot, target.rig.name))
        throw new ConflictError(
          `rig ${target.rig.name} is parked; unpark it with \`gt rig unpark ${target.rig.name}\``,
        );
      if (isDocked(store, target.rig.prefix, target.rig.name))
        throw new ConflictError(
          `rig ${target.rig.name} is docked; undock it with \`gt rig undock ${target.rig.name}\``,
        );
      if (target.name && o.beads.length > 1)
        throw new UsageError(
          `one polecat takes one bead: sling several beads to the rig (${target.rig.name})`,
        );
    } else if (o.beads.length > 1) {
      throw new UsageError(
        `${actorOf(target.id)} has one hook: sling several beads to a rig, one polecat each`,
      );
    }
    const checks = o.beads.map((id) => ({ id, check: checkBead(townRoot, g, id, target, o, env) }));
    const todo = checks.filter((c) => !c.check.sameTarget);
    const items: SlingItem[] = checks
      .filter((c) => c.check.sameTarget)
      .map((c) => ({
        bead: c.id,
        title: g.byId.get(c.id)!.title,
        agent: g.byId.get(c.id)!.assignee!,
        action: 'already-hooked' as const,
      }));
    if (todo.length === 0) return { items, dry_run: !!o.dryRun, warnings };

    const convoyMod = o.noConvoy ? null : await convoyModule();
    if (!o.noConvoy && !convoyMod) warnings.push('convoys are not available yet: no auto-convoy created');
    let makeConvoy = !!convoyMod;
    if (convoyMod && todo.length > 1)
      convoyMod.assertNotTracked(
        store,
        todo.map((c) => c.id),
      );
    else if (convoyMod) {
      try {
        convoyMod.assertNotTracked(
          store,
          todo.map((c) => c.id),
        );
      } catch {
        makeConvoy = false; // already tracked by an open convoy: that one follows it
      }
    }

    // The formula (cooked per bead below, outside the transaction: it reads files).
    const loader = formulaLoaderFor(townRoot);
    const toPolecat = target.kind === 'rig' || target.id.role === 'polecat';
    const formulaName = o.hookRawBead
      ? undefined
      : (o.formula ??
        (toPolecat
          ? String(settingValue('workflow.default_formula', { townRoot }) || 'mol-polecat-work')
          : undefined));
    if (formulaName) loader.resolve(formulaName); // a clear NotFound before anything is written

    // Deferred dispatch (spec §2.6 step 2, §6): a sling context per bead instead of a polecat.
    if (target.kind === 'rig' && !target.name && !o.fromScheduler && schedulerDeferring(townRoot, env)) {
      return deferToScheduler(store, target.rig, todo, items, {
        o,
        formulaName,
        convoyMod: makeConvoy ? convoyMod : null,
        warnings,
        titleOf: (id) => g.byId.get(id)!.title,
      });
    }

    // Spawn polecats (worktrees, names) before the transaction; undone if it does not land.
    const planned: Planned[] = [];
    try {
      if (target.kind === 'rig') {
        const rig = target.rig;
        const reusing = target.name ? 1 : 0;
        checkCaps(townRoot, rig, g, todo.length, todo.length - reusing);
        if (target.name && !o.force) {
          const held = findHookIn(g, `${rig.name}/polecats/${target.name}`);
          if (held)
            throw new ConflictError(
              `${rig.name}/polecats/${target.name} already has ${held.beadId} on its hook; sling to the rig for a fresh polecat, or use --force`,
            );
        }
        // The rig's origin first (spec §2.7): a failure is reported, not fatal.
        if (!o.dryRun) {
          const w = fetchOrigin(townRoot, rig);
          if (w) warnings.push(w);
        }
        const taken = new Set<string>();
        for (const c of todo) {
          const s = spawnPolecat(townRoot, rig, g, {
            beadId: c.id,
            baseBranch: o.baseBranch,
            name: target.name,
            exclude: taken,
            dryRun: o.dryRun,
            agent: o.agent,
            env,
          });
          taken.add(s.name);
          for (const w of s.provisioned?.warnings ?? [])
            warnings.push(`${rig.name}/polecats/${s.name}: ${w}`);
          planned.push({
            beadId: c.id,
            title: g.byId.get(c.id)!.title,
            check: c.check,
            spawned: s,
            who: { role: 'polecat', rig: rig.name, name: s.name },
            rigPrefix: rig.prefix,
          });
        }
      } else {
        const t = targetOf(townRoot, target.id);
        for (const c of todo)
          planned.push({
            beadId: c.id,
            title: g.byId.get(c.id)!.title,
            check: c.check,
            who: target.id,
            rigPrefix: t.prefix,
          });
      }

      if (o.dryRun) {
        for (const p of planned)
          items.push({
            bead: p.beadId,
            title: p.title,
            agent: actorOf(p.who),
            action: 'planned',
            ...(formulaName ? { formula: formulaName } : {}),
            ...(p.spawned ? { polecat: polecatInfo(p.spawned) } : {}),
            ...(p.check.forcedFrom ? { forced_from: p.check.forcedFrom } : {}),
          });
        return { items, dry_run: true, warnings };
      }

      const protos = planned.map((p) => {
        if (!formulaName) return null;
        const base = p.spawned?.base ?? o.baseBranch ?? 'main';
        const vars = {
          ...(target.kind === 'rig' ? rigVars(townRoot, target.rig.name, base) : {}),
          issue: p.beadId,
          feature: p.title,
          ...(o.vars ?? {}),
        };
        return { proto: cook(loader, formulaName, { vars, substitute: true }), vars };
      });

      // THE hook write: one commit for molecules, hooks, agent beads and the convoy.
      let convoyId: string | undefined;
      const subject =
        planned.length === 1
          ? `sling ${planned[0].beadId} to ${actorOf(planned[0].who)}`
          : `sling ${planned.length} beads to ${target.kind === 'rig' ? target.rig.name : actorOf(planned[0].who)}`;
      const molecules = store.transact(subject, (tx) => {
        const mols: (string | undefined)[] = [];
        planned.forEach((p, i) => {
          const b = tx.must(p.beadId);
          const me = actorOf(p.who);
          if (SLINGABLE_DONE.has(b.status))
            throw new ConflictError(`${p.beadId} is ${b.status}; reopen it first`);
          if ((b.status === 'hooked' || b.status === 'in_progress') && b.assignee && b.assignee !== me) {
            if (b.assignee !== p.check.forcedFrom)
              throw new ConflictError(
                `${p.beadId} is already hooked by ${b.assignee}; use --force to take it`,
              );
            unhookInTx(tx, p.beadId);
          }
          // One hook per agent: what the target already holds is refused, or dropped with --force.
          const held = tx
            .summaries()
            .find((x) => x.status === 'hooked' && x.assignee === me && x.id !== p.beadId);
          if (held) {
            if (!o.force)
              throw new ConflictError(
                `${me} already has ${held.id} on its hook; unsling it first (gt unsling ${held.id}) or use --force`,
              );
            unhookInTx(tx, held.id);
          }
          let mol: string | undefined;
          const pr = protos[i];
          // The molecule takes the rig's prefix (its steps belong to the rig's work, not to hq).
          if (pr)
            mol = instantiate(tx, pr.proto, {
              ephemeral: false,
              assignee: me,
              prefix: p.rigPrefix,
            }).new_epic_id;
          attachHook(tx, p.beadId, p.who, {
            rigPrefix: p.rigPrefix,
            molecule: mol,
            formula: formulaName,
            force: true,
          });
          const hooked = tx.must(p.beadId);
          const meta: Record<string, unknown> = { ...(hooked.metadata ?? {}), dispatched_by: tx.actor };
          if (p.spawned) meta.respawn_count = Number(meta.respawn_count ?? 0) + 1;
          if (o.args !== undefined) meta.attached_args = o.args;
          if (pr && Object.keys(o.vars ?? {}).length) meta.attached_vars = o.vars;
          if (o.merge) meta.merge_strategy = o.merge;
          if (o.convoyId) meta.convoy_id = o.convoyId;
          if (!formulaName) delete meta.attached_molecule;
          hooked.metadata = meta;
          tx.put(hooked);
          const agent = ensureAgentBead(tx, p.who, p.rigPrefix);
          const agentPatch: Record<string, unknown> = { hook_bead: p.beadId };
          if (p.spawned) {
            agentPatch.agent_state = 'spawning';
            agentPatch.branch = p.spawned.branch;
            agentPatch.worktree = p.spawned.worktree;
            agentPatch.cleanup_status = null;
            agentPatch.active_mr = null;
          }
          updateAgentMeta(tx, agent.id, agentPatch);
          mols.push(mol);
        });
        if (convoyMod && makeConvoy) {
          const name =
            planned.length === 1
              ? `Work: ${planned[0].title}`
              : `Batch: ${planned.length} beads to ${target.kind === 'rig' ? target.rig.name : actorOf(planned[0].who)}`;
          const c = convoyMod.createConvoyTx(tx, {
            name,
            issues: planned.map((p) => p.beadId),
            owner: tx.actor,
            // A convoy records direct|mr|local; no_merge stays on each bead.
            ...(o.merge && o.merge !== 'no_merge' ? { merge: o.merge } : {}),
            ...(o.baseBranch ? { baseBranch: o.baseBranch } : {}),
          });
          convoyId = c.id;
          for (const p of planned) {
            const b = tx.must(p.beadId);
            b.metadata = { ...(b.metadata ?? {}), convoy_id: c.id };
            tx.put(b);
          }
        }
        return mols;
      });

      for (let i = 0; i < planned.length; i++) {
        const p = planned[i];
        items.push({
          bead: p.beadId,
          title: p.title,
          agent: actorOf(p.who),
          action: 'hooked',
          ...(molecules[i] ? { molecule: molecules[i] } : {}),
          ...(formulaName ? { formula: formulaName } : {}),
          ...(p.spawned ? { polecat: polecatInfo(p.spawned) } : {}),
          ...(p.check.forcedFrom ? { forced_from: p.check.forcedFrom } : {}),
          session: null,
        });
      }
      // Work taken from a polecat: its witness is told to shut it down (spec §2.6 step 4).
      for (const it of items) {
        if (!it.forced_from) continue;
        let old: Identity | null = null;
        try {
          old = parseIdentity(it.forced_from);
        } catch {
          old = null;
        }
        if (old?.role !== 'polecat' || !old.rig) continue;
        try {
          const { sendMail } = await import('../mail/send.ts');
          await sendMail(
            townRoot,
            {
              from: actor,
              to: `${old.rig}/witness`,
              subject: `LIFECYCLE:Shutdown ${it.forced_from}`,
              body: `${it.bead} was slung to ${it.agent} with --force (or its session was gone); ${it.forced_from} no longer holds it.`,
            },
            { actor },
          );
        } catch (e) {
          warnings.push(`could not mail ${old.rig}/witness about ${it.forced_from}: ${(e as Error).message}`);
        }
      }
      const result: SlingResult = {
        items,
        ...(convoyId ? { convoy: convoyId } : {}),
        dry_run: false,
        warnings,
      };
      if (o.noStart) return result;

      // Existing agents (mayor, crew, ...) are told about the new work; self-slings are not.
      if (!selfSling) {
        for (const p of planned.filter((x) => !x.spawned && x.who.role !== 'polecat')) {
          try {
            const { nudgeAgent } = await import('../nudge/nudge.ts');
            await nudgeAgent(townRoot, p.who, {
              sender: actor,
              message: `Work slung to you: ${p.beadId} "${p.title}". Run \`gt prime --hook\` and begin work on your hook.`,
              mode: 'queue',
            });
          } catch (e) {
            warnings.push(`could not nudge ${actorOf(p.who)}: ${(e as Error).message}`);
          }
        }
      }

      // Sessions, only now that the hooks are committed. A start failure unslings that bead.
      const fresh = planned.filter((p) => p.spawned || p.who.role === 'polecat');
      // Batch spawns are spaced (spec §2.6: 2 s by default) so agents do not start all at once.
      const spacing =
        fresh.length > 1
          ? durationMs(
              settingValue('scheduler.spawn_delay', {
                townRoot,
                rig: target.kind === 'rig' ? target.rig.name : undefined,
                env,
              }),
              'scheduler.spawn_delay',
            )
          : 0;
      for (const [n, p] of fresh.entries()) {
        if (n > 0 && spacing > 0) await new Promise((r) => setTimeout(r, spacing));
        const item = items.find((it) => it.bead === p.beadId)!;
        try {
          const r: LaunchResult = await startSession(townRoot, p.who, {
            agent: o.agent,
            sender: actor,
            assigned: item.molecule ?? p.beadId,
            actor,
            ...(p.spawned ? { env: { GT_BRANCH: p.spawned.branch } } : {}),
          });
          item.session = { name: r.session, action: r.action, agent: r.agent };
        } catch (e) {
          store.transact(`unsling ${p.beadId}: the session of ${actorOf(p.who)} did not start`, (tx) => {
            unhookInTx(tx, p.beadId);
            const agent = ensureAgentBead(tx, p.who, p.rigPrefix);
            updateAgentMeta(tx, agent.id, { hook_bead: null, agent_state: 'idle' });
          });
          if (p.spawned && target.kind === 'rig') rollbackSpawn(townRoot, target.rig, p.spawned);
          throw new GtError(
            `${actorOf(p.who)}'s session did not start (${(e as Error).message}); ${p.beadId} was unslung`,
          );
        }
      }
      return result;
    } catch (e) {
      if (!o.dryRun && target.kind === 'rig') {
        // Nothing landed (the transaction threw): give back every worktree and name.
        const landed = items.some((it) => it.action === 'hooked');
        if (!landed) for (const p of planned) if (p.spawned) rollbackSpawn(townRoot, target.rig, p.spawned);
      }
      throw e;
    }
  } finally {
    store.flush();
  }
}

/** The deferred path: sling contexts (and the auto-convoy) in one commit; the work beads untouched. */
function deferToScheduler(
  store: BeadStore,
  rig: RigInfo,
  todo: { id: string }[],
  items: SlingItem[],
  x: {
    o: SlingOptions;
    formulaName: string | undefined;
    convoyMod: { createConvoyTx: ConvoyFn } | null;
    warnings: string[];
    titleOf: (id: string) => string;
  },
): SlingResult {
  const { o } = x;
  if (o.dryRun) {
    for (const c of todo)
      items.push({ bead: c.id, title: x.titleOf(c.id), agent: rig.name, action: 'planned' });
    x.warnings.push('scheduler.max_polecats > 0: the beads would be queued for the scheduler');
    return { items, dry_run: true, warnings: x.warnings };
  }
  let convoyId: string | undefined;
  store.transact(
    todo.length === 1
      ? `sling ${todo[0].id}: scheduled for ${rig.name}`
      : `sling ${todo.length} beads: scheduled for ${rig.name}`,
    (tx) => {
      const existing = new Map(todo.map((c) => [c.id, openContextFor(tx, c.id)]));
      const fresh = todo.filter((c) => !existing.get(c.id));
      if (x.convoyMod && fresh.length) {
        const cv = x.convoyMod.createConvoyTx(tx, {
          name:
            fresh.length === 1
              ? `Work: ${x.titleOf(fresh[0].id)}`
              : `Batch: ${fresh.length} beads to ${rig.name}`,
          issues: fresh.map((c) => c.id),
          owner: tx.actor,
          ...(o.merge && o.merge !== 'no_merge' ? { merge: o.merge } : {}),
          ...(o.baseBranch ? { baseBranch: o.baseBranch } : {}),
        });
        convoyId = cv.id;
      }
      for (const [order, c] of todo.entries()) {
        const had = existing.get(c.id);
        if (had) {
          items.push({
            bead: c.id,
            title: x.titleOf(c.id),
            agent: rig.name,
            action: 'already-scheduled',
            context: had,
          });
          continue;
        }
        const ctx = createContextTx(
          tx,
          {
            work_bead_id: c.id,
            target_rig: rig.name,
            formula: x.formulaName ?? null,
            args: o.args ?? null,
            vars: o.vars ?? {},
            merge: o.merge && o.merge !== 'no_merge' ? o.merge : null,
            convoy: convoyId ?? null,
            base_branch: o.baseBranch ?? null,
            no_merge: o.merge === 'no_merge',
            account: null,
            agent: o.agent ?? null,
            hook_raw_bead: !!o.hookRawBead,
            owned: false,
            mode: null,
          },
          order,
        );
        items.push({
          bead: c.id,
          title: x.titleOf(c.id),
          agent: rig.name,
          action: 'scheduled',
          context: ctx.id,
        });
      }
    },
  );
  return { items, ...(convoyId ? { convoy: convoyId } : {}), dry_run: false, warnings: x.warnings };
}

function polecatInfo(s: Spawned) {
  return {
    name: s.name,
    worktree: s.worktree,
    branch: s.branch,
    base: s.base,
    reused: s.reused,
    ...(s.provisioned
      ? {
          provisioned: {
            context_file: s.provisioned.context_file,
            overlay: s.provisioned.overlay,
            setup: s.provisioned.setup,
          },
        }
      : {}),
  };
}

// ---- unsling / release / hook ---------------------------------------------------------------

export interface UnslingResult {
  bead: string;
  from: string | null;
  changed: boolean;
}

/** gt unsling <bead> [target]: the bead back to open with no assignee, the holder's hook cleared. */
export async function unsling(
  townRoot: string,
  o: {
    cwd: string;
    bead: string;
    target?: string;
    force?: boolean;
    env?: NodeJS.ProcessEnv;
    release?: boolean;
  },
): Promise<UnslingResult> {
  const env = o.env ?? process.env;
  await loadCodec();
  const actor = env.BD_ACTOR || env.GT_ROLE || 'overseer';
  const store = BeadStore.open(townRoot, { actor });
  try {
    const b = store.summary(o.bead);
    if (!b) throw new NotFoundError(`no bead with id "${o.bead}"; check it with \`bd show ${o.bead}\``);
    let expect: string | undefined;
    if (o.target) expect = actorOf(parseAgentAddress(townRoot, o.target));
    else if (o.release) expect = actorOf(detectIdentity(townRoot, o.cwd, env));
    if (b.status !== 'hooked' && b.status !== 'in_progress') {
      if (b.status === 'open' && !b.assignee) return { bead: o.bead, from: null, changed: false };
      throw new ConflictError(`${o.bead} is ${b.status}, not on a hook; nothing to unsling`);
    }
    if (expect && b.assignee !== expect && !o.force)
      throw new ConflictError(
        `${o.bead} is hooked by ${b.assignee ?? 'nobody'}, not ${expect}; name the right agent or use --force`,
      );
    let from: string | null = null;
    store.transact(`${o.release ? 'release' : 'unsling'} ${o.bead}`, (tx) => {
      const cur = tx.must(o.bead);
      if (cur.assignee !== b.assignee)
        throw new ConflictError(
          `${o.bead} changed hands while unslinging (now ${cur.assignee ?? 'nobody'}); retry`,
        );
      from = unhookInTx(tx, o.bead);
    });
    return { bead: o.bead, from, changed: true };
  } finally {
    store.flush();
  }
}

export interface HookStatus {
  agent: string;
  bead: string | null;
  title?: string;
  status?: string;
  molecule?: string;
  formula?: string;
}

/** gt hook status: what is on an agent's hook (yours by default). */
export async function hookStatus(
  townRoot: string,
  o: { cwd: string; target?: string; env?: NodeJS.ProcessEnv },
): Promise<HookStatus> {
  const env = o.env ?? process.env;
  await loadCodec();
  const who = o.target ? parseAgentAddress(townRoot, o.target) : detectIdentity(townRoot, o.cwd, env);
  if (who.role === 'overseer')
    throw new UsageError('the overseer has no hook; name an agent: gt hook show <agent>');
  const actor = actorOf(who);
  const store = BeadStore.open(townRoot, { actor });
  const ref = findHookIn(store.graph(), actor);
  if (!ref) return { agent: actor, bead: null };
  const b = store.summary(ref.beadId)!;
  return {
    agent: actor,
    bead: ref.beadId,
    title: b.title,
    status: b.status,
    ...(ref.molecule ? { molecule: ref.molecule } : {}),
    ...(ref.formula ? { formula: ref.formula } : {}),
  };
}

/** gt hook attach <bead> [target]: hook a bead directly (no polecat, no molecule). */
export async function hookAttach(
  townRoot: string,
  o: { cwd: string; bead: string; target?: string; force?: boolean; env?: NodeJS.ProcessEnv },
): Promise<HookStatus> {
  const env = o.env ?? process.env;
  assertMaySlingOrSelf(env, o.target);
  await loadCodec();
  const who = o.target ? parseAgentAddress(townRoot, o.target) : detectIdentity(townRoot, o.cwd, env);
  if (who.role === 'overseer')
    throw new UsageError('the overseer has no hook; name an agent: gt hook attach <bead> <agent>');
  const t = targetOf(townRoot, who);
  const actor = env.BD_ACTOR || env.GT_ROLE || 'overseer';
  const store = BeadStore.open(townRoot, { actor });
  try {
    store.transact(`hook ${o.bead} on ${t.address}`, (tx) => {
      const b = tx.must(o.bead);
      if (SLINGABLE_DONE.has(b.status)) throw new ConflictError(`${o.bead} is ${b.status}; reopen it first`);
      if (b.status === 'hooked' && b.assignee && b.assignee !== t.address && !o.force)
        throw new ConflictError(`${o.bead} is already hooked by ${b.assignee}; use --force to take it`);
      if (b.status === 'hooked' && b.assignee && b.assignee !== t.address) unhookInTx(tx, o.bead);
      attachHook(tx, o.bead, who, { rigPrefix: t.prefix, force: true });
    });
  } finally {
    store.flush();
  }
  return hookStatus(townRoot, { cwd: o.cwd, target: t.address, env });
}

/** Anyone may hook work on themselves; only non-polecats hook work on others. */
function assertMaySlingOrSelf(env: NodeJS.ProcessEnv, target: string | undefined): void {
  if (target) assertMaySling(env);
}

/** gt hook detach|clear: take what is on the hook off it (the bead back to open). */
export async function hookClear(
  townRoot: string,
  o: { cwd: string; target?: string; env?: NodeJS.ProcessEnv },
): Promise<UnslingResult | { bead: null; from: string; changed: false }> {
  const env = o.env ?? process.env;
  const st = await hookStatus(townRoot, o);
  if (!st.bead) {
    // A stale hook_bead pointer is cleared too.
    const store = BeadStore.open(townRoot, { actor: env.BD_ACTOR || 'overseer' });
    try {
      const who = o.target ? parseAgentAddress(townRoot, o.target) : detectIdentity(townRoot, o.cwd, env);
      const t = targetOf(townRoot, who);
      const agent = store.summary(t.beadId);
      if (agent && agentMeta(agent).hook_bead)
        store.transact(`clear hook of ${t.address}`, (tx) => clearHook(tx, who, { rigPrefix: t.prefix }));
    } finally {
      store.flush();
    }
    return { bead: null, from: st.agent, changed: false };
  }
  return unsling(townRoot, { cwd: o.cwd, bead: st.bead, target: st.agent, env });
}

/** Split `gt sling` positionals into beads and a target: the last one is a target when it is a rig, an address or `.`. */
export function splitSlingArgs(townRoot: string, args: string[]): { beads: string[]; target?: string } {
  if (args.length < 2) return { beads: args };
  const last = args[args.length - 1];
  const isTarget =
    last === '.' ||
    last.includes('/') ||
    ['mayor', 'deacon'].includes(last) ||
    rigNames(townRoot).includes(last);
  return isTarget ? { beads: args.slice(0, -1), target: last } : { beads: args };
}

/** gt sling respawn-reset <bead>: clear the respawn circuit breaker of a bead. */
export async function respawnReset(townRoot: string, beadId: string, env: NodeJS.ProcessEnv = process.env) {
  await loadCodec();
  const store = BeadStore.open(townRoot, { actor: env.BD_ACTOR || env.GT_ROLE || 'overseer' });
  try {
    let was = 0;
    store.transact(`sling respawn-reset ${beadId}`, (tx) => {
      const b = tx.must(beadId);
      const meta: Record<string, unknown> = { ...(b.metadata ?? {}) };
      was = Number(meta.respawn_count ?? 0);
      if (!was) return;
      delete meta.respawn_count;
      b.metadata = meta;
      b.updated_at = tx.now;
      tx.put(b);
    });
    return { bead: beadId, was };
  } finally {
    store.flush();
  }
}
