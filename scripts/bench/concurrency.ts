// Section 4: many processes writing to one ledger at once. Two workloads, each run first by one
// process (the baseline) and then by P processes at the same time:
//   A. `bd create` spawned from P concurrent loops (the real CLI path, start-up included);
//   B. P long-lived writer processes (scripts/bench/writer.ts), each making K ledger transactions.
// Afterwards the ledger is read back: every attempted write must be present (and every id a
// writer reported), and the ref must have gained exactly one commit per write.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BeadStore } from '../../src/beads/store.ts';
import { loadCodec } from '../../src/ledger/codec.ts';
import { BD, fmtKb, fmtMs, fmtRatio, gitSync, log, ROOT, spawnAsync, TIME_BIN, table } from './lib.ts';

export interface ConcurrencyRun {
  workload: string;
  processes: number;
  attempted: number;
  succeeded: number;
  present: number;
  reportedMissing: number;
  commits: number;
  failures: string[];
  wallMs: number;
  commitsPerSec: number;
  maxRssKb: number | null;
}

function tipOf(dir: string): string {
  return gitSync(dir, ['rev-parse', 'refs/beads/ledger']).trim();
}

/** Count what landed: beads whose title starts with `tag`, reported ids present, commits added. */
async function verify(dir: string, tag: string, ids: string[], fromTip: string) {
  await loadCodec();
  const store = BeadStore.open(dir, { actor: 'bench' });
  const present = store.summaries().filter((s) => s.title.startsWith(`${tag} `)).length;
  const reportedMissing = ids.filter((id) => !store.summary(id)).length;
  store.flush();
  const commits = Number(gitSync(dir, ['rev-list', '--count', `${fromTip}..refs/beads/ledger`]).trim());
  return { present, reportedMissing, commits };
}

const MARK = 'BENCH_MAXRSS_KB=';

/** Workload A: P loops, each spawning `bd create --json` K times in a row. */
async function cliCreates(dir: string, env: NodeJS.ProcessEnv, p: number, k: number, tag: string) {
  const from = tipOf(dir);
  const ids: string[] = [];
  const failures: string[] = [];
  let maxRss: number | null = null;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: p }, async (_, w) => {
      for (let i = 0; i < k; i++) {
        const bdArgs = [BD, 'create', '--json', `${tag} w${w} #${i}`];
        const r = TIME_BIN
          ? await spawnAsync(TIME_BIN, ['-f', `${MARK}%M`, process.execPath, ...bdArgs], { cwd: dir, env })
          : await spawnAsync(process.execPath, bdArgs, { cwd: dir, env });
        const line = r.stderr.split('\n').find((l) => l.startsWith(MARK));
        if (line) maxRss = Math.max(maxRss ?? 0, Number(line.slice(MARK.length)));
        if (r.code !== 0) {
          failures.push(
            `exit ${r.code}: ${r.stderr.split('\n').find((l) => l && !l.startsWith(MARK)) ?? ''}`,
          );
          continue;
        }
        try {
          ids.push(JSON.parse(r.stdout).id);
        } catch {
          failures.push(`unparsable output: ${r.stdout.slice(0, 100)}`);
        }
      }
    }),
  );
  const wallMs = performance.now() - t0;
  const v = await verify(dir, tag, ids, from);
  return finish('bd create (spawned CLI)', p, p * k, ids.length, v, failures, wallMs, maxRss);
}

/** Workload B: P writer processes; timing runs from the go signal to the last commit. */
async function workers(dir: string, env: NodeJS.ProcessEnv, p: number, k: number, tag: string) {
  const from = tipOf(dir);
  const goFile = path.join(path.dirname(dir), `go-${tag}`);
  fs.rmSync(goFile, { force: true });
  const script = path.join(ROOT, 'scripts', 'bench', 'writer.ts');
  const children = Array.from({ length: p }, (_, w) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', script, dir, String(k), goFile, `${tag} w${w}`],
      {
        cwd: ROOT,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
    const ready = new Promise<void>((resolve) => {
      child.stdout.on('data', (d) => {
        out += d;
        if (out.includes('ready\n')) resolve();
      });
      child.on('close', () => resolve());
    });
    const done = new Promise<{ code: number; out: string; err: string }>((resolve) =>
      child.on('close', (code) => resolve({ code: code ?? -1, out, err })),
    );
    return { ready, done };
  });
  await Promise.all(children.map((c) => c.ready));
  fs.writeFileSync(goFile, 'go');
  const results = await Promise.all(children.map((c) => c.done));
  fs.rmSync(goFile, { force: true });
  const ids: string[] = [];
  const failures: string[] = [];
  let start = Number.POSITIVE_INFINITY;
  let end = 0;
  let maxRss: number | null = null;
  for (const r of results) {
    const line = r.out.split('\n').find((l) => l.startsWith('{'));
    if (r.code !== 0 || !line) {
      failures.push(`writer exit ${r.code}: ${r.err.split('\n').slice(0, 3).join(' ')}`);
      continue;
    }
    const j = JSON.parse(line);
    ids.push(...j.ids);
    failures.push(...j.errors);
    start = Math.min(start, j.start);
    end = Math.max(end, j.end);
    maxRss = Math.max(maxRss ?? 0, j.maxRssKb);
  }
  const v = await verify(dir, tag, ids, from);
  return finish(
    'ledger transactions (writer processes)',
    p,
    p * k,
    ids.length,
    v,
    failures,
    end - start,
    maxRss,
  );
}

function finish(
  workload: string,
  processes: number,
  attempted: number,
  succeeded: number,
  v: { present: number; reportedMissing: number; commits: number },
  failures: string[],
  wallMs: number,
  maxRssKb: number | null,
): ConcurrencyRun {
  return {
    workload,
    processes,
    attempted,
    succeeded,
    ...v,
    failures,
    wallMs,
    commitsPerSec: v.commits / (wallMs / 1000),
    maxRssKb,
  };
}

export interface ConcurrencyResult {
  runs: ConcurrencyRun[];
  markdown: string;
  console: string;
  /** True when any attempted write is missing from the ledger. */
  lost: boolean;
}

export async function concurrencySection(
  dir: string,
  env: NodeJS.ProcessEnv,
  n: number,
  opts: { processes: number; cliWrites: number; txWrites: number },
): Promise<ConcurrencyResult> {
  const P = opts.processes;
  const runs: ConcurrencyRun[] = [];
  log(`concurrency: bd create, 1 process × ${opts.cliWrites}`);
  runs.push(await cliCreates(dir, env, 1, opts.cliWrites, 'conc-cli-1'));
  log(`concurrency: bd create, ${P} processes × ${opts.cliWrites}`);
  runs.push(await cliCreates(dir, env, P, opts.cliWrites, `conc-cli-${P}`));
  log(`concurrency: writer processes, 1 × ${opts.txWrites}`);
  runs.push(await workers(dir, env, 1, opts.txWrites, 'conc-tx-1'));
  log(`concurrency: writer processes, ${P} × ${opts.txWrites}`);
  runs.push(await workers(dir, env, P, opts.txWrites, `conc-tx-${P}`));

  const lostOf = (r: ConcurrencyRun) => r.attempted - r.present;
  const lost = runs.some((r) => lostOf(r) !== 0 || r.reportedMissing !== 0 || r.commits !== r.attempted);
  const rows = runs.map((r, i) => {
    const base = runs[i - (i % 2)];
    return [
      r.workload,
      String(r.processes),
      String(r.attempted),
      String(r.present),
      String(r.commits),
      String(lostOf(r) + r.reportedMissing),
      String(r.failures.length),
      fmtMs(r.wallMs),
      r.commitsPerSec.toFixed(1),
      i % 2 === 0 ? '1.00× (baseline)' : fmtRatio(r.commitsPerSec / base.commitsPerSec),
      fmtKb(r.maxRssKb),
    ];
  });
  const failures = runs.flatMap((r) =>
    r.failures.slice(0, 3).map((f) => `${r.workload} ×${r.processes}: ${f}`),
  );
  const markdown = [
    `## Concurrency (${P} processes writing at once)`,
    '',
    `On a copy of the ${n.toLocaleString('en-US')}-bead ledger. Each workload runs first in one process (the ` +
      `baseline for its ratio), then in ${P} processes at once. "present" counts beads with the workload's ` +
      `titles read back from the ledger afterwards; "lost" = attempted − present, plus ids a writer reported ` +
      `that are missing. The bench exits non-zero when anything is lost or the commit count is off. ` +
      `Throughput ratio > 1 means the parallel run committed faster than one process alone. Peak RSS: the ` +
      `largest of any single writer process.`,
    '',
    table(
      [
        'workload',
        'processes',
        'attempted',
        'present',
        'commits',
        'lost',
        'failed',
        'wall time',
        'commits/s',
        'throughput ratio',
        'peak RSS',
      ],
      rows,
    ),
    '',
    `Zero writes lost: **${lost ? 'NO — writes were lost' : 'yes'}**.`,
    ...(failures.length ? ['', 'Failures:', ...failures.map((f) => `- ${f}`)] : []),
    '',
  ].join('\n');
  const consoleText = [
    `== Concurrency`,
    ...runs.map(
      (r) =>
        `  ${r.workload} ×${r.processes}: ${r.present}/${r.attempted} present, ${r.commits} commits, ` +
        `${r.failures.length} failed, ${fmtMs(r.wallMs)}, ${r.commitsPerSec.toFixed(1)} commits/s, rss ${fmtKb(r.maxRssKb)}`,
    ),
    `  zero writes lost: ${lost ? 'NO' : 'yes'}`,
  ].join('\n');
  return { runs, markdown, console: consoleText, lost };
}
