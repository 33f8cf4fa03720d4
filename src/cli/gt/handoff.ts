// gt handoff [-s SUBJECT] [-m MESSAGE] [--cycle] [--no-restart] [--force]: HANDOFF mail to self,
// then a fresh session (src/work/handoff.ts; loaded lazily, it pulls in the session runtime).
import fs from 'node:fs';
import { UsageError } from '../../errors.ts';
import { requireTown } from '../../town/paths.ts';
import type { CommandDef } from '../framework.ts';

export const handoffCommand: CommandDef = {
  name: 'handoff',
  summary: 'Hand your work to a fresh session of yourself: 🤝 HANDOFF mail to self, then a new agent process',
  usage: 'gt handoff [-s SUBJECT] [-m MESSAGE | --stdin] [--cycle] [--no-restart] [--force] [--json]',
  options: {
    subject: { type: 'string', short: 's', arg: 'TEXT', desc: 'what the handoff is about (subject line)' },
    message: {
      type: 'string',
      short: 'm',
      arg: 'TEXT',
      desc: 'context, status and next steps for the next session',
    },
    stdin: { type: 'boolean', desc: 'read the message from stdin' },
    cycle: { type: 'boolean', desc: 'polecats: a plain session cycle instead of a deferred gt done' },
    'no-restart': { type: 'boolean', desc: 'send the handoff mail only; keep this session' },
    force: { type: 'boolean', desc: 'ignore the handoff cooldown (operational.session.handoff_cooldown)' },
  },
  async run(ctx, { values }) {
    let message: string | undefined = values.message;
    if (values.stdin) {
      if (message !== undefined) throw new UsageError('give the message with -m or --stdin, not both');
      message = fs.readFileSync(0, 'utf8');
    }
    const { handoff } = await import('../../work/handoff.ts');
    const r = await handoff(requireTown(ctx.cwd), {
      cwd: ctx.cwd,
      subject: values.subject,
      message,
      cycle: values.cycle,
      noRestart: values['no-restart'],
      force: values.force,
    });
    for (const w of r.warnings) ctx.warn(`warning: ${w}`);
    const c = ctx.color;
    const lines = [
      `${c.green('✓')} handoff mail ${r.mail.ids.join(', ')} to ${r.address}: ${r.mail.subject}`,
    ];
    if (r.restart === 'restarted')
      lines.push(
        `${c.green('✓')} ${r.session} restarted with a fresh ${r.launch?.agent} (pid ${r.launch?.pane_pid})`,
      );
    else if (r.restart === 'scheduled') lines.push(`${c.green('✓')} ${r.session} is being restarted`);
    else lines.push(c.dim(`${r.session} left running (--no-restart)`));
    return { data: r, text: lines.join('\n') };
  },
};
