// `gt install DIR`: the town layout of spec §2.1 without Dolt. The town is a git repository;
// its configuration files are committed on its main branch and its ledger is refs/gt/ledger.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { CONFIG_PATH } from '../beads/record.ts';
import { BeadStore, locate } from '../beads/store.ts';
import { GtError } from '../errors.ts';
import { findRepo } from '../git/repo.ts';
import { ensureAgentBead } from './agents.ts';
import { commitTownFiles, readJson, type TownJson, writeJson } from './files.ts';
import { townPaths } from './paths.ts';

export const TOWN_GITIGNORE = `# Gas Town: the operational plane and the rigs' working copies are never committed here.
.runtime/
daemon/
*.pid
*.lock
.events.jsonl
.feed.jsonl
/*/.repo.git/
/*/mayor/rig/
/*/refinery/rig/
/*/polecats/
/*/crew/
/*/.runtime/
# Agent settings generated for each role (gt writes them at session start).
.claude/
`;

const IDENTITY_ANCHOR = `# Gas Town

This directory is a Gas Town: a workspace where AI coding agents work on many projects at once.
Your real context comes from \`gt prime\`: run it first. If there is work on your hook, run it.
`;

const ESCALATION_DEFAULTS = {
  type: 'escalation',
  version: 1,
  routes: {
    low: ['bead'],
    medium: ['bead', 'mail:mayor'],
    high: ['bead', 'mail:mayor', 'email:human'],
    critical: ['bead', 'mail:mayor', 'email:human', 'sms:human'],
  },
  contacts: { human_email: '', human_sms: '', slack_webhook: '', sms_webhook: '' },
  stale_threshold: '4h',
  max_reescalations: 2,
};

const DAEMON_DEFAULTS = {
  type: 'daemon',
  version: 1,
  heartbeat: { enabled: true, interval: '3m' },
  patrols: {
    deacon: { enabled: true, interval: '5m' },
    witness: { enabled: true, interval: '5m' },
    refinery: { enabled: true, interval: '5m' },
    wisp_reaper: { enabled: true, interval: '30m' },
  },
};

export interface InstallOptions {
  name?: string;
  owner?: string;
  force?: boolean;
  actor?: string;
}

export interface InstallResult {
  root: string;
  name: string;
  created: boolean;
  ledger_ref: string;
  prefix: string;
  committed: boolean;
}

function gitValue(cwd: string, key: string): string {
  const r = spawnSync('git', ['config', '--get', key], { cwd, encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '';
}

function writeIfMissing(file: string, content: string | object): string | null {
  if (fs.existsSync(file)) return null;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  if (typeof content === 'string') fs.writeFileSync(file, content);
  else writeJson(file, content);
  return file;
}

export async function install(dir: string, opts: InstallOptions = {}): Promise<InstallResult> {
  const root = path.resolve(dir);
  const t = townPaths(root);
  const isTown = fs.existsSync(t.townJson);
  if (fs.existsSync(root) && !fs.statSync(root).isDirectory())
    throw new GtError(`${root} exists and is not a directory`);
  if (
    !isTown &&
    fs.existsSync(root) &&
    fs.readdirSync(root).filter((f) => f !== '.git').length > 0 &&
    !opts.force
  ) {
    throw new GtError(
      `${root} is not empty and is not a town; install into an empty directory, or use --force to add a town to it`,
    );
  }
  if (isTown) {
    const existing = readJson<TownJson>(t.townJson, 'mayor/town.json');
    if (opts.name && existing.name !== opts.name) {
      throw new GtError(`${root} is already the town "${existing.name}"; a town keeps its name`);
    }
  }
  fs.mkdirSync(root, { recursive: true });
  const repo = findRepo(root);
  if (!repo || path.resolve(repo.workTree) !== root) {
    const init = spawnSync('git', ['init', '-q', '-b', 'main'], { cwd: root, encoding: 'utf8' });
    if (init.status !== 0) throw new GtError(`git init failed in ${root}: ${init.stderr.trim()}`);
  }
  const name =
    opts.name ?? (isTown ? readJson<TownJson>(t.townJson, 'mayor/town.json').name : path.basename(root));
  const owner =
    opts.owner ??
    (gitValue(root, 'user.email') || process.env.GIT_AUTHOR_EMAIL || process.env.USER || 'overseer');
  const written = [
    writeIfMissing(t.townJson, {
      type: 'town',
      version: 2,
      name,
      owner,
      created_at: new Date().toISOString(),
    }),
    writeIfMissing(t.rigsJson, { version: 1, rigs: {} }),
    writeIfMissing(t.daemonJson, DAEMON_DEFAULTS),
    writeIfMissing(t.overseerJson, {
      name: gitValue(root, 'user.name') || process.env.GIT_AUTHOR_NAME || process.env.USER || 'overseer',
      email: owner,
    }),
    writeIfMissing(t.settingsJson, { type: 'town-settings', version: 1 }),
    writeIfMissing(t.escalationJson, ESCALATION_DEFAULTS),
    writeIfMissing(t.messagingJson, {
      type: 'messaging',
      version: 1,
      lists: {},
      queues: {},
      announces: {},
      nudge_channels: {},
    }),
    writeIfMissing(t.gitignore, TOWN_GITIGNORE),
    writeIfMissing(path.join(root, 'CLAUDE.md'), IDENTITY_ANCHOR),
    writeIfMissing(path.join(root, 'AGENTS.md'), IDENTITY_ANCHOR),
    writeIfMissing(
      path.join(t.formulasDir, 'README.md'),
      'Town formulas: they win over the built-in ones of the same name.\n',
    ),
    writeIfMissing(
      path.join(t.directivesDir, 'README.md'),
      "Directives: `<role>.md` files added to that role's `gt prime`.\n",
    ),
    writeIfMissing(path.join(t.pluginsDir, 'README.md'), 'Town plugins run by the deacon.\n'),
    writeIfMissing(
      path.join(t.mayorDir, 'README.md'),
      "The mayor's home: the town's coordinator works here.\n",
    ),
    writeIfMissing(path.join(t.deaconDir, 'README.md'), "The deacon's home: town-wide patrols run here.\n"),
    writeIfMissing(path.join(t.bootDir, 'README.md'), "Boot's home: the deacon's watchdog.\n"),
  ].filter((f): f is string => !!f);
  fs.mkdirSync(t.runtimeDir, { recursive: true });

  // The ledger and the town agents, in one commit on refs/gt/ledger.
  const store = new BeadStore(locate(root), { actor: opts.actor ?? 'gt-install' });
  try {
    store.transact(`install: town ${name}`, (tx) => {
      if (!tx.ltx.has(CONFIG_PATH))
        tx.ltx.put(CONFIG_PATH, { issue_prefix: 'hq', allowed_prefixes: 'hq,hq-cv' });
      ensureAgentBead(tx, { role: 'mayor' });
      ensureAgentBead(tx, { role: 'deacon' });
    });
  } finally {
    store.flush();
  }
  const committed = written.length
    ? commitTownFiles(
        root,
        written.map((f) => path.relative(root, f)),
        isTown ? `gt install: restore ${written.length} town files` : `gt install: town ${name}`,
        opts.actor,
      )
    : false;
  return { root, name, created: !isTown, ledger_ref: store.loc.ref, prefix: 'hq', committed };
}
