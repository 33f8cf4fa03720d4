// The patrol daemon as a real detached process: one per town (a second start is refused with
// the pid), status, stop removes the pid file; a stale pid file (crash, kill -9) is recovered and
// the daemon resumes where it left off; a ledger change makes it act within a second or two while
// the heartbeat is a minute away (the watcher, not the tick); a part that throws is recorded and
// the others still run; a polecat branch pushed into a rig's .repo.git wakes that rig's refinery;
// `gt down` stops it.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DaemonLog } from '../../src/patrol/daemon.ts';
import { BD, GT, run, tmpDir } from '../helpers.ts';
import { addRig, polecat } from '../refinery/fixture.ts';
import { FAKE_AGENT, killTmuxServer } from '../runtime/session-fixture.ts';
import { makeTown, type Town } from '../town/town-fixture.ts';

const started: Town[] = [];

function town(extra: NodeJS.ProcessEnv = {}): Town {
  const t = makeTown({
    extraEnv: {
      GT_NO_MAINTENANCE: '1',
      GT_CFG_OPERATIONAL__DAEMON__HEARTBEAT: '60s',
      ...extra,
    },
  });
  started.push(t);
  return t;
}

const pidFile = (t: Town) => path.join(t.root, 'daemon', 'daemon.pid');
const status = (t: Town) => t.ok('daemon', 'status', '--json');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, fn: () => T | null | undefined | false, ms = 8000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** A live process (a zombie that nobody reaped yet counts as dead). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    return fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] !== 'Z';
  } catch {
    return true;
  }
}

function bdShow(t: Town, id: string): any {
  const j = t.bd('show', id, '--json').json();
  return Array.isArray(j) ? j[0] : j;
}

function logText(t: Town): string {
  return fs.readFileSync(path.join(t.root, 'daemon', 'daemon.log'), 'utf8');
}

function bead(t: Town, title: string): string {
  const r = t.bd('create', title, '--json');
  if (r.code !== 0) throw new Error(r.stderr);
  return r.json().id;
}

test.after.each(() => {
  // Never leave a daemon behind, whatever failed.
  for (const t of started.splice(0)) {
    try {
      const info = JSON.parse(fs.readFileSync(pidFile(t), 'utf8'));
      if (alive(info.pid)) process.kill(info.pid, 'SIGKILL');
    } catch {
      // no daemon
    }
  }
});

test('start, status, a second start refused with the pid, stop removes the pid file', () => {
  const t = town();
  const s0 = status(t);
  assert.is(s0.running, false);
  const st = t.ok('daemon', 'start', '--json');
  assert.ok(st.running && st.ready);
  assert.ok(alive(st.pid));
  const s = status(t);
  assert.is(s.running, true);
  assert.is(s.pid, st.pid);
  assert.ok(s.started);
  assert.is(s.heartbeat_ms, 60_000);
  assert.is(JSON.parse(fs.readFileSync(pidFile(t), 'utf8')).pid, st.pid);

  const again = t.gt('daemon', 'start');
  assert.is(again.code, 4);
  assert.match(again.stderr, new RegExp(`already running \\(pid ${st.pid}`));
  assert.is(status(t).pid, st.pid, 'the running daemon is untouched');
  // A foreground run is refused the same way and leaves the running daemon's files alone.
  const fg = t.gt('daemon', 'run');
  assert.is(fg.code, 4);
  assert.match(fg.stderr, new RegExp(`already running \\(pid ${st.pid}`));
  const s2 = status(t);
  assert.is(s2.pid, st.pid);
  assert.is(s2.ready, true);

  const stop = t.ok('daemon', 'stop', '--json');
  assert.is(stop.stopped, true);
  assert.is(stop.pid, st.pid);
  assert.not.ok(alive(st.pid));
  assert.not.ok(fs.existsSync(pidFile(t)));
  assert.is(status(t).running, false);
  assert.match(logText(t), /daemon stopped \(SIGTERM\)/);
  // Stopping again is fine.
  assert.is(t.ok('daemon', 'stop', '--json').stopped, false);
});

test('a ledger change makes the daemon act at once (convoy lands); a throwing part does not stop the others', async () => {
  // The refinery part throws on every tick (fault injection); the convoy part after it still runs.
  const t = town({ GT_FAULT_INJECT: 'daemon:refinery' });
  const id = bead(t, 'Small job');
  const cv = t.ok('convoy', 'create', 'Batch', id, '--json').id;
  t.ok('daemon', 'start');
  await waitFor('the first tick', () => status(t).ticks >= 1);
  assert.is(t.ok('convoy', 'status', cv, '--json').status, 'open');

  const before = status(t).ticks;
  const t0 = Date.now();
  assert.is(t.bd('close', id).code, 0);
  // The heartbeat is a minute away: only the ledger watcher can land it this soon.
  await waitFor('the convoy to land', () => t.ok('convoy', 'status', cv, '--json').status === 'closed', 5000);
  const took = Date.now() - t0;
  assert.ok(took < 5000);
  // That tick ends (state saved) after the landing is logged.
  const s = await waitFor('the tick to end', () => {
    const st = status(t);
    return st.ticks > before && logText(t).includes(`convoy ${cv} landed`) ? st : null;
  });
  assert.is(s.parts.refinery.last_ok, false);
  assert.match(s.parts.refinery.last_error, /injected fault at daemon:refinery/);
  assert.ok(s.parts.refinery.failures >= 2);
  assert.is(s.parts.convoy.last_ok, true);
  assert.match(logText(t), new RegExp(`convoy: convoy ${cv} landed`));
  assert.ok(s.parts.witness.runs >= 1, 'the startup tick ran every part');
  assert.ok(s.parts.scheduler.runs >= 2, 'a ledger change runs the scheduler too');
  assert.match(logText(t), /"level":"error","msg":"refinery failed: injected fault/);
  assert.match(logText(t), /\(ledger\)/);
  // The text status names the failing part.
  assert.match(t.ok('daemon', 'status'), /✗ refinery .*\n\s+last error .*injected fault/);
  t.ok('daemon', 'stop');
});

test('stale pid file recovered; kill -9 then start again resumes (work done while it was down lands)', async () => {
  const t = town();
  // A pid file whose process is gone.
  const dead = spawnSync(process.execPath, ['-e', 'process.pid'], { encoding: 'utf8' }).pid!;
  fs.mkdirSync(path.dirname(pidFile(t)), { recursive: true });
  fs.writeFileSync(pidFile(t), JSON.stringify({ pid: dead, host: os.hostname(), started: 'x' }));
  const s0 = status(t);
  assert.is(s0.running, false);
  assert.is(s0.stale_pid, dead);
  const st = t.ok('daemon', 'start', '--json');
  assert.is(st.recovered_stale_pid, dead);
  assert.match(logText(t), new RegExp(`recovered a stale pid file \\(pid ${dead}`));

  // kill -9: the pid file stays, pointing at a dead process.
  process.kill(st.pid, 'SIGKILL');
  await waitFor('the daemon to die', () => !alive(st.pid));
  assert.ok(fs.existsSync(pidFile(t)));
  assert.is(status(t).stale_pid, st.pid);
  // Work finished while it was down...
  const id = bead(t, 'Done while the daemon was down');
  const cv = t.ok('convoy', 'create', 'Offline', id, '--json').id;
  assert.is(t.bd('close', id).code, 0);
  // ...is picked up by the restarted daemon's first tick.
  const st2 = t.ok('daemon', 'start', '--json');
  assert.is(st2.recovered_stale_pid, st.pid);
  assert.is.not(st2.pid, st.pid);
  await waitFor('the convoy to land', () => t.ok('convoy', 'status', cv, '--json').status === 'closed');
  t.ok('daemon', 'stop');
  assert.not.ok(fs.existsSync(pidFile(t)));
});

test("a polecat branch pushed into a rig's .repo.git wakes that rig's refinery; gt down stops the daemon", async () => {
  const t = town();
  t.ok('rig', 'add', 'myrig', t.src);
  t.ok('daemon', 'start');
  await waitFor('the first tick', () => status(t).ticks >= 1);
  const runs = status(t).parts.refinery.runs;
  const mayor = path.join(t.root, 'myrig', 'mayor', 'rig');
  t.git(mayor, 'remote', 'set-url', 'origin', path.join(t.root, 'myrig', '.repo.git'));
  fs.writeFileSync(path.join(mayor, 'f.txt'), 'f\n');
  t.git(mayor, 'add', 'f.txt');
  t.git(mayor, 'commit', '-q', '-m', 'f');
  t.git(mayor, 'push', '-q', 'origin', 'HEAD:refs/heads/polecat/nux/my-ab1@m1');
  await waitFor('a refinery run', () => status(t).parts.refinery.runs > runs, 5000);
  const log = logText(t);
  assert.match(log, /tick \d+ \([^)]*(repo:myrig|wake:refinery-myrig)[^)]*\): refinery/);

  const down = t.gt('down', '--json');
  assert.is(down.code, 0, down.stderr);
  assert.is(down.json().daemon.stopped, true);
  assert.is(status(t).running, false);
  assert.not.ok(fs.existsSync(pidFile(t)));
});

test('the refinery holding a batch open is run again when the wait is over (no heartbeat needed)', async () => {
  const t = town();
  const rig = addRig(t, 'myrig');
  rig.set('merge_queue.auto_push', false);
  rig.set('merge_queue.batch.batch_wait_time', '2s');
  t.ok('daemon', 'start');
  await waitFor('the first tick', () => status(t).ticks >= 1);
  const p = polecat(t, rig, 'nux');
  p.commit('w.txt');
  const done = p.done();
  assert.is(done.code, 0, done.stderr);
  const mr = done.json.mr as string;
  await waitFor('the batch held open', () => /collecting a batch/.test(logText(t)), 5000);
  const t0 = Date.now();
  await waitFor('the MR merged', () => bdShow(t, mr).status === 'closed', 8000);
  assert.ok(Date.now() - t0 < 6000, 'merged within the wait, long before the 60 s heartbeat');
  assert.match(logText(t), /tick \d+ \(timer:refinery\): refinery/);
});

test('gt up starts the daemon with the sessions (once), gt down stops both', () => {
  const socket = `gt-test-daemon-up-${process.pid}`;
  const t = town({ GT_TMUX_SOCKET: socket });
  try {
    const up = t.ok('up', '--json');
    assert.is(up.daemon.action, 'started');
    assert.ok(status(t).running, 'the daemon runs');
    assert.is(status(t).pid, up.daemon.pid);
    const again = t.ok('up', '--json');
    assert.equal(again.daemon, { pid: up.daemon.pid, action: 'running' });
    const st = t.ok('status', '--json').daemon;
    assert.is(st.running, true);
    assert.is(st.pid, up.daemon.pid);
    assert.match(t.ok('status'), new RegExp(`daemon: running \\(pid ${up.daemon.pid}`));
    const down = t.ok('down', '--json');
    assert.is(down.daemon.stopped, true);
    assert.is(status(t).running, false);
    assert.is(t.ok('status', '--json').daemon.running, false);
    assert.is(t.ok('up', '--no-daemon', '--json').daemon.action, 'skipped');
    assert.is(status(t).running, false);
    t.ok('down');
  } finally {
    killTmuxServer(socket);
  }
});

test('the heartbeat ticks on its own (setting from the town settings); logs -n, --json and -f', async () => {
  const t = town();
  // The town setting (operational.daemon.heartbeat) with no env override.
  const env = { ...t.env };
  delete env.GT_CFG_OPERATIONAL__DAEMON__HEARTBEAT;
  const settings = path.join(t.root, 'settings', 'config.json');
  const cfg = JSON.parse(fs.readFileSync(settings, 'utf8'));
  cfg.operational = { daemon: { heartbeat: '300ms' } };
  fs.writeFileSync(settings, JSON.stringify(cfg));
  const r = run(GT, ['daemon', 'start', '--json'], { cwd: t.root, env });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json().heartbeat_ms, 300);
  await waitFor('three heartbeat ticks', () => status(t).ticks >= 4);
  assert.match(logText(t), /tick \d+ \(heartbeat\): witness, refinery, convoy/);

  const two = t.gt('daemon', 'logs', '-n', '2');
  assert.is(two.code, 0, two.stderr);
  const lines = two.stdout.trim().split('\n');
  assert.is(lines.length, 2);
  assert.match(lines[0], /^\d{4}-\d\d-\d\dT\S+Z (info|warn|error) /);
  const js = t.gt('daemon', 'logs', '-n', '3', '--json');
  const entries = js.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.is(entries.length, 3);
  assert.ok(entries.every((e) => e.ts && e.level && e.msg));
  assert.is(t.gt('daemon', 'logs', '-n', 'x').code, 2);

  // -f prints the new lines as they come, until interrupted.
  const follow = spawn(process.execPath, [GT, 'daemon', 'logs', '-n', '0', '-f'], { cwd: t.root, env });
  let out = '';
  follow.stdout.on('data', (d) => {
    out += d;
  });
  await waitFor('followed lines', () => /tick \d+ \(heartbeat\)/.test(out), 5000);
  follow.kill('SIGINT');
  const code = await new Promise((res) => follow.on('close', res));
  assert.is(code, 0);
  t.ok('daemon', 'stop');
});

test('a stranded convoy is fed: its next ready bead is slung to a polecat of its rig', async () => {
  const socket = `gt-test-daemon-${process.pid}`;
  process.on('exit', () => killTmuxServer(socket));
  // Cooldown 0: feed at first sight (by default it waits feed_stranded_cooldown, so a convoy
  // just created is not raced while its owner slings by hand).
  const t = town({ GT_TMUX_SOCKET: socket, GT_CFG_OPERATIONAL__DEACON__FEED_STRANDED_COOLDOWN: '0s' });
  t.ok('rig', 'add', 'myrig', t.src);
  const settingsFile = path.join(t.root, 'settings', 'config.json');
  const settings = JSON.parse(fs.readFileSync(settingsFile, 'utf8'));
  settings.default_agent = 'fake';
  settings.agents = {
    fake: {
      command: process.execPath,
      args: [FAKE_AGENT],
      env: { FAKE_AGENT_DIR: path.join(t.base, 'agent-logs') },
      process_names: ['node'],
      ready_prompt_prefix: '❯ ',
    },
  };
  fs.mkdirSync(path.join(t.base, 'agent-logs'), { recursive: true });
  fs.writeFileSync(settingsFile, `${JSON.stringify(settings, null, 2)}\n`);
  const rigBead = (title: string) => {
    const r = run(BD, ['create', title, '--json'], { cwd: path.join(t.root, 'myrig'), env: t.env });
    if (r.code !== 0) throw new Error(r.stderr);
    return r.json().id as string;
  };
  const a = rigBead('First');
  const b = rigBead('Second');
  t.ok('convoy', 'create', 'Feed me', a, b, '--json');
  t.ok('daemon', 'start');
  const show = (id: string) => {
    const j = t.bd('show', id, '--json').json();
    return Array.isArray(j) ? j[0] : j;
  };
  // One bead per convoy per tick; with no cooldown the next tick feeds the other one.
  const assignees = await waitFor(
    'both beads to be fed',
    () => {
      const who = [a, b].map((id) => show(id).assignee);
      return who.every(Boolean) ? who : null;
    },
    15_000,
  ).catch((e) => {
    throw new Error(`${e.message}\n${logText(t)}`);
  });
  for (const who of assignees) assert.match(who, /^myrig\/polecats\//);
  assert.is.not(assignees[0], assignees[1]);
  // The part logs each feed once its sling returned: wait for both lines.
  const fedLines = await waitFor('two feed lines in the log', () => {
    const m = logText(t).match(/convoy: convoy hq-cv-\w+ fed my-\w+ → myrig\/polecats\/\w+/g) ?? [];
    return m.length >= 2 ? m : null;
  });
  assert.is(fedLines.length, 2);
  t.ok('daemon', 'stop');
});

test('the log rotates past operational.daemon.log_max_bytes, keeping one old copy', () => {
  const dir = tmpDir();
  const log = new DaemonLog(path.join(dir, 'daemon.log'));
  log.write('info', 'first');
  assert.is(log.rotate(10_000), false, 'small enough');
  assert.is(log.rotate(10), true);
  assert.match(fs.readFileSync(path.join(dir, 'daemon.log.1'), 'utf8'), /"msg":"first"/);
  assert.not.ok(fs.existsSync(path.join(dir, 'daemon.log')));
  log.write('info', 'second');
  assert.match(fs.readFileSync(path.join(dir, 'daemon.log'), 'utf8'), /"msg":"second"/);
});

test.run();
