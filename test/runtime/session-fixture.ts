// A town for the session tests: `gt install`, a rig `myrig` (prefix mr) registered by hand with
// its role directories, a fake agent preset (test/runtime/fixtures/fake-agent.mjs) as the
// default agent, and a tmux socket of its own that is killed when the test process exits.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { GT, ROOT, run, testEnv, tmpDir } from '../helpers.ts';

export const FAKE_AGENT = path.join(ROOT, 'test', 'runtime', 'fixtures', 'fake-agent.mjs');

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function until<T>(what: string, fn: () => T | undefined | null | false, ms = 10000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Kill a test's tmux server and remove its socket file (kill-server leaves it behind). */
export function killTmuxServer(socket: string): void {
  spawnSync('tmux', ['-L', socket, 'kill-server'], { stdio: 'ignore' });
  const dir = path.join(process.env.TMUX_TMPDIR || '/tmp', `tmux-${process.getuid?.() ?? 0}`);
  fs.rmSync(path.join(dir, socket), { force: true });
}

export function sessionTown(tag: string) {
  const socket = `gt-test-${tag}-${process.pid}`;
  const killServer = () => killTmuxServer(socket);
  process.on('exit', killServer);
  const base = tmpDir(`gt-${tag}-`);
  const home = path.join(base, 'home');
  const logDir = path.join(base, 'agent-logs');
  fs.mkdirSync(home);
  fs.mkdirSync(logDir);
  const env = testEnv(home, { GT_TMUX_SOCKET: socket });
  const town = path.join(base, 'town');
  const r = run(GT, ['install', town], { cwd: base, env });
  if (r.code !== 0) throw new Error(`gt install failed: ${r.stderr}`);

  // The rig, as `gt rig add` would leave it (registry entry and role directories).
  const rigsFile = path.join(town, 'mayor', 'rigs.json');
  const rigs = JSON.parse(fs.readFileSync(rigsFile, 'utf8'));
  rigs.rigs.myrig = {
    git_url: 'file:///nowhere',
    added_at: new Date().toISOString(),
    beads: { prefix: 'mr' },
  };
  fs.writeFileSync(rigsFile, `${JSON.stringify(rigs, null, 2)}\n`);
  for (const d of ['myrig/witness', 'myrig/refinery/rig', 'myrig/crew/bob', 'myrig/polecats/nux/myrig'])
    fs.mkdirSync(path.join(town, d), { recursive: true });

  const settingsFile = path.join(town, 'settings', 'config.json');
  const settings = JSON.parse(fs.readFileSync(settingsFile, 'utf8'));
  settings.default_agent = 'fake';
  settings.agents = {
    fake: {
      command: process.execPath,
      args: [FAKE_AGENT],
      env: { FAKE_AGENT_DIR: logDir },
      process_names: ['node'],
      ready_prompt_prefix: '❯ ',
    },
    // Runs, but not under a name its liveness check accepts: a zombie from the start.
    misnamed: {
      command: process.execPath,
      args: [FAKE_AGENT],
      env: { FAKE_AGENT_DIR: logDir },
      process_names: ['not-node'],
      ready_prompt_prefix: '❯ ',
    },
  };
  settings.operational = { session: { start_timeout: '15s' } };
  fs.writeFileSync(settingsFile, `${JSON.stringify(settings, null, 2)}\n`);

  const gt = (args: string[], o: { env?: NodeJS.ProcessEnv; cwd?: string } = {}) =>
    run(GT, args, { cwd: o.cwd ?? town, env: o.env ?? env });
  /** Run gt and require exit 0; parsed JSON when --json is given. */
  const ok = (...args: string[]) => {
    const res = gt(args);
    if (res.code !== 0)
      throw new Error(`gt ${args.join(' ')} exited ${res.code}: ${res.stderr}${res.stdout}`);
    return args.includes('--json') ? res.json() : res.stdout;
  };
  const events = (session: string): any[] => {
    const f = path.join(logDir, `${session}.jsonl`);
    if (!fs.existsSync(f)) return [];
    return fs
      .readFileSync(f, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l));
  };
  const ledgerCommits = () =>
    Number(
      spawnSync('git', ['rev-list', '--count', 'refs/gt/ledger'], {
        cwd: town,
        encoding: 'utf8',
      }).stdout.trim(),
    );
  return { socket, killServer, base, home, town, env, logDir, gt, ok, events, ledgerCommits };
}

export type SessionTown = ReturnType<typeof sessionTown>;
