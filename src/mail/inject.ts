// `gt mail check --inject`: the block agent hooks (UserPromptSubmit, SessionStart) print into
// the agent's context: unread mail plus the drained queue of nudges (spec §3.4, §3.6).
import { drainQueue, type QueuedNudge } from '../nudge/queue.ts';
import { readRigs } from '../town/files.ts';
import { type Identity, sessionNameOf } from '../town/identity.ts';
import type { Message } from './message.ts';

/** The tmux session name of an identity, or null when it has none (overseer, unknown rig). */
export function sessionOf(townRoot: string, id: Identity): string | null {
  if (id.role === 'overseer') return null;
  try {
    const prefix = id.rig ? readRigs(townRoot)[id.rig]?.beads.prefix : undefined;
    return sessionNameOf(id, prefix);
  } catch {
    return null;
  }
}

/** Text from agents is data: it must not close the reminder block early. */
function neutral(s: string): string {
  return s.replace(/<(\/?)system-reminder/gi, '‹$1system-reminder').replace(/[\r\n]+/g, ' ');
}

export function formatInject(
  unread: Message[],
  nudges: Pick<QueuedNudge, 'sender' | 'message' | 'priority'>[],
): string {
  if (unread.length === 0 && nudges.length === 0) return '';
  const lines = ['<system-reminder>'];
  if (unread.length) {
    lines.push(`📬 You have ${unread.length} unread message(s). Read them with \`gt mail read <id>\`:`);
    for (const m of unread) {
      const pri = m.priority === 'urgent' || m.priority === 'high' ? ` [${m.priority}]` : '';
      lines.push(`- ${m.id} from ${neutral(m.from)}: ${neutral(m.subject)}${pri}`);
    }
  }
  if (nudges.length) {
    if (unread.length) lines.push('');
    lines.push(`🔔 ${nudges.length} queued nudge(s):`);
    for (const n of nudges) {
      lines.push(
        `- ${n.priority === 'urgent' ? '[urgent] ' : ''}from ${neutral(n.sender)}: ${neutral(n.message)}`,
      );
    }
  }
  lines.push('</system-reminder>');
  return lines.join('\n');
}

/** Drain the identity's nudge queue and build the block (empty when there is nothing). */
export async function injectBlock(
  townRoot: string,
  id: Identity,
  unread: Message[],
): Promise<{ block: string; nudges: QueuedNudge[] }> {
  const session = sessionOf(townRoot, id);
  // "New mail" nudges are redundant here: the block lists the unread mail itself.
  const nudges = (session ? drainQueue(townRoot, session) : []).filter((n) => n.kind !== 'mail');
  return { block: formatInject(unread, nudges), nudges };
}
