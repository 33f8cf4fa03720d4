// Agent presets: the built-in table, command-line splitting without a shell, custom agents,
// the resolution chain (flag > worker_agents > crew_agents > role_agents > rig agent > default),
// auto (claude when installed, else scripted), Claude settings materialisation, and the
// `gt config agent` / `gt config default-agent` commands.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  agentArgv,
  BUILTIN_AGENT_NAMES,
  loadAgents,
  materializeAgentSettings,
  presetFromSettings,
  resolveAgent,
  splitCommandLine,
} from '../../src/runtime/presets.ts';
import { beaconOf, classify } from '../../src/runtime/sessions.ts';
import { FAKE_AGENT, sessionTown } from './session-fixture.ts';

const T = sessionTown('presets');
const { ok, gt, town } = T;

test('built-in presets of spec §7, plus scripted', () => {
  for (const n of [
    'claude',
    'codex',
    'gemini',
    'opencode',
    'copilot',
    'cursor',
    'amp',
    'auggie',
    'pi',
    'omp',
    'vibe',
  ])
    assert.ok(BUILTIN_AGENT_NAMES.includes(n), n);
  const a = loadAgents(town);
  const claude = a.get('claude')!;
  assert.equal([claude.command, ...claude.args], ['claude', '--dangerously-skip-permissions']);
  assert.is(claude.prompt_mode, 'arg');
  assert.is(claude.ready_prompt_prefix, '❯ ');
  assert.is(claude.hooks?.flag, '--settings');
  assert.is(a.get('codex')!.prompt_mode, 'none');
  assert.is(a.get('gemini')!.ready_delay_ms, 5000);
  assert.is(a.get('opencode')!.env.OPENCODE_PERMISSION, '{"*":"allow"}');
  const scripted = a.get('scripted')!;
  assert.is(scripted.command, process.execPath);
  assert.equal(scripted.args.slice(1), ['agent', 'scripted']);
  assert.match(scripted.args[0], /dist\/gt\.mjs$/);
  assert.equal(a.get('fake')!.args, [FAKE_AGENT], 'custom agents from town settings');
});

test('command lines split like a shell would, with no expansion', () => {
  assert.equal(splitCommandLine('claude-glm --model glm-4'), ['claude-glm', '--model', 'glm-4']);
  assert.equal(splitCommandLine(`a 'b c' "d \\"e\\"" f\\ g $(x) \`y\` ~ *`), [
    'a',
    'b c',
    'd "e"',
    'f g',
    '$(x)',
    '`y`',
    '~',
    '*',
  ]);
  assert.equal(splitCommandLine(`x '' ""`), ['x', '', '']);
  assert.equal(splitCommandLine('   '), []);
  assert.throws(() => splitCommandLine(`a 'b`), /unterminated ' quote/);
});

test('custom agents: validated, built on their provider', () => {
  const p = presetFromSettings(
    'glm',
    { command: 'claude-glm', args: ['--model', 'glm-4'], provider: 'claude' },
    'x',
  );
  assert.is(p.hooks?.inject, 'settings-flag');
  assert.is(p.ready_prompt_prefix, '❯ ');
  assert.equal(agentArgv(p, { settingsFile: '/s.json', prompt: 'go' }), [
    'claude-glm',
    '--model',
    'glm-4',
    '--settings',
    '/s.json',
    'go',
  ]);
  const plain = presetFromSettings('tool', { command: '/opt/bin/tool', tmux: { ready_delay_ms: 10 } }, 'x');
  assert.equal(plain.process_names, ['tool']);
  assert.is(plain.ready_delay_ms, 10);
  assert.equal(agentArgv({ ...plain, prompt_mode: 'none' }, { prompt: 'go' }), ['/opt/bin/tool']);
  assert.equal(agentArgv({ ...plain, exec_wrapper: ['box', '--'] }, { prompt: 'go' }), [
    'box',
    '--',
    '/opt/bin/tool',
    'go',
  ]);
  assert.throws(() => presetFromSettings('x', { args: [] }, 'x'), /has no command/);
  assert.throws(() => presetFromSettings('x', { command: 'a', args: 'b' }, 'x'), /args must be a list/);
  assert.throws(() => presetFromSettings('x', { command: 'a', provider: 'nope' }, 'x'), /unknown provider/);
  assert.throws(() => presetFromSettings('x', { command: 'a', prompt_mode: 'stdin' }, 'x'), /prompt_mode/);
  assert.throws(
    () => presetFromSettings('x', { command: 'a', env: { 'A-B': 'c' } }, 'x'),
    /environment variable/,
  );
  assert.throws(() => presetFromSettings('bad name', { command: 'a' }, 'x'), /invalid agent name/);
  assert.throws(() => presetFromSettings('auto', { command: 'a' }, 'x'), /not an agent/);
});

test('resolution chain: --agent > worker_agents > crew_agents > role_agents > rig agent > default_agent', () => {
  const settingsFile = path.join(town, 'settings', 'config.json');
  const rigSettings = path.join(town, 'myrig', 'settings', 'config.json');
  const town0 = JSON.parse(fs.readFileSync(settingsFile, 'utf8'));
  const write = (f: string, d: unknown) => {
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, JSON.stringify(d));
  };
  const agents = {
    ...town0.agents,
    a1: { command: 'node' },
    a2: { command: 'node' },
    a3: { command: 'node' },
    a4: { command: 'node' },
    a5: { command: 'node' },
    a6: { command: 'node' },
  };
  write(settingsFile, {
    ...town0,
    agents,
    default_agent: 'a6',
    role_agents: { crew: 'a4', witness: 'a4' },
    crew_agents: { bob: 'a3' },
  });
  write(rigSettings, {
    type: 'rig-settings',
    agent: 'a5',
    worker_agents: { bob: 'a2' },
    role_agents: { refinery: 'a1' },
  });
  const crew = { role: 'crew' as const, rig: 'myrig', name: 'bob' };
  const pick = (id: any, flag?: string) => {
    const c = resolveAgent(town, id, { flag, env: { PATH: process.env.PATH } });
    return `${c.preset.name} ${c.source}`;
  };
  assert.is(pick(crew, 'a1'), 'a1 --agent');
  assert.is(pick(crew), 'a2 rig worker_agents.bob');
  assert.is(pick({ role: 'crew', rig: 'myrig', name: 'carol' }), 'a4 town role_agents.crew');
  write(rigSettings, { type: 'rig-settings', agent: 'a5', role_agents: { refinery: 'a1' } });
  assert.is(pick(crew), 'a3 town crew_agents.bob');
  assert.is(pick({ role: 'refinery', rig: 'myrig' }), 'a1 rig role_agents.refinery');
  assert.is(pick({ role: 'witness', rig: 'myrig' }), 'a4 town role_agents.witness');
  assert.is(pick({ role: 'polecat', rig: 'myrig', name: 'nux' }), 'a5 rig agent');
  assert.is(pick({ role: 'mayor' }), 'a6 town default_agent');
  assert.is(
    resolveAgent(town, { role: 'mayor' }, { env: { PATH: process.env.PATH, GT_CFG_DEFAULT_AGENT: 'a1' } })
      .preset.name,
    'a1',
  );
  // auto: claude when it is on PATH, else the scripted agent.
  write(settingsFile, { ...town0, default_agent: 'auto' });
  fs.rmSync(rigSettings);
  const empty = path.join(T.base, 'empty-bin');
  const withClaude = path.join(T.base, 'claude-bin');
  fs.mkdirSync(empty);
  fs.mkdirSync(withClaude);
  fs.writeFileSync(path.join(withClaude, 'claude'), '#!/bin/sh\n', { mode: 0o755 });
  assert.is(resolveAgent(town, { role: 'mayor' }, { env: { PATH: empty } }).preset.name, 'scripted');
  assert.is(resolveAgent(town, { role: 'mayor' }, { env: { PATH: withClaude } }).preset.name, 'claude');
  assert.throws(() => resolveAgent(town, { role: 'mayor' }, { flag: 'nope' }), /unknown agent "nope"/);
  write(settingsFile, town0);
});

test('claude settings land in the managed parent directory of each role', () => {
  const claude = loadAgents(town).get('claude')!;
  const cases: [any, string, string][] = [
    [{ role: 'mayor' }, 'mayor/.claude/settings.json', 'interactive'],
    [{ role: 'deacon' }, 'deacon/.claude/settings.json', 'autonomous'],
    [{ role: 'witness', rig: 'myrig' }, 'myrig/witness/.claude/settings.json', 'autonomous'],
    [{ role: 'refinery', rig: 'myrig' }, 'myrig/refinery/.claude/settings.json', 'autonomous'],
    [{ role: 'polecat', rig: 'myrig', name: 'nux' }, 'myrig/polecats/.claude/settings.json', 'autonomous'],
    [{ role: 'crew', rig: 'myrig', name: 'bob' }, 'myrig/crew/.claude/settings.json', 'interactive'],
  ];
  for (const [id, rel] of cases) {
    const f = materializeAgentSettings(town, id, claude)!;
    assert.is(f, path.join(town, rel));
    const s = JSON.parse(fs.readFileSync(f, 'utf8'));
    assert.is(s.hooks.SessionStart[0].hooks[0].command, 'gt prime --hook && gt mail check --inject');
  }
  const mtime = fs.statSync(path.join(town, 'mayor/.claude/settings.json')).mtimeMs;
  materializeAgentSettings(town, { role: 'mayor' }, claude);
  assert.is(
    fs.statSync(path.join(town, 'mayor/.claude/settings.json')).mtimeMs,
    mtime,
    'unchanged: not rewritten',
  );
  assert.is(materializeAgentSettings(town, { role: 'mayor' }, loadAgents(town).get('codex')!), null);
});

test('beacon and liveness classification', () => {
  const at = new Date('2026-01-02T15:04:05Z');
  assert.is(
    beaconOf({ role: 'polecat', rig: 'myrig', name: 'nux' }, { at, sender: 'mayor/', assigned: 'mr-wisp-1' }),
    '[GAS TOWN] polecat nux (rig: myrig) <- mayor/ • 2026-01-02T15:04 • assigned:mr-wisp-1 • Run `gt prime --hook` and begin work on your hook.',
  );
  assert.is(
    beaconOf({ role: 'mayor' }, { at }),
    '[GAS TOWN] mayor • 2026-01-02T15:04 • Run `gt prime --hook` and begin work on your hook.',
  );
  const pane = {
    session: 's',
    panePid: process.pid,
    paneDead: false,
    paneDeadStatus: null,
    paneCommand: 'node',
    created: 0,
    attached: false,
  };
  assert.is(classify(null, ['node'], false), 'dead');
  assert.is(classify(pane, ['node'], false), 'alive');
  assert.is(classify(pane, ['claude'], false), 'zombie');
  assert.is(classify(pane, ['claude'], true), 'alive', 'scripted: the pane pid is alive');
  assert.is(classify({ ...pane, paneDead: true }, ['node'], true), 'zombie');
});

test('gt config agent list|get|set|remove and gt config default-agent', () => {
  const list = ok('config', 'agent', 'list', '--json');
  assert.is(list.default_agent, 'fake');
  const byName = Object.fromEntries(list.agents.map((a: any) => [a.name, a]));
  assert.is(byName.claude.installed, false, 'claude is not installed here: reported, not used');
  assert.is(byName.scripted.installed, true);
  assert.is(byName.fake.builtin, false);
  const set = gt([
    'config',
    'agent',
    'set',
    'glm',
    `claude-glm --model 'glm 4' $HOME`,
    '--provider',
    'claude',
    '--json',
  ]);
  assert.is(set.code, 0, set.stderr);
  assert.equal(set.json().command, ['claude-glm', '--model', 'glm 4', '$HOME']);
  assert.match(set.stderr, /not on PATH/);
  const got = ok('config', 'agent', 'get', 'glm', '--json');
  assert.is(got.provider, 'claude');
  assert.is(got.prompt_mode, 'arg');
  const settings = JSON.parse(fs.readFileSync(path.join(town, 'settings', 'config.json'), 'utf8'));
  assert.equal(settings.agents.glm, {
    command: 'claude-glm',
    args: ['--model', 'glm 4', '$HOME'],
    provider: 'claude',
  });
  // default-agent
  assert.match(ok('config', 'default-agent'), /^fake\t\(town\)/);
  ok('config', 'default-agent', 'glm');
  assert.is(ok('config', 'default-agent', '--json').default_agent, 'glm');
  const rmDefault = gt(['config', 'agent', 'remove', 'glm']);
  assert.is(rmDefault.code, 1);
  assert.match(rmDefault.stderr, /is the default agent/);
  ok('config', 'default-agent', 'fake');
  ok('config', 'agent', 'remove', 'glm');
  assert.is(gt(['config', 'agent', 'get', 'glm']).code, 3);
  // Built-ins cannot be removed; an override of one can.
  const rmBuiltin = gt(['config', 'agent', 'remove', 'claude']);
  assert.is(rmBuiltin.code, 2);
  assert.match(rmBuiltin.stderr, /built-in preset and cannot be removed/);
  ok('config', 'agent', 'set', 'claude', 'claude --model opus');
  assert.equal(ok('config', 'agent', 'get', 'claude', '--json').command, ['claude', '--model', 'opus']);
  assert.match(ok('config', 'agent', 'remove', 'claude'), /built-in preset applies again/);
  assert.equal(ok('config', 'agent', 'get', 'claude', '--json').command, [
    'claude',
    '--dangerously-skip-permissions',
  ]);
  // Bad input.
  for (const args of [
    ['config', 'agent', 'set', 'bad name', 'x'],
    ['config', 'agent', 'set', 'ok', ''],
    ['config', 'agent', 'set', 'ok', "x 'unterminated"],
    ['config', 'agent', 'set', 'ok', 'x', '--prompt-mode', 'stdin'],
    ['config', 'agent', 'set', 'ok', 'x', '--ready-delay', 'soon'],
    ['config', 'agent', 'set', 'ok', 'x', '--env', 'A B=c'],
    ['config', 'agent', 'set', 'auto', 'x'],
    ['config', 'default-agent', 'nosuch'],
    ['config', 'default-agent', '../x'],
  ]) {
    const r = gt(args);
    assert.is(r.code, 2, `gt ${args.join(' ')} → ${r.code}: ${r.stderr}`);
  }
  assert.is(gt(['config', 'agent', 'remove', 'nosuch']).code, 3);
});

test.after(() => {
  T.killServer();
});
test.run();
