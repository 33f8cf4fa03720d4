import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  adaptiveLength,
  extractPrefix,
  generateHashId,
  generateUniqueId,
  parseHierarchicalId,
  validateId,
} from '../../src/beads/ids.ts';

const when = new Date('2024-01-02T03:04:05.006Z');

test('hash ids match the official test vectors (spec §2.1)', () => {
  const expected: Record<number, string> = {
    3: 'bd-vju',
    4: 'bd-8d8e',
    5: 'bd-bi3tk',
    6: 'bd-8bi3tk',
    7: 'bd-r5sr6bm',
    8: 'bd-8r5sr6bm',
  };
  for (const [len, id] of Object.entries(expected)) {
    assert.is(generateHashId('bd', 'Fix login', 'Details', 'jira-import', when, Number(len), 0), id);
  }
});

test('adaptive length follows the collision table', () => {
  const table: [number, number][] = [
    [0, 3],
    [163, 3],
    [164, 4],
    [983, 4],
    [984, 5],
    [5898, 5],
    [5899, 6],
    [35389, 6],
    [35390, 7],
    [212339, 7],
    [212340, 8],
  ];
  for (const [n, len] of table) assert.is(adaptiveLength(n), len, `n=${n}`);
});

test('collisions retry with new nonces, then longer ids', () => {
  const input = {
    prefix: 'bd',
    title: 'Fix login',
    description: 'Details',
    creator: 'jira-import',
    createdAt: when,
  };
  const first = generateUniqueId(input, 3, () => false);
  assert.is(first, 'bd-vju');
  const taken = new Set([first]);
  const second = generateUniqueId(input, 3, (id) => taken.has(id));
  assert.is.not(second, first);
  assert.is(second.length, first.length);
  // Every 3-char candidate taken: moves on to length 4.
  const all3 = (id: string) => id.length === 'bd-'.length + 3;
  assert.is(generateUniqueId(input, 3, all3).length, 'bd-'.length + 4);
});

test('hierarchical ids split at the last dot', () => {
  assert.equal(parseHierarchicalId('bd-abc.1.2'), { parent: 'bd-abc.1', n: 2 });
  assert.is(parseHierarchicalId('bd-abc'), null);
  assert.is(parseHierarchicalId('mol.step-a'), null);
  assert.is(extractPrefix('gt-mol-x7k2'), 'gt-mol');
  assert.is(extractPrefix('bd-abc.3'), 'bd');
});

test('ids with path tricks are refused', () => {
  for (const bad of [
    '../etc',
    'bd-../x',
    'bd/x',
    'bd-a/b',
    '',
    'nodash',
    'bd-a\0',
    '.bd-x',
    'bd-x.',
    'bd-a..b',
    'bd-x.lock',
  ]) {
    assert.throws(() => validateId(bad), /invalid id/, bad);
  }
  for (const good of ['bd-abc', 'hq-cv-12345', 'bd-abc.1.2', 'gt-mol-x7k2', 'hq-mayor']) validateId(good);
});

test.run();
