// The merge-queue score (spec §2.11) as a pure function of its inputs and `now`.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { byScore, mrScore } from '../../src/refinery/score.ts';

const H = 3600e3;
const now = Date.parse('2026-01-02T00:00:00Z');

test('the formula: 1000 + 10·convoy_age_h + 100·(4−priority) − min(50·retry, 300) + mr_age_h', () => {
  assert.is(mrScore({ priority: 2, retryCount: 0, mrCreatedMs: now }, now), 1200);
  assert.is(mrScore({ priority: 0, retryCount: 0, mrCreatedMs: now - 3 * H }, now), 1403);
  assert.is(
    mrScore({ priority: 2, retryCount: 0, mrCreatedMs: now, convoyCreatedMs: now - 5 * H }, now),
    1250,
  );
  assert.is(mrScore({ priority: 2, retryCount: 2, mrCreatedMs: now }, now), 1100);
  // The retry penalty is capped at 300.
  assert.is(mrScore({ priority: 2, retryCount: 50, mrCreatedMs: now }, now), 900);
  // Ages never go negative (a clock skewed into the future).
  assert.is(
    mrScore({ priority: 4, retryCount: 0, mrCreatedMs: now + H, convoyCreatedMs: now + H }, now),
    1000,
  );
});

test('ordering: urgent before old, an old convoy lifts its work, ties go to the older MR then the id', () => {
  const e = (id: string, priority: number, ageH: number, retry = 0, convoyH?: number) => {
    const mrCreatedMs = now - ageH * H;
    return {
      id,
      mrCreatedMs,
      score: mrScore(
        {
          priority,
          retryCount: retry,
          mrCreatedMs,
          convoyCreatedMs: convoyH === undefined ? null : now - convoyH * H,
        },
        now,
      ),
    };
  };
  const list = [
    e('mr-low-old', 3, 50), // 1150
    e('mr-urgent', 0, 0), // 1400
    e('mr-retried', 1, 0, 3), // 1150
    e('mr-convoy', 2, 1, 0, 30), // 1501
    e('mr-b', 2, 2), // 1202
    e('mr-a', 2, 2), // 1202
  ];
  assert.equal(
    list.sort(byScore).map((x) => x.id),
    ['mr-convoy', 'mr-urgent', 'mr-a', 'mr-b', 'mr-low-old', 'mr-retried'],
  );
});

test.run();
