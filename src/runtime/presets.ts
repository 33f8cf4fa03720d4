// Agent runtime presets (spec §7): how each agent CLI is started in a tmux pane, how gt tells
// it is ready and alive, and how its hooks are injected. Built-in presets, custom agents from
// settings (`agents{}` in town and rig settings), and the agent resolution chain.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GtError, UsageError } from '../errors.ts';
import { writeJson } from '../town/files.ts';
import { type Identity, TOWN_ROLES } from '../town/identity.ts';
import { rigPaths, townPaths } from '../town/paths.ts';
import { loadRigSettings, loadTownSettings } from '../town/settings.ts';
import { validateEnvName, whichCommand } from './tmux.ts';

export type PromptMode = 'arg' | 'none';

/** How an agent's hooks reach it. */
export interface HooksSpec {
  provider: string;
  /** Directory (under the managed parent) and file of the agent's settings. */
  dir: string;
  settings_file: string;
  /**
   * `settings-flag`: gt writes the settings and passes them with `flag` (Claude);
   * `none`: gt writes nothing yet: the agent gets its start-up context from the beacon.
   */
  inject: 'settings-flag' | 'none';
  flag?: string;
}

export interface AgentPreset {
  name: string;
  builtin: boolean;
  /** The built-in preset this one behaves like (itself for built-ins). */
  provider: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  prompt_mode: PromptMode;
  ready_prompt_prefix: string | null;
  ready_delay_ms: number;
  /** `pane_current_command` values that mean the agent is running. */
  process_names: string[];
  session_id_env?: string;
  config_dir_env?: string;
  hooks: HooksSpec | null;
  /** Prepended to the command (sandboxing), e.g. ["exitbox", "run", "--"]. */
  exec_wrapper: string[];
  description: string;
}

type PresetInit = Omit<AgentPreset, 'name' | 'builtin' | 'provider' | 'env' | 'exec_wrapper'> &
  Partial<Pick<AgentPreset, 'env' | 'exec_wrapper'>>;

const claudeHooks: HooksSpec = {
  provider: 'claude',
  dir: '.claude',
  settings_file: 'settings.json',
  inject: 'settings-flag',
  flag: '--settings',
};
const noHooks = (provider: string, dir: string, file: string): HooksSpec => ({
  provider,
  dir,
  settings_file: file,
  inject: 'none',
});

const BUILTIN: Record<string, PresetInit> = {
  claude: {
    command: 'claude',
    args: ['--dangerously-skip-permissions'],
    prompt_mode: 'arg',
    ready_prompt_prefix: '❯ ',
    ready_delay_ms: 10000,
    process_names: ['claude', 'node'],
    session_id_env: 'CLAUDE_SESSION_ID',
    config_dir_env: 'CLAUDE_CONFIG_DIR',
    hooks: claudeHooks,
    description: 'Claude Code',
  },
  codex: {
    command: 'codex',
    args: ['--dangerously-bypass-approvals-and-sandbox'],
    prompt_mode: 'none',
    ready_prompt_prefix: '› ',
    ready_delay_ms: 3000,
    process_names: ['codex'],
    hooks: null,
    description: 'OpenAI Codex CLI',
  },
  gemini: {
    command: 'gemini',
    args: ['--approval-mode', 'yolo'],
    prompt_mode: 'arg',
    ready_prompt_prefix: null,
    ready_delay_ms: 5000,
    process_names: ['gemini', 'node'],
    hooks: noHooks('gemini', '.gemini', 'settings.json'),
    description: 'Google Gemini CLI',
  },
  opencode: {
    command: 'opencode',
    args: [],
    env: { OPENCODE_PERMISSION: '{"*":"allow"}' },
    prompt_mode: 'arg',
    ready_prompt_prefix: null,
    ready_delay_ms: 8000,
    process_names: ['opencode', 'node', 'bun'],
    hooks: noHooks('opencode', '.opencode/plugins', 'gastown.js'),
    description: 'OpenCode',
  },
  copilot: {
    command: 'copilot',
    args: ['--yolo'],
    prompt_mode: 'arg',
    ready_prompt_prefix: null,
    ready_delay_ms: 5000,
    process_names: ['copilot', 'node'],
    config_dir_env: 'COPILOT_HOME',
    hooks: noHooks('copilot', '.github/hooks', 'gastown.json'),
    description: 'GitHub Copilot CLI',
  },
  cursor: {
    command: 'cursor-agent',
    args: ['-f'],
    prompt_mode: 'arg',
    ready_prompt_prefix: null,
    ready_delay_ms: 5000,
    process_names: ['cursor-agent', 'agent'],
    hooks: noHooks('cursor', '.cursor', 'hooks.json'),
    description: 'Cursor agent CLI',
  },
  amp: {
    command: 'amp',
    args: ['--dangerously-allow-all', '--no-ide'],
    prompt_mode: 'arg',
    ready_prompt_prefix: null,
    ready_delay_ms: 5000,
    process_names: ['amp', 'node'],
    hooks: null,
    description: 'Sourcegraph Amp',
  },
  auggie: {
    command: 'auggie',
    args: ['--allow-indexing'],
    prompt_mode: 'arg',
    ready_prompt_prefix: null,
    ready_delay_ms: 5000,
    process_names: ['auggie', 'node'],
    hooks: null,
    description: 'Augment Auggie CLI',
  },
  pi: {
    command: 'pi',
    args: ['-e', '.pi/extensions/gastown-hooks.js'],
    prompt_mode: 'arg',
    ready_prompt_prefix: null,
    ready_delay_ms: 8000,
    process_names: ['pi', 'node'],
    session_id_env: 'PI_SESSION_ID',
    hooks: noHooks('pi', '.pi/extensions', 'gastown-hooks.js'),
    description: 'pi coding agent',
  },
  omp: {
    command: 'omp',
    args: ['--hook', '.omp/hooks/gastown-hook.ts'],
    prompt_mode: 'arg',
    ready_prompt_prefix: null,
    ready_delay_ms: 5000,
    process_names: ['omp', 'node', 'bun'],
    session_id_env: 'OMP_SESSION_ID',
    hooks: noHooks('omp', '.omp/hooks', 'gastown-hook.ts'),
    description: 'oh-my-pi',
  },
  vibe: {
    command: 'vibe',
    args: ['--agent', 'auto-approve'],
    prompt_mode: 'arg',
    ready_prompt_prefix: '❯ ',
    ready_delay_ms: 5000,
    process_names: ['vibe', 'python', 'python3'],
    hooks: noHooks('vibe', '.vibe', 'config.toml'),
    description: 'Mistral Vibe',
  },
};

export const BUILTIN_AGENT_NAMES = [...Object.keys(BUILTIN), 'scripted'];

/** The directory of this package (holds dist/, templates/). */
export function packageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && fs.existsSync(path.join(dir, 'templates'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new GtError('cannot find the gt package directory (templates/ is missing)');
    dir = parent;
  }
}

/** The gt program itself (dist/gt.mjs), used to run gt from tmux (scripted agent, hooks). */
export function gtBinPath(opts: { check?: boolean } = {}): string {
  const bin = process.env.GT_BIN
    ? path.resolve(process.env.GT_BIN)
    : path.join(packageRoot(), 'dist', 'gt.mjs');
  if (opts.check !== false && !fs.existsSync(bin))
    throw new GtError(`${bin} is missing: build gt first (npm run build)`);
  return bin;
}

function builtin(name: string): AgentPreset {
  if (name === 'scripted') {
    return {
      name,
      builtin: true,
      provider: 'scripted',
      command: process.execPath,
      args: [gtBinPath({ check: false }), 'agent', 'scripted'],
      env: {},
      // The scripted agent runs `gt prime` itself; GT_BEACON carries the beacon.
      prompt_mode: 'none',
      ready_prompt_prefix: null,
      ready_delay_ms: 300,
      process_names: ['node'],
      hooks: null,
      exec_wrapper: [],
      description: 'Built-in scripted agent (no LLM): gt agent scripted',
    };
  }
  const p = BUILTIN[name];
  return {
    ...structuredClone(p),
    name,
    builtin: true,
    provider: name,
    env: { ...(p.env ?? {}) },
    exec_wrapper: [...(p.exec_wrapper ?? [])],
  };
}

export function isBuiltinAgent(name: string): boolean {
  return BUILTIN_AGENT_NAMES.includes(name);
}

/** Agent names become settings keys and env values: keep them plain. */
export function validateAgentPresetName(name: string): void {
  if (!/^[A-Za-z][A-Za-z0-9_-]{0,39}$/.test(name))
    throw new UsageError(
      `invalid agent name ${JSON.stringify(name)}: start with a letter, then letters, digits, - or _ (at most 40)`,
    );
  if (name === 'auto')
    throw new UsageError('"auto" is not an agent: it means claude when installed, else scripted');
}

/**
 * Split a command line into words like a shell would for plain words and quotes, with no
 * expansion of any kind (`$`, globs, `~`, backticks stay literal). Used by
 * `gt config agent set NAME "cmd args"`.
 */
export function splitCommandLine(line: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote === "'") {
      if (c === "'") quote = null;
      else cur += c;
    } else if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === '\\' && i + 1 < line.length && '"\\'.includes(line[i + 1])) cur += line[++i];
      else cur += c;
    } else if (c === "'" || c === '"') {
      quote = c;
      inWord = true;
    } else if (c === '\\' && i + 1 < line.length) {
      cur += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (quote) throw new UsageError(`unterminated ${quote} quote in ${JSON.stringify(line)}`);
  if (inWord) words.push(cur);
  return words;
}

function strList(v: unknown, what: string): string[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string'))
    throw new GtError(`${what} must be a list of strings`);
  return v as string[];
}

/** Build a preset from a settings entry (`agents.NAME`), over its built-in base when it has one. */
export function presetFromSettings(name: string, raw: unknown, where: string): AgentPreset {
  validateAgentPresetName(name);
  const what = `agent "${name}" in ${where}`;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw))
    throw new GtError(`${what} must be an object like {"command": "...", "args": []}`);
  const r = raw as Record<string, any>;
  const providerName = typeof r.provider === 'string' ? r.provider : isBuiltinAgent(name) ? name : undefined;
  if (providerName !== undefined && !isBuiltinAgent(providerName))
    throw new GtError(`${what}: unknown provider "${providerName}" (${BUILTIN_AGENT_NAMES.join(', ')})`);
  const base: AgentPreset = providerName
    ? builtin(providerName)
    : {
        name,
        builtin: false,
        provider: name,
        command: '',
        args: [],
        env: {},
        prompt_mode: 'arg',
        ready_prompt_prefix: null,
        ready_delay_ms: 1000,
        process_names: [],
        hooks: null,
        exec_wrapper: [],
        description: 'custom agent',
      };
  const p: AgentPreset = { ...base, name, builtin: false, description: base.description };
  if (r.command !== undefined) {
    if (typeof r.command !== 'string' || !r.command.trim())
      throw new GtError(`${what}: command must be text`);
    p.command = r.command;
    if (!providerName || r.command !== base.command) p.description = `custom: ${r.command}`;
  }
  if (!p.command) throw new GtError(`${what} has no command`);
  if (r.args !== undefined) p.args = strList(r.args, `${what}: args`);
  if (r.env !== undefined) {
    if (!r.env || typeof r.env !== 'object') throw new GtError(`${what}: env must be an object`);
    for (const [k, v] of Object.entries(r.env)) {
      validateEnvName(k);
      if (typeof v !== 'string') throw new GtError(`${what}: env.${k} must be text`);
    }
    p.env = { ...p.env, ...(r.env as Record<string, string>) };
  }
  if (r.prompt_mode !== undefined) {
    if (r.prompt_mode !== 'arg' && r.prompt_mode !== 'none')
      throw new GtError(`${what}: prompt_mode must be "arg" or "none"`);
    p.prompt_mode = r.prompt_mode;
  }
  const tmux = { ...(r.tmux ?? {}), ...r };
  if (tmux.process_names !== undefined)
    p.process_names = strList(tmux.process_names, `${what}: process_names`);
  if (tmux.ready_prompt_prefix !== undefined) {
    if (tmux.ready_prompt_prefix !== null && typeof tmux.ready_prompt_prefix !== 'string')
      throw new GtError(`${what}: ready_prompt_prefix must be text`);
    p.ready_prompt_prefix = tmux.ready_prompt_prefix || null;
  }
  if (tmux.ready_delay_ms !== undefined) {
    if (!Number.isFinite(tmux.ready_delay_ms) || tmux.ready_delay_ms < 0)
      throw new GtError(`${what}: ready_delay_ms must be a number of milliseconds`);
    p.ready_delay_ms = tmux.ready_delay_ms;
  }
  const session = { ...(r.session ?? {}), ...r };
  if (typeof session.session_id_env === 'string') p.session_id_env = session.session_id_env;
  if (typeof session.config_dir_env === 'string') p.config_dir_env = session.config_dir_env;
  if (r.exec_wrapper !== undefined) p.exec_wrapper = strList(r.exec_wrapper, `${what}: exec_wrapper`);
  if (r.description !== undefined) p.description = String(r.description);
  if (p.process_names.length === 0) p.process_names = [path.basename(p.command)];
  return p;
}

/** Every agent the town knows: built-in presets, town `agents{}`, then the rig's `agents{}`. */
export function loadAgents(townRoot: string, rig?: string): Map<string, AgentPreset> {
  const out = new Map<string, AgentPreset>();
  for (const name of BUILTIN_AGENT_NAMES) out.set(name, builtin(name));
  const layers: [Record<string, any>, string][] = [[loadTownSettings(townRoot), 'settings/config.json']];
  if (rig) layers.push([loadRigSettings(townRoot, rig), `${rig}/settings/config.json`]);
  for (const [settings, where] of layers) {
    const agents = settings.agents;
    if (agents === undefined) continue;
    if (!agents || typeof agents !== 'object' || Array.isArray(agents))
      throw new GtError(`"agents" in ${where} must be an object of name → {command, args, ...}`);
    for (const [name, raw] of Object.entries(agents)) out.set(name, presetFromSettings(name, raw, where));
  }
  return out;
}

/** Where a preset's program is (null when it is not installed). */
export function presetInstalled(p: AgentPreset, envPath = process.env.PATH ?? ''): string | null {
  if (p.provider === 'scripted' && p.command === process.execPath)
    return fs.existsSync(p.args[0]) ? p.args[0] : null;
  const argv0 = p.exec_wrapper.length ? p.exec_wrapper[0] : p.command;
  if (p.exec_wrapper.length && !whichCommand(p.command, envPath)) return null;
  return whichCommand(argv0, envPath);
}

export interface AgentChoice {
  /** The name asked for (may be `auto`). */
  requested: string;
  /** Which rule chose it. */
  source: string;
  preset: AgentPreset;
}

function rigEntry(settings: Record<string, any>, key: string, sub: string): string | undefined {
  const m = settings[key];
  if (m && typeof m === 'object' && typeof m[sub] === 'string' && m[sub]) return m[sub];
  return undefined;
}

/**
 * The agent for an identity (spec §7): `--agent` > rig `worker_agents[name]` > town
 * `crew_agents` > `role_agents[role]` (rig, then town) > rig `agent` > town `default_agent`.
 * `auto` (the default) is claude when installed, else the built-in scripted agent.
 */
export function resolveAgent(
  townRoot: string,
  id: Identity,
  opts: { flag?: string; env?: NodeJS.ProcessEnv } = {},
): AgentChoice {
  const env = opts.env ?? process.env;
  const town = loadTownSettings(townRoot);
  const rig = id.rig && !TOWN_ROLES.has(id.role) ? loadRigSettings(townRoot, id.rig) : {};
  let requested: string | undefined;
  let source = '';
  const pick = (v: string | undefined, why: string) => {
    if (!requested && v) {
      requested = v;
      source = why;
    }
  };
  pick(opts.flag, '--agent');
  if (id.name && (id.role === 'polecat' || id.role === 'crew'))
    pick(rigEntry(rig, 'worker_agents', id.name), `rig worker_agents.${id.name}`);
  if (id.role === 'crew' && id.name) {
    pick(rigEntry(town, 'crew_agents', `${id.rig}/${id.name}`), `town crew_agents.${id.rig}/${id.name}`);
    pick(rigEntry(town, 'crew_agents', id.name), `town crew_agents.${id.name}`);
  }
  pick(rigEntry(rig, 'role_agents', id.role), `rig role_agents.${id.role}`);
  pick(rigEntry(town, 'role_agents', id.role), `town role_agents.${id.role}`);
  pick(typeof rig.agent === 'string' ? rig.agent : undefined, 'rig agent');
  pick(env.GT_CFG_DEFAULT_AGENT, 'GT_CFG_DEFAULT_AGENT');
  pick(typeof town.default_agent === 'string' ? town.default_agent : undefined, 'town default_agent');
  pick('auto', 'default');
  const name = requested!;
  const agents = loadAgents(townRoot, id.rig && !TOWN_ROLES.has(id.role) ? id.rig : undefined);
  if (name === 'auto') {
    const claude = agents.get('claude')!;
    const useClaude = !!presetInstalled(claude, env.PATH);
    return { requested: name, source, preset: useClaude ? claude : agents.get('scripted')! };
  }
  validateAgentPresetName(name);
  const preset = agents.get(name);
  if (!preset)
    throw new UsageError(
      `unknown agent "${name}" (from ${source}); known: ${[...agents.keys()].join(', ')}; add one with \`gt config agent set ${name} "COMMAND ARGS"\``,
    );
  return { requested: name, source, preset };
}

/** A preset that can run here, or an error naming what is missing and the fix. */
export function requireInstalled(choice: AgentChoice, envPath = process.env.PATH ?? ''): void {
  const p = choice.preset;
  if (presetInstalled(p, envPath)) return;
  const prog = p.exec_wrapper.length && whichCommand(p.command, envPath) ? p.exec_wrapper[0] : p.command;
  throw new GtError(
    `agent "${p.name}" (from ${choice.source}) needs \`${prog}\`, which is not installed (not on PATH); install it, or pick another agent with --agent or \`gt config default-agent scripted\``,
  );
}

/** The gastown-managed parent directory where an identity's agent settings live. */
export function managedSettingsDir(townRoot: string, id: Identity): string {
  const t = townPaths(townRoot);
  switch (id.role) {
    case 'mayor':
      return t.mayorDir;
    case 'deacon':
      return t.deaconDir;
    case 'boot':
    case 'dog':
      return t.dogsDir;
    case 'overseer':
      return t.root;
    case 'witness':
      return rigPaths(townRoot, id.rig!).witnessDir;
    case 'refinery':
      return rigPaths(townRoot, id.rig!).refineryDir;
    case 'polecat':
      return rigPaths(townRoot, id.rig!).polecatsDir;
    case 'crew':
      return rigPaths(townRoot, id.rig!).crewDir;
  }
}

/** Which Claude settings template a role gets. */
export function settingsTemplateFor(id: Identity): 'settings-interactive.json' | 'settings-autonomous.json' {
  return id.role === 'mayor' || id.role === 'crew' || id.role === 'overseer'
    ? 'settings-interactive.json'
    : 'settings-autonomous.json';
}

/**
 * Write the agent's hook settings into the managed parent directory (only when they differ)
 * and return the path to pass to the agent, or null when the preset takes no settings file.
 */
export function materializeAgentSettings(townRoot: string, id: Identity, p: AgentPreset): string | null {
  if (p.hooks?.inject !== 'settings-flag') return null;
  const tpl = path.join(packageRoot(), 'templates', 'agents', p.hooks.provider, settingsTemplateFor(id));
  let data: unknown;
  try {
    data = JSON.parse(fs.readFileSync(tpl, 'utf8'));
  } catch (e: any) {
    throw new GtError(`cannot read the ${p.hooks.provider} settings template ${tpl}: ${e.message}`);
  }
  const file = path.join(managedSettingsDir(townRoot, id), p.hooks.dir, p.hooks.settings_file);
  const text = `${JSON.stringify(data, null, 2)}\n`;
  const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : null;
  if (current !== text) writeJson(file, data);
  return file;
}

/** The argv that starts the agent: wrapper, command, args, settings flag, then the prompt. */
export function agentArgv(p: AgentPreset, o: { settingsFile?: string | null; prompt?: string }): string[] {
  const argv = [...p.exec_wrapper, p.command, ...p.args];
  if (o.settingsFile && p.hooks?.flag) argv.push(p.hooks.flag, o.settingsFile);
  if (p.prompt_mode === 'arg' && o.prompt) argv.push(o.prompt);
  return argv;
}

/** A row of `gt config agent list`. */
export function describeAgent(p: AgentPreset, envPath = process.env.PATH ?? '') {
  const at = presetInstalled(p, envPath);
  return {
    name: p.name,
    builtin: p.builtin,
    provider: p.provider,
    command: [...p.exec_wrapper, p.command, ...p.args],
    env: p.env,
    prompt_mode: p.prompt_mode,
    ready: p.ready_prompt_prefix ? { prompt_prefix: p.ready_prompt_prefix } : { delay_ms: p.ready_delay_ms },
    process_names: p.process_names,
    session_id_env: p.session_id_env ?? null,
    hooks: p.hooks
      ? p.hooks.inject === 'settings-flag'
        ? `${p.hooks.flag} <managed dir>/${p.hooks.dir}/${p.hooks.settings_file}`
        : `not injected (${p.hooks.dir}/${p.hooks.settings_file} not written yet; the beacon starts it)`
      : 'none (the beacon starts it)',
    installed: !!at,
    path: at,
    description: p.description,
  };
}
