// One contender in the claim race: claims an MR and prints {ok} or {error} as JSON.
import { BeadStore } from '../../src/beads/store.ts';
import { loadCodec } from '../../src/ledger/codec.ts';
import { claimMR } from '../../src/refinery/queue.ts';

const [town, mr, claimer, startAt] = process.argv.slice(2);
await loadCodec();
const store = BeadStore.open(town, { actor: claimer });
// Start together: both processes wait for the same wall-clock moment.
while (Date.now() < Number(startAt)) await new Promise((r) => setTimeout(r, 1));
try {
  claimMR(store, mr, claimer, { staleMs: 60_000 });
  console.log(JSON.stringify({ ok: true, claimer }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, claimer, error: (e as Error).message }));
}
