// Where everything lives in a town (spec §2.13, without Dolt). One place for every path, so
// no module builds them by hand.
import path from 'node:path';
import { findTownRoot } from '../beads/store.ts';
import { GtError } from '../errors.ts';

export function townPaths(root: string) {
  const r = path.resolve(root);
  return {
    root: r,
    mayorDir: path.join(r, 'mayor'),
    townJson: path.join(r, 'mayor', 'town.json'),
    rigsJson: path.join(r, 'mayor', 'rigs.json'),
    daemonJson: path.join(r, 'mayor', 'daemon.json'),
    overseerJson: path.join(r, 'mayor', 'overseer.json'),
    deaconDir: path.join(r, 'deacon'),
    dogsDir: path.join(r, 'deacon', 'dogs'),
    bootDir: path.join(r, 'deacon', 'dogs', 'boot'),
    settingsDir: path.join(r, 'settings'),
    settingsJson: path.join(r, 'settings', 'config.json'),
    escalationJson: path.join(r, 'settings', 'escalation.json'),
    messagingJson: path.join(r, 'config', 'messaging.json'),
    formulasDir: path.join(r, 'formulas'),
    directivesDir: path.join(r, 'directives'),
    pluginsDir: path.join(r, 'plugins'),
    runtimeDir: path.join(r, '.runtime'),
    daemonDir: path.join(r, 'daemon'),
    gitignore: path.join(r, '.gitignore'),
  };
}

export type TownPaths = ReturnType<typeof townPaths>;

export function rigPaths(townRoot: string, rig: string) {
  const dir = path.join(path.resolve(townRoot), rig);
  return {
    dir,
    configJson: path.join(dir, 'config.json'),
    settingsDir: path.join(dir, 'settings'),
    settingsJson: path.join(dir, 'settings', 'config.json'),
    repoGit: path.join(dir, '.repo.git'),
    mayorRig: path.join(dir, 'mayor', 'rig'),
    refineryDir: path.join(dir, 'refinery'),
    refineryRig: path.join(dir, 'refinery', 'rig'),
    witnessDir: path.join(dir, 'witness'),
    crewDir: path.join(dir, 'crew'),
    polecatsDir: path.join(dir, 'polecats'),
    runtimeDir: path.join(dir, '.runtime'),
    namepoolState: path.join(dir, '.runtime', 'namepool-state.json'),
    directivesDir: path.join(dir, 'directives'),
    formulasDir: path.join(dir, '.beads', 'formulas'),
  };
}

export type RigPaths = ReturnType<typeof rigPaths>;

/** A polecat's worktree: `<rig>/polecats/<name>/<rig>/` (the extra level keeps the repo name). */
export function polecatWorktree(townRoot: string, rig: string, name: string): string {
  return path.join(rigPaths(townRoot, rig).polecatsDir, name, rig);
}

/** `<town>/.runtime/done-intent/<agent bead id>.json`: written by gt done while it runs. */
export function doneIntentFile(townRoot: string, agentBeadId: string): string {
  return path.join(townPaths(townRoot).runtimeDir, 'done-intent', `${agentBeadId}.json`);
}

export function crewClone(townRoot: string, rig: string, name: string): string {
  return path.join(rigPaths(townRoot, rig).crewDir, name);
}

/** The town containing `cwd` (or `GT_ROOT`); an error naming the fix when there is none. */
export function requireTown(cwd: string): string {
  const root = process.env.GT_ROOT ? path.resolve(process.env.GT_ROOT) : findTownRoot(cwd);
  if (!root)
    throw new GtError(
      `not inside a Gas Town (no mayor/town.json above ${cwd}): run \`gt install DIR\` first`,
    );
  return root;
}
