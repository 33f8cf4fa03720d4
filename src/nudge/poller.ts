// `gt nudge-poller`: drains an agent's nudge queue into its pane for agents that have no
// turn-boundary hook (spec §3.6). One pass: nothing queued → done; no live session → done;
// wait for the agent to be idle (the same rule as wait-idle nudges); then claim every
// deliverable nudge and type them as one submission, one line each:
// `[queued nudge from <sender>] <message>` (urgent first, then oldest). A busy agent keeps its
// queue for the next pass.
import { ConflictError } from '../errors.ts';
import { targetOf, townTmux } from '../runtime/sessions.ts';
import { sleep } from '../runtime/tmux.ts';
import type { Identity } from '../town/identity.ts';
import { durationMs, settingValue } from '../town/settings.ts';
import { looksIdle, promptPrefixOf, typeInto, waitForPane, withTypingLock } from './nudge.ts';
import { drainQueue, listQueue, type QueuedNudge } from './queue.ts';

export type PollState = 'delivered' | 'empty' | 'busy' | 'no-session';

export interface PollResult {
  state: PollState;
  delivered: number;
  session: string;
}

export interface PollOptions {
  env?: NodeJS.ProcessEnv;
  idleTimeoutMs?: number;
  pollMs?: number;
}

export function formatQueued(nudges: QueuedNudge[]): string {
  return nudges.map((n) => `[queued nudge from ${n.sender}] ${n.message.replace(/\r?\n/g, ' ')}`).join('\n');
}

export async function pollOnce(townRoot: string, id: Identity, o: PollOptions = {}): Promise<PollResult> {
  const t = targetOf(townRoot, id);
  const env = o.env ?? process.env;
  const tmux = townTmux(townRoot, env);
  const pane = tmux.paneInfo(t.session);
  if (!pane || pane.paneDead) return { state: 'no-session', delivered: 0, session: t.session };
  if (listQueue(townRoot, t.session, { env }).length === 0)
    return { state: 'empty', delivered: 0, session: t.session };
  const key = 'operational.nudge.idle_notify_timeout';
  const timeout = o.idleTimeoutMs ?? durationMs(settingValue(key, { townRoot, env }), key);
  const prefix = promptPrefixOf(townRoot, id, t.session, env);
  const idle = await waitForPane(tmux, t.session, (s) => looksIdle(s, prefix), timeout, o.pollMs ?? 200);
  if (!idle) return { state: 'busy', delivered: 0, session: t.session };
  // Drained only under the typing lock, after a last idle check: nothing is claimed that
  // cannot be typed at once.
  try {
    return await withTypingLock(townRoot, t.session, async (): Promise<PollResult> => {
      if (!looksIdle(tmux.capturePane(t.session, 60), prefix))
        return { state: 'busy', delivered: 0, session: t.session };
      const nudges = drainQueue(townRoot, t.session, { env });
      if (nudges.length === 0) return { state: 'empty', delivered: 0, session: t.session };
      await typeInto(tmux, t.session, formatQueued(nudges));
      return { state: 'delivered', delivered: nudges.length, session: t.session };
    });
  } catch (e) {
    if (e instanceof ConflictError) return { state: 'busy', delivered: 0, session: t.session };
    throw e;
  }
}

/** Poll until the session is gone (or `signal` aborts); returns how many nudges were delivered. */
export async function runPoller(
  townRoot: string,
  id: Identity,
  o: PollOptions & { intervalMs: number; onPass?: (r: PollResult) => void; signal?: AbortSignal },
): Promise<number> {
  let total = 0;
  for (;;) {
    const r = await pollOnce(townRoot, id, o);
    total += r.delivered;
    o.onPass?.(r);
    if (r.state === 'no-session' || o.signal?.aborted) return total;
    await sleep(o.intervalMs);
  }
}
