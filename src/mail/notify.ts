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
  const outcomes = await Promise.all(
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
  await queueReplyReminders(townRoot, input, targets);
  return outcomes;
}

/**
 * The reply reminder of spec §3.4: a queued nudge that becomes deliverable a while after the mail
 * (`operational.mail.reply_reminder`, 30 s; 0 turns it off). Never fails a send.
 */
async function queueReplyReminders(
  townRoot: string,
  input: NotifyInput,
  targets: { to: string; identity?: Identity }[],
): Promise<void> {
  try {
    const { durationMs, settingValue } = await import('../town/settings.ts');
    const delay = durationMs(settingValue('operational.mail.reply_reminder', { townRoot }), 'reply_reminder');
    if (!delay) return;
    const [{ enqueueNudge }, { targetOf }] = await Promise.all([
      import('../nudge/queue.ts'),
      import('../runtime/sessions.ts'),
    ]);
    const at = new Date(Date.now() + delay).toISOString();
    for (const r of targets) {
      try {
        const target = r.identity ?? parseIdentity(r.to);
        if (target.role === 'overseer') continue;
        enqueueNudge(townRoot, targetOf(townRoot, target).session, {
          sender: input.from,
          message: `↩ Mail from ${input.from} waits for a reply: "${input.subject}" (gt mail reply <id>)`,
          kind: 'reply-reminder',
          deliver_after: at,
        });
      } catch {
        // a recipient without a session name (unknown rig prefix): no reminder
      }
    }
  } catch {
    // reminders are a courtesy: a bad setting or a full queue never fails the send
  }
}
