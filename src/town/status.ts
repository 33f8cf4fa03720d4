// `gt status`: the town at a glance, from one read of the ledger and one tmux listing (the
// original spawns dozens of `bd` processes for this).
import fs from 'node:fs';
import { buildGraph, computeBlocked, readyWork } from '../beads/graph.ts';
import { BeadStore } from '../beads/store.ts';
import { moleculeProgress } from '../formula/molecule.ts';
import { loadCodec } from '../ledger/codec.ts';
import { daemonStatus } from '../patrol/daemon.ts';
import { heartbeatFile, listAgentSessions, type SessionStatus } from '../runtime/sessions.ts';
import { mrsBySource, trackedState } from '../work/convoy.ts';
import { attachedMolecule } from '../work/hook.ts';
import { agentMeta } from './agents.ts';
import { readJson, readRigs, type TownJson } from './files.ts';
import { type Identity, sessionNameOf } from './identity.ts';
import { rigPaths, townPaths } from './paths.ts';
import { isParked, subdirs } from './rigs.ts';

export interface AgentRow {
  bead: string;
  actor: string;
  role: string;
  rig?: string;
  name?: string;
  agent_state: string;
  hook_bead: string | null;
  session: string | null;
  /** alive | dead | zombie, or unknown when tmux could not be asked. */
  session_state: string;
  heartbeat_age_s: number | null;
}

export interface TownStatus {
  town: { name: string; root: string; owner: string };
  rigs: {
    name: string;
    prefix: string;
    default_branch?: string;
    parked: boolean;
    docked: boolean;
    polecats: string[];
    /** Open merge requests waiting for this rig's refinery. */
    merge_queue: number;
  }[];
  /** The patrol daemon (gt daemon). */
  daemon: { running: boolean; pid: number | null; last_tick: string | null };
  agents: AgentRow[];
  hooks: {
    bead: string;
    title: string;
    assignee: string;
    molecule: string | null;
    progress: string | null;
  }[];
  convoys: { id: string; title: string; tracked: number; done: number }[];
  counts: {
    open: number;
    in_progress: number;
    hooked: number;
    blocked: number;
    ready: number;
    closed: number;
  };
  warnings: string[];
}

function heartbeatAge(townRoot: string, session: string | null, now: number): number | null {
  if (!session) return null;
  try {
    const hb = JSON.parse(fs.readFileSync(heartbeatFile(townRoot, session), 'utf8'));
    const t = Date.parse(hb.time ?? hb.timestamp ?? hb.at ?? '');
    return Number.isNaN(t) ? null : Math.max(0, Math.round((now - t) / 1000));
  } catch {
    return null;
  }
}

export async function townStatus(
  townRoot: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<TownStatus> {
  await loadCodec();
  const warnings: string[] = [];
  const town = readJson<TownJson>(townPaths(townRoot).townJson, 'mayor/town.json');
  const store = BeadStore.open(townRoot);
  const all = store.summaries();
  const g = buildGraph(all);
  const blocked = computeBlocked(g);
  const rigs = readRigs(townRoot);
  const prefixOf = (rig?: string) => (rig ? rigs[rig]?.beads?.prefix : undefined);
  let sessions: Map<string, SessionStatus> | null = null;
  try {
    sessions = new Map(listAgentSessions(townRoot, env).map((s) => [s.session, s]));
  } catch (e: any) {
    warnings.push(`sessions unknown: ${String(e.message).split('\n')[0]}`);
  }
  const now = Date.now();
  const agents: AgentRow[] = [];
  for (const b of all) {
    if (b.issue_type !== 'agent' || b.status === 'closed') continue;
    const m = agentMeta(b);
    if (!m.role) continue;
    const id: Identity = {
      role: m.role,
      ...(m.rig ? { rig: m.rig } : {}),
      ...(m.name ? { name: m.name } : {}),
    };
    let session: string | null = null;
    try {
      session = sessionNameOf(id, prefixOf(m.rig));
    } catch {
      session = null;
    }
    const s = session ? sessions?.get(session) : undefined;
    agents.push({
      bead: b.id,
      actor: m.actor ?? b.title,
      role: m.role,
      ...(m.rig ? { rig: m.rig } : {}),
      ...(m.name ? { name: m.name } : {}),
      agent_state: m.agent_state ?? 'idle',
      hook_bead: m.hook_bead ?? null,
      session,
      session_state: sessions ? (s?.state ?? 'dead') : 'unknown',
      heartbeat_age_s: heartbeatAge(townRoot, session, now),
    });
  }
  agents.sort((a, b) => (a.actor < b.actor ? -1 : 1));
  const hooks = all
    .filter((b) => b.status === 'hooked')
    .map((b) => {
      const mol = attachedMolecule(g, b) ?? null;
      let progress: string | null = null;
      if (mol && g.byId.has(mol)) {
        const p = moleculeProgress(g, mol);
        progress = p.total ? `${p.completed}/${p.total}` : null;
      }
      return { bead: b.id, title: b.title, assignee: b.assignee ?? '', molecule: mol, progress };
    });
  // The convoys' landing rule: a tracked bead is done when closed and its work merged.
  const mrs = mrsBySource(all);
  const convoys = all
    .filter((b) => b.issue_type === 'convoy' && b.status !== 'closed')
    .map((c) => {
      const tracked = (c.dependencies ?? []).filter((d) => d.type === 'tracks').map((d) => d.depends_on_id);
      return {
        id: c.id,
        title: c.title,
        tracked: tracked.length,
        done: tracked.filter((id) => trackedState(g.byId.get(id), mrs.get(id) ?? [], blocked).done).length,
      };
    });
  const work = all.filter(
    (b) => !['agent', 'message', 'molecule', 'gate', 'rig', 'role', 'convoy'].includes(b.issue_type),
  );
  const count = (st: string) => work.filter((b) => b.status === st).length;
  return {
    town: { name: town.name, root: townRoot, owner: town.owner },
    rigs: Object.entries(rigs)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([name, e]) => ({
        name,
        prefix: e.beads?.prefix ?? '',
        ...(e.default_branch ? { default_branch: e.default_branch } : {}),
        parked: isParked(townRoot, name),
        docked: !!g.byId.get(`${e.beads?.prefix}-rig-${name}`)?.labels?.includes('status:docked'),
        polecats: subdirs(rigPaths(townRoot, name).polecatsDir),
        merge_queue: all.filter(
          (b) =>
            b.issue_type === 'merge-request' &&
            b.status !== 'closed' &&
            (b.metadata as Record<string, unknown> | undefined)?.rig === name,
        ).length,
      })),
    daemon: (({ running, pid, last_tick }) => ({ running, pid, last_tick }))(daemonStatus(townRoot)),
    agents,
    hooks,
    convoys,
    counts: {
      open: count('open'),
      in_progress: count('in_progress'),
      hooked: count('hooked'),
      blocked: work.filter((b) => blocked.has(b.id)).length,
      ready: readyWork(g, blocked).length,
      closed: count('closed'),
    },
    warnings,
  };
}
