// bd commands for the workflow engine: formula list|show, cook, mol pour|wisp|current|
// progress|show|squash|burn|bond, gate create|list|show|resolve|check.

import { buildGraph, type Graph } from '../../beads/graph.ts';
import { type BeadStore, findTownRoot } from '../../beads/store.ts';
import { GtError, NotFoundError, UsageError } from '../../errors.ts';
import { cook, type Proto, parseGoDuration } from '../../formula/cook.ts';
import { checkGates, createGate, GATE_TYPES, gateStatus, resolveGate } from '../../formula/gates.ts';
import { defaultSearchDirs, FormulaLoader } from '../../formula/loader.ts';
import {
  type BondType,
  bond,
  burn,
  currentMoleculeFor,
  gcWisps,
  instantiate,
  listWisps,
  type MoleculeProgress,
  markVirtualSteps,
  moleculeMembers,
  moleculeProgress,
  readySteps,
  rootOnlyInfo,
  squash,
  virtualSteps,
} from '../../formula/molecule.ts';
import { parseVarFlags } from '../../formula/vars.ts';
import { findRepo } from '../../git/repo.ts';
import { loadCodec } from '../../ledger/codec.ts';
import type { CommandDef, Ctx, Output } from '../framework.ts';
import { listFlag, publicBead, withStore } from './common.ts';

export function loaderFor(cwd: string, extra: string[] = []): FormulaLoader {
  const repo = findRepo(cwd);
  return new FormulaLoader(
    defaultSearchDirs({ projectRoot: repo?.workTree, townRoot: findTownRoot(cwd) ?? undefined, extra }),
  );
}

function warnAll(ctx: Ctx, loader: FormulaLoader, proto?: Proto): void {
  for (const w of [...new Set([...loader.warnings, ...(proto?.warnings ?? [])])]) ctx.warn(`warning: ${w}`);
}

const searchPath = {
  type: 'string',
  multiple: true,
  desc: 'extra folder to search first',
  arg: 'DIR',
} as const;
const varOpt = { type: 'string', multiple: true, desc: 'variable value', arg: 'K=V' } as const;

// ---- formula list / show --------------------------------------------------------------------

const formulaList: CommandDef = {
  name: 'list',
  summary: 'Formulas by name, and which file wins (project > town > built-in)',
  usage: 'bd formula list [--search-path DIR]',
  options: { 'search-path': searchPath },
  run(ctx, { values }) {
    const loader = loaderFor(ctx.cwd, values['search-path']);
    const rows = loader.list().map((e) => {
      let info: { type?: string; version?: number; description?: string; error?: string } = {};
      try {
        const f = loader.loadFile(e.path);
        info = { type: f.type, version: f.version, description: f.description?.trim().split('\n')[0] };
      } catch (err: any) {
        info = { error: err.message };
      }
      return { ...e, ...info };
    });
    warnAll(ctx, loader);
    const text = rows
      .map(
        (r) =>
          `${ctx.color.cyan(r.name.padEnd(28))} ${(r.type ?? 'ERROR').padEnd(10)} ${ctx.color.dim(r.tier.padEnd(8))} ${r.error ? ctx.color.red(r.error) : (r.description ?? '')}${r.shadows.length ? ctx.color.dim(` (shadows ${r.shadows.map((s) => s.tier).join(', ')})`) : ''}`,
      )
      .join('\n');
    return { data: rows, text: text || 'No formulas found.' };
  },
};

const formulaShow: CommandDef = {
  name: 'show',
  summary: 'A formula resolved (extends merged): vars, steps, and the file it came from',
  usage: 'bd formula show NAME|PATH [--search-path DIR]',
  args: [1, 1],
  options: { 'search-path': searchPath },
  run(ctx, { values, positionals }) {
    const loader = loaderFor(ctx.cwd, values['search-path']);
    const f = loader.resolve(positionals[0]);
    const entry = loader.find(f.formula);
    warnAll(ctx, loader);
    const { source, ...rest } = f;
    const data = { ...rest, path: source, tier: entry?.tier ?? 'path', shadows: entry?.shadows ?? [] };
    const lines = [
      `${ctx.color.bold(f.formula)} (${f.type}, version ${f.version}) from ${source} [${data.tier}]`,
      ...(f.description ? ['', f.description.trim()] : []),
    ];
    const vars = Object.entries(f.vars);
    if (vars.length) {
      lines.push('', 'Vars:');
      for (const [k, v] of vars) {
        lines.push(
          `  ${k}${v.required ? ' (required)' : ''}${v.default !== undefined ? ` = ${JSON.stringify(v.default)}` : ''}${v.description ? `: ${v.description}` : ''}`,
        );
      }
    }
    if (f.steps.length) {
      lines.push('', `Steps (${f.steps.length}):`);
      for (const s of f.steps.slice(0, 200)) {
        lines.push(
          `  ${s.id}: ${s.title ?? ''}${s.needs?.length ? ctx.color.dim(` ← ${s.needs.join(', ')}`) : ''}`,
        );
      }
      if (f.steps.length > 200) lines.push(`  ... ${f.steps.length - 200} more`);
    }
    if (f.legs.length) lines.push('', `Legs: ${f.legs.map((l) => l.id).join(', ')}`);
    return { data, text: lines.join('\n') };
  },
};

const formula: CommandDef = {
  name: 'formula',
  summary: 'List and inspect workflow formulas',
  usage: 'bd formula list|show',
  sub: [formulaList, formulaShow],
};

// ---- cook -----------------------------------------------------------------------------------

function protoTree(p: Proto): string {
  const lines = [`${p.root.key}: ${p.root.title} [${p.root.issue_type}]`];
  for (const s of p.steps) {
    const depth = s.key.split('.').length - p.root.key.split('.').length;
    const needs = s.deps
      .filter((d) => d.type !== 'parent-child')
      .map((d) => `${d.type}:${d.target.slice(p.root.key.length + 1)}`);
    lines.push(
      `${'  '.repeat(depth)}${s.key.slice(p.root.key.length + 1)}: ${s.title} [${s.issue_type}]${needs.length ? ` ← ${needs.join(', ')}` : ''}`,
    );
  }
  return lines.join('\n');
}

const cookCmd: CommandDef = {
  name: 'cook',
  summary: 'Cook a formula into its proto: the step graph after composition and substitution',
  usage: 'bd cook NAME|PATH [--var K=V ...] [--mode compile|runtime] [--dry-run]',
  args: [1, 1],
  options: {
    var: varOpt,
    mode: { type: 'string', desc: 'compile (placeholders kept) or runtime (vars substituted)', arg: 'MODE' },
    'dry-run': { type: 'boolean', desc: 'print the step tree' },
    'search-path': searchPath,
  },
  run(ctx, { values, positionals }) {
    const mode = values.mode ?? (values.var ? 'runtime' : 'compile');
    if (mode !== 'compile' && mode !== 'runtime')
      throw new UsageError(`--mode must be compile or runtime, got "${mode}"`);
    const loader = loaderFor(ctx.cwd, values['search-path']);
    const vars = parseVarFlags(values.var ?? []);
    const proto = cook(loader, positionals[0], mode === 'runtime' ? { vars, substitute: true } : {});
    warnAll(ctx, loader, proto);
    return { data: proto, text: values['dry-run'] ? protoTree(proto) : JSON.stringify(proto, null, 2) };
  },
};

// ---- mol ------------------------------------------------------------------------------------

function pourOrWisp(ephemeral: boolean): CommandDef['run'] {
  return (ctx, { values, positionals }) => {
    if (!ephemeral && values['root-only'])
      throw new UsageError('--root-only is for wisps: bd mol wisp NAME --root-only');
    const loader = loaderFor(ctx.cwd, values['search-path']);
    const proto = cook(loader, positionals[0], { vars: parseVarFlags(values.var ?? []), substitute: true });
    warnAll(ctx, loader, proto);
    if (values['dry-run']) return { data: proto, text: protoTree(proto) };
    return withStore(ctx, (store) => {
      const r = store.transact(`${ephemeral ? 'wisp' : 'pour'} ${proto.formula}`, (tx) =>
        instantiate(tx, proto, { ephemeral, assignee: values.assignee, rootOnly: values['root-only'] }),
      );
      return {
        data: r,
        text: `${ctx.color.green('✓')} ${ephemeral ? 'Wisp' : 'Molecule'} ${r.new_epic_id}: ${proto.root.title} (${r.created - 1} steps${ephemeral ? ', not committed' : ''})`,
      };
    });
  };
}

const instantiateOptions = {
  var: varOpt,
  assignee: { type: 'string', short: 'a', desc: 'assignee of the root', arg: 'WHO' },
  'dry-run': { type: 'boolean', desc: 'show the graph without creating it' },
  'search-path': searchPath,
} as const;

const pour: CommandDef = {
  name: 'pour',
  summary: 'Instantiate a formula as a persistent molecule (one commit)',
  usage: 'bd mol pour NAME [--var K=V ...] [--assignee WHO]',
  args: [1, 1],
  options: instantiateOptions,
  run: pourOrWisp(false),
};

const wispList: CommandDef = {
  name: 'list',
  summary: 'Wisps in the operational plane (old = not updated within its time-to-live)',
  usage: 'bd mol wisp list [--all]',
  options: { all: { type: 'boolean', desc: 'include closed wisps' } },
  run: (ctx, { values }) =>
    withStore(
      ctx,
      (store) => {
        const wisps = listWisps(store.graph(), { all: values.all });
        const text = wisps
          .map(
            (w) =>
              `${ctx.color.cyan(w.id)} ${w.status.padEnd(11)} ${String(w.members).padStart(5)} beads  ${w.title}${w.old ? ctx.color.yellow(' (old)') : ''}`,
          )
          .join('\n');
        return { data: wisps, text: text || 'No wisps.' };
      },
      { light: true },
    ),
};

const wispGc: CommandDef = {
  name: 'gc',
  summary: 'Delete closed wisps and wisps past their time-to-live (never committed, so no commit)',
  usage: 'bd mol wisp gc [--age 24h] [--dry-run]',
  options: {
    age: {
      type: 'string',
      desc: 'treat wisps older than this as old (default: by wisp_type, 24h)',
      arg: 'D',
    },
    'dry-run': { type: 'boolean', desc: 'list what would go' },
  },
  run: (ctx, { values }) => {
    const ttlMs = values.age !== undefined ? parseGoDuration(values.age) / 1e6 : undefined;
    if (values.age !== undefined && !ttlMs)
      throw new UsageError(`--age "${values.age}" is not a duration like 6h or 30m`);
    return withStore(ctx, (store) => {
      const r = gcWisps(store, { dryRun: values['dry-run'], ttlMs });
      return {
        data: { ...r, dry_run: !!values['dry-run'] },
        text: `${values['dry-run'] ? 'Would remove' : 'Removed'} ${r.removed.length} wisps (${r.beads} beads)`,
      };
    });
  },
};

const wisp: CommandDef = {
  name: 'wisp',
  sub: [wispList, wispGc],
  summary: 'Instantiate a formula as an ephemeral molecule (never committed)',
  usage: 'bd mol wisp NAME [--var K=V ...] [--root-only] | bd mol wisp list|gc',
  args: [1, 1],
  options: {
    ...instantiateOptions,
    'root-only': { type: 'boolean', desc: 'only the root; steps come from the formula' },
  },
  run: pourOrWisp(true),
};

function progressText(ctx: Ctx, p: MoleculeProgress, all = false): string {
  const c = ctx.color;
  const icon = { done: '✓', current: '◐', blocked: '●', ready: '○', pending: '·' } as const;
  const lines = [
    `${c.bold(p.molecule_id)}: ${p.title}${p.formula ? c.dim(` (${p.formula})`) : ''}${p.ephemeral ? c.dim(' [wisp]') : ''}`,
    `Progress: ${p.completed}/${p.total}${p.complete ? c.green(' complete') : ''}`,
  ];
  if (p.current_step) lines.push(`Current: ${p.current_step.id} ${p.current_step.title}`);
  if (p.next_step) lines.push(`Next: ${p.next_step.id} ${p.next_step.title}`);
  if (all || p.total <= 100) {
    lines.push('');
    for (const s of p.steps) {
      lines.push(
        `  ${icon[s.state]} ${s.id} ${s.title}${s.blocked_by.length ? c.dim(` ← ${s.blocked_by.join(', ')}`) : ''}`,
      );
    }
  }
  return lines.join('\n');
}

function pickMolecule(store: BeadStore, given: string | undefined, who?: string) {
  if (given) return store.resolve(given);
  const actor = who ?? store.actor();
  const found = currentMoleculeFor(store.graph(), actor);
  if (!found)
    throw new GtError(`no molecule in progress for ${actor}; give a molecule id (bd mol current ID)`);
  return found;
}

/**
 * The graph a molecule's progress is read from: the store's, plus the virtual steps of a
 * root-only wisp (cooked from its formula now, so they read exactly like materialised ones).
 */
export function moleculeGraph(cwd: string, store: BeadStore, rootId: string): Graph {
  const root = store.summary(rootId);
  const info = root ? rootOnlyInfo(root) : null;
  if (!root || !info) return store.graph();
  const proto = cook(loaderFor(cwd), info.formula, { vars: info.vars, substitute: true });
  return buildGraph([...store.summaries(), ...virtualSteps(root, proto, info.done)]);
}

/** Split ids into real beads and virtual steps `<root-only wisp>.<step>`. */
export function splitVirtual(
  store: BeadStore,
  inputs: string[],
): { real: string[]; virtual: Map<string, string[]> } {
  const real: string[] = [];
  const virtual = new Map<string, string[]>();
  for (const input of inputs) {
    try {
      real.push(store.resolve(input));
    } catch (e) {
      if (!(e instanceof NotFoundError)) throw e;
      let hit = false;
      for (let i = input.indexOf('.'); i > 0; i = input.indexOf('.', i + 1)) {
        const root = store.summary(input.slice(0, i));
        if (root && rootOnlyInfo(root)) {
          virtual.set(root.id, [...(virtual.get(root.id) ?? []), input.slice(i + 1)]);
          hit = true;
          break;
        }
      }
      if (!hit) throw e;
    }
  }
  return { real, virtual };
}

/** Mark virtual steps done; returns the molecules touched with their progress. */
export function closeVirtual(
  cwd: string,
  store: BeadStore,
  virtual: Map<string, string[]>,
  force?: boolean,
): MoleculeProgress[] {
  const out: MoleculeProgress[] = [];
  for (const [root, rels] of virtual) {
    const info = rootOnlyInfo(store.summary(root)!)!;
    const proto = cook(loaderFor(cwd), info.formula, { vars: info.vars, substitute: true });
    markVirtualSteps(store, root, proto, rels, { force });
    out.push(moleculeProgress(moleculeGraph(cwd, store, root), root));
  }
  return out;
}

const current: CommandDef = {
  name: 'current',
  summary: 'Where a molecule stands: the current and next step',
  usage: 'bd mol current [ID] [--for AGENT]',
  args: [0, 1],
  options: { for: { type: 'string', desc: 'whose molecule (default: you)', arg: 'AGENT' } },
  run: (ctx, { values, positionals }) =>
    withStore(
      ctx,
      (store) => {
        const id = pickMolecule(store, positionals[0], values.for);
        const p = moleculeProgress(moleculeGraph(ctx.cwd, store, id), id);
        const { steps: _s, ...summary } = p;
        return { data: summary, text: progressText(ctx, p).split('\n\n')[0] };
      },
      { light: true },
    ),
};

const progress: CommandDef = {
  name: 'progress',
  summary: 'Done/total and every step of a molecule',
  usage: 'bd mol progress [ID]',
  args: [0, 1],
  options: { all: { type: 'boolean', desc: 'list every step even past 100' } },
  run: (ctx, { values, positionals }) =>
    withStore(
      ctx,
      (store) => {
        const id = pickMolecule(store, positionals[0]);
        const p = moleculeProgress(moleculeGraph(ctx.cwd, store, id), id);
        return { data: p, text: progressText(ctx, p, values.all) };
      },
      { light: true },
    ),
};

const molShow: CommandDef = {
  name: 'show',
  summary: 'The molecule as a DAG: root, steps, and their edges',
  usage: 'bd mol show ID',
  args: [1, 1],
  run: (ctx, { positionals }) =>
    withStore(
      ctx,
      (store) => {
        const id = store.resolve(positionals[0]);
        const g = store.graph();
        const members = moleculeMembers(g, id);
        const nodes = members.map((m) => {
          const s = g.byId.get(m)!;
          return {
            id: m,
            title: s.title,
            status: s.status,
            issue_type: s.issue_type,
            edges: (s.dependencies ?? []).map((d) => ({ type: d.type, to: d.depends_on_id })),
          };
        });
        const p = moleculeProgress(g, id);
        return {
          data: { molecule_id: id, nodes, progress: { total: p.total, completed: p.completed } },
          text: progressText(ctx, p, true),
        };
      },
      { light: true },
    ),
};

const molSquash: CommandDef = {
  name: 'squash',
  summary: "Turn a finished wisp's steps into one digest bead in the ledger",
  usage: 'bd mol squash ID [--summary TEXT] [--keep-children]',
  args: [1, 1],
  options: {
    summary: { type: 'string', desc: 'digest text (default: an automatic summary)', arg: 'TEXT' },
    'keep-children': { type: 'boolean', desc: 'keep the step wisps' },
  },
  run: (ctx, { values, positionals }) =>
    withStore(ctx, (store) => {
      const r = squash(store, store.resolve(positionals[0]), {
        summary: values.summary,
        keepChildren: values['keep-children'],
      });
      return {
        data: r,
        text: r.digest_id
          ? `${ctx.color.green('✓')} Squashed ${r.squashed} steps into ${r.digest_id}`
          : 'Nothing to squash (no wisp steps).',
      };
    }),
};

const molBurn: CommandDef = {
  name: 'burn',
  summary: 'Discard molecules and their steps (no digest)',
  usage: 'bd mol burn ID... [--force] [--dry-run]',
  args: [1, -1],
  options: {
    force: { type: 'boolean', short: 'f', desc: 'required for persistent (committed) molecules' },
    'dry-run': { type: 'boolean', desc: 'list what would be deleted' },
  },
  run: (ctx, { values, positionals }) =>
    withStore(ctx, (store) => {
      const ids = positionals.map((p) => store.resolve(p));
      const g = store.graph();
      const members = [...new Set(ids.flatMap((id) => moleculeMembers(g, id)))];
      const persistent = members.filter((m) => !g.byId.get(m)?.ephemeral);
      if (values['dry-run'] || (persistent.length && !values.force)) {
        if (!values['dry-run']) {
          throw new GtError(
            `${persistent.length} of the ${members.length} beads are committed (not wisps); add --force to delete them (--dry-run lists them)`,
          );
        }
        return {
          data: { would_burn: members },
          text: `Would burn ${members.length} beads:\n${members.join('\n')}`,
        };
      }
      const r = burn(store, ids);
      return { data: r, text: `${ctx.color.green('✓')} Burned ${r.burned.length} beads` };
    }),
};

const molBond: CommandDef = {
  name: 'bond',
  summary: 'Join molecule B to A (sequential: B after A; parallel: B under A; conditional)',
  usage: 'bd mol bond A B [--type sequential|parallel|conditional]',
  args: [2, 2],
  options: {
    type: { type: 'string', short: 't', desc: 'sequential (default), parallel or conditional', arg: 'T' },
  },
  run: (ctx, { values, positionals }) => {
    const type = (values.type ?? 'sequential') as BondType;
    if (!['sequential', 'parallel', 'conditional'].includes(type)) {
      throw new UsageError(`--type must be sequential, parallel or conditional, got "${values.type}"`);
    }
    return withStore(ctx, (store) => {
      const r = bond(store, store.resolve(positionals[0]), store.resolve(positionals[1]), type);
      return { data: r, text: `${ctx.color.green('✓')} Bonded ${r.from} → ${r.to} (${r.dependency_type})` };
    });
  },
};

const mol: CommandDef = {
  name: 'mol',
  summary: 'Molecules: pour, wisp, progress, squash, burn, bond',
  usage: 'bd mol pour|wisp|current|progress|show|squash|burn|bond',
  sub: [pour, wisp, current, progress, molShow, molSquash, molBurn, molBond],
};

// ---- gate -----------------------------------------------------------------------------------

const gateCreate: CommandDef = {
  name: 'create',
  summary: 'Create a gate bead, optionally blocking a bead until it resolves',
  usage: 'bd gate create --type human|timer|bead|gh:run|gh:pr [--blocks ID] [--await-id X] [--timeout 30m]',
  options: {
    type: { type: 'string', short: 't', desc: GATE_TYPES.join(', '), arg: 'TYPE' },
    blocks: { type: 'string', desc: 'the bead this gate holds back', arg: 'ID' },
    'await-id': { type: 'string', desc: 'bead id, run id / workflow name, or PR number', arg: 'X' },
    timeout: { type: 'string', desc: 'timer duration (30m, 2h, 1h30m)', arg: 'D' },
    reason: { type: 'string', desc: 'why the gate exists', arg: 'TEXT' },
    title: { type: 'string', desc: 'gate title', arg: 'T' },
    waiter: { type: 'string', multiple: true, desc: 'address to notify when it clears', arg: 'ADDR' },
  },
  run: (ctx, { values }) => {
    if (!values.type) throw new UsageError(`bd gate create needs --type (${GATE_TYPES.join(', ')})`);
    return withStore(ctx, (store) => {
      const gate = createGate(store, {
        type: values.type,
        blocks: values.blocks ? store.resolve(values.blocks) : undefined,
        awaitId:
          values['await-id'] && values.type === 'bead'
            ? store.resolve(values['await-id'])
            : values['await-id'],
        timeout: values.timeout,
        reason: values.reason,
        title: values.title,
        waiters: listFlag(values.waiter),
      });
      return { data: publicBead(gate), text: `${ctx.color.green('✓')} Gate ${gate.id}: ${gate.title}` };
    });
  },
};

function gateLine(ctx: Ctx, s: ReturnType<typeof gateStatus>): string {
  return `${ctx.color.cyan(s.id)} ${s.await_type.padEnd(7)} ${s.state.padEnd(13)} ${s.detail}${s.blocks.length ? ctx.color.dim(` (blocks ${s.blocks.join(', ')})`) : ''}`;
}

const gateList: CommandDef = {
  name: 'list',
  summary: 'Open gates and whether their condition is met',
  usage: 'bd gate list [--all]',
  options: { all: { type: 'boolean', desc: 'include closed gates' } },
  run: (ctx, { values }) =>
    withStore(ctx, (store) => {
      const gates = store
        .summaries()
        .filter((s) => s.issue_type === 'gate' && (values.all || s.status !== 'closed'));
      const statuses = store.getMany(gates.map((g) => g.id)).map((g) => gateStatus(store, g));
      return { data: statuses, text: statuses.map((s) => gateLine(ctx, s)).join('\n') || 'No open gates.' };
    }),
};

const gateShow: CommandDef = {
  name: 'show',
  summary: 'One gate: its condition, state and what it blocks',
  usage: 'bd gate show ID',
  args: [1, 1],
  run: (ctx, { positionals }) =>
    withStore(ctx, (store) => {
      const g = store.get(store.resolve(positionals[0]))!;
      if (g.issue_type !== 'gate') throw new GtError(`${g.id} is a ${g.issue_type}, not a gate`);
      const s = gateStatus(store, g);
      return { data: { ...publicBead(g), gate: s }, text: gateLine(ctx, s) };
    }),
};

const gateResolve: CommandDef = {
  name: 'resolve',
  summary: 'Resolve a gate by hand (human and mail gates, or to override)',
  usage: 'bd gate resolve ID [--reason TEXT]',
  args: [1, 1],
  options: { reason: { type: 'string', short: 'r', desc: 'why', arg: 'TEXT' } },
  run: (ctx, { values, positionals }) =>
    withStore(ctx, (store) => {
      const g = resolveGate(store, store.resolve(positionals[0]), values.reason);
      return { data: publicBead(g), text: `${ctx.color.green('✓')} Resolved ${g.id}` };
    }),
};

const gateCheck: CommandDef = {
  name: 'check',
  summary: 'Close every timer/bead gate whose condition is met; report the rest',
  usage: 'bd gate check',
  run: (ctx) =>
    withStore(ctx, (store) => {
      const statuses = checkGates(store);
      return { data: statuses, text: statuses.map((s) => gateLine(ctx, s)).join('\n') || 'No open gates.' };
    }),
};

const gate: CommandDef = {
  name: 'gate',
  summary: 'Async gates: timer, human, bead, gh:run, gh:pr',
  usage: 'bd gate create|list|show|resolve|check',
  sub: [gateCreate, gateList, gateShow, gateResolve, gateCheck],
};

/** `bd ready --mol ID`: molecule-local readiness (spec §6.8). */
export async function readyInMolecule(ctx: Ctx, molId: string): Promise<Output> {
  await loadCodec();
  return withStore(ctx, (store) => {
    const id = store.resolve(molId);
    const p = moleculeProgress(moleculeGraph(ctx.cwd, store, id), id);
    const steps = readySteps(p);
    return {
      data: steps,
      text: steps.length
        ? steps.map((s) => `○ ${ctx.color.cyan(s.id)} ${s.title}`).join('\n')
        : `No ready steps (${p.completed}/${p.total} done).`,
    };
  });
}

export const formulaCommands: CommandDef[] = [formula, cookCmd, mol, gate];
