// The polecat name pool (spec §2.5). Each rig draws polecat names from a theme of 50 names,
// chosen by hashing the rig name while avoiding themes other rigs already use. Allocation is
// the first unused name in theme order; when the pool is exhausted, names are bare numbers
// (51, 52, ...) that are never handed out twice. Which names are in use is derived from the
// `polecats/<name>` directories plus `polecats/<name>.pending` markers (a reservation made with
// O_EXCL while a polecat is being created); the rest is operational state in
// `<rig>/.runtime/namepool-state.json`. The rig settings may pin a theme (`namepool.theme`)
// and add names (`namepool.names`); the pool size is `operational.polecat.namepool_size`.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../beads/wisps.ts';
import { GtError, NotFoundError, UsageError } from '../errors.ts';
import { FileLock, pidAlive } from '../ledger/lock.ts';
import { readJsonOr, readRigs } from './files.ts';
import { RESERVED_AGENT_NAMES, validateAgentName } from './names.ts';
import { rigPaths } from './paths.ts';
import { loadRigSettings, settingValue } from './settings.ts';

/** Built-in themes, 50 names each, in allocation order. */
export const THEMES: Record<string, readonly string[]> = {
  'mad-max': [
    'furiosa',
    'nux',
    'slit',
    'rictus',
    'dementus',
    'capable',
    'toast',
    'dag',
    'cheedo',
    'valkyrie',
    'angharad',
    'ace',
    'keeper',
    'corpus',
    'organic',
    'miniboss',
    'praetorian',
    'jack',
    'glory',
    'goose',
    'fifi',
    'toecutter',
    'bubba',
    'johnny',
    'nightrider',
    'gyro',
    'feral',
    'wez',
    'humungus',
    'pappagallo',
    'savannah',
    'masterblaster',
    'aunty',
    'ironbar',
    'scrooloose',
    'warboy',
    'doof',
    'coma',
    'buzzard',
    'rockrider',
    'vuvalini',
    'citadel',
    'bullet',
    'farmer',
    'octoboss',
    'mechanic',
    'chumbucket',
    'scabrous',
    'morsov',
    'interceptor',
  ],
  minerals: [
    'obsidian',
    'quartz',
    'jasper',
    'agate',
    'onyx',
    'opal',
    'garnet',
    'topaz',
    'beryl',
    'malachite',
    'azurite',
    'pyrite',
    'galena',
    'mica',
    'feldspar',
    'calcite',
    'fluorite',
    'gypsum',
    'talc',
    'hematite',
    'magnetite',
    'cinnabar',
    'jade',
    'basalt',
    'granite',
    'marble',
    'slate',
    'flint',
    'chert',
    'zircon',
    'spinel',
    'tourmaline',
    'peridot',
    'olivine',
    'corundum',
    'ruby',
    'sapphire',
    'emerald',
    'amethyst',
    'citrine',
    'apatite',
    'barite',
    'dolomite',
    'halite',
    'kyanite',
    'rhodonite',
    'sodalite',
    'turquoise',
    'lapis',
    'serpentine',
  ],
  wasteland: [
    'rust',
    'chrome',
    'nitro',
    'scrap',
    'dust',
    'ash',
    'grit',
    'bolt',
    'gear',
    'piston',
    'valve',
    'diesel',
    'guzzoline',
    'salvage',
    'rivet',
    'wrench',
    'spanner',
    'crank',
    'clutch',
    'axle',
    'fender',
    'hubcap',
    'muffler',
    'exhaust',
    'tinder',
    'cinder',
    'ember',
    'scorch',
    'blaze',
    'flare',
    'static',
    'geiger',
    'fallout',
    'bunker',
    'outpost',
    'ridge',
    'mesa',
    'dune',
    'canyon',
    'drifter',
    'scav',
    'raider',
    'nomad',
    'vulture',
    'jackal',
    'hyena',
    'scorpion',
    'cactus',
    'mirage',
    'sandstorm',
  ],
};

export const THEME_ORDER = Object.keys(THEMES);
export const DEFAULT_POOL_SIZE = 50;
/** Custom theme lists (rig setting `namepool.names`) are capped like the original's. */
export const MAX_CUSTOM_NAMES = 2000;
/** A `.pending` marker older than this, whose owner is gone, no longer reserves its name. */
export const PENDING_TTL_MS = 10 * 60_000;

export interface NamepoolState {
  version: 1;
  rig: string;
  theme: string;
  /** The last overflow number handed out (0: none); only grows, so numbers are never reused. */
  overflow_last: number;
  updated_at: string;
}

function requireRig(townRoot: string, rig: string): void {
  const rigs = readRigs(townRoot);
  if (!rigs[rig])
    throw new NotFoundError(
      `no rig named "${rig}" (rigs: ${Object.keys(rigs).join(', ') || 'none'}); add one with \`gt rig add\``,
    );
}

export function readNamepoolState(townRoot: string, rig: string): NamepoolState | null {
  const file = rigPaths(townRoot, rig).namepoolState;
  const s = readJsonOr<NamepoolState | null>(file, `name pool state of rig ${rig}`, null);
  if (!s || typeof s !== 'object' || typeof s.theme !== 'string') return null;
  return s;
}

function writeState(townRoot: string, rig: string, s: NamepoolState): void {
  writeFileAtomic(
    rigPaths(townRoot, rig).namepoolState,
    `${JSON.stringify({ ...s, updated_at: new Date().toISOString() }, null, 2)}\n`,
  );
}

/** The theme pinned in a rig's settings, if any. */
function pinnedTheme(townRoot: string, rig: string): string | undefined {
  const v = loadRigSettings(townRoot, rig).namepool?.theme;
  return typeof v === 'string' && v ? v : undefined;
}

/** The theme a rig already uses (pinned or recorded), without choosing one. */
function knownTheme(townRoot: string, rig: string): string | undefined {
  try {
    return pinnedTheme(townRoot, rig) ?? readNamepoolState(townRoot, rig)?.theme;
  } catch {
    return undefined;
  }
}

/**
 * The theme a new rig gets: the one its name hashes to, or the next one (in theme order) that
 * no other rig uses; when every theme is taken, the hashed one. Pure given `taken`.
 */
export function chooseTheme(rig: string, taken: Iterable<string>): string {
  const used = new Set(taken);
  const h = crypto.createHash('sha256').update(rig).digest().readUInt32BE(0);
  const start = h % THEME_ORDER.length;
  for (let i = 0; i < THEME_ORDER.length; i++) {
    const t = THEME_ORDER[(start + i) % THEME_ORDER.length];
    if (!used.has(t)) return t;
  }
  return THEME_ORDER[start];
}

/** Themes used by the other registered rigs. */
export function themesInUse(townRoot: string, except?: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const other of Object.keys(readRigs(townRoot))) {
    if (other === except) continue;
    const t = knownTheme(townRoot, other);
    if (t) out.set(t, [...(out.get(t) ?? []), other]);
  }
  return out;
}

export function validateTheme(theme: string): void {
  if (!THEMES[theme])
    throw new UsageError(
      `unknown theme "${theme}": use one of ${THEME_ORDER.join(', ')} (gt namepool themes)`,
    );
}

function poolSize(townRoot: string, rig: string): number {
  const v = settingValue<unknown>('operational.polecat.namepool_size', { townRoot, rig });
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > MAX_CUSTOM_NAMES)
    throw new UsageError(
      `setting operational.polecat.namepool_size = ${JSON.stringify(v)} must be a whole number from 1 to ${MAX_CUSTOM_NAMES}`,
    );
  return n;
}

function customNames(townRoot: string, rig: string): string[] {
  const v = loadRigSettings(townRoot, rig).namepool?.names;
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
    throw new UsageError(
      `rig ${rig}: setting namepool.names must be a list of names; fix it with \`gt rig settings set ${rig} namepool.names '["name"]'\``,
    );
  return v.slice(0, MAX_CUSTOM_NAMES);
}

/** The state of a rig's pool, choosing and recording its theme on first use. */
export function ensureNamepoolState(townRoot: string, rig: string): NamepoolState {
  const existing = readNamepoolState(townRoot, rig);
  const pinned = pinnedTheme(townRoot, rig);
  if (pinned) validateTheme(pinned);
  if (existing && (!pinned || existing.theme === pinned) && THEMES[existing.theme]) {
    existing.overflow_last = Number(existing.overflow_last) || 0;
    return existing;
  }
  const state: NamepoolState = {
    version: 1,
    rig,
    theme: pinned ?? chooseTheme(rig, themesInUse(townRoot, rig).keys()),
    overflow_last: Number(existing?.overflow_last) || 0,
    updated_at: new Date().toISOString(),
  };
  writeState(townRoot, rig, state);
  return state;
}

/**
 * The next overflow number: after the pool size, after the last one handed out, and after any
 * numbered polecat or reservation that exists.
 */
function nextOverflow(townRoot: string, rig: string, state: NamepoolState): number {
  let n = Math.max(poolSize(townRoot, rig), Number(state.overflow_last) || 0) + 1;
  const used = namesInUse(townRoot, rig);
  for (const x of [...used.dirs, ...used.pending]) if (/^\d+$/.test(x)) n = Math.max(n, Number(x) + 1);
  return n;
}

/** The names of the pool in allocation order: the first `size` of the theme, then added names. */
export function poolNames(
  townRoot: string,
  rig: string,
  state = ensureNamepoolState(townRoot, rig),
): string[] {
  const names = [...THEMES[state.theme].slice(0, poolSize(townRoot, rig)), ...customNames(townRoot, rig)];
  return [...new Set(names)].filter((n) => !RESERVED_AGENT_NAMES.has(n.toLowerCase()) && isSafeName(n));
}

function isSafeName(n: string): boolean {
  try {
    validateAgentName(n, 'polecat');
    return true;
  } catch {
    return false;
  }
}

interface PendingInfo {
  pid: number;
  host: string;
  at: number;
}

function pendingPath(townRoot: string, rig: string, name: string): string {
  return path.join(rigPaths(townRoot, rig).polecatsDir, `${name}.pending`);
}

/** A `.pending` marker whose owner died (same host) or that outlived its TTL without a directory. */
function pendingIsStale(file: string): boolean {
  let info: PendingInfo | null = null;
  let age = 0;
  try {
    age = Date.now() - fs.statSync(file).mtimeMs;
    info = JSON.parse(fs.readFileSync(file, 'utf8')) as PendingInfo;
  } catch {
    info = null;
  }
  if (age < PENDING_TTL_MS) return false;
  if (info && info.host === os.hostname() && pidAlive(info.pid)) return false;
  return true;
}

/** Names in use: polecat directories plus live `.pending` reservations. */
export function namesInUse(townRoot: string, rig: string): { dirs: string[]; pending: string[] } {
  const dir = rigPaths(townRoot, rig).polecatsDir;
  const dirs: string[] = [];
  const pending: string[] = [];
  let entries: fs.Dirent[] = [];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return { dirs, pending };
  }
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    if (e.isDirectory()) dirs.push(e.name);
    else if (e.name.endsWith('.pending')) pending.push(e.name.slice(0, -'.pending'.length));
  }
  return { dirs: dirs.sort(), pending: pending.sort() };
}

function lockFor(townRoot: string, rig: string): FileLock {
  return new FileLock(path.join(rigPaths(townRoot, rig).runtimeDir, 'locks', 'namepool.lock'));
}

/** Try to reserve `name` with an exclusive `.pending` marker; false when taken. */
function reserve(townRoot: string, rig: string, name: string): boolean {
  if (fs.existsSync(path.join(rigPaths(townRoot, rig).polecatsDir, name))) return false;
  const file = pendingPath(townRoot, rig, name);
  const info: PendingInfo = { pid: process.pid, host: os.hostname(), at: Date.now() };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      fs.writeFileSync(file, JSON.stringify(info), { flag: 'wx' });
      return true;
    } catch (e: any) {
      if (e.code !== 'EEXIST') throw e;
    }
    if (!pendingIsStale(file)) return false;
    fs.rmSync(file, { force: true });
  }
  return false;
}

/**
 * Reserve the next polecat name of a rig: the first unused name of its pool, else the next
 * overflow number. The reservation is `polecats/<name>.pending`, created with O_EXCL under the
 * rig's name pool lock, so concurrent callers (other processes too) never get the same name.
 * Call `confirmPolecatName` once `polecats/<name>/` exists, or `releasePolecatName` to give it back.
 */
export function allocatePolecatName(townRoot: string, rig: string): string {
  requireRig(townRoot, rig);
  fs.mkdirSync(rigPaths(townRoot, rig).polecatsDir, { recursive: true });
  const lock = lockFor(townRoot, rig);
  lock.acquire();
  try {
    const state = ensureNamepoolState(townRoot, rig);
    for (const name of poolNames(townRoot, rig, state)) {
      if (reserve(townRoot, rig, name)) return name;
    }
    for (let n = nextOverflow(townRoot, rig, state); ; n++) {
      if (reserve(townRoot, rig, String(n))) {
        writeState(townRoot, rig, { ...state, overflow_last: n });
        return String(n);
      }
    }
  } finally {
    lock.release();
  }
}

/** Drop the `.pending` reservation once the polecat's directory exists (it now marks the name). */
export function confirmPolecatName(townRoot: string, rig: string, name: string): void {
  validateAgentName(name, 'polecat');
  if (!fs.existsSync(path.join(rigPaths(townRoot, rig).polecatsDir, name)))
    throw new GtError(`polecat ${rig}/${name} has no directory yet; create it before confirming its name`);
  fs.rmSync(pendingPath(townRoot, rig, name), { force: true });
}

/**
 * Give a name back (spawn failed, or the polecat was nuked): removes its reservation. A name
 * whose `polecats/<name>/` directory still exists stays in use. Returns whether it is free now.
 */
export function releasePolecatName(townRoot: string, rig: string, name: string): boolean {
  validateAgentName(name, 'polecat');
  fs.rmSync(pendingPath(townRoot, rig, name), { force: true });
  return !fs.existsSync(path.join(rigPaths(townRoot, rig).polecatsDir, name));
}

export interface NamepoolStatus {
  rig: string;
  theme: string;
  pinned: boolean;
  size: number;
  names: { name: string; in_use: boolean; pending: boolean }[];
  in_use: string[];
  pending: string[];
  overflow_next: number;
  /** What the next allocation would give (without reserving it). */
  next: string;
}

export function namepoolStatus(townRoot: string, rig: string): NamepoolStatus {
  requireRig(townRoot, rig);
  const state = ensureNamepoolState(townRoot, rig);
  const names = poolNames(townRoot, rig, state);
  const used = namesInUse(townRoot, rig);
  const dirs = new Set(used.dirs);
  const pend = new Set(used.pending);
  const overflowNext = nextOverflow(townRoot, rig, state);
  const next = names.find((n) => !dirs.has(n) && !pend.has(n)) ?? String(overflowNext);
  return {
    rig,
    theme: state.theme,
    pinned: !!pinnedTheme(townRoot, rig),
    size: poolSize(townRoot, rig),
    names: names.map((name) => ({ name, in_use: dirs.has(name) || pend.has(name), pending: pend.has(name) })),
    in_use: [...new Set([...used.dirs, ...used.pending])].sort(),
    pending: used.pending,
    overflow_next: overflowNext,
    next,
  };
}

/** Record a theme choice in the state (the CLI also pins it in the rig settings). */
export function setNamepoolTheme(townRoot: string, rig: string, theme: string): NamepoolState {
  requireRig(townRoot, rig);
  validateTheme(theme);
  const lock = lockFor(townRoot, rig);
  lock.acquire();
  try {
    const prev = readNamepoolState(townRoot, rig);
    const state: NamepoolState = {
      version: 1,
      rig,
      theme,
      overflow_last: Number(prev?.overflow_last) || 0,
      updated_at: new Date().toISOString(),
    };
    writeState(townRoot, rig, state);
    return state;
  } finally {
    lock.release();
  }
}

/**
 * Start the pool over: drop reservations that have no directory and forget the recorded theme
 * (it is chosen again) and the overflow counter (numbering restarts after the pool size and
 * any numbered polecat that still exists).
 */
export function resetNamepool(
  townRoot: string,
  rig: string,
): { removed_pending: string[]; state: NamepoolState } {
  requireRig(townRoot, rig);
  const lock = lockFor(townRoot, rig);
  lock.acquire();
  try {
    const used = namesInUse(townRoot, rig);
    const removed: string[] = [];
    for (const name of used.pending) {
      if (!used.dirs.includes(name)) {
        fs.rmSync(pendingPath(townRoot, rig, name), { force: true });
        removed.push(name);
      }
    }
    fs.rmSync(rigPaths(townRoot, rig).namepoolState, { force: true });
    const state = ensureNamepoolState(townRoot, rig);
    return { removed_pending: removed, state };
  } finally {
    lock.release();
  }
}
