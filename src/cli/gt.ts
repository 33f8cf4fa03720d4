// Entry point of `gt`, the Gas Town orchestrator. `--version` answers before anything else
// is loaded; everything else is imported on demand (start-up is a feature).
const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V' || argv[0] === 'version')) {
  const { VERSION } = await import('./version.ts');
  process.stdout.write(`gt version ${VERSION}\n`);
} else {
  const [{ runProgram }, { gtProgram }] = await Promise.all([
    import('./framework.ts'),
    import('./gt/program.ts'),
  ]);
  process.exitCode = await runProgram(gtProgram, argv);
}
