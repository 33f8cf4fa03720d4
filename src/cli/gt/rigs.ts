// gt commands for rigs, crew and the polecat name pool: `gt rig ...`, `gt crew add|list|remove`
// (`gt crew at` joins this group from the session commands) and `gt namepool`.
import { UsageError } from '../../errors.ts';
import { addCrew, listCrew, removeCrew } from '../../town/crew.ts';
import { commitTownFiles } from '../../town/files.ts';
import {
  namepoolStatus,
  resetNamepool,
  setNamepoolTheme,
  THEME_ORDER,
  THEMES,
  themesInUse,
  validateTheme,
} from '../../town/namepool.ts';
import { validateAgentName } from '../../town/names.ts';
import { requireTown } from '../../town/paths.ts';
import {
  addRig,
  getRig,
  listRigs,
  loadRigs,
  parkRig,
  removeRig,
  resolveRig,
  rigStatus,
  setDocked,
  unparkRig,
} from '../../town/rigs.ts';
import {
  getSetting,
  loadRigSettings,
  parseValue,
  setSetting,
  unsetSetting,
  validateKey,
} from '../../town/settings.ts';
import type { CommandDef, Ctx } from '../framework.ts';

function show(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

function short(sha: string | null): string {
  return sha ? sha.slice(0, 10) : '-';
}

// ---- gt rig -----------------------------------------------------------------------------------

const rigAdd: CommandDef = {
  name: 'add',
  summary: 'Add a rig: shared bare repo, mayor clone, refinery worktree, config, agent beads',
  usage: 'gt rig add NAME URL|PATH [--prefix P] [--branch B] [--push-url U]',
  args: [2, 2],
  options: {
    prefix: { type: 'string', desc: 'bead prefix (default: derived from the name)', arg: 'P' },
    branch: { type: 'string', desc: 'default branch (default: the repository HEAD)', arg: 'B' },
    'push-url': { type: 'string', desc: 'push to this URL instead (a fork)', arg: 'U' },
  },
  async run(ctx, { values, positionals }) {
    const root = requireTown(ctx.cwd);
    const [name, source] = positionals;
    const r = await addRig(root, name, source, {
      prefix: values.prefix,
      branch: values.branch,
      pushUrl: values['push-url'],
      actor: ctx.actor,
      cwd: ctx.cwd,
    });
    return {
      data: r,
      text: [
        `${ctx.color.green('✓')} Rig "${r.name}" added (prefix ${r.prefix}, branch ${r.default_branch} at ${short(r.head)})`,
        `  repo:     ${r.paths.repo_git}`,
        `  mayor:    ${r.paths.mayor_rig}`,
        `  refinery: ${r.paths.refinery_rig}`,
        `  agents:   ${r.agent_beads.join(', ')}`,
        `  polecat names: ${r.theme}`,
      ].join('\n'),
    };
  },
};

const rigList: CommandDef = {
  name: 'list',
  aliases: ['ls'],
  summary: 'The rigs of the town',
  usage: 'gt rig list [--json]',
  async run(ctx) {
    const root = requireTown(ctx.cwd);
    const rigs = await listRigs(root);
    const text = rigs.length
      ? rigs
          .map((r) => {
            const flags = [r.parked ? 'parked' : '', r.docked ? 'docked' : ''].filter(Boolean).join(',');
            return `${r.name.padEnd(16)} ${r.prefix.padEnd(6)} ${r.default_branch.padEnd(10)} ${r.git_url}${flags ? ctx.color.yellow(`  [${flags}]`) : ''}`;
          })
          .join('\n')
      : 'no rigs yet: gt rig add NAME URL';
    return { data: rigs, text };
  },
};

function statusText(ctx: Ctx, s: Awaited<ReturnType<typeof rigStatus>>): string {
  const lines = [
    `${ctx.color.bold(s.name)} (prefix ${s.prefix})${s.parked ? ctx.color.yellow(' parked') : ''}${s.docked ? ctx.color.yellow(' docked') : ''}`,
    `  source:   ${s.git_url}${s.push_url ? ` (push: ${s.push_url})` : ''}`,
    `  branch:   ${s.default_branch} at ${short(s.head)}`,
    `  dir:      ${s.paths.dir}`,
    ...s.worktrees.map(
      (w) => `  worktree: ${w.path} ${w.branch ? `[${w.branch}]` : '(detached)'} ${short(w.head)}`,
    ),
    `  polecats: ${s.polecats.join(', ') || '-'}`,
    `  crew:     ${s.crew.join(', ') || '-'}`,
  ];
  if (s.missing.length) lines.push(ctx.color.red(`  missing:  ${s.missing.join(', ')} (gt doctor --fix)`));
  return lines.join('\n');
}

const rigStatusCmd: CommandDef = {
  name: 'status',
  summary: 'Paths, default branch and its head, worktrees, polecats, crew, parked/docked',
  usage: 'gt rig status [NAME] [--json]  (no NAME: the rig you are in, else every rig)',
  args: [0, 1],
  async run(ctx, { positionals }) {
    const root = requireTown(ctx.cwd);
    let name = positionals[0];
    if (!name) {
      try {
        name = resolveRig(root, ctx.cwd);
      } catch {
        name = '';
      }
    }
    if (name) {
      const s = await rigStatus(root, name);
      return { data: s, text: statusText(ctx, s) };
    }
    const all = [];
    for (const n of Object.keys(loadRigs(root).rigs).sort()) all.push(await rigStatus(root, n));
    return {
      data: all,
      text: all.length ? all.map((s) => statusText(ctx, s)).join('\n\n') : 'no rigs yet: gt rig add NAME URL',
    };
  },
};

const rigRemove: CommandDef = {
  name: 'remove',
  aliases: ['rm'],
  summary: 'Unregister a rig (its files stay unless --purge)',
  usage: 'gt rig remove NAME [--force] [--purge]',
  args: [1, 1],
  options: {
    force: { type: 'boolean', desc: 'even when polecats (or, with --purge, crew) have uncommitted work' },
    purge: { type: 'boolean', desc: 'also delete the rig directory and its committed config' },
  },
  async run(ctx, { values, positionals }) {
    const root = requireTown(ctx.cwd);
    const r = await removeRig(root, positionals[0], {
      force: values.force,
      purge: values.purge,
      actor: ctx.actor,
    });
    return {
      data: r,
      text: r.purged
        ? `Rig "${r.name}" removed and its files deleted`
        : `Rig "${r.name}" unregistered; its files are kept in ${r.kept} (delete them, or \`gt rig remove\` with --purge next time)`,
    };
  },
};

const rigArg = (root: string, name: string) => {
  getRig(root, name);
  return name;
};

const settingsShow: CommandDef = {
  name: 'show',
  summary: "The rig's settings layer, or one key's effective value and origin",
  usage: 'gt rig settings show RIG [KEY]',
  args: [1, 2],
  run(ctx, { positionals }) {
    const root = requireTown(ctx.cwd);
    const rig = rigArg(root, positionals[0]);
    if (positionals[1]) {
      const r = getSetting(positionals[1], { townRoot: root, rig });
      if (r.value === undefined)
        throw new UsageError(`no setting "${positionals[1]}" (gt config list shows them)`);
      return { data: { key: positionals[1], ...r }, text: `${show(r.value)}\t(${r.origin})` };
    }
    const data = loadRigSettings(root, rig);
    return { data, text: JSON.stringify(data, null, 2) };
  },
};

const settingsSet: CommandDef = {
  name: 'set',
  summary: "Set a key in the rig's settings (<rig>/settings/config.json), committed",
  usage: 'gt rig settings set RIG KEY VALUE',
  args: [3, 3],
  run(ctx, { positionals }) {
    const root = requireTown(ctx.cwd);
    const [rig, key, raw] = positionals;
    rigArg(root, rig);
    validateKey(key);
    if (key === 'type' || key === 'version')
      throw new UsageError(`"${key}" is managed by gt; set another key`);
    const value = parseValue(raw);
    const file = setSetting(root, key, value, rig);
    commitTownFiles(root, [file], `gt rig settings set ${rig} ${key}`, ctx.actor);
    return { data: { rig, key, value, file }, text: `${rig}: ${key} = ${show(value)}` };
  },
};

const settingsUnset: CommandDef = {
  name: 'unset',
  summary: "Remove a key from the rig's settings",
  usage: 'gt rig settings unset RIG KEY',
  args: [2, 2],
  run(ctx, { positionals }) {
    const root = requireTown(ctx.cwd);
    const [rig, key] = positionals;
    rigArg(root, rig);
    if (key === 'type' || key === 'version') throw new UsageError(`"${key}" is managed by gt`);
    const r = unsetSetting(root, key, rig);
    if (r.removed) commitTownFiles(root, [r.file], `gt rig settings unset ${rig} ${key}`, ctx.actor);
    return {
      data: { rig, key, ...r },
      text: r.removed ? `${rig}: unset ${key}` : `${key} was not set in rig ${rig}`,
    };
  },
};

const rigSettings: CommandDef = {
  name: 'settings',
  summary: 'The rig layer of the settings (merge_queue, namepool, agents, ...)',
  usage: 'gt rig settings show|set|unset RIG KEY [VALUE]',
  sub: [settingsShow, settingsSet, settingsUnset],
};

const rigPark: CommandDef = {
  name: 'park',
  summary: 'Park a rig on this machine: its agents are not restarted automatically (not committed)',
  usage: 'gt rig park RIG',
  args: [1, 1],
  run(ctx, { positionals }) {
    const root = requireTown(ctx.cwd);
    const r = parkRig(root, positionals[0], ctx.actor ?? process.env.BD_ACTOR ?? 'overseer');
    return {
      data: { rig: positionals[0], parked: true, ...r },
      text: r.changed ? `Rig ${positionals[0]} parked` : `Rig ${positionals[0]} was already parked`,
    };
  },
};

const rigUnpark: CommandDef = {
  name: 'unpark',
  summary: 'Let the daemon restart the rig agents again',
  usage: 'gt rig unpark RIG',
  args: [1, 1],
  run(ctx, { positionals }) {
    const root = requireTown(ctx.cwd);
    const r = unparkRig(root, positionals[0]);
    return {
      data: { rig: positionals[0], parked: false, ...r },
      text: r.changed ? `Rig ${positionals[0]} unparked` : `Rig ${positionals[0]} was not parked`,
    };
  },
};

function dockCmd(docked: boolean): CommandDef {
  const verb = docked ? 'dock' : 'undock';
  return {
    name: verb,
    summary: docked
      ? 'Take a rig offline for every clone of the town (status:docked on its rig bead)'
      : 'Bring a docked rig back online',
    usage: `gt rig ${verb} RIG`,
    args: [1, 1],
    async run(ctx, { positionals }) {
      const root = requireTown(ctx.cwd);
      const r = await setDocked(root, positionals[0], docked, ctx.actor);
      return {
        data: { rig: positionals[0], docked, ...r },
        text: r.changed
          ? `Rig ${positionals[0]} ${verb}ed (${r.bead})`
          : `Rig ${positionals[0]} was already ${docked ? 'docked' : 'undocked'}`,
      };
    },
  };
}

export const rigCommand: CommandDef = {
  name: 'rig',
  summary: 'Rigs: add, list, status, remove, settings, park/unpark, dock/undock',
  usage: 'gt rig add|list|status|remove|settings|park|unpark|dock|undock',
  sub: [
    rigAdd,
    rigList,
    rigStatusCmd,
    rigRemove,
    rigSettings,
    rigPark,
    rigUnpark,
    dockCmd(true),
    dockCmd(false),
  ],
};

// ---- gt crew ----------------------------------------------------------------------------------

const crewRigOpt = {
  type: 'string',
  desc: 'the rig (default: the rig you are in, or the only one)',
  arg: 'R',
} as const;

const crewAdd: CommandDef = {
  name: 'add',
  summary: "Create a crew member: a full clone of the rig's repository under <rig>/crew/NAME",
  usage: 'gt crew add NAME [--rig R] [--branch B]',
  args: [1, 1],
  options: { rig: crewRigOpt, branch: { type: 'string', desc: 'check out this branch', arg: 'B' } },
  async run(ctx, { values, positionals }) {
    const root = requireTown(ctx.cwd);
    validateAgentName(positionals[0], 'crew');
    const rig = resolveRig(root, ctx.cwd, values.rig);
    const c = await addCrew(root, rig, positionals[0], { branch: values.branch, actor: ctx.actor });
    return {
      data: c,
      text: `${ctx.color.green('✓')} Crew ${c.actor} at ${c.path} (branch ${c.branch ?? '-'}, bead ${c.agent_bead})`,
    };
  },
};

const crewList: CommandDef = {
  name: 'list',
  aliases: ['ls'],
  summary: 'Crew members with their branch and unsaved work',
  usage: 'gt crew list [--rig R] [--json]',
  options: { rig: crewRigOpt },
  run(ctx, { values }) {
    const root = requireTown(ctx.cwd);
    let rigs: string[];
    if (values.rig) rigs = [resolveRig(root, ctx.cwd, values.rig)];
    else {
      try {
        rigs = [resolveRig(root, ctx.cwd)];
      } catch {
        rigs = Object.keys(loadRigs(root).rigs).sort();
      }
    }
    const crew = rigs.flatMap((r) => listCrew(root, r));
    const text = crew.length
      ? crew
          .map((c) => {
            const work = [
              c.uncommitted ? `${c.uncommitted} uncommitted` : '',
              c.unpushed ? `${c.unpushed} unpushed` : '',
              c.stashes ? `${c.stashes} stashed` : '',
            ]
              .filter(Boolean)
              .join(', ');
            return `${`${c.rig}/${c.name}`.padEnd(24)} ${(c.branch ?? '-').padEnd(16)} ${work ? ctx.color.yellow(work) : 'clean'}`;
          })
          .join('\n')
      : 'no crew yet: gt crew add NAME';
    return { data: crew, text };
  },
};

const crewRemove: CommandDef = {
  name: 'remove',
  aliases: ['rm'],
  summary: 'Delete a crew clone (refused with uncommitted or unpushed work unless --force)',
  usage: 'gt crew remove NAME [--rig R] [--force]',
  args: [1, 1],
  options: { rig: crewRigOpt, force: { type: 'boolean', desc: 'discard uncommitted and unpushed work' } },
  async run(ctx, { values, positionals }) {
    const root = requireTown(ctx.cwd);
    validateAgentName(positionals[0], 'crew');
    const rig = resolveRig(root, ctx.cwd, values.rig);
    const r = await removeCrew(root, rig, positionals[0], { force: values.force, actor: ctx.actor });
    return {
      data: r,
      text: `Crew ${rig}/${r.name} removed${r.discarded ? ` (discarded: ${r.discarded})` : ''}`,
    };
  },
};

/** `gt crew`: other modules add their subcommands (e.g. `at`) to `crewCommand.sub`. */
export const crewCommand: CommandDef = {
  name: 'crew',
  summary: 'Crew: long-lived workers with full clones of a rig',
  usage: 'gt crew add|list|remove',
  sub: [crewAdd, crewList, crewRemove],
};

// ---- gt namepool ------------------------------------------------------------------------------

export const namepoolCommand: CommandDef = {
  name: 'namepool',
  summary: 'Polecat names of a rig: status, themes, set THEME, add NAME, reset',
  usage: 'gt namepool [--rig R] [themes|set THEME|add NAME|reset] [--list] [--json]',
  args: [0, 2],
  options: {
    rig: crewRigOpt,
    list: { type: 'boolean', desc: 'every name of the pool, in allocation order, with its state' },
  },
  run(ctx, { values, positionals }) {
    const root = requireTown(ctx.cwd);
    const [action, arg] = positionals;
    const need = (n: number) => {
      if (positionals.length !== n)
        throw new UsageError(
          `gt namepool ${action} takes ${n - 1} argument(s). Usage: ${namepoolCommand.usage}`,
        );
    };
    if (action === 'themes') {
      need(1);
      const used = themesInUse(root);
      const data = THEME_ORDER.map((t) => ({
        theme: t,
        size: THEMES[t].length,
        rigs: used.get(t) ?? [],
        sample: THEMES[t].slice(0, 5),
      }));
      return {
        data,
        text: data
          .map(
            (d) =>
              `${d.theme.padEnd(10)} ${d.size} names (${d.sample.join(', ')}, ...)${d.rigs.length ? `  used by ${d.rigs.join(', ')}` : ''}`,
          )
          .join('\n'),
      };
    }
    const rig = resolveRig(root, ctx.cwd, values.rig);
    if (action === 'set') {
      need(2);
      validateTheme(arg);
      const file = setSetting(root, 'namepool.theme', arg, rig);
      commitTownFiles(root, [file], `gt namepool set ${arg} (rig ${rig})`, ctx.actor);
      const state = setNamepoolTheme(root, rig, arg);
      return { data: { rig, theme: state.theme, file }, text: `Rig ${rig} now names polecats from ${arg}` };
    }
    if (action === 'add') {
      need(2);
      validateAgentName(arg, 'polecat');
      const current = loadRigSettings(root, rig).namepool?.names;
      const names: string[] = Array.isArray(current) ? [...current] : [];
      if (names.includes(arg))
        return { data: { rig, name: arg, added: false }, text: `${arg} is already in the pool` };
      names.push(arg);
      const file = setSetting(root, 'namepool.names', names, rig);
      commitTownFiles(root, [file], `gt namepool add ${arg} (rig ${rig})`, ctx.actor);
      return { data: { rig, name: arg, added: true, file }, text: `Added ${arg} to the name pool of ${rig}` };
    }
    if (action === 'reset') {
      need(1);
      const r = resetNamepool(root, rig);
      return {
        data: { rig, ...r },
        text: `Name pool of ${rig} reset (theme ${r.state.theme}${r.removed_pending.length ? `; released ${r.removed_pending.join(', ')}` : ''})`,
      };
    }
    if (action !== undefined)
      throw new UsageError(`unknown namepool action "${action}": use themes, set THEME, add NAME or reset`);
    const s = namepoolStatus(root, rig);
    if (values.list) {
      return {
        data: s.names,
        text: s.names
          .map((n) => `${n.name}${n.in_use ? ctx.color.dim(n.pending ? '  (reserved)' : '  (in use)') : ''}`)
          .join('\n'),
      };
    }
    return {
      data: s,
      text: [
        `rig:      ${s.rig}`,
        `theme:    ${s.theme}${s.pinned ? ' (set in the rig settings)' : ''}`,
        `size:     ${s.size}`,
        `in use:   ${s.in_use.join(', ') || '-'}`,
        `next:     ${s.next}`,
        `overflow: next number ${s.overflow_next}`,
      ].join('\n'),
    };
  },
};

export const rigCommands: CommandDef[] = [rigCommand, crewCommand, namepoolCommand];
