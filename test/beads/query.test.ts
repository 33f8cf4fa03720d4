// Pure query logic: selection, grouping, stats, staleness, children, trees, cycle paths and
// config validation.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildGraph, computeBlocked, findCycles } from '../../src/beads/graph.ts';
import {
  beadStats,
  childrenOf,
  cyclePath,
  depTree,
  flattenTree,
  groupCount,
  matchFields,
  renderTree,
  selectBeads,
  staleBeads,
  treeToMermaid,
} from '../../src/beads/query.ts';
import type { BeadSummary } from '../../src/beads/record.ts';
import { parseCustomStatuses, splitList, validateConfigValue } from '../../src/beads/settings.ts';

const T0 = Date.parse('2026-01-01T00:00:00Z');
function bead(id: string, extra: Partial<BeadSummary> = {}, deps: [string, string][] = []): BeadSummary {
  return {
    id,
    title: id,
    status: 'open',
    priority: 2,
    issue_type: 'task',
    created_at: new Date(T0).toISOString(),
    updated_at: new Date(T0).toISOString(),
    comment_count: 0,
    ct: T0,
    dependencies: deps.map(([type, to]) => ({ issue_id: id, depends_on_id: to, type, created_at: '' })),
    ...extra,
  };
}

test('selectBeads: closed and wisps out by default, statuses/types/all', () => {
  const beads = [
    bead('x-1'),
    bead('x-2', { status: 'closed' }),
    bead('x-3', { ephemeral: true }),
    bead('x-4', { issue_type: 'bug', labels: ['a'] }),
  ];
  assert.equal(ids(selectBeads(beads, {})), ['x-1', 'x-4']);
  assert.equal(ids(selectBeads(beads, { all: true })), ['x-1', 'x-2', 'x-3', 'x-4']);
  assert.equal(ids(selectBeads(beads, { statuses: ['closed'] })), ['x-2']);
  assert.equal(ids(selectBeads(beads, { types: ['bug'] })), ['x-4']);
  assert.equal(ids(selectBeads(beads, { common: { labels: ['a'] } })), ['x-4']);
  assert.equal(ids(selectBeads(beads, { within: new Set(['x-1']) })), ['x-1']);
});

function ids(list: { id: string }[]): string[] {
  return list.map((b) => b.id);
}

test('matchFields is case-insensitive over the chosen fields', () => {
  const b = { id: 'bd-abc', title: 'Fix Login', description: 'the FORM', notes: '' };
  assert.equal(matchFields(b, 'login'), ['title']);
  assert.equal(matchFields(b, 'form'), ['description']);
  assert.equal(matchFields(b, 'ABC'), ['id']);
  assert.equal(matchFields(b, 'form', ['id', 'title']), []);
});

test('groupCount: labels count per label, missing values are null, priority in order', () => {
  const beads = [
    bead('x-1', { labels: ['a', 'b'], priority: 3 }),
    bead('x-2', { labels: ['a'], assignee: 'al', priority: 1 }),
    bead('x-3'),
  ];
  assert.equal(groupCount(beads, 'label'), [
    { key: 'a', count: 2 },
    { key: null, count: 1 },
    { key: 'b', count: 1 },
  ]);
  assert.equal(groupCount(beads, 'assignee'), [
    { key: null, count: 2 },
    { key: 'al', count: 1 },
  ]);
  assert.equal(
    groupCount(beads, 'priority').map((g) => g.key),
    [1, 2, 3],
  );
});

test('beadStats: ready approximation vs actual, lead time, wisps not counted', () => {
  const g = buildGraph([
    bead('x-1', {}, [['blocks', 'x-2']]),
    bead('x-2'),
    bead('x-3', { status: 'in_progress' }, [['blocks', 'x-2']]),
    bead('x-4', {
      status: 'closed',
      closed_at: new Date(T0 + 3 * 3600e3).toISOString(),
    }),
    bead('x-5', { ephemeral: true }),
  ]);
  const s = beadStats(g, computeBlocked(g), T0);
  assert.is(s.total_issues, 4);
  assert.is(s.open_issues, 2);
  assert.is(s.blocked_issues, 2);
  assert.is(s.ready_issues, 0);
  assert.is(s.ready_actual, 1);
  assert.is(s.average_lead_time_hours, 3);
});

test('staleBeads: older than the cutoff, oldest first', () => {
  const day = 86400e3;
  const list = [
    bead('x-1', { updated_at: new Date(T0 - 40 * day).toISOString() }),
    bead('x-2', { updated_at: new Date(T0 - 5 * day).toISOString() }),
    bead('x-3', { updated_at: new Date(T0 - 90 * day).toISOString() }),
  ];
  const out = staleBeads(list, 30, T0);
  assert.equal(
    out.map((e) => [e.bead.id, e.days_stale]),
    [
      ['x-3', 90],
      ['x-1', 40],
    ],
  );
});

test('childrenOf: edges plus one-level dotted ids without a parent edge, natural order', () => {
  const g = buildGraph([
    bead('p-1'),
    bead('p-1.2', {}, [['parent-child', 'p-1']]),
    bead('p-1.10'),
    bead('p-1.3', {}, [['parent-child', 'q-9']]),
    bead('p-1.2.1', {}, [['parent-child', 'p-1.2']]),
    bead('p-other', {}, [['parent-child', 'p-1']]),
    bead('q-9'),
  ]);
  assert.equal(childrenOf(g, 'p-1'), ['p-1.2', 'p-1.10', 'p-other']);
});

test('depTree: depth-first, each bead once, max depth marks truncation, cycles end', () => {
  const g = buildGraph([
    bead('a-1', {}, [
      ['blocks', 'a-2'],
      ['related', 'a-3'],
    ]),
    bead('a-2', {}, [['blocks', 'a-4']]),
    bead('a-3', {}, [
      ['blocks', 'a-4'],
      ['related', 'external:p:cap'],
    ]),
    bead('a-4', {}, [['blocks', 'a-1']]),
  ]);
  const t = depTree(g, 'a-1', { direction: 'down', maxDepth: 50 });
  assert.equal(
    flattenTree(t).map((n) => [n.id, n.depth, n.parent_id]),
    [
      ['a-1', 0, null],
      ['a-2', 1, 'a-1'],
      ['a-4', 2, 'a-2'],
      ['a-3', 1, 'a-1'],
      ['external:p:cap', 2, 'a-3'],
    ],
  );
  assert.is(flattenTree(t)[4].missing, true);
  const cut = flattenTree(depTree(g, 'a-1', { direction: 'down', maxDepth: 1 }));
  assert.equal(
    cut.map((n) => [n.id, !!n.truncated]),
    [
      ['a-1', false],
      ['a-2', true],
      ['a-3', true],
    ],
  );
  const blocksOnly = flattenTree(depTree(g, 'a-1', { direction: 'down', maxDepth: 50, types: ['blocks'] }));
  assert.equal(
    blocksOnly.map((n) => n.id),
    ['a-1', 'a-2', 'a-4'],
  );
  const up = flattenTree(depTree(g, 'a-4', { direction: 'up', maxDepth: 50 }));
  assert.equal(up[0].id, 'a-4');
  assert.equal(new Set(up.map((n) => n.id)), new Set(['a-1', 'a-2', 'a-3', 'a-4']));
  const text = renderTree(t, (n) => n.id);
  assert.is(text, ['a-1', '├── a-2', '│   └── a-4', '└── a-3', '    └── external:p:cap'].join('\n'));
  const m = treeToMermaid(g, t);
  assert.match(m, /n2 --> n0/); // a-4 → a-1 closes the loop among shown beads
  assert.match(m, /n3 -->\|related\| n4/);
});

test('cyclePath walks each component back to its start', () => {
  const g = buildGraph([
    bead('c-1', {}, [['blocks', 'c-2']]),
    bead('c-2', {}, [['blocks', 'c-3']]),
    bead('c-3', {}, [['blocks', 'c-1']]),
    bead('c-4', {}, [['conditional-blocks', 'c-4']]),
  ]);
  const cycles = findCycles(g);
  const paths = cycles.map((c) => cyclePath(g, c));
  const three = paths.find((p) => p.length === 4)!;
  assert.is(three[0], three[3]);
  assert.equal(new Set(three), new Set(['c-1', 'c-2', 'c-3']));
  assert.ok(paths.some((p) => p.join() === 'c-4,c-4'));
});

test('config validation: lists, custom statuses, prefixes, numbers', () => {
  assert.equal(splitList(' a, b ,,c'), ['a', 'b', 'c']);
  assert.equal(splitList('["a","b"]'), ['a', 'b']);
  assert.throws(() => splitList('[1]'), /array of strings/);
  assert.equal(parseCustomStatuses('review:wip,qa'), [
    { name: 'review', category: 'wip' },
    { name: 'qa', category: 'unspecified' },
  ]);
  assert.throws(() => parseCustomStatuses('closed'), /built-in/);
  assert.throws(() => parseCustomStatuses('x:y:z'), /invalid custom status/);
  assert.throws(() => parseCustomStatuses(`${'a'.repeat(51)}`), /invalid custom status/);
  assert.is(validateConfigValue('status.custom', 'a:done, b'), 'a:done,b');
  assert.is(validateConfigValue('allowed_prefixes', 'hq, hq-cv'), 'hq,hq-cv');
  assert.throws(() => validateConfigValue('allowed_prefixes', 'hq,bad prefix'), /invalid prefix/);
  assert.is(validateConfigValue('max_collision_prob', '0.5'), '0.5');
  assert.throws(() => validateConfigValue('max_collision_prob', '2'), /\(0, 1\]/);
  assert.is(validateConfigValue('anything.else', 'free text'), 'free text');
});

test.run();
