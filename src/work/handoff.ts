// gt handoff (spec §1.3, §3.5 HANDOFF): hand the caller's work to a fresh session of itself.
// 1. Refuse inside the cooldown (operational.session.handoff_cooldown, 2 m) unless forced,
//    before anything is written. 2. Send `🤝 HANDOFF: <subject>` mail to self with
//    `attached_molecule:`, `attached_at:`, the hooked bead and molecule progress, then
//    `## Context / ## Status / ## Next`. 3. Respawn the session's pane with a fresh agent
//    process (restartSession → tmux respawn-pane -k); its `gt prime` shows the handoff note.
// Run from inside the session being replaced, the restart is handed to a detached
// `gt session restart` (respawn-pane kills the pane's processes, this one included).
// Polecats: as in the original, handoff is a deferred `gt done` unless --cycle: the branch is
// pushed to the rig's shared repository and the work stays on the hook (src/work/done.ts,
// DEFERRED), then the mail and the fresh session continue it. A dirty worktree is refused there.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { BeadStore } from '../beads/store.ts';
import { ConflictError, UsageError } from '../errors.ts';
import { deliverMail } from '../escalation/mail-adapter.ts';
import { loadCodec } from '../ledger/codec.ts';
import { gtBinPath } from '../runtime/presets.ts';
import { type LaunchResult, readSessionRecord, restartSession, targetOf } from '../runtime/sessions.ts';
import { actorOf, addressOf, detectIdentity, type Identity, workDirOf } from '../town/identity.ts';
import { durationMs, settingValue } from '../town/settings.ts';
import { findHook, progressOf } from './hook.ts';
import { HANDOFF_SUBJECT } from './prime.ts';

export interface HandoffOptions {
  cwd: string;
  subject?: string;
  message?: string;
  /** Polecats: a plain session cycle instead of the deferred `gt done`. */
  cycle?: boolean;
  /** Send the mail only (default: restart too). */
  noRestart?: boolean;
  /** Ignore the cooldown. */
  force?: boolean;
  env?: NodeJS.ProcessEnv;
  /** Who to hand off (default: detected from GT_ROLE/BD_ACTOR or the directory). */
  identity?: Identity;
}

export interface HandoffResult {
  actor: string;
  address: string;
  session: string;
  mail: { ids: string[]; subject: string; body: string };
  hook: { id: string; title: string; molecule: string | null; progress: string | null } | null;
  /** `restarted` (here), `scheduled` (detached, from inside the session), `skipped` (--no-restart). */
  restart: 'restarted' | 'scheduled' | 'skipped';
  launch: LaunchResult | null;
  /** Polecats without --cycle: what the deferred `gt done` did (branch pushed, work kept hooked). */
  deferred_done: { issue: string; branch: string; pushed: boolean; exit: string } | null;
  warnings: string[];
}

function humanDuration(ms: number): string {
  const s = Math.ceil(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return s % 60 ? `${m}m${s % 60}s` : `${m}m`;
}

/** Refuse a handoff within the cooldown after the session started (its registry's started_at). */
export function checkCooldown(townRoot: string, id: Identity, session: string, env: NodeJS.ProcessEnv): void {
  const rec = readSessionRecord(townRoot, session);
  const started = rec ? Date.parse(rec.started_at) : Number.NaN;
  if (Number.isNaN(started)) return;
  const key = 'operational.session.handoff_cooldown';
  const cooldown = durationMs(settingValue(key, { townRoot, rig: id.rig, env }), key);
  const age = Date.now() - started;
  if (age < cooldown) {
    throw new ConflictError(
      `handoff refused: session ${session} started ${humanDuration(Math.max(0, age))} ago and the handoff cooldown (${key}) is ${humanDuration(cooldown)}; wait ${humanDuration(cooldown - age)} and try again, or pass --force`,
    );
  }
}

export function handoffBody(
  input: { message?: string },
  hook: { id: string; title: string; status: string; attachedAt: string | null } | null,
  mol: { id: string; completed: number; total: number; current: string | null; next: string | null } | null,
): string {
  const lines = [
    `attached_molecule: ${mol?.id ?? ''}`,
    `attached_at: ${hook?.attachedAt ?? ''}`,
    `hook_bead: ${hook?.id ?? ''}`,
  ];
  if (mol) lines.push(`progress: ${mol.completed}/${mol.total} steps done`);
  lines.push('');
  const msg = (input.message ?? '').trim();
  if (/^## (Context|Status|Next)\b/m.test(msg)) {
    lines.push(msg);
  } else {
    lines.push('## Context', '', msg || '(no message given)', '', '## Status', '');
    if (hook) {
      lines.push(`On the hook: ${hook.id} "${hook.title}" [${hook.status}]`);
      if (mol) {
        lines.push(`Molecule ${mol.id}: ${mol.completed}/${mol.total} steps done`);
        if (mol.current) lines.push(`In progress: ${mol.current}`);
      }
    } else lines.push('Nothing is on the hook.');
    lines.push('', '## Next', '');
    if (mol?.current) lines.push(`Continue ${mol.current}, then the remaining steps of ${mol.id}.`);
    else if (mol?.next) lines.push(`Take ${mol.next}, then the remaining steps of ${mol.id}.`);
    else if (hook) lines.push(`Finish ${hook.id}.`);
    else lines.push('Check `gt prime` and your mail.');
  }
  return `${lines.join('\n')}\n`;
}

export async function handoff(townRoot: string, o: HandoffOptions): Promise<HandoffResult> {
  const env = o.env ?? process.env;
  const id = o.identity ?? detectIdentity(townRoot, o.cwd, env);
  if (id.role === 'overseer') {
    throw new UsageError(
      'gt handoff hands an agent session over to a fresh one; run it as an agent (inside its session, or with GT_ROLE=mayor, myrig/witness, ...)',
    );
  }
  const t = targetOf(townRoot, id);
  const actor = actorOf(id);
  const address = addressOf(id);
  const subjectText = (o.subject ?? '').trim();
  if (/[\r\n]/.test(subjectText))
    throw new UsageError('the handoff subject must be one line (put the rest in -m)');
  const restart = !o.noRestart;
  // 1. The cooldown, before anything is written.
  if (restart && !o.force) checkCooldown(townRoot, id, t.session, env);

  // 2. The hook and its molecule.
  await loadCodec();
  const warnings: string[] = [];
  const store = BeadStore.open(townRoot, { actor });
  let hookInfo: HandoffResult['hook'] = null;
  let body: string;
  try {
    const hook = findHook(store, actor);
    let mol: Parameters<typeof handoffBody>[2] = null;
    if (hook?.molecule) {
      try {
        const p = progressOf(store, hook.molecule, o.cwd);
        const current = p.steps.find((s) => s.state === 'current')?.id ?? null;
        mol = {
          id: p.molecule_id,
          completed: p.completed,
          total: p.total,
          current,
          next: p.next_step?.id ?? null,
        };
      } catch (e: any) {
        warnings.push(`cannot read molecule ${hook.molecule}: ${e.message}`);
      }
    }
    const meta = (hook?.bead.metadata ?? {}) as Record<string, unknown>;
    body = handoffBody(
      o,
      hook
        ? {
            id: hook.bead.id,
            title: hook.bead.title,
            status: hook.bead.status,
            attachedAt: typeof meta.attached_at === 'string' ? meta.attached_at : hook.bead.updated_at,
          }
        : null,
      mol,
    );
    if (hook) {
      hookInfo = {
        id: hook.bead.id,
        title: hook.bead.title,
        molecule: hook.molecule ?? null,
        progress: mol ? `${mol.completed}/${mol.total}` : null,
      };
    }
  } finally {
    store.flush();
  }
  const subject = `${HANDOFF_SUBJECT}: ${subjectText || (hookInfo ? `${hookInfo.id} ${hookInfo.title}` : 'session cycle')}`;

  let deferred: HandoffResult['deferred_done'] = null;
  if (id.role === 'polecat' && !o.cycle) {
    // Before the mail: a refused done (dirty worktree, no hook) leaves everything as it was.
    const { done } = await import('./done.ts');
    const d = await done(townRoot, { cwd: workDirOf(id, townRoot), status: 'DEFERRED', env, identity: id });
    deferred = { issue: d.issue, branch: d.branch, pushed: d.pushed, exit: d.exit };
    warnings.push(...d.warnings);
  }

  // 3. The mail to self (durable before the session goes away).
  const sent = await deliverMail(
    townRoot,
    { from: actor, to: address, subject, body, priority: 'high', type: 'notification', notify: false },
    { actor },
  );

  // 4. A fresh session.
  let launch: LaunchResult | null = null;
  let how: HandoffResult['restart'] = 'skipped';
  if (restart) {
    const inside = !!env.TMUX && env.GT_SESSION === t.session;
    // The fresh process runs the same agent as the one it replaces (an --agent choice survives).
    const agent = readSessionRecord(townRoot, t.session)?.agent;
    if (inside) {
      // respawn-pane -k kills this process too: a detached gt does the restart.
      const child = spawn(
        process.execPath,
        [gtBinPath(), 'session', 'restart', actor, ...(agent ? ['--agent', agent] : [])],
        {
          cwd: path.resolve(townRoot),
          env: { ...env, GT_ROOT: path.resolve(townRoot) },
          detached: true,
          stdio: 'ignore',
        },
      );
      child.unref();
      how = 'scheduled';
    } else {
      launch = await restartSession(townRoot, id, { actor, processEnv: env, ...(agent ? { agent } : {}) });
      how = 'restarted';
    }
  }
  return {
    actor,
    address,
    session: t.session,
    mail: { ids: sent.ids, subject, body },
    hook: hookInfo,
    restart: how,
    launch,
    deferred_done: deferred,
    warnings,
  };
}
