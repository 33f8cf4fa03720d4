// Start-up dialogs: the pure matcher, and a session whose agent first asks whether to trust the
// folder (or warns about bypass-permissions mode) comes up anyway, the dialog answered with the
// right keys, on real tmux.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { detectStartupDialog } from '../../src/runtime/dialogs.ts';
import { FAKE_AGENT, sessionTown } from './session-fixture.ts';

test('detectStartupDialog: trust and bypass screens, and nothing on an ordinary prompt', () => {
  assert.equal(
    detectStartupDialog('Do you trust the files in this folder?\n❯ 1. Yes, proceed\n  2. No, exit'),
    {
      name: 'workspace trust',
      keys: ['Enter'],
    },
  );
  assert.equal(
    detectStartupDialog(
      'WARNING: Claude Code running in Bypass Permissions mode\n❯ 1. No, exit\n  2. Yes, I accept',
    ),
    { name: 'bypass-permissions warning', keys: ['Down', 'Enter'] },
  );
  assert.is(detectStartupDialog('fake agent starting\n❯ '), null);
  // The warning alone (no choice offered) is not a dialog to answer.
  assert.is(detectStartupDialog('running in Bypass Permissions mode'), null);
});

const T = sessionTown('dialog');
const settingsFile = path.join(T.town, 'settings', 'config.json');
const settings = JSON.parse(fs.readFileSync(settingsFile, 'utf8'));
for (const kind of ['trust', 'bypass'])
  settings.agents[`asks-${kind}`] = {
    command: process.execPath,
    args: [FAKE_AGENT],
    env: { FAKE_AGENT_DIR: T.logDir, FAKE_AGENT_DIALOG: kind },
    process_names: ['node'],
    ready_prompt_prefix: '❯ ',
  };
fs.writeFileSync(settingsFile, `${JSON.stringify(settings, null, 2)}\n`);

test('a session behind a trust dialog or the bypass warning starts: answered with Enter / Down+Enter', () => {
  try {
    const a = T.ok('session', 'start', 'mayor', '--agent', 'asks-trust', '--json');
    assert.is(a.action, 'started');
    assert.equal(a.dialogs_dismissed, ['workspace trust']);
    assert.equal(
      T.events('hq-mayor')
        .filter((e) => e.event === 'dialog')
        .map((e) => [e.dialog, e.answer]),
      [['trust', 'enter']],
    );
    const b = T.ok('session', 'start', 'deacon', '--agent', 'asks-bypass', '--json');
    assert.equal(b.dialogs_dismissed, ['bypass-permissions warning']);
    assert.equal(
      T.events('hq-deacon')
        .filter((e) => e.event === 'dialog')
        .map((e) => [e.dialog, e.answer]),
      [['bypass', 'down+enter']],
    );
    // An agent with no dialog reports none.
    const c = T.ok('session', 'start', 'deacon/boot', '--json');
    assert.is(c.dialogs_dismissed, undefined);
  } finally {
    T.killServer();
  }
});

test.run();
