// Shared pieces of the benchmark suite: an isolated environment for child processes, timing of
// spawned commands (with their peak RSS), statistics, machine information and table rendering.
// Every command is run from an argument array, never a shell string.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
export const BD = path.join(ROOT, 'dist', 'bd.mjs');
export const QUICK = process.env.BENCH_QUICK === '1';
export const TIME_BIN = fs.existsSync('/usr/bin/time') ? '/usr/bin/time' : null;

/** Environment for child processes: own HOME, no system git config, fixed identity, no colour. */
export function benchEnv(home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: home,
    USER: 'bench',
    LANG: 'C.UTF-8',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_AUTHOR_NAME: 'Bench',
    GIT_AUTHOR_EMAIL: 'bench@example.com',
    GIT_COMMITTER_NAME: 'Bench',
    GIT_COMMITTER_EMAIL: 'bench@example.com',
    BD_ACTOR: 'bench',
    NO_COLOR: '1',
    ...extra,
  };
}

/** Run git with an argument array; throws with its stderr on failure. */
export function gitSync(cwd: string, args: string[], env?: NodeJS.ProcessEnv): string {
  const r = spawnSync('git', args, { cwd, env: env ?? process.env, encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
}

export interface Stats {
  n: number;
  median: number;
  p90: number;
  min: number;
  max: number;
  mean: number;
}

/** Statistics over durations in milliseconds (p90 by the nearest-rank method). */
export function stats(xs: number[]): Stats {
  if (xs.length === 0)
    return { n: 0, median: Number.NaN, p90: Number.NaN, min: Number.NaN, max: Number.NaN, mean: Number.NaN };
  const s = [...xs].sort((a, b) => a - b);
  const rank = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return {
    n: s.length,
    median,
    p90: rank(0.9),
    min: s[0],
    max: s[s.length - 1],
    mean: s.reduce((a, b) => a + b, 0) / s.length,
  };
}

export interface RunOutcome {
  ms: number;
  code: number;
  stdout: string;
  stderr: string;
}

/** Spawn `cmd args` and wait, timing it from just before the spawn to its exit. */
export function timeSpawn(
  cmd: string,
  args: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; input?: string },
): RunOutcome {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd,
    env: opts.env,
    input: opts.input,
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.error) throw r.error;
  return { ms, code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Peak RSS (kB) of one run of `cmd args`, from GNU time's %M. Measured in runs of their own,
 * so the wrapper never skews the timings. Null when /usr/bin/time is missing.
 */
export function peakRssKb(
  cmd: string,
  args: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv },
): number | null {
  if (!TIME_BIN) return null;
  const marker = 'BENCH_MAXRSS_KB=';
  const r = spawnSync(TIME_BIN, ['-f', `${marker}%M`, cmd, ...args], {
    cwd: opts.cwd,
    env: opts.env,
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  const line = (r.stderr ?? '').split('\n').find((l) => l.startsWith(marker));
  return line ? Number(line.slice(marker.length)) : null;
}

/** Spawn asynchronously; resolves with exit code and output (for concurrent runs). */
export function spawnAsync(
  cmd: string,
  args: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv },
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

export function machineInfo(): Record<string, string> {
  const cpus = os.cpus();
  const gitVersion = spawnSync('git', ['--version'], { encoding: 'utf8' }).stdout.trim();
  let osName = `${os.type()} ${os.release()}`;
  try {
    const rel = fs.readFileSync('/etc/os-release', 'utf8');
    const m = /^PRETTY_NAME="?([^"\n]+)"?/m.exec(rel);
    if (m) osName = `${m[1]} (${os.type()} ${os.release()})`;
  } catch {
    // not Linux, keep the kernel name
  }
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    cpu: `${cpus[0]?.model ?? 'unknown'} × ${cpus.length}`,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    os: osName,
    node: process.version,
    git: gitVersion.replace(/^git version /, ''),
    tmpdir: os.tmpdir(),
    'load average at start': loadAvg(),
  };
}

/** 1, 5 and 15 minute load averages: other work on the machine skews every timing. */
export function loadAvg(): string {
  return os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' / ');
}

export function fmtMs(ms: number | null | undefined): string {
  if (ms == null || Number.isNaN(ms)) return 'n/a';
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

export function fmtRatio(x: number | null | undefined): string {
  if (x == null || !Number.isFinite(x)) return 'n/a';
  return x >= 100 ? `${x.toFixed(0)}×` : x >= 10 ? `${x.toFixed(1)}×` : `${x.toFixed(2)}×`;
}

export function fmtKb(kb: number | null | undefined): string {
  if (kb == null || Number.isNaN(kb)) return 'n/a';
  return `${(kb / 1024).toFixed(0)} MB`;
}

/** A markdown table; cells are escaped for pipes. */
export function table(head: string[], rows: string[][]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [
    `| ${head.map(esc).join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

/** Progress on stderr, so stdout stays clean for machine-readable children. */
export function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

export function tmpBase(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}
