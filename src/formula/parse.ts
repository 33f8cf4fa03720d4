// Parsing `*.formula.toml` (and legacy `.formula.json`) into the Formula model. Unknown keys
// are kept out of the model and reported once per file as a warning; the originals drop them
// silently. Type errors name the file, the step and the fix.
import { parse as parseToml, TomlError } from 'smol-toml';
import {
  type AdviceRule,
  type AdviceStep,
  type ComposeRules,
  type ConvoyInput,
  FORMULA_TYPES,
  type Formula,
  FormulaError,
  type FormulaType,
  type GateSpec,
  type Leg,
  type LoopSpec,
  type Step,
  type VarDef,
} from './types.ts';

export interface ParseResult {
  formula: Formula;
  warnings: string[];
}

type Obj = Record<string, unknown>;

class Reader {
  problems: string[] = [];
  unknown = new Set<string>();
  constructor(readonly file: string) {}

  /** Note keys of `obj` that are not in `known` (case-insensitively, as the Go TOML decoder matches). */
  keys(obj: Obj, known: string[], where: string): void {
    const lower = new Set(known.map((k) => k.toLowerCase()));
    for (const k of Object.keys(obj)) if (!lower.has(k.toLowerCase())) this.unknown.add(`${where}${k}`);
  }
  get(obj: Obj, key: string): unknown {
    if (key in obj) return obj[key];
    const lk = key.toLowerCase();
    for (const k of Object.keys(obj)) if (k.toLowerCase() === lk) return obj[k];
    return undefined;
  }
  str(obj: Obj, key: string, where: string): string | undefined {
    const v = this.get(obj, key);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') {
      this.problems.push(`${where}: "${key}" must be a string, got ${describe(v)}`);
      return undefined;
    }
    return v;
  }
  /** Strings, plus numbers and booleans written without quotes (common in var defaults). */
  scalar(obj: Obj, key: string, where: string): string | undefined {
    const v = this.get(obj, key);
    if (v === undefined) return undefined;
    if (typeof v === 'string') return v;
    if (typeof v === 'number' || typeof v === 'boolean') return String(v);
    this.problems.push(`${where}: "${key}" must be a string, got ${describe(v)}`);
    return undefined;
  }
  int(obj: Obj, key: string, where: string): number | undefined {
    const v = this.get(obj, key);
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v)) {
      this.problems.push(`${where}: "${key}" must be a whole number, got ${describe(v)}`);
      return undefined;
    }
    return v;
  }
  bool(obj: Obj, key: string, where: string): boolean | undefined {
    const v = this.get(obj, key);
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') {
      this.problems.push(`${where}: "${key}" must be true or false, got ${describe(v)}`);
      return undefined;
    }
    return v;
  }
  strList(obj: Obj, key: string, where: string): string[] | undefined {
    const v = this.get(obj, key);
    if (v === undefined) return undefined;
    if (typeof v === 'string') return [v];
    if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
      this.problems.push(`${where}: "${key}" must be a list of strings, e.g. ${key} = ["a", "b"]`);
      return undefined;
    }
    return v as string[];
  }
  table(obj: Obj, key: string, where: string): Obj | undefined {
    const v = this.get(obj, key);
    if (v === undefined) return undefined;
    if (!isObj(v)) {
      this.problems.push(`${where}: "${key}" must be a table`);
      return undefined;
    }
    return v;
  }
  tables(obj: Obj, key: string, where: string): Obj[] {
    const v = this.get(obj, key);
    if (v === undefined) return [];
    if (!Array.isArray(v) || v.some((x) => !isObj(x))) {
      this.problems.push(`${where}: "${key}" must be an array of tables ([[${key}]])`);
      return [];
    }
    return v as Obj[];
  }
  strMap(obj: Obj, key: string, where: string): Record<string, string> | undefined {
    const t = this.table(obj, key, where);
    if (!t) return undefined;
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(t)) {
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') out[k] = String(v);
      else this.problems.push(`${where}: "${key}.${k}" must be a string`);
    }
    return out;
  }
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'a list';
  if (isObj(v)) return 'a table';
  return `${typeof v} ${JSON.stringify(v)}`;
}

const TOP_KEYS = [
  'formula',
  'name',
  'description',
  'version',
  'type',
  'extends',
  'phase',
  'pour',
  'agent',
  'review_only',
  'vars',
  'steps',
  'template',
  'advice',
  'pointcuts',
  'compose',
  'aspects',
  'inputs',
  'prompts',
  'output',
  'legs',
  'synthesis',
  'presets',
  'squash',
];
const STEP_KEYS = [
  'id',
  'title',
  'description',
  'notes',
  'type',
  'priority',
  'labels',
  'metadata',
  'depends_on',
  'needs',
  'waits_for',
  'assignee',
  'condition',
  'children',
  'gate',
  'loop',
  'expand',
  'expand_vars',
  'on_complete',
  'acceptance',
  'parallel',
  'interactive',
  'run',
];

function readStep(r: Reader, o: Obj, where: string): Step {
  const id = r.str(o, 'id', where) ?? '';
  const at = `${where} "${id || '?'}"`;
  r.keys(o, STEP_KEYS, `${at}.`);
  if (!id) r.problems.push(`${where}: a step has no id; add id = "..."`);
  const step: Step = { id };
  const s = (k: keyof Step & string) => r.str(o, k, at);
  step.title = s('title');
  step.description = s('description');
  step.notes = s('notes');
  step.type = s('type');
  step.assignee = s('assignee');
  step.condition = s('condition');
  step.waits_for = s('waits_for');
  step.expand = s('expand');
  step.acceptance = s('acceptance');
  step.run = s('run');
  step.priority = r.int(o, 'priority', at);
  if (step.priority !== undefined && (step.priority < 0 || step.priority > 4)) {
    r.problems.push(`${at}: priority ${step.priority} is out of range 0-4`);
  }
  step.labels = r.strList(o, 'labels', at);
  step.needs = r.strList(o, 'needs', at);
  step.depends_on = r.strList(o, 'depends_on', at);
  step.parallel = r.bool(o, 'parallel', at);
  step.interactive = r.bool(o, 'interactive', at);
  const meta = r.table(o, 'metadata', at);
  if (meta) step.metadata = meta;
  step.expand_vars = r.strMap(o, 'expand_vars', at);
  const children = r.tables(o, 'children', at);
  if (children.length) step.children = children.map((c) => readStep(r, c, `${at} child`));
  const gate = r.table(o, 'gate', at);
  if (gate) {
    r.keys(gate, ['type', 'id', 'await_id', 'timeout', 'condition'], `${at}.gate.`);
    const g: GateSpec = { type: r.str(gate, 'type', `${at}.gate`) ?? '' };
    if (!g.type) r.problems.push(`${at}: gate needs a type (timer, human, bead, gh:run, gh:pr, ...)`);
    g.id = r.str(gate, 'id', `${at}.gate`);
    g.await_id = r.str(gate, 'await_id', `${at}.gate`);
    g.timeout = r.scalar(gate, 'timeout', `${at}.gate`);
    g.condition = r.str(gate, 'condition', `${at}.gate`);
    step.gate = g;
  }
  const loop = r.table(o, 'loop', at);
  if (loop) {
    r.keys(loop, ['count', 'until', 'max', 'range', 'var', 'body'], `${at}.loop.`);
    const l: LoopSpec = {
      count: r.int(loop, 'count', `${at}.loop`),
      until: r.str(loop, 'until', `${at}.loop`),
      max: r.int(loop, 'max', `${at}.loop`),
      range: r.str(loop, 'range', `${at}.loop`),
      var: r.str(loop, 'var', `${at}.loop`),
      body: r.tables(loop, 'body', `${at}.loop`).map((b) => readStep(r, b, `${at} loop body`)),
    };
    step.loop = l;
  }
  const oc = r.table(o, 'on_complete', at);
  if (oc) {
    r.keys(oc, ['for_each', 'bond', 'vars', 'parallel', 'sequential'], `${at}.on_complete.`);
    step.on_complete = {
      for_each: r.str(oc, 'for_each', `${at}.on_complete`),
      bond: r.str(oc, 'bond', `${at}.on_complete`),
      vars: r.strMap(oc, 'vars', `${at}.on_complete`),
      parallel: r.bool(oc, 'parallel', `${at}.on_complete`),
      sequential: r.bool(oc, 'sequential', `${at}.on_complete`),
    };
  }
  return prune(step);
}

function readAdviceStep(r: Reader, o: Obj, where: string): AdviceStep {
  r.keys(o, ['id', 'title', 'description', 'type', 'args', 'output'], `${where}.`);
  return prune({
    id: r.str(o, 'id', where) ?? '',
    title: r.str(o, 'title', where),
    description: r.str(o, 'description', where),
    type: r.str(o, 'type', where),
    args: r.strMap(o, 'args', where),
    output: r.strMap(o, 'output', where),
  });
}

function readVars(r: Reader, o: Obj | undefined): Record<string, VarDef> {
  const out: Record<string, VarDef> = {};
  if (!o) return out;
  for (const [name, v] of Object.entries(o)) {
    const at = `var "${name}"`;
    if (typeof v === 'string') {
      out[name] = { default: v };
      continue;
    }
    if (!isObj(v)) {
      r.problems.push(`${at}: must be a table like [vars.${name}] or a default string`);
      continue;
    }
    r.keys(v, ['description', 'default', 'required', 'enum', 'pattern', 'type'], `vars.${name}.`);
    out[name] = prune({
      description: r.str(v, 'description', at),
      default: r.scalar(v, 'default', at),
      required: r.bool(v, 'required', at),
      enum: r.strList(v, 'enum', at),
      pattern: r.str(v, 'pattern', at),
      type: r.str(v, 'type', at),
    });
  }
  return out;
}

function readCompose(r: Reader, o: Obj | undefined): ComposeRules | undefined {
  if (!o) return undefined;
  r.keys(o, ['bond_points', 'hooks', 'expand', 'map', 'branch', 'gate', 'aspects'], 'compose.');
  const c: ComposeRules = {};
  const rules = (key: string, fields: string[]) =>
    r.tables(o, key, 'compose').map((t) => {
      r.keys(t, fields, `compose.${key}.`);
      return t as any;
    });
  const bp = rules('bond_points', ['id', 'description', 'after_step', 'before_step', 'parallel']);
  if (bp.length) c.bond_points = bp;
  const hooks = rules('hooks', ['trigger', 'attach', 'at', 'vars']);
  if (hooks.length) c.hooks = hooks;
  const expand = rules('expand', ['target', 'with', 'vars']);
  if (expand.length) c.expand = expand;
  const map = rules('map', ['select', 'with', 'vars']);
  if (map.length) c.map = map;
  const branch = rules('branch', ['from', 'steps', 'join']);
  if (branch.length) c.branch = branch;
  const gate = rules('gate', ['before', 'condition']);
  if (gate.length) c.gate = gate;
  const aspects = r.strList(o, 'aspects', 'compose');
  if (aspects) c.aspects = aspects;
  return c;
}

/** Drop undefined fields so models compare and serialise cleanly. */
function prune<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

/** Parse formula text. Throws FormulaError (all problems at once) when it cannot be read. */
export function parseFormula(text: string, file: string): ParseResult {
  let raw: Obj;
  try {
    raw = file.endsWith('.json') ? JSON.parse(text) : (parseToml(text) as Obj);
  } catch (e: any) {
    const where = e instanceof TomlError ? ` at line ${e.line}, column ${e.column}` : '';
    throw new FormulaError(file, [
      `not valid ${file.endsWith('.json') ? 'JSON' : 'TOML'}${where}: ${String(e.message).split('\n')[0]}`,
    ]);
  }
  const r = new Reader(file);
  r.keys(raw, TOP_KEYS, '');
  const name = r.str(raw, 'formula', 'formula') ?? r.str(raw, 'name', 'formula') ?? '';
  if (!name) r.problems.push('"formula" (the formula name) is required, e.g. formula = "mol-my-work"');
  const version = r.int(raw, 'version', 'formula') ?? 1;
  if (version < 1) r.problems.push(`version must be ≥ 1, got ${version}`);
  const steps = r.tables(raw, 'steps', 'formula').map((s) => readStep(r, s, 'step'));
  const template = r.tables(raw, 'template', 'formula').map((s) => readStep(r, s, 'template step'));
  const legs: Leg[] = r.tables(raw, 'legs', 'formula').map((l) => {
    r.keys(l, ['id', 'title', 'focus', 'description', 'agent', 'review_only'], 'legs.');
    return prune({
      id: r.str(l, 'id', 'leg') ?? '',
      title: r.str(l, 'title', 'leg'),
      focus: r.str(l, 'focus', 'leg'),
      description: r.str(l, 'description', 'leg'),
      agent: r.str(l, 'agent', 'leg'),
      review_only: r.bool(l, 'review_only', 'leg'),
    });
  });
  const aspects = r.tables(raw, 'aspects', 'formula').map((a) => {
    r.keys(a, ['id', 'title', 'focus', 'description'], 'aspects.');
    return prune({
      id: r.str(a, 'id', 'aspect') ?? '',
      title: r.str(a, 'title', 'aspect'),
      focus: r.str(a, 'focus', 'aspect'),
      description: r.str(a, 'description', 'aspect'),
    });
  });
  const advice: AdviceRule[] = r.tables(raw, 'advice', 'formula').map((a) => {
    r.keys(a, ['target', 'before', 'after', 'around'], 'advice.');
    const rule: AdviceRule = { target: r.str(a, 'target', 'advice') ?? '' };
    const before = r.table(a, 'before', 'advice');
    const after = r.table(a, 'after', 'advice');
    const around = r.table(a, 'around', 'advice');
    if (before) rule.before = readAdviceStep(r, before, 'advice.before');
    if (after) rule.after = readAdviceStep(r, after, 'advice.after');
    if (around) {
      r.keys(around, ['before', 'after'], 'advice.around.');
      rule.around = {
        before: r
          .tables(around, 'before', 'advice.around')
          .map((s) => readAdviceStep(r, s, 'advice.around.before')),
        after: r
          .tables(around, 'after', 'advice.around')
          .map((s) => readAdviceStep(r, s, 'advice.around.after')),
      };
    }
    if (!rule.target) r.problems.push('an [[advice]] rule has no target');
    return rule;
  });
  const inputsTable = r.table(raw, 'inputs', 'formula');
  let inputs: Record<string, ConvoyInput> | undefined;
  if (inputsTable) {
    inputs = {};
    for (const [k, v] of Object.entries(inputsTable)) {
      if (!isObj(v)) {
        r.problems.push(`input "${k}" must be a table [inputs.${k}]`);
        continue;
      }
      r.keys(v, ['description', 'type', 'required', 'required_unless', 'default'], `inputs.${k}.`);
      inputs[k] = prune({
        description: r.str(v, 'description', `input "${k}"`),
        type: r.str(v, 'type', `input "${k}"`),
        required: r.bool(v, 'required', `input "${k}"`),
        required_unless: r.strList(v, 'required_unless', `input "${k}"`),
        default: r.scalar(v, 'default', `input "${k}"`),
      });
    }
  }
  const synthesisTable = r.table(raw, 'synthesis', 'formula');
  const outputTable = r.table(raw, 'output', 'formula');
  const typeRaw = r.str(raw, 'type', 'formula');
  let type: FormulaType;
  if (typeRaw) {
    if (!FORMULA_TYPES.includes(typeRaw as FormulaType)) {
      r.problems.push(`type "${typeRaw}" is not one of ${FORMULA_TYPES.join(', ')}`);
    }
    type = typeRaw as FormulaType;
  } else {
    // Gas Town's inference (spec §6.2); beads defaults to workflow.
    type = legs.length
      ? 'convoy'
      : template.length && !steps.length
        ? 'expansion'
        : aspects.length
          ? 'aspect'
          : 'workflow';
  }
  const phase = r.str(raw, 'phase', 'formula');
  if (phase && phase !== 'liquid' && phase !== 'vapor')
    r.problems.push(`phase must be "liquid" or "vapor", got "${phase}"`);
  const formula: Formula = prune({
    formula: name,
    description: r.str(raw, 'description', 'formula'),
    version,
    type,
    extends: r.strList(raw, 'extends', 'formula'),
    phase: phase as Formula['phase'],
    pour: r.bool(raw, 'pour', 'formula'),
    agent: r.str(raw, 'agent', 'formula'),
    review_only: r.bool(raw, 'review_only', 'formula'),
    vars: readVars(r, r.table(raw, 'vars', 'formula')),
    steps,
    template,
    advice,
    pointcuts: r.tables(raw, 'pointcuts', 'formula') as Formula['pointcuts'],
    compose: readCompose(r, r.table(raw, 'compose', 'formula')),
    aspects,
    inputs,
    prompts: r.strMap(raw, 'prompts', 'formula'),
    output: outputTable as Formula['output'],
    legs,
    synthesis: synthesisTable
      ? prune({
          title: r.str(synthesisTable, 'title', 'synthesis'),
          description: r.str(synthesisTable, 'description', 'synthesis'),
          depends_on: r.strList(synthesisTable, 'depends_on', 'synthesis'),
        })
      : undefined,
    presets: r.get(raw, 'presets'),
    squash: r.get(raw, 'squash'),
    source: file,
  });
  if (r.problems.length) throw new FormulaError(file, r.problems);
  const warnings = r.unknown.size
    ? [`${file}: ignoring unknown keys: ${[...r.unknown].sort().join(', ')}`]
    : [];
  return { formula, warnings };
}
