// Finding formulas by name across the tiers (project `.beads/formulas/` > town `formulas/` >
// the package's built-in `formulas/`), loading them, and resolving `extends`.
import fs from 'node:fs';
import path from 'node:path';
import { GtError, NotFoundError } from '../errors.ts';
import { parseFormula } from './parse.ts';
import { type Formula, FormulaError, type Step } from './types.ts';
import { validateFormula } from './validate.ts';

export type Tier = 'path' | 'project' | 'town' | 'builtin';

export interface SearchDir {
  dir: string;
  tier: Tier;
}

export interface FormulaEntry {
  name: string;
  path: string;
  tier: Tier;
  /** Files of the same name in lower tiers that this one hides. */
  shadows: { path: string; tier: Tier }[];
}

const SUFFIXES = ['.formula.toml', '.formula.json'];

/** The package's own `formulas/` folder, found from this module whether bundled or not. */
export function builtinFormulaDir(): string {
  let dir = path.dirname(new URL(import.meta.url).pathname);
  for (let i = 0; i < 6; i++) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'formulas'))) {
      return path.join(dir, 'formulas');
    }
    dir = path.dirname(dir);
  }
  return path.join(dir, 'formulas');
}

/** Search order for a working directory: extra paths, the project, the town, the package. */
export function defaultSearchDirs(opts: {
  projectRoot?: string;
  townRoot?: string;
  extra?: string[];
}): SearchDir[] {
  const dirs: SearchDir[] = (opts.extra ?? []).map((d) => ({ dir: path.resolve(d), tier: 'path' as Tier }));
  if (opts.projectRoot)
    dirs.push({ dir: path.join(opts.projectRoot, '.beads', 'formulas'), tier: 'project' });
  if (opts.townRoot) {
    dirs.push({ dir: path.join(opts.townRoot, 'formulas'), tier: 'town' });
    dirs.push({ dir: path.join(opts.townRoot, '.beads', 'formulas'), tier: 'town' });
  }
  dirs.push({ dir: builtinFormulaDir(), tier: 'builtin' });
  // The same folder reached twice (project root = town root) is searched once.
  const seen = new Set<string>();
  return dirs.filter((d) => {
    if (seen.has(d.dir)) return false;
    seen.add(d.dir);
    return true;
  });
}

function nameOf(file: string): string | null {
  for (const s of SUFFIXES) if (file.endsWith(s)) return file.slice(0, -s.length);
  return null;
}

export class FormulaLoader {
  private parsed = new Map<string, { formula: Formula; warnings: string[] }>();
  readonly warnings: string[] = [];

  constructor(readonly dirs: SearchDir[]) {}

  list(): FormulaEntry[] {
    const byName = new Map<string, FormulaEntry>();
    for (const { dir, tier } of this.dirs) {
      let files: string[] = [];
      try {
        files = fs.readdirSync(dir).sort();
      } catch {
        continue;
      }
      for (const f of files) {
        const name = nameOf(f);
        if (!name) continue;
        const p = path.join(dir, f);
        const existing = byName.get(name);
        if (existing) existing.shadows.push({ path: p, tier });
        else byName.set(name, { name, path: p, tier, shadows: [] });
      }
    }
    return [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** The file that wins for a name, or null. */
  find(name: string): FormulaEntry | null {
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) return null;
    return this.list().find((e) => e.name === name) ?? null;
  }

  /** Parse and validate one file (memoised); warnings are collected on the loader. */
  loadFile(file: string): Formula {
    const abs = path.resolve(file);
    const hit = this.parsed.get(abs);
    if (hit) return hit.formula;
    let text: string;
    try {
      text = fs.readFileSync(abs, 'utf8');
    } catch (e: any) {
      throw new NotFoundError(
        `cannot read formula ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`,
      );
    }
    const { formula, warnings } = parseFormula(text, abs);
    const v = validateFormula(formula);
    const all = [...warnings, ...v.warnings];
    this.warnings.push(...all);
    this.parsed.set(abs, { formula, warnings: all });
    return formula;
  }

  /** A formula by name (search tiers) or by path (contains '/' or ends in .toml/.json). */
  load(nameOrPath: string): Formula {
    if (nameOrPath.includes('/') || nameOrPath.endsWith('.toml') || nameOrPath.endsWith('.json')) {
      return this.loadFile(nameOrPath);
    }
    const entry = this.find(nameOrPath);
    if (!entry) {
      const known = this.list().map((e) => e.name);
      const near = known.filter((k) => k.includes(nameOrPath) || nameOrPath.includes(k)).slice(0, 5);
      throw new NotFoundError(
        `no formula named "${nameOrPath}"${near.length ? ` (did you mean ${near.join(', ')}?)` : ''}; \`bd formula list\` shows them all`,
      );
    }
    return this.loadFile(entry.path);
  }

  /** Load and merge `extends` (parents first, child overrides; spec §6.5 step 2). */
  resolve(nameOrPath: string, chain: string[] = []): Formula {
    const f = this.load(nameOrPath);
    if (chain.includes(f.formula)) {
      throw new FormulaError(f.source, [`extends forms a cycle: ${[...chain, f.formula].join(' → ')}`]);
    }
    if (!f.extends?.length) return f;
    let merged: Formula | null = null;
    for (const parentName of f.extends) {
      const parent = this.resolve(parentName, [...chain, f.formula]);
      merged = merged ? mergeFormulas(merged, parent) : parent;
    }
    const out = mergeFormulas(merged!, f);
    // The child's identity and own fields win; extends is consumed.
    out.formula = f.formula;
    out.description = f.description ?? merged!.description;
    out.version = f.version;
    out.type = f.type;
    out.source = f.source;
    out.extends = undefined;
    out.advice = f.advice;
    out.pointcuts = f.pointcuts;
    out.phase = f.phase;
    out.pour = f.pour;
    out.template = f.template;
    validateFormula(out, { resolved: true });
    return out;
  }
}

function replaceOrAppend(base: Step[], extra: Step[]): Step[] {
  const out = [...base];
  for (const s of extra) {
    const i = out.findIndex((b) => b.id === s.id);
    if (i >= 0) out[i] = s;
    else out.push(s);
  }
  return out;
}

function mergeFormulas(parent: Formula, child: Formula): Formula {
  const compose =
    parent.compose || child.compose
      ? {
          ...(parent.compose ?? {}),
          ...(child.compose ?? {}),
          expand: [...(parent.compose?.expand ?? []), ...(child.compose?.expand ?? [])],
          map: [...(parent.compose?.map ?? []), ...(child.compose?.map ?? [])],
          bond_points: [...(parent.compose?.bond_points ?? []), ...(child.compose?.bond_points ?? [])],
          hooks: [...(parent.compose?.hooks ?? []), ...(child.compose?.hooks ?? [])],
          branch: [...(parent.compose?.branch ?? []), ...(child.compose?.branch ?? [])],
          gate: [...(parent.compose?.gate ?? []), ...(child.compose?.gate ?? [])],
          aspects: [...new Set([...(parent.compose?.aspects ?? []), ...(child.compose?.aspects ?? [])])],
        }
      : undefined;
  return {
    ...parent,
    ...child,
    vars: { ...parent.vars, ...child.vars },
    steps: replaceOrAppend(parent.steps, child.steps),
    compose,
    legs: child.legs.length ? child.legs : parent.legs,
    aspects: child.aspects.length ? child.aspects : parent.aspects,
  };
}

export function assertFormulaName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) {
    throw new GtError(`invalid formula name ${JSON.stringify(name)}: letters, digits, '.', '_' and '-'`);
  }
}
