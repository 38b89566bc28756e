import { spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import type { Client, ClientChannel } from 'ssh2';

export interface ExecResult {
  code: number | null;
  signal?: string;
  /** The last few KiB of stderr, for error reports. */
  stderr: string;
}

export class CommandTimeoutError extends Error {
  constructor(
    readonly command: string,
    readonly idleMs: number,
  ) {
    super(`command gave no output and did not finish within ${idleMs / 1000} s`);
    this.name = 'CommandTimeoutError';
  }
}

export class ConnectionLostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConnectionLostError';
  }
}

export interface ExecOptions {
  /** Give up when neither stdout nor stderr moves for this long. */
  idleTimeoutMs: number;
  /** How errors name the command (a multi-line script is not readable); default: the command. */
  label?: string;
}

/** Where collectors run commands: this host (`tpm diag`) or one reached over SSH (`-a`). */
export interface HostTransport {
  exec(command: string, stdout: Writable, options: ExecOptions): Promise<ExecResult>;
  close(): void;
}

const STDERR_KEEP = 4096;

/**
 * Pumps a command's stdout into `sink` (honouring its backpressure), drains stderr keeping only a
 * tail, and enforces the idle limit. `kill` stops the command.
 */
function pump(command: string, out: Readable, err: Readable, sink: Writable, options: ExecOptions, kill: () => void, exited: Promise<{ code: number | null; signal?: string }>): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    let done = false;
    // Re-armed on every chunk: refresh() reuses the one timer instead of making one per chunk.
    const timer = setTimeout(() => finish(new CommandTimeoutError(options.label ?? command, options.idleTimeoutMs)), options.idleTimeoutMs);
    const arm = () => void timer.refresh();
    const finish = (e?: Error, result?: ExecResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (e) {
        kill();
        out.unpipe(sink);
        reject(e);
      } else resolve(result!);
    };
    arm();
    err.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString('utf8')).slice(-STDERR_KEEP);
      arm();
    });
    out.on('data', arm);
    out.pipe(sink, { end: false });
    sink.on('error', (e) => finish(e));
    let outEnded = false;
    let errEnded = false;
    let exit: { code: number | null; signal?: string } | undefined;
    const maybeDone = () => {
      if (outEnded && errEnded && exit) finish(undefined, { ...exit, stderr });
    };
    err.once('end', () => {
      errEnded = true;
      maybeDone();
    });
    out.once('end', () => {
      outEnded = true;
      maybeDone();
    });
    exited.then(
      (x) => {
        exit = x;
        maybeDone();
      },
      (e: Error) => finish(e),
    );
  });
}

export class SshTransport implements HostTransport {
  private closed = false;
  private lost: Error | undefined;

  constructor(private readonly client: Client) {
    client.on('error', (e) => (this.lost = new ConnectionLostError(`connection lost: ${e.message}`)));
    client.on('close', () => (this.lost ??= new ConnectionLostError('connection closed by the host')));
  }

  exec(command: string, stdout: Writable, options: ExecOptions): Promise<ExecResult> {
    if (this.lost) return Promise.reject(this.lost);
    return new Promise<ClientChannel>((resolve, reject) => {
      const timer = setTimeout(() => reject(new CommandTimeoutError(options.label ?? command, options.idleTimeoutMs)), options.idleTimeoutMs);
      const onGone = () => reject(this.lost ?? new ConnectionLostError('connection closed by the host'));
      this.client.once('close', onGone);
      this.client.exec(command, (err, channel) => {
        clearTimeout(timer);
        this.client.removeListener('close', onGone);
        if (err) reject(new ConnectionLostError(`cannot run a command: ${err.message}`));
        else resolve(channel);
      });
    }).then((channel) => {
      const exited = new Promise<{ code: number | null; signal?: string }>((resolve, reject) => {
        let exit: { code: number | null; signal?: string } | undefined;
        channel.once('exit', (code: number | null, signal?: string) => (exit = { code, ...(signal ? { signal } : {}) }));
        channel.once('close', (code?: number | null, signal?: string) => {
          if (exit) return resolve(exit);
          if (this.lost) return reject(this.lost);
          resolve({ code: code ?? null, ...(signal ? { signal } : {}) });
        });
        this.client.once('close', () => reject(this.lost ?? new ConnectionLostError('connection closed by the host')));
      });
      return pump(command, channel, channel.stderr, stdout, options, () => channel.close(), exited);
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.end();
    // end() waits for the peer; a wedged host must not keep the socket (and the process) alive.
    setTimeout(() => this.client.destroy(), 1000).unref();
  }
}

export class LocalTransport implements HostTransport {
  private readonly running = new Set<ReturnType<typeof spawn>>();

  exec(command: string, stdout: Writable, options: ExecOptions): Promise<ExecResult> {
    const child = spawn('sh', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    this.running.add(child);
    const exited = new Promise<{ code: number | null; signal?: string }>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, signal) => {
        this.running.delete(child);
        resolve({ code, ...(signal ? { signal } : {}) });
      });
    });
    return pump(command, child.stdout!, child.stderr!, stdout, options, () => killGroup(child), exited);
  }

  close(): void {
    for (const child of this.running) killGroup(child);
  }
}

function killGroup(child: ReturnType<typeof spawn>): void {
  try {
    if (child.pid) process.kill(-child.pid, 'SIGKILL');
  } catch {
    child.kill('SIGKILL');
  }
}
