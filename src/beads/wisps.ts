// Ephemeral beads (wisps) live in the operational plane: one JSON file each under the
// runtime directory, written atomically, never committed and never exported.
import fs from 'node:fs';
import path from 'node:path';
import type { Bead } from './types.ts';
import { wispStamp } from './views.ts';

let tmpCounter = 0;

export function writeFileAtomic(file: string, content: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp.${process.pid}.${++tmpCounter}`;
  fs.writeFileSync(tmp, content);
  fs.renameSync(tmp, file);
}

export class WispStore {
  private cache: Map<string, Bead> | null = null;
  /** The directory's mtime read just before it was listed: what the cached list reflects. */
  stamp = 0;
  constructor(readonly dir: string) {}

  /** Forget the cached list (after writing, so a later read re-lists with a fresh stamp). */
  invalidate(): void {
    this.cache = null;
  }

  private file(id: string): string {
    return path.join(this.dir, `${id}.json`);
  }

  all(): Map<string, Bead> {
    if (this.cache) return this.cache;
    const out = new Map<string, Bead>();
    this.stamp = wispStamp(this.dir);
    let names: string[] = [];
    try {
      names = fs.readdirSync(this.dir);
    } catch {
      // no wisps yet
    }
    for (const n of names) {
      if (!n.endsWith('.json')) continue;
      try {
        const b = JSON.parse(fs.readFileSync(path.join(this.dir, n), 'utf8')) as Bead;
        if (b?.id) out.set(b.id, b);
      } catch {
        // a torn or foreign file: `bd doctor` reports it
      }
    }
    this.cache = out;
    return out;
  }

  get(id: string): Bead | undefined {
    return this.all().get(id);
  }

  put(b: Bead): void {
    writeFileAtomic(this.file(b.id), `${JSON.stringify(b, null, 2)}\n`);
    this.all().set(b.id, b);
  }

  delete(id: string): void {
    fs.rmSync(this.file(id), { force: true });
    this.all().delete(id);
  }
}
