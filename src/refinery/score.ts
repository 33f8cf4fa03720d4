// Merge-queue ordering (spec §2.11): a pure score, higher first.
//   score = 1000 + 10·convoy_age_h + 100·(4 − priority) − min(50·retry_count, 300) + 1·mr_age_h
// Old convoys and urgent work go first; an MR that keeps failing sinks, but only so far (the
// penalty is capped), so it is never starved for good.

export interface ScoreInput {
  /** Bead priority 0 (critical) .. 4 (backlog). */
  priority: number;
  retryCount: number;
  /** When the MR was filed (ms since the epoch). */
  mrCreatedMs: number;
  /** When the oldest open convoy tracking the source issue was created, if any. */
  convoyCreatedMs?: number | null;
}

const HOUR = 3600e3;

export function mrScore(i: ScoreInput, now: number): number {
  const hours = (t: number) => Math.max(0, (now - t) / HOUR);
  const convoyAge = i.convoyCreatedMs ? hours(i.convoyCreatedMs) : 0;
  const priority = Math.min(4, Math.max(0, Number.isFinite(i.priority) ? i.priority : 2));
  const retries = Math.max(0, i.retryCount || 0);
  return 1000 + 10 * convoyAge + 100 * (4 - priority) - Math.min(50 * retries, 300) + hours(i.mrCreatedMs);
}

/** Highest score first; ties: older MR first, then id (deterministic). */
export function byScore<T extends { id: string; score: number; mrCreatedMs: number }>(a: T, b: T): number {
  return b.score - a.score || a.mrCreatedMs - b.mrCreatedMs || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
