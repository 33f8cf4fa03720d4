// The cook pipeline (spec §6.5): extends → loops/branches/gates → advice → inline expand →
// compose expand/map → aspects → conditions → the proto graph (root + one bead per step).
import { GtError } from '../errors.ts';
import type { FormulaLoader } from './loader.ts';
import type { AdviceRule, AdviceStep, Formula, Step } from './types.ts';
import { walkSteps } from './validate.ts';
import {
  applyDefaults,
  checkVarValues,
  evalCondition,
  missingVars,
  substitute,
  substituteCommand,
} from './vars.ts';

export interface ProtoDep {
  type: 'blocks' | 'parent-child' | 'waits-for';
  /** Key of the target proto bead. */
  target: string;
  metadata?: string;
}

export interface ProtoBead {
  /** Proto id: `<formula>` for the root, `<parent>.<step>` for steps, `<parent>.gate-<step>` for gates. */
  key: string;
  stepId: string | null;
  title: string;
  description?: string;
  notes?: string;
  acceptance?: string;
  issue_type: string;
  priority: number;
  labels: string[];
  metadata?: Record<string, unknown>;
  assignee?: string;
  await_type?: string;
  await_id?: string;
  /** Nanoseconds (Go time.Duration), as bead.timeout. */
  timeout?: number;
  run?: string;
  deps: ProtoDep[];
}

export interface Proto {
  formula: string;
  type: Formula['type'];
  source: string;
  vars: Record<string, string>;
  root: ProtoBead;
  /** Steps and gates in formula order (parents before children). */
  steps: ProtoBead[];
  warnings: string[];
}

const STEP_TYPES = new Set(['task', 'bug', 'feature', 'epic', 'chore']);

function clone<T>(v: T): T {
  return structuredClone(v);
}

export function globMatch(glob: string, id: string): boolean {
  const re = new RegExp(
    `^${glob
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
  return re.test(id);
}

/** Go duration strings ("30m", "1h30m", "500ms") in nanoseconds; invalid → 0 (as the original). */
export function parseGoDuration(s: string | undefined): number {
  if (!s) return 0;
  const units: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  for (;;) {
    m = re.exec(s);
    if (!m) break;
    total += Number(m[1]) * units[m[2]];
    pos = re.lastIndex;
  }
  return pos === s.length && pos > 0 ? Math.round(total) : 0;
}

// ---- control flow: loops, branches, compose gates ------------------------------------------

function rewriteNeeds(s: Step, map: (id: string) => string): void {
  if (s.needs) s.needs = s.needs.map(map);
  if (s.depends_on) s.depends_on = s.depends_on.map(map);
}

function expandLoops(steps: Step[]): Step[] {
  const out: Step[] = [];
  const renamed = new Map<string, string>(); // loop id → its last expanded step
  for (const s of steps) {
    if (s.children) s.children = expandLoops(s.children);
    if (!s.loop) {
      out.push(s);
      continue;
    }
    const l = s.loop;
    let iterations: { label: string; value?: string }[] = [];
    if (l.count !== undefined)
      iterations = Array.from({ length: l.count }, (_, i) => ({ label: `iter${i + 1}` }));
    else if (l.range !== undefined) {
      const m = /^\s*(-?\d+)\s*\.\.\s*(-?\d+)\s*$/.exec(l.range);
      if (!m) throw new GtError(`step "${s.id}": loop range "${l.range}" must look like 1..5`);
      const [a, b] = [Number(m[1]), Number(m[2])];
      for (let v = a; v <= b; v++) iterations.push({ label: `iter${v - a + 1}`, value: String(v) });
    } else iterations = [{ label: 'iter1' }];
    let prevLast: string | null = null;
    const bodyIds = new Set(l.body.map((b) => b.id));
    for (const it of iterations) {
      const idOf = (b: string) => (bodyIds.has(b) ? `${s.id}.${it.label}.${b}` : b);
      const body = clone(l.body).map((b) => {
        const intra = [...(b.needs ?? []), ...(b.depends_on ?? [])].some((n) => bodyIds.has(n));
        rewriteNeeds(b, idOf);
        b.id = idOf(b.id);
        if (it.value !== undefined && l.var) {
          const sub = (t?: string) => t?.replaceAll(`{${l.var}}`, it.value!);
          b.title = sub(b.title);
          b.description = sub(b.description);
        }
        if (!intra) {
          // Entry steps of an iteration follow the previous iteration, or the loop's own needs.
          const extra = prevLast ? [prevLast] : [...(s.needs ?? []), ...(s.depends_on ?? [])];
          b.needs = [...extra, ...(b.needs ?? [])];
        }
        if (l.until !== undefined)
          b.labels = [...(b.labels ?? []), `loop:${JSON.stringify({ until: l.until, max: l.max })}`];
        return b;
      });
      out.push(...body);
      prevLast = body[body.length - 1].id;
    }
    if (prevLast) renamed.set(s.id, prevLast);
  }
  if (renamed.size) for (const s of out) rewriteNeeds(s, (id) => renamed.get(id) ?? id);
  return out;
}

function findStep(steps: Step[], id: string): Step | undefined {
  let hit: Step | undefined;
  walkSteps(steps, (s) => {
    if (s.id === id) hit = s;
  });
  return hit;
}

function applyBranchesAndGates(f: Formula): void {
  for (const br of f.compose?.branch ?? []) {
    for (const id of br.steps) {
      const s = findStep(f.steps, id);
      if (!s) throw new GtError(`compose.branch: step "${id}" does not exist`);
      s.needs = [...new Set([...(s.needs ?? []), br.from])];
    }
    const join = findStep(f.steps, br.join);
    if (!join) throw new GtError(`compose.branch: join step "${br.join}" does not exist`);
    join.needs = [...new Set([...(join.needs ?? []), ...br.steps])];
  }
  for (const g of f.compose?.gate ?? []) {
    const s = findStep(f.steps, g.before);
    if (!s) throw new GtError(`compose.gate: step "${g.before}" does not exist`);
    s.labels = [...(s.labels ?? []), `gate:${JSON.stringify({ condition: g.condition })}`];
  }
}

// ---- advice and aspects ---------------------------------------------------------------------

function adviceStep(a: AdviceStep, target: Step): Step {
  const sub = (t?: string) =>
    t?.replaceAll('{step.id}', target.id).replaceAll('{step.title}', target.title ?? '');
  return { id: sub(a.id)!, title: sub(a.title) ?? sub(a.id), description: sub(a.description), type: a.type };
}

export function applyAdvice(steps: Step[], rules: AdviceRule[]): Step[] {
  if (!rules.length) return steps;
  const out: Step[] = [];
  for (const s of steps) {
    if (s.children) s.children = applyAdvice(s.children, rules);
    const matching = rules.filter((r) => globMatch(r.target, s.id));
    if (!matching.length) {
      out.push(s);
      continue;
    }
    const before: Step[] = [];
    const after: Step[] = [];
    for (const r of matching) {
      if (r.before) before.push(adviceStep(r.before, s));
      for (const a of r.around?.before ?? []) before.push(adviceStep(a, s));
      if (r.after) after.push(adviceStep(r.after, s));
      for (const a of r.around?.after ?? []) after.push(adviceStep(a, s));
    }
    // Chain: [target's needs] → before… → target → after…
    let prev: string[] = [...(s.needs ?? [])];
    for (const b of before) {
      b.needs = prev;
      prev = [b.id];
      out.push(b);
    }
    if (before.length) s.needs = prev;
    out.push(s);
    prev = [s.id];
    for (const a of after) {
      a.needs = prev;
      prev = [a.id];
      out.push(a);
    }
  }
  return out;
}

// ---- expansions -----------------------------------------------------------------------------

function expansionSteps(exp: Formula, target: Step, vars: Record<string, string>): Step[] {
  const evars = { ...applyDefaults(exp.vars, {}), ...vars };
  const sub = (t?: string) => {
    if (t === undefined) return undefined;
    let r = t
      .replaceAll('{target.id}', target.id)
      .replaceAll('{target.title}', target.title ?? '')
      .replaceAll('{target.description}', target.description ?? '')
      .replaceAll('{target}', target.id);
    for (const [k, v] of Object.entries(evars))
      r = r.replace(new RegExp(`(?<!\\{)\\{${k}\\}(?!\\})`, 'g'), v);
    return r;
  };
  const steps = clone(exp.template).map((t) => {
    const s: Step = { ...t, id: sub(t.id)!, title: sub(t.title), description: sub(t.description) };
    if (t.needs) s.needs = t.needs.map((n) => sub(n)!);
    if (t.depends_on) s.depends_on = t.depends_on.map((n) => sub(n)!);
    return s;
  });
  const ids = new Set(steps.map((s) => s.id));
  for (const s of steps) {
    const intra = [...(s.needs ?? []), ...(s.depends_on ?? [])].some((n) => ids.has(n));
    if (!intra) s.needs = [...(target.needs ?? []), ...(target.depends_on ?? []), ...(s.needs ?? [])];
  }
  return steps;
}

function inlineExpand(loader: FormulaLoader, steps: Step[], depth = 0): Step[] {
  if (depth > 5)
    throw new GtError('expansions nest deeper than 5 levels; check for an expansion that expands itself');
  const out: Step[] = [];
  for (const s of steps) {
    if (s.children) s.children = inlineExpand(loader, s.children, depth);
    if (!s.expand) {
      out.push(s);
      continue;
    }
    const exp = loader.resolve(s.expand);
    if (exp.type !== 'expansion')
      throw new GtError(
        `step "${s.id}" expands "${s.expand}", which is a ${exp.type} formula, not an expansion`,
      );
    out.push(...inlineExpand(loader, expansionSteps(exp, s, s.expand_vars ?? {}), depth + 1));
  }
  return out;
}

function composeExpand(loader: FormulaLoader, f: Formula): void {
  const rules = [
    ...(f.compose?.expand ?? []).map((r) => ({
      match: (id: string) => id === r.target,
      with: r.with,
      vars: r.vars,
    })),
    ...(f.compose?.map ?? []).map((r) => ({
      match: (id: string) => globMatch(r.select, id),
      with: r.with,
      vars: r.vars,
    })),
  ];
  for (const rule of rules) {
    const exp = loader.resolve(rule.with);
    if (exp.type !== 'expansion')
      throw new GtError(`compose expands with "${rule.with}", which is not an expansion formula`);
    const rewrite = new Map<string, string>();
    const replace = (steps: Step[]): Step[] =>
      steps.flatMap((s) => {
        if (s.children) s.children = replace(s.children);
        if (!rule.match(s.id)) return [s];
        const expanded = expansionSteps(exp, s, rule.vars ?? {});
        if (expanded.length) rewrite.set(s.id, expanded[expanded.length - 1].id);
        return expanded;
      });
    f.steps = replace(f.steps);
    walkSteps(f.steps, (s) => rewriteNeeds(s, (id) => rewrite.get(id) ?? id));
  }
  const seen = new Set<string>();
  walkSteps(f.steps, (s) => {
    if (seen.has(s.id))
      throw new GtError(`step id "${s.id}" appears twice after expansion; rename a template step`);
    seen.add(s.id);
  });
}

// ---- conditions -----------------------------------------------------------------------------

function filterConditions(steps: Step[], vars: Record<string, string>): Step[] {
  return steps
    .filter((s) => !s.condition || evalCondition(s.condition, vars))
    .map((s) => (s.children ? { ...s, children: filterConditions(s.children, vars) } : s));
}

// ---- the proto graph ------------------------------------------------------------------------

export interface CookOptions {
  /** Vars given on the command line; when set, conditions are evaluated and required vars enforced. */
  vars?: Record<string, string>;
  /** Substitute vars into the proto (pour, wisp, cook --var / --mode=runtime). */
  substitute?: boolean;
}

export function cook(loader: FormulaLoader, nameOrPath: string, opts: CookOptions = {}): Proto {
  const f = clone(loader.resolve(nameOrPath));
  const warnings: string[] = [];
  if (f.phase === 'vapor')
    warnings.push(`${f.formula} is marked phase = "vapor": it is meant to run as a wisp`);
  f.steps = expandLoops(f.steps);
  applyBranchesAndGates(f);
  f.steps = applyAdvice(f.steps, f.advice);
  f.steps = inlineExpand(loader, f.steps);
  composeExpand(loader, f);
  for (const name of f.compose?.aspects ?? []) {
    const aspect = loader.resolve(name);
    if (aspect.type !== 'aspect')
      throw new GtError(`compose.aspects names "${name}", which is a ${aspect.type} formula, not an aspect`);
    f.steps = applyAdvice(f.steps, aspect.advice);
  }
  if (f.type === 'expansion' && !f.steps.length) {
    f.steps = expansionSteps(f, { id: 'main', title: f.formula, description: f.description }, {});
  }
  const given = opts.vars ?? {};
  const vars = applyDefaults(f.vars, given);
  if (opts.vars) f.steps = filterConditions(f.steps, vars);
  if (opts.substitute) {
    const texts: string[] = [];
    walkSteps(f.steps, (s) =>
      texts.push(s.title ?? '', s.description ?? '', s.notes ?? '', s.acceptance ?? ''),
    );
    if (f.vars.title) texts.push('{{title}}');
    if (f.vars.desc) texts.push('{{desc}}');
    const missing = missingVars(f, texts, given);
    if (missing.length) {
      throw new GtError(
        `${f.formula} needs ${missing.map((m) => `--var ${m}=...`).join(' ')}${missing
          .map((m) => (f.vars[m]?.description ? `\n  ${m}: ${f.vars[m].description}` : ''))
          .join('')}`,
      );
    }
    const bad = checkVarValues(f, vars);
    if (bad.length) throw new GtError(`${f.formula}: ${bad.join('; ')}`);
  }
  const sub = (t: string | undefined) => (opts.substitute ? substitute(t, vars) : t);
  const commandVars = new Set(
    Object.entries(f.vars)
      .filter(([, d]) => d.type === 'command')
      .map(([k]) => k),
  );
  const subRun = (t: string | undefined) => (opts.substitute ? substituteCommand(t, vars, commandVars) : t);
  const root: ProtoBead = {
    key: f.formula,
    stepId: null,
    title: sub(f.vars.title ? '{{title}}' : f.formula)!,
    description: sub(f.vars.desc ? '{{desc}}' : f.description),
    issue_type: 'molecule',
    priority: 2,
    labels: [],
    deps: [],
  };
  const steps: ProtoBead[] = [];
  const keyOf = new Map<string, string>();
  const build = (list: Step[], parentKey: string) => {
    for (const s of list) {
      const key = `${parentKey}.${s.id}`;
      keyOf.set(s.id, key);
      const hasKids = !!s.children?.length;
      const type = hasKids ? 'epic' : STEP_TYPES.has(s.type ?? '') ? s.type! : 'task';
      const labels = [...(s.labels ?? [])];
      if (s.waits_for) labels.push(`gate:${s.waits_for.startsWith('any') ? 'any-children' : 'all-children'}`);
      const bead: ProtoBead = {
        key,
        stepId: s.id,
        title: sub(s.title ?? s.id)!,
        description: sub(s.description),
        notes: sub(s.notes),
        acceptance: sub(s.acceptance),
        issue_type: type,
        priority: s.priority ?? 2,
        labels,
        metadata: s.metadata,
        assignee: s.assignee,
        run: subRun(s.run),
        deps: [{ type: 'parent-child', target: parentKey }],
      };
      steps.push(bead);
      if (s.gate) {
        const gateKey = `${parentKey}.gate-${s.id}`;
        const awaitId = s.gate.await_id ?? s.gate.id;
        steps.push({
          key: gateKey,
          stepId: null,
          title: `Gate: ${s.gate.type}${awaitId ? ` ${awaitId}` : ''}`,
          description: `Async gate for step ${s.id}`,
          issue_type: 'gate',
          priority: s.priority ?? 2,
          labels: [],
          await_type: s.gate.type,
          await_id: sub(awaitId) ?? gateKey,
          timeout: parseGoDuration(s.gate.timeout),
          deps: [{ type: 'parent-child', target: parentKey }],
        });
        bead.deps.push({ type: 'blocks', target: gateKey });
      }
      if (hasKids) build(s.children!, key);
    }
  };
  build(f.steps, root.key);
  // Second pass: needs → blocks, waits_for → waits-for (targets may come later in the file).
  const byKey = new Map(steps.map((b) => [b.key, b]));
  walkSteps(f.steps, (s) => {
    const bead = byKey.get(keyOf.get(s.id)!)!;
    for (const n of [...(s.needs ?? []), ...(s.depends_on ?? [])]) {
      const target = keyOf.get(n);
      if (target && !bead.deps.some((d) => d.target === target)) bead.deps.push({ type: 'blocks', target });
    }
    if (s.waits_for) {
      const m = /^children-of\((.+)\)$/.exec(s.waits_for);
      const spawner = m ? m[1] : s.needs?.[0];
      const target = spawner ? keyOf.get(spawner) : undefined;
      if (target) {
        const gate = s.waits_for.startsWith('any') ? 'any-children' : 'all-children';
        const existing = bead.deps.find((d) => d.target === target);
        if (existing) {
          existing.type = 'waits-for';
          existing.metadata = JSON.stringify({ gate });
        } else bead.deps.push({ type: 'waits-for', target, metadata: JSON.stringify({ gate }) });
      }
    }
  });
  return { formula: f.formula, type: f.type, source: f.source, vars, root, steps, warnings };
}
