// Identities, addresses, session names, prefix derivation and settings layers (pure logic),
// plus gt install end to end.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  actorOf,
  addressOf,
  agentBeadIdOf,
  detectIdentity,
  type Identity,
  parseIdentity,
  sessionNameOf,
  tmuxSocketOf,
  workDirOf,
} from '../../src/town/identity.ts';
import { deriveBeadsPrefix, validateAgentName, validateRigName } from '../../src/town/names.ts';
import { durationMs, getSetting, listSettings, setSetting, unsetSetting } from '../../src/town/settings.ts';
import { GT, run, tmpDir, tmpRepo } from '../helpers.ts';

test('identity table of spec §2.5: actor, address, session, agent bead, work dir', () => {
  const rows: [Identity, string, string, string, string, string][] = [
    [{ role: 'mayor' }, 'mayor', 'mayor/', 'hq-mayor', 'hq-mayor', 'mayor'],
    [{ role: 'deacon' }, 'deacon', 'deacon/', 'hq-deacon', 'hq-deacon', 'deacon'],
    [
      { role: 'dog', name: 'rex' },
      'deacon/dogs/rex',
      'deacon/dogs/rex',
      'hq-dog-rex',
      'hq-dog-rex',
      'deacon/dogs/rex',
    ],
    [
      { role: 'witness', rig: 'gastown' },
      'gastown/witness',
      'gastown/witness',
      'gt-witness',
      'gt-gastown-witness',
      'gastown/witness',
    ],
    [
      { role: 'refinery', rig: 'gastown' },
      'gastown/refinery',
      'gastown/refinery',
      'gt-refinery',
      'gt-gastown-refinery',
      'gastown/refinery/rig',
    ],
    [
      { role: 'polecat', rig: 'gastown', name: 'nux' },
      'gastown/polecats/nux',
      'gastown/nux',
      'gt-nux',
      'gt-gastown-polecat-nux',
      'gastown/polecats/nux/gastown',
    ],
    [
      { role: 'crew', rig: 'gastown', name: 'bob' },
      'gastown/crew/bob',
      'gastown/bob',
      'gt-crew-bob',
      'gt-gastown-crew-bob',
      'gastown/crew/bob',
    ],
  ];
  for (const [id, actor, address, session, bead, dir] of rows) {
    assert.is(actorOf(id), actor);
    assert.is(addressOf(id), address);
    assert.is(sessionNameOf(id, 'gt'), session);
    assert.is(agentBeadIdOf(id, 'gt'), bead);
    assert.is(workDirOf(id, '/town'), path.join('/town', dir));
    assert.equal(parseIdentity(actor), id, `round trip ${actor}`);
  }
  assert.equal(parseIdentity('gastown/bob', { crewNames: () => ['bob'] }), {
    role: 'crew',
    rig: 'gastown',
    name: 'bob',
  });
  assert.equal(parseIdentity('gastown/nux'), { role: 'polecat', rig: 'gastown', name: 'nux' });
  assert.equal(parseIdentity('mayor/'), { role: 'mayor' });
  for (const bad of ['', 'nobody', 'a/b/c/d', '../x/witness', 'deacon/cats/x']) {
    assert.throws(() => parseIdentity(bad), /cannot read/, bad);
  }
  assert.match(tmuxSocketOf('/some/town', {}), /^gt-[0-9a-f]{6}$/);
  assert.is(tmuxSocketOf('/some/town', { GT_TMUX_SOCKET: 'mine' }), 'mine');
});

test('identity detection: environment first, then the position in the town', () => {
  const town = '/town';
  assert.equal(detectIdentity(town, '/town/x/polecats/nux/x/src', {}), {
    role: 'polecat',
    rig: 'x',
    name: 'nux',
  });
  assert.equal(detectIdentity(town, '/town/x/refinery/rig', {}), { role: 'refinery', rig: 'x' });
  assert.equal(detectIdentity(town, '/town/mayor', {}), { role: 'mayor' });
  assert.equal(detectIdentity(town, '/town', {}), { role: 'overseer' });
  assert.equal(detectIdentity(town, '/elsewhere', {}), { role: 'overseer' });
  assert.equal(detectIdentity(town, '/town/mayor', { GT_ROLE: 'x/crew/bob' }), {
    role: 'crew',
    rig: 'x',
    name: 'bob',
  });
});

test('rig names and prefixes', () => {
  assert.is(deriveBeadsPrefix('gastown'), 'gt');
  assert.is(deriveBeadsPrefix('my-project'), 'mp');
  assert.is(deriveBeadsPrefix('myProject'), 'mp');
  assert.is(deriveBeadsPrefix('api'), 'api');
  assert.is(deriveBeadsPrefix('backend'), 'ba');
  for (const bad of ['my-rig', 'a.b', 'a/b', 'has space', '', '9lives', 'mayor', 'hq']) {
    assert.throws(() => validateRigName(bad), undefined, bad);
  }
  validateRigName('my_rig2');
  assert.throws(() => validateAgentName('../x'));
  assert.throws(() => validateAgentName('witness'));
  validateAgentName('nux');
});

test('settings: default < town < rig < env < flag, with origins; bad values are clear errors', () => {
  const town = tmpDir('town-');
  fs.mkdirSync(path.join(town, 'settings'), { recursive: true });
  fs.mkdirSync(path.join(town, 'r1', 'settings'), { recursive: true });
  const key = 'operational.polecat.namepool_size';
  const ctx = { townRoot: town, rig: 'r1', env: {} };
  assert.equal(getSetting(key, ctx), { value: 50, origin: 'default' });
  setSetting(town, key, 40);
  assert.equal(getSetting(key, ctx), { value: 40, origin: 'town' });
  setSetting(town, key, 30, 'r1');
  assert.equal(getSetting(key, ctx), { value: 30, origin: 'rig' });
  assert.equal(getSetting(key, { ...ctx, env: { GT_CFG_OPERATIONAL__POLECAT__NAMEPOOL_SIZE: '20' } }), {
    value: 20,
    origin: 'env',
  });
  assert.equal(getSetting(key, { ...ctx, flags: { [key]: 10 } }), { value: 10, origin: 'flag' });
  assert.ok(listSettings(ctx).some((r) => r.key === key && r.value === 30 && r.origin === 'rig'));
  assert.ok(unsetSetting(town, key, 'r1').removed);
  assert.equal(getSetting(key, ctx), { value: 40, origin: 'town' });
  fs.writeFileSync(path.join(town, 'settings', 'config.json'), '{ not json');
  assert.throws(() => getSetting(key, ctx), /town settings is not valid JSON/);
  assert.throws(() => getSetting('bad key', ctx), /invalid setting key/);
  assert.is(durationMs('15m'), 900_000);
  assert.throws(() => durationMs('soon'), /not a duration/);
});

test('gt install: layout, ledger with town agents, committed config; idempotent; refuses foreign dirs', () => {
  const base = tmpRepo();
  const env = base.env;
  const town = path.join(base.home, 'gt');
  const r = run(GT, ['install', town, '--name', 'hq-town', '--json'], { cwd: base.home, env });
  assert.is(r.code, 0, r.stderr);
  assert.equal(r.json().created, true);
  for (const f of [
    'mayor/town.json',
    'mayor/rigs.json',
    'mayor/daemon.json',
    'settings/config.json',
    'settings/escalation.json',
    '.gitignore',
  ]) {
    assert.ok(fs.existsSync(path.join(town, f)), f);
  }
  const log = spawnSync('git', ['log', '--format=%s', 'main'], { cwd: town, env, encoding: 'utf8' }).stdout;
  assert.match(log, /gt install: town hq-town/);
  const townJson = JSON.parse(fs.readFileSync(path.join(town, 'mayor', 'town.json'), 'utf8'));
  assert.is(townJson.name, 'hq-town');
  const agents = run(path.join(path.dirname(GT), 'bd.mjs'), ['list', '--type', 'agent', '--json'], {
    cwd: town,
    env,
  }).json();
  assert.equal(agents.map((a: any) => a.id).sort(), ['hq-deacon', 'hq-mayor']);
  const again = run(GT, ['install', town, '--json'], { cwd: base.home, env });
  assert.is(again.code, 0);
  assert.equal(again.json().created, false);
  const rename = run(GT, ['install', town, '--name', 'other'], { cwd: base.home, env });
  assert.is(rename.code, 1);
  const foreign = path.join(base.home, 'foreign');
  fs.mkdirSync(foreign);
  fs.writeFileSync(path.join(foreign, 'notes.txt'), 'mine');
  const refused = run(GT, ['install', foreign], { cwd: base.home, env });
  assert.is(refused.code, 1);
  assert.match(refused.stderr, /not empty/);
  assert.not.ok(fs.existsSync(path.join(foreign, 'mayor')));
  assert.is(run(GT, ['install', foreign, '--force'], { cwd: base.home, env }).code, 0);
  assert.ok(fs.existsSync(path.join(foreign, 'notes.txt')));
});

test.run();
