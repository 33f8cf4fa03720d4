// The one place escalations and handoffs send mail through: src/mail/send.ts's sendMail
// (addressing of spec §3.2, one message bead per delivery in one commit, notification of live
// sessions). Kept as a seam so the callers do not depend on the mail module's internals.
import { type SendInput, type SendResult, sendMail } from '../mail/send.ts';

export type MailInput = SendInput;
export type MailResult = SendResult;

export function deliverMail(
  townRoot: string,
  input: MailInput,
  opts: { actor?: string } = {},
): Promise<MailResult> {
  return sendMail(townRoot, input, opts);
}
