// `gt prime [--hook] [--json]`: the context an agent starts from (src/work/prime.ts builds it).
// `--hook` is the form agent hooks call (SessionStart, PreCompact): same content, no colour,
// and it never fails, because a failing hook must not stop a session from starting.
import { BeadStore } from '../../beads/store.ts';
import { loadCodec } from '../../ledger/codec.ts';
import { requireTown } from '../../town/paths.ts';
import { buildPrime, renderPrime } from '../../work/prime.ts';
import type { CommandDef } from '../framework.ts';

export const primeCommand: CommandDef = {
  name: 'prime',
  summary: 'Your role, your hook and its checklist, your mail: the context to start from',
  usage: 'gt prime [--hook] [--json]',
  options: {
    hook: { type: 'boolean', desc: 'for agent hooks: no colour, never fails (errors become a line)' },
  },
  async run(ctx, { values }) {
    try {
      const town = requireTown(ctx.cwd);
      await loadCodec();
      const store = BeadStore.open(town, ctx.actor ? { actor: ctx.actor } : {});
      try {
        const data = buildPrime(store, { townRoot: town, cwd: ctx.cwd });
        return { data, text: renderPrime(data, values.hook ? undefined : ctx.color) };
      } finally {
        store.flush();
      }
    } catch (e: any) {
      if (!values.hook) throw e;
      const message = `gt prime: ${e?.message ?? e}`;
      return { data: { error: message }, text: message };
    }
  },
};
