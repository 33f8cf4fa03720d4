// gt crew add|list|remove: full clones with the crew identity, agent beads, and refusal to
// throw away uncommitted, stashed or unpushed work.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GT, run } from '../helpers.ts';
import { makeTown, snapshot } from './town-fixture.ts';

test('crew add, list and remove; refusals keep the clone; the agent bead follows', () => {
  const t = makeTown();
  t.git(t.src, 'branch', 'feature');
  t.ok('rig', 'add', 'alpha', t.src);
  const c = t.ok('crew', 'add', 'dave', '--json');
  const dir = path.join(t.root, 'alpha', 'crew', 'dave');
  assert.is(c.path, dir);
  assert.is(c.actor, 'alpha/crew/dave');
  assert.is(c.session, 'al-crew-dave');
  assert.is(c.agent_bead, 'al-alpha-crew-dave');
  assert.is(c.branch, 'main');
  // A full, standalone clone: its own objects (no alternates), origin = the rig's source.
  assert.ok(fs.existsSync(path.join(dir, 'README.md')));
  assert.not.ok(fs.existsSync(path.join(dir, '.git', 'objects', 'info', 'alternates')));
  assert.is(t.git(dir, 'remote', 'get-url', 'origin').trim(), t.src);
  assert.is(t.git(dir, 'config', 'user.name').trim(), 'dave');
  assert.is(t.git(dir, 'config', 'user.email').trim(), 'tester@example.com');
  const bead = t.bd('show', 'al-alpha-crew-dave', '--json').json();
  assert.is((Array.isArray(bead) ? bead[0] : bead).metadata.role, 'crew');
  assert.is(t.git(t.root, 'status', '--porcelain'), '', 'crew clones are not part of the town repository');

  // --branch: an existing remote branch is tracked; a new one starts from the default branch.
  assert.is(t.ok('crew', 'add', 'emma', '--rig', 'alpha', '--branch', 'feature', '--json').branch, 'feature');
  const emma = path.join(t.root, 'alpha', 'crew', 'emma');
  assert.is(t.git(emma, 'rev-parse', '--abbrev-ref', '@{upstream}').trim(), 'origin/feature');
  assert.is(t.ok('crew', 'add', 'finn', '--branch', 'finn/work', '--json').branch, 'finn/work');

  const list = t.ok('crew', 'list', '--json');
  assert.equal(
    list.map((x: any) => [x.name, x.branch, x.uncommitted, x.unpushed]),
    [
      ['dave', 'main', 0, 0],
      ['emma', 'feature', 0, 0],
      ['finn', 'finn/work', 0, 0],
    ],
  );

  // Refusals: bad names, duplicates, unknown rigs and crew.
  const before = snapshot(t);
  for (const bad of ['witness', 'a/b', '-x', 'has space', '..']) {
    const r = t.gt('crew', 'add', '--', bad);
    assert.is(r.code, 2, `${bad}: ${r.stderr}`);
  }
  assert.is(t.gt('crew', 'add', 'dave').code, 4);
  assert.is(t.gt('crew', 'add', 'zoe', '--rig', 'nope').code, 3);
  assert.is(t.gt('crew', 'add', 'zoe', '--branch', 'bad..branch').code, 2);
  assert.is(t.gt('crew', 'remove', 'nobody').code, 3);
  assert.is(snapshot(t), before);

  // Uncommitted work: refused, then committed but unpushed: refused, then pushed: removed.
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'ideas\n');
  const dirty = t.gt('crew', 'remove', 'dave');
  assert.is(dirty.code, 4);
  assert.match(dirty.stderr, /1 uncommitted change/);
  assert.match(dirty.stderr, /--force/);
  assert.is(t.ok('crew', 'list', '--json')[0].uncommitted, 1);
  t.git(dir, 'add', 'notes.txt');
  t.git(dir, 'commit', '-q', '-m', 'notes');
  const unpushed = t.gt('crew', 'remove', 'dave');
  assert.is(unpushed.code, 4);
  assert.match(unpushed.stderr, /1 unpushed commit/);
  t.git(t.src, 'checkout', '-q', '--detach'); // so the source accepts a push to main
  t.git(dir, 'push', '-q', 'origin', 'main');
  fs.writeFileSync(path.join(dir, 'more.txt'), 'x\n');
  t.git(dir, 'stash', 'push', '-q', '--include-untracked');
  const stashed = t.gt('crew', 'remove', 'dave');
  assert.is(stashed.code, 4);
  assert.match(stashed.stderr, /1 stash/);
  t.git(dir, 'stash', 'drop', '-q');
  assert.ok(fs.existsSync(dir), 'refusals keep the clone');
  const removed = t.ok('crew', 'remove', 'dave', '--json');
  assert.is(removed.discarded, null);
  assert.not.ok(fs.existsSync(dir));
  const closed = t.bd('show', 'al-alpha-crew-dave', '--json').json();
  assert.is((Array.isArray(closed) ? closed[0] : closed).status, 'closed');

  // --force discards work.
  fs.writeFileSync(path.join(emma, 'wip.txt'), 'x\n');
  const forced = t.ok('crew', 'remove', 'emma', '--force', '--json');
  assert.match(forced.discarded, /uncommitted/);
  assert.not.ok(fs.existsSync(emma));

  // Adding a removed crew member again reopens its bead.
  t.ok('crew', 'add', 'dave');
  const reopened = t.bd('show', 'al-alpha-crew-dave', '--json').json();
  assert.is((Array.isArray(reopened) ? reopened[0] : reopened).status, 'open');

  // From inside a rig, --rig is implied; with two rigs and no --rig outside them, it is asked for.
  t.ok('rig', 'add', 'beta', t.src);
  const inRig = run(GT, ['crew', 'list', '--json'], { cwd: path.join(t.root, 'beta'), env: t.env });
  assert.equal(inRig.json(), []);
  const ambiguous = t.gt('crew', 'add', 'gil');
  assert.is(ambiguous.code, 2);
  assert.match(ambiguous.stderr, /--rig/);
  assert.equal(
    t.ok('crew', 'list', '--json').map((x: any) => `${x.rig}/${x.name}`),
    ['alpha/dave', 'alpha/finn'],
  );
});

test('crew of a rig whose source is gone: a clear error and nothing left behind', () => {
  const t = makeTown();
  t.ok('rig', 'add', 'alpha', t.src);
  fs.renameSync(t.src, `${t.src}-moved`);
  const before = snapshot(t);
  const r = t.gt('crew', 'add', 'dave');
  assert.is(r.code, 1);
  assert.match(r.stderr, /gt crew add dave: git clone/);
  assert.not.ok(fs.existsSync(path.join(t.root, 'alpha', 'crew', 'dave')));
  assert.is(snapshot(t), before);
});

test.run();
