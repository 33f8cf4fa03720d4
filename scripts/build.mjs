// Bundle the two commands with esbuild so start-up stays near Node's own.
import fs from 'node:fs';
import { build } from 'esbuild';

const pkg = JSON.parse(fs.readFileSync(new URL('../package.json', import.meta.url), 'utf8'));

await build({
  entryPoints: { bd: 'src/cli/bd.ts', gt: 'src/cli/gt.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  minify: true,
  sourcemap: 'linked',
  define: { __GT_VERSION__: JSON.stringify(pkg.version) },
  // Some dependencies ship CommonJS that calls require(); give the ESM bundle one.
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __gtCreateRequire } from 'node:module';\nconst require = __gtCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
for (const f of ['dist/bd.mjs', 'dist/gt.mjs']) fs.chmodSync(f, 0o755);
