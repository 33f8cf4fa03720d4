// Entry point of `bd`, the beads issue tracker. `--version` answers before anything else is
// loaded; everything else is imported on demand (start-up is a feature).
const argv = process.argv.slice(2);
if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V' || argv[0] === 'version')) {
  const { VERSION } = await import('./version.ts');
  process.stdout.write(`bd version ${VERSION}\n`);
} else {
  const [{ runProgram }, { bdProgram }] = await Promise.all([
    import('./framework.ts'),
    import('./bd/program.ts'),
  ]);
  process.exitCode = await runProgram(bdProgram, argv);
}
