// The `bd` command table.
import type { Program } from '../framework.ts';
import { VERSION } from '../version.ts';
import { formulaCommands } from './formulas.ts';
import { issueCommands } from './issues.ts';
import { maintenanceCommands } from './maintenance.ts';
import { queryCommands } from './queries.ts';
import { relationCommands } from './relations.ts';
import { transferCommands } from './transfer.ts';

export const bdProgram: Program = {
  name: 'bd',
  version: VERSION,
  summary: 'beads, a git-native issue tracker (state lives in refs/beads/ledger or refs/gt/ledger)',
  commands: [
    ...issueCommands,
    ...relationCommands,
    ...queryCommands,
    ...transferCommands,
    ...maintenanceCommands,
    ...formulaCommands,
  ],
};
