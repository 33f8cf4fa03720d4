// The nudge queue (src/nudge/queue.ts), in process on a bare directory: files and format, TTL
// (short TTLs through GT_CFG_ settings, no long sleeps), the depth limit (oldest normal dropped,
// all-urgent refused), claims and orphaned-claim recovery, drain order and deliver_after.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConflictError, UsageError } from '../../src/errors.ts';
import {
  drainQueue,
  enqueueNudge,
  listQueue,
  ORPHAN_CLAIM_MS,
  queueDir,
  recoverOrphanedClaims,
} from '../../src/nudge/queue.ts';
import { tmpDir } from '../helpers.ts';

const town = () => tmpDir('gt-nudgeq-');
const files = (root: string, s: string) => {
  try {
    return fs.readdirSync(queueDir(root, s)).sort();
  } catch {
    return [];
  }
};

test('a nudge is one JSON file under .runtime/nudge_queue/<session>/ with the spec fields', () => {
  const root = town();
  const { file, nudge } = enqueueNudge(root, 'mr-nux', {
    sender: 'mayor',
    message: 'check your hook',
    thread_id: 't-1',
  });
  assert.is(path.dirname(file), path.join(root, '.runtime', 'nudge_queue', 'mr-nux'));
  assert.match(path.basename(file), /^\d{16}-[0-9a-f]{8}\.json$/);
  const onDisk = JSON.parse(fs.readFileSync(file, 'utf8'));
  assert.equal(onDisk, nudge);
  assert.is(onDisk.priority, 'normal');
  assert.is(onDisk.kind, 'nudge');
  assert.is(onDisk.thread_id, 't-1');
  const ttl = Date.parse(onDisk.expires_at) - Date.parse(onDisk.timestamp);
  assert.is(ttl, 30 * 60 * 1000);
  const urgent = enqueueNudge(root, 'mr-nux', { sender: 'mayor', message: 'now', priority: 'urgent' }).nudge;
  assert.is(Date.parse(urgent.expires_at) - Date.parse(urgent.timestamp), 2 * 3600 * 1000);
  assert.equal(files(root, 'mr-nux').length, 2, 'no temp files left behind');
});

test('bad sessions, priorities and messages are refused with nothing written', () => {
  const root = town();
  for (const s of ['../x', 'a/b', '', '.hidden'])
    assert.throws(
      () => enqueueNudge(root, s, { sender: 'm', message: 'x' }),
      (e: Error) => e instanceof UsageError,
    );
  assert.throws(
    () => enqueueNudge(root, 'mr-nux', { sender: 'm', message: 'x', priority: 'high' as any }),
    (e: Error) => e instanceof UsageError,
  );
  assert.throws(
    () => enqueueNudge(root, 'mr-nux', { sender: 'm', message: '  ' }),
    (e: Error) => e instanceof UsageError,
  );
  assert.not.ok(fs.existsSync(path.join(root, '.runtime')));
});

test('expired nudges are discarded, never drained (TTL from settings)', async () => {
  const root = town();
  const env = { GT_CFG_OPERATIONAL__NUDGE__TTL_NORMAL: '150ms' };
  enqueueNudge(root, 'mr-nux', { sender: 'a', message: 'short-lived' }, { env });
  enqueueNudge(root, 'mr-nux', { sender: 'b', message: 'urgent lives 2h', priority: 'urgent' }, { env });
  await new Promise((r) => setTimeout(r, 250));
  const got = drainQueue(root, 'mr-nux');
  assert.equal(
    got.map((n) => n.message),
    ['urgent lives 2h'],
  );
  assert.equal(files(root, 'mr-nux'), [], 'drained and expired files are gone');
  // A fake clock works too: a normal nudge 31 minutes later is gone.
  enqueueNudge(root, 'mr-nux', { sender: 'a', message: 'old' });
  assert.equal(drainQueue(root, 'mr-nux', { now: Date.now() + 31 * 60 * 1000 }), []);
  assert.equal(files(root, 'mr-nux'), []);
});

test('depth limit: a full queue drops its oldest normal nudge; all urgent refuses the new one', () => {
  const root = town();
  const env = { GT_CFG_OPERATIONAL__NUDGE__QUEUE_DEPTH: '3' };
  enqueueNudge(root, 's1', { sender: 'a', message: 'n1' }, { env });
  enqueueNudge(root, 's1', { sender: 'a', message: 'u1', priority: 'urgent' }, { env });
  enqueueNudge(root, 's1', { sender: 'a', message: 'n2' }, { env });
  const r = enqueueNudge(root, 's1', { sender: 'a', message: 'n3' }, { env });
  assert.is(r.dropped.length, 1);
  assert.equal(
    listQueue(root, 's1').map((n) => n.message),
    ['u1', 'n2', 'n3'],
  );
  // Default depth is 50.
  const root2 = town();
  for (let i = 0; i < 55; i++) enqueueNudge(root2, 's2', { sender: 'a', message: `m${i}` });
  const left = listQueue(root2, 's2').map((n) => n.message);
  assert.is(left.length, 50);
  assert.is(left[0], 'm5');
  assert.is(left[49], 'm54');
  // All urgent: refused, nothing changes.
  const root3 = town();
  for (let i = 0; i < 3; i++)
    enqueueNudge(root3, 's3', { sender: 'a', message: `u${i}`, priority: 'urgent' }, { env });
  const before = files(root3, 's3');
  assert.throws(
    () => enqueueNudge(root3, 's3', { sender: 'a', message: 'one more' }, { env }),
    (e: Error) => e instanceof ConflictError && /full/.test(e.message),
  );
  assert.equal(files(root3, 's3'), before);
});

test('drain order: urgent first, then oldest first; deliver_after waits; a second drain gets nothing', () => {
  const root = town();
  enqueueNudge(root, 's', { sender: 'a', message: 'n1' });
  enqueueNudge(root, 's', { sender: 'b', message: 'u1', priority: 'urgent' });
  enqueueNudge(root, 's', { sender: 'c', message: 'n2' });
  enqueueNudge(root, 's', {
    sender: 'd',
    message: 'later',
    deliver_after: new Date(Date.now() + 60000).toISOString(),
  });
  enqueueNudge(root, 's', { sender: 'e', message: 'u2', priority: 'urgent' });
  const got = drainQueue(root, 's');
  assert.equal(
    got.map((n) => n.message),
    ['u1', 'u2', 'n1', 'n2'],
  );
  for (const n of got) {
    assert.type(n.sender, 'string');
    assert.type(n.timestamp, 'string');
    assert.ok(n.priority === 'normal' || n.priority === 'urgent');
  }
  assert.equal(drainQueue(root, 's'), []);
  assert.equal(
    drainQueue(root, 's', { now: Date.now() + 61000 }).map((n) => n.message),
    ['later'],
  );
  assert.equal(drainQueue(root, 'never-used'), []);
});

test('claims: a fresh .claimed file is left alone, an orphan (>5 min) is recovered and drained', () => {
  const root = town();
  const { file } = enqueueNudge(root, 's', { sender: 'a', message: 'claimed by a dead drainer' });
  fs.renameSync(file, `${file}.claimed`); // a drainer claimed it, then died
  assert.equal(drainQueue(root, 's'), [], 'a fresh claim belongs to a live drainer');
  assert.is(files(root, 's').length, 1);
  assert.is(recoverOrphanedClaims(root, 's', { now: Date.now() + 1000 }), 0);
  const later = { now: Date.now() + ORPHAN_CLAIM_MS + 1000 };
  assert.equal(
    drainQueue(root, 's', later).map((n) => n.message),
    ['claimed by a dead drainer'],
  );
  assert.equal(files(root, 's'), []);
});

test('two drainers racing: every nudge is delivered exactly once', async () => {
  const root = town();
  for (let i = 0; i < 40; i++) enqueueNudge(root, 's', { sender: 'a', message: `m${i}` });
  const { spawn } = await import('node:child_process');
  const script = `import { drainQueue } from ${JSON.stringify(path.resolve('src/nudge/queue.ts'))};
process.stdout.write(JSON.stringify(drainQueue(${JSON.stringify(root)}, 's').map((n) => n.message)));`;
  const one = () =>
    new Promise<string[]>((resolve, reject) => {
      const c = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]);
      let out = '';
      c.stdout.on('data', (d) => (out += d));
      c.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`exit ${code}`))));
    });
  const [a, b] = await Promise.all([one(), one()]);
  const all = [...a, ...b].sort();
  assert.is(all.length, 40);
  assert.is(new Set(all).size, 40);
  assert.equal(files(root, 's'), []);
});

test.run();
