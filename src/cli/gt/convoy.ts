// gt convoy create|add|status|list|check|stranded|close|land and gt ready (spec §1.4, §2.4,
// §2.12). The logic is in src/work/convoy.ts; this renders it. Every command takes --json.
import { BeadStore } from '../../beads/store.ts';
import { UsageError } from '../../errors.ts';
import { loadCodec } from '../../ledger/codec.ts';
import { resolveRecipients } from '../../mail/address.ts';
import { townView } from '../../mail/message.ts';
import { addressOf, detectIdentity } from '../../town/identity.ts';
import { requireTown } from '../../town/paths.ts';
import {
  addToConvoyTx,
  type ConvoyView,
  checkConvoys,
  checkMerge,
  closeConvoy,
  convoyIdOf,
  convoyStatus,
  createConvoyTx,
  epicWork,
  type FedBead,
  feedConvoys,
  landConvoy,
  listConvoys,
  strandedConvoys,
  townReady,
} from '../../work/convoy.ts';
import type { CommandDef, Ctx } from '../framework.ts';

async function open(ctx: Ctx): Promise<{ root: string; store: BeadStore }> {
  const root = requireTown(ctx.cwd);
  await loadCodec();
  return { root, store: BeadStore.open(root, ctx.actor ? { actor: ctx.actor } : {}) };
}

function mark(ctx: Ctx, state: string): string {
  if (state === 'done') return ctx.color.green('✓');
  if (state === 'merging') return ctx.color.yellow('⇡');
  if (state === 'missing' || state === 'unmerged') return ctx.color.red('!');
  return '○';
}

function header(ctx: Ctx, v: ConvoyView): string {
  const st = v.status === 'closed' ? ctx.color.dim(`closed (${v.close_reason ?? 'closed'})`) : v.status;
  return `${ctx.color.bold(v.id)} ${v.title}  ${v.done}/${v.total} done  ${st}${v.owned ? ' [owned]' : ''}`;
}

function statusText(ctx: Ctx, v: ConvoyView): string {
  const lines = [header(ctx, v)];
  const meta = [
    v.owner ? `owner: ${v.owner}` : '',
    v.notify.length ? `notify: ${v.notify.join(', ')}` : '',
    v.merge ? `merge: ${v.merge}` : '',
    v.base_branch ? `base_branch: ${v.base_branch}` : '',
  ].filter(Boolean);
  if (meta.length) lines.push(`  ${meta.join('  ')}`);
  for (const t of v.tracked) {
    const who = t.assignee ? ` → ${t.assignee}` : '';
    const mr = t.mr
      ? ctx.color.dim(` (MR ${t.mr.id} ${t.mr.status}${t.mr.close_reason ? `: ${t.mr.close_reason}` : ''})`)
      : '';
    lines.push(`  ${mark(ctx, t.state)} ${t.id} ${t.title} [${t.state}]${who}${mr}`);
  }
  if (v.total === 0) lines.push(ctx.color.dim('  (tracks nothing yet)'));
  return lines.join('\n');
}

/** Owner and notify addresses must reach someone when the convoy lands: checked before writing. */
function checkAddresses(root: string, store: BeadStore, addrs: string[]): void {
  if (addrs.length) resolveRecipients(addrs, townView(root, store));
}

const create: CommandDef = {
  name: 'create',
  summary: 'Create a convoy tracking beads (across rigs)',
  usage:
    'gt convoy create <name> [bead...] [--notify ADDR] [--owner ADDR] [--owned] [--merge direct|mr|local] [--base-branch B] [--from-epic EPIC]',
  args: [1, -1],
  options: {
    notify: { type: 'string', multiple: true, desc: 'who hears when it lands (repeatable)', arg: 'ADDR' },
    owner: { type: 'string', desc: 'the owner address (default: you)', arg: 'ADDR' },
    owned: { type: 'boolean', desc: 'label gt:owned: the owner lands it by hand' },
    merge: { type: 'string', desc: 'merge strategy: direct, mr or local', arg: 'HOW' },
    'base-branch': { type: 'string', desc: 'the branch the work merges into', arg: 'B' },
    'from-epic': {
      type: 'string',
      desc: "track the epic's open task/bug/feature/chore descendants",
      arg: 'EPIC',
    },
  },
  async run(ctx, { values, positionals }) {
    const [name, ...given] = positionals;
    checkMerge(values.merge);
    const { root, store } = await open(ctx);
    const issues = given.map((i) => store.resolve(i));
    if (values['from-epic']) for (const id of epicWork(store, values['from-epic'])) issues.push(id);
    let owner: string | undefined = values.owner;
    if (owner === undefined) {
      const me = addressOf(detectIdentity(root, ctx.cwd));
      try {
        checkAddresses(root, store, [me]);
        owner = me;
      } catch {
        owner = undefined; // the caller has no mailbox (e.g. the overseer outside a session)
      }
    }
    checkAddresses(root, store, [...(owner ? [owner] : []), ...(values.notify ?? [])]);
    const bead = store.transact(`convoy create: ${name.slice(0, 60)}`, (tx) =>
      createConvoyTx(tx, {
        name,
        issues,
        owner,
        notify: values.notify,
        owned: values.owned,
        merge: values.merge,
        baseBranch: values['base-branch'],
      }),
    );
    store.flush();
    const v = convoyStatus(store, bead.id);
    return { data: v, text: `Created convoy ${bead.id}: ${bead.title} (tracking ${v.total})` };
  },
};

const add: CommandDef = {
  name: 'add',
  summary: 'Track more beads in an open convoy',
  usage: 'gt convoy add <convoy> <bead...>',
  args: [2, -1],
  async run(ctx, { positionals }) {
    const [input, ...given] = positionals;
    const id = convoyIdOf(input);
    const { store } = await open(ctx);
    const issues = given.map((i) => store.resolve(i));
    const r = store.transact(`convoy add: ${id}`, (tx) => addToConvoyTx(tx, id, issues));
    store.flush();
    const v = convoyStatus(store, id);
    return {
      data: { ...v, added: r.added },
      text: r.added.length
        ? `${id} now tracks ${r.added.join(', ')} (${v.total} in all)`
        : `${id} already tracks them`,
    };
  },
};

const status: CommandDef = {
  name: 'status',
  aliases: ['show'],
  summary: 'A convoy: its tracked beads, their state and the progress',
  usage: 'gt convoy status [convoy] [--json]',
  args: [0, 1],
  async run(ctx, { positionals }) {
    if (positionals.length === 0) {
      // No id: every open convoy with its beads (the JSON is a list).
      const { store } = await open(ctx);
      const views = listConvoys(store);
      return { data: views, text: views.map((v) => statusText(ctx, v)).join('\n') || 'No open convoys.' };
    }
    const id = convoyIdOf(positionals[0]);
    const { store } = await open(ctx);
    const v = convoyStatus(store, id);
    return { data: v, text: statusText(ctx, v) };
  },
};

const list: CommandDef = {
  name: 'list',
  summary: 'Convoys in flight (--all: closed ones too; --tree: with their beads)',
  usage: 'gt convoy list [--all] [--tree] [--json]',
  options: {
    all: { type: 'boolean', desc: 'include closed convoys' },
    tree: { type: 'boolean', desc: 'show the tracked beads under each convoy' },
  },
  async run(ctx, { values }) {
    const { store } = await open(ctx);
    const views = listConvoys(store, { all: values.all });
    const text = views.length
      ? views.map((v) => (values.tree ? statusText(ctx, v) : header(ctx, v))).join('\n')
      : values.all
        ? 'No convoys.'
        : 'No open convoys (--all shows closed ones).';
    return { data: views, text };
  },
};

const check: CommandDef = {
  name: 'check',
  summary: 'Land the convoys whose work is all done (closed and merged) and send the landed mail',
  usage: 'gt convoy check [convoy] [--dry-run] [--feed [--no-start]] [--json]',
  args: [0, 1],
  options: {
    'dry-run': { type: 'boolean', desc: 'show what would land; change nothing' },
    feed: { type: 'boolean', desc: "sling each open convoy's next ready bead to the rig of its prefix" },
    'no-start': { type: 'boolean', desc: 'with --feed: hook and provision the polecats, start no session' },
  },
  async run(ctx, { values, positionals }) {
    const { root, store } = await open(ctx);
    const r = await checkConvoys(store, root, {
      actor: ctx.actor,
      convoy: positionals[0],
      dryRun: values['dry-run'],
    });
    for (const m of r.mail) if (m.error) ctx.warn(`warning: landed mail for ${m.convoy} failed: ${m.error}`);
    const lines = r.landed.length
      ? r.landed.map((id) => `🚚 ${values['dry-run'] ? 'would land' : 'landed'} ${id}`)
      : ['No convoy ready to land.'];
    // Feeding: each stranded convoy's next ready bead goes to a polecat of the bead's rig.
    let fed: FedBead[] = [];
    if (values.feed && !values['dry-run']) {
      fed = await feedConvoys(root, r.fed, { cwd: ctx.cwd, noStart: values['no-start'] });
      for (const f of fed) {
        lines.push(
          f.error
            ? `  ${f.convoy}: could not feed ${f.bead}: ${f.error}`
            : `  ${f.convoy} fed ${f.bead} → ${f.agent}`,
        );
      }
    } else {
      for (const f of r.fed) lines.push(`  ${f.convoy} can be fed ${f.bead} (gt convoy check --feed)`);
    }
    return { data: values.feed ? { ...r, fed } : r, text: lines.join('\n') };
  },
};

const stranded: CommandDef = {
  name: 'stranded',
  summary: 'Open convoys with ready work and nobody on it, or with nothing tracked',
  usage: 'gt convoy stranded [--json]',
  async run(ctx) {
    const { store } = await open(ctx);
    const s = strandedConvoys(store);
    const text = s.length
      ? s
          .map((x) =>
            x.empty
              ? `${x.convoy} ${x.title}: empty (close it with gt convoy close ${x.convoy})`
              : `${x.convoy} ${x.title}: ready ${x.ready.join(', ')}; next ${x.next}`,
          )
          .join('\n')
      : 'No stranded convoys.';
    return { data: s, text };
  },
};

const close: CommandDef = {
  name: 'close',
  summary: 'Close a convoy by hand (--force with work not done)',
  usage: 'gt convoy close <convoy> [--reason R] [--force] [--notify]',
  args: [1, 1],
  options: {
    reason: { type: 'string', desc: 'why (default "closed")', arg: 'R' },
    force: { type: 'boolean', desc: 'close even with work not done' },
    notify: { type: 'boolean', desc: 'send the landed mail to owner and notify' },
  },
  async run(ctx, { values, positionals }) {
    const id = convoyIdOf(positionals[0]);
    const { root, store } = await open(ctx);
    const r = await closeConvoy(store, root, id, {
      reason: values.reason,
      force: values.force,
      notify: values.notify,
      actor: ctx.actor,
    });
    return { data: r, text: `Closed convoy ${r.convoy} (${r.reason})` };
  },
};

const land: CommandDef = {
  name: 'land',
  summary: 'Land a convoy now: close it and send the landed mail (--force with work not done)',
  usage: 'gt convoy land <convoy> [--force] [--json]',
  args: [1, 1],
  options: { force: { type: 'boolean', desc: 'land even with work not done (closed and merged)' } },
  async run(ctx, { values, positionals }) {
    const id = convoyIdOf(positionals[0]);
    const { root, store } = await open(ctx);
    const r = await landConvoy(store, root, id, { force: values.force, actor: ctx.actor });
    for (const m of r.mail) if (m.error) ctx.warn(`warning: landed mail for ${m.convoy} failed: ${m.error}`);
    return { data: r, text: `🚚 Landed convoy ${r.convoy}${r.forced ? ' (forced)' : ''}` };
  },
};

const convoy: CommandDef = {
  name: 'convoy',
  summary: 'Track batches of work across rigs until they land',
  usage: 'gt convoy create|add|status|list|check|stranded|close|land',
  sub: [create, add, status, list, check, stranded, close, land],
};

const ready: CommandDef = {
  name: 'ready',
  summary: 'Ready work across the town, grouped by rig',
  usage: 'gt ready [--rig R] [--json]',
  options: { rig: { type: 'string', desc: 'only this rig', arg: 'R' } },
  async run(ctx, { values }) {
    const { root, store } = await open(ctx);
    if (values.rig !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(values.rig)) {
      throw new UsageError(`invalid rig name ${JSON.stringify(values.rig)}`);
    }
    const groups = townReady(store, root, { rig: values.rig });
    const total = groups.reduce((n, g) => n + g.beads.length, 0);
    const lines: string[] = [];
    for (const g of groups) {
      const name = g.rig ? `${g.rig} [${g.prefix}]` : `town [${g.prefix}]`;
      lines.push(ctx.color.bold(`${name} (${g.beads.length})${g.parked ? ctx.color.yellow(' parked') : ''}`));
      for (const b of g.beads) lines.push(`  ${b.id} P${b.priority} ${b.title}`);
    }
    return {
      data: { total, groups },
      text: total ? `${lines.join('\n')}\n${total} ready` : 'No ready work.',
    };
  },
};

export const convoyCommands: CommandDef[] = [convoy, ready];
