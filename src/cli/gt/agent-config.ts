// `gt config agent list|get|set|remove` and `gt config default-agent [NAME]`: the agent
// runtime presets of spec §7 and custom agents kept in town (or rig) settings `agents{}`.
import { GtError, NotFoundError, UsageError } from '../../errors.ts';
import {
  BUILTIN_AGENT_NAMES,
  describeAgent,
  isBuiltinAgent,
  loadAgents,
  presetFromSettings,
  splitCommandLine,
  validateAgentPresetName,
} from '../../runtime/presets.ts';
import { validateEnvName } from '../../runtime/tmux.ts';
import { commitTownFiles, type RigsJson, readJson } from '../../town/files.ts';
import { requireTown, townPaths } from '../../town/paths.ts';
import {
  getSetting,
  loadRigSettings,
  loadTownSettings,
  setSetting,
  unsetSetting,
} from '../../town/settings.ts';
import type { CommandDef } from '../framework.ts';

const rigOpt = { type: 'string', desc: 'the rig layer instead of the town', arg: 'RIG' } as const;

function checkRig(root: string, rig?: string): string | undefined {
  if (rig === undefined) return undefined;
  const rigs = readJson<RigsJson>(townPaths(root).rigsJson, 'mayor/rigs.json').rigs;
  if (!Object.hasOwn(rigs, rig))
    throw new UsageError(`no rig named "${rig}" (rigs: ${Object.keys(rigs).join(', ') || 'none'})`);
  return rig;
}

const agentList: CommandDef = {
  name: 'list',
  summary: 'Built-in presets and custom agents, and whether their CLI is installed',
  usage: 'gt config agent list [--rig RIG]',
  options: { rig: rigOpt },
  run(ctx, { values }) {
    const root = requireTown(ctx.cwd);
    const agents = [...loadAgents(root, checkRig(root, values.rig)).values()].map((p) => describeAgent(p));
    const def = getSetting('default_agent', { townRoot: root });
    const width = Math.max(...agents.map((a) => a.name.length)) + 2;
    const text = [
      ...agents.map(
        (a) =>
          `${a.name.padEnd(width)}${a.installed ? ctx.color.green('installed') : ctx.color.dim('missing  ')}  ${a.builtin ? 'built-in' : 'custom  '}  ${a.command.join(' ')}`,
      ),
      '',
      `default agent: ${def.value} (${def.origin})${def.value === 'auto' ? ': claude when installed, else scripted' : ''}`,
    ].join('\n');
    return { data: { default_agent: def.value, agents }, text };
  },
};

const agentGet: CommandDef = {
  name: 'get',
  summary: 'One agent preset in full',
  usage: 'gt config agent get NAME [--rig RIG]',
  args: [1, 1],
  options: { rig: rigOpt },
  run(ctx, { values, positionals }) {
    const root = requireTown(ctx.cwd);
    const name = positionals[0];
    validateAgentPresetName(name);
    const p = loadAgents(root, checkRig(root, values.rig)).get(name);
    if (!p) throw new NotFoundError(`no agent named "${name}" (gt config agent list shows them)`);
    const d = describeAgent(p);
    const text = Object.entries(d)
      .map(([k, v]) => `${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
      .join('\n');
    return { data: d, text };
  },
};

const agentSet: CommandDef = {
  name: 'set',
  summary: 'Define a custom agent (or override a built-in): NAME "COMMAND ARGS" (split without a shell)',
  usage:
    'gt config agent set NAME "COMMAND ARGS" [--provider P] [--env K=V] [--process-names a,b] [--ready-prompt P] [--ready-delay MS] [--prompt-mode arg|none] [--rig RIG]',
  args: [2, 2],
  options: {
    provider: { type: 'string', desc: 'behave like this built-in preset (hooks, readiness)', arg: 'P' },
    env: { type: 'string', multiple: true, desc: 'environment for the agent', arg: 'K=V' },
    'process-names': { type: 'string', desc: 'pane commands that mean "alive"', arg: 'a,b' },
    'ready-prompt': { type: 'string', desc: 'ready when a pane line starts with this', arg: 'P' },
    'ready-delay': { type: 'string', desc: 'else ready after this many ms', arg: 'MS' },
    'prompt-mode': { type: 'string', desc: 'arg: beacon as the last argument; none: typed in', arg: 'MODE' },
    rig: rigOpt,
  },
  run(ctx, { values, positionals }) {
    const root = requireTown(ctx.cwd);
    const rig = checkRig(root, values.rig);
    const [name, line] = positionals;
    validateAgentPresetName(name);
    const words = splitCommandLine(line);
    if (words.length === 0) throw new UsageError('the agent command is empty: give "COMMAND ARGS"');
    const entry: Record<string, unknown> = { command: words[0], args: words.slice(1) };
    if (values.provider) entry.provider = values.provider;
    if (values.env) {
      const env: Record<string, string> = {};
      for (const kv of values.env as string[]) {
        const i = kv.indexOf('=');
        if (i <= 0) throw new UsageError(`--env ${JSON.stringify(kv)} must look like NAME=value`);
        validateEnvName(kv.slice(0, i));
        env[kv.slice(0, i)] = kv.slice(i + 1);
      }
      entry.env = env;
    }
    if (values['process-names'])
      entry.process_names = String(values['process-names'])
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
    if (values['ready-prompt'] !== undefined) entry.ready_prompt_prefix = values['ready-prompt'];
    if (values['ready-delay'] !== undefined) {
      const ms = Number(values['ready-delay']);
      if (!Number.isInteger(ms) || ms < 0)
        throw new UsageError(`--ready-delay ${values['ready-delay']} must be a whole number of milliseconds`);
      entry.ready_delay_ms = ms;
    }
    if (values['prompt-mode'] !== undefined) entry.prompt_mode = values['prompt-mode'];
    let preset: ReturnType<typeof presetFromSettings>;
    try {
      preset = presetFromSettings(name, entry, rig ? `${rig}/settings/config.json` : 'settings/config.json');
    } catch (e: any) {
      throw e instanceof UsageError ? e : new UsageError(e.message);
    }
    const file = setSetting(root, `agents.${name}`, entry, rig);
    commitTownFiles(root, [file], `gt config agent set ${name}`, ctx.actor);
    const d = describeAgent(preset);
    if (!d.installed)
      ctx.warn(
        `note: \`${preset.command}\` is not on PATH; sessions using ${name} will not start until it is installed`,
      );
    return {
      data: { ...d, layer: rig ? 'rig' : 'town', file },
      text: `agent ${name} = ${d.command.join(' ')}${isBuiltinAgent(name) ? ' (overrides the built-in preset)' : ''}`,
    };
  },
};

const agentRemove: CommandDef = {
  name: 'remove',
  aliases: ['rm'],
  summary: 'Remove a custom agent (built-in presets cannot be removed; an override of one can)',
  usage: 'gt config agent remove NAME [--rig RIG]',
  args: [1, 1],
  options: { rig: rigOpt },
  run(ctx, { values, positionals }) {
    const root = requireTown(ctx.cwd);
    const rig = checkRig(root, values.rig);
    const name = positionals[0];
    validateAgentPresetName(name);
    const settings = rig ? loadRigSettings(root, rig) : loadTownSettings(root);
    const custom = settings.agents && Object.hasOwn(settings.agents, name);
    if (!custom) {
      if (isBuiltinAgent(name)) throw new UsageError(`"${name}" is a built-in preset and cannot be removed`);
      throw new NotFoundError(
        `no custom agent "${name}" in the ${rig ? `rig ${rig}` : 'town'} settings (gt config agent list shows them)`,
      );
    }
    if (!rig && getSetting('default_agent', { townRoot: root }).value === name)
      throw new GtError(
        `"${name}" is the default agent: choose another first (gt config default-agent NAME)`,
      );
    const r = unsetSetting(root, `agents.${name}`, rig);
    commitTownFiles(root, [r.file], `gt config agent remove ${name}`, ctx.actor);
    return {
      data: { name, removed: true, builtin_restored: isBuiltinAgent(name), file: r.file },
      text: `removed agent ${name}${isBuiltinAgent(name) ? ' (the built-in preset applies again)' : ''}`,
    };
  },
};

export const configAgentCommand: CommandDef = {
  name: 'agent',
  summary: `Agent runtime presets (${BUILTIN_AGENT_NAMES.join(', ')}) and custom agents`,
  usage: 'gt config agent list|get|set|remove',
  sub: [agentList, agentGet, agentSet, agentRemove],
};

export const configDefaultAgentCommand: CommandDef = {
  name: 'default-agent',
  summary: 'Show or set the town default agent (auto = claude when installed, else scripted)',
  usage: 'gt config default-agent [NAME]',
  args: [0, 1],
  run(ctx, { positionals }) {
    const root = requireTown(ctx.cwd);
    if (positionals.length === 0) {
      const r = getSetting('default_agent', { townRoot: root });
      return { data: { default_agent: r.value, origin: r.origin }, text: `${r.value}\t(${r.origin})` };
    }
    const name = positionals[0];
    if (name !== 'auto') {
      validateAgentPresetName(name);
      const p = loadAgents(root).get(name);
      if (!p)
        throw new UsageError(
          `unknown agent "${name}"; define it first with \`gt config agent set ${name} "COMMAND ARGS"\``,
        );
      if (!describeAgent(p).installed)
        ctx.warn(`note: \`${p.command}\` is not on PATH; sessions will not start until it is installed`);
    }
    const file = setSetting(root, 'default_agent', name);
    commitTownFiles(root, [file], `gt config default-agent ${name}`, ctx.actor);
    return { data: { default_agent: name, file }, text: `default agent: ${name}` };
  },
};
