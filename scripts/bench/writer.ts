// A concurrent writer for the concurrency benchmark: opens the store, says "ready" on stdout,
// waits for the go file, then makes K creates, each its own ledger transaction (one commit),
// and prints one JSON line with the ids it created and its timings.
// Usage: node --import tsx scripts/bench/writer.ts REPO K GOFILE TAG
import fs from 'node:fs';
import { createBead } from '../../src/beads/ops.ts';
import { BeadStore } from '../../src/beads/store.ts';
import { loadCodec } from '../../src/ledger/codec.ts';
import { sleepSync } from '../../src/ledger/lock.ts';

const [dir, kArg, goFile, tag] = process.argv.slice(2);
const k = Number(kArg);
await loadCodec();
const store = BeadStore.open(dir, { actor: `bench-${tag}` });
store.ledger.snapshot();
process.stdout.write('ready\n');
while (!fs.existsSync(goFile)) sleepSync(2);

const ids: string[] = [];
const errors: string[] = [];
const start = Date.now();
for (let i = 0; i < k; i++) {
  try {
    const b = store.transact(`create: ${tag} #${i}`, (tx) =>
      createBead(tx, { title: `${tag} #${i}`, description: `concurrent write ${i} of ${tag}`, type: 'task' }),
    );
    ids.push(b.id);
  } catch (e: any) {
    errors.push(String(e.message).split('\n')[0]);
  }
}
const end = Date.now();
store.flush();
process.stdout.write(
  `${JSON.stringify({ tag, ids, errors, start, end, maxRssKb: process.resourceUsage().maxRSS })}\n`,
);
