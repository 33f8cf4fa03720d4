// Address resolution (spec §3.2) over an injected town view: every form, fan-out, errors.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { directory, matchesPattern, resolveRecipients, type TownView } from '../../src/mail/address.ts';
import type { Identity } from '../../src/town/identity.ts';

function view(extra: Partial<TownView> = {}): TownView {
  const agents: Identity[] = [
    { role: 'mayor' },
    { role: 'deacon' },
    { role: 'dog', name: 'rex' },
    { role: 'witness', rig: 'alpha' },
    { role: 'refinery', rig: 'alpha' },
    { role: 'polecat', rig: 'alpha', name: 'nux' },
    { role: 'polecat', rig: 'alpha', name: 'toast' },
    { role: 'witness', rig: 'beta' },
    { role: 'refinery', rig: 'beta' },
    { role: 'polecat', rig: 'beta', name: 'furiosa' },
  ];
  const crew: Record<string, string[]> = { alpha: ['max'], beta: ['bob'] };
  return {
    rigs: ['alpha', 'beta'],
    agents,
    crew: (r) => crew[r] ?? [],
    messaging: {
      lists: {
        oncall: ['mayor/', 'alpha/witness'],
        nested: ['list:oncall', 'beta/bob'],
        loop: ['list:loop'],
      },
      groups: { leads: ['mayor/', '@witnesses'], both: ['x'] },
      queues: { work: { workers: ['alpha/*'] }, both: {} },
      channels: { news: { subscribers: ['mayor/'] } },
      announces: { board: {} },
    },
    ...extra,
  };
}

const to = (inputs: string[], v = view(), exclude?: string) =>
  resolveRecipients(inputs, v, { exclude }).map((d) => d.to);

test('agent addresses and short forms', () => {
  assert.equal(to(['mayor/']), ['mayor/']);
  assert.equal(to(['mayor']), ['mayor/']);
  assert.equal(to(['deacon/']), ['deacon/']);
  assert.equal(to(['deacon/dogs/rex']), ['deacon/dogs/rex']);
  assert.equal(to(['alpha/witness']), ['alpha/witness']);
  assert.equal(to(['alpha/nux']), ['alpha/nux']);
  assert.equal(to(['alpha/polecats/nux']), ['alpha/nux']);
  assert.equal(to(['alpha/max']), ['alpha/max']);
  assert.equal(to(['alpha/crew/max']), ['alpha/max']);
  assert.equal(to(['crew/bob']), ['beta/bob']);
  assert.equal(to(['overseer']), ['overseer']);
  assert.equal(to(['@overseer']), ['overseer']);
});

test('wildcards and specials', () => {
  assert.equal(to(['*/witness']), ['alpha/witness', 'beta/witness']);
  assert.equal(to(['*/refinery']), ['alpha/refinery', 'beta/refinery']);
  assert.equal(to(['alpha/crew/*']), ['alpha/max']);
  assert.equal(to(['alpha/polecats/*']), ['alpha/nux', 'alpha/toast']);
  assert.equal(to(['@witnesses']), ['alpha/witness', 'beta/witness']);
  assert.equal(to(['@rig/beta']), ['beta/witness', 'beta/refinery', 'beta/furiosa', 'beta/bob']);
  assert.equal(to(['@crew/alpha']), ['alpha/max']);
  assert.equal(to(['@polecats/alpha']), ['alpha/nux', 'alpha/toast']);
  assert.equal(to(['@dogs']), ['deacon/dogs/rex']);
  const town = to(['@town'], view(), 'mayor/');
  assert.ok(town.includes('deacon/') && town.includes('beta/furiosa') && !town.includes('mayor/'));
  assert.ok(town.includes('alpha/max') && town.includes('beta/bob'), 'crew without agent beads too');
});

test('lists, groups, queues, channels, announces: prefixes and bare names', () => {
  assert.equal(to(['list:oncall']), ['mayor/', 'alpha/witness']);
  assert.equal(to(['oncall']), ['mayor/', 'alpha/witness']);
  assert.equal(to(['nested']), ['mayor/', 'alpha/witness', 'beta/bob']);
  assert.equal(to(['group:leads']), ['mayor/', 'alpha/witness', 'beta/witness']);
  assert.equal(to(['leads', 'mayor/']), ['mayor/', 'alpha/witness', 'beta/witness'], 'duplicates removed');
  const q = resolveRecipients(['queue:work'], view());
  assert.equal(q, [{ to: 'queue:work', kind: 'queue', name: 'work', via: 'queue:work' }]);
  assert.equal(to(['work']), ['queue:work']);
  assert.equal(to(['channel:news']), ['channel:news']);
  assert.equal(to(['news']), ['channel:news']);
  assert.equal(to(['announce:board']), ['announce:board']);
});

test('unknown, ambiguous and malformed addresses are errors naming the fix', () => {
  const err = (inputs: string[], re: RegExp, code: number) => {
    try {
      resolveRecipients(inputs, view());
      assert.unreachable(`${inputs} resolved`);
    } catch (e: any) {
      assert.match(e.message, re, inputs.join(' '));
      assert.is(e.exitCode, code, inputs.join(' '));
    }
  };
  err(['alpha/witnes'], /unknown recipient "alpha\/witnes"; did you mean alpha\/witness/, 3);
  err(['gamma/witness'], /unknown recipient/, 3);
  err(['alpha/ghost'], /unknown recipient "alpha\/ghost"/, 3);
  err(['oncal'], /did you mean list:oncall/, 3);
  err(['both'], /ambiguous address "both".*group:both or queue:both/, 2);
  err(['queue:nope'], /unknown queue "queue:nope"/, 3);
  err(['@rig/gamma'], /no rig named "gamma"/, 3);
  err(['@nobody'], /unknown special address/, 3);
  err(['alpha/../x'], /invalid address/, 2);
  err(['a b'], /one address per argument/, 2);
  err(['list:loop'], /contains itself/, 2);
  err(['group:bad name'], /one address per argument/, 2);
  err(['group:../x'], /invalid group name/, 2);
  const twoBobs = view({ crew: (r) => (r === 'alpha' || r === 'beta' ? ['bob'] : []) });
  assert.throws(
    () => resolveRecipients(['crew/bob'], twoBobs),
    /ambiguous address "crew\/bob".*alpha\/bob, beta\/bob/,
  );
});

test('workspace directories validate agents without beads', () => {
  const v = view({ workspaceExists: (id) => id.role === 'polecat' && id.name === 'slit' });
  assert.equal(to(['alpha/slit'], v), ['alpha/slit']);
});

test('directory lists every address; worker patterns', () => {
  const d = directory(view()).map((e) => e.address);
  for (const a of [
    'overseer',
    'mayor/',
    'alpha/nux',
    '@town',
    '@rig/alpha',
    'list:oncall',
    'group:leads',
    'queue:work',
    'channel:news',
    'announce:board',
  ]) {
    assert.ok(d.includes(a), a);
  }
  assert.ok(matchesPattern('alpha/*', 'alpha/nux'));
  assert.ok(matchesPattern('*/witness', 'beta/witness'));
  assert.ok(matchesPattern('*', 'mayor/'));
  assert.ok(matchesPattern('alpha/polecats/*', 'alpha/nux', 'alpha/polecats/nux'));
  assert.not.ok(matchesPattern('alpha/*', 'beta/nux'));
  assert.not.ok(matchesPattern('alpha/*', 'alpha/polecats/nux'));
});

test.run();
