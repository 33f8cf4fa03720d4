// Delivery notification (spec §3.4): after the durable write, tell each recipient's live session
// that mail arrived. The nudge machinery (idle detection, queueing when busy, muted/DND) belongs
// to src/nudge/ (nudgeAgent); this is the single call site mail uses. Failures never fail a send.
import { type Identity, parseIdentity } from '../town/identity.ts';

export interface NotifyInput {
  from: string;
  subject: string;
  /** Agents (queues and channels are not notified). */
  recipients: { to: string; identity?: Identity }[];
  /** `interrupt` mail is typed at once; `queue` (default) waits for the agent to be idle. */
  delivery?: 'queue' | 'interrupt';
}

export interface NotifyOutcome {
  to: string;
  delivered: 'immediate' | 'queued' | 'skipped';
  reason?: string;
}

export function notificationText(from: string, subject: string): string {
  return `📬 New mail from ${from}: ${subject} (gt mail inbox)`;
}

/** The nudge sender: src/nudge/nudge.ts (loaded lazily: most mail commands never notify). */
type Nudger = (
  townRoot: string,
  target: Identity,
  input: { sender: string; message: string; mode?: 'wait-idle' | 'queue' | 'immediate'; kind?: string },
) => Promise<{ delivered: 'immediate' | 'queued' | 'skipped'; reason?: string }>;

let nudger: Nudger | null = null;

/** Replace the sender (tests). */
export function setNudger(fn: Nudger | null): void {
  nudger = fn;
}

async function getNudger(): Promise<Nudger> {
  if (!nudger) nudger = (await import('../nudge/nudge.ts')).nudgeAgent;
  return nudger;
}

/** Notify every recipient in parallel (wait-idle first, queued when busy, nothing when muted). */
export async function notifyRecipients(townRoot: string, input: NotifyInput): Promise<NotifyOutcome[]> {
  const message = notificationText(input.from, input.subject);
  const targets = input.recipients.filter((r) => r.to !== input.from);
  if (targets.length === 0) return [];
  let send: Nudger;
  try {
    send = await getNudger();
  } catch (e: any) {
    return targets.map((r) => ({
      to: r.to,
      delivered: 'skipped',
      reason: `nudges unavailable: ${e?.message ?? e}`,
    }));
  }
  return Promise.all(
    targets.map(async (r): Promise<NotifyOutcome> => {
      try {
        const target = r.identity ?? parseIdentity(r.to);
        const out = await send(townRoot, target, {
          sender: input.from,
          message,
          // interrupt: typed at once (still never mid-output); queue: when the agent is idle.
          mode: input.delivery === 'interrupt' ? 'immediate' : 'wait-idle',
          kind: 'mail',
        });
        return { to: r.to, ...out };
      } catch (e: any) {
        return { to: r.to, delivered: 'skipped', reason: e?.message ?? String(e) };
      }
    }),
  );
}
