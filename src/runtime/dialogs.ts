// Start-up dialogs of agent CLIs that stop an unattended session before its prompt (spec §5.4,
// "startup stall: blindly dismiss known dialogs"): the workspace-trust question and Claude's
// bypass-permissions warning. Gas Town starts agents in worktrees it made, for work it was asked
// to do, so it answers them the way the user would: trust the folder, accept the mode it chose.
// Pure: a screen in, the keys to send out (tmux key names from a fixed list, never data).

export interface StartupDialog {
  name: string;
  /** tmux key names, sent in order. */
  keys: string[];
}

interface DialogRule extends StartupDialog {
  /** Every one of these must be on the screen. */
  all: RegExp[];
}

const RULES: DialogRule[] = [
  {
    // "Yes, I accept" is the second choice; the cursor starts on "No, exit".
    name: 'bypass-permissions warning',
    all: [/Bypass Permissions mode/i, /Yes, I accept/i],
    keys: ['Down', 'Enter'],
  },
  {
    // Claude Code, Codex and Gemini ask whether to trust a new folder; "yes" is the default.
    name: 'workspace trust',
    all: [
      /(Do you trust the files in this folder|trust this folder|Do you trust the contents of this directory)/i,
    ],
    keys: ['Enter'],
  },
];

/** Keys this module may send: a fixed list, checked again by the tmux adapter. */
export const DIALOG_KEYS = new Set(['Enter', 'Down', 'Up', 'Escape']);

/** The first known dialog on `screen`, or null. */
export function detectStartupDialog(screen: string): StartupDialog | null {
  for (const r of RULES) if (r.all.every((re) => re.test(screen))) return { name: r.name, keys: r.keys };
  return null;
}
