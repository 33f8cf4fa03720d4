// gt commands for agent sessions: mayor/deacon/witness/refinery start|stop|restart|attach|status,
// crew at, up/down, agents, peek, and the low-level `gt session` group.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { findTownRoot } from '../../beads/store.ts';
import { writeFileAtomic } from '../../beads/wisps.ts';
import { GtError, NotFoundError, UsageError } from '../../errors.ts';
import { shellQuote, validateEnvName } from '../../runtime/tmux.ts';
import type { Identity } from '../../town/identity.ts';
import { detectIdentity } from '../../town/identity.ts';
import { requireTown } from '../../town/paths.ts';
import type { CommandDef, Ctx, Output } from '../framework.ts';

// The runtime modules are loaded when a command runs (start-up time is a feature).
const rt = () => import('../../runtime/sessions.ts');

const agentOpt = { type: 'string', desc: 'agent preset to run (wins over settings)', arg: 'NAME' } as const;
const envOpt = {
  type: 'string',
  multiple: true,
  desc: 'extra environment for the session',
  arg: 'K=V',
} as const;
const noWaitOpt = { type: 'boolean', desc: 'do not wait for the agent to be ready' } as const;

function parseEnv(list: string[] | undefined): Record<string, string> {
  const env: Record<string, string> = {};
  for (const kv of list ?? []) {
    const i = kv.indexOf('=');
    if (i <= 0) throw new UsageError(`--env ${JSON.stringify(kv)} must look like NAME=value`);
    validateEnvName(kv.slice(0, i));
    env[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return env;
}

function stateText(ctx: Ctx, state: string): string {
  return state === 'alive'
    ? ctx.color.green(state)
    : state === 'zombie'
      ? ctx.color.yellow(state)
      : ctx.color.red(state);
}

async function doStart(
  ctx: Ctx,
  id: Identity,
  values: Record<string, any>,
  restart = false,
): Promise<Output> {
  const root = requireTown(ctx.cwd);
  const s = await rt();
  const opts = { agent: values.agent, env: parseEnv(values.env), wait: !values['no-wait'], actor: ctx.actor };
  const r = restart ? await s.restartSession(root, id, opts) : await s.startSession(root, id, opts);
  const verb = r.action === 'running' ? 'is already running' : r.action;
  return {
    data: r,
    text:
      `${r.action === 'running' ? '·' : ctx.color.green('✓')} ${r.address} ${verb} in tmux session ${r.session} (${r.agent}, pid ${r.pane_pid})` +
      (r.dialogs_dismissed?.length ? `\n  answered at start-up: ${r.dialogs_dismissed.join(', ')}` : ''),
  };
}

async function doStop(ctx: Ctx, id: Identity): Promise<Output> {
  const root = requireTown(ctx.cwd);
  const s = await rt();
  const r = await s.stopSession(root, id, { actor: ctx.actor });
  return {
    data: r,
    text: r.action === 'stopped' ? `stopped ${r.address} (${r.session})` : `${r.address} was not running`,
  };
}

async function doStatus(ctx: Ctx, id: Identity): Promise<Output> {
  const root = requireTown(ctx.cwd);
  const s = await rt();
  const st = s.sessionStatus(root, id);
  const extra =
    st.state === 'dead'
      ? ''
      : ` (${st.agent ?? 'unknown agent'}, pid ${st.pane_pid}, running ${st.pane_command || '-'}${st.exit_status !== null ? `, exit ${st.exit_status}` : ''})`;
  return { data: st, text: `${st.address} ${st.session}: ${stateText(ctx, st.state)}${extra}` };
}

/** Attach on a TTY; otherwise print the command to run. */
async function doAttach(ctx: Ctx, id: Identity): Promise<Output> {
  const root = requireTown(ctx.cwd);
  const s = await rt();
  const t = s.targetOf(root, id);
  const tmux = s.townTmux(root);
  if (!tmux.hasSession(t.session))
    throw new NotFoundError(`${t.address} has no session (${t.session}); start it first`);
  const argv = tmux.attachArgv(t.session);
  const command = argv.map(shellQuote).join(' ');
  if (!ctx.json && process.stdin.isTTY && process.stdout.isTTY) {
    const r = spawnSync(argv[0], argv.slice(1), { stdio: 'inherit' });
    if (r.error) throw new GtError(`cannot run tmux: ${r.error.message}`);
    return { data: null, text: '', exitCode: r.status ?? 1 };
  }
  return { data: { session: t.session, attach: argv, command }, text: command };
}

function lifecycle(role: 'mayor' | 'deacon' | 'witness' | 'refinery', summary: string): CommandDef {
  const rigRole = role === 'witness' || role === 'refinery';
  const idOf = (ctx: Ctx, positionals: string[]): Identity => {
    if (!rigRole) return { role };
    let rig = positionals[0];
    if (!rig) {
      const root = requireTown(ctx.cwd);
      rig = detectIdentity(root, ctx.cwd, {}).rig ?? '';
      if (!rig) throw new UsageError(`gt ${role} needs a rig: gt ${role} start RIG`);
    }
    return { role, rig };
  };
  const arg = rigRole ? ' [RIG]' : '';
  const args: [number, number] = rigRole ? [0, 1] : [0, 0];
  return {
    name: role,
    summary,
    usage: `gt ${role} start|stop|restart|attach|status${arg}`,
    sub: [
      {
        name: 'start',
        summary: `Start the ${role} session (no-op when it is running)`,
        usage: `gt ${role} start${arg} [--agent NAME] [--env K=V] [--no-wait]`,
        args,
        options: { agent: agentOpt, env: envOpt, 'no-wait': noWaitOpt },
        run: (ctx, { values, positionals }) => doStart(ctx, idOf(ctx, positionals), values),
      },
      {
        name: 'stop',
        summary: `Stop the ${role} session`,
        usage: `gt ${role} stop${arg}`,
        args,
        run: (ctx, { positionals }) => doStop(ctx, idOf(ctx, positionals)),
      },
      {
        name: 'restart',
        summary: `Restart the ${role}'s agent (respawns the pane, or starts the session)`,
        usage: `gt ${role} restart${arg} [--agent NAME] [--env K=V] [--no-wait]`,
        args,
        options: { agent: agentOpt, env: envOpt, 'no-wait': noWaitOpt },
        run: (ctx, { values, positionals }) => doStart(ctx, idOf(ctx, positionals), values, true),
      },
      {
        name: 'attach',
        summary: `Attach to the ${role} session (prints the tmux command when not on a terminal)`,
        usage: `gt ${role} attach${arg}`,
        args,
        run: (ctx, { positionals }) => doAttach(ctx, idOf(ctx, positionals)),
      },
      {
        name: 'status',
        summary: `Is the ${role} alive, dead, or a zombie (session without its agent)?`,
        usage: `gt ${role} status${arg}`,
        args,
        run: (ctx, { positionals }) => doStatus(ctx, idOf(ctx, positionals)),
      },
    ],
  };
}

const crewAt: CommandDef = {
  name: 'at',
  summary: "Start a crew member's session if needed and attach to it",
  usage: 'gt crew at NAME [--rig RIG] [--agent NAME]',
  args: [1, 1],
  options: {
    rig: { type: 'string', desc: 'the rig (default: the rig you are in)', arg: 'RIG' },
    agent: agentOpt,
    'no-wait': noWaitOpt,
  },
  async run(ctx, { values, positionals }) {
    const root = requireTown(ctx.cwd);
    const rig = values.rig ?? detectIdentity(root, ctx.cwd, {}).rig;
    if (!rig) throw new UsageError('which rig? give --rig RIG (or run it inside the rig)');
    const id: Identity = { role: 'crew', rig, name: positionals[0] };
    const started = await doStart(ctx, id, values);
    if (!ctx.json) ctx.warn(started.text ?? '');
    const att = await doAttach(ctx, id);
    return { ...att, data: { ...(started.data as object), ...((att.data as object) ?? {}) } };
  },
};

export const crewAtCommand: CommandDef = {
  name: 'crew',
  summary: 'Crew workspaces: long-lived, human-directed agents',
  usage: 'gt crew at NAME [--rig RIG]',
  sub: [crewAt],
};

const up: CommandDef = {
  name: 'up',
  summary: 'Start the town (idempotent): mayor, deacon, and every rig’s witness and refinery',
  usage: 'gt up [--agent NAME] [--no-daemon] [--quiet]',
  options: {
    agent: agentOpt,
    'no-daemon': { type: 'boolean', desc: 'do not start the patrol daemon (gt daemon start)' },
    quiet: { type: 'boolean', short: 'q', desc: 'print only failures' },
  },
  async run(ctx, { values }) {
    const root = requireTown(ctx.cwd);
    const s = await rt();
    s.townTmux(root).ensureAvailable();
    fs.rmSync(s.shutdownLockFile(root), { force: true });
    const results = await s.startSessions(root, s.infrastructureIdentities(root), {
      agent: values.agent,
      actor: ctx.actor,
    });
    const failed = results.filter((r) => r.action === 'failed');
    const lines = results
      .filter((r) => !values.quiet || r.action === 'failed')
      .map((r) =>
        r.action === 'failed'
          ? `${ctx.color.red('✗')} ${r.address}: ${r.error}`
          : `${r.action === 'running' ? '·' : ctx.color.green('✓')} ${r.address} (${r.session}) ${r.action === 'running' ? 'already running' : r.action}`,
      );
    // The patrol daemon drives the town (witness, refinery, convoys): up starts it, down stops it.
    let daemon: { pid: number | null; action: 'started' | 'running' | 'skipped' } = {
      pid: null,
      action: 'skipped',
    };
    if (!values['no-daemon']) {
      const d = await import('../../patrol/daemon.ts');
      const running = d.runningDaemon(root);
      daemon = running
        ? { pid: running.pid, action: 'running' }
        : { pid: (await d.startDaemon(root, { env: process.env })).pid ?? null, action: 'started' };
      if (!values.quiet)
        lines.push(
          `${daemon.action === 'started' ? ctx.color.green('✓') : '·'} patrol daemon ${daemon.action === 'started' ? 'started' : 'already running'} (pid ${daemon.pid})`,
        );
    }
    return {
      data: { ok: failed.length === 0, sessions: results, daemon },
      text: lines.join('\n'),
      exitCode: failed.length ? 1 : 0,
    };
  },
};

const down: CommandDef = {
  name: 'down',
  summary: 'Stop the town (idempotent): mayor, deacon, witnesses, refineries; --all stops every agent',
  usage: 'gt down [--all]',
  options: { all: { type: 'boolean', desc: 'also polecats, crew, boot and dogs' } },
  async run(ctx, { values }) {
    const root = requireTown(ctx.cwd);
    const s = await rt();
    s.townTmux(root).ensureAvailable();
    const ids = s.infrastructureIdentities(root);
    if (values.all) {
      const have = new Set(ids.map((i) => JSON.stringify(i)));
      for (const row of s.listAgentSessions(root)) {
        const id = s.identityOfSession(root, row.session);
        if (id && !have.has(JSON.stringify(id))) {
          ids.push(id);
          have.add(JSON.stringify(id));
        }
      }
    }
    // Tell the daemon not to restart what is being stopped.
    writeFileAtomic(
      s.shutdownLockFile(root),
      `${JSON.stringify({ at: new Date().toISOString(), by: ctx.actor ?? process.env.BD_ACTOR ?? 'gt' })}\n`,
    );
    // The patrol daemon first, so it restarts nothing while the sessions stop.
    const daemon = await (await import('../../patrol/daemon.ts')).stopDaemon(root);
    const results = await s.stopSessions(root, ids, { actor: ctx.actor });
    return {
      data: { sessions: results, daemon },
      text: [
        ...(daemon.stopped ? [`stopped the daemon (pid ${daemon.pid})`] : []),
        ...results.map((r) =>
          r.action === 'stopped' ? `stopped ${r.address} (${r.session})` : `· ${r.address} was not running`,
        ),
      ].join('\n'),
    };
  },
};

const agentsCmd: CommandDef = {
  name: 'agents',
  aliases: ['ag'],
  summary: 'Every agent session of the town with its identity and liveness',
  usage: 'gt agents',
  async run(ctx) {
    const root = requireTown(ctx.cwd);
    const s = await rt();
    const rows = s.listAgentSessions(root);
    if (rows.length === 0) return { data: rows, text: 'no agent sessions (start the town with `gt up`)' };
    const w = Math.max(...rows.map((r) => r.session.length)) + 2;
    const a = Math.max(...rows.map((r) => (r.address ?? '?').length)) + 2;
    const text = rows
      .map(
        (r) =>
          `${r.session.padEnd(w)}${(r.address ?? '?').padEnd(a)}${(r.agent ?? '-').padEnd(10)}${stateText(ctx, r.state)}${r.pane_pid ? `  pid ${r.pane_pid}` : ''}`,
      )
      .join('\n');
    return { data: rows, text };
  },
};

function countOf(v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 100000)
    throw new UsageError(`line count ${JSON.stringify(v)} must be a whole number from 1 to 100000`);
  return n;
}

async function capture(ctx: Ctx, address: string, lines: number): Promise<Output> {
  const root = requireTown(ctx.cwd);
  const s = await rt();
  const t = s.targetOf(root, s.parseAgentAddress(root, address));
  const tmux = s.townTmux(root);
  if (!tmux.hasSession(t.session)) throw new NotFoundError(`${t.address} has no session (${t.session})`);
  const text = tmux.capturePane(t.session, lines);
  return { data: { session: t.session, address: t.address, lines, text }, text };
}

const peek: CommandDef = {
  name: 'peek',
  summary: "The last lines of an agent's pane",
  usage: 'gt peek AGENT [COUNT] [-n COUNT]',
  args: [1, 2],
  options: { lines: { type: 'string', short: 'n', desc: 'how many lines (default 30)', arg: 'N' } },
  run: (ctx, { values, positionals }) =>
    capture(ctx, positionals[0], countOf(values.lines ?? positionals[1], 30)),
};

async function idFromAddress(ctx: Ctx, address: string): Promise<Identity> {
  const root = requireTown(ctx.cwd);
  const s = await rt();
  const id = s.parseAgentAddress(root, address);
  s.targetOf(root, id); // validate before anything runs
  return id;
}

const sessionCmd: CommandDef = {
  name: 'session',
  summary: 'Low-level agent session control (any agent address)',
  usage: 'gt session list|start|stop|restart|status|capture|inject AGENT',
  sub: [
    { ...agentsCmd, name: 'list', aliases: [], usage: 'gt session list' },
    {
      name: 'start',
      summary: "Start an agent's session",
      usage: 'gt session start AGENT [--agent NAME] [--env K=V] [--no-wait]',
      args: [1, 1],
      options: { agent: agentOpt, env: envOpt, 'no-wait': noWaitOpt },
      run: async (ctx, { values, positionals }) =>
        doStart(ctx, await idFromAddress(ctx, positionals[0]), values),
    },
    {
      name: 'stop',
      summary: "Stop an agent's session",
      usage: 'gt session stop AGENT',
      args: [1, 1],
      run: async (ctx, { positionals }) => doStop(ctx, await idFromAddress(ctx, positionals[0])),
    },
    {
      name: 'restart',
      summary: "Restart an agent's session",
      usage: 'gt session restart AGENT [--agent NAME] [--env K=V] [--no-wait]',
      args: [1, 1],
      options: { agent: agentOpt, env: envOpt, 'no-wait': noWaitOpt },
      run: async (ctx, { values, positionals }) =>
        doStart(ctx, await idFromAddress(ctx, positionals[0]), values, true),
    },
    {
      name: 'status',
      summary: 'alive, dead or zombie',
      usage: 'gt session status AGENT',
      args: [1, 1],
      run: async (ctx, { positionals }) => doStatus(ctx, await idFromAddress(ctx, positionals[0])),
    },
    {
      name: 'capture',
      summary: "The last lines of an agent's pane",
      usage: 'gt session capture AGENT [-n COUNT]',
      args: [1, 1],
      options: { lines: { type: 'string', short: 'n', desc: 'how many lines (default 50)', arg: 'N' } },
      run: (ctx, { values, positionals }) => capture(ctx, positionals[0], countOf(values.lines, 50)),
    },
    {
      name: 'inject',
      summary: "Type text into an agent's pane exactly as given, then Enter",
      usage: 'gt session inject AGENT TEXT... | -m TEXT',
      args: [1, -1],
      options: { message: { type: 'string', short: 'm', desc: 'the text', arg: 'TEXT' } },
      async run(ctx, { values, positionals }) {
        const root = requireTown(ctx.cwd);
        const s = await rt();
        const t = s.targetOf(root, s.parseAgentAddress(root, positionals[0]));
        const text = values.message ?? positionals.slice(1).join(' ');
        if (!text) throw new UsageError('nothing to inject: give TEXT or -m TEXT');
        const tmux = s.townTmux(root);
        if (!tmux.hasSession(t.session))
          throw new NotFoundError(`${t.address} has no session (${t.session})`);
        await tmux.sendText(t.session, text);
        return {
          data: { session: t.session, address: t.address, injected: text },
          text: `injected into ${t.session}`,
        };
      },
    },
    {
      name: 'record-death',
      hidden: true,
      summary: '(internal) record a pane death; run by the tmux pane-died hook',
      usage: 'gt session record-death SESSION --town DIR [--pid=N] [--status=N] [--signal=S]',
      args: [1, 1],
      options: {
        town: { type: 'string', desc: 'the town root', arg: 'DIR' },
        pid: { type: 'string', desc: 'pane pid', arg: 'N' },
        status: { type: 'string', desc: 'exit status', arg: 'N' },
        signal: { type: 'string', desc: 'signal', arg: 'S' },
      },
      async run(ctx, { values, positionals }) {
        const root = values.town ? findTownRoot(values.town) : requireTown(ctx.cwd);
        if (!root) throw new UsageError(`--town ${values.town} is not a town`);
        const s = await rt();
        const num = (v?: string) => (v && /^\d+$/.test(v) ? Number(v) : null);
        const rec = s.recordDeath(root, positionals[0], {
          pid: num(values.pid),
          status: num(values.status),
          signal: values.signal,
        });
        return { data: rec, text: `recorded the death of ${rec.session}` };
      },
    },
  ],
};

export const agentCommands: CommandDef[] = [
  lifecycle('mayor', "The mayor: the town's coordinator (session hq-mayor)"),
  lifecycle('deacon', 'The deacon: town-wide patrols (session hq-deacon)'),
  lifecycle('witness', "A rig's witness: watches its polecats (session <prefix>-witness)"),
  lifecycle('refinery', "A rig's refinery: the merge queue (session <prefix>-refinery)"),
  crewAtCommand,
  up,
  down,
  agentsCmd,
  peek,
  sessionCmd,
];
