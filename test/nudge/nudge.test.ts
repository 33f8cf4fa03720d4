// Nudges through the gt CLI on real tmux (own socket, killed on exit), with the fake agent
// that logs every line it reads: text arriving intact and never executed, wait-idle against
// an idle and a busy pane, queueing for dead sessions, DND/muted and --force, channel targets,
// broadcast, the nudge poller, and bad targets refused with nothing queued.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { whichCommand } from '../../src/runtime/tmux.ts';
import { GT, run } from '../helpers.ts';
import { sessionTown, until } from '../runtime/session-fixture.ts';

const T = sessionTown('nudge');
const { ok, gt, town, events, base } = T;

const qdir = (session: string) => path.join(town, '.runtime', 'nudge_queue', session);
const queued = (session: string): any[] => {
  try {
    return fs
      .readdirSync(qdir(session))
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => JSON.parse(fs.readFileSync(path.join(qdir(session), f), 'utf8')));
  } catch {
    return [];
  }
};
const allQueued = () => {
  const root = path.join(town, '.runtime', 'nudge_queue');
  if (!fs.existsSync(root)) return 0;
  return fs.readdirSync(root).reduce((n, s) => n + queued(s).length, 0);
};
const lines = (session: string) =>
  events(session)
    .filter((e) => e.event === 'line')
    .map((e) => e.text);
const clearQueues = () =>
  fs.rmSync(path.join(town, '.runtime', 'nudge_queue'), { recursive: true, force: true });

test('setup: bob (crew, idle) and nux (polecat, busy: its prompt never shows)', () => {
  ok('session', 'start', 'myrig/crew/bob', '--json');
  ok('session', 'start', 'myrig/nux', '--env', 'FAKE_AGENT_PROMPT=working... ', '--no-wait', '--json');
});

test('an immediate nudge arrives intact: quotes, $(...), backticks, ;, newlines, unicode; nothing runs', async () => {
  clearQueues();
  const pwned = path.join(base, 'pwned');
  const text = [
    `it's "quoted" and 'single' $(touch ${pwned}) \`touch ${pwned}2\` ; touch ${pwned}3;`,
    `second line: ünïcödé ✓ 日本語 🚚 $HOME #{session_name} #(touch ${pwned}4) \\n -- --force`,
    'ends with a semicolon;',
  ].join('\n');
  const before = lines('mr-crew-bob').length;
  const r = ok('nudge', 'myrig/crew/bob', text, '--mode', 'immediate', '--json');
  assert.is(r.delivered, 'immediate');
  assert.is(r.target, 'myrig/crew/bob');
  const got = await until('the three lines', () => {
    const l = lines('mr-crew-bob').slice(before);
    return l.length >= 3 ? l : null;
  });
  assert.equal(got, text.split('\n'));
  for (const f of ['pwned', 'pwned2', 'pwned3', 'pwned4'])
    assert.not.ok(fs.existsSync(path.join(base, f)), f);
  assert.is(allQueued(), 0);
});

test('a long nudge (30 KB, over the tmux command size limit) arrives intact', async () => {
  clearQueues();
  // Lines stay under the 4095-byte line limit of the fake agent's cooked-mode tty.
  const longLines = Array.from({ length: 10 }, (_, i) => `${i}:ü✓${'abc;'.repeat(750)}`);
  const before = lines('mr-crew-bob').length;
  const r = ok('nudge', 'myrig/crew/bob', longLines.join('\n'), '--mode', 'immediate', '--json');
  assert.is(r.delivered, 'immediate');
  const got = await until('ten long lines', () => {
    const l = lines('mr-crew-bob').slice(before);
    return l.length >= 10 ? l : null;
  });
  const same = got.length === longLines.length && got.every((l, i) => l === longLines[i]);
  assert.ok(same, `lines differ: ${got.map((l) => l.length).join(',')}`);
});

test('two nudges typed at once never interleave (per-session typing lock)', async () => {
  clearQueues();
  const before = lines('mr-crew-bob').length;
  const msgs = ['A'.repeat(2500), 'B'.repeat(2500), 'C'.repeat(10)];
  const gtAsync = (args: string[]) =>
    new Promise<number>((resolve) => {
      const c = spawn(process.execPath, [GT, ...args], { cwd: town, env: T.env, stdio: 'ignore' });
      c.on('close', (code) => resolve(code ?? -1));
    });
  const codes = await Promise.all(
    msgs.map((m) => gtAsync(['nudge', 'myrig/crew/bob', m, '--mode', 'immediate'])),
  );
  assert.equal(codes, [0, 0, 0]);
  const got = await until('three clean lines', () => {
    const l = lines('mr-crew-bob').slice(before);
    return l.length >= 3 ? l : null;
  });
  assert.equal(
    [...got].sort().map((l) => `${l[0]}×${l.length}`),
    ['A×2500', 'B×2500', 'C×10'],
  );
  assert.is(allQueued(), 0);
  assert.not.ok(fs.existsSync(path.join(town, '.runtime', 'nudge_locks', 'mr-crew-bob.lock')));
});

test('wait-idle: an idle agent gets it typed, a busy one gets it queued', async () => {
  clearQueues();
  const before = lines('mr-crew-bob').length;
  const r = ok('nudge', 'myrig/bob', 'hello bob', '--json');
  assert.is(r.delivered, 'immediate');
  assert.is(r.target, 'myrig/crew/bob');
  await until('bob read it', () => lines('mr-crew-bob').slice(before).includes('hello bob'));

  const t0 = Date.now();
  const busy = ok('nudge', 'myrig/nux', 'hello nux', '--idle-timeout', '1s', '--json');
  assert.is(busy.delivered, 'queued');
  assert.match(busy.reason, /busy/);
  assert.ok(Date.now() - t0 < 8000);
  const q = queued('mr-nux');
  assert.is(q.length, 1);
  assert.is(q[0].message, 'hello nux');
  assert.is(q[0].sender, 'overseer');
  assert.is(q[0].priority, 'normal');
  assert.not.ok(lines('mr-nux').includes('hello nux'), 'never typed into a busy pane');
  clearQueues();
});

test('queue mode and dead sessions queue; --stdin reads the message', () => {
  clearQueues();
  const r = ok('nudge', 'myrig/crew/bob', 'later', '--mode', 'queue', '--priority', 'urgent', '--json');
  assert.is(r.delivered, 'queued');
  assert.is(r.reason, 'queue mode');
  assert.is(queued('mr-crew-bob')[0].priority, 'urgent');
  const both = run(GT, ['nudge', 'deacon', 'arg', '--stdin'], { cwd: town, env: T.env, input: 'x' });
  assert.is(both.code, 2, 'argument and --stdin');
  const s = run(GT, ['nudge', 'deacon', '--stdin', '--json'], {
    cwd: town,
    env: T.env,
    input: 'from stdin\n',
  });
  assert.is(s.code, 0, s.stderr);
  assert.equal(s.json(), { target: 'deacon', delivered: 'queued', reason: 'no live session' });
  assert.is(queued('hq-deacon')[0].message, 'from stdin\n');
  clearQueues();
});

test('DND skips normal nudges, queues urgent ones, --force overrides; muted likewise', async () => {
  clearQueues();
  const asBob = { ...T.env, GT_ROLE: 'myrig/crew/bob' };
  const on = gt(['dnd', 'on', '--json'], { env: asBob });
  assert.is(on.code, 0, on.stderr);
  assert.is(on.json().dnd, true);
  assert.is(gt(['dnd', 'status', '--json'], { env: asBob }).json().dnd, true);
  const s = ok('nudge', 'myrig/crew/bob', 'psst', '--json');
  assert.is(s.delivered, 'skipped');
  assert.match(s.reason, /do not disturb/);
  const u = ok('nudge', 'myrig/crew/bob', 'fire', '--priority', 'urgent', '--json');
  assert.is(u.delivered, 'queued');
  assert.equal(
    queued('mr-crew-bob').map((n) => n.message),
    ['fire'],
  );
  const before = lines('mr-crew-bob').length;
  const f = ok('nudge', 'myrig/crew/bob', 'forced through', '--force', '--json');
  assert.is(f.delivered, 'immediate');
  await until('forced nudge read', () => lines('mr-crew-bob').slice(before).includes('forced through'));
  assert.is(gt(['dnd', 'off', '--json'], { env: asBob }).json().dnd, false);
  assert.is(gt(['dnd', 'maybe'], { env: asBob }).code, 2);

  assert.is(gt(['notify', 'muted', '--json'], { env: asBob }).json().notification_level, 'muted');
  assert.is(ok('nudge', 'myrig/crew/bob', 'shh', '--json').delivered, 'skipped');
  assert.is(gt(['notify', 'loud'], { env: asBob }).code, 2);
  assert.is(gt(['notify', 'normal', '--json'], { env: asBob }).json().notification_level, 'normal');
  clearQueues();
});

test('the nudge poller drains the queue into an idle pane', async () => {
  clearQueues();
  ok('nudge', 'myrig/crew/bob', 'first', '--mode', 'queue');
  ok('nudge', 'myrig/crew/bob', 'second', '--mode', 'queue', '--priority', 'urgent');
  const before = lines('mr-crew-bob').length;
  const r = ok('nudge-poller', 'myrig/crew/bob', '--once', '--json');
  assert.is(r.state, 'delivered');
  assert.is(r.delivered, 2);
  const got = await until('both queued nudges', () => {
    const l = lines('mr-crew-bob').slice(before);
    return l.length >= 2 ? l : null;
  });
  assert.equal(got, ['[queued nudge from overseer] second', '[queued nudge from overseer] first']);
  assert.is(queued('mr-crew-bob').length, 0);
  assert.is(ok('nudge-poller', 'myrig/crew/bob', '--once', '--json').state, 'empty');
  assert.is(ok('nudge-poller', 'mr-crew-bob', '--once', '--json').state, 'empty', 'a session name works too');
  assert.is(ok('nudge-poller', 'deacon', '--once', '--json').state, 'no-session');
  // A busy agent keeps its queue.
  ok('nudge', 'myrig/nux', 'wait for me', '--mode', 'queue');
  const b = ok('nudge-poller', 'myrig/nux', '--once', '--idle-timeout', '500ms', '--json');
  assert.is(b.state, 'busy');
  assert.is(queued('mr-nux').length, 1);
  clearQueues();
});

test('channel targets: nudge_channels patterns with * wildcards', () => {
  clearQueues();
  fs.writeFileSync(
    path.join(town, 'config', 'messaging.json'),
    `${JSON.stringify({ nudge_channels: { workers: ['myrig/crew/*', 'myrig/nux'], town: ['mayor/', '*/witness'] } })}\n`,
  );
  const r = ok('nudge', 'channel:workers', 'standup', '--mode', 'queue', '--json');
  assert.equal(r.results.map((x: any) => x.target).sort(), ['myrig/crew/bob', 'myrig/polecats/nux']);
  assert.ok(r.results.every((x: any) => x.delivered === 'queued'));
  const t = ok('nudge', 'channel:town', 'hi', '--mode', 'queue', '--json');
  assert.equal(t.results.map((x: any) => x.target).sort(), ['mayor', 'myrig/witness']);
  const before = allQueued();
  const none = gt(['nudge', 'channel:nope', 'x', '--json']);
  assert.is(none.code, 3);
  assert.match(none.stderr, /no nudge channel "nope".*workers/);
  assert.is(gt(['nudge', 'channel:../x', 'x']).code, 2);
  assert.is(allQueued(), before);
  clearQueues();
});

test('broadcast: every live worker, a rig’s, or --all', () => {
  clearQueues();
  const r = ok('broadcast', 'all hands', '--mode', 'queue', '--json');
  assert.is(r.count, 2);
  assert.equal(r.results.map((x: any) => x.target).sort(), ['myrig/crew/bob', 'myrig/polecats/nux']);
  assert.is(queued('mr-crew-bob')[0].kind, 'broadcast');
  const rig = ok('broadcast', 'rig only', '--rig', 'myrig', '--mode', 'queue', '--json');
  assert.is(rig.count, 2);
  const bad = gt(['broadcast', 'x', '--rig', 'nope', '--json']);
  assert.is(bad.code, 3);
  // Sent by bob: bob is left out.
  const fromBob = gt(['broadcast', 'from bob', '--mode', 'queue', '--json'], {
    env: { ...T.env, GT_ROLE: 'myrig/crew/bob', BD_ACTOR: 'myrig/crew/bob' },
  });
  assert.equal(
    fromBob.json().results.map((x: any) => x.target),
    ['myrig/polecats/nux'],
  );
  clearQueues();
});

test('bad targets and options are refused clearly, nothing queued', () => {
  clearQueues();
  const cases: [string[], number, RegExp][] = [
    [['nudge', 'nosuchrig/witness', 'x'], 2, /no rig named "nosuchrig"/],
    [['nudge', 'myrig/ghost', 'x'], 3, /no agent myrig\/polecats\/ghost/],
    [['nudge', '../../etc', 'x'], 2, /cannot read/],
    [['nudge', 'myrig/crew/../x', 'x'], 2, /./],
    [['nudge', 'witness', 'x'], 2, /of your rig/],
    [['nudge', 'mayor', 'x', '--mode', 'loud'], 2, /--mode/],
    [['nudge', 'mayor', 'x', '--priority', 'high'], 2, /--priority/],
    [['nudge', 'mayor', '   '], 2, /message/],
    [['nudge', 'mayor'], 2, /message/],
    [['nudge-poller', 'nosuchrig/nux', '--once'], 2, /no rig/],
  ];
  for (const [args, code, re] of cases) {
    const r = gt(args);
    assert.is(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
  }
  assert.is(allQueued(), 0);
  // witness as a role shortcut works inside the rig.
  const w = gt(['nudge', 'witness', 'x', '--mode', 'queue', '--json'], {
    cwd: path.join(town, 'myrig', 'crew', 'bob'),
  });
  assert.is(w.code, 0, w.stderr);
  assert.is(queued('mr-witness').length, 1);
  clearQueues();
});

test('the library call mail and escalation use: nudgeAgent(townRoot, identity, input)', async () => {
  clearQueues();
  const { nudgeAgent } = await import('../../src/nudge/nudge.ts');
  const before = lines('mr-crew-bob').length;
  const bob = { role: 'crew' as const, rig: 'myrig', name: 'bob' };
  const r = await nudgeAgent(
    town,
    bob,
    { sender: 'mayor', message: 'from the library', kind: 'mail' },
    { env: T.env },
  );
  assert.equal(r, { delivered: 'immediate' });
  await until('library nudge read', () => lines('mr-crew-bob').slice(before).includes('from the library'));
  const q = await nudgeAgent(
    town,
    { role: 'deacon' },
    { sender: 'mayor', message: 'queued', priority: 'urgent', kind: 'mail' },
    { env: T.env },
  );
  assert.equal(q, { delivered: 'queued', reason: 'no live session' });
  assert.equal(
    queued('hq-deacon').map((n) => [n.kind, n.priority]),
    [['mail', 'urgent']],
  );
  // Bad input throws, nothing queued.
  let threw = false;
  try {
    await nudgeAgent(town, bob, { sender: 'x', message: 'x', mode: 'loud' as any }, { env: T.env });
  } catch (e: any) {
    threw = e.exitCode === 2;
  }
  assert.ok(threw);
  assert.is(queued('mr-crew-bob').length, 0);
  clearQueues();
});

test('dnd for the overseer (town root, no agent env) lives on hq-overseer', () => {
  const on = ok('dnd', 'on', '--json');
  assert.equal(on.address, 'overseer');
  assert.is(on.bead, 'hq-overseer');
  assert.is(on.dnd, true);
  assert.is(ok('nudge', 'overseer', 'hi', '--json').delivered, 'skipped');
  assert.is(ok('dnd', 'off', '--json').dnd, false);
});

test('the overseer with no tmux client attached: queued under hq-overseer', () => {
  clearQueues();
  const r = ok('nudge', 'overseer', 'look at this #{session_name}', '--json');
  assert.is(r.delivered, 'queued');
  assert.is(queued('hq-overseer')[0].message, 'look at this #{session_name}');
  clearQueues();
});

test('--if-fresh sends only from a session younger than 60 s', () => {
  clearQueues();
  const outside = ok('nudge', 'myrig/crew/bob', 'x', '--if-fresh', '--mode', 'queue', '--json');
  assert.is(outside.delivered, 'skipped');
  assert.match(outside.reason, /not in an agent session/);
  const fresh = gt(['nudge', 'myrig/crew/bob', 'fresh', '--if-fresh', '--mode', 'queue', '--json'], {
    env: { ...T.env, GT_SESSION: 'mr-nux', GT_ROLE: 'myrig/nux' },
  });
  assert.is(fresh.code, 0, fresh.stderr);
  assert.is(fresh.json().delivered, 'queued');
  assert.is(queued('mr-crew-bob')[0].sender, 'myrig/nux');
  clearQueues();
});

test('the overseer with a tmux client attached gets a banner; formats in the text never run', async () => {
  clearQueues();
  if (!whichCommand('script')) {
    console.warn('skipped: `script` (util-linux) is not installed, no way to attach a tmux client');
    return;
  }
  const typescript = path.join(base, 'client.out');
  const client = spawn('script', ['-qfc', `tmux -L ${T.socket} attach -t =mr-crew-bob`, typescript], {
    env: { ...T.env, TERM: 'xterm' },
    stdio: 'ignore',
  });
  try {
    const clients = () =>
      spawnSync('tmux', ['-L', T.socket, 'list-clients', '-F', '#{client_name}'], {
        encoding: 'utf8',
      }).stdout.trim();
    await until('a client attached', () => clients() !== '');
    const pwned = path.join(base, 'p5');
    const r = ok('nudge', 'overseer', `look #(touch ${pwned}) #{session_name}`, '--json');
    assert.is(r.delivered, 'immediate');
    assert.match(r.reason, /banner/);
    await until('the banner on the client', () =>
      fs
        .readFileSync(typescript, 'utf8')
        .includes(`[nudge from overseer] look #(touch ${pwned}) #{session_name}`),
    );
    assert.not.ok(fs.existsSync(pwned), '#(...) was not run');
    assert.is(queued('hq-overseer').length, 0);
  } finally {
    client.kill();
  }
});

test.run();
