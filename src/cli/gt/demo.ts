// gt demo [--keep] [--dir DIR] [--timeout 6m]: the whole loop on a throwaway town (src/demo/demo.ts).
import { durationMs } from '../../town/settings.ts';
import type { CommandDef } from '../framework.ts';

export const demoCommand: CommandDef = {
  name: 'demo',
  summary: 'Run the whole loop on a throwaway town: convoy, polecats, gates, conflicts, merges (no AI)',
  usage: 'gt demo [--keep] [--dir DIR] [--timeout 6m] [--json]',
  args: [0, 0],
  options: {
    keep: { type: 'boolean', desc: 'leave the town (and its files) to explore afterwards' },
    dir: { type: 'string', arg: 'DIR', desc: 'create the town here (default: a temporary directory)' },
    timeout: { type: 'string', arg: 'DURATION', desc: 'give up when the convoy has not landed by then (6m)' },
  },
  async run(ctx, { values }) {
    const { runDemo, renderDemo } = await import('../../demo/demo.ts');
    // The live view goes to stdout for people; with --json it goes to stderr.
    const log = ctx.json ? (l: string) => ctx.warn(l) : (l: string) => process.stdout.write(`${l}\n`);
    const r = await runDemo({
      keep: !!values.keep,
      dir: values.dir,
      timeoutMs: values.timeout ? durationMs(values.timeout, '--timeout') : undefined,
      log,
    });
    return { data: r, text: `\n${renderDemo(r)}`, exitCode: r.landed ? 0 : 1 };
  },
};
