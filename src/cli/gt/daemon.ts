// gt daemon start|stop|status|run|logs (spec §1.8, §5.1): the patrol daemon of src/patrol/daemon.ts.
// The daemon module (and chokidar) load only when a subcommand runs.
import fs from 'node:fs';
import { UsageError } from '../../errors.ts';
import { requireTown } from '../../town/paths.ts';
import type { CommandDef, Ctx } from '../framework.ts';

const d = () => import('../../patrol/daemon.ts');

function ago(iso: string | null): string {
  if (!iso) return 'never';
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  return s < 120 ? `${s}s ago` : s < 7200 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
}

const start: CommandDef = {
  name: 'start',
  summary: 'Start the daemon in the background (one per town); returns once it is ready',
  usage: 'gt daemon start [--json]',
  async run(ctx) {
    const root = requireTown(ctx.cwd);
    const m = await d();
    const st = await m.startDaemon(root);
    const lines = [`daemon started (pid ${st.pid}); log: ${st.log}`];
    if (st.recovered_stale_pid) lines.push(`(replaced the stale pid file of pid ${st.recovered_stale_pid})`);
    return { data: st, text: lines.join('\n') };
  },
};

const stop: CommandDef = {
  name: 'stop',
  summary: 'Stop the daemon (SIGTERM; it finishes its tick first); idempotent',
  usage: 'gt daemon stop [--timeout DUR] [--json]',
  options: { timeout: { type: 'string', desc: 'wait this long before SIGKILL (default 30s)', arg: 'DUR' } },
  async run(ctx, { values }) {
    const root = requireTown(ctx.cwd);
    const m = await d();
    const { durationMs } = await import('../../town/settings.ts');
    const timeoutMs = values.timeout !== undefined ? durationMs(values.timeout, '--timeout') : undefined;
    const r = await m.stopDaemon(root, { timeoutMs });
    const text = r.stopped
      ? `daemon stopped (pid ${r.pid}${r.forced ? ', killed after the timeout' : ''})`
      : r.stale_pid
        ? `daemon was not running (removed the stale pid file of pid ${r.stale_pid})`
        : 'daemon was not running';
    return { data: r, text };
  },
};

const status: CommandDef = {
  name: 'status',
  summary: 'Is the daemon running: pid, start time, last tick, and each part’s last result',
  usage: 'gt daemon status [--json]',
  async run(ctx: Ctx) {
    const root = requireTown(ctx.cwd);
    const m = await d();
    const st = m.daemonStatus(root);
    const lines: string[] = [];
    if (st.running) {
      lines.push(
        `${ctx.color.green('●')} daemon running (pid ${st.pid}, since ${st.started}${st.ready ? '' : ', starting'})`,
      );
      if (st.heartbeat_ms) lines.push(`  heartbeat every ${Math.round(st.heartbeat_ms / 100) / 10}s`);
    } else {
      lines.push(`${ctx.color.dim('○')} daemon not running (start it with gt daemon start)`);
      if (st.stale_pid) lines.push(`  stale pid file: pid ${st.stale_pid} is gone (the next start recovers)`);
    }
    lines.push(`  ticks: ${st.ticks}, last ${ago(st.last_tick)}`);
    for (const [name, p] of Object.entries(st.parts)) {
      const mark = p.last_ok === null ? '·' : p.last_ok ? ctx.color.green('✓') : ctx.color.red('✗');
      lines.push(
        `  ${mark} ${name.padEnd(12)} ${p.runs} runs, ${p.failures} failed; last ${ago(p.last_run)}${p.last_summary ? `: ${p.last_summary}` : ''}`,
      );
      if (p.last_error)
        lines.push(`      last error (${ago(p.last_error_at)}): ${p.last_error.split('\n')[0]}`);
    }
    lines.push(`  log: ${st.log}`);
    return { data: st, text: lines.join('\n') };
  },
};

const run: CommandDef = {
  name: 'run',
  summary: 'Run the daemon in the foreground until interrupted',
  usage: 'gt daemon run',
  async run(ctx) {
    const root = requireTown(ctx.cwd);
    if (ctx.json) throw new UsageError('gt daemon run has no JSON form; read gt daemon status --json');
    const m = await d();
    // Detached (gt daemon start), stderr is the log file already: no echo there.
    const echo = process.env.GT_DAEMON_DETACHED === '1' ? undefined : (line: string) => ctx.warn(line);
    await m.runDaemon(root, { echo });
    return { data: null, raw: '' };
  },
};

const logs: CommandDef = {
  name: 'logs',
  summary: 'The daemon log: the last lines (-n, default 50), or follow it (-f)',
  usage: 'gt daemon logs [-n N] [-f] [--json]',
  options: {
    lines: { type: 'string', short: 'n', desc: 'how many lines (default 50)', arg: 'N' },
    follow: { type: 'boolean', short: 'f', desc: 'keep printing new lines until interrupted' },
  },
  async run(ctx, { values }) {
    const root = requireTown(ctx.cwd);
    const n = values.lines === undefined ? 50 : Number(values.lines);
    if (!Number.isInteger(n) || n < 0)
      throw new UsageError(`-n takes a whole number ≥ 0, not "${values.lines}"`);
    const m = await d();
    const render = (l: string) => {
      if (ctx.json) return l.startsWith('{') ? l : JSON.stringify({ ts: null, level: 'raw', msg: l });
      try {
        return m.formatLogLine(JSON.parse(l));
      } catch {
        return l;
      }
    };
    const tail = m.readLogTail(root, n);
    if (!values.follow) {
      // JSON lines stay JSON lines (NDJSON), as streams do.
      return { data: null, raw: tail.length ? `${tail.map(render).join('\n')}\n` : '' };
    }
    for (const l of tail) process.stdout.write(`${render(l)}\n`);
    const file = m.daemonPaths(root).log;
    let pos = fs.existsSync(file) ? fs.statSync(file).size : 0;
    let partial = '';
    await new Promise<void>((resolve) => {
      const poll = setInterval(() => {
        let size: number;
        try {
          size = fs.statSync(file).size;
        } catch {
          return;
        }
        if (size < pos) pos = 0; // rotated or truncated
        if (size === pos) return;
        const fd = fs.openSync(file, 'r');
        const buf = Buffer.alloc(size - pos);
        fs.readSync(fd, buf, 0, buf.length, pos);
        fs.closeSync(fd);
        pos = size;
        const text = partial + buf.toString('utf8');
        const parts = text.split('\n');
        partial = parts.pop() ?? '';
        for (const l of parts) if (l) process.stdout.write(`${render(l)}\n`);
      }, 200);
      const end = () => {
        clearInterval(poll);
        process.off('SIGINT', end);
        process.off('SIGTERM', end);
        resolve();
      };
      process.on('SIGINT', end);
      process.on('SIGTERM', end);
    });
    return { data: null, raw: '' };
  },
};

export const daemonCommand: CommandDef = {
  name: 'daemon',
  summary: 'The patrol daemon: witness, refinery, convoys, escalations on a heartbeat and on change',
  usage: 'gt daemon start|stop|status|run|logs',
  sub: [start, stop, status, run, logs],
};
