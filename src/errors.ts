// Error kinds shared by every layer; the CLI maps each to its documented exit code.

/** Exit codes (README "Exit codes"). */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  notFound: 3,
  conflict: 4,
  lockHeld: 5,
  remote: 6,
} as const;

export class GtError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failure,
  ) {
    super(message);
  }
}

/** Bad flags, arguments or commands. */
export class UsageError extends GtError {
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

export class NotFoundError extends GtError {
  constructor(message: string) {
    super(message, EXIT.notFound);
  }
}

/** A lost race or a state that forbids the change (already claimed, would create a cycle, ...). */
export class ConflictError extends GtError {
  constructor(message: string) {
    super(message, EXIT.conflict);
  }
}
