// Settings in layers: flag > env > rig > town > built-in default (spec Appendix B, "Zero
// Fixed Constants"). Keys are dotted paths into JSON (`operational.polecat.namepool_size`).
// Env: GT_CFG_<KEY> with dots as double underscores, e.g. GT_CFG_OPERATIONAL__NUDGE__QUEUE_DEPTH.
import { UsageError } from '../errors.ts';
import { readJsonOr, writeJson } from './files.ts';
import { rigPaths, townPaths } from './paths.ts';

/** Built-in defaults: every threshold of Appendix A, overridable at every layer. */
export const DEFAULT_SETTINGS = {
  default_agent: 'auto',
  agents: {},
  role_agents: {},
  crew_agents: {},
  role_effort: {},
  agent_email_domain: 'gastown.local',
  convoy: { notify_on_complete: true },
  scheduler: { max_polecats: 0, batch_size: 5, spawn_delay: '2s' },
  // Polecat worktree provisioning (src/work/spawn.ts); context_file "auto" = by the agent's CLI.
  polecat: { context_file: 'auto', setup_command: '', setup_timeout: '5m', fetch_timeout: '60s' },
  operational: {
    session: {
      start_timeout: '60s',
      handoff_cooldown: '2m',
      gupp_violation: '30m',
      hung_session: '30m',
      startup_stall: '90s',
      stuck_in_done: '60s',
      self_stuck: '10m',
      spawn_grace: '5m',
    },
    polecat: {
      namepool_size: 50,
      max_working_town: 25,
      max_dirs_per_rig: 30,
      idle_session_timeout: '15m',
      heartbeat_stale: '3m',
      respawn_limit: 3,
      self_terminate: false,
    },
    nudge: {
      ttl_normal: '30m',
      ttl_urgent: '2h',
      queue_depth: 50,
      idle_poll: '15s',
      idle_notify_timeout: '3s',
    },
    daemon: {
      heartbeat: '3m',
      patrol_interval: '5m',
      debounce: '150ms',
      stop_timeout: '30s',
      log_max_bytes: 10485760,
    },
    witness: {
      restart_backoff_base: '30s',
      restart_backoff_max: '10m',
      crash_loop_count: 5,
      crash_loop_window: '15m',
      crash_loop_reset: '30m',
      mass_death_count: 3,
      mass_death_window: '30s',
    },
    deacon: {
      heartbeat_stale: '5m',
      heartbeat_very_stale: '20m',
      feed_stranded_max: 3,
      feed_stranded_cooldown: '10m',
    },
    mail: { lifecycle_max_age: '6h', reply_reminder: '30s' },
    escalation: { stale_threshold: '4h', max_reescalations: 2 },
    wisp: { reap_interval: '30m', closed_ttl: '7d' },
  },
  merge_queue: {
    enabled: true,
    run_tests: true,
    setup_command: '',
    typecheck_command: '',
    lint_command: '',
    test_command: '',
    build_command: '',
    gates: {},
    gates_parallel: true,
    on_conflict: 'assign_back',
    delete_merged_branches: true,
    retry_flaky_tests: 1,
    poll_interval: '30s',
    stale_claim_timeout: '30m',
    max_retry_count: 5,
    auto_push: true,
    merge_strategy: 'mr',
    batch: { max_batch_size: 5, batch_wait_time: '30s', retry_batch_on_flaky: true },
  },
  workflow: { default_formula: 'mol-polecat-work' },
};

export type Origin = 'flag' | 'env' | 'rig' | 'town' | 'default';

export function getPath(obj: unknown, key: string): unknown {
  let cur: any = obj;
  for (const part of key.split('.')) {
    if (cur === null || typeof cur !== 'object' || !(part in cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

export function setPath(obj: Record<string, any>, key: string, value: unknown): void {
  const parts = key.split('.');
  let cur = obj;
  for (const part of parts.slice(0, -1)) {
    if (cur[part] === undefined || typeof cur[part] !== 'object' || cur[part] === null) cur[part] = {};
    cur = cur[part];
  }
  cur[parts[parts.length - 1]] = value;
}

export function unsetPath(obj: Record<string, any>, key: string): boolean {
  const parts = key.split('.');
  let cur = obj;
  for (const part of parts.slice(0, -1)) {
    if (!cur || typeof cur[part] !== 'object') return false;
    cur = cur[part];
  }
  const last = parts[parts.length - 1];
  if (!cur || !(last in cur)) return false;
  delete cur[last];
  return true;
}

export function validateKey(key: string): void {
  if (
    !/^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)*$/.test(key) ||
    key.split('.').some((p) => p === '__proto__')
  ) {
    throw new UsageError(`invalid setting key "${key}": dotted names like operational.polecat.namepool_size`);
  }
}

/** A value from the command line: JSON when it parses (numbers, booleans, objects), else a string. */
export function parseValue(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

export function envName(key: string): string {
  return `GT_CFG_${key.replace(/\./g, '__').replace(/-/g, '_').toUpperCase()}`;
}

export interface SettingsContext {
  townRoot: string;
  rig?: string;
  flags?: Record<string, unknown>;
  env?: NodeJS.ProcessEnv;
}

export function townSettingsFile(townRoot: string): string {
  return townPaths(townRoot).settingsJson;
}

export function rigSettingsFile(townRoot: string, rig: string): string {
  return rigPaths(townRoot, rig).settingsJson;
}

export function loadTownSettings(townRoot: string): Record<string, any> {
  return readJsonOr(townSettingsFile(townRoot), 'town settings', { type: 'town-settings', version: 1 });
}

export function loadRigSettings(townRoot: string, rig: string): Record<string, any> {
  return readJsonOr(rigSettingsFile(townRoot, rig), `settings of rig ${rig}`, {
    type: 'rig-settings',
    version: 1,
  });
}

/** One setting with where it came from. */
export function getSetting(key: string, ctx: SettingsContext): { value: unknown; origin: Origin } {
  validateKey(key);
  if (ctx.flags && key in ctx.flags && ctx.flags[key] !== undefined)
    return { value: ctx.flags[key], origin: 'flag' };
  const env = ctx.env ?? process.env;
  const ev = env[envName(key)];
  if (ev !== undefined) return { value: parseValue(ev), origin: 'env' };
  if (ctx.rig) {
    const v = getPath(loadRigSettings(ctx.townRoot, ctx.rig), key);
    if (v !== undefined) return { value: v, origin: 'rig' };
  }
  const t = getPath(loadTownSettings(ctx.townRoot), key);
  if (t !== undefined) return { value: t, origin: 'town' };
  return { value: getPath(DEFAULT_SETTINGS, key), origin: 'default' };
}

export function settingValue<T>(key: string, ctx: SettingsContext): T {
  return getSetting(key, ctx).value as T;
}

/** Durations in settings ("30s", "15m", "2h", "7d", or milliseconds as a number). */
export function durationMs(v: unknown, key = 'duration'): number {
  if (typeof v === 'number') return v;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(String(v).trim());
  if (!m)
    throw new UsageError(`setting ${key} = ${JSON.stringify(v)} is not a duration like 30s, 15m, 2h or 7d`);
  const unit = { ms: 1, s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[m[2]]!;
  return Number(m[1]) * unit;
}

function flatten(obj: unknown, prefix = '', out: Record<string, unknown> = {}): Record<string, unknown> {
  if (obj && typeof obj === 'object' && !Array.isArray(obj) && Object.keys(obj).length) {
    for (const [k, v] of Object.entries(obj)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (prefix) out[prefix] = obj;
  return out;
}

/** Every known key with its effective value and origin. */
export function listSettings(ctx: SettingsContext): { key: string; value: unknown; origin: Origin }[] {
  const keys = new Set<string>([
    ...Object.keys(flatten(DEFAULT_SETTINGS)),
    ...Object.keys(flatten(loadTownSettings(ctx.townRoot))),
    ...(ctx.rig ? Object.keys(flatten(loadRigSettings(ctx.townRoot, ctx.rig))) : []),
  ]);
  for (const k of ['type', 'version']) keys.delete(k);
  return [...keys].sort().map((key) => ({ key, ...getSetting(key, ctx) }));
}

/** Write one setting into the town or a rig layer; returns the file written. */
export function setSetting(townRoot: string, key: string, value: unknown, rig?: string): string {
  validateKey(key);
  const file = rig ? rigSettingsFile(townRoot, rig) : townSettingsFile(townRoot);
  const data = rig ? loadRigSettings(townRoot, rig) : loadTownSettings(townRoot);
  setPath(data, key, value);
  writeJson(file, data);
  return file;
}

export function unsetSetting(
  townRoot: string,
  key: string,
  rig?: string,
): { file: string; removed: boolean } {
  validateKey(key);
  const file = rig ? rigSettingsFile(townRoot, rig) : townSettingsFile(townRoot);
  const data = rig ? loadRigSettings(townRoot, rig) : loadTownSettings(townRoot);
  const removed = unsetPath(data, key);
  if (removed) writeJson(file, data);
  return { file, removed };
}
