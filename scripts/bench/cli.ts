// Section 2: the CLI end to end. Each measurement spawns the bundle (dist/bd.mjs) as a user or
// an agent would, many times, against a generated ledger with a warm index cache. The baseline
// is Node's bare start-up (`node -e 0`) measured in the same run, interleaved with the reads.
import fs from 'node:fs';
import path from 'node:path';
import { BD, log, peakRssKb, QUICK, type Stats, stats, timeSpawn } from './lib.ts';
import type { Row, Section } from './report.ts';

interface Cmd {
  name: string;
  args: () => string[];
  /** Checks the output of a run (throws on a wrong answer). */
  check?: (stdout: string) => void;
}

const NODE = process.execPath;

function runChecked(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv) {
  const r = timeSpawn(cmd, args, { cwd, env });
  if (r.code !== 0) {
    throw new Error(`${args.join(' ')} exited ${r.code}:\n${r.stderr}${r.stdout.slice(0, 2000)}`);
  }
  return r;
}

/** Interleaved runs: every repetition runs each command once, so drift hits all alike. */
function measure(
  cmds: Cmd[],
  reps: number,
  warmup: number,
  cwd: string,
  env: NodeJS.ProcessEnv,
): Map<string, number[]> {
  const out = new Map<string, number[]>(cmds.map((c) => [c.name, []]));
  for (let i = 0; i < warmup + reps; i++) {
    for (const c of cmds) {
      const args = c.args();
      const r = runChecked(NODE, args, cwd, env);
      c.check?.(r.stdout);
      if (i >= warmup) out.get(c.name)!.push(r.ms);
    }
  }
  return out;
}

function rss(args: string[], cwd: string, env: NodeJS.ProcessEnv, runs = 3): number | null {
  let max: number | null = null;
  for (let i = 0; i < runs; i++) {
    const kb = peakRssKb(NODE, args, { cwd, env });
    if (kb != null) max = Math.max(max ?? 0, kb);
  }
  return max;
}

function must(ok: boolean, output: string): void {
  if (!ok) throw new Error(`unexpected output: ${output.slice(0, 300)}`);
}

const jsonArray = (min: number) => (stdout: string) => {
  const v = JSON.parse(stdout);
  if (!Array.isArray(v) || v.length < min)
    throw new Error(`expected a JSON array of ≥ ${min}, got ${stdout.slice(0, 200)}`);
};

export interface CliContext {
  dir: string;
  env: NodeJS.ProcessEnv;
  openIds: string[];
  richIds: string[];
}

export interface CliResult {
  section: Section;
  baseline: Stats;
  baselineRss: number | null;
}

export function cliSection(g: CliContext, n: number): CliResult {
  const reps = QUICK ? 15 : 30;
  const writeReps = QUICK ? 10 : 20;
  const { dir, env } = g;
  const showId = g.richIds[0] ?? g.openIds[0];
  log(`cli: warming the index cache of the ${n} ledger`);
  runChecked(NODE, [BD, 'ready', '--json'], dir, env);

  // An empty ES module: the floor for any ESM entry point (the loader costs more than -e).
  const emptyMjs = path.join(path.dirname(dir), 'empty.mjs');
  fs.writeFileSync(emptyMjs, '');
  const reads: Cmd[] = [
    { name: 'node -e 0', args: () => ['-e', '0'] },
    { name: 'node <empty .mjs>', args: () => [emptyMjs] },
    { name: 'bd --version', args: () => [BD, '--version'], check: (s) => must(/^bd version /.test(s), s) },
    { name: 'bd ready --json', args: () => [BD, 'ready', '--json'], check: jsonArray(1) },
    { name: 'bd list --json -n 50', args: () => [BD, 'list', '--json', '-n', '50'], check: jsonArray(50) },
    { name: `bd show <id>`, args: () => [BD, 'show', showId], check: (s) => must(s.includes(showId), s) },
  ];
  log(`cli: ${reads.length} commands × ${reps} interleaved repetitions on ${n} beads`);
  const samples = measure(reads, reps, 2, dir, env);
  const rssOf = new Map<string, number | null>();
  for (const c of reads) rssOf.set(c.name, rss(c.args(), dir, env));

  // Writes: every repetition changes a different bead / creates a new one, so each makes a commit.
  const ids = [...g.openIds];
  const nextId = () => {
    const id = ids.shift();
    if (!id) throw new Error('ran out of open beads to update');
    return id;
  };
  let created = 0;
  const writes: Cmd[] = [
    { name: 'node -e 0', args: () => ['-e', '0'] },
    {
      name: 'bd update <id> --status in_progress',
      args: () => [BD, 'update', nextId(), '--status', 'in_progress'],
      check: (s) => must(s.includes('Updated'), s),
    },
    {
      name: 'bd create "title"',
      args: () => [BD, 'create', `Bench created bead ${++created}`],
      check: (s) => must(s.includes('Created'), s),
    },
  ];
  log(`cli: writes × ${writeReps}`);
  const wsamples = measure(writes, writeReps, 2, dir, env);
  for (const c of writes.slice(1)) rssOf.set(c.name, rss(c.args(), dir, env));

  const baseSamples = [...samples.get('node -e 0')!, ...wsamples.get('node -e 0')!];
  const baseline = stats(baseSamples);
  const row = (name: string, xs: number[], target?: { ratio?: number; text: string }): Row => {
    const s = stats(xs);
    const ratio = s.median / baseline.median;
    return {
      name,
      stats: s,
      ratio,
      rssKb: rssOf.get(name) ?? null,
      target: target?.text,
      met: target?.ratio != null ? ratio <= target.ratio : undefined,
      limit: target?.ratio != null ? target.ratio * baseline.median : undefined,
    };
  };
  const rows: Row[] = [
    {
      ...row('node <empty .mjs>', samples.get('node <empty .mjs>')!),
      note: 'reference: ES module loader floor',
    },
    row('bd --version', samples.get('bd --version')!, { ratio: 1.2, text: '≤ 1.2× node' }),
    row('bd ready --json', samples.get('bd ready --json')!, { ratio: 1.5, text: '≤ 1.5× node' }),
    row('bd list --json -n 50', samples.get('bd list --json -n 50')!, { ratio: 1.5, text: '≤ 1.5× node' }),
    row('bd show <id>', samples.get('bd show <id>')!, { ratio: 1.5, text: '≤ 1.5× node' }),
    row('bd update <id> --status in_progress', wsamples.get('bd update <id> --status in_progress')!),
    row('bd create "title"', wsamples.get('bd create "title"')!),
  ];
  for (const r of rows) {
    r.key = r.name.startsWith('bd ') ? `cli:${r.name.split(' ')[1]}` : undefined;
    if (r.name.startsWith('bd ') && r.name !== 'bd --version')
      r.name = `${n.toLocaleString('en-US')}: ${r.name}`;
  }
  return {
    section: {
      title: 'CLI end to end (spawning dist/bd.mjs)',
      intro:
        `Each run spawns \`node dist/bd.mjs ...\` in a generated ledger with a warm index cache; reads are ` +
        `interleaved with the baseline (${reps} repetitions after 2 warm-ups), writes (${writeReps} repetitions) ` +
        `each change a different bead, so every one is a real commit. Peak RSS: GNU time %M, max of 3 separate runs.`,
      baseline: { name: 'node -e 0', stats: baseline, rssKb: rssOf.get('node -e 0') ?? null },
      rows,
    },
    baseline,
    baselineRss: rssOf.get('node -e 0') ?? null,
  };
}

/** `bd ready --json` on a big ledger, warm cache. */
export function cliReadyBig(g: CliContext, n: number, baseline: Stats): Row {
  const reps = 10;
  log(`cli: ${n} beads, bd ready --json × ${reps}`);
  runChecked(NODE, [BD, 'ready', '--json'], g.dir, g.env);
  const xs: number[] = [];
  for (let i = 0; i < reps; i++) {
    const r = runChecked(NODE, [BD, 'ready', '--json'], g.dir, g.env);
    jsonArray(1)(r.stdout);
    xs.push(r.ms);
  }
  const s = stats(xs);
  return {
    name: `${n.toLocaleString('en-US')}: bd ready --json`,
    key: 'cli:ready-big',
    stats: s,
    ratio: s.median / baseline.median,
    rssKb: rss([BD, 'ready', '--json'], g.dir, g.env, 2),
    target: '< 1 s',
    met: s.median < 1000,
    limit: 1000,
  };
}
