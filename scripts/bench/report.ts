// Result shapes shared by the sections, and their rendering as markdown for BENCHMARKS.md.
import { fmtKb, fmtMs, fmtRatio, type Stats, table } from './lib.ts';

export interface Row {
  name: string;
  /** Stable key, used to explain a missed target under "Known gaps". */
  key?: string;
  /** Repeated samples (median and p90 shown), or a single duration in `ms`. */
  stats?: Stats;
  ms?: number;
  /** Ratio to the section's baseline (computed from the median, or `ms`). */
  ratio?: number | null;
  rssKb?: number | null;
  /** Human-readable goal, e.g. "≤ 1.5× node". */
  target?: string;
  met?: boolean | null;
  /** The target as a duration in ms (for ratio targets: ratio × this run's baseline). */
  limit?: number;
  /** Reference figure (e.g. the original Go bd's published number). */
  reference?: string;
  note?: string;
}

export interface Section {
  title: string;
  intro?: string;
  baseline: { name: string; stats: Stats; rssKb?: number | null };
  rows: Row[];
  /** Extra columns the section wants (reference figures). */
  showReference?: boolean;
  notes?: string[];
  /** Raw tables appended after the main one (e.g. the concurrency check). */
  extra?: string;
}

export function central(r: Row): number | null {
  return r.stats ? r.stats.median : (r.ms ?? null);
}

export function verdict(met: boolean | null | undefined): string {
  return met === true ? 'met' : met === false ? '**missed**' : '—';
}

export function renderSection(s: Section): string {
  const head = ['Measurement', 'n', 'median', 'p90', `ratio to baseline`, 'peak RSS', 'target', 'result'];
  if (s.showReference) head.push('Go bd (M2 Pro)');
  head.push('notes');
  const rows: string[][] = [];
  const b = s.baseline;
  const baseRow = [
    `baseline: ${b.name}`,
    String(b.stats.n),
    fmtMs(b.stats.median),
    fmtMs(b.stats.p90),
    '1.00×',
    fmtKb(b.rssKb),
    '',
    '',
  ];
  if (s.showReference) baseRow.push('');
  baseRow.push('');
  rows.push(baseRow);
  for (const r of s.rows) {
    const cells = [
      r.name,
      r.stats ? String(r.stats.n) : r.ms != null ? '1' : '0',
      r.stats ? fmtMs(r.stats.median) : fmtMs(r.ms),
      r.stats ? fmtMs(r.stats.p90) : '',
      fmtRatio(r.ratio),
      fmtKb(r.rssKb),
      r.target ?? '',
      r.target ? verdict(r.met) : '',
    ];
    if (s.showReference) cells.push(r.reference ?? '');
    cells.push(r.note ?? '');
    rows.push(cells);
  }
  const parts = [`## ${s.title}`, ''];
  if (s.intro) parts.push(s.intro, '');
  parts.push(table(head, rows), '');
  if (s.extra) parts.push(s.extra, '');
  for (const n of s.notes ?? []) parts.push(`- ${n}`);
  if (s.notes?.length) parts.push('');
  return parts.join('\n');
}

/** One line per row for the console. */
export function consoleSection(s: Section): string {
  const lines = [`== ${s.title}`, `  baseline ${s.baseline.name}: median ${fmtMs(s.baseline.stats.median)}`];
  for (const r of s.rows) {
    const t = r.target
      ? `  target ${r.target}: ${r.met === true ? 'met' : r.met === false ? 'MISSED' : '-'}`
      : '';
    const ref = r.reference ? `  (Go bd: ${r.reference})` : '';
    lines.push(
      `  ${r.name}: ${r.stats ? `median ${fmtMs(r.stats.median)} p90 ${fmtMs(r.stats.p90)}` : fmtMs(r.ms)}  ${fmtRatio(r.ratio)}  rss ${fmtKb(r.rssKb)}${t}${ref}${r.note ? `  [${r.note}]` : ''}`,
    );
  }
  return lines.join('\n');
}
