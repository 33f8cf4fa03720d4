// The package version: inlined by the bundler; read from package.json when run from source.
import fs from 'node:fs';

declare const __GT_VERSION__: string | undefined;

function fromPackageJson(): string {
  const url = new URL('../../package.json', import.meta.url);
  return JSON.parse(fs.readFileSync(url, 'utf8')).version;
}

export const VERSION: string = typeof __GT_VERSION__ === 'string' ? __GT_VERSION__ : fromPackageJson();
