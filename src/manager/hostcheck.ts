/**
 * The host check real drivers share: is the machine up, whatever its database does?
 *
 * - `echo`: a TCP connection to the echo port (7). An answer proves the host is up, and so does a
 *   refused connection (the host's kernel sent the reset). Only a timeout or a network error (no
 *   route, host unreachable) counts as unreachable.
 * - `ping`: the system `ping -c1 -W <seconds>`; exit status 0 means up.
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
    const socket = net.connect({ host, port });
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
      if (err.code && ANSWERED_CODES.has(err.code)) finish({ alive: true, detail: 'echo refused' });
      else finish({ alive: false, detail: `echo failed: ${err.code ?? err.message}` });
    });
  });
}

function pingHost(host: string, timeoutMs: number): Promise<HostCheckResult> {
  // ping's -W takes whole seconds; never less than one.
  const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
  return new Promise((resolve) => {
    execFile('ping', ['-c1', '-W', String(seconds), '--', host], { timeout: timeoutMs + 1000 }, (err) => {
      if (!err) return resolve({ alive: true, detail: 'ping answered' });
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return resolve({ alive: false, detail: 'ping is not installed (install iputils-ping or use policy.liveness.hostPing.method=echo)' });
      if (err.killed) return resolve({ alive: false, detail: `ping timed out after ${timeoutMs} ms` });
      resolve({ alive: false, detail: `ping got no answer within ${seconds} s` });
    });
  });
}
