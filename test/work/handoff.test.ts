// gt handoff in real tmux with the fake agent: the cooldown refusal (nothing sent, same
// process), the HANDOFF mail to self with the hook, then a fresh agent process in the same
// session whose `gt prime` shows the handoff; polecats with --cycle (without it, a deferred
// gt done: test/work/done.test.ts); --no-restart; the overseer refused.
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BeadStore } from '../../src/beads/store.ts';
import { loadCodec } from '../../src/ledger/codec.ts';
import { attachHook } from '../../src/work/hook.ts';
import { BD, run } from '../helpers.ts';
import { sessionTown, until } from '../runtime/session-fixture.ts';

const T = sessionTown('handoff');
const { town, env, gt, ok, events, ledgerCommits } = T;
const as = (role: string, extra: NodeJS.ProcessEnv = {}) => ({ ...env, GT_ROLE: role, ...extra });
const NO_COOLDOWN = { GT_CFG_OPERATIONAL__SESSION__HANDOFF_COOLDOWN: '0s' };

async function hookTo(
  role: { role: 'mayor' } | { role: 'polecat'; rig: string; name: string },
  title: string,
) {
  const r = run(BD, ['create', title, '--json'], { cwd: town, env });
  if (r.code !== 0) throw new Error(r.stderr);
  const id = r.json().id as string;
  await loadCodec();
  const store = BeadStore.open(town, { actor: 'tester' });
  store.transact(`hook ${id}`, (tx) =>
    attachHook(tx, id, role, role.role === 'polecat' ? { rigPrefix: 'mr' } : {}),
  );
  store.flush();
  return id;
}

const starts = (session: string) => events(session).filter((e) => e.event === 'start');

test('mayor: cooldown refusal, then HANDOFF mail to self and a fresh process that primes with it', async () => {
  const first = ok('session', 'start', 'mayor', '--json');
  assert.is(first.action, 'started');
  const work = await hookTo({ role: 'mayor' }, 'Plan the release');

  // Right after start: inside the 2 m cooldown. Refused, nothing sent, same process.
  const commits = ledgerCommits();
  const refused = gt(['handoff', '-s', 'half done', '-m', 'ctx'], { env: as('mayor') });
  assert.is(refused.code, 4, refused.stderr);
  assert.match(
    refused.stderr,
    /handoff refused: session hq-mayor started \d+s ago and the handoff cooldown \(operational\.session\.handoff_cooldown\) is 2m; wait \d+m?\d*s? and try again, or pass --force/,
  );
  assert.is(ledgerCommits(), commits);
  assert.is(ok('session', 'status', 'mayor', '--json').pane_pid, first.pane_pid);

  // Cooldown 0 (the settings layer): handed off.
  const r = gt(['handoff', '-s', 'half done', '-m', 'Drafted the notes; tests still red.', '--json'], {
    env: as('mayor', NO_COOLDOWN),
  });
  assert.is(r.code, 0, r.stderr);
  const h = r.json();
  assert.is(h.restart, 'restarted');
  assert.is(h.session, 'hq-mayor');
  assert.is(h.mail.subject, '🤝 HANDOFF: half done');
  assert.is(h.hook.id, work);
  assert.is.not(h.launch.pane_pid, first.pane_pid, 'a fresh agent process');
  assert.is(h.launch.agent, 'fake');
  assert.is(h.launch.agent_source, '--agent', 'the agent of the replaced session is kept');
  const st = ok('session', 'status', 'mayor', '--json');
  assert.is(st.state, 'alive');
  assert.is(st.pane_pid, h.launch.pane_pid);
  const s = starts('hq-mayor');
  assert.is(s.length, 2);
  assert.is.not(s[0].pid, s[1].pid);
  assert.is(s[1].env.GT_ROLE, 'mayor');

  // The new session's prime shows the handoff with the hook state and the message.
  const prime = JSON.parse(gt(['prime', '--json'], { env: as('mayor') }).stdout);
  assert.ok(prime.handoff, 'handoff note present');
  assert.is(prime.handoff.id, h.mail.ids[0]);
  assert.is(prime.handoff.subject, '🤝 HANDOFF: half done');
  assert.match(prime.handoff.body, /^attached_molecule: \nattached_at: \d{4}-\d\d-\d\dT/);
  assert.match(prime.handoff.body, new RegExp(`hook_bead: ${work}`));
  assert.match(
    prime.handoff.body,
    /## Context\n\nDrafted the notes; tests still red\.\n\n## Status\n\nOn the hook: \S+ "Plan the release" \[hooked\]\n\n## Next\n\nFinish /,
  );
  const text = gt(['prime'], { env: as('mayor') }).stdout;
  assert.match(text, /## HANDOFF from your previous session\n\n🤝 HANDOFF: half done/);
  assert.is(prime.hook.id, work, 'the work stays hooked');

  // The fresh session is inside the cooldown again; --force overrides it.
  const again = gt(['handoff'], { env: as('mayor') });
  assert.is(again.code, 4);
  const forced = gt(['handoff', '--force', '--json'], { env: as('mayor') });
  assert.is(forced.code, 0, forced.stderr);
  assert.is(forced.json().mail.subject, `🤝 HANDOFF: ${work} Plan the release`);
  assert.is(starts('hq-mayor').length, 3);
});

test('polecat --cycle: work stays hooked, mail sent, session restarted; --no-restart', async () => {
  const first = ok('session', 'start', 'myrig/polecats/nux', '--json');
  const work = await hookTo({ role: 'polecat', rig: 'myrig', name: 'nux' }, 'Fix the login page');
  const cwd = path.join(town, 'myrig', 'polecats', 'nux', 'myrig');
  // Without --cycle a polecat's handoff is a deferred gt done, which needs a real worktree:
  // this fixture's rig has none, so it is refused and nothing is sent.
  const refusedDone = gt(['handoff', '-m', 'half way', '--force', '--json'], {
    env: as('myrig/polecats/nux'),
    cwd,
  });
  assert.is.not(refusedDone.code, 0);
  const r = gt(['handoff', '--cycle', '-m', 'half way', '--force', '--json'], {
    env: as('myrig/polecats/nux'),
    cwd,
  });
  assert.is(r.code, 0, r.stderr);
  const h = r.json();
  assert.is(h.deferred_done, null);
  assert.is(h.address, 'myrig/nux');
  assert.is(h.restart, 'restarted');
  assert.is.not(h.launch.pane_pid, first.pane_pid);
  const prime = JSON.parse(gt(['prime', '--json'], { env: as('myrig/polecats/nux'), cwd }).stdout);
  assert.is(prime.hook.id, work);
  assert.is(prime.handoff.id, h.mail.ids[0]);
  // --no-restart: the mail only; same process, no cooldown check.
  const pid = ok('session', 'status', 'myrig/polecats/nux', '--json').pane_pid;
  const n = gt(['handoff', '--no-restart', '--cycle', '-s', 'note', '--json'], {
    env: as('myrig/polecats/nux'),
    cwd,
  });
  assert.is(n.code, 0, n.stderr);
  assert.is(n.json().restart, 'skipped');
  assert.is(ok('session', 'status', 'myrig/polecats/nux', '--json').pane_pid, pid);
});

test('run from inside the session it replaces: the restart is left to a detached gt session restart', async () => {
  const before = ok('session', 'status', 'mayor', '--json').pane_pid;
  const n = starts('hq-mayor').length;
  // As the agent in hq-mayor runs it: TMUX and GT_SESSION are set in its environment.
  const r = gt(['handoff', '-s', 'from inside', '--force', '--json'], {
    env: as('mayor', { TMUX: '/tmp/fake-tmux-socket,1,0', GT_SESSION: 'hq-mayor' }),
  });
  assert.is(r.code, 0, r.stderr);
  assert.is(r.json().restart, 'scheduled');
  await until('the detached restart', () => starts('hq-mayor').length > n, 15000);
  await until('the new pane', () => {
    const st = JSON.parse(gt(['session', 'status', 'mayor', '--json']).stdout);
    return st.state === 'alive' && st.pane_pid !== before;
  });
  const prime = JSON.parse(gt(['prime', '--json'], { env: as('mayor') }).stdout);
  assert.is(prime.handoff.subject, '🤝 HANDOFF: from inside');
});

test('the overseer has no session to hand off; a multi-line subject is refused', () => {
  const commits = ledgerCommits();
  const r = gt(['handoff'], { env: { ...env, GT_ROLE: '' } });
  assert.is(r.code, 2);
  assert.match(r.stderr, /run it as an agent/);
  const m = gt(['handoff', '-s', 'a\nb', '--no-restart'], { env: as('mayor') });
  assert.is(m.code, 2);
  assert.match(m.stderr, /subject must be one line/);
  assert.is(ledgerCommits(), commits);
});

test.after(() => T.killServer());
test.run();
