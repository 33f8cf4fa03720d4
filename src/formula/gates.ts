// Gate beads (spec §6.9): async conditions that block a step until they are met. timer and
// bead gates resolve themselves on `check`; human (and mail) gates need `resolve`; gh:run /
// gh:pr are parsed and reported as needing network access.

import { addDependency, closeBead, gateUnsatisfied } from '../beads/ops.ts';
import type { BeadStore } from '../beads/store.ts';
import type { Bead } from '../beads/types.ts';
import { GtError, UsageError } from '../errors.ts';
import { parseGoDuration } from './cook.ts';

export const GATE_TYPES = ['human', 'timer', 'bead', 'mail', 'gh:run', 'gh:pr'];

export interface GateCreate {
  blocks?: string;
  type: string;
  awaitId?: string;
  timeout?: string;
  reason?: string;
  title?: string;
  waiters?: string[];
}

export function createGate(store: BeadStore, input: GateCreate): Bead {
  if (!GATE_TYPES.includes(input.type)) {
    throw new UsageError(`unknown gate type "${input.type}": use ${GATE_TYPES.join(', ')}`);
  }
  const timeout = parseGoDuration(input.timeout);
  if (input.type === 'timer' && !timeout) {
    throw new UsageError('a timer gate needs --timeout, e.g. --timeout 30m or 2h');
  }
  if (input.timeout && !timeout)
    throw new UsageError(`--timeout "${input.timeout}" is not a duration like 30m, 2h or 1h30m`);
  if (input.type === 'bead' && !input.awaitId) throw new UsageError('a bead gate needs --await-id <bead id>');
  if ((input.type === 'gh:run' || input.type === 'gh:pr') && !input.awaitId) {
    throw new UsageError(`a ${input.type} gate needs --await-id (a run id or workflow name, or a PR number)`);
  }
  return store.transact(`gate create (${input.type})`, (tx) => {
    if (input.type === 'bead' && !tx.exists(input.awaitId!)) {
      throw new GtError(`bead gate waits for ${input.awaitId}, which does not exist`);
    }
    const title = input.title ?? `Gate: ${input.type}${input.awaitId ? ` ${input.awaitId}` : ''}`;
    const gate: Bead = {
      id: tx.newId({ title, description: input.reason }),
      title,
      description: input.reason,
      status: 'open',
      priority: 2,
      issue_type: 'gate',
      created_at: tx.now,
      created_by: tx.actor,
      updated_at: tx.now,
      await_type: input.type,
      await_id: input.awaitId,
      timeout: timeout || undefined,
      waiters: input.waiters?.length ? input.waiters : undefined,
      dependencies: [],
    };
    tx.put(gate);
    if (input.blocks) {
      const blocked = tx.must(input.blocks);
      addDependency(tx, blocked, gate.id, 'blocks', { allowCrossEpic: true });
      tx.put(blocked);
    }
    tx.note(`gate ${gate.id} (${input.type})${input.blocks ? ` blocks ${input.blocks}` : ''}`);
    return gate;
  });
}

export type GateState = 'resolved' | 'waiting' | 'needs-network' | 'manual' | 'closed';

export interface GateStatus {
  id: string;
  title: string;
  await_type: string;
  await_id?: string;
  state: GateState;
  detail: string;
  blocks: string[];
}

export function gateStatus(store: BeadStore, gate: Bead): GateStatus {
  const g = store.graph();
  const blocks = (g.dependents.get(gate.id) ?? []).filter((d) =>
    g.byId.get(d)?.dependencies?.some((e) => e.depends_on_id === gate.id && e.type === 'blocks'),
  );
  const base = {
    id: gate.id,
    title: gate.title,
    await_type: gate.await_type ?? '',
    await_id: gate.await_id,
    blocks,
  };
  if (gate.status === 'closed') return { ...base, state: 'closed', detail: gate.close_reason ?? 'closed' };
  const type = gate.await_type ?? '';
  if (type === 'gh:run' || type === 'gh:pr') {
    return {
      ...base,
      state: 'needs-network',
      detail: `${type} ${gate.await_id ?? ''} needs network access (GitHub) to check`,
    };
  }
  if (type !== 'timer' && type !== 'bead') {
    return { ...base, state: 'manual', detail: `resolve it by hand: bd gate resolve ${gate.id}` };
  }
  const unmet = gateUnsatisfied((id) => store.get(id), gate);
  return unmet
    ? { ...base, state: 'waiting', detail: unmet }
    : { ...base, state: 'resolved', detail: 'condition met' };
}

/** Close every open machine-checkable gate whose condition is met; one commit for all. */
export function checkGates(store: BeadStore): GateStatus[] {
  const gates = store.summaries().filter((s) => s.issue_type === 'gate' && s.status !== 'closed');
  const statuses = store.getMany(gates.map((g) => g.id)).map((g) => gateStatus(store, g));
  const toClose = statuses.filter((s) => s.state === 'resolved');
  if (toClose.length) {
    store.transact(`gate check: ${toClose.length} resolved`, (tx) => {
      for (const s of toClose) closeBead(tx, tx.must(s.id), { reason: `gate resolved: ${s.detail}` });
    });
  }
  return statuses;
}

export function resolveGate(store: BeadStore, id: string, reason?: string): Bead {
  return store.transact(`gate resolve ${id}`, (tx) => {
    const g = tx.must(id);
    if (g.issue_type !== 'gate') throw new GtError(`${id} is a ${g.issue_type}, not a gate`);
    closeBead(tx, g, { reason: reason ?? 'resolved by hand', force: true });
    return g;
  });
}
