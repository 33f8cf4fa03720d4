// The `gt mq` operations (spec §1.7) over the queue of src/refinery/queue.ts: list, status,
// next, retry, reject, submit. Each returns data; src/cli/gt/mq.ts renders it.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { addComment, closeBead, setStatus } from '../beads/ops.ts';
import { BeadStore } from '../beads/store.ts';
import type { Bead } from '../beads/types.ts';
import { ConflictError, NotFoundError, UsageError } from '../errors.ts';
import { loadCodec } from '../ledger/codec.ts';
import { actorOf, agentBeadIdOf, detectIdentity, parseIdentity } from '../town/identity.ts';
import { getRig, rigNames } from '../town/rigs.ts';
import { issueFromBranch } from '../work/done.ts';
import { createOrReuseMR } from '../work/mr.ts';
import { branchHead } from './merge.ts';
import { listQueue, mustMR, type QueueEntry, releaseInTx, staleClaimMs } from './queue.ts';

export interface MqOpts {
  env?: NodeJS.ProcessEnv;
  now?: number;
  actor?: string;
}

async function openStore(townRoot: string, o: MqOpts): Promise<BeadStore> {
  await loadCodec();
  return BeadStore.open(townRoot, o.actor ? { actor: o.actor } : {});
}

function queueOf(store: BeadStore, townRoot: string, rig: string, o: MqOpts): QueueEntry[] {
  const r = getRig(townRoot, rig);
  return listQueue(store, rig, {
    now: o.now,
    staleMs: staleClaimMs(townRoot, rig, o.env),
    repoGit: r.paths.repoGit,
  });
}

/** The queue of one rig (or of every rig), score-ordered, ready ones first. */
export async function mqList(
  townRoot: string,
  o: MqOpts & { rig?: string; ready?: boolean } = {},
): Promise<QueueEntry[]> {
  const rigs = o.rig ? [getRig(townRoot, o.rig).name] : rigNames(townRoot);
  const store = await openStore(townRoot, o);
  const out: QueueEntry[] = [];
  for (const r of rigs) out.push(...queueOf(store, townRoot, r, o));
  const sorted = out.sort((a, b) =>
    a.ready === b.ready ? b.score - a.score || a.mrCreatedMs - b.mrCreatedMs : a.ready ? -1 : 1,
  );
  return o.ready ? sorted.filter((e) => e.ready) : sorted;
}

export interface MqStatus {
  mr: Bead;
  entry: QueueEntry | null;
}

export async function mqStatus(townRoot: string, input: string, o: MqOpts = {}): Promise<MqStatus> {
  const store = await openStore(townRoot, o);
  const mr = mustMR(store, input);
  const rig = String(mr.metadata?.rig ?? '');
  let entry: QueueEntry | null = null;
  if (mr.status !== 'closed' && rig && rigNames(townRoot).includes(rig))
    entry = queueOf(store, townRoot, rig, o).find((e) => e.id === mr.id) ?? null;
  return { mr, entry };
}

/** Clear an MR's failure mark (and a missing-branch flag, and a stale claim): it is ready again. */
export async function mqRetry(townRoot: string, input: string, o: MqOpts = {}): Promise<Bead> {
  const store = await openStore(townRoot, o);
  try {
    const id = mustMR(store, input).id;
    return store.transact(`mq: retry ${id}`, (tx) => {
      const b = tx.must(id);
      if (b.status === 'closed')
        throw new ConflictError(
          `${id} is closed (${b.close_reason ?? 'closed'}); file a new one with gt done or gt mq submit`,
        );
      const m = { ...(b.metadata ?? {}) } as Record<string, unknown>;
      for (const k of ['failed_sha', 'branch_missing']) delete m[k];
      b.metadata = m;
      releaseInTx(tx, b);
      addComment(tx, b, `retry requested by ${tx.actor}`);
      tx.put(b);
      tx.note(`retry ${id}`);
      return b;
    });
  } finally {
    store.flush();
  }
}

/** Close an MR as rejected; its source loses active_mr; the worker is nudged. */
export async function mqReject(
  townRoot: string,
  input: string,
  o: MqOpts & { reason?: string } = {},
): Promise<{ mr: Bead; notified: string }> {
  const store = await openStore(townRoot, o);
  let mr: Bead;
  try {
    const id = mustMR(store, input).id;
    mr = store.transact(`mq: reject ${id}`, (tx) => {
      const b = tx.must(id);
      if (b.status === 'closed')
        throw new ConflictError(`${id} is already closed (${b.close_reason ?? 'closed'})`);
      const m = (b.metadata ?? {}) as Record<string, unknown>;
      addComment(tx, b, `rejected by ${tx.actor}${o.reason ? `: ${o.reason}` : ''}`);
      closeBead(tx, b, { reason: `rejected${o.reason ? `: ${o.reason}` : ''}`, force: true });
      const src = typeof m.source_issue === 'string' ? tx.get(m.source_issue) : undefined;
      if (src && (src.metadata as Record<string, unknown> | undefined)?.active_mr === id) {
        src.metadata = { ...(src.metadata ?? {}), active_mr: null };
        if (src.status !== 'closed') setStatus(tx, src, 'open');
        addComment(tx, src, `merge request ${id} rejected${o.reason ? `: ${o.reason}` : ''}`);
        tx.put(src);
      }
      return b;
    });
  } finally {
    store.flush();
  }
  const m = (mr.metadata ?? {}) as Record<string, unknown>;
  let notified = 'no polecat to tell';
  try {
    const w = parseIdentity(String(m.worker ?? ''));
    if (w.role === 'polecat') {
      const { nudgeAgent } = await import('../nudge/nudge.ts');
      const r = await nudgeAgent(
        townRoot,
        w,
        {
          sender: o.actor ?? 'overseer',
          message: `MERGE_FAILED: branch=${String(m.branch)} issue=${String(m.source_issue)} type=rejected error=${o.reason ?? 'rejected'} — merge request ${mr.id} was rejected`,
          mode: 'immediate',
          kind: 'protocol',
        },
        { env: o.env, settleTimeoutMs: 3000 },
      );
      notified = `${actorOf(w)}: ${r.delivered}`;
    }
  } catch (e) {
    notified = `not notified: ${(e as Error).message}`;
  }
  return { mr, notified };
}

export interface SubmitResult {
  mr: string;
  reused: boolean;
  superseded: string[];
  branch: string;
  issue: string;
  target: string;
  commit_sha: string;
}

function gitOut(cwd: string, args: string[]): string | null {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : null;
}

/** `gt mq submit`: file (or reuse) the MR for a branch already in the rig's `.repo.git`. */
export async function mqSubmit(
  townRoot: string,
  o: MqOpts & { cwd: string; rig: string; branch?: string; issue?: string; target?: string },
): Promise<SubmitResult> {
  const env = o.env ?? process.env;
  const rig = getRig(townRoot, o.rig);
  const branch = o.branch ?? gitOut(o.cwd, ['symbolic-ref', '--quiet', '--short', 'HEAD']);
  if (!branch) throw new UsageError(`${o.cwd} is not on a branch; pass --branch NAME`);
  const target = o.target ?? rig.default_branch;
  if (branch === target || branch === rig.default_branch)
    throw new ConflictError(`cannot submit ${branch}: it is the target; commit on a feature branch`);
  const sha = branchHead(rig.paths.repoGit, branch);
  if (!sha)
    throw new NotFoundError(
      `branch ${branch} is not in ${rig.name}/.repo.git; push it there first (gt done does that for polecats)`,
    );
  if (!branchHead(rig.paths.repoGit, target))
    throw new NotFoundError(`the rig's repository has no branch "${target}"; pass an existing --target`);
  if (
    gitOut(rig.paths.repoGit, ['rev-list', '--count', `refs/heads/${target}..refs/heads/${branch}`]) === '0'
  )
    throw new ConflictError(`${branch} has no commits ahead of ${target}; nothing to merge`);
  const me = detectIdentity(townRoot, o.cwd, env);
  const worker = o.actor ?? (me.role === 'overseer' ? env.BD_ACTOR || 'overseer' : actorOf(me));
  const store = await openStore(townRoot, { ...o, actor: worker });
  try {
    const issueIn = o.issue ?? issueFromBranch(branch);
    if (!issueIn)
      throw new UsageError(
        `branch ${branch} names no issue (polecat/<name>/<bead>@<stamp>); pass --issue ID`,
      );
    const issue = store.resolve(issueIn);
    const work = store.get(issue)!;
    if (work.status === 'closed')
      throw new ConflictError(`${issue} is closed; reopen it before submitting work for it`);
    const agentBead = me.role === 'polecat' ? agentBeadIdOf(me, rig.prefix) : null;
    return store.transact(`mq: submit ${branch} for ${issue}`, (tx) => {
      const r = createOrReuseMR(tx, {
        issue,
        branch,
        target,
        rig: rig.name,
        prefix: rig.prefix,
        commitSha: sha,
        worker,
        agentBead: agentBead && fs.existsSync(townRoot) && tx.exists(agentBead) ? agentBead : null,
        priority: work.priority,
      });
      const w = tx.must(issue);
      w.metadata = { ...(w.metadata ?? {}), active_mr: r.mr.id };
      if (w.status === 'open') setStatus(tx, w, 'in_progress');
      tx.put(w);
      return {
        mr: r.mr.id,
        reused: r.reused,
        superseded: r.superseded,
        branch,
        issue,
        target,
        commit_sha: sha,
      };
    });
  } finally {
    store.flush();
  }
}
