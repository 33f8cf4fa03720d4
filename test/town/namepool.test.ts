// The polecat name pool: themes, theme choice by hash avoiding other rigs' themes, allocation
// order, release, overflow numbers never reused, reserved names, stale reservations, the
// `gt namepool` command, and concurrent allocation from several processes.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  allocatePolecatName,
  chooseTheme,
  confirmPolecatName,
  namepoolStatus,
  releasePolecatName,
  THEME_ORDER,
  THEMES,
} from '../../src/town/namepool.ts';
import { RESERVED_AGENT_NAMES, validateAgentName } from '../../src/town/names.ts';
import { ROOT } from '../helpers.ts';
import { makeTown } from './town-fixture.ts';

test('themes: at least mad-max, minerals and wasteland, 50 distinct safe names each', () => {
  for (const t of ['mad-max', 'minerals', 'wasteland']) assert.ok(THEMES[t], t);
  const all = new Set<string>();
  for (const [theme, names] of Object.entries(THEMES)) {
    assert.is(names.length, 50, theme);
    assert.is(new Set(names).size, 50, `${theme} has duplicates`);
    for (const n of names) {
      validateAgentName(n, 'polecat');
      assert.ok(/^[a-z]+$/.test(n), `${theme}: ${n}`);
      assert.not.ok(RESERVED_AGENT_NAMES.has(n), `${theme}: ${n} is reserved`);
      assert.not.ok(all.has(n), `${n} appears in two themes`);
      all.add(n);
    }
  }
  assert.ok(THEMES['mad-max'].includes('furiosa'));
});

test('theme choice: a hash of the rig name, avoiding themes other rigs use', () => {
  const a = chooseTheme('gastown', []);
  assert.is(chooseTheme('gastown', []), a, 'deterministic');
  const b = chooseTheme('gastown', [a]);
  assert.is.not(b, a);
  const c = chooseTheme('gastown', [a, b]);
  assert.ok(![a, b].includes(c));
  assert.is(chooseTheme('gastown', THEME_ORDER), a, 'all taken: the hashed one');
  const spread = new Set(
    ['alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta'].map((r) => chooseTheme(r, [])),
  );
  assert.ok(spread.size > 1, 'different names hash to different themes');

  const t = makeTown();
  for (const r of ['alpha', 'beta', 'gamma']) t.ok('rig', 'add', r, t.src);
  const themes = ['alpha', 'beta', 'gamma'].map((r) => namepoolStatus(t.root, r).theme);
  assert.is(new Set(themes).size, 3, `three rigs, three themes: ${themes}`);
  assert.is(themes[0], chooseTheme('alpha', []));
  const listed = t.ok('namepool', 'themes', '--json');
  assert.equal(
    listed.map((x: any) => x.theme),
    THEME_ORDER,
  );
  assert.equal(listed.find((x: any) => x.theme === themes[1]).rigs, ['beta']);
});

test('allocation order, release, overflow never reused, custom and reserved names, stale reservations', () => {
  const t = makeTown();
  t.ok('rig', 'add', 'alpha', t.src);
  const theme = THEMES[namepoolStatus(t.root, 'alpha').theme];
  const polecats = path.join(t.root, 'alpha', 'polecats');
  const first = [allocatePolecatName(t.root, 'alpha'), allocatePolecatName(t.root, 'alpha')];
  assert.equal(first, theme.slice(0, 2));
  assert.ok(fs.existsSync(path.join(polecats, `${theme[0]}.pending`)));
  // The first becomes a polecat; the second gives its name back.
  fs.mkdirSync(path.join(polecats, theme[0], 'alpha'), { recursive: true });
  confirmPolecatName(t.root, 'alpha', theme[0]);
  assert.not.ok(fs.existsSync(path.join(polecats, `${theme[0]}.pending`)));
  assert.is(releasePolecatName(t.root, 'alpha', theme[1]), true);
  assert.is(releasePolecatName(t.root, 'alpha', theme[0]), false, 'its directory keeps it in use');
  assert.is(allocatePolecatName(t.root, 'alpha'), theme[1], 'a released name is the first free again');
  assert.is(allocatePolecatName(t.root, 'alpha'), theme[2]);
  // A small pool: overflow after 3 theme names and the added ones.
  t.ok('rig', 'settings', 'set', 'alpha', 'operational.polecat.namepool_size', '3');
  assert.is(t.gt('namepool', 'add', 'witness', '--rig', 'alpha').code, 2, 'reserved');
  assert.is(t.gt('namepool', 'add', 'bad/name', '--rig', 'alpha').code, 2);
  assert.is(t.ok('namepool', 'add', 'zed', '--rig', 'alpha', '--json').added, true);
  assert.is(t.ok('namepool', 'add', 'zed', '--rig', 'alpha', '--json').added, false);
  assert.is(t.git(t.root, 'status', '--porcelain'), '', 'added names are committed rig settings');
  assert.is(allocatePolecatName(t.root, 'alpha'), 'zed');
  assert.is(allocatePolecatName(t.root, 'alpha'), '4');
  assert.ok(releasePolecatName(t.root, 'alpha', '4'));
  assert.is(allocatePolecatName(t.root, 'alpha'), '5', 'overflow numbers are never reused');
  const s = t.ok('namepool', '--rig', 'alpha', '--json');
  assert.equal(s.in_use, ['5', theme[0], theme[1], theme[2], 'zed'].sort());
  assert.is(s.next, '6');
  assert.is(s.size, 3);
  const list = t.ok('namepool', '--rig', 'alpha', '--list', '--json');
  assert.equal(
    list.map((n: any) => n.name),
    [...theme.slice(0, 3), 'zed'],
  );
  assert.ok(list.every((n: any) => n.in_use));
  // A reservation left by a dead process, older than its TTL, is reclaimed.
  t.ok('rig', 'settings', 'unset', 'alpha', 'operational.polecat.namepool_size');
  const stale = path.join(polecats, `${theme[3]}.pending`);
  fs.writeFileSync(stale, JSON.stringify({ pid: 2 ** 22 + 12345, host: 'elsewhere', at: 0 }));
  const old = new Date(Date.now() - 3600_000);
  fs.utimesSync(stale, old, old);
  const fresh = path.join(polecats, `${theme[4]}.pending`);
  fs.writeFileSync(fresh, JSON.stringify({ pid: 2 ** 22 + 12345, host: 'elsewhere', at: Date.now() }));
  assert.is(allocatePolecatName(t.root, 'alpha'), theme[3], 'stale reservation reclaimed');
  assert.is(allocatePolecatName(t.root, 'alpha'), theme[5], 'a fresh reservation is respected');
  // reset drops reservations without a directory; names with directories stay in use.
  const reset = t.ok('namepool', 'reset', '--rig', 'alpha', '--json');
  assert.ok(reset.removed_pending.includes(theme[4]));
  assert.equal(t.ok('namepool', '--rig', 'alpha', '--json').in_use, [theme[0]]);
  assert.is(t.gt('namepool', 'frob', '--rig', 'alpha').code, 2);
  assert.is(t.gt('namepool', '--rig', 'nope').code, 3);
});

test('gt namepool set THEME pins the theme in the rig settings', () => {
  const t = makeTown();
  t.ok('rig', 'add', 'alpha', t.src);
  const other = THEME_ORDER.find((x) => x !== namepoolStatus(t.root, 'alpha').theme)!;
  assert.is(t.gt('namepool', 'set', 'nonsense').code, 2);
  t.ok('namepool', 'set', other);
  const s = t.ok('namepool', '--json');
  assert.is(s.theme, other);
  assert.is(s.pinned, true);
  assert.is(t.ok('rig', 'settings', 'show', 'alpha', 'namepool.theme', '--json').value, other);
  assert.is(t.git(t.root, 'status', '--porcelain'), '');
  assert.is(allocatePolecatName(t.root, 'alpha'), THEMES[other][0]);
});

function worker(town: string, rig: string, n: number, startAt: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(ROOT, 'test', 'town', 'alloc-worker.ts'),
        town,
        rig,
        String(n),
        String(startAt),
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`worker exited ${code}: ${err}`));
      else resolve(JSON.parse(out));
    });
  });
}

test('concurrent allocation from several processes: no duplicates, then overflow', async () => {
  const t = makeTown();
  t.ok('rig', 'add', 'alpha', t.src);
  const startAt = Date.now() + 2500;
  const results = await Promise.all(Array.from({ length: 6 }, () => worker(t.root, 'alpha', 10, startAt)));
  const all = results.flat();
  assert.is(all.length, 60);
  assert.is(new Set(all).size, 60, `duplicates: ${all.filter((n, i) => all.indexOf(n) !== i)}`);
  const theme = THEMES[namepoolStatus(t.root, 'alpha').theme];
  assert.equal(all.filter((n) => !/^\d+$/.test(n)).sort(), [...theme].sort());
  assert.equal(
    all
      .filter((n) => /^\d+$/.test(n))
      .map(Number)
      .sort((a, b) => a - b),
    Array.from({ length: 10 }, (_, i) => 51 + i),
  );
  for (const r of results) {
    const nums = r.filter((n) => /^\d+$/.test(n)).map(Number);
    assert.equal(
      nums,
      [...nums].sort((a, b) => a - b),
      'each process sees increasing overflow numbers',
    );
  }
});

test.run();
