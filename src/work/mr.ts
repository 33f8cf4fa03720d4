// Merge-request beads (spec §2.9 step 7, §2.11): what `gt done` files and the refinery works.
//
// An MR bead: type `merge-request`, title `Merge: <issue>`, label `gt:merge-request`, the source
// issue's priority, the rig's prefix, and metadata {branch, target, source_issue, rig,
// commit_sha, worker, agent_bead, retry_count: 0, last_conflict_sha: null, conflict_task_id:
// null}. It is a durable ledger bead (not ephemeral as in the original): convoys read it to
// decide landing, so it must sync with the ledger.
// - Idempotent on branch + commit: an open (or merged) MR for the same branch at the same
//   commit is reused, never duplicated.
// - Superseding: other open MRs for the same issue are closed with reason `superseded by <id>`.

import { addComment, closeBead, createBead } from '../beads/ops.ts';
import type { BeadStore, BeadTx } from '../beads/store.ts';
import type { Bead } from '../beads/types.ts';
import { UsageError } from '../errors.ts';

export const MR_LABEL = 'gt:merge-request';
export const MR_TYPE = 'merge-request';

export interface MRMeta {
  branch: string;
  target: string;
  source_issue: string;
  rig: string;
  commit_sha: string;
  worker: string;
  agent_bead: string | null;
  retry_count: number;
  last_conflict_sha?: string | null;
  conflict_task_id?: string | null;
  [k: string]: unknown;
}

export interface MRInput {
  issue: string;
  branch: string;
  target: string;
  rig: string;
  /** The rig's bead prefix: MR ids are `<prefix>-...`. */
  prefix: string;
  commitSha: string;
  worker: string;
  agentBead?: string | null;
  priority?: number;
}

export interface MRResult {
  mr: Bead;
  reused: boolean;
  superseded: string[];
}

function isMR(b: { issue_type?: string; labels?: string[] }): boolean {
  return b.issue_type === MR_TYPE || (b.labels ?? []).includes(MR_LABEL);
}

export function mrMeta(b: Pick<Bead, 'metadata'>): Partial<MRMeta> {
  return (b.metadata ?? {}) as Partial<MRMeta>;
}

/** Open merge requests whose source is `issue`, oldest first. */
export function findOpenMRs(store: BeadStore, issue: string): Bead[] {
  const out: Bead[] = [];
  for (const s of store.graph().byId.values()) {
    if (!isMR(s) || s.status === 'closed') continue;
    if ((s.metadata as Record<string, unknown> | undefined)?.source_issue !== issue) continue;
    const b = store.get(s.id);
    if (b) out.push(b);
  }
  return out.sort((a, b) => a.created_at.localeCompare(b.created_at) || a.id.localeCompare(b.id));
}

const SHA = /^[0-9a-f]{40}([0-9a-f]{24})?$/;

/**
 * File the MR for `input` inside `tx`, or reuse the one already filed for the same branch and
 * commit; older open MRs for the same issue are closed as superseded.
 */
export function createOrReuseMR(tx: BeadTx, input: MRInput): MRResult {
  if (!SHA.test(input.commitSha)) throw new UsageError(`invalid commit sha "${input.commitSha}"`);
  if (!input.branch || !input.target) throw new UsageError('a merge request needs a branch and a target');
  tx.must(input.issue);
  const same: Bead[] = [];
  const others: Bead[] = [];
  for (const s of tx.summaries()) {
    if (!isMR(s)) continue;
    const m = (s.metadata ?? {}) as Record<string, unknown>;
    if (m.source_issue !== input.issue && m.branch !== input.branch) continue;
    const b = tx.must(s.id);
    const bm = mrMeta(b);
    if (bm.branch === input.branch && bm.commit_sha === input.commitSha && bm.target === input.target) {
      if (b.status !== 'closed' || b.close_reason === 'merged') same.push(b);
    } else if (b.status !== 'closed' && bm.source_issue === input.issue) others.push(b);
  }
  let mr: Bead;
  let reused = false;
  if (same.length > 0) {
    mr = same[0];
    reused = true;
  } else {
    const title = `Merge: ${input.issue}`;
    const meta: MRMeta = {
      branch: input.branch,
      target: input.target,
      source_issue: input.issue,
      rig: input.rig,
      commit_sha: input.commitSha,
      worker: input.worker,
      agent_bead: input.agentBead ?? null,
      retry_count: 0,
      last_conflict_sha: null,
      conflict_task_id: null,
    };
    mr = createBead(tx, {
      id: tx.newId({ title, prefix: input.prefix }),
      force: true,
      title,
      description: `Merge ${input.branch} into ${input.target} (${input.issue}, by ${input.worker}).`,
      type: MR_TYPE,
      priority: input.priority ?? 2,
      labels: [MR_LABEL],
      metadata: meta as Record<string, unknown>,
    });
    tx.note(`merge request ${mr.id}: ${input.branch} → ${input.target} @ ${input.commitSha.slice(0, 12)}`);
  }
  const superseded: string[] = [];
  for (const o of others) {
    if (o.id === mr.id) continue;
    addComment(tx, o, `superseded by ${mr.id} (${input.branch} @ ${input.commitSha.slice(0, 12)})`);
    closeBead(tx, o, { reason: `superseded by ${mr.id}`, force: true });
    superseded.push(o.id);
  }
  return { mr, reused, superseded };
}
