// Agent sessions through the gt CLI on real tmux: every role starts with its identity, is seen
// alive, becomes a zombie when its process is killed (the death is recorded by the pane-died
// hook), restarts, and stops; inject/peek/capture, attach off a terminal, and the claude preset
// (auto) with its settings file passed by --settings.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BD, run } from '../helpers.ts';
import { FAKE_AGENT, sessionTown, until } from './session-fixture.ts';

const T = sessionTown('sess');
const { ok, gt, town, events } = T;

const bead = (id: string) => {
  const r = run(BD, ['show', id, '--json'], { cwd: town, env: T.env });
  if (r.code !== 0) throw new Error(`bd show ${id}: ${r.stderr}`);
  return r.json()[0];
};

const ROLES = [
  { addr: 'mayor', session: 'hq-mayor', role: 'mayor', cwd: 'mayor', bead: 'hq-mayor', beacon: 'mayor' },
  {
    addr: 'deacon',
    session: 'hq-deacon',
    role: 'deacon',
    cwd: 'deacon',
    bead: 'hq-deacon',
    beacon: 'deacon',
  },
  {
    addr: 'deacon/boot',
    session: 'hq-boot',
    role: 'deacon-boot',
    cwd: 'deacon/dogs/boot',
    bead: 'hq-boot',
    beacon: 'boot',
  },
  {
    addr: 'deacon/dogs/rex',
    session: 'hq-dog-rex',
    role: 'deacon/dogs/rex',
    cwd: 'deacon/dogs/rex',
    bead: 'hq-dog-rex',
    beacon: 'dog rex',
  },
  {
    addr: 'myrig/witness',
    session: 'mr-witness',
    role: 'myrig/witness',
    cwd: 'myrig/witness',
    bead: 'mr-myrig-witness',
    beacon: 'witness (rig: myrig)',
  },
  {
    addr: 'myrig/refinery',
    session: 'mr-refinery',
    role: 'myrig/refinery',
    cwd: 'myrig/refinery/rig',
    bead: 'mr-myrig-refinery',
    beacon: 'refinery (rig: myrig)',
  },
  {
    addr: 'myrig/polecats/nux',
    session: 'mr-nux',
    role: 'myrig/polecats/nux',
    cwd: 'myrig/polecats/nux/myrig',
    bead: 'mr-myrig-polecat-nux',
    beacon: 'polecat nux (rig: myrig)',
  },
  {
    addr: 'myrig/crew/bob',
    session: 'mr-crew-bob',
    role: 'myrig/crew/bob',
    cwd: 'myrig/crew/bob',
    bead: 'mr-myrig-crew-bob',
    beacon: 'crew bob (rig: myrig)',
  },
];

const pids = new Map<string, number>();

test('every role starts with its identity, working directory and beacon, and is alive', () => {
  for (const r of ROLES) {
    const res = ok('session', 'start', r.addr, '--json');
    assert.is(res.action, 'started', r.addr);
    assert.is(res.session, r.session);
    assert.is(res.agent, 'fake');
    const ev = events(r.session).find((e) => e.event === 'start');
    assert.ok(ev, `${r.addr} logged its start`);
    assert.is(ev.cwd, fs.realpathSync(path.join(town, r.cwd)), `${r.addr} cwd`);
    assert.is(ev.env.GT_ROLE, r.role);
    assert.is(ev.env.BD_ACTOR, r.role);
    assert.is(ev.env.GT_SESSION, r.session);
    assert.is(ev.env.GT_AGENT, 'fake');
    assert.is(ev.env.GT_TMUX_SOCKET, T.socket);
    assert.is(ev.env.GT_ROOT, town);
    const beacon = ev.argv[ev.argv.length - 1];
    assert.ok(beacon.startsWith(`[GAS TOWN] ${r.beacon} • `), `${r.addr} beacon: ${beacon}`);
    assert.match(beacon, /Run `gt prime --hook` and begin work on your hook\.$/);
    assert.is(ev.env.GT_BEACON, beacon);
    const st = ok('session', 'status', r.addr, '--json');
    assert.is(st.state, 'alive', `${r.addr} alive`);
    assert.is(st.pane_pid, ev.pid);
    pids.set(r.addr, ev.pid);
    assert.is(
      fs.readFileSync(path.join(town, '.runtime', 'pids', `${r.session}.pid`), 'utf8').trim(),
      String(ev.pid),
    );
    assert.ok(fs.existsSync(path.join(town, '.runtime', 'heartbeats', `${r.session}.json`)));
    const b = bead(r.bead);
    assert.is(b.metadata.agent_state, 'idle');
    assert.is(b.metadata.session, r.session);
    assert.is(b.metadata.agent, 'fake');
  }
  // `gt` and `bd` of this installation come first on every agent's PATH (tmux itself would
  // hand the pane the server's PATH).
  const shims = path.join(town, '.runtime', 'bin');
  const agentPath = String(events('hq-mayor')[0].env.PATH);
  assert.ok(agentPath.startsWith(`${shims}:`), `agent PATH starts with the shims: ${agentPath}`);
  const v = spawnSync(path.join(shims, 'gt'), ['--version'], { encoding: 'utf8' });
  assert.is(v.status, 0, v.stderr);
  assert.match(v.stdout, /\d+\.\d+\.\d+/);
  assert.is(events('mr-crew-bob')[0].env.GT_CREW, 'bob');
  assert.is(events('mr-nux')[0].env.GT_POLECAT, 'nux');
  // Starting again is a no-op.
  const again = ok('session', 'start', 'mayor', '--json');
  assert.is(again.action, 'running');
  assert.is(events('hq-mayor').filter((e) => e.event === 'start').length, 1);
  // The role commands see the same sessions.
  assert.is(ok('mayor', 'status', '--json').state, 'alive');
  assert.is(ok('witness', 'status', 'myrig', '--json').state, 'alive');
  assert.is(ok('refinery', 'status', 'myrig', '--json').state, 'alive');
  const rows = ok('agents', '--json');
  assert.equal(rows.map((r: any) => r.session).sort(), ROLES.map((r) => r.session).sort());
  assert.ok(rows.every((r: any) => r.state === 'alive'));
});

test('kill -9 of the agent: zombie, death recorded by the pane-died hook; restart brings it back', async () => {
  for (const r of ROLES) process.kill(pids.get(r.addr)!, 'SIGKILL');
  for (const r of ROLES) {
    await until(`${r.addr} zombie`, () => ok('session', 'status', r.addr, '--json').state === 'zombie');
  }
  const death = await until(
    'death record',
    () => {
      const f = path.join(town, '.runtime', 'deaths', 'hq-mayor.json');
      return fs.existsSync(f) && JSON.parse(fs.readFileSync(f, 'utf8'));
    },
    20000,
  );
  assert.is(death.session, 'hq-mayor');
  assert.is(death.pane_pid, pids.get('mayor'));
  assert.is(death.count, 1);
  const zs = ok('agents', '--json');
  assert.ok(zs.every((r: any) => r.state === 'zombie'));
  // Restart through the role commands and the session group.
  const m = ok('mayor', 'restart', '--json');
  assert.is(m.action, 'restarted');
  const w = ok('witness', 'restart', 'myrig', '--json');
  assert.is(w.action, 'restarted');
  // `start` on a zombie respawns it too.
  for (const r of ROLES.filter((x) => x.addr !== 'mayor' && x.addr !== 'myrig/witness')) {
    const res = ok('session', 'start', r.addr, '--json');
    assert.is(res.action, 'restarted', r.addr);
  }
  for (const r of ROLES) {
    const st = ok('session', 'status', r.addr, '--json');
    assert.is(st.state, 'alive', `${r.addr} alive again`);
    assert.is.not(st.pane_pid, pids.get(r.addr));
    assert.is(events(r.session).filter((e) => e.event === 'start').length, 2, `${r.addr} started twice`);
  }
  const rec = JSON.parse(fs.readFileSync(path.join(town, '.runtime', 'sessions', 'hq-mayor.json'), 'utf8'));
  assert.is(rec.restarts, 1);
});

test('inject types text verbatim (nothing runs), peek and capture show the pane', async () => {
  const marker = path.join(T.base, 'pwned');
  const text = `say "hi"; $(touch ${marker}) \`touch ${marker}\` ends;`;
  ok('session', 'inject', 'mayor', text);
  ok('session', 'inject', 'myrig/witness', '-m', 'second;');
  await until('injected lines', () => events('hq-mayor').some((e) => e.event === 'line'));
  await until('witness line', () => events('mr-witness').some((e) => e.event === 'line'));
  assert.equal(
    events('hq-mayor')
      .filter((e) => e.event === 'line')
      .map((e) => e.text),
    [text],
  );
  assert.equal(
    events('mr-witness')
      .filter((e) => e.event === 'line')
      .map((e) => e.text),
    ['second;'],
  );
  assert.not.ok(fs.existsSync(marker));
  const peek = await until('peek shows it', () => {
    const out = ok('peek', 'mayor', '-n', '10');
    return out.includes('got: ') && out;
  });
  assert.ok(peek.includes(JSON.stringify(text)));
  const cap = ok('session', 'capture', 'mayor', '-n', '3', '--json');
  assert.is(cap.session, 'hq-mayor');
  assert.ok(cap.text.split('\n').length <= 3);
  assert.match(ok('peek', 'myrig/witness', '5'), /second;/);
});

test('attach off a terminal prints the tmux command; crew at starts and prints it', () => {
  const out = ok('mayor', 'attach').trim();
  assert.is(out, `tmux -L ${T.socket} attach-session -t =hq-mayor`);
  const crew = gt(['crew', 'at', 'alice', '--rig', 'myrig']);
  assert.is(crew.code, 1, 'alice has no workspace yet');
  assert.match(crew.stderr, /gt crew add alice --rig myrig/);
  fs.mkdirSync(path.join(town, 'myrig', 'crew', 'alice'));
  const at = gt(['crew', 'at', 'alice', '--rig', 'myrig', '--json']);
  assert.is(at.code, 0, at.stderr);
  const j = at.json();
  assert.is(j.session, 'mr-crew-alice');
  assert.is(j.command, `tmux -L ${T.socket} attach-session -t =mr-crew-alice`);
  assert.is(
    ok('session', 'status', 'myrig/alice', '--json').state,
    'alive',
    'myrig/alice is the crew member',
  );
  const none = gt(['session', 'capture', 'myrig/polecats/ghost']);
  assert.is(none.code, 3);
});

test('stop: session gone, runtime files removed, bead stopped; stopping again is harmless', () => {
  for (const r of ROLES) {
    const res = ok('session', 'stop', r.addr, '--json');
    assert.is(res.action, 'stopped', r.addr);
    assert.is(ok('session', 'status', r.addr, '--json').state, 'dead');
    for (const f of [`pids/${r.session}.pid`, `heartbeats/${r.session}.json`, `sessions/${r.session}.json`])
      assert.not.ok(fs.existsSync(path.join(town, '.runtime', f)), f);
    const b = bead(r.bead);
    assert.is(b.metadata.agent_state, 'stopped');
    assert.is(b.metadata.session, null);
  }
  ok('session', 'stop', 'myrig/crew/alice');
  const before = T.ledgerCommits();
  assert.is(ok('mayor', 'stop', '--json').action, 'not-running');
  assert.is(T.ledgerCommits(), before, 'no commit when nothing changes');
  assert.equal(ok('agents', '--json'), []);
});

test('a pane that runs something other than the agent is a zombie', () => {
  const res = ok('deacon', 'start', '--agent', 'misnamed', '--json');
  assert.is(res.agent, 'misnamed');
  assert.is(ok('deacon', 'status', '--json').state, 'zombie');
  ok('deacon', 'stop');
});

test('auto picks claude when installed: its settings file is written and passed with --settings', () => {
  const bin = path.join(T.base, 'bin');
  fs.mkdirSync(bin);
  fs.copyFileSync(FAKE_AGENT, path.join(bin, 'claude'));
  fs.chmodSync(path.join(bin, 'claude'), 0o755);
  const env = { ...T.env, PATH: `${bin}:${T.env.PATH}` };
  const logEnv = `FAKE_AGENT_DIR=${T.logDir}`;
  const r = gt(
    ['mayor', 'start', '--agent', 'auto', '--env', logEnv, '--env', 'EXTRA=from --env', '--json'],
    { env },
  );
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json().agent, 'claude');
  const settings = path.join(town, 'mayor', '.claude', 'settings.json');
  assert.is(r.json().settings_file, settings);
  const ev = events('hq-mayor')
    .filter((e) => e.event === 'start')
    .pop();
  assert.is(ev.env.EXTRA, 'from --env');
  assert.equal(ev.argv.slice(0, 3), ['--dangerously-skip-permissions', '--settings', settings]);
  const s = JSON.parse(fs.readFileSync(settings, 'utf8'));
  assert.is(s.hooks.SessionStart[0].hooks[0].command, 'gt prime --hook && gt mail check --inject');
  assert.is(s.hooks.PreCompact[0].hooks[0].command, 'gt prime --hook');
  assert.is(s.hooks.UserPromptSubmit[0].hooks[0].command, 'gt mail check --inject');
  assert.is(gt(['mayor', 'status', '--json'], { env }).json().state, 'alive');
  const w = gt(['witness', 'start', 'myrig', '--agent', 'claude', '--json'], { env });
  assert.is(w.code, 0, w.stderr);
  assert.ok(fs.existsSync(path.join(town, 'myrig', 'witness', '.claude', 'settings.json')));
  const p = gt(['session', 'start', 'myrig/nux', '--agent', 'claude', '--json'], { env });
  assert.is(p.json().settings_file, path.join(town, 'myrig', 'polecats', '.claude', 'settings.json'));
  // Without claude on PATH, an explicit claude is refused with the fix; nothing starts.
  const miss = gt(['deacon', 'start', '--agent', 'claude']);
  assert.is(miss.code, 1);
  assert.match(miss.stderr, /needs `claude`, which is not installed/);
  assert.is(gt(['deacon', 'status', '--json']).json().state, 'dead');
  ok('down', '--all');
});

test.after(() => {
  T.killServer();
});
test.run();
