/**
 * What the REST API may hold at once, so that no flood of clients can take the descriptors the
 * monitor needs: a connection to each database, a host check, the state and audit files.
 *
 * Node 20 has no getrlimit, so the soft limit on open files is read once from `sh -c 'ulimit -n'`
 * (a few milliseconds at start-up; the child inherits this process's limits). The API never gets
 * more than half of it, whatever was configured; the other half stays in reserve for monitoring
 * and everything else the manager opens.
 */
import { execFileSync } from 'node:child_process';

export const DEFAULT_MAX_CONNECTIONS = 256;
/** Connections that send nothing, or nothing more after a response, are closed after this. */
export const DEFAULT_IDLE_TIMEOUT_MS = 5_000;
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** The API's share of the descriptor limit. */
export const API_SHARE_OF_DESCRIPTORS = 0.5;
const MIN_CONNECTIONS = 8;

let cachedLimit: number | null | undefined;

/** The soft limit on open files of this process; null when unlimited or unknown. */
export function openFilesLimit(): number | null {
  if (cachedLimit !== undefined) return cachedLimit;
  try {
    const text = execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8', timeout: 2000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const n = Number(text);
    cachedLimit = /^\d+$/.test(text) && n > 0 ? n : null;
  } catch {
    cachedLimit = null;
  }
  return cachedLimit;
}

/**
 * The connection cap the API runs with: the configured one, lowered to the API's share of the
 * descriptor limit when that is smaller. `reason` says why it was lowered.
 */
export function effectiveConnectionCap(requested: number, limit: number | null = openFilesLimit()): { cap: number; lowered: string | null } {
  const wanted = Math.max(1, Math.floor(requested));
  if (limit === null) return { cap: wanted, lowered: null };
  const share = Math.max(MIN_CONNECTIONS, Math.floor(limit * API_SHARE_OF_DESCRIPTORS));
  if (wanted <= share) return { cap: wanted, lowered: null };
  return {
    cap: share,
    lowered: `API connection cap lowered from ${wanted} to ${share}: the open files limit (ulimit -n) is ${limit} and half of it stays in reserve for monitoring`,
  };
}
