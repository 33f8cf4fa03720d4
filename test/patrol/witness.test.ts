// The witness against real git, real tmux and the built-in scripted agent: a polecat killed
// mid-work is restarted in the same worktree and finishes with gt done; backoff holds a second
// immediate restart; a crash loop stops restarting and files a bug + mails the mayor; an
// orphaned hooked bead goes back to open with RECOVERED_BEAD mail; a hung session is found by
// `gt patrol scan --json` and restarted by --act; a GUPP violation nudges and mails the witness.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BeadStore } from '../../src/beads/store.ts';
import { loadCodec } from '../../src/ledger/codec.ts';
import { agentStateFile } from '../../src/patrol/backoff.ts';
import { witnessTick } from '../../src/patrol/witness.ts';
import { restartSession } from '../../src/runtime/sessions.ts';
import { GT, run } from '../helpers.ts';
import { killTmuxServer, sleep, until } from '../runtime/session-fixture.ts';
import { createBeadIn, makeTown, showBead, type Town } from '../town/town-fixture.ts';

let towns = 0;
const sockets: string[] = [];
process.on('exit', () => {
  for (const s of sockets) killTmuxServer(s);
});

type WTown = Town & {
  socket: string;
  bead(title: string): string;
  show(id: string): any;
  sling(id: string): { name: string; session: string; molecule: string; worktree: string; agent: string };
  tmux(...args: string[]): { code: number; out: string };
  pane(session: string): { pid: number; dead: boolean } | null;
  messages(to: string): { id: string; title: string; description: string }[];
};

/** A town with rig myrig (prefix my) whose tmux server (own socket) gives agents `extra` env. */
function witnessTown(extra: NodeJS.ProcessEnv = {}): WTown {
  const socket = `gt-test-witness-${process.pid}-${++towns}`;
  sockets.push(socket);
  const t = makeTown({
    extraEnv: {
      GT_TMUX_SOCKET: socket,
      GT_SCRIPTED_POLL_MS: '200',
      GT_SCRIPTED_STEP_DELAY_MS: '300',
      ...extra,
    },
  });
  t.ok('rig', 'add', 'myrig', t.src);
  const rigDir = path.join(t.root, 'myrig');
  const tmux = (...args: string[]) => {
    const r = spawnSync('tmux', ['-L', socket, ...args], { env: t.env, encoding: 'utf8' });
    return { code: r.status ?? -1, out: r.stdout ?? '' };
  };
  return {
    ...t,
    socket,
    bead: (title) => createBeadIn(t, rigDir, title),
    show: (id) => showBead(t, id),
    sling(id) {
      const r = t.ok('sling', id, 'myrig', '--agent', 'scripted', '--no-convoy', '--json');
      const it = r.items[0];
      return {
        name: it.polecat.name,
        session: it.session.name,
        molecule: it.molecule,
        worktree: it.polecat.worktree,
        agent: it.agent,
      };
    },
    tmux,
    pane(session) {
      const r = tmux('list-panes', '-t', `=${session}:`, '-F', '#{pane_pid}\t#{pane_dead}');
      if (r.code !== 0) return null;
      const [pid, dead] = r.out.trim().split('\t');
      return { pid: Number(pid), dead: dead === '1' };
    },
    messages(to) {
      const r = t.bd('list', '--all', '--json', '--limit', '0');
      const rows: any[] = r.code === 0 ? r.json() : [];
      return rows.filter((b) => b.issue_type === 'message' && b.assignee === to);
    },
  };
}

function progress(t: WTown, mol: string): { completed: number; total: number } {
  const r = t.bd('mol', 'progress', mol, '--json');
  return r.code === 0 ? r.json() : { completed: 0, total: 0 };
}

test('a polecat killed mid-work is restarted in its worktree, backoff holds a second restart, and gt done runs', async () => {
  const t = witnessTown({ GT_SCRIPTED_STEP_DELAY_MS: '600' });
  const id = t.bead('Survive a crash');
  const p = t.sling(id);
  await until('a step closed', () => progress(t, p.molecule).completed >= 1, 20000);
  const mid = progress(t, p.molecule);
  assert.ok(mid.completed < mid.total, 'killed mid-work');
  assert.is(t.tmux('kill-session', '-t', `=${p.session}`).code, 0);

  const r1 = await witnessTick(t.root, { env: t.env });
  assert.equal(r1.errors, []);
  const f1 = r1.findings.filter((f) => f.agent === p.agent);
  assert.equal(
    f1.map((f) => [f.kind, f.bead, f.action]),
    [['session-dead-active', id, 'restart']],
  );
  assert.is(r1.actions.length, 1);
  assert.match(r1.actions[0].result, /^(started|restarted) \(/);
  const rec = JSON.parse(
    fs.readFileSync(path.join(t.root, '.runtime', 'sessions', `${p.session}.json`), 'utf8'),
  );
  assert.is(rec.cwd, p.worktree, 'same worktree');
  assert.is(rec.agent, 'scripted', 'same agent');
  assert.ok(t.pane(p.session), 'session is back');

  // Killed again at once: the backoff holds it.
  assert.is(t.tmux('kill-session', '-t', `=${p.session}`).code, 0);
  const r2 = await witnessTick(t.root, { env: t.env });
  assert.equal(
    r2.actions.map((a) => a.kind),
    ['session-dead-active'],
  );
  assert.match(r2.actions[0].result, /^backoff: next restart allowed in \d+s/);
  assert.is(t.pane(p.session), null, 'not restarted');
  const st = JSON.parse(fs.readFileSync(agentStateFile(t.root, p.session), 'utf8'));
  assert.is(st.streak, 1);
  assert.is(st.restarts.length, 1);

  // Once the backoff has passed, restarted; the molecule completes and gt done runs.
  const r3 = await witnessTick(t.root, { env: t.env, now: Date.now() + 60_000 });
  assert.match(r3.actions[0]?.result ?? '', /^(started|restarted) \(/);
  const agentBead = `my-myrig-polecat-${p.name}`;
  const meta = await until(
    'gt done',
    () => {
      const m = t.show(agentBead).metadata;
      return m.exit_type === 'COMPLETED' ? m : null;
    },
    30000,
  );
  assert.is(meta.hook_bead, null);
  assert.is(meta.agent_state, 'idle');
  const done = progress(t, p.molecule);
  assert.is(done.completed, done.total, 'every step closed');
  assert.ok(['closed', 'in_progress'].includes(t.show(id).status));
  // Healthy now: no findings for it.
  const r4 = await witnessTick(t.root, { env: t.env, act: false });
  assert.equal(
    r4.findings.filter((f) => f.agent === p.agent),
    [],
  );
  t.tmux('kill-server');
});

test('a polecat stopped on a failing step reports itself stuck; past self_stuck the witness restarts it', async () => {
  const t = witnessTown({ GT_CFG_OPERATIONAL__SESSION__SELF_STUCK: '1s' });
  // The rig's test command fails, so mol-polecat-work's test step fails and the agent waits.
  t.ok('rig', 'settings', 'set', 'myrig', 'merge_queue.test_command', '"false"');
  const id = t.bead('Fail the tests');
  const p = t.sling(id);
  const hb = path.join(t.root, '.runtime', 'heartbeats', `${p.session}.json`);
  await until(
    'the agent stuck',
    () => fs.existsSync(hb) && JSON.parse(fs.readFileSync(hb, 'utf8')).state === 'stuck',
    20000,
  );
  const scan = await witnessTick(t.root, { env: t.env, act: false, now: Date.now() + 2000 });
  const f = scan.findings.filter((x) => x.agent === p.agent);
  assert.equal(
    f.map((x) => [x.kind, x.bead, x.action]),
    [['agent-self-reported-stuck', id, 'restart']],
  );
  const acted = await witnessTick(t.root, { env: t.env, now: Date.now() + 2000 });
  assert.match(acted.actions.find((a) => a.agent === p.agent)?.result ?? '', /^(started|restarted) \(/);
  t.tmux('kill-server');
});

test('crash loop: restarts stop after crash_loop_count, a bug bead is filed and the mayor mailed', async () => {
  const t = witnessTown({
    GT_SCRIPTED_FAIL: 'exit:implement',
    GT_CFG_OPERATIONAL__WITNESS__CRASH_LOOP_COUNT: '2',
    GT_CFG_OPERATIONAL__WITNESS__RESTART_BACKOFF_BASE: '0',
  });
  const id = t.bead('Always crashes');
  const p = t.sling(id);
  const dead = () => until('the agent to crash', () => t.pane(p.session)?.dead, 15000);
  const results: string[] = [];
  for (let i = 0; i < 3; i++) {
    await dead();
    const r = await witnessTick(t.root, { env: t.env });
    assert.equal(r.errors, []);
    const f = r.findings.find((x) => x.agent === p.agent);
    assert.is(f?.kind, 'agent-dead-in-session');
    results.push(r.actions[0].result);
  }
  assert.match(results[0], /^restarted \(/);
  assert.match(results[1], /^restarted \(/);
  assert.match(results[2], /^crash loop: 2 restarts in 15m; bug \S+ filed, mayor mailed, restarts stopped/);
  const bugId = /bug (\S+) filed/.exec(results[2])![1];
  const bug = t.show(bugId);
  assert.is(bug.issue_type, 'bug');
  assert.match(bug.title, new RegExp(`Crash loop: ${p.agent} on ${id}`));
  assert.ok(bug.labels.includes('gt:crash-loop'));
  const help = t.messages('mayor/').filter((m) => m.title === `HELP: ${p.agent} is crash-looping`);
  assert.is(help.length, 1);
  assert.match(t.bd('show', help[0].id, '--json').stdout, new RegExp(`Issue: ${id}`));
  // No more restarts: the pane stays dead, the same pid.
  const before = t.pane(p.session)!;
  const r = await witnessTick(t.root, { env: t.env });
  assert.match(r.actions[0].result, /^crash loop: restarts stopped \(bug /);
  assert.equal(t.pane(p.session), before);
  assert.is(t.messages('mayor/').filter((m) => m.title.startsWith('HELP:')).length, 1, 'mailed once');
  // The work is untouched: still hooked, worktree kept.
  assert.is(t.show(id).status, 'hooked');
  assert.ok(fs.existsSync(p.worktree));
  // clear-backoff forgets it: the next tick restarts again.
  const c = t.ok('patrol', 'clear-backoff', p.agent, '--json');
  assert.equal([c.cleared, c.crash_loop], [true, true]);
  const again = await witnessTick(t.root, { env: t.env });
  assert.match(again.actions[0].result, /^restarted \(/);
  t.tmux('kill-server');
});

test('orphaned hooked bead: reset to open and unassigned, RECOVERED_BEAD to the deacon, once', async () => {
  const t = witnessTown();
  const id = t.bead('Left behind');
  const other = t.bead('In the queue');
  const upd = t.bd('update', id, '--status', 'hooked', '--assignee', 'myrig/polecats/ghost');
  assert.is(upd.code, 0, upd.stderr);
  t.bd('update', other, '--status', 'in_progress', '--assignee', 'myrig/polecats/ghost');
  // A bead with an open MR belongs to the refinery, not to the witness.
  await loadCodec();
  const store = BeadStore.open(t.root, { actor: 'test' });
  store.transact('test MR', (tx) => {
    tx.put({
      id: 'my-mrtest',
      title: `Merge: ${other}`,
      status: 'open',
      priority: 2,
      issue_type: 'merge-request',
      created_at: tx.now,
      updated_at: tx.now,
      labels: ['gt:merge-request'],
      metadata: { source_issue: other, worker: 'myrig/polecats/ghost' },
      dependencies: [],
    });
  });
  store.flush();

  const scan = await witnessTick(t.root, { env: t.env, rig: 'myrig', act: false });
  assert.equal(
    scan.findings.map((f) => [f.kind, f.bead, f.agent, f.action]),
    [['orphaned-bead', id, 'myrig/polecats/ghost', 'reset-bead']],
  );
  assert.is(t.show(id).status, 'hooked', 'a scan changes nothing');

  // During `gt down` (daemon/shutdown.lock) nothing is acted on.
  const down = path.join(t.root, 'daemon', 'shutdown.lock');
  fs.mkdirSync(path.dirname(down), { recursive: true });
  fs.writeFileSync(down, 'test\n');
  const stopping = await witnessTick(t.root, { env: t.env, rig: 'myrig' });
  assert.equal(stopping.errors, [
    'shutdown in progress (daemon/shutdown.lock): findings reported, not acted on',
  ]);
  assert.is(stopping.findings.length, 1);
  assert.equal(stopping.actions, []);
  assert.is(t.show(id).status, 'hooked');
  fs.rmSync(down);

  // Acting passes never overlap: a live holder of the tick lock makes this one stand down.
  const lock = path.join(t.root, '.runtime', 'witness', 'tick.lock');
  fs.mkdirSync(path.dirname(lock), { recursive: true });
  fs.writeFileSync(lock, `${process.pid}\n`);
  const busy = await witnessTick(t.root, { env: t.env, rig: 'myrig' });
  assert.equal(busy.errors, ['another witness pass is acting right now; try again in a moment']);
  assert.is(t.show(id).status, 'hooked');
  fs.writeFileSync(lock, '999999999\n'); // a dead holder: taken over

  const r = await witnessTick(t.root, { env: t.env, rig: 'myrig' });
  assert.equal(r.errors, []);
  assert.not.ok(fs.existsSync(lock), 'released');
  assert.equal(
    r.actions.map((a) => [a.kind, a.bead, a.result]),
    [['orphaned-bead', id, 'reset to open (was hooked); RECOVERED_BEAD mailed to deacon/']],
  );
  const b = t.show(id);
  assert.is(b.status, 'open');
  assert.not.ok(b.assignee);
  assert.is(t.show(other).status, 'in_progress');
  const mail = t.messages('deacon/').filter((m) => m.title === `RECOVERED_BEAD ${id}`);
  assert.is(mail.length, 1);
  const body = t.bd('show', mail[0].id, '--json').stdout;
  assert.match(body, /Polecat: myrig\/polecats\/ghost/);
  assert.match(body, /Previous Status: hooked/);
  const again = await witnessTick(t.root, { env: t.env, rig: 'myrig' });
  assert.equal(again.findings, []);
  // Mass death: three deaths the witness remembers within mass_death_window → one escalation.
  const now = Date.now();
  const rigState = path.join(t.root, '.runtime', 'witness', 'rigs', 'myrig.json');
  fs.mkdirSync(path.dirname(rigState), { recursive: true });
  fs.writeFileSync(rigState, JSON.stringify({ rig: 'myrig', deaths: [now - 3000, now - 2000, now - 1000] }));
  const md = await witnessTick(t.root, { env: t.env, rig: 'myrig', now });
  assert.equal(
    md.findings.map((f) => [f.kind, f.action]),
    [['mass-death', 'escalate']],
  );
  const esc = /^escalated: (\S+)$/.exec(md.actions[0].result)?.[1];
  assert.ok(esc, md.actions[0].result);
  assert.match(t.show(esc!).title, /^Mass death in rig myrig: 3 session deaths/);
  const md2 = await witnessTick(t.root, { env: t.env, rig: 'myrig', now: now + 1000 });
  assert.is(md2.actions[0].result, 'already escalated in this window');
  const quiet = await witnessTick(t.root, { env: t.env, rig: 'myrig', now: now + 60_000 });
  assert.equal(quiet.findings, [], 'old deaths fall out of the window');

  // An unknown rig is an error in the report, never a throw.
  const bad = await witnessTick(t.root, { env: t.env, rig: 'nope' });
  assert.match(bad.errors.join('\n'), /no rig named "nope"/);
  const cli = t.gt('patrol', 'scan', '--rig', 'nope', '--json');
  assert.is(cli.code, 3, cli.stderr);
  assert.match(cli.stderr, /no rig named "nope"/);
});

test('a hung session: found by gt patrol scan --json, restarted by --act; a GUPP violation nudges and mails', async () => {
  const t = witnessTown({ GT_SCRIPTED_FAIL: 'hang:implement' });
  const id = t.bead('Hangs');
  const p = t.sling(id);
  await until(
    'the agent to hang',
    () => t.tmux('capture-pane', '-p', '-t', `=${p.session}:`).out.includes('hanging at'),
    15000,
  );
  await sleep(2200);
  const env = { ...t.env, GT_CFG_OPERATIONAL__SESSION__HUNG_SESSION: '1s' };
  const r = run(GT, ['patrol', 'scan', '--json'], { cwd: t.root, env });
  assert.is(r.code, 0, r.stderr);
  const j = r.json();
  assert.is(j.acted, false);
  assert.equal(j.actions, []);
  assert.equal(j.errors, []);
  assert.equal(
    j.findings.map((f: any) => [f.kind, f.agent, f.bead, f.session, f.action]),
    [['hung-session', p.agent, id, p.session, 'restart']],
  );
  assert.match(j.findings[0].detail, /no output in .* for \d+s with .* hooked \(threshold 1s\)/);
  const text = run(GT, ['patrol', 'scan'], { cwd: t.root, env });
  assert.match(text.stdout, /hung-session/);
  assert.match(text.stdout, /the patrol daemon acts on these/);

  // GUPP: no progress for longer than gupp_violation (hung_session left at its default).
  const guppEnv = { ...t.env, GT_CFG_OPERATIONAL__SESSION__GUPP_VIOLATION: '1s' };
  const g = await witnessTick(t.root, { env: guppEnv });
  assert.equal(
    g.findings.map((f) => [f.kind, f.bead]),
    [['gupp-violation', id]],
  );
  assert.match(g.actions[0].result, /^nudged \(.*\); GUPP_VIOLATION mailed to myrig\/witness$/);
  const gm = t
    .messages('myrig/witness')
    .filter((m) => m.title.startsWith(`GUPP_VIOLATION: ${p.agent} stuck for`));
  assert.is(gm.length, 1);
  const g2 = await witnessTick(t.root, { env: guppEnv });
  assert.match(g2.actions[0].result, /^already reported/);

  // TOCTOU: the session is recreated between the scan and the restart: the witness stands down.
  await sleep(2200);
  const hungEnv = { ...t.env, GT_CFG_OPERATIONAL__SESSION__HUNG_SESSION: '1s' };
  const raced = await witnessTick(t.root, {
    env: hungEnv,
    beforeRestart: async () => {
      await restartSession(
        t.root,
        { role: 'polecat', rig: 'myrig', name: p.name },
        { processEnv: t.env, agent: 'scripted' },
      );
    },
  });
  assert.equal(
    raced.actions.map((a) => a.kind),
    ['hung-session'],
  );
  assert.match(raced.actions[0].result, /^skipped: session my-\w+ was recreated since the scan$/);
  const st = JSON.parse(fs.readFileSync(agentStateFile(t.root, p.session), 'utf8'));
  assert.is(st.restarts.length, 0, 'a skipped restart does not count');

  // --act restarts it (same session, new pane process). Output came meanwhile: quiet again first.
  await until(
    'the agent to hang again',
    () => t.tmux('capture-pane', '-p', '-t', `=${p.session}:`).out.includes('(resuming)'),
    15000,
  );
  await sleep(2200);
  const before = t.pane(p.session)!;
  const acted = run(GT, ['patrol', 'scan', '--act', '--json'], { cwd: t.root, env });
  assert.is(acted.code, 0, acted.stderr);
  const aj = acted.json();
  assert.is(aj.acted, true);
  assert.equal(
    aj.actions.map((a: any) => a.kind),
    ['hung-session'],
  );
  assert.match(aj.actions[0].result, /^restarted \(/);
  const after = t.pane(p.session)!;
  assert.ok(after && !after.dead && after.pid !== before.pid, 'a new agent process in the same session');

  // Stuck in done: a done-intent label older than stuck_in_done on a live session.
  const intent = `done-intent:COMPLETED:${Math.floor(Date.now() / 1000) - 120}`;
  const lab = t.bd('update', `my-myrig-polecat-${p.name}`, '--add-label', intent);
  assert.is(lab.code, 0, lab.stderr);
  const sd = await witnessTick(t.root, { env: t.env, act: false });
  assert.equal(
    sd.findings.map((f) => [f.kind, f.agent, f.action]),
    [['stuck-in-done', p.agent, 'restart']],
  );
  assert.match(
    sd.findings[0].detail,
    /finishing \(done-intent\) for 2m with a live session \(threshold 60s\)/,
  );
  // The same from gt done's own intent file (operational plane), which wins over the label.
  const intentFile = path.join(t.root, '.runtime', 'done-intent', `my-myrig-polecat-${p.name}.json`);
  fs.mkdirSync(path.dirname(intentFile), { recursive: true });
  const at = new Date(Date.now() - 5 * 60_000).toISOString();
  fs.writeFileSync(intentFile, JSON.stringify({ exit: 'COMPLETED', issue: null, at, pid: 1 }));
  const sf = await witnessTick(t.root, { env: t.env, act: false });
  assert.equal(
    sf.findings.map((f) => f.kind),
    ['stuck-in-done'],
  );
  assert.match(sf.findings[0].detail, /finishing \(done-intent\) for 5m/);
  t.tmux('kill-server');
});

test.run();
