// A town for the merge-queue tests: `gt install`, rigs added from one source repository with
// `gt rig add`, polecats set up by hand (a worktree of the rig's .repo.git on
// polecat/<name>/<bead>@x, the bead hooked to it) that finish with the real `gt done`.
import fs from 'node:fs';
import path from 'node:path';
import { BeadStore } from '../../src/beads/store.ts';
import type { Bead } from '../../src/beads/types.ts';
import { loadCodec } from '../../src/ledger/codec.ts';
import { type RefineryTickReport, refineryTick } from '../../src/refinery/engine.ts';
import { setSetting } from '../../src/town/settings.ts';
import { GT, type RunResult, run } from '../helpers.ts';
import { makeTown, type Town } from '../town/town-fixture.ts';

export interface Rig {
  name: string;
  repoGit: string;
  refinery: string;
  set(key: string, value: unknown): void;
  head(branch?: string): string;
  tick(extra?: { now?: number }): Promise<RefineryTickReport['rigs'][string]>;
}

export interface Polecat {
  name: string;
  rig: string;
  bead: string;
  wt: string;
  branch: string;
  commit(file: string, text?: string): string;
  rm(file: string): string;
  done(): { code: number; json: any; stderr: string };
}

export function refineryTown(): Town {
  const t = makeTown();
  // One source repository serves every rig: only the rig that tests pushing pushes to it.
  setSetting(t.root, 'merge_queue.auto_push', false);
  // Merge what is ready at each tick (the batch wait has its own test).
  setSetting(t.root, 'merge_queue.batch.batch_wait_time', '0s');
  return t;
}

export function addRig(t: Town, name: string): Rig {
  t.ok('rig', 'add', name, t.src);
  const repoGit = path.join(t.root, name, '.repo.git');
  return {
    name,
    repoGit,
    refinery: path.join(t.root, name, 'refinery', 'rig'),
    set: (key, value) => setSetting(t.root, key, value, name),
    head: (branch = 'main') =>
      t.git(t.root, '--git-dir', repoGit, 'rev-parse', `refs/heads/${branch}`).trim(),
    async tick(extra = {}) {
      const r = await refineryTick(t.root, { rig: name, env: t.env, noStart: true, ...extra });
      return r.rigs[name];
    },
  };
}

export function bdJson(t: Town, ...args: string[]): any {
  const r = t.bd(...args, '--json');
  if (r.code !== 0) throw new Error(`bd ${args.join(' ')}: ${r.stderr}`);
  const j = r.json();
  return Array.isArray(j) && args[0] === 'show' ? j[0] : j;
}

export function polecat(
  t: Town,
  rig: Rig,
  name: string,
  opts: { priority?: string; title?: string } = {},
): Polecat {
  const bead = bdJson(t, 'create', opts.title ?? `Work for ${name}`, '-p', opts.priority ?? '2').id as string;
  const up = t.bd('update', bead, '-s', 'hooked', '-a', `${rig.name}/polecats/${name}`);
  if (up.code !== 0) throw new Error(up.stderr);
  const wt = path.join(t.root, rig.name, 'polecats', name, rig.name);
  const branch = `polecat/${name}/${bead}@x`;
  t.git(t.root, '--git-dir', rig.repoGit, 'worktree', 'add', '-q', '-b', branch, wt, 'main');
  const env = { ...t.env, GT_ROLE: `${rig.name}/polecats/${name}` };
  return {
    name,
    rig: rig.name,
    bead,
    wt,
    branch,
    commit(file, text = `${file}\n`) {
      if (t.git(wt, 'branch', '--show-current').trim() !== branch) t.git(wt, 'checkout', '-q', branch);
      fs.mkdirSync(path.dirname(path.join(wt, file)), { recursive: true });
      fs.writeFileSync(path.join(wt, file), text);
      t.git(wt, 'add', file);
      t.git(wt, 'commit', '-q', '-m', `change ${file}`);
      return t.git(wt, 'rev-parse', 'HEAD').trim();
    },
    rm(file) {
      if (t.git(wt, 'branch', '--show-current').trim() !== branch) t.git(wt, 'checkout', '-q', branch);
      t.git(wt, 'rm', '-q', file);
      t.git(wt, 'commit', '-q', '-m', `remove ${file}`);
      return t.git(wt, 'rev-parse', 'HEAD').trim();
    },
    done() {
      const r: RunResult = run(GT, ['done', '--json'], { cwd: wt, env });
      return { code: r.code, json: r.code === 0 ? r.json() : null, stderr: r.stderr };
    },
  };
}

export async function bead(t: Town, id: string): Promise<Bead> {
  await loadCodec();
  const b = BeadStore.open(t.root).get(id);
  if (!b) throw new Error(`no bead ${id}`);
  return b;
}
