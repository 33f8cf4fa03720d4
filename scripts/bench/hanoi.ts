// Section: the Towers of Hanoi durability workload (issue 3). hanoi-10 (1,025 steps) created as
// a wisp and as a poured molecule; all its steps closed (a) in one `bd close` with every id and
// (b) one `bd close` process per step, in order, as the original documents (~2 minutes);
// hanoi-15 (32,767 moves) poured, with its time and peak memory. Ratios are against
// `node -e 0` measured in the same run (× 1,025 for the per-step runs).
import fs from 'node:fs';
import path from 'node:path';
// @ts-expect-error: a plain .mjs script of this repository, no type declarations.
import { hanoiFormula } from '../gen-hanoi.mjs';
import { BD, benchEnv, fmtMs, gitSync, log, QUICK, type Stats, stats, TIME_BIN, timeSpawn } from './lib.ts';
import type { Row, Section } from './report.ts';

interface Timed {
  ms: number;
  rssKb: number | null;
  stdout: string;
}

/** One run timed from outside, with its peak RSS from GNU time when available. */
function timed(args: string[], cwd: string, env: NodeJS.ProcessEnv): Timed {
  const marker = 'BENCH_MAXRSS_KB=';
  const cmd = TIME_BIN ?? process.execPath;
  const argv = TIME_BIN ? ['-f', `${marker}%M`, process.execPath, BD, ...args] : [BD, ...args];
  const r = timeSpawn(cmd, argv, { cwd, env });
  if (r.code !== 0)
    throw new Error(`bd ${args.slice(0, 3).join(' ')} failed (${r.code}): ${r.stderr.slice(-400)}`);
  const line = r.stderr.split('\n').find((l) => l.startsWith(marker));
  return { ms: r.ms, rssKb: line ? Number(line.slice(marker.length)) : null, stdout: r.stdout };
}

function freshRepo(base: string, name: string): { dir: string; env: NodeJS.ProcessEnv } {
  const root = path.join(base, name);
  const dir = path.join(root, 'repo');
  fs.mkdirSync(path.join(root, 'home'), { recursive: true });
  fs.mkdirSync(dir, { recursive: true });
  const env = benchEnv(path.join(root, 'home'));
  gitSync(dir, ['init', '-q', '-b', 'main'], env);
  gitSync(dir, ['config', 'gc.auto', '0'], env);
  timed(['init', '--prefix', 'hn'], dir, env);
  return { dir, env };
}

function stepIds(dir: string, env: NodeJS.ProcessEnv, root: string): string[] {
  const r = timed(['mol', 'progress', root, '--json'], dir, env);
  return JSON.parse(r.stdout).steps.map((s: { id: string }) => s.id);
}

export function hanoiSection(base: string): Section {
  const hb = path.join(base, 'hanoi');
  fs.mkdirSync(hb, { recursive: true });
  log('hanoi: baseline node -e 0');
  const baseline: Stats = stats(
    Array.from(
      { length: 15 },
      () => timeSpawn(process.execPath, ['-e', '0'], { cwd: hb, env: process.env }).ms,
    ),
  );
  const perStep = baseline.median * 1025;
  const rows: Row[] = [];

  log('hanoi: hanoi-10 as a wisp and as a molecule');
  const w = freshRepo(hb, 'wisp');
  const wisp = timed(['mol', 'wisp', 'towers-of-hanoi-10', '--json'], w.dir, w.env);
  rows.push({
    name: 'hanoi-10: bd mol wisp (1,026 beads, operational plane)',
    ms: wisp.ms,
    ratio: wisp.ms / baseline.median,
    rssKb: wisp.rssKb,
  });
  const p = freshRepo(hb, 'pour');
  const pour = timed(['mol', 'pour', 'towers-of-hanoi-10', '--json'], p.dir, p.env);
  rows.push({
    name: 'hanoi-10: bd mol pour (1,026 beads, one commit)',
    ms: pour.ms,
    ratio: pour.ms / baseline.median,
    rssKb: pour.rssKb,
  });

  log('hanoi: closing all 1,025 steps in one bd close');
  for (const [kind, repo, out] of [
    ['wisp', w, wisp],
    ['molecule', p, pour],
  ] as const) {
    const root = JSON.parse(out.stdout).new_epic_id as string;
    const ids = stepIds(repo.dir, repo.env, root);
    const r = timed(['close', ...ids], repo.dir, repo.env);
    const done = JSON.parse(timed(['mol', 'current', root, '--json'], repo.dir, repo.env).stdout);
    rows.push({
      name: `hanoi-10 ${kind}: close all 1,025 steps in one bd close`,
      ms: r.ms,
      ratio: r.ms / perStep,
      rssKb: r.rssKb,
      note: `ratio to node -e 0 × 1,025; progress afterwards ${done.completed}/${done.total}`,
    });
  }

  const serial = QUICK ? 100 : 1025;
  log(`hanoi: closing ${serial} steps, one bd close process each`);
  const s = freshRepo(hb, 'serial');
  const sroot = JSON.parse(
    timed(['mol', 'pour', 'towers-of-hanoi-10', '--json'], s.dir, s.env).stdout,
  ).new_epic_id;
  const sids = stepIds(s.dir, s.env, sroot);
  const each: number[] = [];
  let rss = 0;
  for (const id of sids.slice(0, serial)) {
    const r = timed(['close', id], s.dir, s.env);
    each.push(r.ms);
    rss = Math.max(rss, r.rssKb ?? 0);
  }
  const total = each.reduce((a, b) => a + b, 0) * (1025 / serial);
  rows.push({
    name: 'hanoi-10 molecule: close every step, one bd close process each (in order)',
    ms: total,
    ratio: total / perStep,
    rssKb: rss || null,
    target: 'beat ~2 min',
    met: total < 120_000,
    reference: '~2 min (original, documented)',
    note: `per close median ${fmtMs(stats(each).median)}, p90 ${fmtMs(stats(each).p90)}${serial < 1025 ? `; ${serial} closes measured, total extrapolated (BENCH_QUICK)` : ''}; ratio to node -e 0 × 1,025`,
  });

  if (!QUICK) {
    log('hanoi: pouring hanoi-15 (32,767 moves)');
    const fdir = path.join(hb, 'formulas');
    fs.mkdirSync(fdir, { recursive: true });
    fs.writeFileSync(path.join(fdir, 'towers-of-hanoi-15.formula.toml'), hanoiFormula(15));
    const b = freshRepo(hb, 'big');
    const big = timed(['mol', 'pour', 'towers-of-hanoi-15', '--search-path', fdir, '--json'], b.dir, b.env);
    rows.push({
      name: 'hanoi-15: bd mol pour (32,770 beads, one commit)',
      ms: big.ms,
      ratio: big.ms / baseline.median,
      rssKb: big.rssKb,
      note: `created ${JSON.parse(big.stdout).created} beads`,
    });
  }

  return {
    title: 'Towers of Hanoi (formulas and molecules)',
    intro:
      'Each run spawns `node dist/bd.mjs` in a fresh repository (built-in `towers-of-hanoi-10`; hanoi-15 is ' +
      'generated by `scripts/gen-hanoi.mjs`). Single runs: the timing is the run itself; peak RSS from GNU time. ' +
      'Ratios for the close runs are against `node -e 0` × 1,025 (the cost of merely starting Node once per step).',
    baseline: { name: 'node -e 0', stats: baseline, rssKb: null },
    rows,
    showReference: true,
  };
}
