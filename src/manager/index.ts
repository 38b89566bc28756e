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
import { join } from 'node:path';
import { hostname } from 'node:os';
import { ToolkitError } from '../errors.js';
import { fileAudit, noAudit } from './audit.js';
import { systemClock, type Clock } from './clock.js';
import { ManagerCore, silentLogger, type ManagerLogger } from './core.js';
import type { ClusterDriver } from './drivers/driver.js';
import { SimulatedDriver } from './drivers/simulated.js';
import { demoProperties, type ManagerProperties } from './properties.js';
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

export const TOOLKIT_VERSION = '0.1.0';

export interface CreateManagerOptions {
  properties: ManagerProperties;
  driver?: ClusterDriver;
  clock?: Clock;
  logger?: ManagerLogger;
  hostName?: string;
  /** Overrides manager.state.dir handling (tests); default: a file store when the property is set. */
  store?: StateStore;
}

/** The master recorded by a previous run, so a simulated cluster restarts in the same shape. */
function persistedMaster(state: PersistedState | null): string | undefined {
  return state?.service.datasources.find((d) => d.role === 'master' && d.state !== 'SHUNNED')?.name;
}

export async function createManager(opts: CreateManagerOptions): Promise<ManagerCore> {
  const props = opts.properties;
  const clock = opts.clock ?? systemClock;
  const logger = opts.logger ?? silentLogger;
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
    core = await startCore(opts, store, clock, logger);
  } catch (e) {
    lock?.release();
    throw e;
  }
  if (lock) holdUntilStopped(core, lock);
  return core;
}

async function startCore(opts: CreateManagerOptions, store: StateStore, clock: Clock, logger: ManagerLogger): Promise<ManagerCore> {
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
      master: persistedMaster(store.load()),
      stepDelayMs: props.simulation.stepDelayMs,
      writesPerSecond: props.simulation.writesPerSecond,
      seed: props.simulation.seed,
    });
  }
  const auditPath = props.auditLog ?? (props.stateDir !== null ? join(props.stateDir, 'audit.log') : null);
  const audit = auditPath !== null ? fileAudit(auditPath, (m) => logger.error(m)) : noAudit;
  return ManagerCore.start({
    props,
    driver,
    clock,
    store,
    audit,
    logger,
    ownsDriver,
    hostName: opts.hostName ?? hostname(),
    version: TOOLKIT_VERSION,
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
