// gt escalate: create/list/show/ack/close with --json; bad severities, sources and related beads
// refused with nothing written; routes (log, mail:mayor, webhook to a local HTTP server with a
// 500 recorded and not retried, a refused connection retried then recorded, email and slack
// not configured); stale re-escalation with a fake clock up to the maximum; the mayor's prime.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { GT, type RunResult } from '../helpers.ts';
import { ledgerCount, makeTown, snapshot, type Town } from '../town/town-fixture.ts';

/** gt without blocking the event loop (the test's HTTP server must answer meanwhile). */
function gtAsync(t: Town, args: string[], env: NodeJS.ProcessEnv = t.env): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [GT, ...args], { cwd: t.root, env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({
        code: code ?? -1,
        stdout,
        stderr,
        json() {
          try {
            return JSON.parse(stdout);
          } catch {
            throw new Error(`not JSON (exit ${code}):\n${stdout}\n${stderr}`);
          }
        },
      }),
    );
  });
}

interface Hit {
  path: string;
  body: any;
}

/** A local HTTP server: /ok answers 200, /fail answers 500; every request is recorded. */
async function hookServer(): Promise<{ url: string; hits: Hit[]; close(): Promise<void> }> {
  const hits: Hit[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      hits.push({ path: req.url ?? '', body: JSON.parse(body || 'null') });
      res.statusCode = req.url === '/fail' ? 500 : 200;
      res.end(req.url === '/fail' ? 'boom' : 'ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    hits,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

function writeConfig(t: Town, patch: Record<string, unknown>): void {
  const file = path.join(t.root, 'settings', 'escalation.json');
  const cfg = JSON.parse(fs.readFileSync(file, 'utf8'));
  fs.writeFileSync(file, `${JSON.stringify({ ...cfg, ...patch }, null, 2)}\n`);
}

const actionComment = (e: any, action: string) =>
  e.comments.find((c: any) => c.text.startsWith(`action ${action}:`))?.text as string | undefined;

test('create, list, show, ack, close (--json), one bead with labels, priority and related dep', () => {
  const t = makeTown();
  writeConfig(t, { routes: { low: ['bead'], medium: ['bead'], high: ['bead'], critical: ['bead'] } });
  const work = t.bd('create', 'Flaky login test', '--json').json().id as string;
  const before = ledgerCount(t);
  const r = t.ok(
    'escalate',
    'CI is red on main',
    '-s',
    'high',
    '--reason',
    'three runs failed',
    '--related',
    work,
    '--source',
    'patrol:deacon',
    '--json',
  );
  assert.is(ledgerCount(t), before + 1, 'route of bead only: one commit');
  const e = r.escalation;
  assert.match(e.id, /^hq-/);
  assert.is(e.severity, 'high');
  assert.is(e.priority, 1);
  assert.is(e.source, 'patrol:deacon');
  assert.is(e.reason, 'three runs failed');
  assert.equal(e.related, [work]);
  assert.is(e.acknowledged, false);
  assert.equal(r.route, ['bead']);
  assert.equal(r.actions, []);
  const raw = t.bd('show', e.id, '--json').json();
  const bead = Array.isArray(raw) ? raw[0] : raw;
  for (const l of [
    'gt:escalation',
    'severity:high',
    'original_severity:high',
    'source:patrol:deacon',
    'acknowledged:false',
    'reescalated:false',
    'reescalation_count:0',
  ])
    assert.ok(bead.labels.includes(l), `label ${l}: ${bead.labels}`);
  assert.ok(bead.dependencies.some((d: any) => d.type === 'related' && d.depends_on_id === work));

  const low = t.ok('escalate', 'disk at 80%', '-s', 'low', '--json').escalation;
  assert.is(low.priority, 3);
  assert.is(low.source, 'agent:tester');
  const crit = t.ok('escalate', 'refinery wedged', '-s', 'critical', '--json').escalation;
  const mid = t.ok('escalate', 'default severity', '--json').escalation;
  assert.is(mid.severity, 'medium');
  assert.is(mid.priority, 2);

  let list = t.ok('escalate', 'list', '--json');
  assert.equal(
    list.map((x: any) => x.id),
    [crit.id, e.id, mid.id, low.id],
  );
  assert.equal(
    t.ok('escalate', 'list', '--severity', 'low', '--json').map((x: any) => x.id),
    [low.id],
  );
  const text = t.ok('escalate', 'list');
  assert.match(text, new RegExp(`${crit.id} CRITICAL`));

  const shown = t.ok('escalate', 'show', e.id, '--json');
  assert.is(shown.title, 'CI is red on main');
  assert.match(shown.comments[0].text, /escalated \(high\) by tester from patrol:deacon: three runs failed/);

  const acked = t.ok('escalate', 'ack', e.id, '--json');
  assert.is(acked.acknowledged, true);
  assert.is(acked.acked_by, 'tester');
  assert.ok(acked.acked_at);
  const again = t.gt('escalate', 'ack', e.id);
  assert.is(again.code, 4);
  assert.match(again.stderr, /already acknowledged by tester/);

  const closed = t.ok('escalate', 'close', low.id, '--reason', 'cleaned up', '--json');
  assert.is(closed.status, 'closed');
  assert.is(closed.close_reason, 'cleaned up');
  list = t.ok('escalate', 'list', '--json');
  assert.not.ok(list.some((x: any) => x.id === low.id));
  assert.ok(t.ok('escalate', 'list', '--all', '--json').some((x: any) => x.id === low.id));
  // Plain beads are not escalations.
  const notEsc = t.gt('escalate', 'show', work);
  assert.is(notEsc.code, 3);
  assert.match(notEsc.stderr, /is not an escalation/);
});

test('bad input: severity, source, related, empty description, config; exit codes, nothing written', () => {
  const t = makeTown();
  const snap = snapshot(t);
  const cases: [string[], number, RegExp][] = [
    [
      ['escalate', 'x', '-s', 'urgent'],
      2,
      /invalid severity "urgent": use one of low, medium, high, critical/,
    ],
    [['escalate', 'x', '--source', 'no type'], 2, /invalid source "no type": use TYPE:NAME/],
    [['escalate', 'x', '--related', 'hq-zzzzz'], 3, /no bead with id "hq-zzzzz"/],
    [['escalate', '   '], 2, /needs a description/],
    [['escalate'], 2, /needs a description/],
    [['escalate', 'list', '--severity', 'severe'], 2, /invalid severity/],
    [['escalate', 'x', '--json', '-s', 'bad'], 2, /invalid severity/],
  ];
  for (const [args, code, re] of cases) {
    const r = t.gt(...args);
    assert.is(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
  }
  assert.is(snapshot(t), snap, 'refused commands change nothing');
  // A malformed routes table is named, and nothing is written.
  writeConfig(t, { routes: { urgent: ['bead'] } });
  const before = ledgerCount(t);
  const r = t.gt('escalate', 'x');
  assert.is(r.code, 2);
  assert.match(r.stderr, /unknown severity "urgent" in routes/);
  assert.is(ledgerCount(t), before);
  // Dry run: validated and previewed, nothing written.
  writeConfig(t, { routes: { medium: ['bead', 'log'] } });
  const d = t.ok('escalate', 'would be', '--dry-run', '--json');
  assert.is(d.dry_run, true);
  assert.equal(d.route, ['bead', 'log']);
  assert.is(ledgerCount(t), before);
  assert.not.ok(fs.existsSync(path.join(t.root, '.runtime', 'escalations.log')));
});

test('routes: log, mail:mayor, webhook 200 and 500 (no retry), refused (retried), email/slack/sms not configured', async () => {
  const t = makeTown();
  const srv = await hookServer();
  const dead = await closedPort();
  try {
    writeConfig(t, {
      routes: {
        low: ['bead', 'log'],
        medium: ['bead', 'mail:mayor'],
        high: [
          'bead',
          `webhook:${srv.url}/ok`,
          `webhook:${srv.url}/fail`,
          `webhook:http://127.0.0.1:${dead}/x`,
        ],
        critical: ['bead', 'email:human', 'slack', 'sms:human', 'teleport'],
      },
      http: { timeout: '3s', retries: 2, retry_delay: '20ms' },
    });
    // log
    const low = (await gtAsync(t, ['escalate', 'low thing', '-s', 'low', '--json'])).json();
    assert.equal(
      low.actions.map((a: any) => [a.action, a.ok]),
      [['log', true]],
    );
    const logLines = fs
      .readFileSync(path.join(t.root, '.runtime', 'escalations.log'), 'utf8')
      .trim()
      .split('\n');
    assert.is(logLines.length, 1);
    const logged = JSON.parse(logLines[0]);
    assert.is(logged.id, low.escalation.id);
    assert.is(logged.severity, 'low');
    assert.is(logged.event, 'created');
    assert.match(actionComment(low.escalation, 'log')!, /ok: appended to \.runtime\/escalations\.log/);

    // mail:mayor: a message for mayor/ that the mayor's prime counts.
    const mid = (await gtAsync(t, ['escalate', 'need a decision', '--json'])).json();
    assert.is(mid.actions[0].action, 'mail:mayor');
    assert.ok(mid.actions[0].ok, mid.actions[0].detail);
    const msgId = /\((hq-[a-z0-9]+)\)/.exec(mid.actions[0].detail)![1];
    const rawMsg = t.bd('show', msgId, '--json').json();
    const msg = Array.isArray(rawMsg) ? rawMsg[0] : rawMsg;
    assert.is(msg.issue_type, 'message');
    assert.is(msg.assignee, 'mayor/');
    assert.match(msg.title, /^ESCALATION \[MEDIUM\] need a decision/);
    assert.match(msg.description, new RegExp(`Escalation: ${mid.escalation.id}`));
    const mayorPrime = (await gtAsync(t, ['prime', '--json'], { ...t.env, GT_ROLE: 'mayor' })).json();
    assert.ok(mayorPrime.mail.recent.some((m: any) => m.id === msgId));

    // webhooks: 200 ok, 500 recorded once, refused connection retried (1 + 2) then recorded.
    const t0 = Date.now();
    const high = (
      await gtAsync(t, ['escalate', 'prod down', '-s', 'high', '--reason', 'pager', '--json'])
    ).json();
    assert.ok(Date.now() - t0 < 15000);
    const [ok, fail, refused] = high.actions;
    assert.is(ok.ok, true);
    assert.is(ok.status, 200);
    assert.is(fail.ok, false);
    assert.is(fail.status, 500);
    assert.is(fail.attempts, 1, 'an HTTP 500 is not retried');
    assert.is(refused.ok, false);
    assert.is(refused.attempts, 3, 'a refused connection is retried');
    assert.match(refused.detail, /network error: ECONNREFUSED/);
    assert.is(srv.hits.filter((h) => h.path === '/fail').length, 1);
    const payload = srv.hits.find((h) => h.path === '/ok')!.body;
    assert.is(payload.type, 'escalation');
    assert.is(payload.event, 'created');
    assert.is(payload.id, high.escalation.id);
    assert.is(payload.severity, 'high');
    assert.is(payload.title, 'prod down');
    assert.is(payload.reason, 'pager');
    const shown = t.ok('escalate', 'show', high.escalation.id, '--json');
    assert.match(actionComment(shown, `webhook:${srv.url}/ok`)!, /: ok: HTTP 200/);
    assert.match(actionComment(shown, `webhook:${srv.url}/fail`)!, /: FAILED: HTTP 500/);
    assert.match(
      actionComment(shown, `webhook:http://127.0.0.1:${dead}/x`)!,
      /FAILED: network error: ECONNREFUSED.*after 3 attempts/,
    );
    assert.is(shown.status, 'open', 'failing actions never lose the escalation');

    // Not configured / unknown: recorded errors, exit 0, the escalation stands.
    const crit = await gtAsync(t, ['escalate', 'everything is on fire', '-s', 'critical', '--json']);
    assert.is(crit.code, 0, crit.stderr);
    const c = crit.json();
    const by = Object.fromEntries(c.actions.map((a: any) => [a.action, a]));
    assert.match(by['email:human'].detail, /not configured: set contacts\.smtp_host/);
    assert.match(by.slack.detail, /not configured: set contacts\.slack_webhook/);
    assert.match(by['sms:human'].detail, /not configured: set contacts\.sms_webhook/);
    assert.match(by.teleport.detail, /unknown action "teleport"/);
    assert.match(crit.stderr, /warning: action email:human failed/);
    const cs = t.ok('escalate', 'show', c.escalation.id, '--json');
    assert.match(actionComment(cs, 'email:human')!, /FAILED: not configured/);

    // slack and sms go to the configured webhooks.
    writeConfig(t, {
      routes: { critical: ['bead', 'slack', 'sms:human'] },
      contacts: { slack_webhook: `${srv.url}/ok`, sms_webhook: `${srv.url}/ok`, human_sms: '+15550100' },
    });
    const n = srv.hits.length;
    const c2 = (await gtAsync(t, ['escalate', 'still on fire', '-s', 'critical', '--json'])).json();
    assert.ok(
      c2.actions.every((a: any) => a.ok),
      JSON.stringify(c2.actions),
    );
    const [slack, sms] = srv.hits.slice(n);
    assert.match(slack.body.text, /\[CRITICAL\] still on fire/);
    assert.is(sms.body.to, '+15550100');
    assert.is(sms.body.escalation.id, c2.escalation.id);
  } finally {
    await srv.close();
  }
});

/** A minimal SMTP server (no TLS, no auth) that records each message's envelope and data. */
async function smtpServer(): Promise<{
  port: number;
  mails: { from: string; to: string[]; data: string }[];
  close(): Promise<void>;
}> {
  const mails: { from: string; to: string[]; data: string }[] = [];
  const server = net.createServer((sock) => {
    let buf = '';
    let inData = false;
    let cur = { from: '', to: [] as string[], data: '' };
    sock.write('220 test ESMTP\r\n');
    sock.on('data', (d) => {
      buf += d.toString('utf8');
      for (;;) {
        if (inData) {
          const end = buf.indexOf('\r\n.\r\n');
          if (end < 0) return;
          cur.data = buf.slice(0, end);
          buf = buf.slice(end + 5);
          inData = false;
          mails.push(cur);
          cur = { from: '', to: [], data: '' };
          sock.write('250 queued\r\n');
          continue;
        }
        const nl = buf.indexOf('\r\n');
        if (nl < 0) return;
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO' || verb === 'HELO') sock.write('250 test\r\n');
        else if (verb === 'MAIL') {
          cur.from = line;
          sock.write('250 ok\r\n');
        } else if (verb === 'RCPT') {
          cur.to.push(line);
          sock.write('250 ok\r\n');
        } else if (verb === 'DATA') {
          inData = true;
          sock.write('354 go ahead\r\n');
        } else if (verb === 'QUIT') {
          sock.end('221 bye\r\n');
          return;
        } else sock.write('250 ok\r\n');
      }
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return { port, mails, close: () => new Promise<void>((r) => server.close(() => r())) };
}

test('email:human over SMTP when configured (nodemailer, loaded lazily); a dead SMTP host is recorded', async () => {
  const t = makeTown();
  const smtp = await smtpServer();
  try {
    writeConfig(t, {
      routes: { high: ['bead', 'email:human'] },
      contacts: {
        smtp_host: '127.0.0.1',
        smtp_port: String(smtp.port),
        smtp_from: 'town@example.com',
        human_email: 'overseer@example.com',
      },
      smtp_timeout: '5s',
    });
    const r = await gtAsync(t, [
      'escalate',
      'deploy stuck',
      '-s',
      'high',
      '--reason',
      'pipeline hung',
      '--json',
    ]);
    assert.is(r.code, 0, r.stderr);
    const a = r.json().actions[0];
    assert.is(a.action, 'email:human');
    assert.ok(a.ok, a.detail);
    assert.match(a.detail, /^emailed overseer@example\.com/);
    assert.is(smtp.mails.length, 1);
    const m = smtp.mails[0];
    assert.match(m.from, /town@example\.com/);
    assert.match(m.to[0], /overseer@example\.com/);
    assert.match(m.data, /Subject: Gas Town escalation \[HIGH\] deploy stuck/);
    assert.match(m.data, /Reason: pipeline hung/);
  } finally {
    await smtp.close();
  }
  // Nothing listens any more: a recorded failure, the escalation stands.
  const r = await gtAsync(t, ['escalate', 'second', '-s', 'high', '--json']);
  assert.is(r.code, 0, r.stderr);
  const j = r.json();
  assert.is(j.actions[0].ok, false);
  assert.match(j.actions[0].detail, /ECONNREFUSED|connect/i);
  assert.match(actionComment(t.ok('escalate', 'show', j.escalation.id, '--json'), 'email:human')!, /FAILED/);
});

test('stale: fake clock; bumps severity, re-runs the route, counts, stops at the max; ack stops it', async () => {
  const t = makeTown();
  const srv = await hookServer();
  try {
    writeConfig(t, {
      routes: {
        low: ['bead'],
        medium: ['bead', `webhook:${srv.url}/ok`],
        high: ['bead', 'log'],
        critical: ['bead', 'log'],
      },
      stale_threshold: '4h',
      max_reescalations: 2,
    });
    const t0 = Date.parse('2030-01-01T00:00:00Z');
    const at = (h: number) => ({ ...t.env, GT_FAKE_NOW: new Date(t0 + h * 3600e3).toISOString() });
    const e = (await gtAsync(t, ['escalate', 'slow disk', '-s', 'low', '--json'], at(0))).json().escalation;
    const acked = (await gtAsync(t, ['escalate', 'known issue', '-s', 'low', '--json'], at(0))).json()
      .escalation;
    t.ok('escalate', 'ack', acked.id);

    // Not stale yet at 3h.
    let r = (await gtAsync(t, ['escalate', 'stale', '--json'], at(3))).json();
    assert.equal(r.entries, []);
    // 5h: dry run changes nothing.
    const before = ledgerCount(t);
    r = (await gtAsync(t, ['escalate', 'stale', '--dry-run', '--json'], at(5))).json();
    assert.equal(
      r.entries.map((x: any) => [x.id, x.from, x.to, x.outcome]),
      [[e.id, 'low', 'medium', 'would_reescalate']],
    );
    assert.is(ledgerCount(t), before);
    // 5h: low → medium, the medium route runs (webhook).
    r = (await gtAsync(t, ['escalate', 'stale', '--json'], at(5))).json();
    assert.equal(
      r.entries.map((x: any) => [x.id, x.from, x.to, x.outcome, x.reescalation_count]),
      [[e.id, 'low', 'medium', 'reescalated', 1]],
    );
    assert.is(srv.hits.length, 1);
    assert.is(srv.hits[0].body.event, 'reescalated');
    assert.is(srv.hits[0].body.severity, 'medium');
    assert.is(srv.hits[0].body.original_severity, 'low');
    let s = t.ok('escalate', 'show', e.id, '--json');
    assert.is(s.severity, 'medium');
    assert.is(s.priority, 2);
    assert.is(s.original_severity, 'low');
    assert.is(s.reescalated, true);
    assert.is(s.reescalation_count, 1);
    // Measured from the last escalation: at 8h (3h after the bump) nothing happens.
    r = (await gtAsync(t, ['escalate', 'stale', '--json'], at(8))).json();
    assert.equal(r.entries, []);
    // 10h: medium → high (log route).
    r = (await gtAsync(t, ['escalate', 'stale', '--json'], at(10))).json();
    assert.equal(
      r.entries.map((x: any) => [x.from, x.to, x.reescalation_count]),
      [['medium', 'high', 2]],
    );
    assert.ok(
      fs.readFileSync(path.join(t.root, '.runtime', 'escalations.log'), 'utf8').includes('"severity":"high"'),
    );
    // 20h: max (2) reached, left alone.
    const n = ledgerCount(t);
    r = (await gtAsync(t, ['escalate', 'stale', '--json'], at(20))).json();
    assert.equal(
      r.entries.map((x: any) => [x.id, x.outcome]),
      [[e.id, 'max_reached']],
    );
    assert.is(ledgerCount(t), n);
    s = t.ok('escalate', 'show', e.id, '--json');
    assert.is(s.severity, 'high');
    assert.is(s.priority, 1);
    assert.is(s.reescalation_count, 2);
    assert.match(
      s.comments.map((c: any) => c.text).join('\n'),
      /re-escalated low → medium \(1\/2\)[\s\S]*re-escalated medium → high \(2\/2\)/,
    );
    // The acknowledged one was never touched.
    assert.is(t.ok('escalate', 'show', acked.id, '--json').severity, 'low');
    // A bad fake clock is named.
    const bad = await gtAsync(t, ['escalate', 'stale'], { ...t.env, GT_FAKE_NOW: 'yesterday' });
    assert.is(bad.code, 2);
    assert.match(bad.stderr, /GT_FAKE_NOW="yesterday" is not a date/);
  } finally {
    await srv.close();
  }
});

test("the mayor's prime shows pending escalations grouped by severity; others do not", () => {
  const t = makeTown();
  writeConfig(t, { routes: { low: ['bead'], medium: ['bead'], high: ['bead'], critical: ['bead'] } });
  const a = t.ok('escalate', 'witness is dead', '-s', 'critical', '--json').escalation.id;
  const b = t.ok('escalate', 'merge conflicts piling up', '-s', 'high', '--json').escalation.id;
  const c = t.ok('escalate', 'minor', '-s', 'low', '--json').escalation.id;
  const d = t.ok('escalate', 'acked one', '-s', 'high', '--json').escalation.id;
  t.ok('escalate', 'ack', d);
  t.ok('escalate', 'close', c);
  const mayor = { ...t.env, GT_ROLE: 'mayor' };
  const j = JSON.parse(gtAs(t, mayor, ['prime', '--json'])).escalations;
  assert.equal(
    j.map((g: any) => [g.severity, g.escalations.map((e: any) => e.id)]),
    [
      ['critical', [a]],
      ['high', [b]],
    ],
  );
  const text = gtAs(t, mayor, ['prime']);
  assert.match(
    text,
    /## Pending escalations\n\n2 pending \(unacknowledged\) escalations:\n {2}CRITICAL \(1\):\n {4}\S+ witness is dead[\s\S]* {2}HIGH \(1\):\n {4}\S+ merge conflicts piling up/,
  );
  assert.not.match(text, /acked one|minor/);
  const deacon = gtAs(t, { ...t.env, GT_ROLE: 'deacon' }, ['prime']);
  assert.not.match(deacon, /Pending escalations/);
  assert.is(JSON.parse(gtAs(t, { ...t.env, GT_ROLE: 'deacon' }, ['prime', '--json'])).escalations, null);
});

/** gt under another environment (GT_ROLE), required to succeed; its stdout. */
function gtAs(t: Town, env: NodeJS.ProcessEnv, args: string[]): string {
  const r = spawnSync(process.execPath, [GT, ...args], { cwd: t.root, env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`gt ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

test.run();
