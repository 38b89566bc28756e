/** A local write failed (disk full, permissions): the whole run must stop, not just this host. */
export class LocalWriteError extends Error {
  constructor(
    readonly path: string,
    readonly errno: NodeJS.ErrnoException,
  ) {
    super(errno.code === 'ENOSPC' ? `disk full writing ${path}` : `cannot write ${path}: ${errno.code ?? errno.message}`);
    this.name = 'LocalWriteError';
  }
}
