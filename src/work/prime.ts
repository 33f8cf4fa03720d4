// `gt prime`: the context an agent starts from, as data (the CLI and the scripted agent render
// it). Role template, town then rig directives, the hook and its molecule's checklist, unread
// mail, an unread HANDOFF note, and the autonomous-mode directive when work is hooked (GUPP:
// if there is work on your hook, run it). The ledger is read once: one snapshot of summaries,
// then one batch read for the few full records shown (the hooked bead, the handoff message).
import fs from 'node:fs';
import path from 'node:path';
import type { Graph } from '../beads/graph.ts';
import type { BeadStore } from '../beads/store.ts';
import type { ColorFns } from '../cli/framework.ts';
import { type PendingGroup, pendingBySeverity } from '../escalation/model.ts';
import type { StepProgress } from '../formula/molecule.ts';
import { type RigsJson, readJsonOr } from '../town/files.ts';
import {
  actorOf,
  addressOf,
  detectIdentity,
  type Identity,
  type Role,
  sessionNameOf,
  workDirOf,
} from '../town/identity.ts';
import { rigPaths, townPaths } from '../town/paths.ts';
import { findHookIn, progressOf } from './hook.ts';

export const HANDOFF_SUBJECT = '🤝 HANDOFF';
export const READ_LABEL = 'read';

/** done; current = in progress for you; next = the step after it (or the first to take); others. */
export type StepMarker = 'done' | 'current' | 'next' | 'in_progress' | 'ready' | 'blocked' | 'pending';

export interface ChecklistStep {
  id: string;
  title: string;
  /** The formula step id, when the step came from a formula. */
  step?: string;
  marker: StepMarker;
  run?: string;
}

export interface PrimeMolecule {
  id: string;
  title: string;
  formula: string | null;
  total: number;
  completed: number;
  complete: boolean;
  /** The step in progress, else null. */
  current: string | null;
  /** The first ready step not in progress: what comes after the current one. */
  next: string | null;
  steps: ChecklistStep[];
}

export interface PrimeData {
  town: string;
  role: Role;
  rig: string | null;
  name: string | null;
  actor: string;
  address: string;
  session: string | null;
  work_dir: string;
  template: { path: string | null; text: string };
  directives: { scope: 'town' | 'rig'; path: string; text: string }[];
  hook: {
    id: string;
    title: string;
    description: string;
    status: string;
    molecule: string | null;
    formula: string | null;
  } | null;
  molecule: PrimeMolecule | null;
  mail: { address: string; unread: number; recent: { id: string; subject: string; from: string }[] };
  handoff: { id: string; subject: string; body: string; from: string; created_at: string } | null;
  autonomous: string | null;
  /** The mayor's pending (open, unacknowledged) escalations by severity; null for other roles. */
  escalations: PendingGroup[] | null;
  /** Problems that did not stop prime (missing template, unknown formula, ...). */
  warnings: string[];
}

/** The package's `templates/` folder, found from this module whether bundled or not. */
export function templatesDir(): string {
  let dir = path.dirname(new URL(import.meta.url).pathname);
  for (let i = 0; i < 6; i++) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'templates'))) {
      return path.join(dir, 'templates');
    }
    dir = path.dirname(dir);
  }
  return path.join(dir, 'templates');
}

/** Fill `{{key}}` placeholders from `vars`; unknown keys stay as they are. */
export function renderTemplate(text: string, vars: Record<string, string>): string {
  return text.replace(/\{\{\s*([a-z_]+)\s*\}\}/g, (m, k: string) => (k in vars ? vars[k] : m));
}

function readText(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** Does a message bead belong to this agent (its address or its actor)? */
function isFor(s: { assignee?: string }, who: string[]): boolean {
  return !!s.assignee && who.includes(s.assignee);
}

function isUnread(s: { status: string; labels?: string[] }): boolean {
  return s.status !== 'closed' && !(s.labels ?? []).includes(READ_LABEL);
}

function checklist(steps: StepProgress[], current: string | null, next: string | null): ChecklistStep[] {
  return steps.map((s) => ({
    id: s.id,
    title: s.title,
    ...(s.step ? { step: s.step } : {}),
    marker:
      s.state === 'done'
        ? 'done'
        : s.id === current
          ? 'current'
          : s.id === next
            ? 'next'
            : s.state === 'current'
              ? 'in_progress'
              : s.state,
    ...(s.run ? { run: s.run } : {}),
  }));
}

export interface PrimeOptions {
  townRoot: string;
  cwd: string;
  env?: NodeJS.ProcessEnv;
  /** An identity to prime instead of the detected one. */
  identity?: Identity;
}

/** Build the context for whoever runs at `cwd` (role from env, else from the directory). */
export function buildPrime(store: BeadStore, opts: PrimeOptions): PrimeData {
  const env = opts.env ?? process.env;
  const town = path.resolve(opts.townRoot);
  const id = opts.identity ?? detectIdentity(town, opts.cwd, env);
  const warnings: string[] = [];
  const actor = actorOf(id);
  const address = addressOf(id);
  const rigs = readJsonOr<RigsJson>(townPaths(town).rigsJson, 'mayor/rigs.json', { version: 1, rigs: {} });
  const prefix = id.rig ? rigs.rigs?.[id.rig]?.beads?.prefix : undefined;
  let session: string | null = null;
  try {
    session = env.GT_SESSION || sessionNameOf(id, prefix);
  } catch {
    session = null;
  }
  const workDir = workDirOf(id, town);

  // Role template and directives.
  const tplPath = path.join(templatesDir(), 'roles', `${id.role}.md`);
  let tplText = readText(tplPath);
  if (tplText === null) {
    if (id.role !== 'overseer') warnings.push(`no role template at ${tplPath}`);
    tplText =
      id.role === 'overseer'
        ? '# Overseer\n\nYou are the overseer: the human who runs this town. `gt status` shows the town; `gt sling` hands out work.\n'
        : `# ${id.role}\n`;
  }
  const vars: Record<string, string> = {
    actor,
    address,
    role: id.role,
    rig: id.rig ?? '',
    name: id.name ?? '',
    town,
    work_dir: workDir,
    session: session ?? '',
    prefix: prefix ?? '',
  };
  const directives: PrimeData['directives'] = [];
  const townDirective = path.join(townPaths(town).directivesDir, `${id.role}.md`);
  const t = readText(townDirective);
  if (t?.trim()) directives.push({ scope: 'town', path: townDirective, text: t });
  if (id.rig) {
    const rigDirective = path.join(rigPaths(town, id.rig).directivesDir, `${id.role}.md`);
    const r = readText(rigDirective);
    if (r?.trim()) directives.push({ scope: 'rig', path: rigDirective, text: r });
  }

  // One snapshot of the ledger for everything below.
  const g: Graph = store.graph();
  const hookRef = findHookIn(g, actor);
  const who = [address, actor];
  const messages = [...g.byId.values()].filter((s) => s.issue_type === 'message' && isFor(s, who));
  const unread = messages.filter(isUnread).sort((a, b) => b.ct - a.ct);
  const handoffs = messages
    .filter((s) => s.title.startsWith(HANDOFF_SUBJECT))
    .sort((a, b) => b.ct - a.ct || (b.id < a.id ? -1 : 1));
  const latestHandoff = handoffs[0] && isUnread(handoffs[0]) ? handoffs[0] : undefined;
  const full = store.getMany([hookRef?.beadId, latestHandoff?.id].filter((x): x is string => !!x));
  const byId = new Map(full.map((b) => [b.id, b]));

  let hook: PrimeData['hook'] = null;
  let molecule: PrimeMolecule | null = null;
  if (hookRef) {
    const b = byId.get(hookRef.beadId) ?? g.byId.get(hookRef.beadId)!;
    hook = {
      id: b.id,
      title: b.title,
      description: ('description' in b ? b.description : '') ?? '',
      status: b.status,
      molecule: hookRef.molecule ?? null,
      formula: hookRef.formula ?? null,
    };
    if (hookRef.molecule) {
      try {
        const p = progressOf(store, hookRef.molecule, opts.cwd, g);
        const mine = p.steps.filter(
          (s) => s.state === 'current' && (g.byId.get(s.id)?.assignee ?? actor) === actor,
        );
        const current = mine[0]?.id ?? null;
        const next = p.next_step?.id ?? null;
        molecule = {
          id: p.molecule_id,
          title: p.title,
          formula: p.formula ?? hookRef.formula ?? null,
          total: p.total,
          completed: p.completed,
          complete: p.complete,
          current,
          next,
          steps: checklist(p.steps, current, next),
        };
      } catch (e: any) {
        warnings.push(`cannot read molecule ${hookRef.molecule}: ${e.message}`);
      }
    }
  }

  let handoff: PrimeData['handoff'] = null;
  if (latestHandoff) {
    const m = byId.get(latestHandoff.id);
    handoff = {
      id: latestHandoff.id,
      subject: latestHandoff.title,
      body: m?.description ?? '',
      from: latestHandoff.sender ?? latestHandoff.created_by ?? '',
      created_at: latestHandoff.created_at,
    };
  }

  return {
    town,
    role: id.role,
    rig: id.rig ?? null,
    name: id.name ?? null,
    actor,
    address,
    session,
    work_dir: workDir,
    template: { path: fs.existsSync(tplPath) ? tplPath : null, text: renderTemplate(tplText, vars) },
    directives,
    hook,
    molecule,
    mail: {
      address,
      unread: unread.length,
      recent: unread.slice(0, 5).map((m) => ({
        id: m.id,
        subject: m.title,
        from: m.sender ?? m.created_by ?? '',
      })),
    },
    handoff,
    autonomous: hook ? autonomousDirective(id, hook, molecule) : null,
    escalations: id.role === 'mayor' ? pendingBySeverity(g.byId.values()) : null,
    warnings,
  };
}

function autonomousDirective(id: Identity, hook: NonNullable<PrimeData['hook']>, mol: PrimeMolecule | null) {
  const lines = [
    `Work is on your hook: ${hook.id} "${hook.title}". Run it now: do not wait for confirmation,`,
    'do not ask what to do next, do not stop to summarise.',
  ];
  if (mol && !mol.complete) {
    const step = mol.steps.find((s) => s.id === (mol.current ?? mol.next));
    if (step) lines.push(`Start with ${step.id}: ${step.title}.`);
    lines.push(
      `Work the steps of ${mol.id} in order; close each one with \`bd close <step> --continue\` (it claims the next).`,
    );
  } else if (mol?.complete) {
    lines.push(`Every step of ${mol.id} is done.`);
  }
  lines.push(
    id.role === 'polecat'
      ? 'When the work is complete, run `gt done` (it pushes your branch, files the merge request and frees you).'
      : `When the work is complete, close it: \`bd close ${hook.id}\`.`,
  );
  return lines.join('\n');
}

const MARK: Record<StepMarker, string> = {
  done: '[x]',
  current: '[>]',
  next: '[ ]',
  in_progress: '[~]',
  ready: '[ ]',
  blocked: '[!]',
  pending: '[ ]',
};

/** The molecule checklist as text: done steps ticked, the current/next step marked. */
export function checklistText(m: PrimeMolecule, c?: ColorFns, limit = 200): string[] {
  const lines: string[] = [];
  const shown = m.steps.length > limit ? windowAround(m, limit) : m.steps;
  if (shown.length < m.steps.length) lines.push(`(${m.steps.length - shown.length} steps not shown)`);
  for (const s of shown) {
    const tag =
      s.marker === 'current'
        ? '  ← CURRENT'
        : s.marker === 'next'
          ? '  ← NEXT'
          : s.marker === 'blocked'
            ? '  (blocked)'
            : '';
    const text = `${MARK[s.marker]} ${s.step ? `${s.step}: ` : ''}${s.title} (${s.id})${tag}`;
    lines.push(
      c
        ? s.marker === 'done'
          ? c.dim(text)
          : s.marker === 'current' || s.marker === 'next'
            ? c.bold(text)
            : text
        : text,
    );
  }
  return lines;
}

function windowAround(m: PrimeMolecule, limit: number): ChecklistStep[] {
  const at = Math.max(
    0,
    m.steps.findIndex((s) => s.id === (m.current ?? m.next)),
  );
  const start = Math.max(0, Math.min(at - Math.floor(limit / 4), m.steps.length - limit));
  return m.steps.slice(start, start + limit);
}

const plain: ColorFns = {
  bold: (s) => s,
  dim: (s) => s,
  red: (s) => s,
  green: (s) => s,
  yellow: (s) => s,
  cyan: (s) => s,
};

/** The context as the markdown an agent reads. */
export function renderPrime(p: PrimeData, c: ColorFns = plain): string {
  const out: string[] = [];
  const where = p.rig ? ` in rig ${p.rig}` : '';
  out.push(c.dim(`[gt prime] ${p.actor} (${p.role}${where}) · town ${p.town}`), '');
  out.push(p.template.text.trimEnd());
  for (const d of p.directives) {
    out.push('', c.bold(`## Directives (${d.scope})`), '', d.text.trimEnd());
  }
  if (p.handoff) {
    out.push(
      '',
      c.bold('## HANDOFF from your previous session'),
      '',
      `${p.handoff.subject} (${p.handoff.id}, ${p.handoff.created_at})`,
    );
    if (p.handoff.body.trim()) out.push('', p.handoff.body.trimEnd());
    out.push('', `Mark it read when you have taken it in: \`bd label add ${p.handoff.id} ${READ_LABEL}\`.`);
  }
  out.push('', c.bold('## Your hook'), '');
  if (!p.hook) {
    out.push('Nothing is on your hook.');
  } else {
    out.push(`${c.cyan(p.hook.id)} ${p.hook.title} [${p.hook.status}]`);
    if (p.hook.description.trim()) out.push('', p.hook.description.trimEnd());
    if (p.molecule) {
      const m = p.molecule;
      out.push(
        '',
        c.bold(
          `### Molecule ${m.id}${m.formula ? ` (${m.formula})` : ''}: ${m.completed}/${m.total} steps done${m.complete ? ', complete' : ''}`,
        ),
        '',
        ...checklistText(m, c),
      );
    } else if (p.hook.molecule === null) {
      out.push('', 'No molecule is attached: the bead itself is the work.');
    }
  }
  out.push('', c.bold('## Mail'), '');
  if (p.mail.unread === 0) out.push(`No unread mail for ${p.mail.address}.`);
  else {
    out.push(`${p.mail.unread} unread message${p.mail.unread === 1 ? '' : 's'} for ${p.mail.address}:`);
    for (const m of p.mail.recent) out.push(`  ${m.id} ${m.subject}${m.from ? ` (from ${m.from})` : ''}`);
  }
  if (p.escalations) {
    out.push('', c.bold('## Pending escalations'), '');
    const n = p.escalations.reduce((k, g) => k + g.escalations.length, 0);
    if (n === 0) out.push('No pending escalations.');
    else {
      out.push(`${n} pending (unacknowledged) escalation${n === 1 ? '' : 's'}:`);
      for (const g of p.escalations) {
        out.push(`  ${g.severity.toUpperCase()} (${g.escalations.length}):`);
        for (const e of g.escalations)
          out.push(
            `    ${e.id} ${e.title}${e.reescalation_count ? ` (re-escalated ×${e.reescalation_count})` : ''} [${e.source}]`,
          );
      }
      out.push(
        '',
        'Handle each: `gt escalate show <id>`, then `gt escalate ack <id>` or `gt escalate close <id> --reason ...`.',
      );
    }
  }
  if (p.autonomous) out.push('', c.bold('## AUTONOMOUS WORK MODE'), '', p.autonomous);
  for (const w of p.warnings) out.push('', c.yellow(`warning: ${w}`));
  return out.join('\n');
}
