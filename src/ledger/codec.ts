// The YAML codec for records. `yaml` costs ~9 ms to load even bundled, so it is loaded on
// demand: commands that only read summaries from a fresh index never pay for it.
type YamlModule = typeof import('yaml');

let yaml: YamlModule | null = null;

export async function loadCodec(): Promise<void> {
  if (yaml) return;
  const m: any = await import('yaml');
  // yaml's Node entry is CommonJS: depending on the loader its API sits on the namespace or on `default`.
  yaml = typeof m.parse === 'function' ? m : m.default;
}

export function codecLoaded(): boolean {
  return yaml !== null;
}

function need(): YamlModule {
  if (!yaml) throw new Error('internal: the record codec is not loaded (await loadCodec() first)');
  return yaml;
}

export function parseRecord(text: string): any {
  return need().parse(text);
}

export function formatRecord(data: any): string {
  return need().stringify(data, { lineWidth: 0, blockQuote: 'literal' });
}
