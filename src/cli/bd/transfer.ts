// bd export and bd import: the original's JSONL format (spec §4), plus the legacy
// `.beads/backup/` directory layout on import.
//
// Output: `bd export` without -o writes the JSONL itself to stdout and nothing else, with or
// without --json (JSONL is already one JSON document per line). With -o FILE the file is
// written atomically and the command prints a summary: `{exported, memories, path}` under
// --json. `bd import` prints the ImportResult under --json, a short summary otherwise.
import fs from 'node:fs';
import path from 'node:path';
import { exportRecords, type ImportResult, importBackupDir, importIssues } from '../../beads/jsonl.ts';
import { writeFileAtomic } from '../../beads/wisps.ts';
import { NotFoundError, UsageError } from '../../errors.ts';
import type { CommandDef } from '../framework.ts';
import { withStore } from './common.ts';

const exportCmd: CommandDef = {
  name: 'export',
  summary: 'Export beads as JSONL (the original `bd export` format), to stdout or a file',
  usage: 'bd export [-o FILE] [--all] [--include-infra] [--include-memories] [--scrub]',
  options: {
    output: { type: 'string', short: 'o', desc: 'write to FILE (atomically) instead of stdout', arg: 'FILE' },
    all: { type: 'boolean', desc: 'everything: infra types, templates, wisps and memories' },
    'include-infra': { type: 'boolean', desc: 'include infra types (agent, rig, role, message)' },
    'include-memories': { type: 'boolean', desc: 'append memories as {"_type":"memory"} lines' },
    scrub: { type: 'boolean', desc: 'leave out test-looking titles (test-..., tmp_..., debug ...)' },
  },
  run(ctx, { values }) {
    return withStore(ctx, (store) => {
      const r = exportRecords(store, {
        all: values.all,
        includeInfra: values['include-infra'],
        includeMemories: values['include-memories'],
        scrub: values.scrub,
      });
      const text = r.lines.length ? `${r.lines.join('\n')}\n` : '';
      if (values.output === undefined) return { data: null, raw: text };
      if (!values.output) throw new UsageError('-o needs a file name, e.g. bd export -o issues.jsonl');
      const file = path.resolve(ctx.cwd, values.output);
      writeFileAtomic(file, text);
      const mem = r.memories ? ` and ${r.memories} memories` : '';
      return {
        data: { exported: r.issues, memories: r.memories, path: file },
        text: `Exported ${r.issues} issues${mem} to ${file}`,
      };
    });
  },
};

function summary(r: ImportResult): string {
  const lines: string[] = [];
  const verb = r.dry_run ? 'Would import' : 'Imported';
  const mem = r.memories ? `, ${r.memories} memories` : '';
  lines.push(`${verb} ${r.created} new, ${r.updated} updated${mem} from ${r.source}`);
  if (r.stale_skipped_ids.length) {
    const ids = r.stale_skipped_ids;
    lines.push(
      `Skipped ${ids.length} stale (older than here): ${ids.slice(0, 10).join(', ')}${ids.length > 10 ? ', ...' : ''}`,
    );
  }
  const tombstones = r.skipped - r.stale_skipped_ids.length;
  if (tombstones > 0) lines.push(`Skipped ${tombstones} tombstone(s)`);
  if (r.dedup_skipped) lines.push(`Skipped ${r.dedup_skipped} duplicate title(s) (--dedup)`);
  for (const d of r.skipped_dependencies) {
    lines.push(`Skipped dependency ${d.issue_id} → ${d.depends_on_id} (${d.type}): ${d.reason}`);
  }
  for (const b of r.bad_lines)
    lines.push(`Skipped bad ${b.file ? `${b.file} ` : ''}line ${b.line}: ${b.error}`);
  for (const w of r.warnings) lines.push(`Note: ${w}`);
  if (r.dry_run) lines.push('Dry run: nothing was written.');
  return lines.join('\n');
}

/** Without an argument: the original's `.beads/issues.jsonl`, else a `.beads/backup/` directory. */
function defaultSource(root: string): string {
  for (const p of [path.join(root, '.beads', 'issues.jsonl'), path.join(root, '.beads', 'backup')]) {
    if (fs.existsSync(p)) return p;
  }
  throw new UsageError(
    'bd import needs a source: a JSONL file, - for stdin, or a .beads/backup directory (none found in .beads/)',
  );
}

const importCmd: CommandDef = {
  name: 'import',
  summary: 'Import JSONL (upsert by id) or a legacy .beads/backup directory, as one commit',
  usage: 'bd import [FILE|-|DIR] [--dry-run] [--dedup] [--skip-bad]',
  options: {
    'dry-run': { type: 'boolean', desc: 'report what would happen; write nothing' },
    dedup: { type: 'boolean', desc: 'skip lines whose title matches an existing issue that is not closed' },
    'skip-bad': { type: 'boolean', desc: 'skip (and report) lines that are not valid JSON' },
  },
  args: [0, 1],
  run(ctx, { values, positionals }) {
    return withStore(ctx, (store) => {
      const opts = { dryRun: values['dry-run'], dedup: values.dedup, skipBad: values['skip-bad'] };
      const arg = positionals[0] ?? defaultSource(store.loc.root);
      let result: ImportResult;
      if (arg === '-') {
        result = importIssues(store, fs.readFileSync(0, 'utf8'), { ...opts, source: 'stdin' });
      } else {
        const file = path.resolve(ctx.cwd, arg);
        let stat: fs.Stats;
        try {
          stat = fs.statSync(file);
        } catch {
          throw new NotFoundError(`cannot read ${arg}: no such file or directory`);
        }
        if (stat.isDirectory()) {
          const nested = path.join(file, 'backup');
          const dir =
            !fs.existsSync(path.join(file, 'issues.jsonl')) &&
            fs.existsSync(path.join(nested, 'issues.jsonl'))
              ? nested
              : file;
          result = importBackupDir(store, dir, {
            ...opts,
            source: dir === file ? arg : path.join(arg, 'backup'),
          });
        } else {
          result = importIssues(store, fs.readFileSync(file, 'utf8'), { ...opts, source: arg });
        }
      }
      return { data: result, text: summary(result) };
    });
  },
};

export const transferCommands: CommandDef[] = [exportCmd, importCmd];
