// The tmux adapter: every agent session of a town lives on the town's own tmux server
// (`tmux -L <socket>`). Calls are argument arrays run without a shell.
//
// Why node:child_process and not execa (DESIGN §7 suggests execa 9): every call here is a
// short, synchronous request/response to the tmux server; spawnSync with an argv array and
// `shell: false` (its default) is exactly that, it keeps the sync style of the ledger code, and
// it adds no dependency to the bundle that agents load thousands of times. Nothing execa adds
// (promises, piping, cleanup of long-lived children) is needed for tmux requests.
//
// Two tmux rules shape the argument handling:
//  1. tmux splits a command line at any argument that *ends* in `;` (even after `--`), so such
//     an argument is passed with the last `;` escaped as `\;`, which tmux turns back into `;`
//     (see escapeTmuxArg; the tests send such text through and compare it byte for byte).
//  2. `new-session`/`respawn-pane` run a one-word command through `sh -c`, but two or more
//     words are exec'd directly (execvp). Session commands are therefore always at least two
//     words: a one-word command gets the `env --` prefix (env execs it, so the pane still runs
//     the agent itself and pane_current_command names it).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { GtError, UsageError } from '../errors.ts';
import { DIALOG_KEYS, detectStartupDialog } from './dialogs.ts';

export const TMUX_MIN_VERSION: [number, number] = [3, 2];

/** Variables that describe *one* agent: never inherited by a town's tmux server or its sessions. */
const AGENT_SCOPED_ENV = [
  'TMUX',
  'TMUX_PANE',
  'GT_ROLE',
  'GT_RIG',
  'GT_POLECAT',
  'GT_POLECAT_PATH',
  'GT_CREW',
  'GT_SESSION',
  'GT_AGENT',
  'GT_BRANCH',
  'GT_BEACON',
  'GT_PROCESS_NAMES',
  'BD_ACTOR',
  'BEADS_ACTOR',
  'BEADS_AGENT_NAME',
];

export interface TmuxResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface PaneInfo {
  session: string;
  panePid: number;
  paneDead: boolean;
  paneDeadStatus: number | null;
  /** The foreground process of the pane (tmux `pane_current_command`). */
  paneCommand: string;
  created: number;
  attached: boolean;
}

export interface NewSessionOptions {
  name: string;
  cwd: string;
  /** The program and its arguments: never a shell string. */
  command: string[];
  env?: Record<string, string>;
  width?: number;
  height?: number;
  /** Keep a dead pane (and so the session) so the death can be seen and the pane respawned. */
  remainOnExit?: boolean;
  /** tmux user options (`@name`) set on the session, e.g. for formats in hooks. */
  userOptions?: Record<string, string>;
  /** A tmux command run by the pane-died hook (a fixed string, see setPaneDiedHook). */
  paneDiedHook?: string;
}

export interface ReadyOptions {
  /** Ready when a line of the pane starts with this (leading blanks and box bars ignored). */
  promptPrefix?: string | null;
  /** With no prompt prefix: ready after this long, if the agent is still running. */
  delayMs?: number;
  timeoutMs: number;
  pollMs?: number;
  /** Names the agent in errors (e.g. `mayor (claude)`). */
  label?: string;
  /** Process names the pane must still be running (checked while waiting). */
  processNames?: string[];
  /** Answer known start-up dialogs (workspace trust, ...) while waiting for the prompt. */
  dismissDialogs?: boolean;
  /** Told about each dialog answered. */
  onDialog?: (name: string) => void;
}

const SESSION_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$/;
const SOCKET_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/;
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function validateSessionName(name: string): void {
  if (!SESSION_RE.test(name))
    throw new UsageError(
      `invalid tmux session name ${JSON.stringify(name)}: letters, digits, - and _ only (at most 100)`,
    );
}

export function validateSocketName(name: string): void {
  if (!SOCKET_RE.test(name))
    throw new UsageError(
      `invalid tmux socket name ${JSON.stringify(name)} (GT_TMUX_SOCKET): letters, digits, ., - and _ only`,
    );
}

export function validateEnvName(name: string): void {
  if (!ENV_NAME_RE.test(name))
    throw new UsageError(`invalid environment variable name ${JSON.stringify(name)}: use A-Z, 0-9 and _`);
}

/** One argument as tmux must receive it so that it arrives unchanged (rule 1 above). */
export function escapeTmuxArg(arg: string): string {
  return arg.endsWith(';') ? `${arg.slice(0, -1)}\\;` : arg;
}

/**
 * POSIX shell quoting of one word, for text shown to people (e.g. the `tmux attach` line to
 * copy). Never used to build commands that gt runs.
 */
export function shellQuote(word: string): string {
  if (word !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** A session command tmux will exec directly, never through `sh -c` (rule 2 above). */
export function execArgv(command: string[], env?: Record<string, string>): string[] {
  if (command.length === 0 || !command[0]) throw new UsageError('an agent command cannot be empty');
  // tmux gives a new pane the server's PATH whatever `-e PATH=...` says (measured with tmux
  // 3.3), so a PATH of our own goes through env(1), as an argument, never through a shell.
  const pathVar = env?.PATH !== undefined ? [`PATH=${env.PATH}`] : [];
  if (command.length > 1 && !pathVar.length) return command;
  if (command[0].includes('=')) throw new UsageError(`invalid command ${JSON.stringify(command[0])}`);
  return ['env', '--', ...pathVar, ...command];
}

/** Where an executable is on PATH (or the path itself when it has a slash), else null. */
export function whichCommand(cmd: string, envPath = process.env.PATH ?? ''): string | null {
  const isExec = (p: string) => {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return fs.statSync(p).isFile();
    } catch {
      return false;
    }
  };
  if (cmd.includes('/')) return isExec(cmd) ? path.resolve(cmd) : null;
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, cmd);
    if (isExec(p)) return p;
  }
  return null;
}

export function parseTmuxVersion(text: string): [number, number] | null {
  const m = /(\d+)\.(\d+)/.exec(text);
  if (m) return [Number(m[1]), Number(m[2])];
  // Builds from git say `tmux master` or `tmux next-3.5`: newer than any release we need.
  if (/master|next/.test(text)) return [99, 0];
  return null;
}

const versionChecked = new Map<string, string>();

export class Tmux {
  readonly socket: string;
  private readonly env: NodeJS.ProcessEnv;

  constructor(socket: string, opts: { env?: NodeJS.ProcessEnv } = {}) {
    validateSocketName(socket);
    this.socket = socket;
    const env = { ...(opts.env ?? process.env) };
    for (const k of AGENT_SCOPED_ENV) delete env[k];
    this.env = env;
  }

  /**
   * tmux is installed and recent enough (≥ 3.2: new-session -e, pane hooks, #{q:}); the error
   * names the fix. Checked once per PATH in a process.
   */
  ensureAvailable(): string {
    const key = this.env.PATH ?? '';
    const cached = versionChecked.get(key);
    if (cached) return cached;
    const r = spawnSync('tmux', ['-V'], { env: this.env, encoding: 'utf8' });
    if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT')
      throw new GtError('tmux not found: install it (apt-get install tmux)');
    if (r.error) throw new GtError(`cannot run tmux: ${r.error.message}`);
    const text = `${r.stdout}${r.stderr}`.trim();
    const v = parseTmuxVersion(text);
    if (!v)
      throw new GtError(`cannot read the tmux version from "${text}": Gas Town needs tmux 3.2 or newer`);
    const [maj, min] = TMUX_MIN_VERSION;
    if (v[0] < maj || (v[0] === maj && v[1] < min))
      throw new GtError(
        `${text} is too old: Gas Town needs tmux ${maj}.${min} or newer (apt-get install tmux, or build a newer one)`,
      );
    versionChecked.set(key, text);
    return text;
  }

  /** Run tmux commands (one invocation, chained with `;`); argument arrays only. */
  run(commands: string[][], opts: { check?: boolean } = {}): TmuxResult {
    this.ensureAvailable();
    const argv = ['-L', this.socket];
    commands.forEach((c, i) => {
      if (i > 0) argv.push(';');
      argv.push(...c.map(escapeTmuxArg));
    });
    let r = spawnSync('tmux', argv, { env: this.env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    // A server whose last session just ended exits; a client that reached it in that moment
    // is dropped. Nothing of the command survives such a server, so asking again is safe.
    for (
      let i = 0;
      i < 5 && r.status !== 0 && /server exited unexpectedly|lost server/.test(r.stderr ?? '');
      i++
    ) {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20 * (i + 1));
      r = spawnSync('tmux', argv, { env: this.env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    }
    if (r.error) throw new GtError(`cannot run tmux: ${r.error.message}`);
    const res = { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
    if (opts.check !== false && res.code !== 0) {
      throw new GtError(
        `tmux ${commands.map((c) => c[0]).join(' ; ')} failed (socket ${this.socket}): ${res.stderr.trim() || `exit ${res.code}`}`,
      );
    }
    return res;
  }

  /** The command to attach to a session, as argv. */
  attachArgv(session: string): string[] {
    validateSessionName(session);
    return ['tmux', '-L', this.socket, 'attach-session', '-t', `=${session}`];
  }

  newSession(o: NewSessionOptions): void {
    validateSessionName(o.name);
    if (!fs.existsSync(o.cwd)) throw new GtError(`working directory ${o.cwd} does not exist`);
    const args = [
      'new-session',
      '-d',
      '-s',
      o.name,
      '-c',
      o.cwd,
      '-x',
      String(o.width ?? 200),
      '-y',
      String(o.height ?? 50),
    ];
    for (const [k, v] of Object.entries(o.env ?? {})) {
      validateEnvName(k);
      args.push('-e', `${k}=${v}`);
    }
    args.push('--', ...execArgv(o.command, o.env));
    // Chained in one invocation so the options exist before the server reaps a quick death.
    const cmds: string[][] = [args];
    if (o.remainOnExit) cmds.push(['set-option', '-w', '-t', `=${o.name}:`, 'remain-on-exit', 'on']);
    for (const [k, v] of Object.entries(o.userOptions ?? {})) {
      if (!/^[A-Za-z0-9_-]+$/.test(k)) throw new UsageError(`invalid tmux option name @${k}`);
      cmds.push(['set-option', '-t', `=${o.name}:`, `@${k}`, v]);
    }
    if (o.paneDiedHook) cmds.push(['set-hook', '-t', `=${o.name}:`, 'pane-died', o.paneDiedHook]);
    const r = this.run(cmds, { check: false });
    if (r.code !== 0) {
      if (/duplicate session/.test(r.stderr))
        throw new GtError(`tmux session ${o.name} already exists (socket ${this.socket})`);
      // The session may exist with some options missing: leave nothing half-made.
      if (this.hasSession(o.name)) this.killSession(o.name);
      throw new GtError(`tmux new-session ${o.name} failed: ${r.stderr.trim() || `exit ${r.code}`}`);
    }
  }

  /**
   * Set the pane-died hook of a session. `tmuxCommand` is a tmux command (e.g. a `run-shell`)
   * that must be a fixed string: data reaches it only through formats such as `#{q:@opt}`,
   * which tmux quotes for the shell itself.
   */
  setPaneDiedHook(session: string, tmuxCommand: string): void {
    validateSessionName(session);
    this.run([['set-hook', '-t', `=${session}:`, 'pane-died', tmuxCommand]]);
  }

  hasSession(name: string): boolean {
    validateSessionName(name);
    return this.run([['has-session', '-t', `=${name}`]], { check: false }).code === 0;
  }

  /** True when the town's tmux server answers. */
  serverRunning(): boolean {
    return this.run([['list-sessions', '-F', '#{session_name}']], { check: false }).code === 0;
  }

  /** Every session on the socket with its active pane (empty when no server runs). */
  listSessions(): PaneInfo[] {
    const fmt = [
      '#{session_name}',
      '#{pane_pid}',
      '#{pane_dead}',
      '#{pane_dead_status}',
      '#{session_created}',
      '#{session_attached}',
      '#{pane_current_command}',
    ].join('\t');
    const r = this.run([['list-sessions', '-F', fmt]], { check: false });
    if (r.code !== 0) {
      if (/no server running|error connecting|No such file or directory/i.test(r.stderr)) return [];
      throw new GtError(`tmux list-sessions failed (socket ${this.socket}): ${r.stderr.trim()}`);
    }
    return r.stdout
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [session, pid, dead, status, created, attached, ...cmd] = line.split('\t');
        return {
          session,
          panePid: Number(pid) || 0,
          paneDead: dead === '1',
          paneDeadStatus: status === '' || status === undefined ? null : Number(status),
          paneCommand: cmd.join('\t'),
          created: Number(created) || 0,
          attached: Number(attached) > 0,
        };
      });
  }

  /** The active pane of one session, or null when there is no such session. */
  paneInfo(session: string): PaneInfo | null {
    validateSessionName(session);
    return this.listSessions().find((s) => s.session === session) ?? null;
  }

  /** Kill a session; false when it did not exist. */
  killSession(name: string): boolean {
    validateSessionName(name);
    return this.run([['kill-session', '-t', `=${name}`]], { check: false }).code === 0;
  }

  /**
   * Make the server reap exited panes. Under load tmux 3.3 can miss a SIGCHLD: the pane shows
   * dead (its pty closed) but the process stays an unreaped zombie, its exit status stays
   * unknown and the pane-died hook waits, until some other child of the server exits. A
   * background `run-shell true` is such a child (measured: it always unblocks them). Best effort.
   */
  nudgeReap(): void {
    this.run([['run-shell', '-b', 'true']], { check: false });
  }

  killServer(): void {
    this.run([['kill-server']], { check: false });
  }

  /** Type text into a pane exactly as given (`send-keys -l`): no key names, no tmux parsing. */
  sendLiteral(session: string, text: string): void {
    validateSessionName(session);
    if (text === '') return;
    this.run([['send-keys', '-t', `=${session}:`, '-l', '--', text]]);
  }

  /** Named keys (`Enter`, `Down`, ...) from the start-up dialog list only. */
  sendKeyNames(session: string, keys: string[]): void {
    validateSessionName(session);
    for (const k of keys) if (!DIALOG_KEYS.has(k)) throw new UsageError(`not a key gt sends: ${k}`);
    for (const k of keys) this.run([['send-keys', '-t', `=${session}:`, k]]);
  }

  sendEnter(session: string): void {
    validateSessionName(session);
    this.run([['send-keys', '-t', `=${session}:`, 'Enter']]);
  }

  /** Literal text, then Enter as a separate send-keys (TUIs treat a fast Enter as pasted text). */
  async sendText(session: string, text: string, opts: { enterDelayMs?: number } = {}): Promise<void> {
    this.sendLiteral(session, text);
    const d = opts.enterDelayMs ?? 100;
    if (d > 0) await sleep(d);
    this.sendEnter(session);
  }

  /** The last `lines` lines of the pane (trailing blank lines dropped). */
  capturePane(session: string, lines = 50): string {
    validateSessionName(session);
    if (!Number.isInteger(lines) || lines < 1 || lines > 100000)
      throw new UsageError(`line count ${lines} must be a whole number from 1 to 100000`);
    const r = this.run([['capture-pane', '-p', '-J', '-t', `=${session}:`, '-S', `-${lines}`]]);
    const all = r.stdout.replace(/\s+$/, '').split('\n');
    return all.slice(-lines).join('\n');
  }

  /** What the pane shows now, without its scrollback. */
  visibleScreen(session: string): string {
    validateSessionName(session);
    return this.run([['capture-pane', '-p', '-J', '-t', `=${session}:`]]).stdout.replace(/\s+$/, '');
  }

  /** Replace the pane's process (kills a live one) with a new command. */
  respawnPane(session: string, o: { command: string[]; cwd?: string; env?: Record<string, string> }): void {
    validateSessionName(session);
    const args = ['respawn-pane', '-k', '-t', `=${session}:`];
    if (o.cwd) args.push('-c', o.cwd);
    for (const [k, v] of Object.entries(o.env ?? {})) {
      validateEnvName(k);
      args.push('-e', `${k}=${v}`);
    }
    args.push('--', ...execArgv(o.command, o.env));
    this.run([args]);
  }

  /** Is the pane running one of the agent's processes (pane_current_command ∈ names)? */
  isAgentRunning(session: string, processNames: string[]): boolean {
    const p = this.paneInfo(session);
    return !!p && !p.paneDead && processNames.includes(p.paneCommand);
  }

  /** Wait until the agent shows its prompt (or a fixed delay passes); clear errors otherwise. */
  async waitForReady(session: string, o: ReadyOptions): Promise<void> {
    validateSessionName(session);
    const label = o.label ?? session;
    const start = Date.now();
    const poll = o.pollMs ?? 100;
    const prefix = o.promptPrefix ? o.promptPrefix.trim() : '';
    const delay = prefix ? 0 : (o.delayMs ?? 0);
    const answered = new Set<string>();
    for (;;) {
      let p = this.paneInfo(session);
      if (!p) throw new GtError(`${label}: tmux session ${session} ended while starting`);
      if (p.paneDead) {
        // tmux may see the pane close before it has reaped the process: give the status a moment.
        if (p.paneDeadStatus === null) this.nudgeReap();
        for (let i = 0; i < 20 && p.paneDeadStatus === null; i++) {
          await sleep(50);
          p = this.paneInfo(session) ?? p;
        }
        const tail = this.capturePane(session, 15);
        throw new GtError(
          `${label}: the agent exited while starting (status ${p.paneDeadStatus ?? '?'}); its last output:\n${tail}`,
        );
      }
      const elapsed = Date.now() - start;
      if (prefix) {
        const text = this.capturePane(session, 200);
        // A dialog's menu cursor can look like the prompt: a dialog on screen is never "ready".
        const dialog = o.dismissDialogs ? detectStartupDialog(this.visibleScreen(session)) : null;
        // Each dialog is answered once, after it has been on screen for a moment (TUIs drop
        // keys that arrive while they are still drawing).
        if (dialog && !answered.has(dialog.name)) {
          answered.add(dialog.name);
          await sleep(300);
          this.sendKeyNames(session, dialog.keys);
          o.onDialog?.(dialog.name);
        }
        const ready = !dialog && text.split('\n').some((l) => l.replace(/^[\s│┃]+/u, '').startsWith(prefix));
        if (ready) return;
      } else if (elapsed >= delay) {
        return;
      }
      if (elapsed >= o.timeoutMs) {
        const what = prefix ? `its prompt "${prefix}"` : `a ${delay} ms start-up delay`;
        throw new GtError(
          `${label}: not ready after ${Math.round(o.timeoutMs / 1000)} s (waited for ${what} in tmux session ${session}); look at it with \`gt peek\`, or raise operational.session.start_timeout`,
        );
      }
      await sleep(Math.min(poll, Math.max(10, (prefix ? o.timeoutMs : delay) - elapsed)));
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Is a process alive (signal 0)? */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e: any) {
    return e.code === 'EPERM';
  }
}
