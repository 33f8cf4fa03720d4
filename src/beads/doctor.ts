// Bead-level health checks on top of the ledger's (src/ledger/doctor.ts): ids that do not match
// their path, beads failing validation, dangling dependencies, blocking cycles and unreadable
// wisp files. They read the index built fresh from the tip's tree, never the cache, so a
// tampered cache cannot hide a problem. Pure reporting: nothing is modified.
import fs from 'node:fs';
import path from 'node:path';
import type { Check, LedgerDoctorOptions } from '../ledger/doctor.ts';
import { doctorLedger } from '../ledger/doctor.ts';
import type { IndexData } from '../ledger/index-cache.ts';
import { buildGraph, findCycles } from './graph.ts';
import { validateId } from './ids.ts';
import { type BeadSummary, beadPath, CONFIG_PATH, isBeadPath } from './record.ts';
import type { BeadStore } from './store.ts';
import { type Bead, type TypeConfig, validateBead } from './types.ts';

const MAX_DETAILS = 50;

export interface DoctorReport {
  ok: boolean;
  ref: string;
  tip: string | null;
  checks: Check[];
  counts: { ok: number; warn: number; error: number };
}

function listSetting(v: string | undefined): string[] {
  if (!v) return [];
  const t = v.trim();
  if (t.startsWith('[')) {
    try {
      return (JSON.parse(t) as unknown[]).map((s) => String(s).trim()).filter(Boolean);
    } catch {
      // a comma list after all
    }
  }
  return t
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function typeConfigOf(fresh: IndexData): TypeConfig {
  const c = (fresh.files[CONFIG_PATH]?.s ?? {}) as Record<string, string>;
  return { customTypes: listSetting(c['types.custom']), customStatuses: listSetting(c['status.custom']) };
}

function msg(e: unknown): string {
  return String((e as any)?.message ?? e).split('\n')[0];
}

function summarizeCheck(
  name: string,
  status: 'warn' | 'error',
  found: string[],
  message: string,
  fix: string,
): Check {
  return { name, status, message, fix, details: found.slice(0, MAX_DETAILS) };
}

/** Committed bead summaries from a fresh index, with the path each came from. */
function beadsOf(fresh: IndexData): { path: string; s: BeadSummary }[] {
  const out: { path: string; s: BeadSummary }[] = [];
  for (const [p, e] of Object.entries(fresh.files)) if (isBeadPath(p) && e.s) out.push({ path: p, s: e.s });
  return out.sort((a, b) => (a.path < b.path ? -1 : 1));
}

export function checkBeadIds(beads: { path: string; s: BeadSummary }[]): Check {
  const bad: string[] = [];
  for (const { path: p, s } of beads) {
    const id = (s as any)?.id;
    if (typeof id !== 'string' || !id) {
      bad.push(`${p}: the record has no id`);
      continue;
    }
    let expected: string;
    try {
      validateId(id);
      expected = beadPath(id);
    } catch (e) {
      bad.push(`${p}: ${msg(e)}`);
      continue;
    }
    if (expected !== p) bad.push(`${p}: holds ${id}, whose path is ${expected}`);
  }
  if (bad.length === 0)
    return { name: 'bead-ids', status: 'ok', message: `${beads.length} beads sit at their id's path` };
  return summarizeCheck(
    'bead-ids',
    'error',
    bad,
    `${bad.length} record(s) do not match their path (commands look beads up by path, so these are unreachable)`,
    'move each record to the path of its id in a new ledger commit (or fix its id)',
  );
}

export function checkBeadValidation(beads: { path: string; s: BeadSummary }[], cfg: TypeConfig): Check {
  const bad: string[] = [];
  for (const { path: p, s } of beads) {
    try {
      validateBead(s as unknown as Bead, cfg);
    } catch (e) {
      bad.push(`${(s as any).id ?? p}: ${msg(e).replace(/^[^:]+: /, '')}`);
    }
  }
  if (bad.length === 0)
    return { name: 'bead-validation', status: 'ok', message: `${beads.length} beads are valid` };
  return summarizeCheck(
    'bead-validation',
    'error',
    bad,
    `${bad.length} bead(s) fail validation`,
    'correct the fields with `bd update` (or a new ledger commit)',
  );
}

export function checkDependencies(all: BeadSummary[], committed: Set<string>): Check {
  const ids = new Set(all.map((b) => b.id));
  const bad: string[] = [];
  let edges = 0;
  for (const b of all) {
    if (!committed.has(b.id)) continue;
    for (const d of b.dependencies ?? []) {
      edges++;
      const t = d.depends_on_id;
      if (typeof t !== 'string' || t.startsWith('external:') || ids.has(t)) continue;
      bad.push(`${b.id} → ${t} (${d.type}): no such bead`);
    }
  }
  if (bad.length === 0)
    return { name: 'dependencies', status: 'ok', message: `${edges} dependencies point at existing beads` };
  return summarizeCheck(
    'dependencies',
    'warn',
    bad,
    `${bad.length} dependenc${bad.length === 1 ? 'y points' : 'ies point'} at beads that do not exist (they never block)`,
    'remove them with `bd dep remove`, or recreate the missing beads',
  );
}

export function checkCycles(all: BeadSummary[]): Check {
  const cycles = findCycles(buildGraph(all));
  if (cycles.length === 0) return { name: 'cycles', status: 'ok', message: 'no blocking cycles' };
  return summarizeCheck(
    'cycles',
    'error',
    cycles.map((c) => [...c, c[0]].join(' → ')),
    `${cycles.length} blocking cycle(s): these beads can never become ready`,
    'remove one blocking dependency of each cycle with `bd dep remove`',
  );
}

/** Wisp files (operational plane) that are not readable JSON beads named after their id. */
export function checkWisps(dir: string): Check {
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    return { name: 'wisps', status: 'ok', message: 'no wisps' };
  }
  const bad: string[] = [];
  for (const n of names.sort()) {
    const file = path.join(dir, n);
    try {
      const b = JSON.parse(fs.readFileSync(file, 'utf8'));
      if (!b || typeof b !== 'object' || typeof b.id !== 'string') bad.push(`${file}: not a bead (no id)`);
      else if (`${b.id}.json` !== n) bad.push(`${file}: holds ${b.id}`);
    } catch (e) {
      bad.push(`${file}: ${msg(e)}`);
    }
  }
  if (bad.length === 0) return { name: 'wisps', status: 'ok', message: `${names.length} wisp file(s) parse` };
  return summarizeCheck(
    'wisps',
    'warn',
    bad,
    `${bad.length} wisp file(s) cannot be read; commands ignore them`,
    'remove or repair these files (wisps are ephemeral, never committed)',
  );
}

/** Every check: the ledger's, then the beads'. */
export function runDoctor(store: BeadStore, opts: LedgerDoctorOptions = {}): DoctorReport {
  const { checks, tip, fresh } = doctorLedger(store.ledger, opts);
  if (fresh) {
    const beads = beadsOf(fresh);
    const committed = new Set(beads.map((b) => b.s.id));
    const all = beads.map((b) => b.s);
    for (const w of store.wisps.all().values()) {
      if (!committed.has(w.id)) all.push({ ...w, comment_count: 0, ct: 0 } as unknown as BeadSummary);
    }
    checks.push(checkBeadIds(beads));
    checks.push(checkBeadValidation(beads, typeConfigOf(fresh)));
    checks.push(checkDependencies(all, committed));
    checks.push(checkCycles(all));
  }
  checks.push(checkWisps(store.wisps.dir));
  const counts = { ok: 0, warn: 0, error: 0 };
  for (const c of checks) counts[c.status]++;
  return { ok: counts.error === 0, ref: store.ledger.ref, tip, checks, counts };
}
