// `npm run bench`: the benchmark suite. Generates ledgers, measures the CLI end to end, the
// BeadStore API in process and concurrent writers, and writes BENCHMARKS.md at the repository
// root. Every section has a baseline measured in the same run; targets are printed next to the
// results as goals, never asserted. Exits non-zero only when a concurrent write was lost (or the
// bench itself failed).
//
//   BENCH_QUICK=1          skip the 100,000-bead part and use fewer repetitions
//   BENCH_ONLY=cli,inproc,conc,big,hanoi,loop   run only some sections (BENCHMARKS.md is then not written)
//   BENCH_KEEP=1           keep the temporary repositories
//   BENCH_OUT=FILE         write the report somewhere else than BENCHMARKS.md
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { cliReadyBig, cliSection } from './cli.ts';
import { type ConcurrencyResult, concurrencySection } from './concurrency.ts';
import { explainGaps } from './gaps.ts';
import { type GeneratedLedger, generateLedger } from './generate.ts';
import { hanoiSection } from './hanoi.ts';
import {
  benchEnv,
  fmtKb,
  fmtMs,
  loadAvg,
  log,
  machineInfo,
  QUICK,
  ROOT,
  type Stats,
  stats,
  table,
  tmpBase,
} from './lib.ts';
import { loopSection } from './loop.ts';
import { consoleSection, type Row, renderSection, type Section } from './report.ts';

const only = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',')) : null;
const want = (s: string) => !only || only.has(s);
const N = 10_000;
const BIG = 100_000;
const started = performance.now();
const info = machineInfo();
const base = tmpBase('gt-bench-');
const cleanup = () => {
  if (process.env.BENCH_KEEP !== '1') fs.rmSync(base, { recursive: true, force: true });
  else log(`kept ${base}`);
};

function dirSizeKb(dir: string): number {
  const r = spawnSync('du', ['-sk', dir], { encoding: 'utf8' });
  return Number(r.stdout.split('\t')[0]) || 0;
}

function copyLedger(g: GeneratedLedger, name: string): { dir: string; env: NodeJS.ProcessEnv } {
  const root = path.join(base, name);
  fs.cpSync(path.dirname(g.dir), root, { recursive: true });
  const home = path.join(root, 'home');
  return { dir: path.join(root, 'repo'), env: benchEnv(home) };
}

// ---- in-process ----------------------------------------------------------------------------

function inproc(name: string, dir: string, env: NodeJS.ProcessEnv, arg?: string): any {
  const script = path.join(ROOT, 'scripts', 'bench', 'inproc.ts');
  const r = spawnSync(process.execPath, ['--import', 'tsx', script, name, dir, ...(arg ? [arg] : [])], {
    cwd: ROOT,
    env,
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  if (r.status !== 0) throw new Error(`in-process case ${name} failed (exit ${r.status}):\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

const splitText = (s: Record<string, number[]>, keys: string[]) =>
  keys
    .filter((k) => s[k]?.length)
    .map((k) => `${k} ${fmtMs(stats(s[k]).median)}`)
    .join(', ');

function inprocSection(g: GeneratedLedger): { section: Section; details: Record<string, any> } {
  const { dir, env } = copyLedger(g, 'inproc');
  const details: Record<string, any> = {};
  log('in-process: baseline (git plumbing)');
  const b = inproc('baseline', dir, env);
  const baseline = stats(b.samples.revParse);
  const ratio = (ms: number) => ms / baseline.median;
  const rows: Row[] = [];
  const cat = stats(b.samples.catFile);
  rows.push({
    name: 'git cat-file -p <tip> (spawned)',
    stats: cat,
    ratio: ratio(cat.median),
    rssKb: b.maxRssKb,
  });

  log('in-process: ready, first call in fresh processes');
  const colds = Array.from({ length: 5 }, () => inproc('ready-cold', dir, env));
  const coldStats = stats(colds.map((c) => c.total));
  const coldSplits: Record<string, number[]> = {};
  for (const c of colds)
    for (const [k, v] of Object.entries(c.splits as Record<string, number[]>))
      (coldSplits[k] ??= []).push(...v);
  details.readyCold = coldSplits;
  rows.push({
    name: `ready ${g.n / 1000}k: first call in a fresh process (loads the index cache)`,
    key: 'inproc:ready-cold',
    stats: coldStats,
    ratio: ratio(coldStats.median),
    rssKb: Math.max(...colds.map((c) => c.maxRssKb)),
    target: '≤ 10 ms',
    met: coldStats.median <= 10,
    limit: 10,
    reference: '30 ms',
    note: `${colds[0].count} ready; ${splitText(coldSplits, ['load index', 'graph', 'blocked', 'ready+sort'])}`,
  });

  log('in-process: ready, warm');
  const w = inproc('ready-warm', dir, env);
  details.readyWarm = w.samples;
  const full = stats(w.samples.full);
  const memo = stats(w.samples.memo);
  rows.push({
    name: `ready ${g.n / 1000}k: warm, full recompute (graph + blocked + readyWork + sort)`,
    key: 'inproc:ready-warm',
    stats: full,
    ratio: ratio(full.median),
    rssKb: w.maxRssKb,
    target: '≤ 10 ms',
    met: full.median <= 10,
    limit: 10,
    reference: '30 ms',
    note: splitText(w.samples, ['summaries', 'buildGraph', 'computeBlocked', 'readyWork', 'sortBeads']),
  });
  rows.push({
    name: `ready ${g.n / 1000}k: warm, graph memoized for the commit (readyWork + sort)`,
    key: 'inproc:ready-memo',
    stats: memo,
    ratio: ratio(memo.median),
    rssKb: w.maxRssKb,
    target: '≤ 10 ms',
    met: memo.median <= 10,
    limit: 10,
    reference: '30 ms',
  });

  log('in-process: create × 100');
  const c = inproc('create', dir, env);
  details.create = c.samples;
  const cs = stats(c.samples.create);
  rows.push({
    name: `create (one transaction = one commit each, ${g.n / 1000}k ledger)`,
    key: 'inproc:create',
    stats: cs,
    ratio: ratio(cs.median),
    rssKb: c.maxRssKb,
    target: '≤ 10 ms',
    met: cs.median <= 10,
    limit: 10,
    reference: '2.5 ms',
    note: `createBead inside the transaction ${fmtMs(stats(c.samples['createBead (inside tx)']).median)}; the rest is the ledger write`,
  });
  const save = stats(c.samples.saveIndex);
  rows.push({
    name: `save the index cache (${g.n / 1000}k; once per command)`,
    stats: save,
    ratio: ratio(save.median),
    rssKb: c.maxRssKb,
    note: 'JSON.stringify + sha1 + write + rename',
  });

  log('in-process: update × 100');
  const idsFile = path.join(base, 'update-ids.json');
  fs.writeFileSync(idsFile, JSON.stringify(g.openIds.slice(-200)));
  const u = inproc('update', dir, env, idsFile);
  details.update = u.samples;
  const us = stats(u.samples.update);
  rows.push({
    name: 'update --status in_progress (one commit each)',
    key: 'inproc:update',
    stats: us,
    ratio: ratio(us.median),
    rssKb: u.maxRssKb,
    target: '≤ 10 ms',
    met: us.median <= 10,
    limit: 10,
    reference: '18 ms',
  });

  log('in-process: close 100 one by one');
  const cl = inproc('close100', dir, env);
  details.close = cl.samples;
  rows.push({
    name: '100 closes one by one (closeBead with its guards, 100 commits)',
    key: 'inproc:close',
    ms: cl.total,
    ratio: ratio(cl.total),
    rssKb: cl.maxRssKb,
    target: '≤ 0.5 s',
    met: cl.total <= 500,
    limit: 500,
    reference: '1.9 s',
    note: `per close: median ${fmtMs(stats(cl.samples.close).median)}, p90 ${fmtMs(stats(cl.samples.close).p90)}`,
  });

  log('in-process: import 10k JSONL');
  const im = inproc('import', dir, env, g.jsonlPath);
  details.import = im;
  if (im.available) {
    rows.push({
      name: `import ${g.n / 1000}k JSONL into an empty ledger (importIssues)`,
      key: 'inproc:import',
      ms: im.total,
      ratio: ratio(im.total),
      rssKb: im.maxRssKb,
      target: '≤ 5 s',
      met: im.total <= 5000,
      limit: 5000,
      note: `${im.present} of ${im.expected} beads present afterwards; index save ${fmtMs(im.flush)}`,
    });
  } else {
    rows.push({
      name: `import ${g.n / 1000}k JSONL into an empty ledger (importIssues)`,
      key: 'inproc:import',
      target: '≤ 5 s',
      met: null,
      note: `not available: ${im.why}`,
    });
  }

  log('in-process: cold cache rebuild × 3');
  const rb = inproc('rebuild', dir, env);
  details.rebuild = rb.samples;
  const rbs = stats(rb.samples.rebuild);
  rows.push({
    name: `cold cache rebuild ${g.n / 1000}k (dropCache, then snapshot)`,
    key: 'inproc:rebuild',
    stats: rbs,
    ratio: ratio(rbs.median),
    rssKb: rb.maxRssKb,
    target: '≤ 3 s',
    met: rbs.median <= 3000,
    limit: 3000,
    note: `of which: ${splitText(rb.samples, ['ls-tree', 'read blobs (loose: readFile+inflate)', 'parse YAML'])}`,
  });

  return {
    section: {
      title: 'In process (BeadStore API)',
      intro:
        'One child process per case (`scripts/bench/inproc.ts`), so each peak RSS (`process.resourceUsage().maxRSS`) ' +
        'is that case alone, including the loaded index. Writes are real commits on a copy of the generated ' +
        'ledger. The baseline is native git plumbing spawned from the same process. The Go column is the ' +
        "original bd's published figures (SQLite, M2 Pro), for reference only.",
      baseline: { name: 'git rev-parse (spawned)', stats: baseline, rssKb: null },
      rows,
      showReference: true,
    },
    details,
  };
}

// ---- main ----------------------------------------------------------------------------------

async function main(): Promise<number> {
  log(`workdir ${base}${QUICK ? ' (quick)' : ''}`);
  const sections: Section[] = [];
  const genRows: string[][] = [];
  const cacheMb: Record<number, string> = {};
  const gen = async (n: number) => {
    log(`generating ${n} beads`);
    const g = await generateLedger(n, path.join(base, `gen-${n}`));
    const gitDir = path.join(g.dir, '.git');
    cacheMb[n] =
      `${(fs.statSync(path.join(gitDir, 'gt', 'cache', 'refs_beads_ledger.json')).size / 2 ** 20).toFixed(1)} MB`;
    genRows.push([
      n.toLocaleString('en-US'),
      fmtMs(g.makeMs),
      fmtMs(g.writeMs),
      `${(dirSizeKb(gitDir) / 1024).toFixed(0)} MB`,
      cacheMb[n],
      `${(fs.statSync(g.jsonlPath).size / 2 ** 20).toFixed(1)} MB`,
    ]);
    return g;
  };
  const g10 = await gen(N);
  const concCopy = want('conc') ? copyLedger(g10, 'conc') : null;
  let cliBaseline: Stats | null = null;
  let cliSec: Section | null = null;
  let inprocDetails: Record<string, any> = {};
  const bigDetails: Record<string, any> = {};

  if (want('cli') || want('big')) {
    const r = cliSection({ dir: g10.dir, env: g10.env, openIds: g10.openIds, richIds: g10.richIds }, N);
    cliBaseline = r.baseline;
    cliSec = r.section;
    sections.push(cliSec);
  }
  if (want('inproc')) {
    const r = inprocSection(g10);
    sections.push(r.section);
    inprocDetails = r.details;
  }
  let conc: ConcurrencyResult | null = null;
  if (concCopy) {
    conc = await concurrencySection(concCopy.dir, concCopy.env, N, {
      processes: 16,
      cliWrites: QUICK ? 4 : 8,
      txWrites: QUICK ? 10 : 25,
    });
  }
  if (want('big') && !QUICK && cliSec && cliBaseline) {
    const g100 = await gen(BIG);
    cliSec.rows.push(
      cliReadyBig(
        { dir: g100.dir, env: g100.env, openIds: g100.openIds, richIds: g100.richIds },
        BIG,
        cliBaseline,
      ),
    );
    // Where that time goes: the same steps in process, timed apart (fresh processes).
    log('in-process: ready on 100k, first call in fresh processes (splits)');
    const splits: Record<string, number[]> = {};
    for (let i = 0; i < 3; i++) {
      const c = inproc('ready-cold', g100.dir, g100.env);
      for (const [k, v] of Object.entries(c.splits as Record<string, number[]>))
        (splits[k] ??= []).push(...v);
      (splits.total ??= []).push(c.total);
    }
    bigDetails.readyCold = splits;
  }

  if (want('hanoi')) sections.push(hanoiSection(base));
  if (want('loop')) sections.push(await loopSection(base));

  for (const s of sections) process.stdout.write(`${consoleSection(s)}\n`);
  if (conc) process.stdout.write(`${conc.console}\n`);

  const totalS = (performance.now() - started) / 1000;
  const md = [
    '# Benchmarks',
    '',
    'Generated by `npm run bench` (scripts/bench/, ~5 minutes on 2 cores; `BENCH_QUICK=1` skips the ' +
      '100,000-bead part); do not edit by hand. Targets are goals, never asserted in tests. Every ratio is ' +
      'against a baseline measured in the same run on the same machine. Other work on the machine inflates ' +
      'timings: compare the load averages below before comparing runs.',
    '',
    '## Machine',
    '',
    table(
      ['', ''],
      Object.entries({
        ...info,
        'load average at end': loadAvg(),
        'bench wall time': `${totalS.toFixed(0)} s${QUICK ? ' (BENCH_QUICK=1: no 100k part)' : ''}`,
      }).map(([k, v]) => [k, v]),
    ),
    '',
    '## Generated ledgers',
    '',
    'Mixed types and priorities, ~30% closed, labels from a 12-word vocabulary, blocks chains, epics with ' +
      '3-8 children, some waits-for / related / discovered-from edges, descriptions of 150-550 characters, ' +
      '~15% with comments. Written as bd writes them (canonical records, one ledger transaction after ' +
      '`bd init`, loose objects, gc off).',
    '',
    table(
      ['beads', 'build in memory', 'write (1 commit)', '.git size', 'index cache', 'export JSONL'],
      genRows,
    ),
    '',
    ...sections.map(renderSection),
    ...(conc ? [conc.markdown] : []),
    explainGaps(
      sections,
      { ...inprocDetails, cacheMb: cacheMb[N], big: { ...bigDetails, cacheMb: cacheMb[BIG] } },
      conc,
    ),
  ].join('\n');
  const out = process.env.BENCH_OUT ?? (only ? null : path.join(ROOT, 'BENCHMARKS.md'));
  if (out) {
    fs.writeFileSync(out, md.endsWith('\n') ? md : `${md}\n`);
    log(`wrote ${out}`);
  }
  log(
    `done in ${totalS.toFixed(0)} s; peak RSS of the bench runner ${fmtKb(process.resourceUsage().maxRSS)}`,
  );
  if (conc?.lost) {
    process.stderr.write('bench: concurrent writes were LOST (see the concurrency table)\n');
    return 1;
  }
  return 0;
}

try {
  process.exitCode = await main();
} finally {
  cleanup();
}
