// gt commands for nudges (spec §1.3, §3.6): nudge, broadcast, dnd, notify, nudge-poller.
import fs from 'node:fs';
import { UsageError } from '../../errors.ts';
import { actorOf, detectIdentity, type Identity } from '../../town/identity.ts';
import { requireTown } from '../../town/paths.ts';
import { durationMs, settingValue } from '../../town/settings.ts';
import type { CommandDef, Ctx, Output } from '../framework.ts';

const nudgeMod = () => import('../../nudge/nudge.ts');

const modeOpt = {
  type: 'string',
  desc: 'wait-idle (default: type when idle, else queue), queue, or immediate (type once the pane settles)',
  arg: 'MODE',
} as const;
const priorityOpt = { type: 'string', desc: 'normal (default) or urgent', arg: 'P' } as const;
const idleOpt = {
  type: 'string',
  desc: 'wait-idle: how long to wait for idle (default operational.nudge.idle_poll)',
  arg: 'DUR',
} as const;

function senderOf(ctx: Ctx, root: string): string {
  return ctx.actor || process.env.BD_ACTOR || process.env.GT_ROLE || actorOf(detectIdentity(root, ctx.cwd));
}

function idleTimeoutOf(root: string, values: Record<string, any>): number {
  const key = 'operational.nudge.idle_poll';
  if (values['idle-timeout'] !== undefined) return durationMs(values['idle-timeout'], '--idle-timeout');
  return durationMs(settingValue(key, { townRoot: root }), key);
}

function readMessage(values: Record<string, any>, arg: string | undefined): string {
  if (values.stdin) {
    if (arg !== undefined) throw new UsageError('give the message as an argument or with --stdin, not both');
    return fs.readFileSync(0, 'utf8');
  }
  if (arg === undefined)
    throw new UsageError('a nudge needs a message: gt nudge TARGET "message" (or --stdin)');
  return arg;
}

/** --if-fresh: why the caller's session is not fresh (< 60 s old), or null when it is. */
async function staleReason(root: string): Promise<string | null> {
  const session = process.env.GT_SESSION;
  if (!session) return '--if-fresh: you are not in an agent session (no GT_SESSION)';
  const { townTmux } = await import('../../runtime/sessions.ts');
  const pane = townTmux(root).paneInfo(session);
  if (!pane) return `--if-fresh: your session ${session} is not running`;
  const age = Math.round(Date.now() / 1000 - pane.created);
  return age < 60 ? null : `--if-fresh: your session is ${age} s old`;
}

function mark(ctx: Ctx, delivered: string): string {
  return delivered === 'immediate'
    ? ctx.color.green('✓')
    : delivered === 'queued'
      ? ctx.color.yellow('…')
      : ctx.color.dim('·');
}

const nudge: CommandDef = {
  name: 'nudge',
  summary: "Type a short message into an agent's session (queued when it is busy or gone)",
  usage:
    'gt nudge TARGET [MESSAGE] [--mode wait-idle|queue|immediate] [--priority normal|urgent] [--force] [--stdin] [--if-fresh]\n' +
    '  TARGET: an agent address (mayor, deacon, <rig>/witness, <rig>/<name>, <rig>/crew/<name>),\n' +
    '  witness or refinery (of your rig), overseer, or channel:<name> (nudge_channels in config/messaging.json).\n' +
    '  Text is typed literally, never run by a shell; newlines are kept, other control characters become spaces.\n' +
    '  DND or muted agents skip normal nudges (urgent ones are queued) unless --force.',
  args: [1, 2],
  options: {
    mode: modeOpt,
    priority: priorityOpt,
    force: { type: 'boolean', desc: 'ignore do-not-disturb and muted' },
    stdin: { type: 'boolean', desc: 'read the message from stdin' },
    kind: { type: 'string', desc: 'a kind recorded with queued nudges (default nudge)', arg: 'KIND' },
    'idle-timeout': idleOpt,
    'if-fresh': { type: 'boolean', desc: 'send only if your own session started less than 60 s ago' },
  },
  async run(ctx, { values, positionals }) {
    const root = requireTown(ctx.cwd);
    const m = await nudgeMod();
    const message = readMessage(values, positionals[1]);
    const input = {
      sender: senderOf(ctx, root),
      message,
      mode: values.mode,
      priority: values.priority,
      force: !!values.force,
      kind: values.kind,
    };
    // Everything is validated before anything is delivered or queued.
    if (message.trim() === '') throw new UsageError('a nudge needs a non-empty message');
    if (values.mode !== undefined && !m.NUDGE_MODES.includes(values.mode))
      throw new UsageError(
        `--mode ${JSON.stringify(values.mode)} must be one of ${m.NUDGE_MODES.join(', ')}`,
      );
    if (values.priority !== undefined && values.priority !== 'normal' && values.priority !== 'urgent')
      throw new UsageError(`--priority ${JSON.stringify(values.priority)} must be normal or urgent`);
    const idleTimeoutMs = idleTimeoutOf(root, values);
    const targets = m.resolveNudgeTargets(root, positionals[0], { cwd: ctx.cwd });
    if (values['if-fresh']) {
      const stale = await staleReason(root);
      if (stale) {
        const skipped = targets.map((id) => ({ target: actorOf(id), delivered: 'skipped', reason: stale }));
        return {
          data: positionals[0].startsWith('channel:')
            ? { channel: positionals[0], results: skipped }
            : skipped[0],
          text: `· not sent: ${stale}`,
        };
      }
    }
    const results = await Promise.all(
      targets.map(async (id) => ({
        target: actorOf(id),
        ...(await m.nudgeAgent(root, id, input, { idleTimeoutMs })),
      })),
    );
    const text = results
      .map((r) => `${mark(ctx, r.delivered)} ${r.target}: ${r.delivered}${r.reason ? ` (${r.reason})` : ''}`)
      .join('\n');
    const data = positionals[0].startsWith('channel:') ? { channel: positionals[0], results } : results[0];
    return { data, text };
  },
};

const broadcast: CommandDef = {
  name: 'broadcast',
  summary: 'Nudge every live worker (polecats and crew), a rig’s, or with --all every live agent',
  usage: 'gt broadcast MESSAGE [--rig RIG] [--all] [--mode MODE] [--priority P] [--force]',
  args: [1, 1],
  options: {
    rig: { type: 'string', desc: 'only agents of this rig', arg: 'RIG' },
    all: { type: 'boolean', desc: 'include mayor, deacon, witnesses and refineries' },
    mode: modeOpt,
    priority: priorityOpt,
    force: { type: 'boolean', desc: 'ignore do-not-disturb and muted' },
    'idle-timeout': idleOpt,
  },
  async run(ctx, { values, positionals }) {
    const root = requireTown(ctx.cwd);
    const m = await nudgeMod();
    const sender = senderOf(ctx, root);
    const message = positionals[0];
    if (message.trim() === '') throw new UsageError('a broadcast needs a non-empty message');
    if (values.mode !== undefined && !m.NUDGE_MODES.includes(values.mode))
      throw new UsageError(
        `--mode ${JSON.stringify(values.mode)} must be one of ${m.NUDGE_MODES.join(', ')}`,
      );
    if (values.priority !== undefined && values.priority !== 'normal' && values.priority !== 'urgent')
      throw new UsageError(`--priority ${JSON.stringify(values.priority)} must be normal or urgent`);
    const idleTimeoutMs = idleTimeoutOf(root, values);
    const targets = m.broadcastTargets(root, { rig: values.rig, all: !!values.all, exclude: sender });
    const input = {
      sender,
      message,
      mode: values.mode,
      priority: values.priority,
      force: !!values.force,
      kind: 'broadcast',
    };
    const results = await Promise.all(
      targets.map(async (id: Identity) => ({
        target: actorOf(id),
        ...(await m.nudgeAgent(root, id, input, { idleTimeoutMs })),
      })),
    );
    const text =
      results.length === 0
        ? 'no live agents to nudge'
        : results
            .map(
              (r) =>
                `${mark(ctx, r.delivered)} ${r.target}: ${r.delivered}${r.reason ? ` (${r.reason})` : ''}`,
            )
            .join('\n');
    return { data: { count: results.length, results }, text };
  },
};

async function prefsOutput(
  ctx: Ctx,
  p: Awaited<ReturnType<Awaited<ReturnType<typeof nudgeMod>>['notificationPrefs']>>,
): Promise<Output> {
  return {
    data: p,
    text: `${p.address}: do not disturb ${p.dnd ? ctx.color.yellow('on') : 'off'}, notifications ${p.notification_level}`,
  };
}

const dnd: CommandDef = {
  name: 'dnd',
  summary: 'Do not disturb for your own agent: normal nudges are skipped, urgent ones queued',
  usage: 'gt dnd on|off|status',
  args: [0, 1],
  async run(ctx, { positionals }) {
    const root = requireTown(ctx.cwd);
    const m = await nudgeMod();
    const id = detectIdentity(root, ctx.cwd);
    const what = positionals[0] ?? 'status';
    if (what === 'status') return prefsOutput(ctx, await m.notificationPrefs(root, id));
    if (what !== 'on' && what !== 'off')
      throw new UsageError(`gt dnd ${JSON.stringify(what)}: use on, off or status`);
    return prefsOutput(ctx, await m.setNotificationPrefs(root, id, { dnd: what === 'on' }, ctx.actor));
  },
};

const notify: CommandDef = {
  name: 'notify',
  summary: 'Your notification level: verbose, normal, or muted (muted skips normal nudges)',
  usage: 'gt notify [verbose|normal|muted]',
  args: [0, 1],
  async run(ctx, { positionals }) {
    const root = requireTown(ctx.cwd);
    const m = await nudgeMod();
    const id = detectIdentity(root, ctx.cwd);
    const level = positionals[0];
    if (level === undefined) return prefsOutput(ctx, await m.notificationPrefs(root, id));
    if (!m.NOTIFICATION_LEVELS.includes(level as any))
      throw new UsageError(`gt notify ${JSON.stringify(level)}: use verbose, normal or muted`);
    return prefsOutput(
      ctx,
      await m.setNotificationPrefs(root, id, { notification_level: level as any }, ctx.actor),
    );
  },
};

const poller: CommandDef = {
  name: 'nudge-poller',
  summary: "Drain an agent's nudge queue into its pane whenever it is idle (agents without hooks)",
  usage: 'gt nudge-poller AGENT|SESSION [--interval 5s] [--idle-timeout DUR] [--once]',
  args: [1, 1],
  options: {
    interval: { type: 'string', desc: 'time between passes (default 5s)', arg: 'DUR' },
    'idle-timeout': {
      type: 'string',
      desc: 'how long one pass waits for idle (default operational.nudge.idle_notify_timeout)',
      arg: 'DUR',
    },
    once: { type: 'boolean', desc: 'one pass, then exit' },
  },
  async run(ctx, { values, positionals }) {
    const root = requireTown(ctx.cwd);
    const { identityOfSession, parseAgentAddress } = await import('../../runtime/sessions.ts');
    const p = await import('../../nudge/poller.ts');
    // An agent address, or (as the original takes) its tmux session name.
    const arg = positionals[0];
    const bySession =
      !arg.includes('/') && /^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(arg) ? identityOfSession(root, arg) : null;
    const id = bySession ?? parseAgentAddress(root, arg);
    const intervalMs = durationMs(values.interval ?? '5s', '--interval');
    if (intervalMs < 100) throw new UsageError('--interval must be at least 100ms');
    const idleTimeoutMs =
      values['idle-timeout'] !== undefined ? durationMs(values['idle-timeout'], '--idle-timeout') : undefined;
    if (values.once) {
      const r = await p.pollOnce(root, id, { idleTimeoutMs });
      return { data: r, text: `${r.session}: ${r.state}${r.delivered ? ` (${r.delivered} nudges)` : ''}` };
    }
    const total = await p.runPoller(root, id, {
      idleTimeoutMs,
      intervalMs,
      onPass: (r) => {
        if (r.delivered && !ctx.json) ctx.warn(`${r.session}: delivered ${r.delivered} nudges`);
      },
    });
    return {
      data: { delivered: total, state: 'no-session' },
      text: `session gone; delivered ${total} nudges`,
    };
  },
};

export const nudgeCommands: CommandDef[] = [nudge, broadcast, dnd, notify, poller];
