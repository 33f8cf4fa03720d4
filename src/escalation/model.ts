// Escalations (spec §4): severities, the labels an escalation bead carries, the routing
// configuration (`settings/escalation.json`) and the clock. Pure logic apart from reading the
// configuration file.
import path from 'node:path';
import type { Bead } from '../beads/types.ts';
import { UsageError } from '../errors.ts';
import { readJsonOr } from '../town/files.ts';
import { durationMs } from '../town/settings.ts';

export const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Bead priority of each severity: low P3, medium P2, high P1, critical P0. */
export const SEVERITY_PRIORITY: Record<Severity, number> = { low: 3, medium: 2, high: 1, critical: 0 };

export const ESCALATION_LABEL = 'gt:escalation';

export function parseSeverity(input: unknown): Severity {
  const s = String(input ?? '')
    .trim()
    .toLowerCase();
  if ((SEVERITIES as readonly string[]).includes(s)) return s as Severity;
  throw new UsageError(
    `invalid severity ${JSON.stringify(input)}: use one of ${SEVERITIES.join(', ')} (e.g. -s high)`,
  );
}

/** One level up; critical stays critical. */
export function bumpSeverity(s: Severity): Severity {
  return SEVERITIES[Math.min(SEVERITIES.indexOf(s) + 1, SEVERITIES.length - 1)];
}

/** `TYPE:NAME` (e.g. `plugin:rebuild-gt`, `patrol:deacon:health-scan`, `agent:myrig/witness`). */
export function parseSource(input: string): string {
  const s = input.trim();
  if (!/^[A-Za-z][A-Za-z0-9_-]*:[^\s,]+$/.test(s)) {
    throw new UsageError(
      `invalid source ${JSON.stringify(input)}: use TYPE:NAME without spaces or commas, e.g. plugin:rebuild-gt or patrol:deacon`,
    );
  }
  return s;
}

// ---- labels ------------------------------------------------------------------------------

/** The value of the first `key:value` label, or undefined. */
export function labelValue(labels: string[] | undefined, key: string): string | undefined {
  const head = `${key}:`;
  const l = (labels ?? []).find((x) => x.startsWith(head));
  return l === undefined ? undefined : l.slice(head.length);
}

/** Replace every `key:*` label by `key:value` (sorted, as beads keep them). */
export function setLabel(labels: string[] | undefined, key: string, value: string): string[] {
  const head = `${key}:`;
  return [...(labels ?? []).filter((x) => !x.startsWith(head)), `${head}${value}`].sort();
}

export function isEscalation(b: { labels?: string[] }): boolean {
  return (b.labels ?? []).includes(ESCALATION_LABEL);
}

export interface EscalationView {
  id: string;
  title: string;
  description: string;
  status: string;
  severity: Severity;
  original_severity: Severity;
  priority: number;
  source: string;
  reason: string | null;
  related: string[];
  acknowledged: boolean;
  acked_by: string | null;
  acked_at: string | null;
  reescalated: boolean;
  reescalation_count: number;
  escalated_at: string;
  created_at: string;
  created_by: string | null;
  closed_at: string | null;
  close_reason: string | null;
  comments: { author: string; text: string; created_at: string }[];
}

function sev(v: string | undefined, fallback: Severity): Severity {
  return (SEVERITIES as readonly string[]).includes(v ?? '') ? (v as Severity) : fallback;
}

/** The escalation fields of a bead (a full record, or a summary: then without comments). */
export function viewOf(b: Omit<Bead, 'description' | 'comments'> & Partial<Bead>): EscalationView {
  const severity = sev(labelValue(b.labels, 'severity'), 'medium');
  const meta = (b.metadata ?? {}) as Record<string, unknown>;
  return {
    id: b.id,
    title: b.title,
    description: b.description ?? '',
    status: b.status,
    severity,
    original_severity: sev(labelValue(b.labels, 'original_severity'), severity),
    priority: b.priority,
    source: labelValue(b.labels, 'source') ?? '',
    reason: typeof meta.reason === 'string' ? meta.reason : null,
    related: (b.dependencies ?? []).filter((d) => d.type === 'related').map((d) => d.depends_on_id),
    acknowledged: labelValue(b.labels, 'acknowledged') === 'true',
    acked_by: labelValue(b.labels, 'acked_by') ?? null,
    acked_at: labelValue(b.labels, 'acked_at') ?? null,
    reescalated: labelValue(b.labels, 'reescalated') === 'true',
    reescalation_count: Number(labelValue(b.labels, 'reescalation_count') ?? 0) || 0,
    escalated_at: typeof meta.escalated_at === 'string' ? meta.escalated_at : b.created_at,
    created_at: b.created_at,
    created_by: b.created_by ?? null,
    closed_at: b.closed_at ?? null,
    close_reason: b.close_reason ?? null,
    comments: (b.comments ?? []).map((c) => ({ author: c.author, text: c.text, created_at: c.created_at })),
  };
}

// ---- configuration ---------------------------------------------------------------------

export interface EscalationConfig {
  routes: Record<Severity, string[]>;
  contacts: Record<string, string>;
  stale_threshold: string;
  max_reescalations: number;
  /** HTTP actions: timeout per attempt and retries on network errors (not in the original). */
  http: { timeout: string; retries: number; retry_delay: string };
  /** SMTP timeout (connection, greeting, socket). */
  smtp_timeout: string;
}

export const DEFAULT_CONFIG: EscalationConfig = {
  routes: {
    low: ['bead'],
    medium: ['bead', 'mail:mayor'],
    high: ['bead', 'mail:mayor', 'email:human'],
    critical: ['bead', 'mail:mayor', 'email:human', 'sms:human'],
  },
  contacts: {},
  stale_threshold: '4h',
  max_reescalations: 2,
  http: { timeout: '10s', retries: 2, retry_delay: '500ms' },
  smtp_timeout: '15s',
};

export function configFile(townRoot: string): string {
  return path.join(townRoot, 'settings', 'escalation.json');
}

/** settings/escalation.json over the defaults; a malformed file is an error naming the fix. */
export function loadConfig(townRoot: string): EscalationConfig {
  const file = configFile(townRoot);
  const raw = readJsonOr<Record<string, any>>(file, 'settings/escalation.json', {});
  const bad = (what: string) =>
    new UsageError(`settings/escalation.json (${file}): ${what}; fix the file or restore it with git`);
  const routes = { ...DEFAULT_CONFIG.routes };
  if (raw.routes !== undefined) {
    if (typeof raw.routes !== 'object' || raw.routes === null) throw bad('"routes" must be an object');
    for (const [k, v] of Object.entries(raw.routes)) {
      if (!(SEVERITIES as readonly string[]).includes(k))
        throw bad(`unknown severity "${k}" in routes (use ${SEVERITIES.join(', ')})`);
      if (!Array.isArray(v) || v.some((a) => typeof a !== 'string'))
        throw bad(`routes.${k} must be a list of actions like ["bead", "mail:mayor"]`);
      routes[k as Severity] = v as string[];
    }
  }
  const contacts: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw.contacts ?? {})) contacts[k] = v == null ? '' : String(v);
  const cfg: EscalationConfig = {
    routes,
    contacts,
    stale_threshold: String(raw.stale_threshold ?? DEFAULT_CONFIG.stale_threshold),
    max_reescalations: Number(raw.max_reescalations ?? DEFAULT_CONFIG.max_reescalations),
    http: { ...DEFAULT_CONFIG.http, ...(raw.http ?? {}) },
    smtp_timeout: String(raw.smtp_timeout ?? DEFAULT_CONFIG.smtp_timeout),
  };
  if (!Number.isInteger(cfg.max_reescalations) || cfg.max_reescalations < 0)
    throw bad(`max_reescalations must be a whole number ≥ 0 (got ${JSON.stringify(raw.max_reescalations)})`);
  durationMs(cfg.stale_threshold, 'stale_threshold');
  durationMs(cfg.http.timeout, 'http.timeout');
  durationMs(cfg.http.retry_delay, 'http.retry_delay');
  durationMs(cfg.smtp_timeout, 'smtp_timeout');
  return cfg;
}

// ---- clock -------------------------------------------------------------------------------

/**
 * Now, for escalation timing only. `GT_FAKE_NOW` (an ISO date or epoch milliseconds) fakes it,
 * so tests can age escalations past the stale threshold; nothing else reads it.
 */
export function escalationNow(env: NodeJS.ProcessEnv = process.env): Date {
  const fake = env.GT_FAKE_NOW;
  if (fake) {
    const d = /^\d+$/.test(fake) ? new Date(Number(fake)) : new Date(fake);
    if (Number.isNaN(d.getTime()))
      throw new UsageError(`GT_FAKE_NOW=${JSON.stringify(fake)} is not a date: use ISO 8601 or epoch ms`);
    return d;
  }
  return new Date();
}

export interface PendingGroup {
  severity: Severity;
  escalations: {
    id: string;
    title: string;
    created_at: string;
    reescalation_count: number;
    source: string;
  }[];
}

/** Pending (open, unacknowledged) escalations grouped by severity, most severe first. */
export function pendingBySeverity(beads: Iterable<Parameters<typeof viewOf>[0]>): PendingGroup[] {
  const pending: EscalationView[] = [];
  for (const b of beads) {
    if (!isEscalation(b)) continue;
    const e = viewOf(b);
    if (e.status !== 'closed' && !e.acknowledged) pending.push(e);
  }
  return [...SEVERITIES]
    .reverse()
    .map((severity) => ({
      severity,
      escalations: pending
        .filter((e) => e.severity === severity)
        .sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : 0))
        .map((e) => ({
          id: e.id,
          title: e.title,
          created_at: e.created_at,
          reescalation_count: e.reescalation_count,
          source: e.source,
        })),
    }))
    .filter((g) => g.escalations.length > 0);
}
