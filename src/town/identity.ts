// Who is who (spec §2.5): roles, actors (BD_ACTOR), mail addresses, tmux session names, agent
// bead ids, working directories and the per-town tmux socket. Pure logic.
import crypto from 'node:crypto';
import path from 'node:path';
import { UsageError } from '../errors.ts';
import { crewClone, polecatWorktree, rigPaths, townPaths } from './paths.ts';

export type Role =
  | 'mayor'
  | 'deacon'
  | 'boot'
  | 'dog'
  | 'witness'
  | 'refinery'
  | 'polecat'
  | 'crew'
  | 'overseer';
export const ROLES: Role[] = [
  'mayor',
  'deacon',
  'boot',
  'dog',
  'witness',
  'refinery',
  'polecat',
  'crew',
  'overseer',
];
export const TOWN_ROLES = new Set<Role>(['mayor', 'deacon', 'boot', 'dog', 'overseer']);
export const AUTONOMOUS_ROLES = new Set<Role>(['deacon', 'boot', 'dog', 'witness', 'refinery', 'polecat']);

export interface Identity {
  role: Role;
  /** Rig name for rig roles. */
  rig?: string;
  /** Polecat, crew or dog name. */
  name?: string;
}

function needRig(id: Identity): string {
  if (!id.rig) throw new UsageError(`a ${id.role} belongs to a rig; give the rig (e.g. myrig/${id.role})`);
  return id.rig;
}
function needName(id: Identity): string {
  if (!id.name) throw new UsageError(`a ${id.role} needs a name`);
  return id.name;
}

/** BD_ACTOR and commit author of an agent. */
export function actorOf(id: Identity): string {
  switch (id.role) {
    case 'mayor':
    case 'deacon':
    case 'overseer':
      return id.role;
    case 'boot':
      return 'deacon-boot';
    case 'dog':
      return `deacon/dogs/${needName(id)}`;
    case 'witness':
    case 'refinery':
      return `${needRig(id)}/${id.role}`;
    case 'polecat':
      return `${needRig(id)}/polecats/${needName(id)}`;
    case 'crew':
      return `${needRig(id)}/crew/${needName(id)}`;
  }
}

/** Canonical mail address. */
export function addressOf(id: Identity): string {
  switch (id.role) {
    case 'mayor':
    case 'deacon':
      return `${id.role}/`;
    case 'overseer':
      return 'overseer';
    case 'boot':
      return 'deacon/boot';
    case 'dog':
      return `deacon/dogs/${needName(id)}`;
    case 'witness':
    case 'refinery':
      return `${needRig(id)}/${id.role}`;
    case 'polecat':
    case 'crew':
      return `${needRig(id)}/${needName(id)}`;
  }
}

/** tmux session name; rig roles use the rig's bead prefix. */
export function sessionNameOf(id: Identity, rigPrefix?: string): string {
  const p = () => {
    if (!rigPrefix) throw new UsageError(`the session name of ${actorOf(id)} needs its rig's prefix`);
    return rigPrefix;
  };
  switch (id.role) {
    case 'mayor':
    case 'deacon':
    case 'boot':
    case 'overseer':
      return `hq-${id.role}`;
    case 'dog':
      return `hq-dog-${needName(id)}`;
    case 'witness':
    case 'refinery':
      return `${p()}-${id.role}`;
    case 'polecat':
      return `${p()}-${needName(id)}`;
    case 'crew':
      return `${p()}-crew-${needName(id)}`;
  }
}

/** The agent's bead in the town ledger. */
export function agentBeadIdOf(id: Identity, rigPrefix?: string): string {
  switch (id.role) {
    case 'mayor':
    case 'deacon':
    case 'boot':
      return `hq-${id.role}`;
    case 'overseer':
      return 'hq-overseer';
    case 'dog':
      return `hq-dog-${needName(id)}`;
    case 'witness':
    case 'refinery':
      return `${rigPrefix ?? needRig(id)}-${needRig(id)}-${id.role}`;
    case 'polecat':
      return `${rigPrefix ?? needRig(id)}-${needRig(id)}-polecat-${needName(id)}`;
    case 'crew':
      return `${rigPrefix ?? needRig(id)}-${needRig(id)}-crew-${needName(id)}`;
  }
}

/** Where the agent's session runs. */
export function workDirOf(id: Identity, townRoot: string): string {
  const t = townPaths(townRoot);
  switch (id.role) {
    case 'mayor':
      return t.mayorDir;
    case 'deacon':
      return t.deaconDir;
    case 'boot':
      return t.bootDir;
    case 'dog':
      return path.join(t.dogsDir, needName(id));
    case 'overseer':
      return t.root;
    case 'witness':
      return rigPaths(townRoot, needRig(id)).witnessDir;
    case 'refinery':
      return rigPaths(townRoot, needRig(id)).refineryRig;
    case 'polecat':
      return polecatWorktree(townRoot, needRig(id), needName(id));
    case 'crew':
      return crewClone(townRoot, needRig(id), needName(id));
  }
}

/**
 * Parse an actor, address or short form: `mayor`, `mayor/`, `deacon/`, `overseer`,
 * `deacon/dogs/rex`, `deacon/boot`, `<rig>/witness`, `<rig>/refinery`, `<rig>/polecats/<n>`,
 * `<rig>/crew/<n>`, and `<rig>/<n>` (polecat or crew: `kind` decides, else polecat).
 */
export function parseIdentity(input: string, opts: { crewNames?: (rig: string) => string[] } = {}): Identity {
  const s = input.trim().replace(/^@/, '');
  const parts = s.split('/').filter((p, i, a) => p !== '' || i < a.length - 1);
  const clean = parts.filter(Boolean);
  const bad = () =>
    new UsageError(
      `cannot read "${input}" as an agent: use mayor/, deacon/, <rig>/witness, <rig>/refinery, <rig>/polecats/<name> or <rig>/crew/<name>`,
    );
  if (clean.some((p) => p === '.' || p === '..')) throw bad();
  if (clean.length === 1) {
    if (clean[0] === 'mayor' || clean[0] === 'deacon' || clean[0] === 'overseer') return { role: clean[0] };
    if (clean[0] === 'deacon-boot') return { role: 'boot' };
    throw bad();
  }
  if (clean[0] === 'deacon') {
    if (clean.length === 2 && clean[1] === 'boot') return { role: 'boot' };
    if (clean.length === 3 && clean[1] === 'dogs') return { role: 'dog', name: clean[2] };
    throw bad();
  }
  const rig = clean[0];
  if (clean.length === 2) {
    if (clean[1] === 'witness' || clean[1] === 'refinery') return { role: clean[1], rig };
    const crew = opts.crewNames?.(rig) ?? [];
    return { role: crew.includes(clean[1]) ? 'crew' : 'polecat', rig, name: clean[1] };
  }
  if (clean.length === 3 && (clean[1] === 'polecats' || clean[1] === 'crew')) {
    return { role: clean[1] === 'polecats' ? 'polecat' : 'crew', rig, name: clean[2] };
  }
  throw bad();
}

/**
 * The identity of whoever runs a command: GT_ROLE / BD_ACTOR from the environment (set in
 * every agent session), else the position of `cwd` in the town; the overseer at the root.
 */
export function detectIdentity(
  townRoot: string,
  cwd: string,
  env: NodeJS.ProcessEnv = process.env,
): Identity {
  const fromEnv = env.GT_ROLE || env.BD_ACTOR;
  if (fromEnv) {
    try {
      return parseIdentity(fromEnv);
    } catch {
      // an unusual value: fall back to the directory
    }
  }
  const rel = path.relative(path.resolve(townRoot), path.resolve(cwd));
  if (rel.startsWith('..') || path.isAbsolute(rel)) return { role: 'overseer' };
  const seg = rel.split(path.sep).filter(Boolean);
  if (seg.length === 0) return { role: 'overseer' };
  if (seg[0] === 'mayor') return { role: 'mayor' };
  if (seg[0] === 'deacon') {
    if (seg[1] === 'dogs' && seg[2] === 'boot') return { role: 'boot' };
    if (seg[1] === 'dogs' && seg[2]) return { role: 'dog', name: seg[2] };
    return { role: 'deacon' };
  }
  const rig = seg[0];
  if (seg[1] === 'witness') return { role: 'witness', rig };
  if (seg[1] === 'refinery') return { role: 'refinery', rig };
  if (seg[1] === 'polecats' && seg[2]) return { role: 'polecat', rig, name: seg[2] };
  if (seg[1] === 'crew' && seg[2]) return { role: 'crew', rig, name: seg[2] };
  return { role: 'overseer' };
}

/** The per-town tmux socket: `gt-<sha256(path)[:6]>`, or GT_TMUX_SOCKET. */
export function tmuxSocketOf(townRoot: string, env: NodeJS.ProcessEnv = process.env): string {
  if (env.GT_TMUX_SOCKET) return env.GT_TMUX_SOCKET;
  return `gt-${crypto.createHash('sha256').update(path.resolve(townRoot)).digest('hex').slice(0, 6)}`;
}

/** Environment every agent session gets (spec §2.7). */
export function agentEnv(
  id: Identity,
  townRoot: string,
  extra: { rigPrefix?: string; session?: string; agent?: string; branch?: string; ownerEmail?: string } = {},
): Record<string, string> {
  const actor = actorOf(id);
  const env: Record<string, string> = {
    GT_ROOT: path.resolve(townRoot),
    GT_TOWN_ROOT: path.resolve(townRoot),
    GT_ROLE: actor,
    BD_ACTOR: actor,
    GIT_AUTHOR_NAME: id.name ?? actor,
    GIT_COMMITTER_NAME: id.name ?? actor,
    GIT_CEILING_DIRECTORIES: path.resolve(townRoot),
  };
  if (extra.ownerEmail) {
    env.GIT_AUTHOR_EMAIL = extra.ownerEmail;
    env.GIT_COMMITTER_EMAIL = extra.ownerEmail;
  }
  if (id.rig) env.GT_RIG = id.rig;
  if (id.role === 'polecat') {
    env.GT_POLECAT = id.name!;
    env.GT_POLECAT_PATH = workDirOf(id, townRoot);
    env.BEADS_AGENT_NAME = `${id.rig}/${id.name}`;
  }
  if (id.role === 'crew') env.GT_CREW = id.name!;
  if (extra.session) env.GT_SESSION = extra.session;
  if (extra.agent) env.GT_AGENT = extra.agent;
  if (extra.branch) env.GT_BRANCH = extra.branch;
  return env;
}
