// gt up / gt down on real tmux: idempotent, one ledger commit per command that changes
// something; and the refusals: missing or old tmux, invalid agent names and addresses, with
// nothing half-made.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { tmpDir } from '../helpers.ts';
import { sessionTown, until } from './session-fixture.ts';

const T = sessionTown('updown');
const { ok, gt, town } = T;
const INFRA = ['hq-deacon', 'hq-mayor', 'mr-refinery', 'mr-witness'];
const lock = path.join(town, 'daemon', 'shutdown.lock');

test('gt up starts mayor, deacon, witness and refinery; again is a no-op', () => {
  const before = T.ledgerCommits();
  const up = ok('up', '--no-daemon', '--json');
  assert.is(up.ok, true);
  assert.equal(up.sessions.map((s: any) => s.session).sort(), INFRA);
  assert.ok(up.sessions.every((s: any) => s.action === 'started'));
  assert.is(T.ledgerCommits(), before + 1, 'one commit for the whole command');
  const rows = ok('agents', '--json');
  assert.equal(
    rows.map((r: any) => r.session),
    INFRA,
  );
  assert.ok(rows.every((r: any) => r.state === 'alive'));
  const again = ok('up', '--no-daemon', '--json');
  assert.ok(again.sessions.every((s: any) => s.action === 'running'));
  assert.is(T.ledgerCommits(), before + 1, 'no commit when everything runs');
  assert.match(ok('up', '--no-daemon'), /mayor \(hq-mayor\) already running/);
});

test('gt up restarts only what died', async () => {
  const w = ok('witness', 'status', 'myrig', '--json');
  process.kill(w.pane_pid, 'SIGKILL');
  await until('witness zombie', () => ok('witness', 'status', 'myrig', '--json').state === 'zombie');
  ok('mayor', 'stop');
  const up = ok('up', '--no-daemon', '--json');
  const by = Object.fromEntries(up.sessions.map((s: any) => [s.session, s.action]));
  assert.equal(by, {
    'hq-mayor': 'started',
    'hq-deacon': 'running',
    'mr-witness': 'restarted',
    'mr-refinery': 'running',
  });
  assert.ok(ok('agents', '--json').every((r: any) => r.state === 'alive'));
});

test('gt down stops them, writes the shutdown lock; again is a no-op; up clears the lock', () => {
  const before = T.ledgerCommits();
  const down = ok('down', '--json');
  assert.equal(down.sessions.map((s: any) => s.session).sort(), INFRA);
  assert.ok(down.sessions.every((s: any) => s.action === 'stopped'));
  assert.ok(fs.existsSync(lock));
  assert.is(T.ledgerCommits(), before + 1);
  assert.equal(ok('agents', '--json'), []);
  const again = ok('down', '--json');
  assert.ok(again.sessions.every((s: any) => s.action === 'not-running'));
  assert.is(T.ledgerCommits(), before + 1, 'no commit when nothing runs');
  ok('up', '--no-daemon');
  assert.not.ok(fs.existsSync(lock));
  // --all also takes polecats and crew down.
  ok('session', 'start', 'myrig/polecats/nux');
  const all = ok('down', '--all', '--json');
  assert.ok(all.sessions.some((s: any) => s.session === 'mr-nux' && s.action === 'stopped'));
  assert.equal(ok('agents', '--json'), []);
});

test('invalid agent names, addresses and counts are usage errors (exit 2); nothing starts', () => {
  const before = T.ledgerCommits();
  const bad: string[][] = [
    ['session', 'start', 'myrig/polecats/a;b'],
    ['session', 'start', '../etc'],
    ['session', 'start', 'myrig/polecats/..'],
    ['session', 'start', 'nope/witness'],
    ['session', 'start', 'overseer'],
    ['session', 'start', 'myrig/crew/$(id)'],
    ['session', 'start', 'myrig/polecats/witness'],
    ['witness', 'start', 'bad rig'],
    ['witness', 'start', 'norig'],
    ['mayor', 'start', '--agent', 'bad name'],
    ['mayor', 'start', '--agent', 'nosuchagent'],
    ['mayor', 'start', '--agent', 'auto;rm'],
    ['mayor', 'start', '--env', 'BAD-NAME=x'],
    ['mayor', 'start', '--env', 'novalue'],
    ['peek', 'mayor', '-n', 'lots'],
    ['peek', 'mayor', '0'],
    ['session', 'inject', 'mayor'],
    ['mayor', 'start', 'extra'],
    ['witness', 'start'],
  ];
  for (const args of bad) {
    const r = gt(args);
    assert.is(r.code, 2, `gt ${args.join(' ')} → ${r.code}: ${r.stderr}`);
    assert.match(r.stderr, /Error: /);
  }
  assert.match(gt(['session', 'start', 'myrig/polecats/a;b']).stderr, /invalid polecat name "a;b"/);
  assert.match(gt(['witness', 'start', 'norig']).stderr, /no rig named "norig" \(rigs: myrig\)/);
  assert.match(gt(['mayor', 'start', '--agent', 'nosuchagent']).stderr, /unknown agent "nosuchagent"/);
  assert.is(T.ledgerCommits(), before);
  assert.equal(ok('agents', '--json'), []);
});

test('missing tmux: a clear error and nothing half-made', () => {
  // A PATH with node and git but no tmux.
  const bin = tmpDir('gt-notmux-');
  for (const tool of ['git', 'node']) {
    const real = spawnWhich(tool);
    fs.symlinkSync(real, path.join(bin, tool));
  }
  const env = { ...T.env, PATH: bin };
  fs.rmSync(lock, { force: true });
  const before = T.ledgerCommits();
  const runtimeBefore = listRuntime();
  for (const args of [
    ['mayor', 'start'],
    ['up'],
    ['down'],
    ['session', 'start', 'myrig/witness'],
    ['agents'],
  ]) {
    const r = gt(args, { env });
    assert.is(r.code, 1, `gt ${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /tmux not found: install it \(apt-get install tmux\)/);
  }
  assert.is(T.ledgerCommits(), before);
  assert.equal(listRuntime(), runtimeBefore);
  assert.not.ok(fs.existsSync(lock), 'down did not write its lock');
  // An old tmux is refused the same way.
  fs.writeFileSync(path.join(bin, 'tmux'), '#!/bin/sh\necho "tmux 3.0a"\n', { mode: 0o755 });
  fs.symlinkSync('/bin/sh', path.join(bin, 'sh'));
  const old = gt(['mayor', 'start'], { env });
  assert.is(old.code, 1);
  assert.match(old.stderr, /tmux 3\.0a is too old: Gas Town needs tmux 3\.2 or newer/);
  assert.is(T.ledgerCommits(), before);
});

function spawnWhich(tool: string): string {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = path.join(dir, tool);
    if (fs.existsSync(p)) return fs.realpathSync(p);
  }
  throw new Error(`${tool} not found`);
}

function listRuntime(): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    if (!fs.existsSync(d)) return;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.push(path.relative(town, p));
    }
  };
  walk(path.join(town, '.runtime'));
  return out.sort();
}

test.after(() => {
  T.killServer();
});
test.run();
