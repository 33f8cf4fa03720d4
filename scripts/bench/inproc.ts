// Section 3: the BeadStore API in process. Each case runs in a child process of its own
// (node --import tsx scripts/bench/inproc.ts CASE REPO [ARG]), so its peak RSS is its own and
// "cold" really is a fresh process; it prints one JSON document on stdout.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildGraph, computeBlocked, readyWork, sortBeads } from '../../src/beads/graph.ts';
import { closeBead, createBead, setStatus } from '../../src/beads/ops.ts';
import { isBeadPath, SUMMARY_SCHEMA } from '../../src/beads/record.ts';
import { BeadStore } from '../../src/beads/store.ts';
import { readObjects, writeObject } from '../../src/git/objects.ts';
import { git } from '../../src/git/repo.ts';
import { formatRecord, loadCodec, parseRecord } from '../../src/ledger/codec.ts';
import { loadIndex, saveIndex } from '../../src/ledger/index-cache.ts';
import { initLedger, makeRepo } from './generate.ts';

type Samples = Record<string, number[]>;

const now = () => performance.now();
const maxRssKb = () => process.resourceUsage().maxRSS;

function open(dir: string): BeadStore {
  return BeadStore.open(dir, { actor: 'bench' });
}

/** What `bd ready` computes: graph, blocked set, ready filter, priority sort. */
function ready(store: BeadStore) {
  return sortBeads(readyWork(store.graph(), store.blocked(), {}), 'priority');
}

function time<T>(samples: Samples, key: string, fn: () => T): T {
  const t = now();
  const r = fn();
  (samples[key] ??= []).push(now() - t);
  return r;
}

const cases: Record<string, (dir: string, arg?: string) => Promise<Record<string, unknown>>> = {
  /** Native git plumbing, spawned from this process: the section's baseline. */
  async baseline(dir) {
    const s: Samples = {};
    const ref = 'refs/beads/ledger';
    const tip = spawnSync('git', ['rev-parse', ref], { cwd: dir, encoding: 'utf8' }).stdout.trim();
    for (let i = 0; i < 33; i++) {
      const a = now();
      const r = spawnSync('git', ['rev-parse', ref], { cwd: dir, encoding: 'utf8' });
      const b = now();
      const c = spawnSync('git', ['cat-file', '-p', tip], { cwd: dir, encoding: 'utf8' });
      const d = now();
      if (r.status !== 0 || c.status !== 0) throw new Error('git failed');
      if (i < 3) continue;
      (s.revParse ??= []).push(b - a);
      (s.catFile ??= []).push(d - b);
    }
    return { samples: s };
  },

  /** First ready in a fresh process: open the store, load the index cache from disk, compute. */
  async 'ready-cold'(dir) {
    const s: Samples = {};
    const t0 = now();
    const store = time(s, 'open', () => open(dir));
    time(s, 'load index', () => store.ledger.snapshot());
    const g = time(s, 'graph', () => store.graph());
    time(s, 'blocked', () => store.blocked());
    const list = time(s, 'ready+sort', () => sortBeads(readyWork(g, store.blocked(), {}), 'priority'));
    const total = now() - t0;
    return { total, count: list.length, splits: s, fresh: store.ledger.lastRefresh === null };
  },

  /** Ready again and again in one process: full recompute, and with the store's memo. */
  async 'ready-warm'(dir) {
    const s: Samples = {};
    const store = open(dir);
    const count = ready(store).length;
    for (let i = 0; i < 55; i++) {
      const t = now();
      const sums = time(s, 'summaries', () => store.summaries());
      const g = time(s, 'buildGraph', () => buildGraph(sums));
      const blocked = time(s, 'computeBlocked', () => computeBlocked(g));
      const r = time(s, 'readyWork', () => readyWork(g, blocked, {}));
      time(s, 'sortBeads', () => sortBeads(r, 'priority'));
      const full = now() - t;
      const t2 = now();
      ready(store);
      const memo = now() - t2;
      if (i < 5) continue;
      (s.full ??= []).push(full);
      (s.memo ??= []).push(memo);
    }
    for (const k of ['summaries', 'buildGraph', 'computeBlocked', 'readyWork', 'sortBeads'])
      s[k] = s[k].slice(5);
    return { count, samples: s };
  },

  /** 100 creates, each its own transaction (one commit each), then the index save. */
  async create(dir) {
    await loadCodec();
    const s: Samples = {};
    const store = open(dir);
    store.ledger.snapshot();
    for (let i = 0; i < 105; i++) {
      const t = now();
      let inner = 0;
      store.transact(`create: bench ${i}`, (tx) => {
        const a = now();
        createBead(tx, {
          title: `In-process bench bead ${i}`,
          description: 'Created by the in-process benchmark. '.repeat(6),
          type: 'task',
          priority: i % 5,
          labels: ['bench'],
        });
        inner += now() - a;
      });
      if (i < 5) continue;
      (s.create ??= []).push(now() - t);
      (s['createBead (inside tx)'] ??= []).push(inner);
    }
    const index = store.ledger.snapshot();
    for (let i = 0; i < 10; i++) time(s, 'saveIndex', () => saveIndex(store.ledger.cachePath, index));
    store.flush();
    return { samples: s };
  },

  /** 100 status updates of different beads, each its own transaction. */
  async update(dir, idsFile) {
    await loadCodec();
    const ids: string[] = JSON.parse(fs.readFileSync(idsFile!, 'utf8'));
    const s: Samples = {};
    const store = open(dir);
    store.ledger.snapshot();
    for (let i = 0; i < 105; i++) {
      const id = ids[i];
      if (!id) throw new Error('not enough open beads to update');
      const t = now();
      store.transact(`update ${id}`, (tx) => {
        const b = tx.must(id);
        setStatus(tx, b, 'in_progress');
        tx.put(b);
        tx.note(`update ${id}: status open→in_progress`);
      });
      if (i >= 5) (s.update ??= []).push(now() - t);
    }
    store.flush();
    return { samples: s };
  },

  /** 100 ready beads closed one by one (closeBead with its guards), one commit each. */
  async close100(dir) {
    await loadCodec();
    const s: Samples = {};
    const store = open(dir);
    const ids = ready(store)
      .filter((b) => b.issue_type !== 'epic')
      .slice(0, 100)
      .map((b) => b.id);
    if (ids.length < 100) throw new Error(`only ${ids.length} closeable beads`);
    const t0 = now();
    for (const id of ids) {
      time(s, 'close', () =>
        store.transact(`close ${id}`, (tx) => {
          const b = tx.must(id);
          closeBead(tx, b, { reason: 'bench' });
        }),
      );
    }
    const total = now() - t0;
    store.flush();
    return { total, samples: s };
  },

  /** Import the JSONL export of the 10k ledger into a fresh ledger (when jsonl.ts exists). */
  async import(_dir, jsonlFile) {
    const modPath = '../../src/beads/jsonl.ts';
    let mod: any;
    try {
      mod = await import(modPath);
    } catch (e: any) {
      return {
        available: false,
        why: `src/beads/jsonl.ts not loadable (${String(e.message).split('\n')[0]})`,
      };
    }
    if (typeof mod.importIssues !== 'function') {
      return { available: false, why: 'src/beads/jsonl.ts has no importIssues()' };
    }
    const text = fs.readFileSync(jsonlFile!, 'utf8');
    const expected = text.split('\n').filter((l) => l.trim()).length;
    const base = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-import-'));
    try {
      const repo = makeRepo(base);
      const store = await initLedger(repo.dir);
      const t0 = now();
      const result = await mod.importIssues(store, text, {});
      const t1 = now();
      store.flush();
      const t2 = now();
      const present = store.summaries().length;
      // Two parts of that cost measured on their own: YAML formatting of every record, and
      // writing one loose object per record.
      const beads = store.allBeads(false);
      const tf = now();
      const texts = beads.map((b) => formatRecord(b));
      const formatMs = now() - tf;
      const scratch = path.join(base, 'scratch-objects');
      fs.mkdirSync(path.join(scratch, 'objects'), { recursive: true });
      const tw = now();
      for (const t of texts) writeObject(scratch, 'blob', Buffer.from(t, 'utf8'));
      const writeMs = now() - tw;
      return {
        formatMs,
        writeMs,
        available: true,
        total: t1 - t0,
        flush: t2 - t1,
        expected,
        present,
        result: summarizeResult(result),
      };
    } finally {
      fs.rmSync(base, { recursive: true, force: true });
    }
  },

  /** Full rebuild of the index cache (dropCache, then snapshot), with its parts timed apart. */
  async rebuild(dir) {
    await loadCodec();
    const s: Samples = {};
    const store = open(dir);
    const tip = store.ledger.tip()!;
    for (let i = 0; i < 3; i++) {
      store.ledger.dropCache();
      time(s, 'rebuild', () => store.ledger.snapshot());
    }
    store.flush();
    // The same work in pieces: list the tree, read every blob, parse every record.
    const commonDir = store.ledger.commonDir;
    const listing = time(s, 'ls-tree', () =>
      git(commonDir, ['--git-dir', commonDir, 'ls-tree', '-r', '-z', tip]),
    );
    const oids = listing
      .split('\0')
      .filter((r) => r.includes('\t') && isBeadPath(r.slice(r.indexOf('\t') + 1)))
      .map((r) => r.split(' ')[2].split('\t')[0]);
    const objs = time(s, 'read blobs (loose: readFile+inflate)', () => readObjects(commonDir, oids));
    const texts = [...objs.values()].map((o) => o.body.toString('utf8'));
    time(s, 'parse YAML', () => {
      for (const t of texts) parseRecord(t);
    });
    const idx = loadIndex(store.ledger.cachePath, store.ledger.ref, SUMMARY_SCHEMA);
    return { samples: s, blobs: oids.length, indexOk: idx.ok };
  },
};

function summarizeResult(r: any): unknown {
  if (!r || typeof r !== 'object') return r;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) out[k] = Array.isArray(v) ? v.length : v;
  return out;
}

const [name, dir, arg] = process.argv.slice(2);
const fn = cases[name];
if (!fn || !dir) {
  process.stderr.write(`usage: inproc.ts (${Object.keys(cases).join('|')}) REPO [ARG]\n`);
  process.exit(2);
}
const result = await fn(dir, arg);
process.stdout.write(`${JSON.stringify({ case: name, ...result, maxRssKb: maxRssKb() })}\n`);
