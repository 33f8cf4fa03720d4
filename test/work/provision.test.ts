// Polecat worktree provisioning at sling time (spec §2.7) with real git: `git fetch origin` into
// .repo.git first (a failure is a warning), the agent's context file (never over a tracked one),
// the rig overlay, local excludes (nothing provisioned is committed), setup hooks with a timeout
// whose failure rolls the spawn back with nothing left behind.
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { contextFileFor } from '../../src/work/spawn.ts';
import { createBeadIn, ledgerCount, makeTown, showBead, type Town } from '../town/town-fixture.ts';

function provTown(settings: Record<string, unknown> = {}): Town & {
  bead(title: string): string;
  show(id: string): any;
  rigDir: string;
} {
  const t = makeTown();
  t.ok('rig', 'add', 'myrig', t.src);
  const file = path.join(t.root, 'settings', 'config.json');
  const cur = JSON.parse(fs.readFileSync(file, 'utf8'));
  fs.writeFileSync(file, JSON.stringify({ ...cur, ...settings }, null, 2));
  const rigDir = path.join(t.root, 'myrig');
  return {
    ...t,
    rigDir,
    bead: (title) => createBeadIn(t, rigDir, title),
    show: (id) => showBead(t, id),
  };
}

test('contextFileFor: CLAUDE.md, GEMINI.md, AGENTS.md, none for the scripted agent', () => {
  assert.is(contextFileFor('claude'), 'CLAUDE.md');
  assert.is(contextFileFor('gemini'), 'GEMINI.md');
  assert.is(contextFileFor('codex'), 'AGENTS.md');
  assert.is(contextFileFor('opencode'), 'AGENTS.md');
  assert.is(contextFileFor('scripted'), null);
  assert.is(contextFileFor('my-custom'), null);
});

test('sling provisions: fetched origin, context file, overlay, setup hook; none of it committed', () => {
  const t = provTown({
    polecat: { context_file: 'AGENTS.md', setup_command: 'echo "$GT_POLECAT" > .setup-ran' },
  });
  // origin moves on after the rig was added: the fetch brings it in before the worktree.
  fs.writeFileSync(path.join(t.src, 'later.txt'), 'later\n');
  t.git(t.src, 'add', 'later.txt');
  t.git(t.src, 'commit', '-q', '-m', 'later');
  const originHead = t.git(t.src, 'rev-parse', 'HEAD').trim();
  // The rig overlay and a setup hook.
  const overlay = path.join(t.rigDir, '.runtime', 'overlay');
  fs.mkdirSync(path.join(overlay, 'tools'), { recursive: true });
  fs.writeFileSync(path.join(overlay, '.env.local'), 'TOKEN=x\n');
  fs.writeFileSync(path.join(overlay, 'tools', 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  fs.writeFileSync(path.join(overlay, 'README.md'), 'overlay must not replace a tracked file\n');
  const hooks = path.join(t.rigDir, '.runtime', 'setup-hooks');
  fs.mkdirSync(hooks, { recursive: true });
  const marker = path.join(t.base, 'hook-env');
  fs.writeFileSync(
    path.join(hooks, '10-record'),
    `#!/bin/sh\necho "$GT_RIG $GT_POLECAT $(pwd)" > "${marker}"\n`,
    { mode: 0o755 },
  );
  fs.writeFileSync(path.join(hooks, '20-not-exec'), '#!/bin/sh\nexit 1\n', { mode: 0o644 });

  const id = t.bead('Provision me');
  const r = t.ok('sling', id, 'myrig', '--no-start', '--no-convoy', '--json');
  const pc = r.items[0].polecat;
  const wt = pc.worktree;
  assert.is(t.git(wt, 'rev-parse', 'HEAD~0').trim(), originHead, 'started from the fetched origin');
  assert.ok(fs.existsSync(path.join(wt, 'later.txt')));
  // Context file rendered from the polecat template.
  assert.is(pc.provisioned.context_file, 'AGENTS.md');
  const ctx = fs.readFileSync(path.join(wt, 'AGENTS.md'), 'utf8');
  assert.match(ctx, new RegExp(`# Polecat ${pc.name} \\(myrig\\)`));
  assert.match(ctx, /gt done/);
  // Overlay copied (mode kept), the tracked README.md untouched and reported.
  assert.equal(pc.provisioned.overlay, ['.env.local', 'tools/run.sh']);
  assert.is(fs.readFileSync(path.join(wt, '.env.local'), 'utf8'), 'TOKEN=x\n');
  assert.ok(fs.statSync(path.join(wt, 'tools', 'run.sh')).mode & 0o100);
  assert.is(fs.readFileSync(path.join(wt, 'README.md'), 'utf8'), '# project\n');
  assert.ok(
    r.warnings.some((w: string) => /overlay file README\.md is tracked/.test(w)),
    r.warnings,
  );
  assert.ok(
    r.warnings.some((w: string) => /20-not-exec is not executable/.test(w)),
    r.warnings,
  );
  // Setup hooks ran in the worktree with the polecat's environment, in order.
  assert.is(fs.readFileSync(marker, 'utf8').trim(), `myrig ${pc.name} ${fs.realpathSync(wt)}`);
  assert.is(fs.readFileSync(path.join(wt, '.setup-ran'), 'utf8').trim(), pc.name);
  assert.equal(
    pc.provisioned.setup.map((s: any) => s.command),
    [path.join(hooks, '10-record'), 'echo "$GT_POLECAT" > .setup-ran'],
  );
  // Provisioned files are excluded: the worktree is clean apart from what the hook made itself.
  assert.is(t.git(wt, 'status', '--porcelain').trim(), '?? .setup-ran');
  fs.rmSync(path.join(wt, '.setup-ran'));
  fs.writeFileSync(path.join(wt, 'work.txt'), 'work\n');
  t.git(wt, 'add', '-A');
  assert.equal(t.git(wt, 'diff', '--cached', '--name-only').trim().split('\n'), ['work.txt']);
});

test('a tracked context file is never overwritten', () => {
  const t = provTown({ polecat: { context_file: 'CLAUDE.md' } });
  fs.writeFileSync(path.join(t.src, 'CLAUDE.md'), '# the project’s own\n');
  t.git(t.src, 'add', 'CLAUDE.md');
  t.git(t.src, 'commit', '-q', '-m', 'own CLAUDE.md');
  const id = t.bead('Keep theirs');
  const r = t.ok('sling', id, 'myrig', '--no-start', '--no-convoy', '--json');
  const wt = r.items[0].polecat.worktree;
  assert.is(fs.readFileSync(path.join(wt, 'CLAUDE.md'), 'utf8'), '# the project’s own\n');
  assert.is(r.items[0].polecat.provisioned.context_file, null);
  assert.ok(
    r.warnings.some((w: string) => /CLAUDE\.md is the repository's own/.test(w)),
    r.warnings,
  );
  assert.is(t.git(wt, 'status', '--porcelain').trim(), '');
});

test('a failing or timed-out setup hook rolls the spawn back: no worktree, no branch, bead untouched', () => {
  const t = provTown({ polecat: { setup_command: 'echo broken dependency >&2; exit 3' } });
  const id = t.bead('Will not provision');
  const before = ledgerCount(t);
  const repoGit = path.join(t.rigDir, '.repo.git');
  const branches = () => t.git(t.root, '--git-dir', repoGit, 'branch', '--list', 'polecat/*').trim();
  const r = t.gt('sling', id, 'myrig', '--no-start', '--no-convoy');
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, /setup hook echo broken dependency >&2; exit 3 failed in .*: exited 3/);
  assert.match(r.stderr, /broken dependency/);
  assert.match(r.stderr, /rolled back; fix the hook and sling again/);
  assert.is(ledgerCount(t), before);
  assert.is(t.show(id).status, 'open');
  assert.is(branches(), '');
  const polecats = path.join(t.rigDir, 'polecats');
  assert.equal(fs.existsSync(polecats) ? fs.readdirSync(polecats) : [], []);

  // A hook that hangs is stopped at polecat.setup_timeout.
  const file = path.join(t.root, 'settings', 'config.json');
  const cur = JSON.parse(fs.readFileSync(file, 'utf8'));
  cur.polecat = { setup_command: 'sleep 20', setup_timeout: '1s' };
  fs.writeFileSync(file, JSON.stringify(cur));
  const t0 = Date.now();
  const slow = t.gt('sling', id, 'myrig', '--no-start', '--no-convoy');
  assert.is(slow.code, 1, slow.stderr);
  assert.match(slow.stderr, /timed out after 1000 ms \(polecat\.setup_timeout\)/);
  assert.ok(Date.now() - t0 < 15000);
  assert.is(branches(), '');
  assert.is(ledgerCount(t), before);
});

test('an unreachable origin is a warning, and the polecat starts from what .repo.git has', () => {
  const t = provTown();
  const repoGit = path.join(t.rigDir, '.repo.git');
  t.git(t.root, '--git-dir', repoGit, 'remote', 'set-url', 'origin', path.join(t.base, 'gone.git'));
  const id = t.bead('Offline');
  const both = t.gt('sling', id, 'myrig', '--no-start', '--merge', 'mr', '--no-merge');
  assert.is(both.code, 2);
  assert.match(both.stderr, /--merge and --no-merge exclude each other/);
  const r = t.ok('sling', id, 'myrig', '--no-start', '--no-convoy', '--no-merge', '--json');
  assert.is(r.items[0].action, 'hooked');
  // --no-merge is stored for gt done (strategy no_merge).
  assert.is(t.show(id).metadata.merge_strategy, 'no_merge');
  assert.ok(
    r.warnings.some((w: string) => /git fetch origin in .* failed .*polecats start from what/.test(w)),
    r.warnings,
  );
  assert.ok(fs.existsSync(path.join(r.items[0].polecat.worktree, 'README.md')));
});

test.run();
