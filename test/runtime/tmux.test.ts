// The tmux adapter against a real tmux server on its own socket: session lifecycle, literal
// send-keys, capture, respawn, liveness, readiness, the pane-died hook, and the argument rules
// (no shell, `;`-terminated arguments), plus the missing/old tmux errors.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  escapeTmuxArg,
  execArgv,
  parseTmuxVersion,
  shellQuote,
  sleep,
  Tmux,
  whichCommand,
} from '../../src/runtime/tmux.ts';
import { ROOT, tmpDir } from '../helpers.ts';
import { killTmuxServer } from './session-fixture.ts';

const SOCKET = `gt-test-tmux-${process.pid}`;
const killServer = () => killTmuxServer(SOCKET);
process.on('exit', killServer);

const FAKE = path.join(ROOT, 'test', 'runtime', 'fixtures', 'fake-agent.mjs');
const base = tmpDir('gt-tmux-');
const logDir = path.join(base, 'logs');
fs.mkdirSync(logDir);
const env = { ...process.env, FAKE_AGENT_DIR: logDir };
const tmux = new Tmux(SOCKET, { env });

function events(session: string): any[] {
  const f = path.join(logDir, `${session}.jsonl`);
  if (!fs.existsSync(f)) return [];
  return fs
    .readFileSync(f, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

async function until<T>(what: string, fn: () => T | undefined | null | false, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(30);
  }
}

function start(name: string, command: string[], extra: { env?: Record<string, string> } = {}) {
  tmux.newSession({
    name,
    cwd: base,
    command,
    env: { GT_SESSION: name, ...(extra.env ?? {}) },
    remainOnExit: true,
  });
}

test('pure helpers: tmux argument escaping, shell quoting for display, exec argv, versions', () => {
  assert.is(escapeTmuxArg('a;'), 'a\\;');
  assert.is(escapeTmuxArg('a;b'), 'a;b');
  assert.is(escapeTmuxArg(';'), '\\;');
  assert.is(shellQuote('plain/path-1.txt'), 'plain/path-1.txt');
  assert.is(shellQuote("it's $(x)"), `'it'\\''s $(x)'`);
  assert.is(shellQuote(''), "''");
  assert.equal(execArgv(['a', 'b']), ['a', 'b']);
  assert.equal(execArgv(['/bin/x y']), ['env', '--', '/bin/x y']);
  assert.throws(() => execArgv([]), /cannot be empty/);
  assert.equal(execArgv(['a', 'b'], { PATH: '/x:/y' }), ['env', '--', 'PATH=/x:/y', 'a', 'b']);
  assert.throws(() => execArgv(['A=1', 'b'], { PATH: '/x' }), /invalid command/);
  assert.equal(parseTmuxVersion('tmux 3.3a'), [3, 3]);
  assert.equal(parseTmuxVersion('tmux next-3.5'), [3, 5]);
  assert.equal(parseTmuxVersion('tmux master'), [99, 0]);
  assert.is(parseTmuxVersion('nonsense'), null);
  assert.ok(whichCommand('tmux'));
  assert.is(whichCommand('surely-not-a-command-gt'), null);
  assert.throws(() => new Tmux('bad/socket'), /invalid tmux socket name/);
  assert.throws(() => tmux.hasSession('bad name'), /invalid tmux session name/);
});

test('session lifecycle: new, has, list (pane pid and command), capture, kill', async () => {
  tmux.ensureAvailable();
  start('life', [process.execPath, FAKE, 'one', 'two']);
  assert.ok(tmux.hasSession('life'));
  assert.not.ok(tmux.hasSession('lif'), 'no prefix matching of session names');
  await tmux.waitForReady('life', { promptPrefix: '❯ ', timeoutMs: 5000 });
  const row = tmux.listSessions().find((s) => s.session === 'life')!;
  assert.ok(row.panePid > 0);
  assert.is(row.paneCommand, 'node');
  assert.is(row.paneDead, false);
  const ev = await until('start event', () => events('life')[0]);
  assert.equal(ev.argv, ['one', 'two']);
  assert.is(ev.cwd, fs.realpathSync(base));
  assert.is(ev.pid, row.panePid, 'the agent is the pane process itself (no shell in between)');
  assert.match(tmux.capturePane('life', 5), /fake agent starting/);
  assert.ok(tmux.isAgentRunning('life', ['node']));
  assert.not.ok(tmux.isAgentRunning('life', ['claude']));
  assert.throws(() => start('life', [process.execPath, FAKE]), /already exists/);
  assert.ok(tmux.killSession('life'));
  assert.not.ok(tmux.hasSession('life'));
  assert.not.ok(tmux.killSession('life'));
});

const NASTY = [
  `echo "hi"; touch ${path.join(base, 'pwned1')}`,
  `$(touch ${path.join(base, 'pwned2')})`,
  `\`touch ${path.join(base, 'pwned3')}\``,
  'ends with a semicolon;',
  'escaped\\;',
  ';',
  'Enter',
  'C-c',
  '-l',
  '--',
  '#{session_name} #(touch pwned4)',
  `'single' "double" \\back`,
  '{ kill-server }',
  '%1 $HOME ~ *',
];

test('send-keys is literal: quotes, semicolons, $(...) and key names arrive verbatim, nothing runs', async () => {
  start('lit', [process.execPath, FAKE]);
  await tmux.waitForReady('lit', { promptPrefix: '❯ ', timeoutMs: 5000 });
  for (const text of NASTY) await tmux.sendText('lit', text, { enterDelayMs: 20 });
  const lines = await until('all lines', () => {
    const l = events('lit').filter((e) => e.event === 'line');
    return l.length >= NASTY.length ? l : null;
  });
  assert.equal(
    lines.map((l) => l.text),
    NASTY,
  );
  for (const f of ['pwned1', 'pwned2', 'pwned3', 'pwned4'])
    assert.not.ok(fs.existsSync(path.join(base, f)), `${f} must not exist`);
  assert.ok(tmux.hasSession('lit'), 'the server survived');
  tmux.killSession('lit');
});

test('command arguments reach the program verbatim; a one-word command runs without a shell', async () => {
  start('args', [process.execPath, FAKE, ...NASTY]);
  const ev = await until('start event', () => events('args')[0]);
  assert.equal(ev.argv, NASTY);
  // A single-word command whose path holds shell metacharacters: exec'd, not `sh -c`.
  const odd = path.join(base, "odd dir;$(x) 'q'");
  fs.mkdirSync(odd);
  const script = path.join(odd, 'agent;');
  fs.copyFileSync(FAKE, script);
  fs.chmodSync(script, 0o755);
  start('oneword', [script]);
  const ev2 = await until('one-word start', () => events('oneword')[0]);
  assert.equal(ev2.argv, []);
  for (const f of ['pwned1', 'pwned2', 'pwned3']) assert.not.ok(fs.existsSync(path.join(base, f)));
  tmux.killSession('args');
  tmux.killSession('oneword');
});

test('environment (-e) values arrive verbatim', async () => {
  const value = 'x; y $(z) `w` "q" \'s\' ;';
  start('envs', [process.execPath, FAKE], { env: { EXTRA: value } });
  const ev = await until('start event', () => events('envs')[0]);
  assert.is(ev.env.EXTRA, value);
  tmux.killSession('envs');
});

test('liveness after kill -9 (dead pane kept), respawn-pane with a new command', async () => {
  start('resp', [process.execPath, FAKE, 'first']);
  await tmux.waitForReady('resp', { promptPrefix: '❯ ', timeoutMs: 5000 });
  const pid = tmux.paneInfo('resp')!.panePid;
  process.kill(pid, 'SIGKILL');
  const dead = await until('dead pane', () => {
    const p = tmux.paneInfo('resp');
    return p?.paneDead ? p : null;
  });
  assert.ok(dead, 'the session stays with a dead pane (remain-on-exit)');
  assert.not.ok(tmux.isAgentRunning('resp', ['node']));
  tmux.respawnPane('resp', {
    command: [process.execPath, FAKE, 'second'],
    cwd: base,
    env: { GT_SESSION: 'resp' },
  });
  await tmux.waitForReady('resp', { promptPrefix: '❯ ', timeoutMs: 5000 });
  const p = tmux.paneInfo('resp')!;
  assert.is.not(p.panePid, pid);
  assert.ok(tmux.isAgentRunning('resp', ['node']));
  const starts = events('resp').filter((e) => e.event === 'start');
  assert.equal(
    starts.map((s) => s.argv),
    [['first'], ['second']],
  );
  // Respawning a live pane replaces its process.
  tmux.respawnPane('resp', { command: [process.execPath, FAKE, 'third'], env: { GT_SESSION: 'resp' } });
  await until('third start', () => events('resp').filter((e) => e.event === 'start').length === 3);
  tmux.killSession('resp');
});

test('wait-for-ready: a prompt that never comes times out with a clear error; an early exit says so', async () => {
  start('slow', [process.execPath, FAKE], { env: { FAKE_AGENT_PROMPT: 'nope> ' } });
  const t0 = Date.now();
  try {
    await tmux.waitForReady('slow', { promptPrefix: '❯ ', timeoutMs: 400, label: 'slowpoke' });
    assert.unreachable('should time out');
  } catch (e: any) {
    assert.match(e.message, /slowpoke: not ready after 0 s \(waited for its prompt "❯"/);
  }
  assert.ok(Date.now() - t0 < 3000);
  // Fixed delay: ready once the delay passes with the agent still running.
  await tmux.waitForReady('slow', { delayMs: 100, timeoutMs: 2000 });
  tmux.killSession('slow');
  start('quits', [process.execPath, '-e', 'process.exit(5)']);
  try {
    await tmux.waitForReady('quits', { promptPrefix: '❯ ', timeoutMs: 3000, label: 'quitter' });
    assert.unreachable('should fail');
  } catch (e: any) {
    assert.match(e.message, /quitter: the agent exited while starting \(status 5\)/);
  }
  tmux.killSession('quits');
});

test('pane-died hook: a fixed run-shell reads data through #{q:} formats', async () => {
  const dir = path.join(base, "hook dir 'x' $(y)");
  fs.mkdirSync(dir);
  tmux.newSession({
    name: 'hooked',
    cwd: base,
    command: [process.execPath, '-e', 'setTimeout(() => process.exit(4), 200)'],
    remainOnExit: true,
    userOptions: { out: path.join(dir, 'died') },
    paneDiedHook: 'run-shell -b "echo #{pane_dead_status} > #{q:@out}"',
  });
  // tmux fires pane-died once it has reaped the child; under load it can miss the SIGCHLD
  // until another child exits, which nudgeReap provides.
  await until('dead pane', () => tmux.paneInfo('hooked')?.paneDead);
  tmux.nudgeReap();
  const text = await until('hook output', () => {
    const f = path.join(dir, 'died');
    return fs.existsSync(f) && fs.readFileSync(f, 'utf8').trim();
  });
  assert.is(text, '4');
  tmux.killSession('hooked');
});

test('missing tmux and tmux older than 3.2 give clear errors', () => {
  const empty = tmpDir('gt-nopath-');
  const none = new Tmux('gt-test-none', { env: { PATH: empty } });
  assert.throws(() => none.ensureAvailable(), /tmux not found: install it \(apt-get install tmux\)/);
  assert.throws(() => none.hasSession('x'), /tmux not found/);
  const old = tmpDir('gt-oldtmux-');
  fs.writeFileSync(path.join(old, 'tmux'), '#!/bin/sh\necho "tmux 3.1c"\n', { mode: 0o755 });
  const o = new Tmux('gt-test-old', { env: { PATH: `${old}:/usr/bin:/bin` } });
  assert.throws(() => o.ensureAvailable(), /tmux 3\.1c is too old: Gas Town needs tmux 3\.2 or newer/);
});

test.after(() => {
  killServer();
});
test.run();
