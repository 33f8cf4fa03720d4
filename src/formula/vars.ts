// `{{var}}` substitution and step conditions (spec §6.3). Only `{{identifier}}` is a
// placeholder; handlebars blocks (`{{#if}}`, `{{/each}}`) and Go templates (`{{.x}}`,
// `{{range .files -}}`) pass through untouched, as do placeholders with no value.
import { UsageError } from '../errors.ts';
import type { Formula, VarDef } from './types.ts';

export const PLACEHOLDER = /\{\{([a-zA-Z_][a-zA-Z0-9_]*)\}\}/g;

export function substitute(text: string, vars: Record<string, string>): string;
export function substitute(text: string | undefined, vars: Record<string, string>): string | undefined;
export function substitute(text: string | undefined, vars: Record<string, string>): string | undefined {
  if (text === undefined) return undefined;
  // A few passes, so a default may mention another var ("Work on {{thing}}"); bounded against loops.
  let out = text;
  for (let pass = 0; pass < 4; pass++) {
    const next = out.replace(PLACEHOLDER, (whole, name: string) =>
      Object.hasOwn(vars, name) ? vars[name] : whole,
    );
    if (next === out) break;
    out = next;
  }
  return out;
}

/** A value as one POSIX shell word. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * Substitution into a step's `run` command, which a shell will execute: values are quoted as
 * single shell words, so a var carrying data (a bead title, an id) can never become code. Vars
 * declared `type = "command"` are configuration the town owner wrote (test and build commands)
 * and go in as written.
 */
export function substituteCommand(
  text: string | undefined,
  vars: Record<string, string>,
  commandVars: Set<string>,
): string | undefined {
  if (text === undefined) return undefined;
  return text.replace(PLACEHOLDER, (whole, name: string) => {
    if (!Object.hasOwn(vars, name)) return whole;
    return commandVars.has(name) ? vars[name] : shellQuote(vars[name]);
  });
}

export function placeholders(text: string | undefined): string[] {
  if (!text) return [];
  return [...text.matchAll(PLACEHOLDER)].map((m) => m[1]);
}

/** `--var k=v` (split on the first '='). */
export function parseVarFlags(items: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const i = item.indexOf('=');
    if (i <= 0) throw new UsageError(`--var needs key=value, got "${item}"`);
    out[item.slice(0, i)] = item.slice(i + 1);
  }
  return out;
}

/** Defaults filled in for vars not given (empty-string defaults included). */
export function applyDefaults(
  defs: Record<string, VarDef>,
  given: Record<string, string>,
): Record<string, string> {
  const out = { ...given };
  for (const [k, d] of Object.entries(defs)) if (!(k in out) && d.default !== undefined) out[k] = d.default;
  return out;
}

/**
 * Vars that must be given (spec §6.3): placeholders used in the text and declared with no
 * default, plus vars declared `required` with no default. Undeclared placeholders are documentation.
 */
export function missingVars(f: Formula, texts: string[], given: Record<string, string>): string[] {
  const used = new Set(texts.flatMap(placeholders));
  const missing = new Set<string>();
  for (const [k, d] of Object.entries(f.vars)) {
    if (k in given || d.default !== undefined) continue;
    if (used.has(k) || d.required) missing.add(k);
  }
  return [...missing].sort();
}

/** enum and pattern checks (the original parses them but never enforces them; we do). */
export function checkVarValues(f: Formula, vars: Record<string, string>): string[] {
  const problems: string[] = [];
  for (const [k, d] of Object.entries(f.vars)) {
    const v = vars[k];
    if (v === undefined) continue;
    if (d.enum?.length && !d.enum.includes(v))
      problems.push(`var ${k}="${v}" must be one of ${d.enum.join(', ')}`);
    if (d.pattern && !new RegExp(`^(?:${d.pattern})$`).test(v)) {
      problems.push(`var ${k}="${v}" does not match the pattern ${d.pattern}`);
    }
  }
  return problems;
}

function truthy(v: string): boolean {
  return v !== '' && !['false', '0', 'no', 'off'].includes(v.toLowerCase());
}

function unquote(s: string): string {
  const t = s.trim();
  if ((t.startsWith("'") && t.endsWith("'")) || (t.startsWith('"') && t.endsWith('"'))) return t.slice(1, -1);
  return t;
}

/**
 * A step condition at pour time: `{{v}}`, `!{{v}}`, `{{v}} == value`, `{{v}} != value`.
 * Anything else is an error naming the grammar.
 */
export function evalCondition(cond: string, vars: Record<string, string>): boolean {
  const c = cond.trim();
  let m = /^(!)?\s*\{\{([a-zA-Z_][a-zA-Z0-9_]*)\}\}$/.exec(c);
  if (m) {
    const v = truthy(vars[m[2]] ?? '');
    return m[1] ? !v : v;
  }
  m = /^\{\{([a-zA-Z_][a-zA-Z0-9_]*)\}\}\s*(==|!=)\s*(.+)$/.exec(c);
  if (m) {
    const eq = (vars[m[1]] ?? '') === unquote(m[3]);
    return m[2] === '==' ? eq : !eq;
  }
  throw new UsageError(
    `cannot evaluate condition "${cond}": use {{var}}, !{{var}}, {{var}} == value or {{var}} != value`,
  );
}
