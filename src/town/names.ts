// Names that become directories, refs, tmux sessions and bead ids: rig names, bead prefixes,
// agent names. Pure validation and derivation (spec §2.2, §2.5).
import { UsageError } from '../errors.ts';

/** Names that would collide with the town's own folders or roles. */
export const RESERVED_RIG_NAMES = new Set([
  'hq',
  'mayor',
  'deacon',
  'settings',
  'config',
  'formulas',
  'directives',
  'plugins',
  'daemon',
  'runtime',
  'town',
  'gt',
  'bd',
  'overseer',
  'templates',
  'hooks',
]);

/** Polecat and crew names that collide with role folders. */
export const RESERVED_AGENT_NAMES = new Set([
  'witness',
  'mayor',
  'deacon',
  'refinery',
  'crew',
  'polecats',
  'overseer',
]);

/** Rig names: letters, digits and `_`; no `-` `.` `/` `\` or spaces (they break session names and prefixes). */
export function validateRigName(name: string): void {
  if (!/^[A-Za-z][A-Za-z0-9_]{0,39}$/.test(name)) {
    throw new UsageError(
      `invalid rig name ${JSON.stringify(name)}: start with a letter, then letters, digits or _ (no - . / \\ or spaces, at most 40)`,
    );
  }
  if (RESERVED_RIG_NAMES.has(name.toLowerCase())) {
    throw new UsageError(`"${name}" is reserved in a town; choose another rig name`);
  }
}

/** Agent (polecat, crew, dog) names: lowercase-friendly, safe in paths, sessions and ids. */
export function validateAgentName(name: string, what = 'agent'): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$/.test(name)) {
    throw new UsageError(
      `invalid ${what} name ${JSON.stringify(name)}: letters, digits, - and _, starting with a letter or digit (at most 40)`,
    );
  }
  if (RESERVED_AGENT_NAMES.has(name.toLowerCase()))
    throw new UsageError(`"${name}" is a reserved name; choose another ${what} name`);
}

export function validateBeadPrefix(prefix: string): void {
  if (!/^[a-z][a-z0-9]{0,9}$/.test(prefix)) {
    throw new UsageError(
      `invalid prefix ${JSON.stringify(prefix)}: 1-10 lowercase letters or digits, starting with a letter`,
    );
  }
  if (prefix === 'hq') throw new UsageError('the prefix "hq" belongs to the town; choose another');
}

/** Common word endings that make a one-word name a compound ("gastown" = gas + town). */
const COMPOUND_SUFFIXES = [
  'town',
  'city',
  'hub',
  'lab',
  'labs',
  'base',
  'works',
  'forge',
  'port',
  'land',
  'ware',
  'store',
  'stack',
  'flow',
  'line',
  'point',
  'space',
  'box',
  'kit',
  'bot',
  'app',
  'desk',
  'book',
  'house',
  'shop',
  'board',
  'craft',
  'cast',
  'net',
  'web',
  'cloud',
  'data',
  'db',
];

/** Split a name into words: `-`/`_`, camelCase, then a known compound ending. */
export function nameParts(name: string): string[] {
  const parts = name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .split(/[-_\s]+/)
    .map((p) => p.toLowerCase())
    .filter(Boolean);
  if (parts.length === 1) {
    const word = parts[0];
    for (const suffix of COMPOUND_SUFFIXES) {
      if (word.length > suffix.length + 1 && word.endsWith(suffix))
        return [word.slice(0, -suffix.length), suffix];
    }
  }
  return parts;
}

/**
 * The bead prefix a rig name suggests (spec §2.2): initials of its words ("gastown" → "gt",
 * "my-project" → "mp"); a single short word stays whole, a longer one gives its first two letters.
 */
export function deriveBeadsPrefix(name: string): string {
  const parts = nameParts(name);
  if (parts.length > 1)
    return (
      parts
        .map((p) => p[0])
        .join('')
        .replace(/[^a-z0-9]/g, '') || 'rg'
    );
  const word = (parts[0] ?? name.toLowerCase()).replace(/[^a-z0-9]/g, '');
  return word.length <= 3 ? word : word.slice(0, 2);
}
