// The hook: an agent's work slot.
//
// Convention (shared by gt prime, the scripted agent, gt sling, gt hook and gt done):
// - Work is "on an agent's hook" when a bead has `status: hooked` and `assignee` = the agent's
//   actor (e.g. `myrig/polecats/nux`, `mayor`), and the agent's bead has `metadata.hook_bead`
//   naming it. The bead is the source of truth; `hook_bead` is the agent's pointer to it (when
//   they disagree, the hooked bead wins and `hook_bead` is a hint only).
// - The hooked bead's `metadata.attached_molecule` names the molecule the agent works through
//   (poured or wisp, root-only or not) and `metadata.attached_formula` the formula it was made
//   from. A hooked bead that is itself a molecule root is its own molecule; a hooked bead with a
//   `blocks` edge to a molecule (the original's bond) is read the same way.
// - One hook per agent. When several beads are hooked to one actor (hand edits), the one the
//   agent bead names wins, then the most recently updated.
import { buildGraph, type Graph } from '../beads/graph.ts';
import type { BeadSummary } from '../beads/record.ts';
import { type BeadStore, type BeadTx, findTownRoot } from '../beads/store.ts';
import type { Bead } from '../beads/types.ts';
import { ConflictError, NotFoundError } from '../errors.ts';
import { cook, type Proto } from '../formula/cook.ts';
import { defaultSearchDirs, FormulaLoader } from '../formula/loader.ts';
import { type MoleculeProgress, moleculeProgress, rootOnlyInfo, virtualSteps } from '../formula/molecule.ts';
import { findRepo } from '../git/repo.ts';
import { agentMeta, ensureAgentBead, updateAgentMeta } from '../town/agents.ts';
import { actorOf, type Identity } from '../town/identity.ts';

export interface Hook {
  /** The hooked work bead (full record). */
  bead: Bead;
  /** Root of the molecule the agent works through, when one is attached and exists. */
  molecule?: string;
  /** The formula the molecule was made from, when known. */
  formula?: string;
  /** The agent's bead, when there is one. */
  agentBeadId?: string;
}

/** Where a hook stands, read from summaries only (no blob reads). */
export interface HookRef {
  beadId: string;
  molecule?: string;
  formula?: string;
  agentBeadId?: string;
}

/** The agent bead of an actor, found by its metadata (no rig prefix needed). */
export function agentBeadOf(g: Graph, actor: string): BeadSummary | undefined {
  for (const b of g.byId.values()) {
    if (b.issue_type === 'agent' && agentMeta(b).actor === actor) return b;
  }
  return undefined;
}

function isHookedTo(b: BeadSummary | undefined, actor: string): b is BeadSummary {
  return !!b && b.status === 'hooked' && b.assignee === actor;
}

/** The molecule a hooked bead points at: attached_molecule, itself, or a blocks edge to a molecule. */
export function attachedMolecule(g: Graph, b: BeadSummary): string | undefined {
  const meta = (b.metadata ?? {}) as Record<string, unknown>;
  const att = meta.attached_molecule;
  if (typeof att === 'string' && g.byId.has(att)) return att;
  if (b.issue_type === 'molecule' || typeof meta.formula === 'string') return b.id;
  for (const d of b.dependencies ?? []) {
    const t = g.byId.get(d.depends_on_id);
    if (d.type === 'blocks' && t?.issue_type === 'molecule') return t.id;
  }
  return undefined;
}

/** Find an actor's hook in a graph of summaries (what prime uses to read the ledger once). */
export function findHookIn(g: Graph, actor: string): HookRef | null {
  const agent = agentBeadOf(g, actor);
  let hooked: BeadSummary | undefined;
  const named = agent ? agentMeta(agent).hook_bead : null;
  if (typeof named === 'string' && isHookedTo(g.byId.get(named), actor)) hooked = g.byId.get(named);
  if (!hooked) {
    for (const b of g.byId.values()) {
      if (isHookedTo(b, actor) && (!hooked || b.updated_at > hooked.updated_at)) hooked = b;
    }
  }
  if (!hooked) return null;
  const molecule = attachedMolecule(g, hooked);
  const meta = (hooked.metadata ?? {}) as Record<string, unknown>;
  const molMeta = molecule ? ((g.byId.get(molecule)?.metadata ?? {}) as Record<string, unknown>) : {};
  const formula =
    typeof meta.attached_formula === 'string'
      ? meta.attached_formula
      : typeof molMeta.formula === 'string'
        ? molMeta.formula
        : undefined;
  return {
    beadId: hooked.id,
    ...(molecule ? { molecule } : {}),
    ...(formula ? { formula } : {}),
    ...(agent ? { agentBeadId: agent.id } : {}),
  };
}

/** What is on `actor`'s hook: the bead and its molecule, or null when nothing is hooked. */
export function findHook(store: BeadStore, actor: string): Hook | null {
  const ref = findHookIn(store.graph(), actor);
  if (!ref) return null;
  const bead = store.get(ref.beadId);
  if (!bead) return null;
  const { beadId: _b, ...rest } = ref;
  return { bead, ...rest };
}

// ---- molecule progress (root-only wisps included) -------------------------------------------

/** The formula loader for a working directory: project, town, built-in (as bd uses). */
export function formulaLoaderFor(cwd: string): FormulaLoader {
  const repo = findRepo(cwd);
  return new FormulaLoader(
    defaultSearchDirs({ projectRoot: repo?.workTree, townRoot: findTownRoot(cwd) ?? undefined }),
  );
}

/** The cooked proto of a root-only wisp, or null for a materialised molecule. */
export function rootOnlyProto(store: BeadStore, rootId: string, cwd: string): Proto | null {
  const root = store.summary(rootId);
  const info = root ? rootOnlyInfo(root) : null;
  if (!info) return null;
  return cook(formulaLoaderFor(cwd), info.formula, { vars: info.vars, substitute: true });
}

/** A molecule's progress; the steps of a root-only wisp are read from its formula (virtual beads). */
export function progressOf(
  store: BeadStore,
  rootId: string,
  cwd: string,
  g: Graph = store.graph(),
): MoleculeProgress {
  const root = g.byId.get(rootId);
  if (!root) throw new NotFoundError(`no molecule with id "${rootId}"`);
  const info = rootOnlyInfo(root);
  if (!info) return moleculeProgress(g, rootId);
  const proto = cook(formulaLoaderFor(cwd), info.formula, { vars: info.vars, substitute: true });
  return moleculeProgress(buildGraph([...g.byId.values(), ...virtualSteps(root, proto, info.done)]), rootId);
}

// ---- writes (for gt sling / gt hook / gt done, and tests) -----------------------------------

export interface AttachOptions {
  /** The agent's rig prefix, for its agent bead id (rig roles). */
  rigPrefix?: string;
  molecule?: string;
  formula?: string;
  /** Take the bead even when it is hooked to someone else. */
  force?: boolean;
}

/** Put a bead on an agent's hook inside `tx`: status hooked, assignee, agent bead's hook_bead. */
export function attachHook(tx: BeadTx, beadId: string, who: Identity, opts: AttachOptions = {}): Bead {
  const actor = actorOf(who);
  const b = tx.must(beadId);
  if (b.status === 'closed') throw new ConflictError(`${beadId} is closed; reopen it before hooking it`);
  if (b.status === 'hooked' && b.assignee && b.assignee !== actor && !opts.force) {
    throw new ConflictError(`${beadId} is already on ${b.assignee}'s hook; use --force to take it`);
  }
  if (opts.molecule && !tx.exists(opts.molecule))
    throw new NotFoundError(`no molecule with id "${opts.molecule}"`);
  b.status = 'hooked';
  b.assignee = actor;
  b.updated_at = tx.now;
  const meta: Record<string, unknown> = { ...(b.metadata ?? {}) };
  if (opts.molecule) meta.attached_molecule = opts.molecule;
  if (opts.formula) meta.attached_formula = opts.formula;
  meta.attached_at = tx.now;
  b.metadata = meta;
  tx.put(b);
  const agent = ensureAgentBead(tx, who, opts.rigPrefix);
  updateAgentMeta(tx, agent.id, { hook_bead: beadId });
  tx.note(`hook ${beadId} on ${actor}${opts.molecule ? ` (molecule ${opts.molecule})` : ''}`);
  return b;
}

/** Take whatever is on the agent's hook off it: the agent bead's hook_bead is cleared. */
export function clearHook(tx: BeadTx, who: Identity, opts: { rigPrefix?: string } = {}): void {
  const agent = ensureAgentBead(tx, who, opts.rigPrefix);
  if (agentMeta(agent).hook_bead) updateAgentMeta(tx, agent.id, { hook_bead: null });
}
