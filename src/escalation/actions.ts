// The routing actions of an escalation (spec §4): `bead` (implicit: the bead exists before any
// action runs), `mail:<address>`, `log`, `webhook:<url>`, `slack`, `email:human`, `sms:human`.
// Every action returns a result instead of throwing, so one failing action never stops the
// others or loses the escalation; the caller records each result as a comment.
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { durationMs } from '../town/settings.ts';
import { deliverMail } from './mail-adapter.ts';
import type { EscalationConfig, EscalationView, Severity } from './model.ts';

export interface ActionResult {
  action: string;
  ok: boolean;
  detail: string;
  /** HTTP actions: attempts made and the final status. */
  attempts?: number;
  status?: number;
}

export interface ActionContext {
  townRoot: string;
  actor: string;
  config: EscalationConfig;
  /** `created` for a new escalation, `reescalated` for a stale bump. */
  event: 'created' | 'reescalated';
}

export const KNOWN_ACTIONS = 'bead, mail:<address>, log, webhook:<url>, slack, email:human, sms:human';

/** The JSON document HTTP actions post (webhook, and the escalation inside sms/slack bodies). */
export function payloadOf(e: EscalationView, ctx: ActionContext) {
  return {
    type: 'escalation',
    event: ctx.event,
    id: e.id,
    severity: e.severity,
    original_severity: e.original_severity,
    title: e.title,
    description: e.description,
    reason: e.reason,
    source: e.source,
    related: e.related,
    reescalation_count: e.reescalation_count,
    created_at: e.created_at,
    created_by: e.created_by,
    town: path.basename(ctx.townRoot),
  };
}

export function summaryLine(e: EscalationView, ctx: ActionContext): string {
  const again = ctx.event === 'reescalated' ? ` (re-escalated ×${e.reescalation_count})` : '';
  return `[${e.severity.toUpperCase()}] ${e.title} (${e.id})${again}`;
}

const MAIL_PRIORITY: Record<Severity, 'low' | 'normal' | 'high' | 'urgent'> = {
  low: 'low',
  medium: 'normal',
  high: 'high',
  critical: 'urgent',
};

export async function runActions(
  actions: string[],
  e: EscalationView,
  ctx: ActionContext,
): Promise<ActionResult[]> {
  const out: ActionResult[] = [];
  for (const action of actions) {
    if (action === 'bead') continue; // implicit, and always first
    try {
      out.push(await runAction(action, e, ctx));
    } catch (err: any) {
      out.push({ action, ok: false, detail: String(err?.message ?? err) });
    }
  }
  return out;
}

async function runAction(action: string, e: EscalationView, ctx: ActionContext): Promise<ActionResult> {
  const c = ctx.config.contacts;
  if (action.startsWith('mail:')) {
    const to = action.slice('mail:'.length);
    const body = [
      `Escalation: ${e.id}`,
      `Severity: ${e.severity}`,
      `Source: ${e.source}`,
      ...(e.reason ? [`Reason: ${e.reason}`] : []),
      ...(e.related.length ? [`Related: ${e.related.join(', ')}`] : []),
      ...(ctx.event === 'reescalated' ? [`Reescalation: ${e.reescalation_count}`] : []),
      '',
      e.description || e.title,
      '',
      `Acknowledge with \`gt escalate ack ${e.id}\`; close with \`gt escalate close ${e.id} --reason "..."\`.`,
    ].join('\n');
    const r = await deliverMail(
      ctx.townRoot,
      {
        from: ctx.actor,
        to,
        subject: `ESCALATION ${summaryLine(e, ctx)}`,
        body,
        priority: MAIL_PRIORITY[e.severity],
        type: 'escalation',
      },
      { actor: ctx.actor },
    );
    return { action, ok: true, detail: `mailed ${r.recipients.join(', ')} (${r.ids.join(', ')})` };
  }
  if (action === 'log') {
    const file = path.join(ctx.townRoot, '.runtime', 'escalations.log');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.appendFileSync(file, `${JSON.stringify({ ts: new Date().toISOString(), ...payloadOf(e, ctx) })}\n`);
    return { action, ok: true, detail: `appended to ${path.relative(ctx.townRoot, file)}` };
  }
  if (action.startsWith('webhook:')) {
    return httpAction(action, action.slice('webhook:'.length), payloadOf(e, ctx), ctx);
  }
  if (action === 'slack') {
    if (!c.slack_webhook) return notConfigured(action, 'contacts.slack_webhook (an incoming-webhook URL)');
    return httpAction(action, c.slack_webhook, { text: `Escalation ${summaryLine(e, ctx)}` }, ctx);
  }
  if (action === 'sms:human') {
    if (!c.sms_webhook) return notConfigured(action, 'contacts.sms_webhook (and contacts.human_sms)');
    return httpAction(
      action,
      c.sms_webhook,
      {
        to: c.human_sms ?? '',
        message: `Gas Town escalation ${summaryLine(e, ctx)}`,
        escalation: payloadOf(e, ctx),
      },
      ctx,
    );
  }
  if (action === 'email:human') return emailAction(action, e, ctx);
  return {
    action,
    ok: false,
    detail: `unknown action "${action}" in settings/escalation.json: use ${KNOWN_ACTIONS}`,
  };
}

function notConfigured(action: string, what: string): ActionResult {
  return {
    action,
    ok: false,
    detail: `not configured: set ${what} in settings/escalation.json`,
  };
}

/** A network failure (refused, reset, DNS, timeout) rather than an HTTP answer. */
function networkError(err: any): string {
  const cause = err?.cause;
  if (err?.name === 'TimeoutError') return 'timed out';
  return cause?.code
    ? `${cause.code}${cause.message ? ` (${cause.message})` : ''}`
    : String(err?.message ?? err);
}

/**
 * POST JSON with a timeout per attempt. Network errors are retried (config http.retries, with a
 * doubling delay); any HTTP answer, 4xx and 5xx included, is final: the server got the request.
 */
export async function postJson(
  url: string,
  payload: unknown,
  opts: { timeoutMs: number; retries: number; retryDelayMs: number },
): Promise<{ ok: boolean; status?: number; attempts: number; detail: string }> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return { ok: false, attempts: 0, detail: `invalid URL ${JSON.stringify(url)}: use http(s)://host/path` };
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return { ok: false, attempts: 0, detail: `URL ${JSON.stringify(url)} is not http(s)` };
  }
  const body = JSON.stringify(payload);
  let last = '';
  for (let attempt = 1; attempt <= opts.retries + 1; attempt++) {
    try {
      const res = await fetch(parsed, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'gastown-ts' },
        body,
        signal: AbortSignal.timeout(opts.timeoutMs),
        redirect: 'error',
      });
      await res.arrayBuffer().catch(() => undefined);
      return {
        ok: res.ok,
        status: res.status,
        attempts: attempt,
        detail: `HTTP ${res.status}${res.ok ? '' : ` ${res.statusText}`.trimEnd()}`,
      };
    } catch (err) {
      last = networkError(err);
      if (attempt <= opts.retries) await sleep(opts.retryDelayMs * 2 ** (attempt - 1));
    }
  }
  return { ok: false, attempts: opts.retries + 1, detail: `network error: ${last}` };
}

async function httpAction(
  action: string,
  url: string,
  payload: unknown,
  ctx: ActionContext,
): Promise<ActionResult> {
  const h = ctx.config.http;
  const r = await postJson(url, payload, {
    timeoutMs: durationMs(h.timeout, 'http.timeout'),
    retries: Math.max(0, Math.floor(Number(h.retries) || 0)),
    retryDelayMs: durationMs(h.retry_delay, 'http.retry_delay'),
  });
  const tries = r.attempts > 1 ? ` after ${r.attempts} attempts` : '';
  return {
    action,
    ok: r.ok,
    detail: `${r.detail}${tries}`,
    attempts: r.attempts,
    ...(r.status !== undefined ? { status: r.status } : {}),
  };
}

/** SMTP through nodemailer, loaded only when an email is actually sent. */
async function emailAction(action: string, e: EscalationView, ctx: ActionContext): Promise<ActionResult> {
  const c = ctx.config.contacts;
  if (!c.smtp_host) return notConfigured(action, 'contacts.smtp_host, smtp_from and human_email');
  if (!c.human_email) return notConfigured(action, 'contacts.human_email');
  const port = Number(c.smtp_port || 587);
  const timeout = durationMs(ctx.config.smtp_timeout, 'smtp_timeout');
  const nodemailer = (await import('nodemailer')).default;
  const transport = nodemailer.createTransport({
    host: c.smtp_host,
    port,
    secure: port === 465,
    ...(c.smtp_user ? { auth: { user: c.smtp_user, pass: c.smtp_pass ?? '' } } : {}),
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout,
  });
  try {
    const info = await transport.sendMail({
      from: c.smtp_from || `gastown@${c.smtp_host}`,
      to: c.human_email,
      subject: `Gas Town escalation ${summaryLine(e, ctx)}`,
      text: [
        `Severity: ${e.severity}`,
        `Source: ${e.source}`,
        ...(e.reason ? [`Reason: ${e.reason}`] : []),
        '',
        e.description || e.title,
      ].join('\n'),
    });
    return { action, ok: true, detail: `emailed ${c.human_email} (${info.messageId ?? 'sent'})` };
  } finally {
    transport.close();
  }
}
