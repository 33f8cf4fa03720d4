// Delivery notification (spec §3.4): after the durable write, tell each recipient's live session
// that mail arrived. The nudge machinery (idle detection, queueing when busy, muted/DND) belongs
// to src/nudge/; this is the single call site mail uses. Failures never fail a send.
import type { Identity } from '../town/identity.ts';
import { parseIdentity } from '../town/identity.ts';

export interface NotifyInput {
  from: string;
  subject: string;
  /** Canonical agent addresses (queues and channels are not notified). */
  recipients: string[];
}

export interface NotifyOutcome {
  to: string;
  delivered: 'immediate' | 'queued' | 'skipped';
  reason?: string;
}

export function notificationText(from: string, subject: string): string {
  return `📬 New mail from ${from}: ${subject} (gt mail inbox)`;
}

/**
 * The nudge sender. INTEGRATION POINT: src/nudge/nudge.ts (`nudgeAgent`) was not in the tree
 * when mail was written; until it is wired here, notification is skipped with a reason.
 */
type Nudger = (
  townRoot: string,
  target: Identity,
  input: { sender: string; message: string; mode?: 'wait-idle' | 'queue' | 'immediate'; kind?: string },
) => Promise<{ delivered: 'immediate' | 'queued' | 'skipped'; reason?: string }>;

let nudger: Nudger | null = null;

/** Tests and the nudge module can install the sender. */
export function setNudger(fn: Nudger | null): void {
  nudger = fn;
}

export async function notifyRecipients(townRoot: string, input: NotifyInput): Promise<NotifyOutcome[]> {
  const out: NotifyOutcome[] = [];
  const message = notificationText(input.from, input.subject);
  for (const to of input.recipients) {
    if (to === input.from) continue;
    try {
      const target = parseIdentity(to);
      if (!nudger) {
        out.push({ to, delivered: 'skipped', reason: 'nudge module not available' });
        continue;
      }
      const r = await nudger(townRoot, target, {
        sender: input.from,
        message,
        mode: 'wait-idle',
        kind: 'mail',
      });
      out.push({ to, ...r });
    } catch (e: any) {
      out.push({ to, delivered: 'skipped', reason: e?.message ?? String(e) });
    }
  }
  return out;
}
