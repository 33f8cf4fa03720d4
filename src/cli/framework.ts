// Command dispatch shared by `gt` and `bd`: global flags, command groups, strict flag parsing
// (node:util parseArgs), rendering (--json or text), and the mapping of errors to exit codes.
// cac cannot run two-word commands and exits 0 on unknown ones, so dispatch is done here.
import { parseArgs, styleText } from 'node:util';
import { EXIT, GtError, UsageError } from '../errors.ts';

export interface OptionDef {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  desc: string;
  /** Shown as the value name in help, e.g. "ID". */
  arg?: string;
}

export interface Ctx {
  cwd: string;
  json: boolean;
  actor?: string;
  /** Write a progress or warning line to stderr (never stdout). */
  warn(line: string): void;
  color: ColorFns;
}

export interface Parsed {
  values: Record<string, any>;
  positionals: string[];
}

/** What a command returns: data for --json, and how to print it for people. */
export interface Output {
  data: unknown;
  text?: string;
  /** Exit code other than 0 that is not an error (e.g. `mail check` with no mail). */
  exitCode?: number;
  /** A stream written to stdout as is, instead of data/text, with or without --json (JSONL). */
  raw?: string;
}

export interface CommandDef {
  name: string;
  aliases?: string[];
  summary: string;
  usage: string;
  options?: Record<string, OptionDef>;
  /** Subcommands make this a group (`bd dep add`). */
  sub?: CommandDef[];
  /** Left out of help listings (internal commands such as `gt agent scripted`). */
  hidden?: boolean;
  /** Minimum and maximum positionals; max -1 = unlimited. */
  args?: [number, number];
  run?: (ctx: Ctx, p: Parsed) => Output | Promise<Output>;
}

export interface ColorFns {
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

export function colorEnabled(stream: NodeJS.WriteStream): boolean {
  if (process.env.NO_COLOR) return false;
  if (process.env.FORCE_COLOR && process.env.FORCE_COLOR !== '0') return true;
  return !!stream.isTTY && process.env.TERM !== 'dumb';
}

export function makeColors(on: boolean): ColorFns {
  const wrap = (fmt: Parameters<typeof styleText>[0]) => (s: string) => (on ? styleText(fmt, s) : s);
  return {
    bold: wrap('bold'),
    dim: wrap('dim'),
    red: wrap('red'),
    green: wrap('green'),
    yellow: wrap('yellow'),
    cyan: wrap('cyan'),
  };
}

export interface Program {
  name: string;
  version: string;
  summary: string;
  commands: CommandDef[];
}

const GLOBAL_HELP = [
  '--json           one JSON document on stdout',
  '--actor NAME     who does a write',
  '-h, --help       help',
];

/** Pull the global flags out of argv wherever they stand (before `--` only). */
function extractGlobals(argv: string[]): { rest: string[]; json: boolean; actor?: string; help: boolean } {
  const rest: string[] = [];
  let json = false;
  let help = false;
  let actor: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    if (a === '--json') json = true;
    else if (a === '--help' || a === '-h') help = true;
    else if (a === '--actor') {
      if (i + 1 >= argv.length) throw new UsageError('--actor needs a value, e.g. --actor alice');
      actor = argv[++i];
    } else if (a.startsWith('--actor=')) actor = a.slice('--actor='.length);
    else rest.push(a);
  }
  return { rest, json, actor, help };
}

function findCommand(list: CommandDef[], name: string): CommandDef | undefined {
  return list.find((c) => c.name === name || c.aliases?.includes(name));
}

function suggest(list: CommandDef[], name: string): string {
  const close = list.filter(
    (c) => c.name.startsWith(name.slice(0, 2)) || name.startsWith(c.name.slice(0, 3)),
  );
  return close.length ? ` (did you mean ${close.map((c) => c.name).join(', ')}?)` : '';
}

export function helpText(prog: Program, path: CommandDef[]): string {
  const c = makeColors(colorEnabled(process.stdout));
  if (path.length === 0) {
    const shown = prog.commands.filter((x) => !x.hidden);
    const width = Math.max(...shown.map((x) => x.name.length)) + 2;
    return [
      `${c.bold(prog.name)} ${prog.version}: ${prog.summary}`,
      '',
      'Commands:',
      ...shown.map((x) => `  ${x.name.padEnd(width)}${x.summary}`),
      '',
      'Global flags:',
      ...GLOBAL_HELP.map((l) => `  ${l}`),
      '',
      `Run \`${prog.name} <command> --help\` for a command's flags.`,
    ].join('\n');
  }
  const cmd = path[path.length - 1];
  const lines = [`${c.bold('Usage:')} ${cmd.usage}`, '', cmd.summary];
  const subs = (cmd.sub ?? []).filter((x) => !x.hidden);
  if (subs.length) {
    const width = Math.max(...subs.map((x) => x.name.length)) + 2;
    lines.push('', 'Subcommands:', ...subs.map((x) => `  ${x.name.padEnd(width)}${x.summary}`));
  }
  const opts = Object.entries(cmd.options ?? {});
  if (opts.length) {
    lines.push('', 'Flags:');
    for (const [name, o] of opts) {
      const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.type === 'string' ? ` ${o.arg ?? 'VALUE'}` : ''}`;
      lines.push(`  ${flag.padEnd(30)}${o.desc}${o.multiple ? ' (repeatable)' : ''}`);
    }
  }
  lines.push('', 'Global flags:', ...GLOBAL_HELP.map((l) => `  ${l}`));
  return lines.join('\n');
}

/** Run a program; returns the exit code. Only the entry point calls process.exit. */
export async function runProgram(prog: Program, argv: string[], cwd = process.cwd()): Promise<number> {
  let json = argv.includes('--json');
  const stderrColor = makeColors(colorEnabled(process.stderr));
  try {
    const g = extractGlobals(argv);
    json = g.json;
    if (g.rest[0] === '--version' || g.rest[0] === '-V' || g.rest[0] === 'version') {
      if (json) process.stdout.write(`${JSON.stringify({ name: prog.name, version: prog.version })}\n`);
      else process.stdout.write(`${prog.name} version ${prog.version}\n`);
      return EXIT.ok;
    }
    // Resolve the command path through groups.
    let list = prog.commands;
    const path: CommandDef[] = [];
    let rest = g.rest;
    while (rest.length > 0 && !rest[0].startsWith('-')) {
      const found = findCommand(list, rest[0]);
      if (!found) {
        if (path.length > 0 && path[path.length - 1].run) break; // a positional of the group itself
        const where = path.length ? `${prog.name} ${path.map((p) => p.name).join(' ')}` : prog.name;
        throw new UsageError(
          `unknown command "${rest[0]}" for ${where}${suggest(list, rest[0])}; run \`${where} --help\``,
        );
      }
      path.push(found);
      rest = rest.slice(1);
      if (!found.sub) break;
      list = found.sub;
    }
    if (g.help || path.length === 0) {
      if (path.length === 0 && !g.help && rest.length > 0) {
        throw new UsageError(`unknown flag ${rest[0]}; run \`${prog.name} --help\``);
      }
      if (json) throw new UsageError('help has no JSON form; run without --json');
      process.stdout.write(`${helpText(prog, path)}\n`);
      return path.length === 0 && !g.help ? EXIT.usage : EXIT.ok;
    }
    const cmd = path[path.length - 1];
    if (!cmd.run) {
      const name = `${prog.name} ${path.map((p) => p.name).join(' ')}`;
      throw new UsageError(`${name} needs a subcommand: ${(cmd.sub ?? []).map((s) => s.name).join(', ')}`);
    }
    const parsed = parseCommandArgs(prog, path, rest);
    const ctx: Ctx = {
      cwd,
      json,
      actor: g.actor,
      warn: (line) => process.stderr.write(`${line}\n`),
      color: makeColors(!json && colorEnabled(process.stdout)),
    };
    const out = await cmd.run(ctx, parsed);
    if (out.raw !== undefined) process.stdout.write(out.raw);
    else if (json) process.stdout.write(`${JSON.stringify(out.data ?? null, null, 2)}\n`);
    else if (out.text !== undefined && out.text !== '') process.stdout.write(`${out.text}\n`);
    return out.exitCode ?? EXIT.ok;
  } catch (e: any) {
    const code = e instanceof GtError ? e.exitCode : (e?.exitCode ?? EXIT.failure);
    const message = e instanceof GtError || e?.exitCode ? e.message : `${e?.message ?? e}`;
    if (process.env.GT_DEBUG && e?.stack) process.stderr.write(`${e.stack}\n`);
    if (json) {
      // Errors stay off stdout's document: stdout gets a JSON error object, stderr the text.
      process.stdout.write(`${JSON.stringify({ error: message, exit_code: code })}\n`);
    }
    process.stderr.write(`${stderrColor.red('Error:')} ${message}\n`);
    return code;
  }
}

function parseCommandArgs(prog: Program, path: CommandDef[], rest: string[]): Parsed {
  const cmd = path[path.length - 1];
  const name = `${prog.name} ${path.map((p) => p.name).join(' ')}`;
  const options: Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }> = {};
  for (const [k, o] of Object.entries(cmd.options ?? {})) {
    options[k] = {
      type: o.type,
      ...(o.short ? { short: o.short } : {}),
      ...(o.multiple ? { multiple: true } : {}),
    };
  }
  let values: Record<string, any>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: rest, options, strict: true, allowPositionals: true }));
  } catch (e: any) {
    const msg = String(e.message).replace(/\. To specify a positional argument.*$/s, '');
    throw new UsageError(`${msg} (${name}); run \`${name} --help\``);
  }
  const [min, max] = cmd.args ?? [0, 0];
  if (positionals.length < min) throw new UsageError(`${name} needs more arguments. Usage: ${cmd.usage}`);
  if (max >= 0 && positionals.length > max) {
    throw new UsageError(`${name}: unexpected argument "${positionals[max]}". Usage: ${cmd.usage}`);
  }
  return { values, positionals };
}
