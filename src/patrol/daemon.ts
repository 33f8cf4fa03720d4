// The patrol daemon (spec §1.8, §5.1): one process per town that runs the tick parts
// (src/patrol/parts.ts) on a heartbeat (operational.daemon.heartbeat) and, within a second,
// when something it watches changes: the ledger ref (loose and packed), `.runtime/wake/` and
// `.runtime/nudge_queue/`, and each rig's `.repo.git` branches (a polecat branch arriving wakes
// that rig's refinery). Ticks never overlap: what arrives during a tick is merged into one
// follow-up tick. Files, under `<town>/daemon/`: daemon.pid (the running instance: pid, host,
// start time), daemon.lock (held only while an instance claims the pid file), state.json (ticks,
// per-part results, for `gt daemon status`) and daemon.log (JSON lines).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../beads/wisps.ts';
import { ConflictError, GtError } from '../errors.ts';
import { FileLock, pidAlive } from '../ledger/lock.ts';
import { gtBinPath } from '../runtime/presets.ts';
import { readRigs } from '../town/files.ts';
import { rigPaths, townPaths } from '../town/paths.ts';
import { durationMs, settingValue } from '../town/settings.ts';
import { PART_NAMES, PARTS, type Part, type PartContext, runPart } from './parts.ts';

export function daemonPaths(townRoot: string) {
  const dir = townPaths(townRoot).daemonDir;
  return {
    dir,
    pid: path.join(dir, 'daemon.pid'),
    lock: path.join(dir, 'daemon.lock'),
    log: path.join(dir, 'daemon.log'),
    state: path.join(dir, 'state.json'),
  };
}

export interface PidInfo {
  pid: number;
  host: string;
  started: string;
}

export interface PartState {
  runs: number;
  failures: number;
  last_run: string | null;
  last_ms: number | null;
  last_ok: boolean | null;
  last_summary: string | null;
  last_error: string | null;
  last_error_at: string | null;
}

export interface DaemonState {
  pid: number;
  started: string;
  ready: boolean;
  heartbeat_ms: number;
  ticks: number;
  tick_running: boolean;
  last_tick: string | null;
  last_tick_ms: number | null;
  last_reasons: string[];
  watching: string[];
  parts: Record<string, PartState>;
  stopped?: string;
}

export interface DaemonStatus {
  running: boolean;
  pid: number | null;
  started: string | null;
  /** A pid file was there but its process is gone (a crash or kill -9): the next start recovers. */
  stale_pid: number | null;
  ready: boolean;
  heartbeat_ms: number | null;
  ticks: number;
  last_tick: string | null;
  parts: Record<string, PartState>;
  log: string;
}

function readJsonFile<T>(file: string): T | null {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return null;
  }
}

export function readPidFile(townRoot: string): PidInfo | null {
  const j = readJsonFile<PidInfo>(daemonPaths(townRoot).pid);
  return j && Number.isInteger(j.pid) && j.pid > 0 ? j : null;
}

/** Whether `pid` is a live gt daemon (a reused pid running something else is not). */
function isDaemonProcess(info: PidInfo): boolean {
  if (info.host !== os.hostname()) return true; // cannot check another host: assume it runs
  if (!pidAlive(info.pid)) return false;
  try {
    const cmd = fs.readFileSync(`/proc/${info.pid}/cmdline`, 'utf8').split('\0');
    return cmd.includes('daemon') && cmd.includes('run');
  } catch {
    return true; // no /proc: trust the pid check
  }
}

/** The running daemon of the town, or null. */
export function runningDaemon(townRoot: string): PidInfo | null {
  const info = readPidFile(townRoot);
  return info && isDaemonProcess(info) ? info : null;
}

export function daemonStatus(townRoot: string): DaemonStatus {
  const p = daemonPaths(townRoot);
  const info = readPidFile(townRoot);
  const running = !!info && isDaemonProcess(info);
  const state = readJsonFile<DaemonState>(p.state);
  const current = running && state?.pid === info!.pid ? state : null;
  return {
    running,
    pid: running ? info!.pid : null,
    started: running ? info!.started : null,
    stale_pid: info && !running ? info.pid : null,
    ready: !!current?.ready,
    heartbeat_ms: current?.heartbeat_ms ?? null,
    // The last run's counters stay visible after a stop, for the record.
    ticks: state?.ticks ?? 0,
    last_tick: state?.last_tick ?? null,
    parts: state?.parts ?? {},
    log: p.log,
  };
}

// ---- the log ----------------------------------------------------------------------------------

export class DaemonLog {
  constructor(
    readonly file: string,
    private echo: ((line: string) => void) | null = null,
  ) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
  }

  /** Past `maxBytes`, the log becomes daemon.log.1 (one old copy kept) and a new one starts. */
  rotate(maxBytes: number): boolean {
    try {
      if (maxBytes <= 0 || fs.statSync(this.file).size <= maxBytes) return false;
      fs.renameSync(this.file, `${this.file}.1`);
      return true;
    } catch {
      return false;
    }
  }

  write(level: 'info' | 'warn' | 'error', msg: string, extra: Record<string, unknown> = {}): void {
    const entry = { ts: new Date().toISOString(), level, msg, ...extra };
    try {
      fs.appendFileSync(this.file, `${JSON.stringify(entry)}\n`);
    } catch {
      // a full disk must not stop the daemon; the state file still shows what happens
    }
    this.echo?.(formatLogLine(entry));
  }
}

export function formatLogLine(e: { ts?: string; level?: string; msg?: string }): string {
  return `${e.ts ?? '?'} ${(e.level ?? 'info').padEnd(5)} ${e.msg ?? ''}`;
}

/** The last `n` lines of the log (JSON lines; anything else, such as a crash trace, as is). */
export function readLogTail(townRoot: string, n: number): string[] {
  const file = daemonPaths(townRoot).log;
  let text: string;
  try {
    const size = fs.statSync(file).size;
    // Enough of the end of the file for n lines without reading a huge log whole.
    const want = Math.min(size, Math.max(64 * 1024, n * 1024));
    const fd = fs.openSync(file, 'r');
    const buf = Buffer.alloc(want);
    fs.readSync(fd, buf, 0, want, size - want);
    fs.closeSync(fd);
    text = buf.toString('utf8');
    if (want < size) text = text.slice(text.indexOf('\n') + 1);
  } catch {
    return [];
  }
  const lines = text.split('\n').filter((l) => l.length > 0);
  return n > 0 ? lines.slice(-n) : [];
}

// ---- the running daemon -----------------------------------------------------------------------

export interface DaemonOptions {
  env?: NodeJS.ProcessEnv;
  /** The parts (default: all of src/patrol/parts.ts). */
  parts?: Part[];
  /** Echo log lines (foreground `gt daemon run` on a terminal). */
  echo?: (line: string) => void;
}

type Request = Map<string, Set<string> | null>;

function emptyPartState(): PartState {
  return {
    runs: 0,
    failures: 0,
    last_run: null,
    last_ms: null,
    last_ok: null,
    last_summary: null,
    last_error: null,
    last_error_at: null,
  };
}

export class Daemon {
  readonly townRoot: string;
  readonly env: NodeJS.ProcessEnv;
  readonly parts: Part[];
  readonly log: DaemonLog;
  readonly heartbeatMs: number;
  readonly debounceMs: number;
  readonly logMaxBytes: number;
  private state: DaemonState;
  private pending: Request = new Map();
  private reasons = new Set<string>();
  private ticking: Promise<void> | null = null;
  private debounceTimer: NodeJS.Timeout | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private timers = new Map<string, { due: number; timer: NodeJS.Timeout }>();
  private watcher: import('chokidar').FSWatcher | null = null;
  private watchedRigs = new Set<string>();
  private stopping = false;
  private townGitDir: string;
  private claimed = false;

  constructor(townRoot: string, o: DaemonOptions = {}) {
    this.townRoot = path.resolve(townRoot);
    this.env = o.env ?? process.env;
    this.parts = o.parts ?? PARTS;
    this.log = new DaemonLog(daemonPaths(this.townRoot).log, o.echo ?? null);
    const ctx = { townRoot: this.townRoot, env: this.env };
    const hbKey = 'operational.daemon.heartbeat';
    this.heartbeatMs = durationMs(settingValue(hbKey, ctx), hbKey);
    const dbKey = 'operational.daemon.debounce';
    this.debounceMs = durationMs(settingValue(dbKey, ctx) ?? '150ms', dbKey);
    this.logMaxBytes = Number(settingValue('operational.daemon.log_max_bytes', ctx) ?? 0) || 0;
    if (!(this.heartbeatMs >= 100))
      throw new GtError(`setting ${hbKey} must be at least 100ms (gt config set ${hbKey} 3m)`);
    const r = spawnSync('git', ['rev-parse', '--path-format=absolute', '--git-common-dir'], {
      cwd: this.townRoot,
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new GtError(`${this.townRoot} is not a git repository: ${r.stderr.trim()}`);
    this.townGitDir = r.stdout.trim();
    this.state = {
      pid: process.pid,
      started: new Date().toISOString(),
      ready: false,
      heartbeat_ms: this.heartbeatMs,
      ticks: 0,
      tick_running: false,
      last_tick: null,
      last_tick_ms: null,
      last_reasons: [],
      watching: [],
      parts: Object.fromEntries(this.parts.map((p) => [p.name, emptyPartState()])),
    };
  }

  /** Take the pid file: refused while another daemon of the town runs; a stale one is replaced. */
  claim(): void {
    const p = daemonPaths(this.townRoot);
    const lock = new FileLock(p.lock);
    lock.acquire(10_000);
    try {
      const prev = readPidFile(this.townRoot);
      if (prev && prev.pid !== process.pid && isDaemonProcess(prev))
        throw new ConflictError(
          `the daemon is already running (pid ${prev.pid}, since ${prev.started}); stop it with \`gt daemon stop\``,
        );
      if (prev && prev.pid !== process.pid)
        this.log.write('warn', `recovered a stale pid file (pid ${prev.pid} is gone)`, {
          stale_pid: prev.pid,
        });
      const info: PidInfo = { pid: process.pid, host: os.hostname(), started: this.state.started };
      writeFileAtomic(p.pid, `${JSON.stringify(info)}\n`);
      this.claimed = true;
    } finally {
      lock.release();
    }
  }

  private saveState(): void {
    try {
      writeFileAtomic(daemonPaths(this.townRoot).state, `${JSON.stringify(this.state, null, 1)}\n`);
    } catch (e) {
      this.log.write('error', `cannot write state.json: ${(e as Error).message}`);
    }
  }

  /** Claim, watch, tick once, then keep going until stop(). */
  async start(): Promise<void> {
    this.claim();
    this.log.write('info', `daemon started (pid ${process.pid}, heartbeat ${this.heartbeatMs}ms)`, {
      pid: process.pid,
      heartbeat_ms: this.heartbeatMs,
    });
    await this.startWatching();
    this.state.ready = true;
    this.saveState();
    this.request(PART_NAMES, 'startup');
    this.scheduleHeartbeat();
  }

  // ---- watching ------------------------------------------------------------------------------

  private ledgerDir(): string {
    return path.join(this.townGitDir, 'refs', 'gt');
  }

  private async startWatching(): Promise<void> {
    const { watch } = await import('chokidar');
    const runtime = townPaths(this.townRoot).runtimeDir;
    for (const d of [this.ledgerDir(), path.join(runtime, 'wake'), path.join(runtime, 'nudge_queue')])
      fs.mkdirSync(d, { recursive: true });
    const paths = [
      this.ledgerDir(),
      path.join(this.townGitDir, 'packed-refs'),
      path.join(runtime, 'wake'),
      path.join(runtime, 'nudge_queue'),
    ];
    this.watcher = watch(paths, {
      ignoreInitial: true,
      persistent: true,
      // git writes `<ref>.lock` and renames it into place: the rename is the event that counts.
      ignored: (p: string) => p.endsWith('.lock') || p.endsWith('.tmp'),
    });
    this.watcher.on('all', (_event, file) => this.onFileEvent(file));
    this.watcher.on('error', (e) => this.log.write('error', `watcher: ${(e as Error)?.message ?? e}`));
    await new Promise<void>((resolve) => this.watcher!.once('ready', () => resolve()));
    this.syncRigWatches();
    this.state.watching = paths;
  }

  /** Watch the branches of every rig's .repo.git (rigs added since start included). */
  private syncRigWatches(): void {
    if (!this.watcher) return;
    let rigs: string[] = [];
    try {
      rigs = Object.keys(readRigs(this.townRoot));
    } catch (e) {
      this.log.write('warn', `cannot read the rigs: ${(e as Error).message}`);
    }
    for (const rig of rigs) {
      if (this.watchedRigs.has(rig)) continue;
      const repo = rigPaths(this.townRoot, rig).repoGit;
      if (!fs.existsSync(repo)) continue;
      const add = [path.join(repo, 'refs', 'heads'), path.join(repo, 'packed-refs')];
      this.watcher.add(add);
      this.state.watching.push(...add);
      this.watchedRigs.add(rig);
    }
  }

  private onFileEvent(file: string): void {
    const f = path.resolve(file);
    const runtime = townPaths(this.townRoot).runtimeDir;
    const under = (dir: string) => f === dir || f.startsWith(`${dir}${path.sep}`);
    if (under(this.ledgerDir()) || f === path.join(this.townGitDir, 'packed-refs')) {
      // The ledger moved: work may have closed (convoys), MRs may be queued (refinery), ready
      // work may have appeared (scheduler).
      this.request(['convoy', 'refinery', 'scheduler', 'gates'], 'ledger');
      return;
    }
    if (under(path.join(runtime, 'wake'))) {
      const name = path.basename(f);
      const m = /^refinery-(.+)$/.exec(name);
      if (m) this.request(['refinery'], `wake:${name}`, m[1]);
      else if (name === 'all') this.request(PART_NAMES, `wake:${name}`);
      else if (PART_NAMES.includes(name)) this.request([name], `wake:${name}`);
      return;
    }
    if (under(path.join(runtime, 'nudge_queue'))) {
      this.request(['nudges'], 'nudge_queue');
      return;
    }
    for (const rig of this.watchedRigs) {
      const repo = rigPaths(this.townRoot, rig).repoGit;
      if (under(path.join(repo, 'refs', 'heads')) || f === path.join(repo, 'packed-refs')) {
        this.request(['refinery'], `repo:${rig}`, rig);
        return;
      }
    }
  }

  // ---- ticks ---------------------------------------------------------------------------------

  /** Ask for parts to run (all rigs, or one); merged with whatever else is pending. */
  request(parts: string[], reason: string, rig?: string): void {
    if (this.stopping) return;
    for (const name of parts) {
      if (!this.parts.some((p) => p.name === name)) continue;
      const prev = this.pending.get(name);
      if (rig === undefined || prev === null) this.pending.set(name, null);
      else this.pending.set(name, new Set([...(prev ?? []), rig]));
    }
    this.reasons.add(reason);
    if (this.ticking || this.debounceTimer) return;
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = null;
      this.flush();
    }, this.debounceMs);
  }

  private flush(): void {
    if (this.ticking || this.stopping || this.pending.size === 0) return;
    const work = this.pending;
    const reasons = [...this.reasons];
    this.pending = new Map();
    this.reasons = new Set();
    this.ticking = this.tick(work, reasons).finally(() => {
      this.ticking = null;
      // What arrived meanwhile is one follow-up tick.
      if (this.pending.size > 0 && !this.stopping) this.flush();
    });
  }

  /** Run `part` again in `ms` (one timer per part and rig; the earliest wins). */
  private later(part: string, ms: number, rig?: string): void {
    const key = `${part}\0${rig ?? ''}`;
    const due = Date.now() + Math.max(0, ms);
    const prev = this.timers.get(key);
    if (prev && prev.due <= due) return;
    if (prev) clearTimeout(prev.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.request([part], `timer:${part}`, rig);
    }, Math.max(0, ms) + 20);
    this.timers.set(key, { due, timer });
  }

  private scheduleHeartbeat(): void {
    if (this.stopping) return;
    this.heartbeatTimer = setTimeout(() => {
      this.syncRigWatches();
      this.request(PART_NAMES, 'heartbeat');
      this.scheduleHeartbeat();
    }, this.heartbeatMs);
  }

  private async tick(work: Request, reasons: string[]): Promise<void> {
    const t0 = Date.now();
    this.state.tick_running = true;
    this.state.last_reasons = reasons;
    this.saveState();
    if (reasons.includes('ledger')) this.syncRigWatches();
    const ran: string[] = [];
    for (const part of this.parts) {
      if (!work.has(part.name)) continue;
      if (this.stopping) break;
      const rigs = work.get(part.name);
      const ctx: PartContext = {
        townRoot: this.townRoot,
        env: this.env,
        rigs: part.rigScoped && rigs ? [...rigs] : undefined,
        reasons,
        actor: this.env.BD_ACTOR || 'daemon',
        log: (msg, extra) => this.log.write('info', `${part.name}: ${msg}`, { part: part.name, ...extra }),
      };
      const ps = this.state.parts[part.name] ?? emptyPartState();
      this.state.parts[part.name] = ps;
      const start = Date.now();
      ps.runs++;
      ps.last_run = new Date(start).toISOString();
      try {
        const out = await runPart(part, ctx);
        for (const a of out.again ?? []) this.later(part.name, a.afterMs, a.rig);
        ps.last_ms = Date.now() - start;
        ps.last_summary = out.summary;
        const errs = out.errors ?? [];
        ps.last_ok = errs.length === 0;
        if (errs.length) {
          ps.failures++;
          ps.last_error = errs.join('; ').slice(0, 2000);
          ps.last_error_at = new Date().toISOString();
          this.log.write('warn', `${part.name}: ${out.summary}; problems: ${ps.last_error}`, {
            part: part.name,
            ms: ps.last_ms,
          });
        } else {
          this.log.write('info', `${part.name}: ${out.summary}`, { part: part.name, ms: ps.last_ms });
        }
      } catch (e) {
        // Isolated: logged and recorded; the next part still runs.
        ps.last_ms = Date.now() - start;
        ps.last_ok = false;
        ps.failures++;
        ps.last_error = String((e as Error)?.message ?? e).slice(0, 2000);
        ps.last_error_at = new Date().toISOString();
        this.log.write('error', `${part.name} failed: ${ps.last_error}`, {
          part: part.name,
          ms: ps.last_ms,
          stack: (e as Error)?.stack?.split('\n').slice(0, 6).join('\n'),
        });
      }
      ran.push(part.name);
    }
    if (this.log.rotate(this.logMaxBytes)) this.log.write('info', `log rotated (${this.log.file}.1 kept)`);
    this.state.ticks++;
    this.state.tick_running = false;
    this.state.last_tick = new Date().toISOString();
    this.state.last_tick_ms = Date.now() - t0;
    this.log.write('info', `tick ${this.state.ticks} (${reasons.join(', ')}): ${ran.join(', ')}`, {
      tick: this.state.ticks,
      reasons,
      parts: ran,
      ms: this.state.last_tick_ms,
    });
    this.saveState();
  }

  /** Stop: no new ticks, the running one finishes, watchers close, the pid file goes. */
  async stop(reason = 'stopped'): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
    await this.watcher?.close();
    if (this.ticking) await this.ticking;
    if (!this.claimed) {
      // Another instance owns the pid file and state.json: leave them alone.
      this.log.write('warn', `daemon not started (${reason})`, { pid: process.pid });
      return;
    }
    this.state.ready = false;
    this.state.stopped = new Date().toISOString();
    this.saveState();
    const info = readPidFile(this.townRoot);
    if (info?.pid === process.pid) fs.rmSync(daemonPaths(this.townRoot).pid, { force: true });
    this.log.write('info', `daemon stopped (${reason})`, { pid: process.pid });
  }
}

/**
 * `gt daemon run`: the daemon in this process until SIGTERM/SIGINT/SIGHUP (or `signal`).
 * Resolves after a clean stop.
 */
export async function runDaemon(
  townRoot: string,
  o: DaemonOptions & { signal?: AbortSignal } = {},
): Promise<Daemon> {
  const d = new Daemon(townRoot, o);
  // A stray rejection in some part's background work is logged, never fatal to the daemon.
  const onRejection = (e: unknown) =>
    d.log.write('error', `unhandled rejection: ${(e as Error)?.message ?? e}`, {
      stack: (e as Error)?.stack?.split('\n').slice(0, 6).join('\n'),
    });
  process.on('unhandledRejection', onRejection);
  try {
    await d.start();
  } catch (e) {
    await d.stop(`start failed: ${(e as Error)?.message ?? e}`);
    process.off('unhandledRejection', onRejection);
    throw e;
  }
  await new Promise<void>((resolve) => {
    const signals: NodeJS.Signals[] = ['SIGTERM', 'SIGINT', 'SIGHUP'];
    const done = (why: string) => {
      for (const s of signals) process.off(s, handlers[s]);
      o.signal?.removeEventListener('abort', onAbort);
      d.stop(why).then(resolve, resolve);
      process.off('unhandledRejection', onRejection);
    };
    const handlers = Object.fromEntries(signals.map((s) => [s, () => done(s)])) as Record<string, () => void>;
    for (const s of signals) process.on(s, handlers[s]);
    const onAbort = () => done('aborted');
    if (o.signal?.aborted) onAbort();
    else o.signal?.addEventListener('abort', onAbort);
  });
  return d;
}

// ---- start / stop from another process --------------------------------------------------------

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * `gt daemon start`: `gt daemon run` detached, output to daemon.log; returns once it reports
 * ready. Refused (ConflictError) while a daemon of the town runs.
 */
export async function startDaemon(
  townRoot: string,
  o: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<DaemonStatus & { recovered_stale_pid: number | null }> {
  const root = path.resolve(townRoot);
  const p = daemonPaths(root);
  const running = runningDaemon(root);
  if (running)
    throw new ConflictError(
      `the daemon is already running (pid ${running.pid}, since ${running.started}); stop it with \`gt daemon stop\``,
    );
  const stale = readPidFile(root)?.pid ?? null;
  fs.mkdirSync(p.dir, { recursive: true });
  const bin = gtBinPath();
  const out = fs.openSync(p.log, 'a');
  const env = { ...(o.env ?? process.env), GT_ROOT: root, GT_DAEMON_DETACHED: '1' };
  const child = spawn(process.execPath, [bin, 'daemon', 'run'], {
    cwd: root,
    env,
    detached: true,
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  let exited: number | string | null = null;
  child.on('exit', (code, sig) => {
    exited = code ?? sig ?? 'exit';
  });
  child.on('error', (e) => {
    exited = e.message;
  });
  child.unref();
  const deadline = Date.now() + (o.timeoutMs ?? 15_000);
  for (;;) {
    const st = daemonStatus(root);
    if (st.running && st.pid === child.pid && st.ready) return { ...st, recovered_stale_pid: stale };
    if (exited !== null) {
      const tail = readLogTail(root, 5)
        .map((l) => {
          try {
            return JSON.parse(l).msg as string;
          } catch {
            return l;
          }
        })
        .join('\n  ');
      throw new GtError(`the daemon exited at start (${exited}); its log (${p.log}) ends with:\n  ${tail}`);
    }
    if (Date.now() > deadline) {
      try {
        if (child.pid) process.kill(child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      throw new GtError(`the daemon did not report ready within ${o.timeoutMs ?? 15_000}ms; see ${p.log}`);
    }
    await sleep(50);
  }
}

export interface StopResult {
  stopped: boolean;
  pid: number | null;
  forced: boolean;
  /** A stale pid file removed (its process was already gone). */
  stale_pid: number | null;
}

/** `gt daemon stop`: SIGTERM, wait for the clean stop; SIGKILL after the timeout. Idempotent. */
export async function stopDaemon(
  townRoot: string,
  o: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<StopResult> {
  const root = path.resolve(townRoot);
  const p = daemonPaths(root);
  const info = readPidFile(root);
  if (!info) return { stopped: false, pid: null, forced: false, stale_pid: null };
  if (!isDaemonProcess(info)) {
    fs.rmSync(p.pid, { force: true });
    return { stopped: false, pid: null, forced: false, stale_pid: info.pid };
  }
  const key = 'operational.daemon.stop_timeout';
  const timeout = o.timeoutMs ?? durationMs(settingValue(key, { townRoot: root, env: o.env }) ?? '30s', key);
  process.kill(info.pid, 'SIGTERM');
  const deadline = Date.now() + timeout;
  let forced = false;
  // A zombie (exited, not yet reaped by whoever adopted it) counts as gone: it has no cmdline.
  while (isDaemonProcess(info)) {
    if (Date.now() > deadline) {
      try {
        process.kill(info.pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
      forced = true;
      await sleep(100);
      break;
    }
    await sleep(50);
  }
  if (readPidFile(root)?.pid === info.pid) fs.rmSync(p.pid, { force: true });
  if (forced) new DaemonLog(p.log).write('warn', `daemon pid ${info.pid} killed after ${timeout}ms`);
  return { stopped: true, pid: info.pid, forced, stale_pid: null };
}
