// Bead IDs exactly as the original generates them (spec §2): prefix + base36 of SHA-256,
// adaptive length 3-8, nonce retries, hierarchical child ids `parent.N`. Pure logic.
import crypto from 'node:crypto';
import { ValidationError } from './types.ts';

const BYTES_FOR_LENGTH: Record<number, number> = { 3: 2, 4: 3, 5: 4, 6: 4, 7: 5, 8: 5 };

export function generateHashId(
  prefix: string,
  title: string,
  description: string,
  creator: string,
  createdAt: Date,
  length: number,
  nonce: number,
): string {
  const nanos = BigInt(createdAt.getTime()) * 1_000_000n;
  const content = `${title}|${description}|${creator}|${nanos}|${nonce}`;
  const h = crypto.createHash('sha256').update(content, 'utf8').digest();
  const numBytes = BYTES_FOR_LENGTH[length] ?? 3;
  let n = 0;
  for (let i = 0; i < numBytes; i++) n = n * 256 + h[i];
  const s = n.toString(36).padStart(length, '0').slice(-length);
  return `${prefix}-${s}`;
}

/** Smallest length in [min,max] whose birthday collision probability stays under `maxProb` (spec §2.1). */
export function adaptiveLength(existingTopLevel: number, min = 3, max = 8, maxProb = 0.25): number {
  for (let L = min; L <= max; L++) {
    const p = 1 - Math.exp(-(existingTopLevel * existingTopLevel) / (2 * 36 ** L));
    if (p <= maxProb) return L;
  }
  return max;
}

/** Try lengths from the adaptive base up to 8, ten nonces each, until `taken` says no (spec §2.1). */
export function generateUniqueId(
  input: { prefix: string; title: string; description: string; creator: string; createdAt: Date },
  baseLength: number,
  taken: (id: string) => boolean,
): string {
  for (let length = baseLength; length <= 8; length++) {
    for (let nonce = 0; nonce < 10; nonce++) {
      const id = generateHashId(
        input.prefix,
        input.title,
        input.description,
        input.creator,
        input.createdAt,
        length,
        nonce,
      );
      if (!taken(id)) return id;
    }
  }
  throw new Error(`could not generate a unique id after ${(9 - baseLength) * 10} tries; retry the command`);
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_-]*-[A-Za-z0-9_.-]+$/;

/** IDs become file names and ref paths: refuse anything that could escape or confuse them. */
export function validateId(id: string): void {
  if (
    typeof id !== 'string' ||
    id.length === 0 ||
    id.length > 255 ||
    !ID_RE.test(id) ||
    id.includes('..') ||
    id.endsWith('.') ||
    id.endsWith('.lock')
  ) {
    throw new ValidationError(
      `invalid id ${JSON.stringify(id)}: an id is <prefix>-<suffix> of letters, digits, '-', '_' and '.' (e.g. bd-a1b2)`,
    );
  }
}

export function validatePrefix(prefix: string): void {
  if (!/^[a-z0-9][a-z0-9_-]{0,30}$/i.test(prefix) || prefix.endsWith('-')) {
    throw new ValidationError(
      `invalid prefix ${JSON.stringify(prefix)}: use letters, digits, '-' or '_' (up to 31, e.g. "bd" or "gt")`,
    );
  }
}

/** Split `bd-abc.1.2` into parent `bd-abc.1` and child number 2; null for top-level ids. */
export function parseHierarchicalId(id: string): { parent: string; n: number } | null {
  const dot = id.lastIndexOf('.');
  if (dot < 0) return null;
  const n = Number(id.slice(dot + 1));
  if (!Number.isInteger(n) || n <= 0 || String(n) !== id.slice(dot + 1)) return null;
  return { parent: id.slice(0, dot), n };
}

export function isTopLevel(id: string): boolean {
  return !id.includes('.');
}

/** The prefix of an id: everything before the last '-' of the part before any dot. */
export function extractPrefix(id: string): string {
  const top = id.split('.')[0];
  const i = top.lastIndexOf('-');
  return i < 0 ? '' : top.slice(0, i);
}

/** Shard directory for a record, so no tree gets huge: 256 buckets by a hash of the id. */
export function shardOf(id: string): string {
  return crypto.createHash('sha1').update(id).digest('hex').slice(0, 2);
}
