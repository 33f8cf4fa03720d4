// The protocol messages agents and the daemon exchange (spec §3.5): one place that builds their
// subjects and `Key: value` bodies and parses them back. Subject = `TYPE`, `TYPE <arg>` or
// `TYPE: context`; body = `Key: value` lines, a blank line, then free markdown. Pure logic.

export type ProtocolType =
  | 'POLECAT_DONE'
  | 'POLECAT_STARTED'
  | 'MERGE_READY'
  | 'MERGED'
  | 'MERGE_FAILED'
  | 'FIX_NEEDED'
  | 'REWORK_REQUEST'
  | 'CONVOY_NEEDS_FEEDING'
  | 'RECOVERED_BEAD'
  | 'RECOVERY_NEEDED'
  | 'HELP'
  | 'HANDOFF'
  | 'LIFECYCLE:Shutdown'
  | 'LIFECYCLE:Cycle'
  | 'GUPP_VIOLATION'
  | 'ORPHANED_WORK'
  | 'SWARM_START'
  | 'SWARM_COMPLETE'
  | 'READY_FOR_REVIEW'
  | 'CONVOY_LANDED';

export interface Built {
  subject: string;
  body: string;
}

export interface Parsed {
  type: ProtocolType;
  /** What follows the type in the subject (a name, a description), '' when none. */
  arg: string;
  keys: Record<string, string>;
  /** The free markdown after the key lines. */
  text: string;
}

export const HANDOFF_PREFIX = '🤝 HANDOFF';
export const CONVOY_LANDED_PREFIX = '🚚 Convoy Landed:';

/** `Key: value` lines (undefined values left out), a blank line, then the free text. */
export function formatBody(keys: Record<string, string | number | boolean | undefined>, text = ''): string {
  const lines: string[] = [];
  for (const [k, v] of Object.entries(keys)) {
    if (v === undefined || v === '') continue;
    const value = String(v).replace(/[\r\n]+/g, ' ');
    lines.push(`${k}: ${value}`);
  }
  const free = text.trim();
  if (!lines.length) return free;
  return free ? `${lines.join('\n')}\n\n${free}` : lines.join('\n');
}

/** The leading `Key: value` block of a body and the text after it. */
export function parseBody(body: string): { keys: Record<string, string>; text: string } {
  const keys: Record<string, string> = {};
  const lines = (body ?? '').replace(/\r\n/g, '\n').split('\n');
  let i = 0;
  for (; i < lines.length; i++) {
    const m = /^([A-Za-z][A-Za-z0-9 _-]*):(?: (.*))?$/.exec(lines[i]);
    if (!m) break;
    keys[m[1]] = (m[2] ?? '').trim();
  }
  if (i === 0) return { keys: {}, text: (body ?? '').trim() };
  if (i < lines.length && lines[i] === '') i++;
  return { keys, text: lines.slice(i).join('\n').trim() };
}

function oneLine(s: string, what: string): string {
  const v = String(s ?? '').trim();
  if (!v) throw new Error(`${what} is required`);
  if (/[\r\n]/.test(v)) throw new Error(`${what} must be one line`);
  return v;
}

// ---- builders ---------------------------------------------------------------------------------

export type ExitKind = 'COMPLETED' | 'ESCALATED' | 'DEFERRED' | 'PHASE_COMPLETE';

export function polecatDone(i: {
  polecat: string;
  exit: ExitKind;
  issue?: string;
  mr?: string;
  branch?: string;
  gate?: string;
  mrFailed?: string;
  notes?: string;
}): Built {
  return {
    subject: `POLECAT_DONE ${oneLine(i.polecat, 'polecat')}`,
    body: formatBody(
      { Exit: i.exit, Issue: i.issue, MR: i.mr, Branch: i.branch, Gate: i.gate, MRFailed: i.mrFailed },
      i.notes,
    ),
  };
}

export function polecatStarted(i: { polecat: string; issue?: string; session?: string }): Built {
  return {
    subject: `POLECAT_STARTED ${oneLine(i.polecat, 'polecat')}`,
    body: formatBody({ Issue: i.issue, Session: i.session }),
  };
}

export function mergeReady(i: {
  name: string;
  branch: string;
  issue?: string;
  polecat?: string;
  verified?: string;
}): Built {
  return {
    subject: `MERGE_READY ${oneLine(i.name, 'name')}`,
    body: formatBody({ Branch: i.branch, Issue: i.issue, Polecat: i.polecat, Verified: i.verified }),
  };
}

export function merged(i: {
  name: string;
  branch?: string;
  issue?: string;
  polecat?: string;
  rig?: string;
  target?: string;
  mergedAt?: string;
  mergeCommit?: string;
}): Built {
  return {
    subject: `MERGED ${oneLine(i.name, 'name')}`,
    body: formatBody({
      Branch: i.branch,
      Issue: i.issue,
      Polecat: i.polecat,
      Rig: i.rig,
      Target: i.target,
      'Merged-At': i.mergedAt,
      'Merge-Commit': i.mergeCommit,
    }),
  };
}

export type FailureType = 'tests' | 'build' | 'push' | 'conflict' | 'other';

function failure(
  type: 'MERGE_FAILED' | 'FIX_NEEDED',
  i: { branch: string; issue?: string; failureType: FailureType; error: string; details?: string },
): Built {
  const err = String(i.error)
    .replace(/[\r\n]+/g, ' ')
    .trim();
  return {
    subject: `${type}: branch=${oneLine(i.branch, 'branch')} issue=${i.issue ?? ''} type=${i.failureType} error=${err}`,
    body: formatBody(
      { Branch: i.branch, Issue: i.issue, 'Failure-Type': i.failureType, Error: err },
      i.details,
    ),
  };
}

export function mergeFailed(i: Parameters<typeof failure>[1]): Built {
  return failure('MERGE_FAILED', i);
}

export function fixNeeded(i: Parameters<typeof failure>[1]): Built {
  return failure('FIX_NEEDED', i);
}

export function reworkRequest(i: { polecat: string; conflictFiles: string[]; instructions?: string }): Built {
  return {
    subject: `REWORK_REQUEST ${oneLine(i.polecat, 'polecat')}`,
    body: formatBody(
      { 'Conflict-Files': i.conflictFiles.join(', ') },
      i.instructions ?? 'Rebase on the target branch, resolve the conflicts, run the tests, then `gt done`.',
    ),
  };
}

export function convoyNeedsFeeding(i: { convoy: string; notes?: string }): Built {
  return { subject: `CONVOY_NEEDS_FEEDING ${oneLine(i.convoy, 'convoy')}`, body: formatBody({}, i.notes) };
}

export function recoveredBead(i: { bead: string; polecat?: string; previousStatus?: string }): Built {
  return {
    subject: `RECOVERED_BEAD ${oneLine(i.bead, 'bead')}`,
    body: formatBody({ Bead: i.bead, Polecat: i.polecat, 'Previous Status': i.previousStatus }),
  };
}

export function recoveryNeeded(i: {
  agent: string;
  cleanupStatus: 'has_uncommitted' | 'has_stash' | 'has_unpushed';
  branch?: string;
  issue?: string;
  detected?: string;
}): Built {
  return {
    subject: `RECOVERY_NEEDED ${oneLine(i.agent, 'agent')}`,
    body: formatBody({
      'Cleanup Status': i.cleanupStatus,
      Branch: i.branch,
      Issue: i.issue,
      Detected: i.detected,
    }),
  };
}

export function help(i: {
  description: string;
  agent?: string;
  issue?: string;
  problem?: string;
  tried?: string;
}): Built {
  return {
    subject: `HELP: ${oneLine(i.description, 'description')}`,
    body: formatBody({ Agent: i.agent, Issue: i.issue, Problem: i.problem, Tried: i.tried }),
  };
}

export function handoff(i: {
  context?: string;
  attachedMolecule?: string;
  attachedAt?: string;
  contextText?: string;
  status?: string;
  next?: string;
}): Built {
  const parts: string[] = [];
  if (i.contextText) parts.push(`## Context\n\n${i.contextText.trim()}`);
  if (i.status) parts.push(`## Status\n\n${i.status.trim()}`);
  if (i.next) parts.push(`## Next\n\n${i.next.trim()}`);
  const ctx = i.context?.replace(/[\r\n]+/g, ' ').trim();
  return {
    subject: ctx ? `${HANDOFF_PREFIX}: ${ctx}` : HANDOFF_PREFIX,
    body: formatBody(
      { attached_molecule: i.attachedMolecule, attached_at: i.attachedAt },
      parts.join('\n\n'),
    ),
  };
}

export function lifecycle(i: { action: 'Shutdown' | 'Cycle'; agent: string; reason?: string }): Built {
  return {
    subject: `LIFECYCLE:${i.action} ${oneLine(i.agent, 'agent')}`,
    body: formatBody({ Reason: i.reason }),
  };
}

export function guppViolation(i: { agent: string; hookBead?: string; duration: string }): Built {
  return {
    subject: `GUPP_VIOLATION: ${oneLine(i.agent, 'agent')} stuck for ${i.duration}`,
    body: formatBody({ Agent: i.agent, Hook_Bead: i.hookBead, Duration: i.duration }),
  };
}

export function orphanedWork(i: { agent: string; hookBead?: string; duration?: string }): Built {
  return {
    subject: `ORPHANED_WORK: ${oneLine(i.agent, 'agent')}`,
    body: formatBody({ Agent: i.agent, Hook_Bead: i.hookBead, Duration: i.duration }),
  };
}

export function readyForReview(i: { issue: string; branch?: string; pr?: string }): Built {
  return {
    subject: `READY_FOR_REVIEW: ${oneLine(i.issue, 'issue')}`,
    body: formatBody({ Branch: i.branch, Issue: i.issue, PR: i.pr }),
  };
}

export function swarmStart(i: { swarmId: string; beads: string[] }): Built {
  return { subject: 'SWARM_START', body: JSON.stringify({ swarm_id: i.swarmId, beads: i.beads }) };
}

export function swarmComplete(i: { swarmId: string }): Built {
  return { subject: `SWARM_COMPLETE: ${oneLine(i.swarmId, 'swarm id')}`, body: '' };
}

export function convoyLanded(i: { title: string; id: string; issues?: string[]; duration?: string }): Built {
  const list = (i.issues ?? []).map((x) => `- ${x}`).join('\n');
  return {
    subject: `${CONVOY_LANDED_PREFIX} ${oneLine(i.title, 'title')} (${oneLine(i.id, 'convoy id')})`,
    body: formatBody({ Convoy: i.id, Duration: i.duration }, list ? `## Issues\n\n${list}` : ''),
  };
}

// ---- parser -----------------------------------------------------------------------------------

const PLAIN: ProtocolType[] = [
  'POLECAT_DONE',
  'POLECAT_STARTED',
  'MERGE_READY',
  'MERGED',
  'MERGE_FAILED',
  'FIX_NEEDED',
  'REWORK_REQUEST',
  'CONVOY_NEEDS_FEEDING',
  'RECOVERED_BEAD',
  'RECOVERY_NEEDED',
  'HELP',
  'GUPP_VIOLATION',
  'ORPHANED_WORK',
  'SWARM_START',
  'SWARM_COMPLETE',
  'READY_FOR_REVIEW',
];

/** The protocol type of a subject, or null for ordinary mail. */
export function protocolTypeOf(subject: string): ProtocolType | null {
  return parseProtocol(subject, '')?.type ?? null;
}

/** Recognise a protocol message; null for ordinary mail. Never throws. */
export function parseProtocol(subject: string, body: string): Parsed | null {
  const s = (subject ?? '').trim();
  let type: ProtocolType | null = null;
  let arg = '';
  if (s.startsWith(HANDOFF_PREFIX)) {
    type = 'HANDOFF';
    arg = s.slice(HANDOFF_PREFIX.length).replace(/^:\s*/, '').trim();
  } else if (s.startsWith(CONVOY_LANDED_PREFIX)) {
    type = 'CONVOY_LANDED';
    arg = s.slice(CONVOY_LANDED_PREFIX.length).trim();
  } else {
    const lc = /^LIFECYCLE:(Shutdown|Cycle)\b\s*(.*)$/i.exec(s);
    if (lc) {
      type = lc[1].toLowerCase() === 'shutdown' ? 'LIFECYCLE:Shutdown' : 'LIFECYCLE:Cycle';
      arg = lc[2].trim();
    } else {
      const m = /^([A-Z_]+)(?::\s*|\s+|$)(.*)$/.exec(s);
      if (m && (PLAIN as string[]).includes(m[1])) {
        type = m[1] as ProtocolType;
        arg = m[2].trim();
      }
    }
  }
  if (!type) return null;
  if (type === 'SWARM_START') {
    try {
      const j = JSON.parse(body || '{}');
      return {
        type,
        arg,
        keys: { swarm_id: String(j.swarm_id ?? ''), beads: (j.beads ?? []).join(',') },
        text: '',
      };
    } catch {
      return { type, arg, keys: {}, text: body ?? '' };
    }
  }
  const { keys, text } = parseBody(body ?? '');
  if (type === 'CONVOY_LANDED') {
    const m = /^(.*) \(([^()]+)\)$/.exec(arg);
    if (m) keys.Title = m[1];
  }
  return { type, arg, keys, text };
}

/** Protocol chatter `gt mail drain` archives (never HELP or HANDOFF). */
export function isDrainable(subject: string): boolean {
  const t = protocolTypeOf(subject);
  return (
    t === 'POLECAT_DONE' ||
    t === 'POLECAT_STARTED' ||
    t === 'LIFECYCLE:Shutdown' ||
    t === 'LIFECYCLE:Cycle' ||
    t === 'MERGED' ||
    t === 'MERGE_READY' ||
    t === 'MERGE_FAILED' ||
    t === 'SWARM_START' ||
    /^LIFECYCLE:/i.test(subject.trim())
  );
}

const WISP_PREFIXES = [
  'polecat_started',
  'polecat_done',
  'work_done',
  'start_work',
  'nudge',
  'lifecycle:',
  'merged',
  'merge_ready',
  'merge_failed',
];

/** Subjects that make mail a wisp automatically (spec §3.1), case-insensitive. */
export function isWispSubject(subject: string): boolean {
  const s = subject.trim().toLowerCase();
  return WISP_PREFIXES.some((p) => s.startsWith(p));
}
