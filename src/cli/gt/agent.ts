// `gt agent scripted`: the built-in scripted agent (src/runtime/scripted-agent.ts), the program
// the `scripted` runtime preset starts in an agent's tmux pane. Hidden: people start agents with
// `gt sling`, `gt mayor start`, ...; this is what those sessions run.
import { UsageError } from '../../errors.ts';
import type { CommandDef } from '../framework.ts';

const scripted: CommandDef = {
  name: 'scripted',
  summary: 'Run the built-in scripted agent here (works the molecule on its hook, no LLM)',
  usage: 'gt agent scripted',
  async run(ctx) {
    if (ctx.json) throw new UsageError('gt agent scripted is interactive and has no JSON form');
    const { runScriptedAgent } = await import('../../runtime/scripted-agent.ts');
    const code = await runScriptedAgent({ cwd: ctx.cwd });
    return { data: null, text: '', exitCode: code };
  },
};

const resolveUnion: CommandDef = {
  name: 'resolve-union',
  hidden: true,
  summary: 'Resolve a conflicted merge here by keeping both sides of each file, and commit it',
  usage: 'gt agent resolve-union [--json]',
  args: [0, 0],
  async run(ctx) {
    const { resolveUnion: resolve } = await import('../../refinery/resolve.ts');
    const r = resolve(ctx.cwd);
    return {
      data: r,
      text: `resolved ${r.resolved.map((f) => `${f.path} (${f.how})`).join(', ') || 'nothing'}; merge committed ${r.commit.slice(0, 12)}`,
    };
  },
};

export const agentCommand: CommandDef = {
  name: 'agent',
  hidden: true,
  summary: 'Built-in agent runtimes (internal)',
  usage: 'gt agent scripted|resolve-union',
  sub: [scripted, resolveUnion],
};
