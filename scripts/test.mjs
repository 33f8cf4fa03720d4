// `npm test`: build, type-check, lint, then every test file under test/ in parallel child
// processes (uvu, TypeScript via tsx). Ends with the line `N passed, N failed`.
// TEST_FILTER=substring runs only matching files; TEST_JOBS sets the parallelism.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
process.chdir(root);
let passed = 0;
let failed = 0;
const failures = [];

function step(name, cmd, args) {
  const t = Date.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const ok = r.status === 0;
  process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${name} (${((Date.now() - t) / 1000).toFixed(1)}s)\n`);
  if (ok) passed++;
  else {
    failed++;
    failures.push(`${name}\n${r.stdout}${r.stderr}`);
  }
  return ok;
}

const bin = (n) => path.join(root, 'node_modules', '.bin', n);
const filter = process.env.TEST_FILTER;
if (!filter) {
  step('build', process.execPath, ['scripts/build.mjs']);
  step('typecheck (tsc --noEmit)', bin('tsc'), ['--noEmit']);
  step('lint + format (biome check)', bin('biome'), ['check', '.']);
} else {
  step('build', process.execPath, ['scripts/build.mjs']);
}

function findTests(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...findTests(p));
    else if (e.name.endsWith('.test.ts')) out.push(p);
  }
  return out.sort();
}

const files = findTests('test').filter((f) => !filter || f.includes(filter));
const jobs = Number(process.env.TEST_JOBS) || Math.max(2, Math.min(4, os.cpus().length));
const strip = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');

function runFile(file) {
  return new Promise((resolve) => {
    const t = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 10 * 60 * 1000);
    child.on('close', (code) => {
      clearTimeout(timer);
      const text = strip(out);
      const total = Number(/Total:\s+(\d+)/.exec(text)?.[1] ?? 0);
      const ok = Number(/Passed:\s+(\d+)/.exec(text)?.[1] ?? 0);
      const skipped = Number(/Skipped:\s+(\d+)/.exec(text)?.[1] ?? 0);
      let bad = total - ok - skipped;
      if (code !== 0 && bad === 0) bad = 1; // crashed before or after its tests
      passed += ok;
      failed += bad;
      const secs = ((Date.now() - t) / 1000).toFixed(1);
      process.stdout.write(`${bad ? 'FAIL' : 'ok  '} ${file}: ${ok}/${total} (${secs}s)\n`);
      if (bad) failures.push(`${file}\n${text}`);
      resolve();
    });
  });
}

const queue = [...files];
await Promise.all(
  Array.from({ length: jobs }, async () => {
    while (queue.length) await runFile(queue.shift());
  }),
);

if (failures.length) {
  process.stdout.write('\n---- failures ----\n');
  for (const f of failures) process.stdout.write(`${f.slice(-6000)}\n\n`);
}
process.stdout.write(`${passed} passed, ${failed} failed\n`);
process.exitCode = failed ? 1 : 0;
