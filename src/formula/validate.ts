// Formula validation (beads `Validate` plus Gas Town's per-type checks), with errors that
// name the file, the step, what is wrong and how to fix it.
import { type Formula, FormulaError, type Step } from './types.ts';

/** Every step, children and loop bodies included, with the path of ids above it. */
export function walkSteps(
  steps: Step[],
  fn: (s: Step, parents: string[]) => void,
  parents: string[] = [],
): void {
  for (const s of steps) {
    fn(s, parents);
    if (s.children) walkSteps(s.children, fn, [...parents, s.id]);
    if (s.loop) walkSteps(s.loop.body, fn, [...parents, s.id]);
  }
}

const WAITS_FOR = /^(all-children|any-children|children-of\([A-Za-z0-9_.{}-]+\))$/;

export function stepDeps(s: Step): string[] {
  return [...(s.needs ?? []), ...(s.depends_on ?? [])];
}

/** A cycle in the needs graph, as a list of ids (first = last), or null. Iterative: 30k-step chains. */
export function findNeedsCycle(steps: Map<string, string[]>): string[] | null {
  const state = new Map<string, 1 | 2>();
  for (const start of steps.keys()) {
    if (state.has(start)) continue;
    const stack: { id: string; i: number }[] = [{ id: start, i: 0 }];
    state.set(start, 1);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const deps = steps.get(top.id) ?? [];
      if (top.i < deps.length) {
        const n = deps[top.i++];
        if (!steps.has(n)) continue;
        const st = state.get(n);
        if (st === 1) {
          const path = stack.map((f) => f.id);
          return [...path.slice(path.indexOf(n)), n];
        }
        if (st === undefined) {
          state.set(n, 1);
          stack.push({ id: n, i: 0 });
        }
        continue;
      }
      state.set(top.id, 2);
      stack.pop();
    }
  }
  return null;
}

export interface Validation {
  warnings: string[];
}

/** Check a formula; throws FormulaError listing every problem. */
export function validateFormula(f: Formula, opts: { resolved?: boolean } = {}): Validation {
  const errors: string[] = [];
  const warnings: string[] = [];
  for (const [name, v] of Object.entries(f.vars)) {
    if (v.required && v.default !== undefined) {
      warnings.push(
        `${f.source}: var "${name}" is both required and has a default; the default is used when it is not given`,
      );
    }
    if (v.pattern) {
      try {
        new RegExp(v.pattern);
      } catch {
        errors.push(`var "${name}": pattern ${JSON.stringify(v.pattern)} is not a valid regular expression`);
      }
    }
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      errors.push(`var "${name}": names are letters, digits and _ (they are used as {{${name}}})`);
    }
  }
  const checkGraph = (steps: Step[], what: string) => {
    const ids = new Map<string, number>();
    walkSteps(steps, (s) => ids.set(s.id, (ids.get(s.id) ?? 0) + 1));
    for (const [id, n] of ids)
      if (n > 1 && id) errors.push(`${what} "${id}" is defined ${n} times; step ids must be unique`);
    const graph = new Map<string, string[]>();
    walkSteps(steps, (s) => {
      if (!s.title && !s.expand && what === 'step') {
        errors.push(`step "${s.id}" has no title; add title = "..." (only expand steps may omit it)`);
      }
      for (const n of stepDeps(s)) {
        if (!ids.has(n)) {
          const near = [...ids.keys()].filter((k) => k.includes(n) || n.includes(k)).slice(0, 3);
          errors.push(
            `${what} "${s.id}" needs "${n}", which is not a step of this formula${near.length ? ` (did you mean ${near.join(', ')}?)` : ''}`,
          );
        }
      }
      if (s.waits_for && !WAITS_FOR.test(s.waits_for)) {
        errors.push(
          `${what} "${s.id}": waits_for "${s.waits_for}" must be all-children, any-children or children-of(<step>)`,
        );
      }
      const oc = s.on_complete;
      if (oc) {
        if (!!oc.for_each !== !!oc.bond)
          errors.push(`${what} "${s.id}": on_complete needs both for_each and bond, or neither`);
        if (oc.for_each && !oc.for_each.startsWith('output.')) {
          errors.push(
            `${what} "${s.id}": on_complete.for_each must start with "output.", got "${oc.for_each}"`,
          );
        }
        if (oc.parallel && oc.sequential)
          errors.push(`${what} "${s.id}": on_complete cannot be both parallel and sequential`);
      }
      if (s.loop) {
        const l = s.loop;
        const modes = [l.count !== undefined, l.until !== undefined, l.range !== undefined].filter(
          Boolean,
        ).length;
        if (modes !== 1) errors.push(`${what} "${s.id}": a loop needs exactly one of count, until or range`);
        if (l.until !== undefined && !l.max) errors.push(`${what} "${s.id}": a loop with until needs max`);
        if (l.count !== undefined && l.count < 1) errors.push(`${what} "${s.id}": loop count must be ≥ 1`);
        if (!l.body.length)
          errors.push(`${what} "${s.id}": a loop needs at least one [[steps.loop.body]] step`);
      }
      graph.set(s.id, stepDeps(s));
    });
    const cycle = findNeedsCycle(graph);
    if (cycle) errors.push(`${what}s form a cycle: ${cycle.join(' → ')}; remove one of these needs`);
  };
  checkGraph(f.steps, 'step');
  if (f.template.length) checkGraph(f.template, 'template step');
  for (const bp of f.compose?.bond_points ?? []) {
    for (const ref of [bp.after_step, bp.before_step]) {
      let found = false;
      walkSteps(f.steps, (s) => {
        if (s.id === ref) found = true;
      });
      if (ref && !found) errors.push(`bond point "${bp.id}" refers to step "${ref}", which does not exist`);
    }
  }
  switch (f.type) {
    case 'workflow':
      if (!f.steps.length && !f.extends?.length && !opts.resolved) {
        errors.push('a workflow formula needs at least one [[steps]] entry (or extends = ["parent"])');
      }
      break;
    case 'convoy': {
      if (!f.legs.length) errors.push('a convoy formula needs at least one [[legs]] entry');
      const legIds = new Set(f.legs.map((l) => l.id));
      for (const l of f.legs) if (!l.id) errors.push('a [[legs]] entry has no id');
      for (const d of f.synthesis?.depends_on ?? []) {
        if (!legIds.has(d))
          errors.push(`synthesis depends on "${d}", which is not a leg (${[...legIds].join(', ')})`);
      }
      for (const [k, inp] of Object.entries(f.inputs ?? {})) {
        for (const u of inp.required_unless ?? []) {
          if (!f.inputs?.[u])
            errors.push(`input "${k}": required_unless names "${u}", which is not an input`);
        }
      }
      break;
    }
    case 'expansion':
      if (!f.template.length) errors.push('an expansion formula needs at least one [[template]] step');
      break;
    case 'aspect':
      if (!f.aspects.length && !f.advice.length) {
        errors.push('an aspect formula needs [[aspects]] entries or [[advice]] rules');
      }
      break;
  }
  if (errors.length) throw new FormulaError(f.source, errors);
  return { warnings };
}
