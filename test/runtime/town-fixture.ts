// A town for prime and scripted-agent tests: `gt install`, a rig `myrig` (prefix mr) registered
// by hand, role directories, a polecat worktree with its own repository, a small test formula,
// and work hooked to the polecat with its molecule (poured or a root-only wisp).
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BeadStore } from '../../src/beads/store.ts';
import { loadCodec } from '../../src/ledger/codec.ts';
import { attachHook } from '../../src/work/hook.ts';
import { BD, GT, run, testEnv, tmpDir } from '../helpers.ts';

export const POLECAT = 'myrig/polecats/nux';

/** Steps a..d: a and c write files, b has no command, d runs but changes nothing. */
export const TEST_FORMULA = `formula = "test-work"
version = 1
type = "workflow"

[vars.tag]
default = "x"

[[steps]]
id = "a"
title = "Write one"
run = "echo one > one.txt && echo a >> \\"$RUNLOG\\""

[[steps]]
id = "b"
title = "Think it over"
needs = ["a"]

[[steps]]
id = "c"
title = "Write three"
needs = ["b"]
run = "echo three-{{tag}} > three.txt && echo c >> \\"$RUNLOG\\""

[[steps]]
id = "d"
title = "Check"
needs = ["c"]
run = "test -f one.txt && echo d >> \\"$RUNLOG\\""
`;

/** One step that fails until the file $FLAG exists. */
export const FAIL_FORMULA = `formula = "test-fail"
version = 1
type = "workflow"

[[steps]]
id = "guarded"
title = "Needs the flag"
run = "test -f \\"$FLAG\\" || { echo flag missing >&2; exit 7; }; echo ok > guarded.txt"
`;

export interface Town {
  base: string;
  town: string;
  env: NodeJS.ProcessEnv;
  worktree: string;
  runlog: string;
  gt(args: string[], opts?: { cwd?: string; env?: NodeJS.ProcessEnv }): ReturnType<typeof run>;
  bd(...args: string[]): ReturnType<typeof run>;
  ok(...args: string[]): any;
  wt(...args: string[]): string;
}

export function makeTown(): Town {
  const base = tmpDir('gt-prime-');
  const home = path.join(base, 'home');
  fs.mkdirSync(home);
  const env = testEnv(home);
  const town = path.join(base, 'town');
  const inst = run(GT, ['install', town], { cwd: base, env });
  if (inst.code !== 0) throw new Error(`gt install: ${inst.stderr}`);
  const rigsFile = path.join(town, 'mayor', 'rigs.json');
  const rigs = JSON.parse(fs.readFileSync(rigsFile, 'utf8'));
  rigs.rigs.myrig = { git_url: '/nowhere', added_at: new Date().toISOString(), beads: { prefix: 'mr' } };
  fs.writeFileSync(rigsFile, JSON.stringify(rigs, null, 2));
  for (const d of ['myrig/witness', 'myrig/refinery/rig', 'myrig/crew/max', 'deacon/dogs/rex']) {
    fs.mkdirSync(path.join(town, d), { recursive: true });
  }
  fs.writeFileSync(path.join(town, 'formulas', 'test-work.formula.toml'), TEST_FORMULA);
  fs.writeFileSync(path.join(town, 'formulas', 'test-fail.formula.toml'), FAIL_FORMULA);
  const worktree = path.join(town, 'myrig', 'polecats', 'nux', 'myrig');
  fs.mkdirSync(worktree, { recursive: true });
  const wt = (...args: string[]) => {
    const r = spawnSync('git', args, { cwd: worktree, env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  wt('init', '-q', '-b', 'main');
  wt('config', 'gc.auto', '0');
  fs.writeFileSync(path.join(worktree, 'README.md'), '# myrig\n');
  wt('add', 'README.md');
  wt('commit', '-q', '-m', 'initial');
  const bd = (...args: string[]) => run(BD, args, { cwd: town, env });
  const ok = (...args: string[]) => {
    const r = bd(...args);
    if (r.code !== 0) throw new Error(`bd ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
    return args.includes('--json') ? r.json() : r.stdout;
  };
  return {
    base,
    town,
    env,
    worktree,
    runlog: path.join(base, 'runlog'),
    gt: (args, opts = {}) => run(GT, args, { cwd: opts.cwd ?? town, env: opts.env ?? env }),
    bd,
    ok,
    wt,
  };
}

/**
 * A work bead with a molecule of `formula`, hooked to the polecat (in process, through
 * attachHook), and the worktree on the polecat branch for it. Returns the ids.
 */
export async function hookWork(
  t: Town,
  opts: { formula?: string; rootOnly?: boolean; title?: string; vars?: string[] } = {},
): Promise<{ work: string; molecule: string; steps: string[] }> {
  const formula = opts.formula ?? 'test-work';
  const work = t.ok(
    'create',
    opts.title ?? 'Make the files',
    '-d',
    'Write one.txt and three.txt',
    '--json',
  ).id;
  const vars = (opts.vars ?? []).flatMap((v) => ['--var', v]);
  const poured = opts.rootOnly
    ? t.ok('mol', 'wisp', formula, '--root-only', ...vars, '--json')
    : t.ok('mol', 'pour', formula, ...vars, '--json');
  const molecule = poured.new_epic_id as string;
  await attach(t, work, { molecule, formula });
  const branch = `polecat/nux/${work}@x`;
  if (t.wt('branch', '--show-current').trim() !== branch) t.wt('checkout', '-q', '-b', branch);
  const steps = opts.rootOnly
    ? []
    : Object.entries(poured.id_mapping as Record<string, string>)
        .filter(([k]) => k !== formula)
        .map(([, v]) => v);
  return { work, molecule, steps };
}

/** Hook a bead to the polecat in process (attachHook), as gt sling will. */
export async function attach(t: Town, work: string, opts: { molecule?: string; formula?: string } = {}) {
  await loadCodec();
  const store = BeadStore.open(t.town, { actor: 'mayor' });
  try {
    store.transact(`sling ${work}`, (tx) =>
      attachHook(tx, work, { role: 'polecat', rig: 'myrig', name: 'nux' }, { rigPrefix: 'mr', ...opts }),
    );
  } finally {
    store.flush();
  }
}

export interface AgentProc {
  child: ChildProcess;
  output(): string;
  send(line: string): void;
  waitFor(re: RegExp, ms?: number): Promise<RegExpMatchArray>;
  exited: Promise<number | null>;
  kill(): void;
}

const started: AgentProc[] = [];

/** Kill every agent a test left running (so a failed test cannot keep the file's process alive). */
export async function killAgents(): Promise<void> {
  for (const a of started.splice(0)) {
    if (a.child.exitCode === null && a.child.signalCode === null) a.kill();
    await a.exited;
  }
}

/** Start `gt agent scripted` as the polecat, stdin piped. */
export function startAgent(t: Town, extra: NodeJS.ProcessEnv = {}): AgentProc {
  const child = spawn(process.execPath, [GT, 'agent', 'scripted'], {
    cwd: t.worktree,
    env: {
      ...t.env,
      GT_ROLE: POLECAT,
      BD_ACTOR: POLECAT,
      GIT_AUTHOR_NAME: 'nux',
      GIT_AUTHOR_EMAIL: 'nux@myrig.test',
      RUNLOG: t.runlog,
      GT_SCRIPTED_STEP_DELAY_MS: '10',
      GT_SCRIPTED_POLL_MS: '100',
      ...extra,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const proc: AgentProc = {
    child,
    output: () => out,
    send: (line) => child.stdin!.write(`${line}\n`),
    exited,
    kill: () => child.kill('SIGKILL'),
    async waitFor(re, ms = 20000) {
      const until = Date.now() + ms;
      for (;;) {
        const m = out.match(re);
        if (m) return m;
        if (Date.now() > until) throw new Error(`timed out waiting for ${re}; output:\n${out}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
  };
  started.push(proc);
  return proc;
}

export function runlog(t: Town): string[] {
  return fs.existsSync(t.runlog) ? fs.readFileSync(t.runlog, 'utf8').split('\n').filter(Boolean) : [];
}
