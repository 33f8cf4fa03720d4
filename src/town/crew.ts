// Crew (spec §1.1): long-lived workers (humans or agents) with a full clone of the rig's
// repository under `<rig>/crew/<name>/`, their own git identity and an agent bead. Sessions
// (`gt crew at`) live with the other session commands.
import fs from 'node:fs';
import path from 'node:path';
import { BeadStore } from '../beads/store.ts';
import { ConflictError, GtError, NotFoundError, UsageError } from '../errors.ts';
import { GitError, git } from '../git/repo.ts';
import { loadCodec } from '../ledger/codec.ts';
import { agentMeta, ensureAgentBead } from './agents.ts';
import { readJsonOr, type TownJson } from './files.ts';
import { actorOf, agentBeadIdOf, type Identity, sessionNameOf } from './identity.ts';
import { validateAgentName } from './names.ts';
import { crewClone, townPaths } from './paths.ts';
import {
  describeWork,
  getRig,
  guardSignals,
  hasWork,
  interrupted,
  type WorkState,
  workState,
} from './rigs.ts';

export interface CrewInfo {
  name: string;
  rig: string;
  path: string;
  actor: string;
  session: string;
  agent_bead: string;
  branch: string | null;
  uncommitted: number;
  unpushed: number;
  stashes: number;
}

function info(townRoot: string, rig: string, prefix: string, name: string, s?: WorkState): CrewInfo {
  const id: Identity = { role: 'crew', rig, name };
  return {
    name,
    rig,
    path: crewClone(townRoot, rig, name),
    actor: actorOf(id),
    session: sessionNameOf(id, prefix),
    agent_bead: agentBeadIdOf(id, prefix),
    branch: s?.branch ?? null,
    uncommitted: s?.uncommitted.length ?? 0,
    unpushed: s?.unpushed ?? 0,
    stashes: s?.stashes ?? 0,
  };
}

/** Names of the crew clones of a rig (directories holding a git repository). */
export function crewNames(townRoot: string, rig: string): string[] {
  const dir = getRig(townRoot, rig).paths.crewDir;
  try {
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .filter(
        (e) => e.isDirectory() && !e.name.startsWith('.') && fs.existsSync(path.join(dir, e.name, '.git')),
      )
      .map((e) => e.name)
      .sort();
  } catch {
    return [];
  }
}

/** The email crew commits carry: the town owner's ("agents execute, humans own"). */
function ownerEmail(townRoot: string, name: string): string {
  const town = readJsonOr<Partial<TownJson>>(townPaths(townRoot).townJson, 'mayor/town.json', {});
  return town.owner?.includes('@') ? town.owner : `${name}@gastown.local`;
}

export interface AddCrewOptions {
  branch?: string;
  actor?: string;
}

/**
 * `gt crew add NAME`: a full clone of the rig's repository (objects borrowed from the shared
 * bare repository, then copied, so the clone stands alone), with the crew identity as its
 * local git user, on the default branch or `branch`; plus the crew agent bead.
 */
export async function addCrew(
  townRoot: string,
  rig: string,
  name: string,
  opts: AddCrewOptions = {},
): Promise<CrewInfo> {
  validateAgentName(name, 'crew');
  const r = getRig(townRoot, rig);
  const dir = crewClone(townRoot, rig, name);
  if (fs.existsSync(dir))
    throw new ConflictError(`crew ${rig}/${name} already exists (${dir}); choose another name`);
  if (opts.branch !== undefined) {
    const ok = git(townRoot, ['check-ref-format', '--branch', opts.branch], { okCodes: [1, 128] });
    if (!ok.trim() || opts.branch.startsWith('-'))
      throw new UsageError(`invalid branch name ${JSON.stringify(opts.branch)}`);
  }
  await loadCodec();
  const store = BeadStore.open(townRoot, { actor: opts.actor });
  fs.mkdirSync(r.paths.crewDir, { recursive: true });
  const env = { ...process.env, GIT_TERMINAL_PROMPT: '0' };
  const unguard = guardSignals();
  try {
    const reference = fs.existsSync(r.paths.repoGit) ? ['--reference', r.paths.repoGit, '--dissociate'] : [];
    git(townRoot, ['clone', '-q', ...reference, '--', r.entry.git_url, dir], { env });
    if (r.entry.push_url) git(dir, ['remote', 'set-url', '--push', 'origin', r.entry.push_url]);
    git(dir, ['config', 'user.name', name]);
    git(dir, ['config', 'user.email', ownerEmail(townRoot, name)]);
    if (opts.branch) {
      const remote = git(dir, ['rev-parse', '--verify', '-q', `refs/remotes/origin/${opts.branch}`], {
        okCodes: [1],
      }).trim();
      if (remote) git(dir, ['checkout', '-q', '-B', opts.branch, '--track', `origin/${opts.branch}`]);
      else git(dir, ['checkout', '-q', '-b', opts.branch, '--no-track', `origin/${r.default_branch}`]);
    }
    store.transact(`crew add: ${rig}/${name}`, (tx) => {
      const id: Identity = { role: 'crew', rig, name };
      const b = ensureAgentBead(tx, id, r.prefix);
      if (b.status === 'closed' || agentMeta(b).agent_state === 'stopped') {
        b.status = 'open';
        b.closed_at = undefined;
        b.close_reason = undefined;
        b.metadata = { ...(b.metadata ?? {}), agent_state: 'idle', hook_bead: null };
        b.updated_at = tx.now;
        tx.put(b);
        tx.note(`crew ${b.id} back`);
      }
    });
  } catch (e: any) {
    fs.rmSync(dir, { recursive: true, force: true });
    if (interrupted(e)) throw new GtError(`gt crew add ${name} was interrupted; nothing was added`, 130);
    if (e instanceof GitError) throw new GtError(`gt crew add ${name}: ${e.message}`);
    throw e;
  } finally {
    unguard();
    store.flush();
  }
  return info(townRoot, rig, r.prefix, name, workState(dir));
}

export function listCrew(townRoot: string, rig: string): CrewInfo[] {
  const r = getRig(townRoot, rig);
  return crewNames(townRoot, rig).map((n) => {
    let s: WorkState | undefined;
    try {
      s = workState(crewClone(townRoot, rig, n));
    } catch {
      s = undefined;
    }
    return info(townRoot, rig, r.prefix, n, s);
  });
}

export interface RemoveCrewResult {
  name: string;
  rig: string;
  path: string;
  discarded: string | null;
}

/**
 * `gt crew remove NAME`: deletes the clone and closes the crew agent bead. Refused while the
 * clone has uncommitted changes, stashes or unpushed commits, unless `force`.
 */
export async function removeCrew(
  townRoot: string,
  rig: string,
  name: string,
  opts: { force?: boolean; actor?: string } = {},
): Promise<RemoveCrewResult> {
  validateAgentName(name, 'crew');
  const r = getRig(townRoot, rig);
  const dir = crewClone(townRoot, rig, name);
  if (!fs.existsSync(dir)) {
    const names = crewNames(townRoot, rig);
    throw new NotFoundError(`no crew ${rig}/${name} (crew of ${rig}: ${names.join(', ') || 'none'})`);
  }
  let s: WorkState | null = null;
  try {
    s = workState(dir);
  } catch (e: any) {
    if (!opts.force)
      throw new GtError(
        `cannot read the git state of ${dir} (${e.message}); use --force to remove it anyway`,
      );
  }
  if (s && hasWork(s) && !opts.force)
    throw new ConflictError(
      `crew ${rig}/${name} has ${describeWork(s)} in ${dir}; commit and push them, or use --force to discard them`,
    );
  await loadCodec();
  const store = BeadStore.open(townRoot, { actor: opts.actor });
  try {
    store.transact(`crew remove: ${rig}/${name}`, (tx) => {
      const id = agentBeadIdOf({ role: 'crew', rig, name }, r.prefix);
      const b = tx.get(id);
      if (!b) return;
      b.metadata = { ...(b.metadata ?? {}), agent_state: 'stopped', hook_bead: null };
      if (b.status !== 'closed') {
        b.status = 'closed';
        b.closed_at = tx.now;
        b.close_reason = 'crew removed';
      }
      b.updated_at = tx.now;
      tx.put(b);
      tx.note(`crew ${id} removed`);
    });
  } finally {
    store.flush();
  }
  fs.rmSync(dir, { recursive: true, force: true });
  return { name, rig, path: dir, discarded: s && hasWork(s) ? describeWork(s) : null };
}
