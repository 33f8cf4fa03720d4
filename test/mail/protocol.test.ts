// Protocol messages (spec §3.5): every builder round-trips through the parser; wisp subjects,
// drainable subjects and `Key: value` bodies.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as P from '../../src/mail/protocol.ts';

const cases: [P.ProtocolType, P.Built, string, Record<string, string>][] = [
  [
    'POLECAT_DONE',
    P.polecatDone({
      polecat: 'nux',
      exit: 'COMPLETED',
      issue: 'my-abc',
      mr: 'my-mr1',
      branch: 'polecat/nux/my-abc@x',
    }),
    'nux',
    { Exit: 'COMPLETED', Issue: 'my-abc', MR: 'my-mr1', Branch: 'polecat/nux/my-abc@x' },
  ],
  ['POLECAT_STARTED', P.polecatStarted({ polecat: 'nux', issue: 'my-abc' }), 'nux', { Issue: 'my-abc' }],
  [
    'MERGE_READY',
    P.mergeReady({ name: 'nux', branch: 'b1', issue: 'my-abc', polecat: 'nux', verified: 'yes' }),
    'nux',
    { Branch: 'b1', Issue: 'my-abc', Polecat: 'nux', Verified: 'yes' },
  ],
  [
    'MERGED',
    P.merged({
      name: 'nux',
      branch: 'b1',
      issue: 'i1',
      rig: 'myrig',
      target: 'main',
      mergeCommit: 'abc123',
      mergedAt: '2026-01-01T00:00:00Z',
    }),
    'nux',
    {
      Branch: 'b1',
      Issue: 'i1',
      Rig: 'myrig',
      Target: 'main',
      'Merge-Commit': 'abc123',
      'Merged-At': '2026-01-01T00:00:00Z',
    },
  ],
  [
    'MERGE_FAILED',
    P.mergeFailed({ branch: 'b1', issue: 'i1', failureType: 'tests', error: '2 failed\nstack' }),
    'branch=b1 issue=i1 type=tests error=2 failed stack',
    { Branch: 'b1', Issue: 'i1', 'Failure-Type': 'tests', Error: '2 failed stack' },
  ],
  [
    'FIX_NEEDED',
    P.fixNeeded({ branch: 'b2', failureType: 'build', error: 'tsc' }),
    'branch=b2 issue= type=build error=tsc',
    { Branch: 'b2', 'Failure-Type': 'build', Error: 'tsc' },
  ],
  [
    'REWORK_REQUEST',
    P.reworkRequest({ polecat: 'nux', conflictFiles: ['a.ts', 'b.ts'] }),
    'nux',
    { 'Conflict-Files': 'a.ts, b.ts' },
  ],
  ['CONVOY_NEEDS_FEEDING', P.convoyNeedsFeeding({ convoy: 'hq-cv-1' }), 'hq-cv-1', {}],
  [
    'RECOVERED_BEAD',
    P.recoveredBead({ bead: 'my-abc', polecat: 'nux', previousStatus: 'hooked' }),
    'my-abc',
    { Bead: 'my-abc', Polecat: 'nux', 'Previous Status': 'hooked' },
  ],
  [
    'RECOVERY_NEEDED',
    P.recoveryNeeded({
      agent: 'myrig/nux',
      cleanupStatus: 'has_unpushed',
      branch: 'b',
      issue: 'i',
      detected: 't',
    }),
    'myrig/nux',
    { 'Cleanup Status': 'has_unpushed', Branch: 'b', Issue: 'i', Detected: 't' },
  ],
  [
    'HELP',
    P.help({ description: 'tests hang', agent: 'myrig/nux', issue: 'i', problem: 'p', tried: 't' }),
    'tests hang',
    { Agent: 'myrig/nux', Issue: 'i', Problem: 'p', Tried: 't' },
  ],
  [
    'HANDOFF',
    P.handoff({ context: 'half way', attachedMolecule: 'hq-mol-1', attachedAt: 'step 3', next: 'finish' }),
    'half way',
    { attached_molecule: 'hq-mol-1', attached_at: 'step 3' },
  ],
  ['LIFECYCLE:Shutdown', P.lifecycle({ action: 'Shutdown', agent: 'nux' }), 'nux', {}],
  [
    'LIFECYCLE:Cycle',
    P.lifecycle({ action: 'Cycle', agent: 'nux', reason: 'context' }),
    'nux',
    { Reason: 'context' },
  ],
  [
    'GUPP_VIOLATION',
    P.guppViolation({ agent: 'myrig/nux', hookBead: 'my-abc', duration: '30m' }),
    'myrig/nux stuck for 30m',
    { Agent: 'myrig/nux', Hook_Bead: 'my-abc', Duration: '30m' },
  ],
  [
    'ORPHANED_WORK',
    P.orphanedWork({ agent: 'myrig/nux', hookBead: 'my-abc' }),
    'myrig/nux',
    { Agent: 'myrig/nux', Hook_Bead: 'my-abc' },
  ],
  [
    'READY_FOR_REVIEW',
    P.readyForReview({ issue: 'my-abc', branch: 'b', pr: '12' }),
    'my-abc',
    { Branch: 'b', Issue: 'my-abc', PR: '12' },
  ],
  ['SWARM_START', P.swarmStart({ swarmId: 's1', beads: ['a', 'b'] }), '', { swarm_id: 's1', beads: 'a,b' }],
  ['SWARM_COMPLETE', P.swarmComplete({ swarmId: 's1' }), 's1', {}],
  [
    'CONVOY_LANDED',
    P.convoyLanded({ title: 'Feature (X)', id: 'hq-cv-9', issues: ['my-a', 'my-b'], duration: '2h' }),
    'Feature (X) (hq-cv-9)',
    { Convoy: 'hq-cv-9', Duration: '2h', Title: 'Feature (X)' },
  ],
];

test('every builder round-trips through parseProtocol', () => {
  for (const [type, built, arg, keys] of cases) {
    const p = P.parseProtocol(built.subject, built.body);
    assert.ok(p, `${type}: not recognised: ${built.subject}`);
    assert.is(p!.type, type, built.subject);
    assert.is(p!.arg, arg, type);
    assert.equal(p!.keys, keys, type);
  }
});

test('subjects follow the spec', () => {
  assert.is(P.polecatDone({ polecat: 'nux', exit: 'COMPLETED' }).subject, 'POLECAT_DONE nux');
  assert.is(P.help({ description: 'stuck' }).subject, 'HELP: stuck');
  assert.is(P.handoff({ context: 'ctx' }).subject, '🤝 HANDOFF: ctx');
  assert.is(P.handoff({}).subject, '🤝 HANDOFF');
  assert.is(P.lifecycle({ action: 'Shutdown', agent: 'nux' }).subject, 'LIFECYCLE:Shutdown nux');
  assert.is(P.convoyLanded({ title: 'T', id: 'hq-1' }).subject, '🚚 Convoy Landed: T (hq-1)');
  assert.is(P.guppViolation({ agent: 'a', duration: '30m' }).subject, 'GUPP_VIOLATION: a stuck for 30m');
});

test('bodies: key lines, a blank line, free text; the text survives', () => {
  const b = P.handoff({ context: 'c', attachedMolecule: 'm', contextText: 'ctx', status: 'st', next: 'nx' });
  assert.is(b.body, 'attached_molecule: m\n\n## Context\n\nctx\n\n## Status\n\nst\n\n## Next\n\nnx');
  const p = P.parseProtocol(b.subject, b.body)!;
  assert.is(p.text, '## Context\n\nctx\n\n## Status\n\nst\n\n## Next\n\nnx');
  // Key values never span lines (a newline would forge another key).
  const f = P.polecatDone({ polecat: 'nux', exit: 'COMPLETED', issue: 'a\nExit: ESCALATED' });
  assert.is(P.parseProtocol(f.subject, f.body)!.keys.Exit, 'COMPLETED');
  assert.throws(() => P.polecatDone({ polecat: 'a\nb', exit: 'COMPLETED' }), /one line/);
});

test('ordinary mail is not protocol; wisp and drain rules', () => {
  assert.is(P.parseProtocol('Lunch?', 'Exit: now'), null);
  assert.is(P.parseProtocol('HELPFUL tips', ''), null);
  assert.is(P.protocolTypeOf('MERGED'), 'MERGED');
  for (const s of [
    'polecat_started x',
    'POLECAT_DONE nux',
    'Work_Done',
    'start_work',
    'nudge me',
    'LIFECYCLE:Cycle a',
    'merged x',
    'MERGE_READY y',
    'merge_failed: z',
  ]) {
    assert.ok(P.isWispSubject(s), s);
  }
  for (const s of ['HELP: x', '🤝 HANDOFF', 'hello', 'RECOVERED_BEAD x'])
    assert.not.ok(P.isWispSubject(s), s);
  for (const s of [
    'POLECAT_DONE nux',
    'POLECAT_STARTED nux',
    'LIFECYCLE:Shutdown a',
    'MERGED x',
    'MERGE_READY y',
    'MERGE_FAILED: z',
    'SWARM_START',
  ]) {
    assert.ok(P.isDrainable(s), s);
  }
  for (const s of ['HELP: x', '🤝 HANDOFF: y', 'hello', 'RECOVERY_NEEDED a/b'])
    assert.not.ok(P.isDrainable(s), s);
});

test.run();
