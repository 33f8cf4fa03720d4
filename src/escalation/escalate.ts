// Escalation lifecycle (spec §4): create (bead first, then the severity's route), list, show,
// ack, close, stale (re-escalate unacknowledged ones past the threshold). The bead is committed
// before any action runs, so a failing action never loses the escalation; the action results
// are recorded as comments in a second commit (a command that reaches the outside world makes
// two commits: what happened, then how the notifications went).
import { addComment, addDependency, closeBead, createBead } from '../beads/ops.ts';
import { BeadStore } from '../beads/store.ts';
import type { Bead } from '../beads/types.ts';
import { ConflictError, NotFoundError, UsageError } from '../errors.ts';
import { loadCodec } from '../ledger/codec.ts';
import { durationMs } from '../town/settings.ts';
import { type ActionResult, runActions } from './actions.ts';
import {
  bumpSeverity,
  ESCALATION_LABEL,
  type EscalationConfig,
  type EscalationView,
  escalationNow,
  isEscalation,
  loadConfig,
  parseSeverity,
  parseSource,
  SEVERITY_PRIORITY,
  type Severity,
  setLabel,
  viewOf,
} from './model.ts';

export interface EscalateInput {
  description: string;
  severity?: string;
  reason?: string;
  related?: string[];
  source?: string;
  dryRun?: boolean;
}

export interface EscalateResult {
  escalation: EscalationView;
  actions: ActionResult[];
  route: string[];
  dry_run: boolean;
}

interface Opts {
  actor?: string;
  env?: NodeJS.ProcessEnv;
}

async function openStore(townRoot: string, opts: Opts): Promise<BeadStore> {
  await loadCodec();
  return BeadStore.open(townRoot, opts.actor ? { actor: opts.actor } : {});
}

function mustEscalation(store: BeadStore, input: string): Bead {
  const id = store.resolve(input);
  const b = store.get(id);
  if (!b || !isEscalation(b)) {
    throw new NotFoundError(
      `${id} is not an escalation (no ${ESCALATION_LABEL} label); \`gt escalate list --all\` shows them`,
    );
  }
  return b;
}

/** Record action results as comments on the escalation (one commit). */
function recordResults(
  store: BeadStore,
  id: string,
  results: ActionResult[],
  what: string,
): Bead | undefined {
  if (results.length === 0) return store.get(id);
  return store.transact(`escalate: ${what} ${id}`, (tx) => {
    const b = tx.must(id);
    for (const r of results) addComment(tx, b, `action ${r.action}: ${r.ok ? 'ok' : 'FAILED'}: ${r.detail}`);
    tx.put(b);
    tx.note(`escalation ${id}: ${results.filter((r) => r.ok).length}/${results.length} actions ok`);
    return b;
  });
}

export async function createEscalation(
  townRoot: string,
  input: EscalateInput,
  opts: Opts = {},
): Promise<EscalateResult> {
  const description = (input.description ?? '').trim();
  if (!description) {
    throw new UsageError('an escalation needs a description: gt escalate "build is red on main" -s high');
  }
  const severity = parseSeverity(input.severity ?? 'medium');
  const config = loadConfig(townRoot);
  const store = await openStore(townRoot, opts);
  try {
    const actor = store.actor();
    const source = input.source ? parseSource(input.source) : `agent:${actor}`;
    // Resolve related beads before writing anything: unknown ones are an error, nothing changes.
    const related = (input.related ?? []).map((r) => store.resolve(r));
    const now = escalationNow(opts.env).toISOString();
    const firstLine = description.split('\n')[0];
    const title = firstLine.length > 200 ? `${firstLine.slice(0, 197)}...` : firstLine;
    const labels = [
      ESCALATION_LABEL,
      `severity:${severity}`,
      `original_severity:${severity}`,
      `source:${source}`,
      'acknowledged:false',
      'reescalated:false',
      'reescalation_count:0',
    ];
    const route = config.routes[severity];
    if (input.dryRun) {
      const preview = viewOf({
        id: '(new)',
        title,
        description,
        status: 'open',
        priority: SEVERITY_PRIORITY[severity],
        issue_type: 'task',
        labels: labels.sort(),
        created_at: now,
        updated_at: now,
        created_by: actor,
        metadata: { reason: input.reason, escalated_at: now },
        dependencies: related.map((r) => ({
          issue_id: '(new)',
          depends_on_id: r,
          type: 'related',
          created_at: now,
        })),
      });
      return { escalation: preview, actions: [], route, dry_run: true };
    }
    const bead = store.transact(`escalate: ${severity}: ${title}`, (tx) => {
      const b = createBead(tx, {
        title,
        description,
        type: 'task',
        priority: SEVERITY_PRIORITY[severity],
        labels,
        metadata: { ...(input.reason ? { reason: input.reason } : {}), escalated_at: now },
      });
      for (const r of related) addDependency(tx, b, r, 'related');
      addComment(
        tx,
        b,
        `escalated (${severity}) by ${actor} from ${source}${input.reason ? `: ${input.reason}` : ''}; route: ${route.join(', ') || '(none)'}`,
      );
      tx.put(b);
      return b;
    });
    const view = viewOf(bead);
    const actions = await runActions(route, view, { townRoot, actor, config, event: 'created' });
    const after = recordResults(store, bead.id, actions, 'routed') ?? bead;
    return { escalation: viewOf(after), actions, route, dry_run: false };
  } finally {
    store.flush();
  }
}

export interface ListOptions extends Opts {
  all?: boolean;
  severity?: string;
}

/** Escalations, most severe first, then oldest first. Open ones unless `all`. */
export async function listEscalations(townRoot: string, o: ListOptions = {}): Promise<EscalationView[]> {
  const sev = o.severity ? parseSeverity(o.severity) : undefined;
  const store = await openStore(townRoot, o);
  try {
    return store
      .summaries()
      .filter(isEscalation)
      .map((s) => viewOf(s))
      .filter((e) => (o.all || e.status !== 'closed') && (!sev || e.severity === sev))
      .sort(
        (a, b) =>
          a.priority - b.priority || (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0),
      );
  } finally {
    store.flush();
  }
}

export async function showEscalation(townRoot: string, id: string, o: Opts = {}): Promise<EscalationView> {
  const store = await openStore(townRoot, o);
  try {
    return viewOf(mustEscalation(store, id));
  } finally {
    store.flush();
  }
}

export async function ackEscalation(townRoot: string, input: string, o: Opts = {}): Promise<EscalationView> {
  const store = await openStore(townRoot, o);
  try {
    const id = mustEscalation(store, input).id;
    const now = escalationNow(o.env).toISOString();
    const b = store.transact(`escalate: ack ${id}`, (tx) => {
      const b = tx.must(id);
      const v = viewOf(b);
      if (b.status === 'closed') throw new ConflictError(`${id} is closed; nothing to acknowledge`);
      if (v.acknowledged)
        throw new ConflictError(
          `${id} was already acknowledged by ${v.acked_by ?? '?'} at ${v.acked_at ?? '?'}`,
        );
      let labels = setLabel(b.labels, 'acknowledged', 'true');
      labels = setLabel(labels, 'acked_by', tx.actor);
      labels = setLabel(labels, 'acked_at', now);
      b.labels = labels;
      addComment(tx, b, `acknowledged by ${tx.actor}; re-escalation stops`);
      tx.put(b);
      tx.note(`ack ${id}`);
      return b;
    });
    return viewOf(b);
  } finally {
    store.flush();
  }
}

export async function closeEscalation(
  townRoot: string,
  input: string,
  reason: string | undefined,
  o: Opts = {},
): Promise<EscalationView> {
  const store = await openStore(townRoot, o);
  try {
    const id = mustEscalation(store, input).id;
    const b = store.transact(`escalate: close ${id}`, (tx) => {
      const b = tx.must(id);
      addComment(tx, b, `closed by ${tx.actor}${reason ? `: ${reason}` : ''}`);
      closeBead(tx, b, { reason: reason ?? 'resolved' });
      return b;
    });
    return viewOf(b);
  } finally {
    store.flush();
  }
}

export interface StaleEntry {
  id: string;
  title: string;
  from: Severity;
  to: Severity;
  age_ms: number;
  reescalation_count: number;
  /** `reescalated`, `would_reescalate` (dry run), or `max_reached` (left alone). */
  outcome: 'reescalated' | 'would_reescalate' | 'max_reached';
  actions: ActionResult[];
}

export interface StaleResult {
  now: string;
  threshold: string;
  max_reescalations: number;
  dry_run: boolean;
  checked: number;
  entries: StaleEntry[];
}

/** Unacknowledged open escalations whose last escalation is older than the threshold. */
function staleCandidates(views: EscalationView[], now: Date, config: EscalationConfig) {
  const threshold = durationMs(config.stale_threshold, 'stale_threshold');
  return views
    .filter((e) => e.status !== 'closed' && !e.acknowledged)
    .map((e) => ({ e, age: now.getTime() - Date.parse(e.escalated_at) }))
    .filter((x) => x.age >= threshold);
}

export async function staleEscalations(
  townRoot: string,
  o: Opts & { dryRun?: boolean } = {},
): Promise<StaleResult> {
  const config = loadConfig(townRoot);
  const now = escalationNow(o.env);
  const store = await openStore(townRoot, o);
  try {
    const open = store
      .summaries()
      .filter(isEscalation)
      .map((s) => viewOf(s));
    const candidates = staleCandidates(open, now, config);
    const entries: StaleEntry[] = [];
    const bump: { id: string; to: Severity }[] = [];
    for (const { e, age } of candidates) {
      const atMax = e.reescalation_count >= config.max_reescalations;
      const to = atMax ? e.severity : bumpSeverity(e.severity);
      entries.push({
        id: e.id,
        title: e.title,
        from: e.severity,
        to,
        age_ms: age,
        reescalation_count: atMax ? e.reescalation_count : e.reescalation_count + 1,
        outcome: atMax ? 'max_reached' : o.dryRun ? 'would_reescalate' : 'reescalated',
        actions: [],
      });
      if (!atMax) bump.push({ id: e.id, to });
    }
    const result: StaleResult = {
      now: now.toISOString(),
      threshold: config.stale_threshold,
      max_reescalations: config.max_reescalations,
      dry_run: !!o.dryRun,
      checked: open.filter((e) => e.status !== 'closed').length,
      entries,
    };
    if (o.dryRun || bump.length === 0) return result;
    const stamp = now.toISOString();
    const bumped = store.transact(`escalate: stale: re-escalate ${bump.length}`, (tx) =>
      bump.map(({ id, to }) => {
        const b = tx.must(id);
        const v = viewOf(b);
        const count = v.reescalation_count + 1;
        let labels = setLabel(b.labels, 'severity', to);
        labels = setLabel(labels, 'original_severity', v.original_severity);
        labels = setLabel(labels, 'reescalated', 'true');
        labels = setLabel(labels, 'reescalation_count', String(count));
        b.labels = labels;
        b.priority = SEVERITY_PRIORITY[to];
        b.metadata = { ...(b.metadata ?? {}), escalated_at: stamp };
        addComment(
          tx,
          b,
          `re-escalated ${v.severity} → ${to} (${count}/${config.max_reescalations}): unacknowledged for longer than ${config.stale_threshold}; route: ${config.routes[to].join(', ') || '(none)'}`,
        );
        tx.put(b);
        tx.note(`re-escalate ${id}: ${v.severity} -> ${to}`);
        return b;
      }),
    );
    const actor = store.actor();
    for (const b of bumped) {
      const view = viewOf(b);
      const actions = await runActions(config.routes[view.severity], view, {
        townRoot,
        actor,
        config,
        event: 'reescalated',
      });
      recordResults(store, b.id, actions, 're-routed');
      entries.find((x) => x.id === b.id)!.actions = actions;
    }
    return result;
  } finally {
    store.flush();
  }
}
