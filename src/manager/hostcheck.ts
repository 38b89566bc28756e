/**
 * The host check real drivers share: is the machine up, whatever its database does?
 *
 * - `echo`: a TCP connection to the echo port (7). An answer proves the host is up, and so does a
 *   refused connection (the host's kernel sent the reset). Only a timeout or a network error (no
 *   route, host unreachable) counts as unreachable.
 * - `ping`: the system `ping -c1 -W <seconds>`; exit status 0 means up.
 *
 * A check the manager could not even start (no descriptor left for the socket, no memory to fork
 * `ping`) says nothing about the host: it comes back `inconclusive`, never as a host that is down.
 */
import { execFile } from 'node:child_process';
import net from 'node:net';

export const HOST_CHECK_METHODS = ['echo', 'ping'] as const;
export type HostCheckMethod = (typeof HOST_CHECK_METHODS)[number];

export interface HostCheckOptions {
  method: HostCheckMethod;
  timeoutMs: number;
  /** TCP port of the echo check; 7 unless a test says otherwise. */
  echoPort?: number;
}

export interface HostCheckResult {
  alive: boolean;
  /** What proved it, or why not: `echo answered`, `echo refused`, `echo timed out after 2000 ms`, ... */
  detail: string;
  /**
   * Set (the reason) when the check failed for a cause on the manager's side (EMFILE, ENOMEM...):
   * `alive` is then false but is no evidence that the host is down.
   */
  inconclusive?: string;
}

/**
 * Error codes that mean the manager itself ran out of something (descriptors, memory, buffers,
 * processes): a probe failing with one of them has not reached the other side at all.
 */
export const LOCAL_RESOURCE_CODES: ReadonlySet<string> = new Set(['EMFILE', 'ENFILE', 'ENOMEM', 'ENOBUFS', 'EAGAIN']);

const RESOURCE_WORDS: Record<string, string> = {
  EMFILE: 'the manager is out of file descriptors',
  ENFILE: 'the system is out of file descriptors',
  ENOMEM: 'the manager is out of memory',
  ENOBUFS: 'the manager is out of network buffers',
  EAGAIN: 'the manager cannot start another process or socket now',
};

/**
 * When `e` (an error, or an error code) is the manager's own resource shortage, what to say about
 * it (`the manager is out of file descriptors (EMFILE)`); null otherwise.
 */
export function localResourceShortage(e: unknown): string | null {
  const code = typeof e === 'string' ? e : (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && LOCAL_RESOURCE_CODES.has(code)) return `${RESOURCE_WORDS[code]} (${code})`;
  // Some layers keep only the message (`connect EMFILE 127.0.0.1:3306`).
  const message = e instanceof Error ? e.message : '';
  const found = /\b(EMFILE|ENFILE|ENOMEM|ENOBUFS)\b/.exec(message);
  return found ? `${RESOURCE_WORDS[found[1]!]} (${found[1]})` : null;
}

export const ECHO_PORT = 7;

export function parseHostCheckMethod(value: string | undefined): HostCheckMethod {
  if (value === undefined || value === '') return 'echo';
  if ((HOST_CHECK_METHODS as readonly string[]).includes(value)) return value as HostCheckMethod;
  throw new Error(`policy.liveness.hostPing.method must be one of ${HOST_CHECK_METHODS.join(', ')}, not '${value}'`);
}

export function checkHost(host: string, opts: HostCheckOptions): Promise<HostCheckResult> {
  return opts.method === 'ping' ? pingHost(host, opts.timeoutMs) : echoHost(host, opts.echoPort ?? ECHO_PORT, opts.timeoutMs);
}

/** Error codes that come back from the host itself, so it is up. */
const ANSWERED_CODES = new Set(['ECONNREFUSED', 'ECONNRESET']);

function echoHost(host: string, port: number, timeoutMs: number): Promise<HostCheckResult> {
  return new Promise((resolve) => {
    let socket: net.Socket;
    try {
      socket = net.connect({ host, port });
    } catch (e) {
      const shortage = localResourceShortage(e);
      resolve({ alive: false, detail: `echo could not be tried: ${shortage ?? (e as Error).message}`, ...(shortage ? { inconclusive: shortage } : {}) });
      return;
    }
    let done = false;
    const finish = (result: HostCheckResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ alive: false, detail: `echo timed out after ${timeoutMs} ms` }), timeoutMs);
    socket.once('connect', () => finish({ alive: true, detail: 'echo answered' }));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      const shortage = localResourceShortage(err);
      if (err.code && ANSWERED_CODES.has(err.code)) finish({ alive: true, detail: 'echo refused' });
      else if (shortage) finish({ alive: false, detail: `echo could not be tried: ${shortage}`, inconclusive: shortage });
      else finish({ alive: false, detail: `echo failed: ${err.code ?? err.message}` });
    });
  });
}

function pingHost(host: string, timeoutMs: number): Promise<HostCheckResult> {
  // ping's -W takes whole seconds; never less than one.
  const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
  return new Promise((resolve) => {
    const couldNotRun = (shortage: string) => resolve({ alive: false, detail: `ping could not be run: ${shortage}`, inconclusive: shortage });
    const onExit = (err: Error | null) => {
      if (!err) return resolve({ alive: true, detail: 'ping answered' });
      const code = (err as NodeJS.ErrnoException).code;
      const shortage = localResourceShortage(code ?? null);
      if (shortage) return couldNotRun(shortage);
      if (code === 'ENOENT') return resolve({ alive: false, detail: 'ping is not installed (install iputils-ping or use policy.liveness.hostPing.method=echo)' });
      if ((err as { killed?: boolean }).killed) return resolve({ alive: false, detail: `ping timed out after ${timeoutMs} ms` });
      resolve({ alive: false, detail: `ping got no answer within ${seconds} s` });
    };
    try {
      execFile('ping', ['-c1', '-W', String(seconds), '--', host], { timeout: timeoutMs + 1000 }, onExit);
    } catch (e) {
      // spawn throws at once for some failures (others come back through the callback).
      const shortage = localResourceShortage(e);
      if (shortage) couldNotRun(shortage);
      else resolve({ alive: false, detail: `ping could not be run: ${(e as Error).message}` });
    }
  });
}
