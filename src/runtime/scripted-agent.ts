// The built-in scripted agent (DESIGN principle 3: the system works with no LLM). A real
// program for a tmux pane (or a plain terminal or pipe) that behaves like a disciplined agent:
//
// - on start: a banner, then `gt prime` (in process), then its hook (src/work/hook.ts);
// - nothing hooked: the idle prompt `❯ `, waiting for input (and re-reading the hook now and then);
// - work hooked: the attached molecule's steps in order. Each step is claimed, its `run` command
//   (bead metadata `run`, from the formula's `run = "..."`) is run in the worktree, changed files
//   are committed (`<step title> (<hooked bead id>)`), and the step is closed with the next one
//   claimed, in one ledger commit (as `bd close --continue`). Between steps the idle prompt shows
//   briefly, so readiness/idle detection sees an idle pane;
// - molecule complete: the finishing command, `gt done` (or GT_SCRIPTED_DONE_CMD), then idle;
// - input lines (while idle or between steps): `handoff` exits 0 (the session manager respawns
//   the agent and the fresh process continues from the molecule: the molecule is the state),
//   `status` prints progress, `quit` exits 0, anything else is a nudge: echoed as
//   `nudge: <text>`, recorded under `.runtime/scripted/<key>/nudges.jsonl`, and, when the agent
//   is stopped on a failed step, taken as the cue to retry it.
//
// Options (environment):
//   GT_SCRIPTED_STEP_DELAY_MS  pause between steps, prompt showing (default 250)
//   GT_SCRIPTED_POLL_MS        how often an idle agent re-reads its hook (default 2000)
//   GT_SCRIPTED_DONE_CMD       finishing command as a JSON argv array, e.g. ["gt","done"] (no shell)
//   GT_SCRIPTED_EXIT_IDLE=1    exit 0 instead of waiting when there is nothing to do
//   GT_SCRIPTED_FAIL           (or the hooked bead's metadata `scripted_fail`) comma-separated faults, each `<kind>:<step>` where <step> is a step
//                              bead id or a formula step id:
//     exit:<step>        claim the step, then exit with code 3 (a crash mid-molecule)
//     hang:<step>        claim the step, then stop responding (no input, no heartbeats)
//     bad-commit:<step>  run the step, then also commit `GT_BAD_COMMIT-<step>.txt` holding
//                        leftover conflict markers; a merge gate catches it with
//                        `git diff --check <target>...<branch>` ("leftover conflict marker").
//                        Once per issue and step, town-wide (recorded under
//                        `.runtime/scripted/faults-fired.json`), so the fix below sticks.
//
// A failed merge: the refinery nudges `MERGE_FAILED: branch=<b> issue=<id> type=<gate|conflict>
// error=<tail> ...`. When idle, the agent checks out <b>, rebases it onto its target for a
// conflict, removes the `GT_BAD_COMMIT-*.txt` files its own fault left, commits
// `Fix: <type> failure (<id>)`, runs its finishing command with `--issue <id>` (a new MR that
// supersedes the failed one) and goes idle again.
//
// Every step touches `.runtime/heartbeats/<session or actor>.json` ({time, state, step, ...}).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { addComment, claim } from '../beads/ops.ts';
import { BeadStore, findTownRoot } from '../beads/store.ts';
import { writeFileAtomic } from '../beads/wisps.ts';
import { GtError } from '../errors.ts';
import {
  closeStep,
  type MoleculeProgress,
  markVirtualSteps,
  readySteps,
  rootOnlyInfo,
  type StepProgress,
} from '../formula/molecule.ts';
import { loadCodec } from '../ledger/codec.ts';
import {
  type AgentMeta,
  type AgentState,
  agentMeta,
  ensureAgentBead,
  updateAgentMeta,
} from '../town/agents.ts';
import { type RigsJson, readJsonOr } from '../town/files.ts';
import { actorOf, detectIdentity, type Identity, workDirOf } from '../town/identity.ts';
import { townPaths } from '../town/paths.ts';
import { getRig } from '../town/rigs.ts';
import { findHook, type Hook, progressOf, rootOnlyProto } from '../work/hook.ts';
import { buildPrime, renderPrime } from '../work/prime.ts';

export const PROMPT = '❯ ';
export const EXIT_FAULT = 3;

type FaultKind = 'exit' | 'hang' | 'bad-commit';

export interface ScriptedAgentOptions {
  cwd: string;
  env?: NodeJS.ProcessEnv;
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream;
}

/** Parse GT_SCRIPTED_FAIL: `exit:step-a,hang:b` → step → kind. */
export function parseFaults(spec: string | undefined): Map<string, FaultKind> {
  const out = new Map<string, FaultKind>();
  for (const part of (spec ?? '').split(',').map((s) => s.trim())) {
    if (!part) continue;
    const m = /^(exit|hang|bad-commit):(.+)$/.exec(part);
    if (!m)
      throw new GtError(
        `GT_SCRIPTED_FAIL: cannot read "${part}"; use exit:<step>, hang:<step> or bad-commit:<step>`,
      );
    out.set(m[2].trim(), m[1] as FaultKind);
  }
  return out;
}

/** Parse GT_SCRIPTED_DONE_CMD: a JSON array of strings (an argv, never a shell string). */
export function parseDoneCmd(spec: string | undefined): string[] | null {
  if (spec === undefined || spec.trim() === '') return null;
  let v: unknown;
  try {
    v = JSON.parse(spec);
  } catch (e: any) {
    throw new GtError(`GT_SCRIPTED_DONE_CMD must be a JSON array like ["gt","done"]: ${e.message}`);
  }
  if (!Array.isArray(v) || v.length === 0 || !v.every((a) => typeof a === 'string') || !v[0]) {
    throw new GtError('GT_SCRIPTED_DONE_CMD must be a non-empty JSON array of strings, like ["gt","done"]');
  }
  return v as string[];
}

function msOpt(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const v = env[name];
  if (v === undefined || v === '') return fallback;
  if (!/^\d+$/.test(v)) throw new GtError(`${name} must be a whole number of milliseconds, got "${v}"`);
  return Number(v);
}

interface RunResult {
  code: number;
  tail: string;
}

type LineAction = 'exit' | 'nudge' | 'none';

export interface MergeFailed {
  branch: string;
  issue: string;
  type: string;
}

/** A refinery MERGE_FAILED nudge (anywhere in the line, after a `[nudge from ...]` prefix), or null. */
export function parseMergeFailed(text: string): MergeFailed | null {
  const m = /\bMERGE_FAILED:?\s+branch=(\S+)\s+issue=(\S+)(?:\s+type=([A-Za-z_-]+))?/.exec(text);
  if (!m) return null;
  const [, branch, issue, type] = m;
  if (branch.startsWith('-') || /[\s~^:?*[\\]|\.\./.test(branch)) return null;
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(issue)) return null;
  return { branch, issue, type: (type ?? 'gate').toLowerCase() };
}

/** Files the bad-commit fault leaves (`GT_BAD_COMMIT-<step>.txt`), by their basename. */
export const BAD_COMMIT_RE = /(^|\/)GT_BAD_COMMIT-[^/]*\.txt$/;

class ScriptedAgent {
  private readonly env: NodeJS.ProcessEnv;
  private readonly out: NodeJS.WritableStream;
  private readonly input: NodeJS.ReadableStream;
  private rl: readline.Interface | null = null;
  private queue: string[] = [];
  private wake: (() => void) | null = null;
  private atPrompt = false;
  private exitCode: number | null = null;
  private readonly finished = new Set<string>();
  /** Steps this process has closed (a step in progress before the first one is a resume). */
  private closedHere = 0;
  /** Hooked beads without a molecule whose command this process ran. */
  private readonly ranHere = new Set<string>();
  /** MERGE_FAILED nudges not yet handled (worked when the agent is idle). */
  private readonly mergeFailures: MergeFailed[] = [];

  town = '';
  id!: Identity;
  actor = '';
  workDir = '';
  key = '';
  rigPrefix: string | undefined;
  faults = new Map<string, FaultKind>();
  doneCmd: string[] | null = null;
  stepDelay = 250;
  pollMs = 2000;
  exitIdle = false;

  constructor(readonly opts: ScriptedAgentOptions) {
    this.env = opts.env ?? process.env;
    this.out = opts.output ?? process.stdout;
    this.input = opts.input ?? process.stdin;
  }

  // ---- output ------------------------------------------------------------------------------

  say(text: string): void {
    this.out.write(`${this.atPrompt ? '\n' : ''}${text}\n`);
    this.atPrompt = false;
  }

  prompt(): void {
    if (this.atPrompt) return;
    this.out.write(PROMPT);
    this.atPrompt = true;
  }

  // ---- input -------------------------------------------------------------------------------

  private startInput(): void {
    this.rl = readline.createInterface({ input: this.input, terminal: false });
    this.rl.on('line', (line) => {
      this.queue.push(line);
      this.wake?.();
    });
  }

  private stopInput(): void {
    this.rl?.close();
    this.rl = null;
    const s = this.input as NodeJS.ReadableStream & { pause?: () => void; unref?: () => void };
    s.pause?.();
    s.unref?.();
  }

  /** Wait up to `ms` for an input line; null on timeout. */
  private waitLine(ms: number): Promise<string | null> {
    if (this.queue.length) return Promise.resolve(this.queue.shift()!);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null;
        resolve(null);
      }, ms);
      this.wake = () => {
        if (!this.queue.length) return;
        clearTimeout(timer);
        this.wake = null;
        resolve(this.queue.shift()!);
      };
    });
  }

  /** Handle one line of input. */
  private handleLine(raw: string): LineAction {
    const text = raw.trim();
    if (!text) return 'none';
    const word = text.toLowerCase();
    if (word === 'handoff') {
      this.say('🤝 handoff: exiting so a fresh session continues from the molecule');
      this.heartbeat('exiting');
      this.exitCode = 0;
      return 'exit';
    }
    if (word === 'quit' || word === 'exit') {
      this.say('bye');
      this.heartbeat('exiting');
      this.exitCode = 0;
      return 'exit';
    }
    if (word === 'status') {
      this.say(this.statusLine());
      return 'none';
    }
    this.say(`nudge: ${text}`);
    this.recordNudge(text);
    const mf = parseMergeFailed(text);
    if (mf && !this.mergeFailures.some((x) => x.branch === mf.branch && x.issue === mf.issue))
      this.mergeFailures.push(mf);
    return 'nudge';
  }

  /** Handle queued lines and wait `ms` with the prompt up; returns what the lines asked for. */
  private async pause(ms: number): Promise<LineAction> {
    let result: LineAction = 'none';
    const until = Date.now() + ms;
    for (;;) {
      const left = until - Date.now();
      const line = this.queue.length ? this.queue.shift()! : left > 0 ? await this.waitLine(left) : null;
      if (line === null) return result;
      const a = this.handleLine(line);
      if (a === 'exit') return a;
      if (a === 'nudge') result = 'nudge';
      this.prompt();
    }
  }

  // ---- operational plane -------------------------------------------------------------------

  heartbeat(state: 'working' | 'idle' | 'stuck' | 'exiting', extra: { step?: string; bead?: string } = {}) {
    const now = new Date().toISOString();
    try {
      writeFileAtomic(
        path.join(townPaths(this.town).runtimeDir, 'heartbeats', `${this.key}.json`),
        `${JSON.stringify({
          time: now,
          timestamp: now,
          state,
          step: extra.step ?? null,
          bead: extra.bead ?? null,
          actor: this.actor,
          session: this.env.GT_SESSION ?? null,
          agent: 'scripted',
          pid: process.pid,
        })}\n`,
      );
    } catch {
      // heartbeats are best effort
    }
  }

  private recordNudge(text: string): void {
    try {
      const dir = path.join(townPaths(this.town).runtimeDir, 'scripted', this.key);
      fs.mkdirSync(dir, { recursive: true });
      fs.appendFileSync(
        path.join(dir, 'nudges.jsonl'),
        `${JSON.stringify({ time: new Date().toISOString(), actor: this.actor, text })}\n`,
      );
    } catch {
      // best effort, like heartbeats
    }
  }

  // ---- ledger ------------------------------------------------------------------------------

  private openStore(): BeadStore {
    return BeadStore.open(this.town, { actor: this.actor });
  }

  private setAgentState(
    store: BeadStore,
    hook: Hook | null,
    state: AgentState,
    why: string,
    extra: Partial<AgentMeta> = {},
  ): void {
    const g = store.graph();
    const known = hook?.agentBeadId ? g.byId.get(hook.agentBeadId) : undefined;
    const same = (k: string, v: unknown) => (known ? agentMeta(known)[k] === v : false);
    if (same('agent_state', state) && Object.entries(extra).every(([k, v]) => same(k, v))) return;
    store.transact(`${this.actor}: ${why}`, (tx) => {
      const agent = hook?.agentBeadId
        ? tx.must(hook.agentBeadId)
        : ensureAgentBead(tx, this.id, this.rigPrefix);
      updateAgentMeta(tx, agent.id, { ...extra, agent_state: state });
      tx.note(`agent ${agent.id}: ${state}`);
    });
  }

  private statusLine(): string {
    try {
      const store = this.openStore();
      try {
        const hook = findHook(store, this.actor);
        if (!hook) return `status: ${this.actor} idle, nothing on the hook`;
        if (!hook.molecule) return `status: ${this.actor} on ${hook.bead.id} (no molecule)`;
        const p = progressOf(store, hook.molecule, this.workDir);
        const cur = this.pickStep(store, p);
        return `status: ${this.actor} on ${hook.bead.id}, molecule ${p.molecule_id} ${p.completed}/${p.total}${p.complete ? ' complete' : cur ? `, at ${cur.id} ${cur.title}` : ''}`;
      } finally {
        store.flush();
      }
    } catch (e: any) {
      return `status: error: ${e.message}`;
    }
  }

  /** The step to work: one already in progress for me, else the first ready one. */
  private pickStep(store: BeadStore, p: MoleculeProgress): StepProgress | null {
    const g = store.graph();
    const mine = p.steps.find((s) => s.state === 'current' && g.byId.get(s.id)?.assignee === this.actor);
    if (mine) return mine;
    return (
      readySteps(p).find((s) => !g.byId.get(s.id)?.assignee || g.byId.get(s.id)?.assignee === this.actor) ??
      null
    );
  }

  // ---- git in the worktree -----------------------------------------------------------------

  private identityArgs: string[] | null = null;

  /**
   * git in the worktree (argument arrays only). Commits are authored from the environment
   * (GIT_AUTHOR_NAME/EMAIL, set in every agent session); a repository with no identity at all
   * gets the agent's own as a fallback, so a commit never fails for want of a name.
   */
  private git(args: string[]) {
    if (!this.identityArgs) {
      const get = (key: string) =>
        spawnSync('git', ['config', '--get', key], {
          cwd: this.workDir,
          env: this.env,
          encoding: 'utf8',
        }).stdout?.trim();
      this.identityArgs = [];
      if (!get('user.name')) this.identityArgs.push('-c', `user.name=${this.id.name ?? this.actor}`);
      if (!get('user.email'))
        this.identityArgs.push(
          '-c',
          `user.email=${this.actor.replace(/[^A-Za-z0-9._-]+/g, '.')}@gastown.local`,
        );
    }
    return spawnSync('git', [...this.identityArgs, ...args], {
      cwd: this.workDir,
      env: this.env,
      encoding: 'utf8',
    });
  }

  /** Commit everything that changed in the worktree; returns the new commit, or null if clean. */
  private commitAll(message: string): string | null {
    const status = this.git(['status', '--porcelain']);
    if (status.status !== 0)
      throw new GtError(`git status in ${this.workDir} failed: ${status.stderr.trim()}`);
    if (!status.stdout.trim()) return null;
    const add = this.git(['add', '-A']);
    if (add.status !== 0) throw new GtError(`git add failed in ${this.workDir}: ${add.stderr.trim()}`);
    const commit = this.git(['commit', '-q', '-m', message]);
    if (commit.status !== 0)
      throw new GtError(`git commit failed in ${this.workDir}: ${(commit.stderr || commit.stdout).trim()}`);
    return this.git(['rev-parse', '--short', 'HEAD']).stdout.trim();
  }

  /**
   * Run a step's command. The text comes from a formula (`run = "..."`), which is configuration
   * the town's owner wrote, not data from users; it is the one place this program hands a
   * string to a shell, on purpose: a step command is a shell command line.
   */
  private runCommand(command: string, extraEnv: Record<string, string>): Promise<RunResult> {
    return new Promise((resolve) => {
      let tail = '';
      const keep = (d: Buffer) => {
        const s = d.toString('utf8');
        this.out.write(s);
        tail = (tail + s).slice(-4000);
      };
      const child = spawn('/bin/sh', ['-c', command], {
        cwd: this.workDir,
        env: { ...this.env, ...extraEnv },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout.on('data', keep);
      child.stderr.on('data', keep);
      child.on('error', (e) => resolve({ code: 127, tail: `${tail}${e.message}` }));
      child.on('close', (code, signal) => {
        if (tail && !tail.endsWith('\n')) this.out.write('\n');
        resolve({ code: code ?? (signal ? 128 : 1), tail: tail.split('\n').slice(-20).join('\n').trim() });
      });
    });
  }

  // ---- the loop ----------------------------------------------------------------------------

  /** A fault from GT_SCRIPTED_FAIL, or from the hooked bead's `scripted_fail` metadata (same
   * syntax; lets one bead of many misbehave, as `gt demo` does). */
  private faultFor(step: StepProgress, molecule: string, beadFaults?: unknown): FaultKind | undefined {
    let faults = this.faults;
    if (typeof beadFaults === 'string') {
      try {
        faults = new Map([...this.faults, ...parseFaults(beadFaults)]);
      } catch (e) {
        this.say(`ignoring the bead's scripted_fail: ${(e as Error).message}`);
      }
    }
    const names = [
      step.id,
      step.step,
      step.id.startsWith(`${molecule}.`) ? step.id.slice(molecule.length + 1) : undefined,
    ];
    for (const n of names) if (n && faults.has(n)) return faults.get(n);
    return undefined;
  }

  /** Stuck: wait (heartbeat `stuck`) until a nudge says retry, or `handoff`/`quit` say exit. */
  private async waitForNudge(where: { step?: string; bead?: string }): Promise<'exit' | 'retry'> {
    for (;;) {
      this.heartbeat('stuck', where);
      this.prompt();
      const line = await this.waitLine(this.pollMs);
      if (line === null) continue;
      const a = this.handleLine(line);
      if (a === 'exit') return 'exit';
      if (a === 'nudge') return 'retry';
      this.prompt();
    }
  }

  /** Wait for input (or the poll interval): what the input asked for, or 'poll' on timeout. */
  private async idle(reason: string): Promise<'exit' | 'nudge' | 'poll'> {
    this.heartbeat('idle');
    if (this.exitIdle) {
      this.say(`${reason}; exiting (GT_SCRIPTED_EXIT_IDLE)`);
      this.exitCode = 0;
      return 'exit';
    }
    this.prompt();
    const line = await this.waitLine(this.pollMs);
    if (line === null) return 'poll';
    const a = this.handleLine(line);
    if (a === 'exit') return 'exit';
    this.prompt();
    return a === 'nudge' ? 'nudge' : 'poll';
  }

  async main(): Promise<number> {
    const town = this.env.GT_ROOT ? path.resolve(this.env.GT_ROOT) : findTownRoot(this.opts.cwd);
    if (!town) {
      this.say(`scripted agent: not inside a Gas Town (${this.opts.cwd}); run it in an agent's directory`);
      return 1;
    }
    this.town = town;
    this.id = detectIdentity(town, this.opts.cwd, this.env);
    this.actor = actorOf(this.id);
    const rigs = readJsonOr<RigsJson>(townPaths(town).rigsJson, 'mayor/rigs.json', { version: 1, rigs: {} });
    this.rigPrefix = this.id.rig ? rigs.rigs?.[this.id.rig]?.beads?.prefix : undefined;
    const own = workDirOf(this.id, town);
    this.workDir = this.env.GT_POLECAT_PATH || (fs.existsSync(own) ? own : this.opts.cwd);
    const session = this.env.GT_SESSION;
    this.key = session && /^[A-Za-z0-9._-]+$/.test(session) ? session : this.actor.replace(/\//g, '-');
    this.faults = parseFaults(this.env.GT_SCRIPTED_FAIL);
    this.doneCmd = parseDoneCmd(this.env.GT_SCRIPTED_DONE_CMD);
    this.stepDelay = msOpt(this.env, 'GT_SCRIPTED_STEP_DELAY_MS', 250);
    this.pollMs = Math.max(10, msOpt(this.env, 'GT_SCRIPTED_POLL_MS', 2000));
    this.exitIdle = this.env.GT_SCRIPTED_EXIT_IDLE === '1';
    await loadCodec();

    this.say(`[scripted agent] ${this.actor} (${this.id.role}) in ${this.workDir}`);
    this.say(
      '[scripted agent] a built-in agent with no LLM: it works the molecule on its hook, step by step',
    );
    {
      const store = this.openStore();
      try {
        this.say(
          renderPrime(
            buildPrime(store, { townRoot: town, cwd: this.workDir, env: this.env, identity: this.id }),
          ),
        );
      } finally {
        store.flush();
      }
    }
    this.startInput();
    try {
      // Ready: the prompt shows at once (readiness detection), and early input is read.
      this.heartbeat('idle');
      this.prompt();
      if ((await this.pause(this.stepDelay)) === 'exit') return this.exitCode ?? 0;
      return await this.loop();
    } finally {
      this.stopInput();
    }
  }

  private async loop(): Promise<number> {
    let announcedIdle = false;
    for (;;) {
      if (this.exitCode !== null) return this.exitCode;
      const store = this.openStore();
      let next: 'exit' | 'again';
      try {
        const hook = findHook(store, this.actor);
        if (this.mergeFailures.length && (!hook || this.isFinished(store, hook))) {
          next = await this.resubmit(this.mergeFailures.shift()!);
          announcedIdle = false;
        } else if (!hook) {
          if (!announcedIdle) this.say(`Nothing on ${this.actor}'s hook; waiting for work.`);
          announcedIdle = true;
          next = (await this.idle('nothing on the hook')) === 'exit' ? 'exit' : 'again';
        } else {
          announcedIdle = false;
          next = await this.work(store, hook);
          if (next === 'again' && this.isFinished(store, hook)) {
            announcedIdle = true;
            next = (await this.idle('work finished')) === 'exit' ? 'exit' : 'again';
          }
        }
      } finally {
        store.flush();
      }
      if (next === 'exit') return this.exitCode ?? 0;
    }
  }

  private finishKey(hook: Hook): string {
    return `${hook.bead.id}/${hook.molecule ?? ''}`;
  }

  private isFinished(store: BeadStore, hook: Hook): boolean {
    if (this.finished.has(this.finishKey(hook))) return true;
    // A previous process finished it without `gt done` (the fallback): do not finish twice.
    const agent = hook.agentBeadId ? store.graph().byId.get(hook.agentBeadId) : undefined;
    const meta = agent ? agentMeta(agent) : null;
    return !!meta && meta.agent_state === 'done' && meta.hook_bead === hook.bead.id;
  }

  /** One pass over the hooked work: one step, or the finish. */
  private async work(store: BeadStore, hook: Hook): Promise<'exit' | 'again'> {
    if (this.isFinished(store, hook)) return 'again';
    if (!hook.molecule) {
      // No molecule: the bead is one step. Its command has no durable done state, so a fresh
      // process runs it again (bead commands should be idempotent); this process runs it once.
      const run = typeof hook.bead.metadata?.run === 'string' ? hook.bead.metadata.run.trim() : '';
      if (run && !this.ranHere.has(hook.bead.id)) {
        this.say(`▶ ${hook.bead.id}: ${hook.bead.title}`);
        const ok = await this.runStep(store, hook, null, run, hook.bead.id, hook.bead.title);
        if (ok !== 'ok') return ok === 'exit' ? 'exit' : 'again';
        this.ranHere.add(hook.bead.id);
      }
      return this.finish(store, hook, null);
    }
    const p = progressOf(store, hook.molecule, this.workDir);
    if (p.complete) return this.finish(store, hook, p);
    const step = this.pickStep(store, p);
    if (!step) {
      const r = await this.idle(`molecule ${p.molecule_id}: no step is ready (waiting on gates or others)`);
      return r === 'exit' ? 'exit' : 'again';
    }
    const root = store.summary(hook.molecule);
    const virtual = !!root && !!rootOnlyInfo(root);
    const alreadyMine = step.state === 'current';
    if (!virtual && !alreadyMine) {
      try {
        store.transact(`claim ${step.id} for ${this.actor}`, (tx) => {
          const b = tx.must(step.id);
          claim(tx, b, this.actor);
          tx.put(b);
          tx.note(`claim ${step.id} for ${this.actor} (molecule ${hook.molecule})`);
          const agent = hook.agentBeadId
            ? tx.get(hook.agentBeadId)
            : ensureAgentBead(tx, this.id, this.rigPrefix);
          if (agent && agentMeta(agent).agent_state !== 'working')
            updateAgentMeta(tx, agent.id, { agent_state: 'working' });
        });
      } catch (e: any) {
        this.say(`could not claim ${step.id}: ${e.message}`);
        return (await this.pause(this.pollMs)) === 'exit' ? 'exit' : 'again';
      }
    } else {
      // Resuming (or a root-only wisp, whose steps have no status): say we are working again.
      this.setAgentState(store, hook, 'working', `working on ${step.id}`);
    }
    this.heartbeat('working', { step: step.id, bead: hook.bead.id });
    this.say(
      `▶ step ${p.completed + 1}/${p.total} ${step.id}${step.step ? ` [${step.step}]` : ''}: ${step.title}${alreadyMine && this.closedHere === 0 ? ' (resuming)' : ''}`,
    );
    const fault = this.faultFor(step, hook.molecule, hook.bead.metadata?.scripted_fail);
    if (fault === 'exit') {
      this.say(`GT_SCRIPTED_FAIL: exiting with code ${EXIT_FAULT} at ${step.id}`);
      this.heartbeat('exiting', { step: step.id, bead: hook.bead.id });
      this.exitCode = EXIT_FAULT;
      return 'exit';
    }
    if (fault === 'hang') {
      this.say(`GT_SCRIPTED_FAIL: hanging at ${step.id} (no input, no heartbeats from now on)`);
      this.stopInput();
      await new Promise<never>(() => {
        setInterval(() => {}, 1 << 30);
      });
    }
    const r = await this.runStep(
      store,
      hook,
      step,
      step.run?.trim() ?? '',
      step.id,
      step.title,
      fault === 'bad-commit',
    );
    if (r !== 'ok') return r === 'exit' ? 'exit' : 'again';
    // Close it and claim the next one: one ledger commit (a wisp file for root-only wisps).
    if (virtual) {
      const proto = rootOnlyProto(store, hook.molecule, this.workDir)!;
      markVirtualSteps(store, hook.molecule, proto, [step.id.slice(hook.molecule.length + 1)]);
    } else {
      closeStep(store, step.id, { reason: 'done (scripted agent)', claimNext: true });
    }
    this.closedHere++;
    this.say(`✓ ${step.id} closed`);
    const a = await this.betweenSteps();
    return a === 'exit' ? 'exit' : 'again';
  }

  /** The idle prompt, briefly, between steps (idle detection, and a window for input). */
  private async betweenSteps(): Promise<LineAction> {
    this.heartbeat('idle');
    this.prompt();
    return this.pause(this.stepDelay);
  }

  /**
   * Run a step's command and commit what it changed. On failure the step stays open, a comment
   * says what failed, and the agent waits: a nudge retries, `handoff`/`quit` exit.
   */
  private async runStep(
    store: BeadStore,
    hook: Hook,
    step: StepProgress | null,
    command: string,
    stepId: string,
    title: string,
    badCommit = false,
  ): Promise<'ok' | 'exit' | 'retry'> {
    if (command) {
      this.say(`$ ${command}`);
      const r = await this.runCommand(command, {
        GT_STEP_ID: stepId,
        GT_STEP: step?.step ?? '',
        GT_MOLECULE: hook.molecule ?? '',
        GT_HOOK_BEAD: hook.bead.id,
        GT_WORKTREE: this.workDir,
      });
      if (r.code !== 0) {
        this.say(`✗ ${stepId} failed: \`${command}\` exited ${r.code}`);
        const commentOn =
          step && hook.molecule && step.id.startsWith(`${hook.molecule}.`) && !store.summary(step.id)
            ? hook.molecule
            : stepId;
        store.transact(`${this.actor}: step ${stepId} failed`, (tx) => {
          const b = tx.must(commentOn);
          addComment(
            tx,
            b,
            `Step ${stepId} failed: \`${command}\` exited ${r.code} in ${this.workDir}.${r.tail ? `\n\n\`\`\`\n${r.tail}\n\`\`\`` : ''}`,
          );
          tx.put(b);
          tx.note(`comment on ${commentOn}: step failed (exit ${r.code})`);
          const agent = hook.agentBeadId
            ? tx.get(hook.agentBeadId)
            : ensureAgentBead(tx, this.id, this.rigPrefix);
          if (agent && agentMeta(agent).agent_state !== 'stuck')
            updateAgentMeta(tx, agent.id, { agent_state: 'stuck' });
        });
        this.say('Stopped. Fix the cause, then nudge me (any line) to retry the step.');
        return this.waitForNudge({ step: stepId, bead: hook.bead.id });
      }
    }
    if (badCommit && this.fireOnce(`bad-commit:${hook.bead.id}:${step?.step ?? stepId}`)) {
      const safe = (step?.step ?? stepId).replace(/[^A-Za-z0-9._-]+/g, '_');
      fs.writeFileSync(
        path.join(this.workDir, `GT_BAD_COMMIT-${safe}.txt`),
        '<<<<<<< ours (GT_SCRIPTED_FAIL=bad-commit)\nleft side\n=======\nright side\n>>>>>>> theirs\n',
      );
      this.say('GT_SCRIPTED_FAIL: committing a file with leftover conflict markers');
    }
    const sha = this.commitAll(`${title} (${hook.bead.id})`);
    if (sha) this.say(`committed ${sha}: ${title} (${hook.bead.id})`);
    return 'ok';
  }

  /**
   * True the first time `key` is asked for in this town (recorded atomically under
   * `.runtime/scripted/faults-fired.json`), so a fault is injected once per issue and step.
   */
  private fireOnce(key: string): boolean {
    const file = path.join(townPaths(this.town).runtimeDir, 'scripted', 'faults-fired.json');
    let fired: string[] = [];
    try {
      const v = JSON.parse(fs.readFileSync(file, 'utf8'));
      if (Array.isArray(v)) fired = v.filter((x) => typeof x === 'string');
    } catch {
      // none yet
    }
    if (fired.includes(key)) {
      this.say(`GT_SCRIPTED_FAIL: ${key} already happened once; not again`);
      return false;
    }
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
      writeFileAtomic(file, `${JSON.stringify([...fired, key])}\n`);
    } catch {
      // best effort: the fault still happens this time
    }
    return true;
  }

  /** The finishing command's argv after `gt` (or GT_SCRIPTED_DONE_CMD) with extra arguments. */
  private async runFinish(extra: string[]): Promise<number> {
    if (this.doneCmd) {
      const argv = [...this.doneCmd, ...extra];
      this.say(`$ ${argv.map((a) => JSON.stringify(a)).join(' ')}`);
      return this.runArgv(argv);
    }
    this.say(`$ gt done${extra.length ? ` ${extra.join(' ')}` : ''}`);
    const { gtProgram } = await import('../cli/gt/program.ts');
    const { runProgram } = await import('../cli/framework.ts');
    return runProgram(gtProgram, ['done', ...extra], this.workDir);
  }

  /**
   * A merge of my work failed: back on the branch, the deterministic fix (rebase onto the target
   * for a conflict; remove the files my bad-commit fault left), a commit, and the finishing
   * command with `--issue`, which files a new MR superseding the failed one.
   */
  private async resubmit(mf: MergeFailed): Promise<'exit' | 'again'> {
    this.say(`↻ MERGE_FAILED (${mf.type}) for ${mf.issue}: fixing ${mf.branch} and resubmitting`);
    this.heartbeat('working', { bead: mf.issue, step: 'resubmit' });
    const fail = async (why: string): Promise<'exit' | 'again'> => {
      this.say(`✗ cannot resubmit ${mf.issue}: ${why}`);
      this.heartbeat('stuck', { bead: mf.issue, step: 'resubmit' });
      return 'again';
    };
    const st = this.git(['status', '--porcelain']);
    if (st.status !== 0) return fail(`git status failed: ${st.stderr.trim()}`);
    if (st.stdout.trim()) return fail(`uncommitted changes in ${this.workDir}; clean them first`);
    const co = this.git(['checkout', '-q', mf.branch, '--']);
    if (co.status !== 0) return fail(`git checkout ${mf.branch} failed: ${co.stderr.trim()}`);
    if (mf.type === 'conflict') {
      const target = this.mergeTarget(mf.issue);
      const rb = this.git(['rebase', '-q', `refs/heads/${target}`]);
      if (rb.status !== 0) {
        this.git(['rebase', '--abort']);
        return fail(`rebase onto ${target} conflicts; it needs a human (or a smarter agent)`);
      }
      this.say(`rebased ${mf.branch} onto ${target}`);
    }
    const ls = this.git(['ls-files', '-z']);
    const bad = ls.stdout.split('\0').filter((f) => f && BAD_COMMIT_RE.test(f));
    if (bad.length) {
      const rm = this.git(['rm', '-q', '--', ...bad]);
      if (rm.status !== 0) return fail(`git rm failed: ${rm.stderr.trim()}`);
      this.say(`removed ${bad.join(', ')}`);
    }
    const sha = this.commitAll(`Fix: ${mf.type} failure (${mf.issue})`);
    if (sha) this.say(`committed ${sha}: Fix: ${mf.type} failure (${mf.issue})`);
    else this.say('nothing of mine to fix; resubmitting the same work');
    const code = await this.runFinish(['--issue', mf.issue]);
    if (code !== 0) return fail(`the finishing command exited ${code}`);
    this.say(`Resubmitted ${mf.issue}. Waiting for the next job.`);
    this.heartbeat('idle');
    return 'again';
  }

  /** Where the issue's work merges: its active MR's target, else the rig's default branch. */
  private mergeTarget(issue: string): string {
    try {
      const store = this.openStore();
      try {
        const meta = (store.get(issue)?.metadata ?? {}) as Record<string, unknown>;
        const mr = typeof meta.active_mr === 'string' ? store.get(meta.active_mr) : null;
        const t = (mr?.metadata as Record<string, unknown> | undefined)?.target;
        if (typeof t === 'string' && t) return t;
      } finally {
        store.flush();
      }
    } catch {
      // fall back below
    }
    try {
      if (this.id.rig) return getRig(this.town, this.id.rig).default_branch;
    } catch {
      // not a registered rig: the usual name
    }
    return 'main';
  }

  /** The molecule is complete: `gt done`, or GT_SCRIPTED_DONE_CMD, or the fallback. */
  private async finish(store: BeadStore, hook: Hook, p: MoleculeProgress | null): Promise<'exit' | 'again'> {
    this.say(
      `✓ work complete: ${hook.bead.id}${p ? ` (molecule ${p.molecule_id}: ${p.completed}/${p.total} steps)` : ''}`,
    );
    this.heartbeat('working', { bead: hook.bead.id, step: 'done' });
    let code: number;
    if (this.doneCmd) {
      this.say(`$ ${this.doneCmd.map((a) => JSON.stringify(a)).join(' ')}`);
      code = await this.runArgv(this.doneCmd);
    } else {
      const { gtProgram } = await import('../cli/gt/program.ts');
      if (gtProgram.commands.some((c) => c.name === 'done')) {
        this.say('$ gt done');
        const { runProgram } = await import('../cli/framework.ts');
        code = await runProgram(gtProgram, ['done'], this.workDir);
      } else {
        this.say('`gt done` is not available in this gt; the work is complete: agent state set to done.');
        this.setAgentState(store, hook, 'done', `${hook.bead.id} complete`, { hook_bead: hook.bead.id });
        code = 0;
      }
    }
    if (code !== 0) {
      if (this.exitIdle) {
        // Nobody will nudge a run that exits when idle: report the failure as the exit code.
        this.say(`✗ the finishing command exited ${code}; exiting (GT_SCRIPTED_EXIT_IDLE)`);
        this.exitCode = code;
        return 'exit';
      }
      this.say(`✗ the finishing command exited ${code}; nudge me (any line) to retry it`);
      return (await this.waitForNudge({ step: 'done', bead: hook.bead.id })) === 'exit' ? 'exit' : 'again';
    }
    this.finished.add(this.finishKey(hook));
    this.say('Finished. Waiting for the next job.');
    return 'again';
  }

  /** Run an argv (no shell) in the worktree, streaming its output. */
  private runArgv(argv: string[]): Promise<number> {
    return new Promise((resolve) => {
      const child = spawn(argv[0], argv.slice(1), {
        cwd: this.workDir,
        env: this.env,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout.on('data', (d) => this.out.write(d));
      child.stderr.on('data', (d) => this.out.write(d));
      child.on('error', (e) => {
        this.say(`cannot run ${argv[0]}: ${e.message}`);
        resolve(127);
      });
      child.on('close', (c, signal) => resolve(c ?? (signal ? 128 : 1)));
    });
  }
}

/** Run the scripted agent until it exits; returns its exit code. */
export async function runScriptedAgent(opts: ScriptedAgentOptions): Promise<number> {
  const agent = new ScriptedAgent(opts);
  try {
    return await agent.main();
  } catch (e: any) {
    agent.say(`scripted agent: ${e?.message ?? e}`);
    return e instanceof GtError ? e.exitCode : 1;
  }
}
