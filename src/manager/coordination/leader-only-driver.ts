/**
 * The driver as the coordinator may use it: every action that changes a server (fence, allow
 * writes, promote, repoint, replicator on/off, heartbeat write, connector notice) is preceded by a
 * check that this member's lease lets it act for longer than the action may take; the action's
 * timeout is cut to what the lease leaves. A member that is not the coordinator (any more) is
 * refused with NotCoordinatorError before anything is sent. Reads pass straight through.
 *
 * The one action outside it is the failsafe fence of a member's own datasource when it loses the
 * group (core.ts), which must work precisely when there is no lease.
 */
import type { ClusterDriver, DataSourceConfig, DriverCallOptions, Position } from '../drivers/driver.js';
import { NotCoordinatorError, type Coordination } from './coordination.js';

export function leaderOnlyDriver(driver: ClusterDriver, coordination: Coordination): ClusterDriver {
  if (coordination.kind === 'local') return driver;
  const guarded = async (what: string, opts: DriverCallOptions): Promise<DriverCallOptions> => {
    const left = await coordination.ensureLeadership(opts.timeoutMs);
    if (left <= 0 || !coordination.isCoordinator()) throw new NotCoordinatorError(`refusing to ${what}`);
    return left >= opts.timeoutMs ? opts : { ...opts, timeoutMs: Math.max(1, Math.floor(left)) };
  };
  const wrapped: ClusterDriver = {
    kind: driver.kind,
    observe: (ds, opts) => driver.observe(ds, opts),
    routers: (opts) => driver.routers(opts),
    position: (ds, opts) => driver.position(ds, opts),
    readOnly: (ds, opts) => driver.readOnly(ds, opts),
    waitApplied: (ds: DataSourceConfig, position: Position, opts) => driver.waitApplied(ds, position, opts),
    checkRejoin: (ds, master, opts) => driver.checkRejoin(ds, master, opts),
    notifyRouters: async (master, readable, opts) => driver.notifyRouters(master, readable, await guarded('notify connectors', opts)),
    fenceWrites: async (ds, opts) => driver.fenceWrites(ds, await guarded(`fence ${ds.name}`, opts)),
    allowWrites: async (ds, opts) => driver.allowWrites(ds, await guarded(`allow writes on ${ds.name}`, opts)),
    promote: async (ds, opts) => driver.promote(ds, await guarded(`promote ${ds.name}`, opts)),
    replicateFrom: async (ds, master, opts) => driver.replicateFrom(ds, master, await guarded(`repoint ${ds.name}`, opts)),
    setReplicator: async (ds, online, opts) => driver.setReplicator(ds, online, await guarded(`set the replicator of ${ds.name}`, opts)),
    heartbeat: async (master, opts) => driver.heartbeat(master, await guarded(`write a heartbeat on ${master.name}`, opts)),
    close: () => driver.close(),
  };
  if (driver.injectFault) wrapped.injectFault = driver.injectFault.bind(driver);
  return wrapped;
}
