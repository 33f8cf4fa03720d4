// Helpers shared by the bd command modules: opening the store, flag value parsing, and the
// JSON/text shapes of beads.

import { type BeadSummary, canonical, parentOf } from '../../beads/record.ts';
import { BeadStore } from '../../beads/store.ts';
import { type Bead, parsePriority } from '../../beads/types.ts';
import type { Views } from '../../beads/views.ts';
import { UsageError } from '../../errors.ts';
import { loadCodec } from '../../ledger/codec.ts';
import type { ColorFns, Ctx } from '../framework.ts';

export function openStore(ctx: Ctx): BeadStore {
  return BeadStore.open(ctx.cwd, { actor: ctx.actor });
}

/**
 * Run `fn` with the store and persist the index cache afterwards, whatever happens.
 * `light` commands read only index summaries, so when the index is fresh the YAML codec is
 * never loaded (start-up is a feature).
 */
export async function withStore<T>(
  ctx: Ctx,
  fn: (store: BeadStore) => T,
  opts: { light?: boolean } = {},
): Promise<T> {
  const store = openStore(ctx);
  try {
    if (!opts.light || !store.ledger.indexIsFresh()) await loadCodec();
    return fn(store);
  } finally {
    store.flush();
  }
}

/**
 * A read that precomputed views may answer: `fast` runs when the views are fresh and returns
 * null to decline (a filter they do not cover, a missing row); otherwise `slow` runs on the full
 * index as withStore would.
 */
export async function withViews<T>(
  ctx: Ctx,
  fast: ((store: BeadStore, views: Views) => T | null | Promise<T | null>) | null,
  slow: (store: BeadStore) => T,
  opts: { light?: boolean } = { light: true },
): Promise<T> {
  const store = openStore(ctx);
  if (fast) {
    const views = store.freshViews();
    if (views) {
      const out = await fast(store, views);
      if (out !== null) return out;
    }
  }
  try {
    if (!opts.light || !store.ledger.indexIsFresh()) await loadCodec();
    return slow(store);
  } finally {
    store.flush();
  }
}

/** Split repeatable, comma-separated flag values: `-l a,b -l c` → [a, b, c]. */
export function listFlag(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  const arr = Array.isArray(v) ? v : [v];
  return arr
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
}

export function priorityFlag(v: string | undefined): number | undefined {
  return v === undefined ? undefined : parsePriority(v);
}

export function intFlag(name: string, v: string | undefined, min = 0): number | undefined {
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v) || Number(v) < min)
    throw new UsageError(`--${name} needs a whole number ≥ ${min}, got "${v}"`);
  return Number(v);
}

/**
 * A date/time flag: ISO 8601 (`2026-12-01`, `2026-12-01T09:00:00Z`) or relative
 * (`+3d`, `+12h`, `+30m`, `+2w`, `tomorrow`). Returns ISO, or null for "" / "none" (clear).
 */
export function whenFlag(name: string, v: string | undefined, now = Date.now()): string | null | undefined {
  if (v === undefined) return undefined;
  const s = v.trim().toLowerCase();
  if (s === '' || s === 'none' || s === 'clear') return null;
  const rel = /^\+?(\d+)\s*(m|min|h|d|w)$/.exec(s);
  if (rel) {
    const unit = { m: 60e3, min: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 }[rel[2]]!;
    return new Date(now + Number(rel[1]) * unit).toISOString();
  }
  if (s === 'tomorrow') return new Date(now + 86400e3).toISOString();
  const t = Date.parse(v);
  if (Number.isNaN(t)) {
    throw new UsageError(
      `--${name}: cannot read "${v}" as a date; use 2026-12-01, 2026-12-01T09:00:00Z or +3d`,
    );
  }
  return new Date(t).toISOString();
}

export function jsonObjectFlag(name: string, v: string | undefined): Record<string, unknown> | undefined {
  if (v === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(v);
  } catch (e: any) {
    throw new UsageError(`--${name} must be a JSON object: ${e.message}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new UsageError(`--${name} must be a JSON object, e.g. '{"team":"core"}'`);
  }
  return parsed as Record<string, unknown>;
}

/** List/ready JSON shape (IssueWithCounts): the summary plus counts and parent. */
export function withCounts(s: BeadSummary, dependentCount: number): Record<string, unknown> {
  const { ct: _ct, child_counter: _cc, comment_count, ...rest } = s as any;
  return {
    ...rest,
    dependency_count: s.dependencies?.length ?? 0,
    dependent_count: dependentCount,
    comment_count,
    ...(parentOf(s) ? { parent: parentOf(s) } : {}),
  };
}

/** A full bead for JSON output (internal fields removed). */
export function publicBead(b: Bead): Record<string, unknown> {
  const { child_counter: _cc, ...rest } = canonical(b) as any;
  return rest;
}

const STATUS_ICON: Record<string, string> = {
  open: '○',
  in_progress: '◐',
  blocked: '●',
  deferred: '❄',
  closed: '✓',
  pinned: '📌',
  hooked: '⚓',
};

export function statusIcon(status: string): string {
  return STATUS_ICON[status] ?? '?';
}

export function beadLine(s: BeadSummary | Bead, c: ColorFns, blocked = false): string {
  const pri = `P${s.priority}`;
  const priColored = s.priority <= 1 ? c.red(pri) : s.priority === 2 ? c.yellow(pri) : c.dim(pri);
  const status = blocked && s.status === 'open' ? 'blocked' : s.status;
  const who = s.assignee ? c.dim(` @${s.assignee}`) : '';
  const labels = s.labels?.length ? c.dim(` [${s.labels.join(', ')}]`) : '';
  return `${statusIcon(status)} ${c.cyan(s.id)} ${priColored} ${c.dim(`[${s.issue_type}]`)} ${status === 'open' ? '' : `${status} `}${s.title}${who}${labels}`;
}

/** withStore for commands that only read summaries (unless `light` is false). */
export function withStoreLight<T>(ctx: Ctx, fn: (store: BeadStore) => T, light = true): Promise<T> {
  return withStore(ctx, fn, { light });
}
