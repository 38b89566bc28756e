/**
 * The manager sees datasources only through a driver. Every call is async, may fail (reject with an
 * Error whose message is the reason), and must settle within `timeoutMs` (reject with
 * DriverTimeoutError past it). A driver never throws for an unhealthy host: that is an observation.
 */
import type { Clock } from '../clock.js';
import type { FaultAction, ReplicatorStatus, ResourceState, Role } from '../model.js';

export class DriverTimeoutError extends Error {
  constructor(what: string, timeoutMs: number) {
    super(`${what} timed out after ${timeoutMs} ms`);
    this.name = 'DriverTimeoutError';
  }
}

export interface DriverCallOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

/** One datasource as configured: its name in the service and how to reach it. */
export interface DataSourceConfig {
  name: string;
  host: string;
  port: number;
  role: Role;
  precedence: number;
}

/** The result of one monitoring probe of one datasource. */
export interface Observation {
  /** Host check (TCP echo on port 7 or ping): 'unreachable' only when the check timed out/failed. */
  host: 'alive' | 'unreachable';
  /** Database ping (connect + SELECT 1): ONLINE, STOPPED (refused), UNREACHABLE/TIMEOUT; reason when not ONLINE. */
  dataServer: { state: ResourceState; reason: string | null };
  /** Is the manager process on that host up (simulated: its host is up). */
  managerUp: boolean;
  /** null: the replicator's status is not available. */
  replicator: Omit<ReplicatorStatus, 'relativeLatency'> | null;
  /** Whether the server refuses writes (MariaDB `read_only`); null when unknown. */
  readOnly: boolean | null;
  connections: { active: number; created: number };
  /**
   * Every transaction the server holds (written, received or applied), as MariaDB's
   * `gtid_binlog_state` lists it: the last GTID of each (domain, server) pair, `0-1-42,0-3-7`.
   * Compared with the master's to find errant transactions; null when unknown.
   */
  gtidState: string | null;
  /** The server's own server_id (the middle number of the GTIDs it writes); null when unknown. */
  serverId?: number | null;
  /**
   * Set (the reason) when the probe failed for a cause that says nothing about the server's health:
   * the manager itself out of descriptors or memory, a server refusing more connections (which
   * proves it is alive). The monitor then keeps its previous verdict instead of counting a fault.
   */
  inconclusive: string | null;
}

/** A replication position every driver can compare: monotonically increasing per cluster history. */
export interface Position {
  seqno: number;
  /** Driver-specific exact position (e.g. a MariaDB GTID list `0-1-42`); opaque to the manager. */
  exact?: string;
}

export interface RouterObservation {
  host: string;
  pid: number;
  state: ResourceState;
  connections: { active: number; created: number };
}

export interface ClusterDriver {
  readonly kind: 'simulated' | 'mysql';

  /** Observe one datasource; rejects only for driver bugs, never for an unhealthy host. */
  observe(ds: DataSourceConfig, opts: DriverCallOptions): Promise<Observation>;

  /** Current write position of a datasource (master: last written; slave: last applied). */
  position(ds: DataSourceConfig, opts: DriverCallOptions): Promise<Position>;
  /** Stop writes on the master: read-only, end client sessions. Resolves to how many sessions were ended. */
  fenceWrites(ds: DataSourceConfig, opts: DriverCallOptions): Promise<number>;
  /**
   * Whether the server refuses writes now (MariaDB `read_only`): one cheap query, asked every second
   * of every server that must not take writes. Rejects when the server does not answer.
   */
  readOnly(ds: DataSourceConfig, opts: DriverCallOptions): Promise<boolean>;
  /** Undo fenceWrites: the datasource accepts writes again (used to revert a failed switch). */
  allowWrites(ds: DataSourceConfig, opts: DriverCallOptions): Promise<void>;
  /** Resolve once `ds` has applied everything up to `position`; reject on timeout. */
  waitApplied(ds: DataSourceConfig, position: Position, opts: DriverCallOptions): Promise<void>;
  /** Make `ds` a master: stop and reset replication, accept writes. */
  promote(ds: DataSourceConfig, opts: DriverCallOptions): Promise<void>;
  /** Make `ds` a slave of `master` (GTID auto-positioning or equivalent), read-only, replicating. */
  replicateFrom(ds: DataSourceConfig, master: DataSourceConfig, opts: DriverCallOptions): Promise<void>;
  /**
   * Can `ds` (an old master, say) rejoin as a slave of `master` without losing or diverging data?
   * Refuses with the reason, e.g. when ds has transactions master lacks.
   */
  checkRejoin(ds: DataSourceConfig, master: DataSourceConfig, opts: DriverCallOptions): Promise<{ ok: true } | { ok: false; reason: string }>;
  /** Start or stop the replicator (slave threads) of `ds`. */
  setReplicator(ds: DataSourceConfig, online: boolean, opts: DriverCallOptions): Promise<void>;
  /** Write a heartbeat through the master; resolves to its position. */
  heartbeat(master: DataSourceConfig, opts: DriverCallOptions): Promise<Position>;

  /** Fault injection for rehearsal; only the simulated driver has it. */
  injectFault?(ds: DataSourceConfig, fault: FaultAction): Promise<void>;

  close(): Promise<void>;
}

/**
 * The one deadline helper: runs `work` against the clock's deadline (the injected clock in the
 * manager, so the fast tier's virtual time drives it; systemClock elsewhere), rejecting with
 * DriverTimeoutError and aborting the work's signal when it does not settle in time. A hung driver
 * call must not stall the manager.
 */
export function withClockTimeout<T>(
  clock: Clock,
  what: string,
  timeoutMs: number,
  outer: AbortSignal | undefined,
  work: (opts: DriverCallOptions & { signal: AbortSignal }) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const onOuterAbort = () => controller.abort(outer?.reason);
  if (outer?.aborted) return Promise.reject(new Error(`${what} aborted`));
  outer?.addEventListener('abort', onOuterAbort, { once: true });
  return new Promise<T>((resolve, reject) => {
    const limited = timeoutMs > 0 && Number.isFinite(timeoutMs);
    const timer = limited
      ? clock.setTimeout(() => {
          controller.abort();
          reject(new DriverTimeoutError(what, timeoutMs));
        }, timeoutMs)
      : null;
    const done = () => {
      if (timer) clock.clearTimeout(timer);
      outer?.removeEventListener('abort', onOuterAbort);
    };
    let started: Promise<T>;
    try {
      started = work({ timeoutMs: limited ? timeoutMs : 2 ** 31 - 1, signal: controller.signal });
    } catch (e) {
      done();
      reject(e);
      return;
    }
    started.then(
      (v) => {
        done();
        resolve(v);
      },
      (e: unknown) => {
        done();
        reject(e);
      },
    );
  });
}
