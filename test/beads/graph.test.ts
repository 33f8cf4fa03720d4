import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  blockedEntries,
  buildGraph,
  computeBlocked,
  findCycles,
  readyWork,
  sortBeads,
} from '../../src/beads/graph.ts';
import type { BeadSummary } from '../../src/beads/record.ts';

let clock = Date.parse('2026-01-01T00:00:00Z');
function bead(
  id: string,
  extra: Partial<BeadSummary> = {},
  deps: [string, string, string?][] = [],
): BeadSummary {
  clock += 1000;
  return {
    id,
    title: id,
    status: 'open',
    priority: 2,
    issue_type: 'task',
    created_at: new Date(clock).toISOString(),
    updated_at: new Date(clock).toISOString(),
    comment_count: 0,
    ct: clock,
    dependencies: deps.map(([type, to, metadata]) => ({
      issue_id: id,
      depends_on_id: to,
      type,
      created_at: '',
      ...(metadata ? { metadata } : {}),
    })),
    ...extra,
  };
}

test('blocks and conditional-blocks block until the target is closed or pinned', () => {
  const g = buildGraph([
    bead('a'),
    bead('b', {}, [['blocks', 'a']]),
    bead('c', {}, [['conditional-blocks', 'a']]),
    bead('d', {}, [['blocks', 'p']]),
    bead('p', { status: 'pinned' }),
    bead('e', {}, [['related', 'a']]),
    bead('f', {}, [['blocks', 'missing']]),
  ]);
  assert.equal([...computeBlocked(g)].sort(), ['b', 'c']);
});

test('blocking flows down parent-child edges to every descendant, but a child never blocks its parent', () => {
  const g = buildGraph([
    bead('x'),
    bead('epic', { issue_type: 'epic' }, [['blocks', 'x']]),
    bead('child', {}, [['parent-child', 'epic']]),
    bead('grandchild', {}, [['parent-child', 'child']]),
    bead('done-child', { status: 'closed' }, [['parent-child', 'epic']]),
    bead('p2', { issue_type: 'epic' }),
    bead('c2', {}, [
      ['parent-child', 'p2'],
      ['blocks', 'x'],
    ]),
  ]);
  const blocked = computeBlocked(g);
  assert.equal([...blocked].sort(), ['c2', 'child', 'epic', 'grandchild']);
  const entries = blockedEntries(g, blocked);
  assert.equal(entries.find((e) => e.bead.id === 'grandchild')!.blocked_by, ['child']);
  assert.equal(entries.find((e) => e.bead.id === 'epic')!.blocked_by, ['x']);
});

test('waits-for: all children (default) or any child closed', () => {
  const spawner = bead('s');
  const k1 = bead('k1', {}, [['parent-child', 's']]);
  const k2 = bead('k2', { status: 'closed', closed_at: 'x' }, [['parent-child', 's']]);
  const all = bead('all', {}, [['waits-for', 's']]);
  const any = bead('any', {}, [['waits-for', 's', '{"gate":"any-children"}']]);
  const lonely = bead('lonely', {}, [['waits-for', 'nokids']]);
  const nokids = bead('nokids');
  const blocked = computeBlocked(buildGraph([spawner, k1, k2, all, any, lonely, nokids]));
  assert.ok(blocked.has('all'));
  assert.not.ok(blocked.has('any'));
  assert.not.ok(blocked.has('lonely'));
});

test('ready excludes non-open, pinned, blocked, ephemeral, infra types and deferred beads', () => {
  const future = new Date(Date.now() + 86400e3).toISOString();
  const beads = [
    bead('ok'),
    bead('wip', { status: 'in_progress' }),
    bead('pin', { pinned: true }),
    bead('blk', {}, [['blocks', 'ok']]),
    bead('eph', { ephemeral: true }),
    bead('msg', { issue_type: 'message' }),
    bead('mr', { issue_type: 'merge-request' }),
    bead('later', { defer_until: future }),
    bead('kid', {}, [['parent-child', 'later']]),
  ];
  const g = buildGraph(beads);
  const ids = readyWork(g, computeBlocked(g)).map((b) => b.id);
  assert.equal(ids, ['ok']);
  assert.equal(
    readyWork(g, computeBlocked(g), { includeEphemeral: true, includeDeferred: true })
      .map((b) => b.id)
      .sort(),
    ['eph', 'kid', 'later', 'ok'],
  );
  assert.equal(
    readyWork(g, computeBlocked(g), { type: 'message' }).map((b) => b.id),
    ['msg'],
  );
});

test('sort policies: priority (newest first within a priority), oldest, hybrid', () => {
  const now = Date.now();
  const old1 = { id: 'o1', priority: 1, ct: now - 10 * 86400e3 };
  const old0 = { id: 'o0', priority: 0, ct: now - 9 * 86400e3 };
  const new2 = { id: 'n2', priority: 2, ct: now - 3600e3 };
  const new1 = { id: 'n1', priority: 1, ct: now - 7200e3 };
  assert.equal(
    sortBeads([old1, old0, new2, new1], 'priority').map((b) => b.id),
    ['o0', 'n1', 'o1', 'n2'],
  );
  assert.equal(
    sortBeads([old1, old0, new2, new1], 'oldest').map((b) => b.id),
    ['o1', 'o0', 'n1', 'n2'],
  );
  assert.equal(
    sortBeads([old1, old0, new2, new1], 'hybrid', now).map((b) => b.id),
    ['n1', 'n2', 'o1', 'o0'],
  );
});

test('cycles over blocking edges are found and named', () => {
  const g = buildGraph([
    bead('a', {}, [['blocks', 'b']]),
    bead('b', {}, [['blocks', 'c']]),
    bead('c', {}, [['blocks', 'a']]),
    bead('d', {}, [['related', 'a']]),
    bead('e', {}, [['parent-child', 'd']]),
    bead('d2', {}, [['blocks', 'e']]),
  ]);
  const cycles = findCycles(g);
  assert.is(cycles.length, 1);
  assert.equal([...cycles[0]].sort(), ['a', 'b', 'c']);
});

test.run();
