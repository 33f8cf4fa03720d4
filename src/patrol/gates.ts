// The deacon's gate work (spec §5.3 gate-evaluation, fire-notifications), run by the daemon:
// close every machine-checkable gate whose condition is met (timer elapsed, awaited bead
// closed), then tell each closed gate's waiters, once. "Once" is recorded on the gate
// (metadata.waiters_notified), so a crash between the mail and the mark re-sends at most one
// mail, and a gate resolved by hand (`bd gate resolve`) is announced too.
import { BeadStore } from '../beads/store.ts';
import { checkGates } from '../formula/gates.ts';
import { loadCodec } from '../ledger/codec.ts';
import { sendMail } from '../mail/send.ts';

export interface GatePatrolResult {
  checked: number;
  resolved: string[];
  notified: { gate: string; to: string[] }[];
  errors: string[];
}

export async function gatePatrol(
  townRoot: string,
  opts: { actor?: string; from?: string } = {},
): Promise<GatePatrolResult> {
  await loadCodec();
  const actor = opts.actor ?? 'deacon';
  const store = BeadStore.open(townRoot, { actor });
  const out: GatePatrolResult = { checked: 0, resolved: [], notified: [], errors: [] };
  try {
    const statuses = checkGates(store);
    out.checked = statuses.length;
    out.resolved = statuses.filter((s) => s.state === 'resolved').map((s) => s.id);
    const due = store
      .summaries()
      .filter((s) => s.issue_type === 'gate' && s.status === 'closed')
      .map((s) => store.get(s.id)!)
      .filter(
        (g) => g?.waiters?.length && !(g.metadata as Record<string, unknown> | undefined)?.waiters_notified,
      );
    for (const g of due) {
      const blocks = (store.graph().dependents.get(g.id) ?? []).filter((d) =>
        store.summary(d)?.dependencies?.some((e) => e.depends_on_id === g.id && e.type === 'blocks'),
      );
      let error: string | null = null;
      try {
        await sendMail(
          townRoot,
          {
            from: opts.from ?? 'deacon/',
            to: g.waiters!,
            subject: `🚦 Gate resolved: ${g.title} (${g.id})`,
            body: [
              `${g.id} (${g.await_type ?? 'gate'}${g.await_id ? ` ${g.await_id}` : ''}) is resolved: ${g.close_reason ?? 'closed'}.`,
              blocks.length ? `No longer held back by it: ${blocks.join(', ')}.` : '',
            ]
              .filter(Boolean)
              .join('\n'),
            type: 'notification',
          },
          { actor },
        );
        out.notified.push({ gate: g.id, to: g.waiters! });
      } catch (e) {
        error = (e as Error).message;
        out.errors.push(`${g.id}: ${error}`);
      }
      // Marked either way: an address that cannot be reached now will not be reached by retrying
      // every tick; the error stays on the gate for people to see.
      store.transact(`gate ${g.id}: waiters ${error ? 'not reached' : 'notified'}`, (tx) => {
        const b = tx.must(g.id);
        b.metadata = {
          ...(b.metadata ?? {}),
          waiters_notified: tx.now,
          ...(error ? { waiters_error: error } : {}),
        };
        b.updated_at = tx.now;
        tx.put(b);
      });
    }
  } finally {
    store.flush();
  }
  return out;
}
