/**
 * Failures are values with a reason and an exit code. Every program maps a ToolkitError to its exit
 * code (and the manager's server to an HTTP status) in one place; anything else is a bug.
 */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  unreachable: 3,
  timedOut: 4,
  /** A bug: an unexpected exception, not a refusal (src/failure.ts; sysexits' EX_SOFTWARE). */
  internal: 70,
  interrupted: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export type ErrorKind =
  | 'usage' // the user typed something malformed: exit 2, HTTP 400
  | 'not_found' // unknown service, datasource, task, host: exit 1, HTTP 404
  | 'conflict' // illegal transition, another operation running: exit 1, HTTP 409
  | 'refused' // the operation ran and was refused or failed: exit 1
  | 'unauthorized' // wrong credentials: exit 3, HTTP 401
  | 'unreachable' // the peer did not answer: exit 3
  | 'timeout' // outcome unknown: exit 4
  | 'interrupted' // Ctrl-C: exit 130
  | 'internal'; // a bug (an unexpected exception): exit 70, HTTP 500 (src/failure.ts)

const exitByKind: Record<ErrorKind, ExitCodeValue> = {
  usage: ExitCode.usage,
  not_found: ExitCode.failed,
  conflict: ExitCode.failed,
  refused: ExitCode.failed,
  unauthorized: ExitCode.unreachable,
  unreachable: ExitCode.unreachable,
  timeout: ExitCode.timedOut,
  interrupted: ExitCode.interrupted,
  internal: ExitCode.internal,
};

const httpByKind: Record<ErrorKind, number> = {
  usage: 400,
  not_found: 404,
  conflict: 409,
  refused: 409,
  unauthorized: 401,
  unreachable: 503,
  timeout: 504,
  interrupted: 499,
  internal: 500,
};

export class ToolkitError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    /** What the user can do about it, printed after the message. */
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'ToolkitError';
  }

  get exitCode(): ExitCodeValue {
    return exitByKind[this.kind];
  }

  get httpStatus(): number {
    return httpByKind[this.kind];
  }
}

/** A peer's bug is not ours: an HTTP 500 is a failure of the call (refused), never `internal`. */
export function errorKindForHttpStatus(status: number): ErrorKind {
  const found = (Object.keys(httpByKind) as ErrorKind[]).find((k) => k !== 'internal' && httpByKind[k] === status);
  return found ?? 'refused';
}

export function isToolkitError(e: unknown): e is ToolkitError {
  return e instanceof ToolkitError;
}
