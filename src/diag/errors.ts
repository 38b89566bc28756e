/** A local write failed (disk full, permissions): the whole run must stop, not just this host. */
export class LocalWriteError extends Error {
  constructor(
    readonly path: string,
    readonly errno: NodeJS.ErrnoException,
  ) {
    super(
      errno.code === 'ENOSPC' ? `disk full writing ${path}`
      : errno.code === 'EEXIST' || errno.code === 'ELOOP' ? `cannot write ${path}: a file or a link is already there (tpm never writes over one, nor through a link)`
      : `cannot write ${path}: ${errno.code ?? errno.message}`,
    );
    this.name = 'LocalWriteError';
  }
}

/** The host answered but a command tpm needs failed (a broken shell, a refused command). */
export class HostCommandError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HostCommandError';
  }
}

/** A host sent more than a cap allows (a file over its size cap, a host over its total). */
export class HostLimitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HostLimitError';
  }
}

/** A command printed more than tpm keeps of it: the command is stopped. */
export class OutputLimitError extends Error {
  constructor(
    readonly label: string,
    readonly limit: number,
  ) {
    super(`${label} printed over ${limit >> 20} MiB`);
    this.name = 'OutputLimitError';
  }
}
