// gt commands for the town itself: install, config (layered settings), whoami.
import path from 'node:path';
import { UsageError } from '../../errors.ts';
import { loadCodec } from '../../ledger/codec.ts';
import { commitTownFiles, type RigsJson, readJson } from '../../town/files.ts';
import { actorOf, addressOf, detectIdentity, sessionNameOf } from '../../town/identity.ts';
import { install } from '../../town/install.ts';
import { requireTown, townPaths } from '../../town/paths.ts';
import { getSetting, listSettings, parseValue, setSetting, unsetSetting } from '../../town/settings.ts';
import type { CommandDef, Ctx } from '../framework.ts';
import { configAgentCommand, configDefaultAgentCommand } from './agent-config.ts';

const installCmd: CommandDef = {
  name: 'install',
  summary: 'Create a town: a git repository with its ledger (refs/gt/ledger), config and town agents',
  usage: 'gt install DIR [--name NAME] [--owner EMAIL] [--force]',
  args: [1, 1],
  options: {
    name: { type: 'string', desc: 'town name (default: the directory name)', arg: 'NAME' },
    owner: { type: 'string', desc: "owner's email (default: git user.email)", arg: 'EMAIL' },
    force: { type: 'boolean', desc: 'install into a non-empty directory' },
  },
  async run(ctx, { values, positionals }) {
    await loadCodec();
    const r = await install(path.resolve(ctx.cwd, positionals[0]), {
      name: values.name,
      owner: values.owner,
      force: values.force,
      actor: ctx.actor,
    });
    return {
      data: r,
      text: r.created
        ? `${ctx.color.green('✓')} Town "${r.name}" installed at ${r.root}\n  ledger: ${r.ledger_ref} (prefix ${r.prefix})\n  next: gt rig add NAME URL`
        : `Town "${r.name}" is already installed at ${r.root}${r.committed ? ' (missing files restored)' : ''}`,
    };
  },
};

/** The rig a config command addresses: --rig, else the rig the cwd is in. */
function rigFor(ctx: Ctx, root: string, flag?: string): string | undefined {
  const rigs = readJson<RigsJson>(townPaths(root).rigsJson, 'mayor/rigs.json').rigs;
  if (flag) {
    if (!rigs[flag])
      throw new UsageError(`no rig named "${flag}" (rigs: ${Object.keys(rigs).join(', ') || 'none'})`);
    return flag;
  }
  const id = detectIdentity(root, ctx.cwd, {});
  return id.rig && rigs[id.rig] ? id.rig : undefined;
}

const rigOpt = { type: 'string', desc: 'the rig layer (default: the rig you are in)', arg: 'RIG' } as const;

function show(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

const configGet: CommandDef = {
  name: 'get',
  summary: 'The effective value of a setting',
  usage: 'gt config get KEY [--rig RIG] [--show-origin]',
  args: [1, 1],
  options: { rig: rigOpt, 'show-origin': { type: 'boolean', desc: 'say which layer it came from' } },
  run(ctx, { values, positionals }) {
    const root = requireTown(ctx.cwd);
    const r = getSetting(positionals[0], { townRoot: root, rig: rigFor(ctx, root, values.rig) });
    if (r.value === undefined)
      throw new UsageError(`no setting "${positionals[0]}" (gt config list shows them)`);
    return {
      data: { key: positionals[0], ...r },
      text: values['show-origin'] ? `${show(r.value)}\t(${r.origin})` : show(r.value),
    };
  },
};

const configSet: CommandDef = {
  name: 'set',
  summary: 'Set a value in the town layer (or a rig layer with --rig); committed to the town repository',
  usage: 'gt config set KEY VALUE [--rig RIG]',
  args: [2, 2],
  options: { rig: rigOpt },
  run(ctx, { values, positionals }) {
    const root = requireTown(ctx.cwd);
    const rig = values.rig ? rigFor(ctx, root, values.rig) : undefined;
    const value = parseValue(positionals[1]);
    const file = setSetting(root, positionals[0], value, rig);
    commitTownFiles(root, [file], `gt config set ${positionals[0]}${rig ? ` (rig ${rig})` : ''}`, ctx.actor);
    return {
      data: { key: positionals[0], value, layer: rig ? 'rig' : 'town', file },
      text: `${positionals[0]} = ${show(value)} (${rig ? `rig ${rig}` : 'town'})`,
    };
  },
};

const configUnset: CommandDef = {
  name: 'unset',
  summary: 'Remove a value from the town layer (or a rig layer)',
  usage: 'gt config unset KEY [--rig RIG]',
  args: [1, 1],
  options: { rig: rigOpt },
  run(ctx, { values, positionals }) {
    const root = requireTown(ctx.cwd);
    const rig = values.rig ? rigFor(ctx, root, values.rig) : undefined;
    const r = unsetSetting(root, positionals[0], rig);
    if (r.removed) commitTownFiles(root, [r.file], `gt config unset ${positionals[0]}`, ctx.actor);
    return {
      data: { key: positionals[0], ...r },
      text: r.removed ? `unset ${positionals[0]}` : `${positionals[0]} was not set there`,
    };
  },
};

const configList: CommandDef = {
  name: 'list',
  summary: 'Every setting with its effective value',
  usage: 'gt config list [--rig RIG] [--show-origin]',
  options: { rig: rigOpt, 'show-origin': { type: 'boolean', desc: 'say which layer each came from' } },
  run(ctx, { values }) {
    const root = requireTown(ctx.cwd);
    const rows = listSettings({ townRoot: root, rig: rigFor(ctx, root, values.rig) });
    const text = rows
      .map(
        (r) => `${r.key} = ${show(r.value)}${values['show-origin'] ? ctx.color.dim(`  (${r.origin})`) : ''}`,
      )
      .join('\n');
    return { data: rows, text };
  },
};

export const configCommand: CommandDef = {
  name: 'config',
  summary: 'Settings in layers: flag > env > rig > town > default',
  usage: 'gt config get|set|unset|list|agent|default-agent',
  sub: [configGet, configSet, configUnset, configList, configAgentCommand, configDefaultAgentCommand],
};

const whoami: CommandDef = {
  name: 'whoami',
  summary: 'Who you are here: role, actor, mail address, session',
  usage: 'gt whoami',
  run(ctx) {
    const root = requireTown(ctx.cwd);
    const id = detectIdentity(root, ctx.cwd);
    let prefix: string | undefined;
    if (id.rig) {
      const rigs = readJson<RigsJson>(townPaths(root).rigsJson, 'mayor/rigs.json').rigs;
      prefix = rigs[id.rig]?.beads.prefix;
    }
    let session: string | null = null;
    try {
      session = sessionNameOf(id, prefix);
    } catch {
      session = null;
    }
    const data = { ...id, actor: actorOf(id), address: addressOf(id), session, town: root };
    return {
      data,
      text: `${data.actor} (${id.role}${id.rig ? ` in ${id.rig}` : ''})\naddress: ${data.address}\nsession: ${session ?? '-'}\ntown: ${root}`,
    };
  },
};

export const townCommands: CommandDef[] = [installCmd, configCommand, whoami];
