// The one place escalations and handoffs send mail through. It has the signature of
// `sendMail` (src/mail/send.ts, written alongside); until that module lands, this writes the
// message bead itself: type `message`, assignee = the recipient's canonical address, sender,
// in one ledger commit. That is the shape `gt prime` reads (unread = open and not labelled
// `read`), so handoff notes and escalation mail show up already. Swap the body of `deliverMail`
// for a call to sendMail when it exists.
import { createBead } from '../beads/ops.ts';
import { BeadStore } from '../beads/store.ts';
import { UsageError } from '../errors.ts';
import { loadCodec } from '../ledger/codec.ts';
import { addressOf, parseIdentity } from '../town/identity.ts';

export interface MailInput {
  from: string;
  to: string | string[];
  subject: string;
  body?: string;
  priority?: 'low' | 'normal' | 'high' | 'urgent';
  type?: string;
  cc?: string[];
  replyTo?: string;
  thread?: string;
  pinned?: boolean;
  wisp?: boolean;
  notify?: boolean;
}

export interface MailResult {
  ids: string[];
  recipients: string[];
  wisp: boolean;
}

const PRIORITY = { urgent: 0, high: 1, normal: 2, low: 3 } as const;

/** Canonical address of a single agent (`mayor` → `mayor/`, `myrig/polecats/nux` → `myrig/nux`). */
export function canonicalAddress(input: string): string {
  const s = input.trim();
  if (s === 'overseer' || s === 'human') return 'overseer';
  try {
    return addressOf(parseIdentity(s));
  } catch {
    throw new UsageError(
      `cannot deliver mail to ${JSON.stringify(input)}: use an agent address such as mayor/, deacon/, <rig>/witness or <rig>/<name>`,
    );
  }
}

export async function deliverMail(
  townRoot: string,
  input: MailInput,
  opts: { actor?: string } = {},
): Promise<MailResult> {
  const recipients = [...new Set((Array.isArray(input.to) ? input.to : [input.to]).map(canonicalAddress))];
  if (recipients.length === 0) throw new UsageError('mail needs at least one recipient');
  await loadCodec();
  const store = BeadStore.open(townRoot, { actor: opts.actor ?? input.from });
  try {
    const ids = store.transact(`mail: ${input.subject}`, (tx) =>
      recipients.map(
        (to) =>
          createBead(tx, {
            title: input.subject,
            description: input.body ?? '',
            type: 'message',
            priority: PRIORITY[input.priority ?? 'normal'],
            assignee: to,
            labels: [`from:${input.from}`, ...(input.type ? [`msg-type:${input.type}`] : [])],
            pinned: input.pinned,
            extra: { sender: input.from },
          }).id,
      ),
    );
    return { ids, recipients, wisp: false };
  } finally {
    store.flush();
  }
}
