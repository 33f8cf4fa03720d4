// Validation of the ledger's flat config map (spec §1.5 config, §1.2 custom statuses,
// §1.3 custom types, §2.1 id settings). Pure logic: returns the value to store or throws.
import { validatePrefix } from './ids.ts';
import { STATUSES, ValidationError } from './types.ts';

export const STATUS_CATEGORIES = ['active', 'wip', 'done', 'frozen'];

const KEY_RE = /^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$/;

export function validateConfigKey(key: string): void {
  if (!KEY_RE.test(key)) {
    throw new ValidationError(
      `invalid config key ${JSON.stringify(key)}: use letters, digits, '_', '.', ':' or '-' (e.g. types.custom)`,
    );
  }
}

/** A comma list or a JSON array of strings, as types.custom and status.custom accept. */
export function splitList(value: string): string[] {
  const t = value.trim();
  if (t.startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(t);
    } catch (e: any) {
      throw new ValidationError(`cannot read ${JSON.stringify(value)} as a JSON array: ${e.message}`);
    }
    if (!Array.isArray(parsed) || parsed.some((x) => typeof x !== 'string')) {
      throw new ValidationError(`expected a JSON array of strings, got ${JSON.stringify(value)}`);
    }
    return parsed.map((s) => s.trim()).filter(Boolean);
  }
  return t
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

const NAME_RE = /^[a-z][a-z0-9_-]*$/;

/** `name` or `name:category`, names not colliding with built-in statuses (spec §1.2). */
export function parseCustomStatuses(value: string): { name: string; category: string }[] {
  const out: { name: string; category: string }[] = [];
  for (const item of splitList(value)) {
    const [name, category, ...extra] = item.split(':');
    if (extra.length || !NAME_RE.test(name) || name.length > 50) {
      throw new ValidationError(
        `invalid custom status ${JSON.stringify(item)}: a name matches ^[a-z][a-z0-9_-]*$ (up to 50), optionally followed by :${STATUS_CATEGORIES.join('|')}`,
      );
    }
    if (category !== undefined && !STATUS_CATEGORIES.includes(category)) {
      throw new ValidationError(
        `invalid category "${category}" for status "${name}": use ${STATUS_CATEGORIES.join(', ')}`,
      );
    }
    if ((STATUSES as readonly string[]).includes(name)) {
      throw new ValidationError(`"${name}" is a built-in status; custom statuses need other names`);
    }
    if (out.some((s) => s.name === name)) throw new ValidationError(`status "${name}" is listed twice`);
    out.push({ name, category: category ?? 'unspecified' });
  }
  return out;
}

export function parseCustomTypes(value: string): string[] {
  const out: string[] = [];
  for (const t of splitList(value)) {
    if (!NAME_RE.test(t) || t.length > 50) {
      throw new ValidationError(
        `invalid custom type ${JSON.stringify(t)}: a type matches ^[a-z][a-z0-9_-]*$ (up to 50 characters)`,
      );
    }
    if (!out.includes(t)) out.push(t);
  }
  return out;
}

function intIn(key: string, value: string, min: number, max: number): string {
  if (!/^\d+$/.test(value.trim()) || Number(value) < min || Number(value) > max) {
    throw new ValidationError(`${key} must be a whole number from ${min} to ${max}, got "${value}"`);
  }
  return String(Number(value));
}

/**
 * Check a value for a key the code reads and return it normalized (lists re-joined with
 * commas); other keys are free-form strings.
 */
export function validateConfigValue(key: string, value: string): string {
  validateConfigKey(key);
  if (/[\0]/.test(value)) throw new ValidationError(`the value of ${key} contains a NUL byte`);
  switch (key) {
    case 'issue_prefix':
      validatePrefix(value);
      return value;
    case 'allowed_prefixes': {
      const list = splitList(value);
      for (const p of list) validatePrefix(p);
      return list.join(',');
    }
    case 'types.custom':
    case 'types.infra':
      return parseCustomTypes(value).join(',');
    case 'status.custom':
      return parseCustomStatuses(value)
        .map((s) => (s.category === 'unspecified' ? s.name : `${s.name}:${s.category}`))
        .join(',');
    case 'issue_id_mode':
      if (value !== 'hash' && value !== 'counter') {
        throw new ValidationError(`issue_id_mode must be hash or counter, got "${value}"`);
      }
      return value;
    case 'min_hash_length':
    case 'max_hash_length':
      return intIn(key, value, 3, 8);
    case 'max_collision_prob': {
      const n = Number(value);
      if (!/^\s*[0-9.eE+-]+\s*$/.test(value) || !Number.isFinite(n) || n <= 0 || n > 1) {
        throw new ValidationError(`max_collision_prob must be a number in (0, 1], got "${value}"`);
      }
      return String(n);
    }
    default:
      return value;
  }
}

/** Keys that may not be removed. */
export const REQUIRED_CONFIG_KEYS = new Set(['issue_prefix']);

/** Cross-key rule: min_hash_length ≤ max_hash_length. */
export function validateConfig(cfg: Record<string, string>): void {
  const min = Number(cfg.min_hash_length || 3);
  const max = Number(cfg.max_hash_length || 8);
  if (min > max) {
    throw new ValidationError(`min_hash_length (${min}) cannot exceed max_hash_length (${max})`);
  }
}
