// How a bead sits in the ledger: its path, its on-disk shape (fixed key order, empty fields
// left out) and the summary the index keeps for list/ready. Pure logic.
import { shardOf } from './ids.ts';
import { type Bead, FIELD_ORDER } from './types.ts';

export const BEADS_DIR = 'beads';
export const CONFIG_PATH = 'config.yaml';
/** Bumped whenever the summary shape changes, so caches built by older code are rebuilt. */
export const SUMMARY_SCHEMA = 'bead-summary-1';

export function beadPath(id: string): string {
  return `${BEADS_DIR}/${shardOf(id)}/${id}.yaml`;
}

export function isBeadPath(p: string): boolean {
  return p.startsWith(`${BEADS_DIR}/`) && p.endsWith('.yaml');
}

function isEmpty(v: unknown): boolean {
  if (v === undefined || v === null || v === '') return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.keys(v as object).length === 0;
  return false;
}

/** Keys every record carries even when empty/zero. */
const ALWAYS = new Set(['id', 'title', 'status', 'priority', 'issue_type', 'created_at', 'updated_at']);

/** The bead in canonical key order with empty fields dropped (what is stored and exported). */
export function canonical(b: Bead): Bead {
  const out: Record<string, unknown> = {};
  for (const k of FIELD_ORDER) {
    const v = (b as any)[k];
    if (ALWAYS.has(k) || (!isEmpty(v) && v !== false && !(k === 'compaction_level' && v === 0))) out[k] = v;
  }
  // Unknown keys (from newer writers or imports) are kept, after the known ones.
  for (const [k, v] of Object.entries(b)) {
    if (!(k in out) && !FIELD_ORDER.includes(k as keyof Bead) && !isEmpty(v)) out[k] = v;
  }
  return out as unknown as Bead;
}

/** What the index keeps per bead: everything except long text, plus precomputed sort keys. */
export interface BeadSummary
  extends Omit<Bead, 'description' | 'design' | 'acceptance_criteria' | 'notes' | 'comments'> {
  comment_count: number;
  /** created_at in ms, for sorting without reparsing dates. */
  ct: number;
}

const LONG_FIELDS = new Set(['description', 'design', 'acceptance_criteria', 'notes', 'comments']);

export function summarize(b: Bead): BeadSummary {
  const s: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(b)) if (!LONG_FIELDS.has(k)) s[k] = v;
  s.comment_count = b.comments?.length ?? 0;
  s.ct = Date.parse(b.created_at) || 0;
  return s as unknown as BeadSummary;
}

/** The first parent-child target: the bead's parent. */
export function parentOf(b: {
  dependencies?: { type: string; depends_on_id: string }[];
}): string | undefined {
  return b.dependencies?.find((d) => d.type === 'parent-child')?.depends_on_id;
}
