// Realistic ledgers for the benchmarks: N beads of mixed types and priorities, ~30% closed,
// labels from a small vocabulary, a dependency graph (blocks chains, epics with parent-child
// children, some waits-for / related / discovered-from edges), descriptions of a few hundred
// characters and a few comments. Deterministic for a given seed.
//
// Records are written exactly as bd writes them: validated, put through canonical() by BeadTx,
// formatted by the ledger's codec, in one ledger transaction (one commit) after the `bd init`
// commit. The same data is also produced as `bd export`-style JSONL for the import benchmark.
//
// Standalone: node --import tsx scripts/bench/generate.ts N [DIR]   (prints the repo path)
import fs from 'node:fs';
import path from 'node:path';
import { adaptiveLength, generateUniqueId } from '../../src/beads/ids.ts';
import { CONFIG_PATH, canonical } from '../../src/beads/record.ts';
import { BeadStore, locate } from '../../src/beads/store.ts';
import type { Bead, Comment, Dependency } from '../../src/beads/types.ts';
import { loadCodec } from '../../src/ledger/codec.ts';
import { benchEnv, gitSync, log } from './lib.ts';

/** mulberry32: a small seeded PRNG, so the same seed gives the same ledger. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = (
  'the a of to and in for on with when after before user users request requests cache index ledger ' +
  'commit ref tree blob merge queue agent session worker daemon patrol convoy polecat refinery rig ' +
  'crew mayor witness deacon mail nudge hook sling handoff formula molecule wisp gate timeout retry ' +
  'error fails slow crash leak race lock lost stale missing wrong invalid empty large small page ' +
  'login token config setting flag option output json table report metric log trace span test ' +
  'build release deploy rollback migrate schema field column row file path branch worktree remote ' +
  'fetch push pull sync conflict resolve update create close reopen list show ready blocked'
).split(' ');
const LABELS = [
  'backend',
  'frontend',
  'api',
  'db',
  'infra',
  'docs',
  'perf',
  'security',
  'ux',
  'tests',
  'ci',
  'tech-debt',
];
const PEOPLE = ['alice', 'bob', 'carol', 'dave', 'erin', 'gastown/polecats/furiosa', 'gastown/crew/max'];
const CLOSE_REASONS = ['done', 'fixed in main', 'duplicate', "won't fix", 'merged', 'no longer relevant'];
const DAY = 86_400_000;
const T0 = Date.UTC(2025, 0, 1);
const SPAN = 365 * DAY;
const END = T0 + SPAN;

export interface GeneratedData {
  beads: Bead[];
  /** Open, unassigned-or-not, non-epic ids with no dependencies of their own (safe to update). */
  openIds: string[];
  /** Ids of beads with dependencies and comments (for `bd show`). */
  richIds: string[];
}

/** Build N beads in memory (pure; no I/O). */
export function makeBeads(n: number, seed = 42): GeneratedData {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const chance = (p: number) => rnd() < p;
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
  const words = (lo: number, hi: number) => {
    const k = int(lo, hi);
    const out: string[] = [];
    for (let i = 0; i < k; i++) out.push(pick(WORDS));
    return out.join(' ');
  };
  const sentence = (lo: number, hi: number) => {
    const s = words(lo, hi);
    return `${s[0].toUpperCase()}${s.slice(1)}.`;
  };
  const paragraph = (chars: number) => {
    const parts: string[] = [];
    let len = 0;
    while (len < chars) {
      const s = sentence(6, 16);
      parts.push(s);
      len += s.length + 1;
    }
    return parts.join(' ');
  };
  const iso = (ms: number) => new Date(ms).toISOString();
  const uuid = (ms: number) => {
    const hex = Math.floor(ms).toString(16).padStart(12, '0');
    let r = '';
    for (let i = 0; i < 20; i++) r += Math.floor(rnd() * 16).toString(16);
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7${r.slice(0, 3)}-${'89ab'[int(0, 3)]}${r.slice(3, 6)}-${r.slice(6, 18)}`;
  };

  const beads: Bead[] = [];
  const taken = new Set<string>();
  const nonEpics: string[] = [];
  const epics: string[] = [];
  const all: string[] = [];
  const openIds: string[] = [];
  const richIds: string[] = [];
  let topLevel = 0;

  const status = () => {
    const r = rnd();
    if (r < 0.3) return 'closed';
    if (r < 0.4) return 'in_progress';
    if (r < 0.415) return 'deferred';
    if (r < 0.425) return 'blocked';
    return 'open';
  };
  const priority = () => {
    const r = rnd();
    return r < 0.05 ? 0 : r < 0.25 ? 1 : r < 0.7 ? 2 : r < 0.9 ? 3 : 4;
  };
  const labels = () => {
    const r = rnd();
    const k = r < 0.3 ? 0 : r < 0.7 ? 1 : r < 0.9 ? 2 : 3;
    const s = new Set<string>();
    while (s.size < k) s.add(pick(LABELS));
    return [...s].sort();
  };
  const dep = (id: string, target: string, type: string, at: number, by: string, metadata?: string) => {
    const d: Dependency = { issue_id: id, depends_on_id: target, type, created_at: iso(at), created_by: by };
    if (metadata) d.metadata = metadata;
    return d;
  };

  /** Fill in the common fields; `st` forced for children of closed epics. */
  const make = (id: string, title: string, description: string, type: string, at: number, st: string) => {
    const creator = pick(PEOPLE);
    const b: Bead = {
      id,
      title,
      description,
      status: st,
      priority: priority(),
      issue_type: type,
      owner: `${creator.split('/').pop()}@example.com`,
      created_at: iso(at),
      created_by: creator,
      updated_at: iso(at),
      labels: labels(),
      dependencies: [],
    };
    let updated = at;
    if (chance(0.3)) b.design = paragraph(int(80, 200));
    if (chance(0.2)) b.acceptance_criteria = `- ${sentence(5, 10)}\n- ${sentence(5, 10)}`;
    if (chance(0.2)) b.estimated_minutes = pick([15, 30, 60, 120, 240, 480]);
    if (chance(0.05)) b.external_ref = `gh-${int(1, 9999)}`;
    if (chance(0.05)) b.metadata = { team: pick(['core', 'web', 'ops']), sprint: int(1, 40) };
    const assigned = st === 'in_progress' || (st === 'closed' ? chance(0.6) : chance(0.2));
    if (assigned) b.assignee = pick(PEOPLE);
    if (st === 'in_progress' || st === 'closed') {
      const started = Math.min(END, at + rnd() * 5 * DAY);
      b.started_at = iso(started);
      updated = Math.max(updated, started);
    }
    if (st === 'closed') {
      const closed = Math.min(END, at + rnd() * 30 * DAY);
      b.closed_at = iso(closed);
      b.close_reason = pick(CLOSE_REASONS);
      updated = Math.max(updated, closed);
    }
    if (st === 'open' && chance(0.02)) b.defer_until = '2099-01-01T00:00:00.000Z';
    if (chance(0.15)) {
      const comments: Comment[] = [];
      for (let k = int(1, 3); k > 0; k--) {
        const cAt = Math.min(END, at + rnd() * 20 * DAY);
        comments.push({
          id: uuid(cAt),
          issue_id: id,
          author: pick(PEOPLE),
          text: paragraph(int(40, 200)),
          created_at: iso(cAt),
        });
        updated = Math.max(updated, cAt);
      }
      comments.sort((x, y) => (x.created_at < y.created_at ? -1 : 1));
      b.comments = comments;
    }
    b.updated_at = iso(updated);
    return b;
  };

  /** Edges to earlier beads only, so blocking edges can never form a cycle. */
  const addEdges = (b: Bead, at: number, isEpic: boolean) => {
    const by = b.created_by!;
    const deps = b.dependencies!;
    const has = (t: string) => deps.some((d) => d.depends_on_id === t);
    if (isEpic) {
      if (epics.length > 0 && chance(0.15)) deps.push(dep(b.id, pick(epics), 'blocks', at, by));
      return;
    }
    const recent = (k: number) => nonEpics[Math.max(0, nonEpics.length - 1 - Math.floor(rnd() * k))];
    if (nonEpics.length > 0 && chance(0.25)) deps.push(dep(b.id, recent(300), 'blocks', at, by));
    if (nonEpics.length > 0 && chance(0.08)) {
      const t = recent(2000);
      if (!has(t)) deps.push(dep(b.id, t, 'blocks', at, by));
    }
    if (epics.length > 0 && chance(0.02)) {
      const t = pick(epics);
      if (!has(t)) {
        const gate = chance(0.7) ? 'all-children' : 'any-children';
        deps.push(dep(b.id, t, 'waits-for', at, by, JSON.stringify({ gate })));
      }
    }
    if (all.length > 0 && chance(0.05)) {
      const t = pick(all);
      if (!has(t)) deps.push(dep(b.id, t, 'related', at, by));
    }
    if (all.length > 0 && chance(0.03)) {
      const t = pick(all);
      if (!has(t)) deps.push(dep(b.id, t, 'discovered-from', at, by));
    }
  };

  const note = (b: Bead) => {
    beads.push(b);
    all.push(b.id);
    if (b.issue_type === 'epic') epics.push(b.id);
    else nonEpics.push(b.id);
    if (b.status === 'open' && b.issue_type !== 'epic' && b.dependencies!.length === 0 && !b.defer_until)
      openIds.push(b.id);
    if (b.comments?.length && b.dependencies!.length && richIds.length < 50) richIds.push(b.id);
  };

  while (beads.length < n) {
    const i = beads.length;
    const at = T0 + (i / n) * SPAN + rnd() * 3_600_000;
    const isEpic = chance(0.04);
    const type = isEpic
      ? 'epic'
      : pick(['task', 'task', 'task', 'bug', 'bug', 'feature', 'chore', 'decision', 'spike']);
    const title = sentence(3, 9).slice(0, -1);
    const description = paragraph(int(150, 550));
    const st = status();
    const id = generateUniqueId(
      { prefix: 'bd', title, description, creator: 'bench', createdAt: new Date(at) },
      adaptiveLength(topLevel),
      (x) => taken.has(x),
    );
    taken.add(id);
    topLevel++;
    const b = make(id, title, description, type, at, st);
    addEdges(b, at, isEpic);
    note(b);
    if (!isEpic) continue;
    // Children `<epic>.N`, parent-child edges, some blocks chains between siblings.
    const kids = Math.min(int(3, 8), n - beads.length);
    let prev: string | null = null;
    for (let k = 1; k <= kids; k++) {
      const cAt = at + k * 60_000;
      const cid = `${id}.${k}`;
      const cst = st === 'closed' ? 'closed' : status();
      const child = make(
        cid,
        sentence(3, 8).slice(0, -1),
        paragraph(int(150, 450)),
        pick(['task', 'bug', 'feature']),
        cAt,
        cst,
      );
      child.dependencies!.push(dep(cid, id, 'parent-child', cAt, child.created_by!));
      if (prev && chance(0.3)) child.dependencies!.push(dep(cid, prev, 'blocks', cAt, child.created_by!));
      prev = cid;
      note(child);
    }
    b.child_counter = kids;
  }
  return { beads, openIds, richIds };
}

/**
 * `bd export` JSONL (spec §4.1): `_type: issue` lines in SearchIssues order (priority, newest
 * first, id), each with dependency_count, dependent_count and comment_count.
 */
export function exportJsonl(beads: Bead[]): string {
  const dependents = new Map<string, number>();
  for (const b of beads)
    for (const d of b.dependencies ?? [])
      dependents.set(d.depends_on_id, (dependents.get(d.depends_on_id) ?? 0) + 1);
  const sorted = [...beads].sort(
    (a, b) =>
      a.priority - b.priority ||
      (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : 0) ||
      (a.id < b.id ? -1 : 1),
  );
  const lines: string[] = [];
  for (const b of sorted) {
    const { child_counter: _cc, ...rec } = canonical(b) as Bead;
    lines.push(
      JSON.stringify({
        _type: 'issue',
        ...rec,
        dependency_count: b.dependencies?.length ?? 0,
        dependent_count: dependents.get(b.id) ?? 0,
        comment_count: b.comments?.length ?? 0,
      }),
    );
  }
  return `${lines.join('\n')}\n`;
}

/** `exportIssues` from src/beads/jsonl.ts, or null while that module is missing or broken. */
async function loadExporter(): Promise<((store: BeadStore) => string) | null> {
  const modPath = '../../src/beads/jsonl.ts';
  try {
    const mod: any = await import(modPath);
    return typeof mod.exportIssues === 'function' ? (store) => mod.exportIssues(store, {}) : null;
  } catch {
    return null;
  }
}

export interface RepoHandle {
  dir: string;
  home: string;
  env: NodeJS.ProcessEnv;
}

/** A fresh git repository under `base` with its own HOME, gc and auto-maintenance off. */
export function makeRepo(base: string): RepoHandle {
  const home = path.join(base, 'home');
  const dir = path.join(base, 'repo');
  fs.mkdirSync(home, { recursive: true });
  fs.mkdirSync(dir, { recursive: true });
  const env = benchEnv(home);
  gitSync(dir, ['init', '-q', '-b', 'main'], env);
  gitSync(dir, ['config', 'gc.auto', '0'], env);
  gitSync(dir, ['config', 'maintenance.auto', 'false'], env);
  gitSync(dir, ['config', 'user.name', 'Bench'], env);
  gitSync(dir, ['config', 'user.email', 'bench@example.com'], env);
  return { dir, home, env };
}

/** `bd init --prefix bd` in process: the config record in the first ledger commit. */
export async function initLedger(dir: string, prefix = 'bd'): Promise<BeadStore> {
  await loadCodec();
  const store = new BeadStore(locate(dir), { actor: 'bench' });
  store.ledger.transact({ name: 'bench', email: 'bench@example.com' }, `init: prefix ${prefix}`, (tx) => {
    if (!tx.has(CONFIG_PATH)) tx.put(CONFIG_PATH, { issue_prefix: prefix });
  });
  store.flush();
  return store;
}

export interface GeneratedLedger extends RepoHandle {
  n: number;
  openIds: string[];
  richIds: string[];
  /** `bd export`-style JSONL of the same beads. */
  jsonlPath: string;
  makeMs: number;
  writeMs: number;
}

/** Generate N beads into a new repository under `base`, as one commit after `bd init`. */
export async function generateLedger(n: number, base: string, seed = 42): Promise<GeneratedLedger> {
  const repo = makeRepo(base);
  const t0 = performance.now();
  const data = makeBeads(n, seed);
  const t1 = performance.now();
  const store = await initLedger(repo.dir);
  store.transact(`import: ${n} generated beads`, (tx) => {
    for (const b of data.beads) tx.put(b);
  });
  store.flush();
  const t2 = performance.now();
  // The export of the same beads: `bd export` itself (src/beads/jsonl.ts) when it is there.
  const jsonlPath = path.join(base, `issues-${n}.jsonl`);
  const exporter = await loadExporter();
  fs.writeFileSync(jsonlPath, exporter ? exporter(store) : exportJsonl(data.beads));
  return {
    ...repo,
    n,
    openIds: data.openIds,
    richIds: data.richIds,
    jsonlPath,
    makeMs: t1 - t0,
    writeMs: t2 - t1,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const n = Number(process.argv[2] ?? 10_000);
  const base = path.resolve(
    process.argv[3] ?? fs.mkdtempSync(path.join((await import('node:os')).tmpdir(), 'bench-gen-')),
  );
  const g = await generateLedger(n, base);
  log(`generated ${n} beads: build ${g.makeMs.toFixed(0)} ms, write ${g.writeMs.toFixed(0)} ms`);
  process.stdout.write(`${g.dir}\n`);
}
