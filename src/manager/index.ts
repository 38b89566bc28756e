/**
 * Building a manager. The REST server, `tungsten-manager` and `cctrl --demo` start one with:
 *
 *   createManager({ properties, driver?, clock?, logger?, hostName? }): Promise<ManagerCore>
 *     properties: from loadProperties({ file, overrides }) or demoProperties(overrides)
 *     driver:     omitted -> a SimulatedDriver when manager.driver=simulated (started from the
 *                 persisted topology); manager.driver=mysql needs the driver passed in
 *     clock:      default systemClock; VirtualClock in tests
 *   createDemoManager({ overrides?, clock?, logger? }): the demo service alpha (db1 master; db2,
 *     db3 slaves; a connector on each host) on the simulated driver
 *
 * The returned ManagerCore implements Manager (./api.ts); close() stops it and flushes its state.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { hostname } from 'node:os';
import { toolVersion } from '../config/toolVersion.js';
import { ToolkitError } from '../errors.js';
import { fileAudit, noAudit } from './audit.js';
import { systemClock, type Clock } from './clock.js';
import { ManagerCore, silentLogger, type ManagerLogger } from './core.js';
import type { ClusterDriver } from './drivers/driver.js';
import { SimulatedDriver } from './drivers/simulated.js';
import { demoProperties, type ManagerProperties } from './properties.js';
import type { Coordination } from './coordination/coordination.js';
import { isConnectorFleet, type ConnectorFleet } from './routing.js';
import { EtcdClient } from './coordination/etcd-client.js';
import { EtcdCoordination } from './coordination/etcd.js';
import { localCoordination } from './coordination/local.js';
import { fileStore, lockStateDir, memoryStore, type PersistedState, type StateDirLock, type StateStore } from './store.js';

export { ManagerCore, silentLogger, type ManagerLogger } from './core.js';
export { SimulatedDriver } from './drivers/simulated.js';
export {
  loadProperties,
  demoProperties,
  buildProperties,
  parsePropertiesText,
  parsePropertyOverrides,
  redactedProperties,
  type ManagerProperties,
} from './properties.js';


export interface CreateManagerOptions {
  properties: ManagerProperties;
  driver?: ClusterDriver;
  clock?: Clock;
  logger?: ManagerLogger;
  hostName?: string;
  /** Overrides manager.state.dir handling (tests); default: a file store when the property is set. */
  store?: StateStore;
  /** Overrides manager.coordination (tests: a group on the simulated etcd). */
  coordination?: Coordination;
  /** Where other members reach this manager's API (the server knows once it listens). */
  apiUrl?: string;
  /** Connectors to list and tell besides those reporting to it; default: the driver's, if it simulates some. */
  fleet?: ConnectorFleet | null;
}

/** The master recorded by a previous run, so a simulated cluster restarts in the same shape. */
function persistedMaster(state: PersistedState | null): string | undefined {
  return state?.service.datasources.find((d) => d.role === 'master' && d.state !== 'SHUNNED')?.name;
}

export async function createManager(opts: CreateManagerOptions): Promise<ManagerCore> {
  const props = opts.properties;
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? silentLogger;
  const memberName = props.coordination.memberName ?? opts.hostName ?? hostname();
  if (opts.coordination || props.coordination.kind === 'etcd') {
    const coordination = opts.coordination ?? etcdCoordination(props, memberName, clock, logger);
    return startCore(opts, coordination, clock, logger, memberName, null);
  }
  // A state directory belongs to one manager: take it before reading anything from it.
  let lock: StateDirLock | null = null;
  let store = opts.store;
  if (!store) {
    if (props.stateDir) {
      lock = lockStateDir(props.stateDir, { warn: (m) => logger.warn(m) });
      store = fileStore(props.stateDir, { datasources: props.datasources.map((d) => d.name), warn: (m) => logger.warn(m) });
    } else {
      store = memoryStore();
    }
  }
  let core: ManagerCore;
  try {
    core = await startCore(opts, localCoordination(store, memberName), clock, logger, memberName, store);
  } catch (e) {
    lock?.release();
    throw e;
  }
  if (lock) holdUntilStopped(core, lock);
  return core;
}

/** The etcd client and the group member over it, from the manager.coordination properties. */
function etcdCoordination(props: ManagerProperties, memberName: string, clock: Clock, logger: ManagerLogger): Coordination {
  const e = props.coordination.etcd;
  const ttlMs = props.coordination.ttlSeconds * 1000;
  const kv = new EtcdClient({
    endpoints: e.endpoints,
    // A request that outlives a sixth of the lease would leave a round no time to try another endpoint.
    timeoutMs: Math.max(500, Math.min(2000, Math.floor(ttlMs / 6))),
    tls: { ...(e.caFile ? { caFile: e.caFile } : {}), ...(e.certFile ? { certFile: e.certFile } : {}), ...(e.keyFile ? { keyFile: e.keyFile } : {}) },
    ...(e.user ? { auth: { user: e.user, password: etcdPassword(props) } } : {}),
    now: () => clock.monotonic(),
  });
  return new EtcdCoordination({
    kv,
    clock,
    service: props.serviceName,
    memberName,
    ttlSeconds: props.coordination.ttlSeconds,
    prefix: e.prefix,
    location: e.endpoints.join(','),
    logger,
  });
}

function etcdPassword(props: ManagerProperties): string {
  const e = props.coordination.etcd;
  if (e.password !== null) return e.password;
  if (e.passwordFile === null) return '';
  try {
    return readFileSync(e.passwordFile, 'utf8').replace(/\r?\n$/, '');
  } catch (err) {
    throw new ToolkitError('usage', `cannot read manager.etcd.passwordFile ${e.passwordFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, 'Give a file the manager may read, holding the etcd password on one line.');
  }
}

async function startCore(
  opts: CreateManagerOptions,
  coordination: Coordination,
  clock: Clock,
  logger: ManagerLogger,
  memberName: string,
  store: StateStore | null,
): Promise<ManagerCore> {
  const props = opts.properties;
  let driver = opts.driver;
  const ownsDriver = driver === undefined;
  if (!driver) {
    if (props.driver === 'mysql') {
      throw new ToolkitError('usage', 'manager.driver=mysql needs the MariaDB driver to be passed to createManager', 'Use manager.driver=simulated or start the manager through tungsten-manager.');
    }
    driver = new SimulatedDriver({
      clock,
      datasources: props.datasources,
      connectors: props.connectors,
      master: persistedMaster(store?.load() ?? null),
      stepDelayMs: props.simulation.stepDelayMs,
      writesPerSecond: props.simulation.writesPerSecond,
      seed: props.simulation.seed,
    });
  }
  const auditPath = props.auditLog ?? (props.stateDir !== null ? join(props.stateDir, 'audit.log') : null);
  const audit = auditPath !== null ? fileAudit(auditPath, (m) => logger.error(m)) : noAudit;
  const hostName = opts.hostName ?? hostname();
  return ManagerCore.start({
    props,
    driver,
    clock,
    coordination,
    fleet: opts.fleet !== undefined ? opts.fleet : isConnectorFleet(driver) ? driver : null,
    member: {
      name: memberName,
      host: hostName,
      apiUrl: opts.apiUrl ?? props.coordination.advertiseUrl,
      datasource: props.coordination.datasource,
      startedAt: new Date(clock.now()).toISOString(),
      version: toolVersion(),
    },
    audit,
    logger,
    ownsDriver,
    hostName,
    version: toolVersion(),
  });
}

/**
 * The state directory's lock lasts as long as the manager: close() releases it once the state is
 * flushed; halt() (kill -9 rehearsed in-process) abandons it, leaving the file as a killed process
 * would, so a successor takes it over as stale. The process's exit removes it too (store.ts).
 */
function holdUntilStopped(core: ManagerCore, lock: StateDirLock): void {
  const close = core.close.bind(core);
  const halt = core.halt.bind(core);
  Object.assign(core, {
    async close(): Promise<void> {
      try {
        await close();
      } finally {
        lock.release();
      }
    },
    halt(): void {
      halt();
      lock.abandon();
    },
  });
}

export async function createDemoManager(opts: { overrides?: readonly string[]; clock?: Clock; logger?: ManagerLogger; driver?: ClusterDriver } = {}): Promise<ManagerCore> {
  return createManager({ properties: demoProperties(opts.overrides ?? []), clock: opts.clock, logger: opts.logger, driver: opts.driver });
}
