/**
 * The driver as the coordinator may use it: every action that changes a server (fence, allow
 * writes, promote, repoint, replicator on/off, heartbeat write, connector notice) is preceded by a
 * check that this member's lease lets it act for longer than the action may take; the action's
 * timeout is cut to what the lease leaves, and the call aborted when that passes. A member that is
 * not the coordinator (any more) is refused with NotCoordinatorError before anything is sent.
 * Reads pass straight through.
 *
 * The one action outside it is the failsafe fence of a member's own datasource when it loses the
 * group (core.ts), which must work precisely when there is no lease.
 */
import type { ClusterDriver, DataSourceConfig, DriverCallOptions, Position } from '../drivers/driver.js';
import type { ConnectorFleet } from '../routing.js';
import { NotCoordinatorError, type Coordination } from './coordination.js';

type Guarded = <T>(what: string, opts: DriverCallOptions, run: (opts: DriverCallOptions) => Promise<T>, fresh?: boolean) => Promise<T>;

function leaseGuard(coordination: Coordination): Guarded {
  const clock = coordination.clock;
  /**
   * Runs one action if the lease lets this member act, with its timeout cut to what the lease
   * leaves. A cut timeout is also enforced: the call's signal aborts when it passes, so a driver
   * that waits on its signal (a server that does not answer) gives up then instead of acting when
   * the server wakes, after the lease, maybe under another coordinator.
   *
   * `fresh` (a promotion): etcd must have answered a round run just now. A lease outlives etcd's
   * last answer by two thirds of a TTL; a coordinator cut off from etcd meanwhile could promote a
   * server and commit nothing of it, its own member would then fence that server (failsafe), and
   * the next coordinator, acting on the last committed state, would give the old master its writes
   * back: what the promoted one acknowledged would be lost.
   */
  const guarded = async <T>(what: string, opts: DriverCallOptions, run: (opts: DriverCallOptions) => Promise<T>, fresh = false): Promise<T> => {
    const left = await coordination.ensureLeadership(fresh ? Number.POSITIVE_INFINITY : opts.timeoutMs);
    if (left <= 0 || !coordination.isCoordinator()) throw new NotCoordinatorError(`refusing to ${what}`);
    const etcdError = fresh ? coordination.group().lastError : null;
    if (etcdError !== null) throw new NotCoordinatorError(`refusing to ${what}: etcd did not answer just now (${etcdError}), so the promotion could not be recorded`);
    if (left >= opts.timeoutMs) return run(opts);
    const timeoutMs = Math.max(1, Math.floor(left));
    if (!clock) return run({ ...opts, timeoutMs });
    const controller = new AbortController();
    const outer = opts.signal;
    const onOuterAbort = () => controller.abort(outer?.reason);
    if (outer?.aborted) controller.abort(outer.reason);
    else outer?.addEventListener('abort', onOuterAbort, { once: true });
    const timer = clock.setTimeout(() => controller.abort(new Error(`${what}: the coordinator's lease leaves no more time`)), timeoutMs);
    try {
      return await run({ ...opts, timeoutMs, signal: controller.signal });
    } finally {
      clock.clearTimeout(timer);
      outer?.removeEventListener('abort', onOuterAbort);
    }
  };
  return guarded;
}

export function leaderOnlyDriver(driver: ClusterDriver, coordination: Coordination): ClusterDriver {
  if (coordination.kind === 'local') return driver;
  const guarded = leaseGuard(coordination);
  const wrapped: ClusterDriver = {
    kind: driver.kind,
    observe: (ds, opts) => driver.observe(ds, opts),
    position: (ds, opts) => driver.position(ds, opts),
    readOnly: (ds, opts) => driver.readOnly(ds, opts),
    waitApplied: (ds: DataSourceConfig, position: Position, opts) => driver.waitApplied(ds, position, opts),
    checkRejoin: (ds, master, opts) => driver.checkRejoin(ds, master, opts),
    fenceWrites: (ds, opts) => guarded(`fence ${ds.name}`, opts, (o) => driver.fenceWrites(ds, o)),
    allowWrites: (ds, opts) => guarded(`allow writes on ${ds.name}`, opts, (o) => driver.allowWrites(ds, o)),
    promote: (ds, opts) => guarded(`promote ${ds.name}`, opts, (o) => driver.promote(ds, o), true),
    replicateFrom: (ds, master, opts) => guarded(`repoint ${ds.name}`, opts, (o) => driver.replicateFrom(ds, master, o)),
    setReplicator: (ds, online, opts) => guarded(`set the replicator of ${ds.name}`, opts, (o) => driver.setReplicator(ds, online, o)),
    heartbeat: (master, opts) => guarded(`write a heartbeat on ${master.name}`, opts, (o) => driver.heartbeat(master, o)),
    close: () => driver.close(),
  };
  if (driver.injectFault) wrapped.injectFault = driver.injectFault.bind(driver);
  return wrapped;
}

/** The simulated connectors as the coordinator may tell them: a notice needs the lease, like any action. */
export function leaderOnlyFleet(fleet: ConnectorFleet, coordination: Coordination): ConnectorFleet {
  if (coordination.kind === 'local') return fleet;
  const guarded = leaseGuard(coordination);
  return {
    routers: (opts) => fleet.routers(opts),
    notifyRouters: (master, readable, opts) => guarded('notify connectors', opts, (o) => fleet.notifyRouters(master, readable, o)),
  };
}
