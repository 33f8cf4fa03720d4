// Agent beads: one per agent (mayor, deacon, witnesses, refineries, polecats, crew) in the town
// ledger, holding its state (agent_state, hook_bead, session) in metadata.
import type { BeadTx } from '../beads/store.ts';
import type { Bead } from '../beads/types.ts';
import { actorOf, agentBeadIdOf, type Identity } from './identity.ts';

export type AgentState = 'spawning' | 'working' | 'idle' | 'stuck' | 'done' | 'stopped';

export interface AgentMeta {
  role: Identity['role'];
  rig?: string;
  name?: string;
  actor: string;
  agent_state: AgentState;
  hook_bead: string | null;
  [k: string]: unknown;
}

export function agentMeta(b: Pick<Bead, 'metadata'>): AgentMeta {
  return (b.metadata ?? {}) as unknown as AgentMeta;
}

/** Create the agent's bead if missing (idempotent); returns it. */
export function ensureAgentBead(tx: BeadTx, id: Identity, rigPrefix?: string): Bead {
  const beadId = agentBeadIdOf(id, rigPrefix);
  const existing = tx.get(beadId);
  if (existing) return existing;
  const actor = actorOf(id);
  const bead: Bead = {
    id: beadId,
    title: actor,
    description: `Agent bead for ${actor}: its state, its hook and its session.`,
    status: 'open',
    priority: 2,
    issue_type: 'agent',
    created_at: tx.now,
    created_by: tx.actor,
    updated_at: tx.now,
    labels: ['gt:agent', `role:${id.role}`, ...(id.rig ? [`rig:${id.rig}`] : [])],
    metadata: {
      role: id.role,
      ...(id.rig ? { rig: id.rig } : {}),
      ...(id.name ? { name: id.name } : {}),
      actor,
      agent_state: 'idle',
      hook_bead: null,
    },
    dependencies: [],
  };
  tx.put(bead);
  tx.note(`agent ${beadId} (${actor})`);
  return bead;
}

/** Merge fields into an agent bead's metadata. */
export function updateAgentMeta(tx: BeadTx, beadId: string, patch: Partial<AgentMeta>): Bead {
  const b = tx.must(beadId);
  b.metadata = { ...(b.metadata ?? {}), ...patch };
  b.updated_at = tx.now;
  tx.put(b);
  return b;
}
