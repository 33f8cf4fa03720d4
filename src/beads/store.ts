// The bead store: beads in the ledger (committed) plus wisps (operational plane), config,
// id resolution and transactions. Commands are written against this.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { GtError, NotFoundError } from '../errors.ts';
import { findRepo, type Repo } from '../git/repo.ts';
import { Ledger, type Transaction } from '../ledger/ledger.ts';
import { editDistance } from '../util/suggest.ts';
import { buildGraph, computeBlocked, type Graph } from './graph.ts';
import {
  adaptiveLength,
  extractPrefix,
  generateUniqueId,
  isTopLevel,
  parseHierarchicalId,
  validateId,
} from './ids.ts';
import {
  BEADS_DIR,
  type BeadSummary,
  beadPath,
  CONFIG_PATH,
  canonical,
  isBeadPath,
  SUMMARY_SCHEMA,
  summarize,
} from './record.ts';
import { type Bead, type TypeConfig, validateBead } from './types.ts';
import { loadFreshViews, readRows, saveViews, type Views, viewsPath, wispStamp } from './views.ts';
import { WispStore } from './wisps.ts';

export const TOWN_REF = 'refs/gt/ledger';
export const REPO_REF = 'refs/beads/ledger';

export interface StoreLocation {
  repo: Repo;
  ref: string;
  mode: 'town' | 'repo';
  /** Town root or the repository's working tree. */
  root: string;
  /** Operational plane: wisps, nudges, heartbeats (never committed). */
  runtimeDir: string;
  /** In a town, the rig the command runs in and its bead prefix. */
  rig?: string;
  rigPrefix?: string;
}

/** Walk up for a town (`mayor/town.json`), else use the enclosing git repository. */
export function locate(cwd: string): StoreLocation {
  const town = process.env.GT_ROOT ? path.resolve(process.env.GT_ROOT) : findTownRoot(cwd);
  if (town) {
    const repo = findRepo(town);
    if (!repo) throw new GtError(`town at ${town} is not a git repository; run \`gt doctor --fix\``);
    return {
      repo,
      ref: TOWN_REF,
      mode: 'town',
      root: town,
      runtimeDir: path.join(town, '.runtime'),
      ...rigOf(town, cwd),
    };
  }
  const repo = findRepo(cwd);
  if (!repo) {
    throw new GtError(`not a git repository (${cwd}): run \`git init\` first, then \`bd init\``);
  }
  return {
    repo,
    ref: REPO_REF,
    mode: 'repo',
    root: repo.workTree,
    runtimeDir: path.join(repo.commonDir, 'gt', 'runtime'),
  };
}

/**
 * The rig `cwd` is in (its first folder under the town root, when registered in
 * mayor/rigs.json), so beads created there get the rig's prefix, as in the original.
 */
function rigOf(town: string, cwd: string): { rig?: string; rigPrefix?: string } {
  const rel = path.relative(town, path.resolve(cwd));
  if (!rel || rel.startsWith('..') || path.isAbsolute(rel)) return {};
  const first = rel.split(path.sep)[0];
  try {
    const rigs = JSON.parse(fs.readFileSync(path.join(town, 'mayor', 'rigs.json'), 'utf8')).rigs ?? {};
    const prefix = rigs[first]?.beads?.prefix;
    return typeof prefix === 'string' && prefix ? { rig: first, rigPrefix: prefix } : {};
  } catch {
    return {};
  }
}

export function findTownRoot(start: string): string | null {
  let dir = path.resolve(start);
  for (;;) {
    if (fs.existsSync(path.join(dir, 'mayor', 'town.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

export interface StoreOptions {
  actor?: string;
}

/** git's user.name and user.email, read with one spawn (writes need both: actor and author). */
const userConfig = new Map<string, { name?: string; email?: string }>();
function gitUser(cwd: string): { name?: string; email?: string } {
  let hit = userConfig.get(cwd);
  if (!hit) {
    const r = spawnSync('git', ['config', '--get-regexp', '^user\\.(name|email)$'], {
      cwd,
      encoding: 'utf8',
    });
    hit = {};
    for (const line of r.status === 0 ? r.stdout.split('\n') : []) {
      const sp = line.indexOf(' ');
      if (sp < 0) continue;
      const key = line.slice(0, sp);
      const value = line.slice(sp + 1).trim();
      if (key === 'user.name' && value) hit.name = value;
      if (key === 'user.email' && value) hit.email = value;
    }
    userConfig.set(cwd, hit);
  }
  return hit;
}

export function nowIso(): string {
  return new Date().toISOString();
}

export class BeadStore {
  readonly ledger: Ledger;
  readonly wisps: WispStore;
  private actorName: string | undefined;
  private memo: { commit: string | null; wispGen: number; graph: Graph; blocked: Set<string> } | null = null;
  private wispGen = 0;

  constructor(
    readonly loc: StoreLocation,
    readonly opts: StoreOptions = {},
  ) {
    this.ledger = new Ledger(loc.repo, loc.ref, {
      summarize: (p, d) => (isBeadPath(p) ? summarize(d) : p === CONFIG_PATH ? d : null),
      schema: SUMMARY_SCHEMA,
    });
    this.wisps = new WispStore(path.join(loc.runtimeDir, 'wisps'));
    this.actorName = opts.actor;
  }

  /** Open the store at `cwd`, requiring an initialised ledger. */
  static open(cwd: string, opts: StoreOptions = {}): BeadStore {
    const store = new BeadStore(locate(cwd), opts);
    if (!store.ledger.exists()) {
      const how = store.loc.mode === 'town' ? '`gt install`' : '`bd init`';
      throw new GtError(
        `no beads ledger in ${store.loc.root} (${store.loc.ref} is missing): run ${how} first`,
      );
    }
    return store;
  }

  // ---- identity -------------------------------------------------------------------------

  /** Who does a write: --actor, BEADS_ACTOR, BD_ACTOR, git user.name, $USER (spec §1.1). */
  actor(): string {
    if (!this.actorName) {
      this.actorName =
        process.env.BEADS_ACTOR ||
        process.env.BD_ACTOR ||
        gitUser(this.loc.root).name ||
        process.env.USER ||
        os.userInfo().username ||
        'unknown';
    }
    return this.actorName;
  }

  private emailMemo: string | undefined;
  /** Git author email: GIT_AUTHOR_EMAIL, git user.email, else derived from the actor. */
  email(): string {
    if (!this.emailMemo) {
      this.emailMemo =
        process.env.GIT_AUTHOR_EMAIL ||
        gitUser(this.loc.root).email ||
        `${this.actor().replace(/[^A-Za-z0-9._-]+/g, '.')}@localhost`;
    }
    return this.emailMemo;
  }

  // ---- config -----------------------------------------------------------------------------

  /** Flat key → value settings (spec §1.5 config); kept whole in the index, so no blob read. */
  config(): Record<string, string> {
    return (this.ledger.snapshot().files[CONFIG_PATH]?.s as Record<string, string>) ?? {};
  }

  /** Prefix of new ids: the rig's inside a rig of a town (BD_PREFIX overrides), else the ledger's. */
  prefix(): string {
    return process.env.BD_PREFIX || this.loc.rigPrefix || this.config().issue_prefix || 'bd';
  }

  typeConfig(): TypeConfig {
    const c = this.config();
    return { customTypes: listSetting(c['types.custom']), customStatuses: listSetting(c['status.custom']) };
  }

  // ---- reads ------------------------------------------------------------------------------

  /** Summaries of every bead: committed ones and wisps. */
  summaries(): BeadSummary[] {
    const out: BeadSummary[] = [];
    for (const [p, e] of Object.entries(this.ledger.snapshot().files))
      if (e.s && isBeadPath(p)) out.push(e.s);
    for (const w of this.wisps.all().values()) out.push(summarize(w));
    return out;
  }

  graph(): Graph {
    return this.analysis().graph;
  }

  blocked(): Set<string> {
    return this.analysis().blocked;
  }

  private analysis() {
    const commit = this.ledger.snapshot().commit;
    if (!this.memo || this.memo.commit !== commit || this.memo.wispGen !== this.wispGen) {
      const graph = buildGraph(this.summaries());
      this.memo = { commit, wispGen: this.wispGen, graph, blocked: computeBlocked(graph) };
    }
    return this.memo;
  }

  summary(id: string): BeadSummary | undefined {
    const e = this.ledger.snapshot().files[beadPath(id)];
    if (e?.s) return e.s;
    const w = this.wisps.get(id);
    return w ? summarize(w) : undefined;
  }

  get(id: string): Bead | undefined {
    validateId(id);
    return (this.ledger.read(beadPath(id)) as Bead | undefined) ?? this.wisps.get(id);
  }

  /** Full records for several ids, in one batch read. */
  getMany(ids: string[]): Bead[] {
    const paths = ids.map(beadPath);
    const found = this.ledger.readMany(paths);
    return ids
      .map((id, i) => (found.get(paths[i]) as Bead | undefined) ?? this.wisps.get(id)!)
      .filter(Boolean);
  }

  /**
   * Full records by their views version key (blob oid, or `wisp:` for wisps) without loading
   * the index; null when one cannot be read (the caller falls back to the full path).
   */
  beadsByKey(pairs: [string, string][]): Bead[] | null {
    const out: Bead[] = [];
    for (const [id, key] of pairs) {
      const b = key.startsWith('wisp:')
        ? this.wisps.get(id)
        : (this.ledger.readBlobRecord(key) as Bead | undefined);
      if (!b || b.id !== id) return null;
      out.push(b);
    }
    return out;
  }

  /** Every full record (export, search). */
  allBeads(includeWisps = true): Bead[] {
    const paths = Object.keys(this.ledger.snapshot().files).filter(isBeadPath);
    const out = [...this.ledger.readMany(paths).values()] as Bead[];
    if (includeWisps) out.push(...this.wisps.all().values());
    return out;
  }

  /**
   * Resolve user input to an id (spec §2.1): exact, then `<prefix>-<input>`, then a unique
   * match on the hash part. Unknown ids suggest near matches; ambiguous input lists them.
   */
  resolve(input: string): string {
    const raw = input.trim();
    if (!raw || /[/\\\0\s]/.test(raw) || raw.includes('..')) {
      throw new GtError(`invalid id ${JSON.stringify(input)}: ids contain no spaces, slashes or '..'`);
    }
    if (this.summary(raw)) return raw;
    const withPrefix = `${this.prefix()}-${raw}`;
    if (!raw.includes('-') && this.summary(withPrefix)) return withPrefix;
    const needle = raw.toLowerCase();
    const all = this.summaries().map((s) => s.id);
    const matches = all.filter((id) => {
      const hash = id.slice(extractPrefix(id).length + 1);
      return hash.toLowerCase().includes(needle) || id.toLowerCase().startsWith(needle);
    });
    if (matches.length === 1) return matches[0];
    if (matches.length > 1) {
      throw new GtError(
        `ambiguous id "${input}" matches ${matches.length} beads: ${matches.slice(0, 10).join(', ')}${matches.length > 10 ? ', ...' : ''}; give more characters`,
      );
    }
    const near = nearMatches(raw, all);
    throw new NotFoundError(
      `no bead with id "${input}"${near.length ? `; did you mean ${near.join(', ')}?` : ''} (\`bd list\` shows all)`,
    );
  }

  // ---- writes -----------------------------------------------------------------------------

  /** Run `fn` as one ledger commit (plus wisp file writes, applied after the commit lands). */
  transact<T>(subject: string, fn: (tx: BeadTx) => T): T {
    let wispTx: BeadTx | null = null;
    const { result } = this.ledger.transact({ name: this.actor(), email: this.email() }, subject, (ltx) => {
      wispTx = new BeadTx(this, ltx);
      return fn(wispTx);
    });
    const tx = wispTx as BeadTx | null;
    if (tx && tx.wispChanges.size > 0) {
      for (const [id, b] of tx.wispChanges) {
        if (b) this.wisps.put(b);
        else this.wisps.delete(id);
      }
      this.wispGen++;
      this.wisps.invalidate();
    }
    return result;
  }

  get viewsFile(): string {
    return viewsPath(this.loc.repo.commonDir, this.loc.ref);
  }

  /** Precomputed read views, when they reflect exactly the current ledger tip and wisps. */
  freshViews(): Views | null {
    return loadFreshViews(this.viewsFile, {
      ref: this.loc.ref,
      commit: this.ledger.tip(),
      wispStamp: wispStamp(this.wisps.dir),
    });
  }

  /** Summary rows of some beads through the views (null: fall back to the full index). */
  viewRows(views: Views, ids: string[]): Map<string, BeadSummary> | null {
    return readRows(this.viewsFile, views, ids);
  }

  /** Recompute the views when this process holds the index and the views on disk are stale. */
  private saveViewsIfStale(): void {
    const index = this.ledger.loadedIndex;
    if (!index || index.commit !== this.ledger.tip()) return;
    const { graph, blocked } = this.analysis();
    const stamp = this.wisps.stamp;
    if (loadFreshViews(this.viewsFile, { ref: this.loc.ref, commit: index.commit, wispStamp: stamp })) return;
    saveViews(this.viewsFile, {
      ref: this.loc.ref,
      commit: index.commit,
      wispStamp: stamp,
      graph,
      blocked,
      keyOf: (id) => index.files[beadPath(id)]?.oid ?? `wisp:${this.wisps.get(id)?.updated_at ?? ''}`,
    });
  }

  flush(): void {
    this.ledger.flush();
    try {
      this.saveViewsIfStale();
    } catch {
      // Views are disposable: the next read takes the full path and saves them.
    }
  }
}

function listSetting(v: string | undefined): string[] {
  if (!v) return [];
  const t = v.trim();
  if (t.startsWith('[')) {
    try {
      return (JSON.parse(t) as string[]).map((s) => String(s).trim()).filter(Boolean);
    } catch {
      // fall through to the comma list
    }
  }
  return t
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Ids within a small edit distance, or sharing a long prefix, for "did you mean". */
export function nearMatches(input: string, ids: string[], max = 3): string[] {
  const scored: [number, string][] = [];
  for (const id of ids) {
    const d = editDistance(input.toLowerCase(), id.toLowerCase());
    if (d <= Math.max(2, Math.floor(input.length / 3))) scored.push([d, id]);
  }
  return scored
    .sort((a, b) => a[0] - b[0] || (a[1] < b[1] ? -1 : 1))
    .slice(0, max)
    .map((s) => s[1]);
}

/** A transaction over beads: reads see its own writes; ephemeral beads go to the wisp store. */
export class BeadTx {
  readonly wispChanges = new Map<string, Bead | null>();
  readonly now = nowIso();

  constructor(
    readonly store: BeadStore,
    readonly ltx: Transaction,
  ) {}

  get actor(): string {
    return this.store.actor();
  }

  get(id: string): Bead | undefined {
    const changed = this.wispChanges.get(id);
    if (changed) return structuredClone(changed);
    const b = this.ltx.get(beadPath(id)) as Bead | undefined;
    if (b) return structuredClone(b);
    // A wisp removed in this transaction (deleted, or moved into the ledger above) is gone.
    if (this.wispChanges.has(id)) return undefined;
    const w = this.store.wisps.get(id);
    return w ? structuredClone(w) : undefined;
  }

  /** Like get, but a missing bead is an error naming it. */
  must(id: string): Bead {
    const b = this.get(id);
    if (!b) throw new NotFoundError(`no bead with id "${id}"`);
    return b;
  }

  exists(id: string): boolean {
    if (this.wispChanges.get(id) || this.ltx.has(beadPath(id))) return true;
    return !this.wispChanges.has(id) && !!this.store.wisps.get(id);
  }

  put(bead: Bead): void {
    validateId(bead.id);
    validateBead(bead, this.store.typeConfig());
    const rec = canonical(bead);
    if (bead.ephemeral) {
      this.wispChanges.set(bead.id, rec);
      if (this.ltx.has(beadPath(bead.id))) this.ltx.delete(beadPath(bead.id));
    } else {
      this.ltx.put(beadPath(bead.id), rec);
      if (this.store.wisps.get(bead.id)) this.wispChanges.set(bead.id, null);
    }
  }

  delete(id: string): void {
    if (this.ltx.has(beadPath(id))) this.ltx.delete(beadPath(id));
    if (this.store.wisps.get(id) || this.wispChanges.get(id)) this.wispChanges.set(id, null);
  }

  note(line: string): void {
    this.ltx.note(line);
  }

  /** Summaries as they stand inside the transaction (for cycle checks). */
  summaries(): BeadSummary[] {
    const out: BeadSummary[] = [];
    for (const p of this.ltx.paths(`${BEADS_DIR}/`)) {
      const s = this.ltx.summary(p);
      if (s) out.push(s);
    }
    const wisps = new Map(this.store.wisps.all());
    for (const [id, b] of this.wispChanges) {
      if (b) wisps.set(id, b);
      else wisps.delete(id);
    }
    for (const w of wisps.values()) out.push(summarize(w));
    return out;
  }

  /** A fresh hash id with the adaptive length of spec §2.1; `infix` gives `<prefix>-mol-...` ids. */
  newId(input: { title: string; description?: string; infix?: string; prefix?: string }): string {
    return this.idAllocator(input)(input.title, input.description);
  }

  /**
   * An allocator for many ids under one prefix: the existing ids are counted once, and the
   * adaptive length grows with what it hands out (a 30,000-step pour stays linear).
   */
  idAllocator(
    opts: { infix?: string; prefix?: string } = {},
  ): (title: string, description?: string) => string {
    const base = opts.prefix ?? this.store.prefix();
    const prefix = opts.infix ? `${base}-${opts.infix}` : base;
    const cfg = this.store.config();
    const head = `${prefix}-`;
    let n = 0;
    for (const p of this.ltx.paths(`${BEADS_DIR}/`)) {
      const id = p.slice(p.lastIndexOf('/') + 1, -5);
      if (id.startsWith(head) && isTopLevel(id) && !id.slice(head.length).includes('-')) n++;
    }
    for (const id of this.store.wisps.all().keys()) {
      if (id.startsWith(head) && isTopLevel(id) && !id.slice(head.length).includes('-')) n++;
    }
    const min = Number(cfg.min_hash_length) || 3;
    const max = Math.min(Number(cfg.max_hash_length) || 8, 8);
    const prob = Number(cfg.max_collision_prob) || 0.25;
    const handed = new Set<string>();
    return (title, description = '') => {
      const id = generateUniqueId(
        { prefix, title, description, creator: this.actor, createdAt: new Date(this.now) },
        adaptiveLength(n, min, max, prob),
        (cand) => handed.has(cand) || this.exists(cand),
      );
      handed.add(id);
      n++;
      return id;
    };
  }

  /** Next child id `P.N` (spec §2.2), bumping the parent's counter. */
  nextChildId(parent: Bead): string {
    let max = parent.child_counter ?? 0;
    for (const s of this.summaries()) {
      const h = parseHierarchicalId(s.id);
      if (h && h.parent === parent.id) max = Math.max(max, h.n);
    }
    parent.child_counter = max + 1;
    return `${parent.id}.${max + 1}`;
  }
}
