// The daemon's gate part: a bead gate closes when the bead it awaits closes, a timer gate when
// its time is up, and each gate's waiters get one "Gate resolved" mail (a gate resolved by hand
// too); the bead the gate held back becomes ready. Through a real daemon: within seconds of the
// awaited bead closing, with the heartbeat a minute away.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { gatePatrol } from '../../src/patrol/gates.ts';
import { makeTown, type Town } from '../town/town-fixture.ts';

const towns: Town[] = [];
function town(): Town {
  const t = makeTown({
    extraEnv: { GT_NO_MAINTENANCE: '1', GT_CFG_OPERATIONAL__DAEMON__HEARTBEAT: '60s', BD_ACTOR: 'overseer' },
  });
  towns.push(t);
  return t;
}
const json = (t: Town, ...args: string[]) => {
  const r = t.bd(...args, '--json');
  if (r.code !== 0) throw new Error(`bd ${args.join(' ')}: ${r.stderr}`);
  const j = r.json();
  return Array.isArray(j) && args[0] === 'show' ? j[0] : j;
};
const mailTo = (t: Town, addr: string): string[] =>
  json(t, 'list', '-t', 'message', '--all', '--limit', '0')
    .filter((m: any) => m.assignee === addr)
    .map((m: any) => m.title);

test('gatePatrol: bead and timer gates resolve, waiters told once, a hand-resolved gate announced too', async () => {
  const t = town();
  const a = json(t, 'create', 'Build the API').id;
  const b = json(t, 'create', 'Ship the UI').id;
  const g = json(
    t,
    'gate',
    'create',
    '--type',
    'bead',
    '--await-id',
    a,
    '--blocks',
    b,
    '--waiter',
    'mayor/',
  ).id;
  const timer = json(t, 'gate', 'create', '--type', 'timer', '--timeout', '1ms', '--waiter', 'deacon/').id;
  const human = json(t, 'gate', 'create', '--type', 'human', '--waiter', 'mayor/').id;
  assert.not.ok(
    json(t, 'ready').some((x: any) => x.id === b),
    'held back by the gate',
  );

  await new Promise((r) => setTimeout(r, 20));
  const first = await gatePatrol(t.root);
  assert.equal(first.resolved, [timer], 'only the timer is due while the bead is open');
  assert.equal(first.notified, [{ gate: timer, to: ['deacon/'] }]);

  t.bd('close', a);
  const second = await gatePatrol(t.root);
  assert.equal(second.resolved, [g]);
  assert.equal(second.notified, [{ gate: g, to: ['mayor/'] }]);
  assert.is(json(t, 'show', g).status, 'closed');
  assert.ok(
    json(t, 'ready').some((x: any) => x.id === b),
    'the held-back bead is ready',
  );
  assert.ok(mailTo(t, 'mayor/').some((s) => s === `🚦 Gate resolved: ${json(t, 'show', g).title} (${g})`));

  // Nothing twice; a gate resolved by hand is announced on the next pass.
  assert.equal((await gatePatrol(t.root)).notified, []);
  t.bd('gate', 'resolve', human);
  assert.equal((await gatePatrol(t.root)).notified, [{ gate: human, to: ['mayor/'] }]);
  assert.is(mailTo(t, 'mayor/').length, 2);
  assert.is(mailTo(t, 'deacon/').length, 1);
});

test('through the daemon: closing the awaited bead resolves the gate and mails the waiter within seconds', async () => {
  const t = town();
  const a = json(t, 'create', 'Migrate the database').id;
  const g = json(t, 'gate', 'create', '--type', 'bead', '--await-id', a, '--waiter', 'mayor/').id;
  t.ok('daemon', 'start');
  try {
    t.bd('close', a);
    const end = Date.now() + 8000;
    while (json(t, 'show', g).status !== 'closed' || mailTo(t, 'mayor/').length === 0) {
      if (Date.now() > end) throw new Error('the daemon did not resolve the gate in time');
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.is(mailTo(t, 'mayor/').length, 1);
  } finally {
    t.gt('daemon', 'stop');
  }
});

test.run();
