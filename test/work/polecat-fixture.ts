// A polecat set up by hand for gt done tests: a bead in the town hooked to myrig/polecats/<name>
// with a poured molecule attached, and a worktree of the rig's .repo.git on
// polecat/<name>/<bead>@x (what gt sling would make, without a session).
import fs from 'node:fs';
import path from 'node:path';
import * as assert from 'uvu/assert';
import { GT, run } from '../helpers.ts';
import type { Town } from '../town/town-fixture.ts';

export interface HandPolecat {
  name: string;
  bead: string;
  mol: string;
  wt: string;
  branch: string;
  env: NodeJS.ProcessEnv;
  done(...args: string[]): ReturnType<typeof run>;
  commit(file: string, text?: string): string;
}

export function handPolecat(
  t: Town,
  name: string,
  opts: { priority?: string; formula?: string; vars?: string[]; meta?: string[] } = {},
): HandPolecat {
  const json = (...args: string[]) => {
    const r = t.bd(...args, '--json');
    if (r.code !== 0) throw new Error(`bd ${args.join(' ')}: ${r.stderr}`);
    return r.json();
  };
  const bead = json('create', `Work for ${name}`, '-p', opts.priority ?? '1').id as string;
  const vars = (opts.vars ?? []).flatMap((v) => ['--var', v]);
  const mol = json('mol', 'pour', opts.formula ?? 'towers-of-hanoi-3', ...vars).new_epic_id as string;
  const up = t.bd(
    'update',
    bead,
    '-s',
    'hooked',
    '-a',
    `myrig/polecats/${name}`,
    '--set-metadata',
    `attached_molecule=${mol}`,
    ...(opts.meta ?? []).flatMap((m) => ['--set-metadata', m]),
  );
  assert.is(up.code, 0, up.stderr);
  const repoGit = path.join(t.root, 'myrig', '.repo.git');
  const wt = path.join(t.root, 'myrig', 'polecats', name, 'myrig');
  const branch = `polecat/${name}/${bead}@x`;
  t.git(t.root, '--git-dir', repoGit, 'worktree', 'add', '-q', '-b', branch, wt, 'main');
  const env = { ...t.env, GT_ROLE: `myrig/polecats/${name}` };
  return {
    name,
    bead,
    mol,
    wt,
    branch,
    env,
    done: (...args: string[]) => run(GT, ['done', ...args], { cwd: wt, env }),
    commit(file, text = `${file}\n`) {
      fs.writeFileSync(path.join(wt, file), text);
      t.git(wt, 'add', file);
      t.git(wt, 'commit', '-q', '-m', `add ${file}`);
      return t.git(wt, 'rev-parse', 'HEAD').trim();
    },
  };
}
