// Allocates N polecat names in its own process (the name pool's cross-process test) and prints
// them as JSON. Usage: node --import tsx alloc-worker.ts TOWN RIG N START_AT_MS
// All workers start allocating at START_AT_MS so they really contend.
import { allocatePolecatName } from '../../src/town/namepool.ts';

const [town, rig, n, startAt] = process.argv.slice(2);
const wait = Number(startAt) - Date.now();
if (wait > 0) await new Promise((r) => setTimeout(r, wait));
const names: string[] = [];
for (let i = 0; i < Number(n); i++) names.push(allocatePolecatName(town, rig));
process.stdout.write(`${JSON.stringify(names)}\n`);
