// bd commands for what links beads: dep (add, remove, list, tree, cycles, `dep A --blocks B`),
// label (add, remove, list, list-all) and tag, comments and comment, children.
import fs from 'node:fs';
import { findCycles } from '../../beads/graph.ts';
import { addComment, addDependency, removeDependency, validateLabel } from '../../beads/ops.ts';
import {
  childrenOf,
  cyclePath,
  type Direction,
  depTree,
  flattenTree,
  renderTree,
  type TreeNode,
  treeToMermaid,
} from '../../beads/query.ts';
import type { BeadStore } from '../../beads/store.ts';
import { type Comment, type Dependency, validateDepType } from '../../beads/types.ts';
import { GtError, UsageError } from '../../errors.ts';
import type { CommandDef, Ctx, Output } from '../framework.ts';
import { intFlag, jsonObjectFlag, listFlag, statusIcon, withStore, withStoreLight } from './common.ts';
import { graphContext, renderList } from './issues.ts';

/** A dependency target: a bead of this ledger (resolved), or an `external:<project>:<cap>` ref. */
function resolveTarget(store: BeadStore, input: string): string {
  if (input.startsWith('external:')) {
    if (!/^external:[^:\s]+:[^\s]+$/.test(input)) {
      throw new UsageError(`external dependency "${input}" must look like external:<project>:<capability>`);
    }
    return input;
  }
  return store.resolve(input);
}

// ---- dep ------------------------------------------------------------------------------------

const depAddOptions = {
  type: {
    type: 'string',
    short: 't',
    desc: 'edge type (default blocks; any 1-50 char type, e.g. related, parent-child)',
    arg: 'T',
  },
  metadata: { type: 'string', desc: 'edge metadata as a JSON object', arg: 'JSON' },
  'no-cycle-check': { type: 'boolean', desc: 'skip the cycle check of blocking edges' },
} as const satisfies CommandDef['options'];

/** Add edge from → to (from depends on to) in one commit; re-adding the same edge changes nothing. */
function addEdge(
  ctx: Ctx,
  store: BeadStore,
  fromIn: string,
  toIn: string,
  values: Record<string, any>,
): Output {
  const type: string = values.type ?? 'blocks';
  validateDepType(type);
  const meta = jsonObjectFlag('metadata', values.metadata);
  const metadata = meta ? JSON.stringify(meta) : undefined;
  const from = store.resolve(fromIn);
  const to = resolveTarget(store, toIn);
  const { dep, result } = store.transact(`dep add ${from} ${to}`, (tx) => {
    const src = tx.must(from);
    const before = src.dependencies?.find((d) => d.depends_on_id === to);
    const beforeMeta = before?.metadata;
    const dep = addDependency(tx, src, to, type, { metadata, noCycleCheck: values['no-cycle-check'] });
    let result: 'added' | 'updated' | 'unchanged' = 'added';
    if (before) {
      result = beforeMeta === dep.metadata ? 'unchanged' : 'updated';
      if (result === 'updated') src.updated_at = tx.now;
    }
    if (result !== 'unchanged') {
      tx.put(src);
      tx.note(`dep ${result === 'added' ? 'add' : 'update'} ${from} → ${to} (${type})`);
    }
    return { dep: { ...dep }, result };
  });
  const verb = { added: 'Added', updated: 'Updated', unchanged: 'Already present:' }[result];
  return {
    data: { ...dep, result },
    text: `${ctx.color.green('✓')} ${verb} ${from} depends on ${to} (${type})`,
  };
}

const depAdd: CommandDef = {
  name: 'add',
  summary: 'A depends on B (B blocks A by default)',
  usage: 'bd dep add A B [--type T] [--metadata JSON] [--no-cycle-check]',
  args: [2, 2],
  options: depAddOptions,
  run(ctx, { values, positionals }) {
    return withStore(ctx, (store) => addEdge(ctx, store, positionals[0], positionals[1], values));
  },
};

const depRemove: CommandDef = {
  name: 'remove',
  aliases: ['rm'],
  summary: 'Remove the edge A → B',
  usage: 'bd dep remove A B',
  args: [2, 2],
  run(ctx, { positionals }) {
    return withStore(ctx, (store) => {
      const from = store.resolve(positionals[0]);
      const to = positionals[1].startsWith('external:') ? positionals[1] : store.resolve(positionals[1]);
      const removed = store.transact(`dep remove ${from} ${to}`, (tx) => {
        const src = tx.must(from);
        const dep = removeDependency(tx, src, to);
        tx.put(src);
        tx.note(`dep remove ${from} → ${to} (${dep.type})`);
        return dep;
      });
      return {
        data: { ...removed, result: 'removed' },
        text: `${ctx.color.green('✓')} Removed ${from} → ${to} (${removed.type})`,
      };
    });
  },
};

function directionFlag(v: string | undefined): Direction {
  const d = v ?? 'down';
  if (d !== 'down' && d !== 'up' && d !== 'both') {
    throw new UsageError(`--direction must be down, up or both, got "${v}"`);
  }
  return d;
}

interface DepEntry {
  id: string;
  title?: string;
  status?: string;
  priority?: number;
  issue_type?: string;
  dependency_type: string;
  direction: 'down' | 'up';
  metadata?: string;
  missing?: boolean;
}

const depList: CommandDef = {
  name: 'list',
  aliases: ['ls'],
  summary: 'Edges of a bead: what it depends on (down), what depends on it (up), or both',
  usage: 'bd dep list ID [--direction down|up|both] [--type T]',
  args: [1, 1],
  options: {
    direction: { type: 'string', desc: 'down (default), up or both', arg: 'DIR' },
    type: { type: 'string', short: 't', desc: 'only edges of these types (comma list)', arg: 'T' },
  },
  run(ctx, { values, positionals }) {
    const dir = directionFlag(values.direction);
    const types = values.type ? listFlag(values.type) : null;
    return withStoreLight(ctx, (store) => {
      const id = store.resolve(positionals[0]);
      const g = store.graph();
      const out: DepEntry[] = [];
      const describe = (other: string, d: Dependency, direction: 'down' | 'up'): DepEntry => {
        const b = g.byId.get(other);
        return {
          id: other,
          ...(b
            ? { title: b.title, status: b.status, priority: b.priority, issue_type: b.issue_type }
            : { missing: true }),
          dependency_type: d.type,
          direction,
          ...(d.metadata ? { metadata: d.metadata } : {}),
        };
      };
      if (dir !== 'up') {
        for (const d of g.byId.get(id)?.dependencies ?? []) out.push(describe(d.depends_on_id, d, 'down'));
      }
      if (dir !== 'down') {
        for (const src of new Set(g.dependents.get(id) ?? [])) {
          const d = g.byId.get(src)?.dependencies?.find((e) => e.depends_on_id === id);
          if (d) out.push(describe(src, d, 'up'));
        }
      }
      const shown = types ? out.filter((e) => types.includes(e.dependency_type)) : out;
      const c = ctx.color;
      const line = (e: DepEntry) =>
        `  ${e.direction === 'down' ? '→' : '←'} ${c.cyan(e.id)} (${e.dependency_type})${e.missing ? c.dim(' (not in this ledger)') : ` ${e.title} [${e.status}]`}`;
      const down = shown.filter((e) => e.direction === 'down');
      const up = shown.filter((e) => e.direction === 'up');
      const parts: string[] = [];
      if (dir !== 'up') parts.push(`${id} depends on (${down.length}):`, ...down.map(line));
      if (dir !== 'down') parts.push(`${id} is depended on by (${up.length}):`, ...up.map(line));
      return { data: shown, text: parts.join('\n') };
    });
  },
};

const depTreeCmd: CommandDef = {
  name: 'tree',
  summary: 'The dependency tree of a bead (text, JSON nodes with depth, or a mermaid flowchart)',
  usage: 'bd dep tree ID [--direction down|up|both] [--max-depth 50] [--type T] [--format text|mermaid]',
  args: [1, 1],
  options: {
    direction: { type: 'string', desc: 'down (what it depends on, default), up or both', arg: 'DIR' },
    'max-depth': { type: 'string', desc: 'levels to follow (default 50)', arg: 'N' },
    type: { type: 'string', short: 't', desc: 'only follow edges of these types (comma list)', arg: 'T' },
    format: { type: 'string', desc: 'text (default) or mermaid', arg: 'FMT' },
  },
  run(ctx, { values, positionals }) {
    const direction = directionFlag(values.direction);
    const maxDepth = intFlag('max-depth', values['max-depth'], 1) ?? 50;
    const format = values.format ?? 'text';
    if (format !== 'text' && format !== 'mermaid') {
      throw new UsageError(`--format must be text or mermaid, got "${values.format}"`);
    }
    const types = values.type ? listFlag(values.type) : undefined;
    return withStoreLight(ctx, (store) => {
      const id = store.resolve(positionals[0]);
      const g = store.graph();
      const tree = depTree(g, id, { direction, maxDepth, types });
      const nodes = flattenTree(tree);
      if (format === 'mermaid') {
        const mermaid = treeToMermaid(g, tree, types);
        return { data: { root: id, direction, max_depth: maxDepth, format, mermaid, nodes }, text: mermaid };
      }
      const c = ctx.color;
      const line = (n: TreeNode) => {
        const arrow = n.direction === 'down' ? '→ ' : n.direction === 'up' ? '← ' : '';
        const edge = n.dependency_type ? c.dim(` (${n.dependency_type})`) : '';
        const body = n.missing
          ? `${c.cyan(n.id)}${c.dim(' (not in this ledger)')}`
          : `${statusIcon(n.status!)} ${c.cyan(n.id)} P${n.priority} ${n.title}${n.status === 'open' ? '' : ` [${n.status}]`}`;
        return `${arrow}${body}${edge}${n.truncated ? c.dim(' …') : ''}`;
      };
      let text = renderTree(tree, line);
      if (nodes.some((n) => n.truncated)) text += `\n${c.dim(`(cut at --max-depth ${maxDepth})`)}`;
      return { data: { root: id, direction, max_depth: maxDepth, nodes }, text };
    });
  },
};

const depCycles: CommandDef = {
  name: 'cycles',
  summary: 'Every cycle over blocking edges (blocks, conditional-blocks)',
  usage: 'bd dep cycles',
  run(ctx) {
    return withStoreLight(ctx, (store) => {
      const g = store.graph();
      const cycles = findCycles(g).map((members) => ({ ids: members, path: cyclePath(g, members) }));
      const text = cycles.length
        ? [
            ctx.color.red(`${cycles.length} cycle${cycles.length === 1 ? '' : 's'}:`),
            ...cycles.map((cy) => `  ${cy.path.join(' → ')}`),
          ].join('\n')
        : 'No dependency cycles.';
      return { data: cycles, text };
    });
  },
};

const dep: CommandDef = {
  name: 'dep',
  summary: 'Dependencies: add, remove, list, tree, cycles; `bd dep A --blocks B`',
  usage: 'bd dep add|remove|list|tree|cycles ... | bd dep A --blocks B',
  sub: [depAdd, depRemove, depList, depTreeCmd, depCycles],
  args: [0, -1],
  options: {
    blocks: {
      type: 'string',
      desc: 'bd dep A --blocks B: A blocks B, so B depends on A (= bd dep add B A)',
      arg: 'B',
    },
    ...depAddOptions,
  },
  run(ctx, { values, positionals }) {
    if (values.blocks === undefined || positionals.length !== 1) {
      const what = positionals.length ? ` "${positionals[0]}"` : '';
      throw new UsageError(
        `bd dep${what}: use a subcommand (add, remove, list, tree, cycles) or the form \`bd dep A --blocks B\``,
      );
    }
    // `bd dep A --blocks B`: B depends on A.
    return withStore(ctx, (store) => addEdge(ctx, store, values.blocks, positionals[0], values));
  },
};

// ---- label ----------------------------------------------------------------------------------

type LabelResult = { id: string; label: string; result: 'added' | 'removed' | 'unchanged' };

function changeLabels(ctx: Ctx, args: string[], add: boolean): Promise<Output> {
  const label = args[args.length - 1].trim();
  validateLabel(label);
  return withStore(ctx, (store) => {
    const ids = [...new Set(args.slice(0, -1).map((a) => store.resolve(a)))];
    const results = store.transact(`label ${add ? 'add' : 'remove'} ${label}: ${ids.join(' ')}`, (tx) =>
      ids.map((id): LabelResult => {
        const b = tx.must(id);
        const labels = new Set(b.labels ?? []);
        if (labels.has(label) === add) return { id, label, result: 'unchanged' };
        if (add) labels.add(label);
        else labels.delete(label);
        b.labels = [...labels].sort();
        b.updated_at = tx.now;
        tx.put(b);
        tx.note(`label ${add ? 'add' : 'remove'} ${id}: ${label}`);
        return { id, label, result: add ? 'added' : 'removed' };
      }),
    );
    const text = results
      .map((r) =>
        r.result === 'unchanged'
          ? `${r.id} ${add ? 'already has' : 'does not have'} label ${label}`
          : `${ctx.color.green('✓')} ${add ? 'Added' : 'Removed'} label ${label} ${add ? 'to' : 'from'} ${r.id}`,
      )
      .join('\n');
    return { data: results, text };
  });
}

const labelAdd: CommandDef = {
  name: 'add',
  summary: 'Add a label to beads',
  usage: 'bd label add ID [ID...] LABEL',
  args: [2, -1],
  run: (ctx, { positionals }) => changeLabels(ctx, positionals, true),
};

const labelRemove: CommandDef = {
  name: 'remove',
  aliases: ['rm'],
  summary: 'Remove a label from beads',
  usage: 'bd label remove ID [ID...] LABEL',
  args: [2, -1],
  run: (ctx, { positionals }) => changeLabels(ctx, positionals, false),
};

const labelList: CommandDef = {
  name: 'list',
  aliases: ['ls'],
  summary: 'Labels of a bead',
  usage: 'bd label list ID',
  args: [1, 1],
  run(ctx, { positionals }) {
    return withStoreLight(ctx, (store) => {
      const id = store.resolve(positionals[0]);
      const labels = store.summary(id)?.labels ?? [];
      return { data: labels, text: labels.length ? labels.join('\n') : `${id} has no labels.` };
    });
  },
};

const labelListAll: CommandDef = {
  name: 'list-all',
  summary: 'Every label in use, with how many beads carry it',
  usage: 'bd label list-all',
  run(ctx) {
    return withStoreLight(ctx, (store) => {
      const counts = new Map<string, number>();
      for (const s of store.summaries())
        for (const l of s.labels ?? []) counts.set(l, (counts.get(l) ?? 0) + 1);
      const data = [...counts]
        .map(([label, count]) => ({ label, count }))
        .sort((a, b) => (a.label < b.label ? -1 : a.label > b.label ? 1 : 0));
      const width = Math.max(0, ...data.map((d) => d.label.length)) + 2;
      const text = data.length
        ? data.map((d) => `${d.label.padEnd(width)}${d.count}`).join('\n')
        : 'No labels in use.';
      return { data, text };
    });
  },
};

const label: CommandDef = {
  name: 'label',
  summary: 'Labels: add, remove, list, list-all',
  usage: 'bd label add|remove|list|list-all ...',
  sub: [labelAdd, labelRemove, labelList, labelListAll],
};

const tag: CommandDef = {
  name: 'tag',
  summary: 'Shorthand for `bd label add ID LABEL`',
  usage: 'bd tag ID LABEL',
  args: [2, 2],
  run: (ctx, { positionals }) => changeLabels(ctx, positionals, true),
};

// ---- comments -------------------------------------------------------------------------------

/** Comment text from the positionals, `-` (stdin) or --file. */
function commentText(words: string[], file: string | undefined): string {
  if (file !== undefined && words.length) {
    throw new UsageError('give the comment as text or with --file, not both');
  }
  let text: string;
  if (file !== undefined) {
    try {
      text = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
    } catch (e: any) {
      throw new GtError(`cannot read --file ${file}: ${e.code ?? e.message}`);
    }
  } else if (words.length === 1 && words[0] === '-') {
    text = fs.readFileSync(0, 'utf8');
  } else {
    text = words.join(' ');
  }
  text = text.replace(/\s+$/, '');
  if (!text.trim()) {
    throw new UsageError('a comment needs text: bd comments add ID "text" (or --file PATH, or - for stdin)');
  }
  return text;
}

const commentOptions = {
  file: { type: 'string', short: 'f', desc: 'read the text from a file (- for stdin)', arg: 'PATH' },
  author: { type: 'string', desc: 'author (default: the actor)', arg: 'WHO' },
} as const satisfies CommandDef['options'];

function runAddComment(ctx: Ctx, positionals: string[], values: Record<string, any>): Promise<Output> {
  const text = commentText(positionals.slice(1), values.file);
  return withStore(ctx, (store) => {
    const id = store.resolve(positionals[0]);
    const comment = store.transact(`comment ${id}`, (tx) => {
      const b = tx.must(id);
      addComment(tx, b, text, values.author || tx.actor);
      tx.put(b);
      tx.note(`comment ${id}`);
      return b.comments![b.comments!.length - 1];
    });
    return { data: comment, text: `${ctx.color.green('✓')} Added comment to ${id}` };
  });
}

const commentsAdd: CommandDef = {
  name: 'add',
  summary: 'Add a comment',
  usage: 'bd comments add ID TEXT | bd comments add ID --file PATH | bd comments add ID -',
  args: [1, -1],
  options: commentOptions,
  run: (ctx, { values, positionals }) => runAddComment(ctx, positionals, values),
};

function commentLines(ctx: Ctx, comments: Comment[]): string {
  return comments
    .map((c) => {
      const [first, ...rest] = c.text.split('\n');
      const head = `${ctx.color.dim(`[${c.created_at}] ${c.author}:`)} ${first}`;
      return [head, ...rest.map((l) => `    ${l}`)].join('\n');
    })
    .join('\n');
}

const comments: CommandDef = {
  name: 'comments',
  summary: 'List the comments of a bead; `bd comments add ID TEXT` adds one',
  usage: 'bd comments ID | bd comments add ID TEXT',
  sub: [commentsAdd],
  args: [1, 1],
  run(ctx, { positionals }) {
    return withStore(ctx, (store) => {
      const id = store.resolve(positionals[0]);
      const list = store.get(id)?.comments ?? [];
      return { data: list, text: list.length ? commentLines(ctx, list) : `${id} has no comments.` };
    });
  },
};

const comment: CommandDef = {
  name: 'comment',
  summary: 'Add a comment (same as `bd comments add`)',
  usage: 'bd comment ID TEXT | bd comment ID --file PATH | bd comment ID -',
  args: [1, -1],
  options: commentOptions,
  run: (ctx, { values, positionals }) => runAddComment(ctx, positionals, values),
};

// ---- children -------------------------------------------------------------------------------

const children: CommandDef = {
  name: 'children',
  summary: 'Direct children of a bead (parent-child edges, plus ids ID.N without one)',
  usage: 'bd children ID',
  args: [1, 1],
  run(ctx, { positionals }) {
    return withStoreLight(ctx, (store) => {
      const id = store.resolve(positionals[0]);
      const g = store.graph();
      const kids = childrenOf(g, id).map((k) => g.byId.get(k)!);
      const out = renderList(ctx, graphContext(store), kids, kids.length, 0);
      if (!ctx.json && kids.length === 0) out.text = `${id} has no children.`;
      return out;
    });
  },
};

export const relationCommands: CommandDef[] = [dep, label, tag, comments, comment, children];
